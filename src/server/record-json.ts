/**
 * A component record's JSON, as stored and as the API shows it, assembled from the remembered texts
 * of its states. A record is 2 KB of JSON, 80 % of it its desired, actual and staged states; a write
 * (a status change, a node's report) replaces a few small fields and keeps the rest, and the store's
 * records share what a write keeps (mergeComponent()). So the JSON of each state object is kept on
 * the object itself, under a non-enumerable symbol (JSON.stringify, spreads, key lists and deep
 * equality never see it; a copy does not carry it), and a record's JSON is its small fields' JSON
 * around those texts: a state is encoded once, not at every write and every listing of its record.
 * (A WeakMap from every object-valued field to its text measured slower than plain JSON.stringify
 * at 100,000 records: its lookups, and the collector's work on its entries.)
 *
 * Sound because a record the stores hold and its parts are never changed in place (a changed state
 * is a new object, without a text). Only the store's own records (handed over on write, or shared by
 * a listing) may be given here. The texts come out as pieces to write one after the other: joined,
 * they are exactly `JSON.stringify(record)` and `JSON.stringify(outputView(record))`.
 */
import { shownStatus } from '../common/status.js';
import type { Component } from '../common/types.js';

/** The JSON of a state object, kept on the object (a non-enumerable symbol: JSON, spreads and key lists never see it). */
const TEXT = Symbol('json');
/** The output JSON of an actual state whose boot artifacts hold the internal timestamp. */
const SHOWN = Symbol('shown json');
const STATES = new Set(['desired_state', 'actual_state', 'staged_state']);

function remember(o: object, key: symbol, text: string): string {
  if (Object.isExtensible(o)) Object.defineProperty(o, key, { value: text, enumerable: false, writable: false, configurable: false });
  return text;
}
const keyTexts = new Map<string, string>();

/** Pieces at least this long are written on their own; shorter ones are joined to their neighbours. */
const OWN_PIECE = 128;

function keyText(key: string): string {
  let t = keyTexts.get(key);
  if (t === undefined) {
    t = `${JSON.stringify(key)}:`;
    if (keyTexts.size < 1000) keyTexts.set(key, t);
  }
  return t;
}

/** `JSON.stringify(value)` as the field `key` of a record (remembered for a state object); undefined where the field is left out. */
function fieldText(key: string, value: unknown): string | undefined {
  if (value === null || typeof value !== 'object' || Array.isArray(value) || !STATES.has(key)) return JSON.stringify(value);
  return (value as Record<symbol, string | undefined>)[TEXT] ?? remember(value, TEXT, JSON.stringify(value));
}

/** The output JSON of an actual state whose boot artifacts hold the internal timestamp: without it. */
function shownActualText(state: { boot_artifacts: Record<string, unknown> }): string {
  const t = (state as Record<symbol, string | undefined>)[SHOWN];
  if (t !== undefined) return t;
  const { timestamp: _internal, ...artifacts } = state.boot_artifacts;
  return remember(state, SHOWN, JSON.stringify({ ...state, boot_artifacts: artifacts }));
}

/** Assembles `{"key":value,...}` from field texts, long texts as pieces of their own. */
class Pieces {
  private readonly out: string[] = [];
  private cur = '{';
  private empty = true;

  field(key: string, text: string): void {
    const head = (this.empty ? '' : ',') + keyText(key);
    this.empty = false;
    if (text.length >= OWN_PIECE) {
      this.out.push(this.cur + head, text);
      this.cur = '';
    } else {
      this.cur += head + text;
    }
  }

  end(): string[] {
    this.out.push(this.cur + '}');
    return this.out;
  }
}

/** States that many records hold alike: a boot set's desired state, the empty staged state. */
const SHARED_STATES = ['desired_state', 'staged_state'] as const;
/** One state object per JSON text, for shareStates(); the oldest is let go when full. */
const sharedByText = new Map<string, object>();
const SHARED_MAX = 4096;

/**
 * `rec` with its desired and staged states replaced by an equal state object (same JSON text) that
 * another record of the store holds, when there is one; `rec` itself when nothing was replaced.
 * 100,000 nodes of one boot set then hold one desired state and one text of it, instead of a parsed
 * copy each. Only the store's own records may be given here (their states are never changed).
 */
export function shareStates(rec: Component): Component {
  let out: Record<string, unknown> | undefined;
  for (const key of SHARED_STATES) {
    const v = rec[key];
    if (v === null || typeof v !== 'object' || Array.isArray(v)) continue;
    const text = fieldText(key, v)!;
    const shared = sharedByText.get(text);
    if (shared === undefined) {
      if (sharedByText.size >= SHARED_MAX) sharedByText.delete(sharedByText.keys().next().value!);
      sharedByText.set(text, v);
    } else if (shared !== v) {
      out ??= { ...rec };
      out[key] = shared;
    }
  }
  return (out as Component | undefined) ?? rec;
}

/** The stored JSON of a record of the store, in pieces: joined, exactly `JSON.stringify(rec)`. */
export function storedPieces(rec: Component): string[] {
  const p = new Pieces();
  const r = rec as unknown as Record<string, unknown>;
  for (const key of Object.keys(r)) {
    const t = fieldText(key, r[key]);
    if (t !== undefined) p.field(key, t);
  }
  return p.end();
}

/**
 * The output JSON of a record of the store, in pieces: joined, exactly
 * `JSON.stringify(outputView(rec))` (status computed and attached, internal timestamp left out).
 */
export function outputPieces(rec: Component): string[] {
  const p = new Pieces();
  const r = rec as unknown as Record<string, unknown>;
  const statusObject = !!r.status && typeof r.status === 'object';
  const status = JSON.stringify(shownStatus(rec));
  for (const key of Object.keys(r)) {
    const v = r[key];
    let t: string | undefined;
    if (key === 'status') {
      if (!statusObject) continue; // attached at the end, as outputView() does
      t = status;
    } else if (key === 'actual_state' && hasTimestamp(v)) {
      t = shownActualText(v);
    } else {
      t = fieldText(key, v);
    }
    if (t !== undefined) p.field(key, t);
  }
  if (!statusObject) p.field('status', status);
  return p.end();
}

function hasTimestamp(v: unknown): v is { boot_artifacts: Record<string, unknown> } {
  if (!v || typeof v !== 'object') return false;
  const ba = (v as { boot_artifacts?: unknown }).boot_artifacts;
  return !!ba && typeof ba === 'object' && 'timestamp' in ba;
}

/** The UTF-8 byte length of pieces. */
export function piecesLength(pieces: readonly string[]): number {
  let n = 0;
  for (const s of pieces) n += Buffer.byteLength(s);
  return n;
}

/** Write pieces into `buf` at `at`; returns the bytes written. */
export function writePieces(buf: Buffer, at: number, pieces: readonly string[]): number {
  let n = 0;
  for (const s of pieces) n += buf.write(s, at + n);
  return n;
}
