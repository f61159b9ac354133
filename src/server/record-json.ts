/**
 * A component record's JSON, as stored and as the API shows it, assembled from the remembered texts
 * of its states. A record is 2 KB of JSON, 80 % of it its desired, actual and staged states; a write
 * (a status change, a node's report) replaces a few small fields and keeps the rest, and the store's
 * records share what a write keeps (mergeComponent()). So the JSON of each desired and staged state,
 * and of each actual state's boot artifacts, is kept on the object itself, under a non-enumerable
 * symbol (JSON.stringify, spreads, key lists and deep equality never see it; a copy does not carry
 * it), and a record's JSON is its small fields' JSON around those texts: a state is encoded once,
 * not at every write and every listing of its record. The actual state's own fields (token, time)
 * differ per node and are encoded each time; its boot artifacts, like the desired and staged
 * states, are one shared object per distinct text (shareStates()), so 100,000 records hold a few
 * texts of them rather than one each. So are last_action, event_stats and status, which a bulk
 * write gives thousands of records alike (a status is shown with the status computed per record:
 * its shown texts are kept per computed status).
 * (A WeakMap from every object-valued field to its text measured slower than plain JSON.stringify
 * at 100,000 records: its lookups, and the collector's work on its entries.)
 *
 * Sound because a record the stores hold and its parts are never changed in place (a changed state
 * is a new object, without a text). Only the store's own records (handed over on write, or shared by
 * a listing) may be given here. The texts come out as pieces to write one after the other: joined,
 * they are exactly `JSON.stringify(record)` and `JSON.stringify(outputView(record))`.
 */
import { computeStatus, shownStatus } from '../common/status.js';
import type { Component } from '../common/types.js';

/**
 * The JSON of a desired or staged state, or of an actual state's boot artifacts, kept on the object
 * (a non-enumerable symbol: JSON, spreads and key lists never see it).
 */
const TEXT = Symbol('json');
/** The output JSON of actual boot artifacts that hold the internal timestamp: without it. */
const SHOWN = Symbol('shown json');
/**
 * States whose whole text is remembered when first encoded (the actual state's is assembled: its own
 * fields are per record). The small objects records hold alike (last_action, event_stats, status)
 * have theirs remembered only when shareStates() makes them the one object for their text: kept on
 * every record's own, the texts would cost more memory than encoding them again.
 */
const STATES = new Set(['desired_state', 'staged_state']);
/** The output JSON of a status object per computed status (a status object is shown with `status` attached). */
const SHOWN_STATUS = Symbol('shown status json');

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

/**
 * `JSON.stringify(value)` as the field `key` of a record, undefined where the field is left out: the
 * text kept on an object when it has one (a state, or a part shareStates() holds), a state's kept
 * when first made.
 */
function fieldText(key: string, value: unknown): string | undefined {
  if (value === null || typeof value !== 'object' || Array.isArray(value)) return JSON.stringify(value);
  const known = (value as Record<symbol, string | undefined>)[TEXT];
  if (known !== undefined) return known;
  return STATES.has(key) ? remember(value, TEXT, JSON.stringify(value)) : JSON.stringify(value);
}

/**
 * The JSON of an actual state's boot artifacts, remembered on the boot-artifacts object (which
 * shareStates() makes one per distinct text): as stored, or as shown (without the internal timestamp).
 */
function artifactsText(ba: object, shown: boolean): string {
  const o = ba as Record<symbol, string | undefined>;
  if (!shown || !('timestamp' in ba)) return o[TEXT] ?? remember(ba, TEXT, JSON.stringify(ba));
  const t = o[SHOWN];
  if (t !== undefined) return t;
  const { timestamp: _internal, ...artifacts } = ba as Record<string, unknown>;
  return remember(ba, SHOWN, JSON.stringify(artifacts));
}

function isPlainObject(v: unknown): v is Record<string, unknown> {
  return v !== null && typeof v === 'object' && !Array.isArray(v);
}

/**
 * Assembles `{"key":value,...}` from field texts, long texts as pieces of their own and the short
 * ones between them joined into one flat string (a rope of small strings held per record costs
 * several times its length).
 */
class Pieces {
  private readonly out: string[] = [];
  private small: string[] = ['{'];
  private empty = true;

  private key(key: string): void {
    if (!this.empty) this.small.push(',');
    this.small.push(keyText(key));
  }

  field(key: string, text: string): void {
    this.key(key);
    this.empty = false;
    if (text.length >= OWN_PIECE) {
      this.out.push(this.small.join(''), text);
      this.small = [];
    } else {
      this.small.push(text);
    }
  }

  /**
   * An actual state, field by field: its own fields are per record and small, its boot artifacts
   * are what every node booted alike shares (their text remembered on the shared object).
   */
  actualState(key: string, state: Record<string, unknown>, shown: boolean): void {
    this.key(key);
    this.small.push('{');
    this.empty = true;
    for (const k of Object.keys(state)) {
      const v = state[k];
      const t = k === 'boot_artifacts' && isPlainObject(v) ? artifactsText(v, shown) : JSON.stringify(v);
      if (t !== undefined) this.field(k, t);
    }
    this.small.push('}');
    this.empty = false;
  }

  end(): string[] {
    this.small.push('}');
    this.out.push(this.small.join(''));
    return this.out;
  }
}

/** One object per JSON text, for shareStates(); the oldest is let go when full. */
const sharedStates = new Map<string, object>();
const sharedArtifacts = new Map<string, object>();
const sharedSmall = new Map<string, object>();
/**
 * The fields shareStates() shares whole, each with the objects held for it: states many records hold
 * alike (a boot set's desired state, the empty staged state), and small objects (what one bulk write
 * gave them all, a last_action with its time; attempt counts; a phase), kept apart so that their many
 * texts do not push the states out. Shared, each is encoded once rather than at every write and
 * listing of every record holding it, and 100,000 records hold a few of them rather than one each.
 */
const SHARED_FIELDS: readonly (readonly [keyof Component, Map<string, object>])[] = [
  ['desired_state', sharedStates],
  ['staged_state', sharedStates],
  ['last_action', sharedSmall],
  ['event_stats', sharedSmall],
  ['status', sharedSmall],
];
const SHARED_MAX = 4096;

/**
 * The object `held` has for `v`'s JSON text, or `v` itself, now held for it. The text is remembered
 * on `v` either way: a merge may give the same new part to many records (mergeMemo()).
 */
function sharedFor(held: Map<string, object>, v: object): object {
  const text = (v as Record<symbol, string | undefined>)[TEXT] ?? remember(v, TEXT, JSON.stringify(v));
  const shared = held.get(text);
  if (shared !== undefined) return shared;
  if (held.size >= SHARED_MAX) held.delete(held.keys().next().value!);
  held.set(text, v);
  return v;
}

/**
 * The actual boot artifacts shared most recently, newest first, compared field by field before one
 * is encoded: a node's report brings a new boot-artifacts object made from its token's record, whose
 * strings are the record's own and compare at once, while encoding it to find its text costs more
 * than the rest of the record's sharing. A boot has a few distinct ones (one per boot set).
 */
const recentArtifacts: object[] = [];
const RECENT_ARTIFACTS = 8;

/** The shared object for actual boot artifacts `ba` (sharedFor(), a recent one first). */
function sharedArtifactsFor(ba: Record<string, unknown>): object {
  for (const c of recentArtifacts) if (c === ba || sameFlatObject(c as Record<string, unknown>, ba)) return c;
  const shared = sharedFor(sharedArtifacts, ba);
  recentArtifacts.unshift(shared);
  if (recentArtifacts.length > RECENT_ARTIFACTS) recentArtifacts.pop();
  return shared;
}

/** The same keys in the same order, each with the same value, and none an object (whose insides could differ): the same JSON. */
export function sameFlatObject(a: Record<string, unknown>, b: Record<string, unknown>): boolean {
  const keys = Object.keys(a);
  const other = Object.keys(b);
  if (keys.length !== other.length) return false;
  for (let i = 0; i < keys.length; i++) {
    const k = keys[i]!;
    const v = a[k];
    if (k !== other[i] || (v !== null && typeof v === 'object') || !Object.is(v, b[k])) return false;
  }
  return true;
}

/**
 * `rec` with its desired and staged states, its last_action, event_stats and status, and its actual
 * state's boot artifacts, replaced by an equal object (same JSON text) that another record of the
 * store holds, when there is one; `rec` itself when nothing was replaced. 100,000 nodes of one boot
 * set then hold one desired state and one set of actual boot artifacts, each with one text, instead
 * of a parsed copy each. Only the store's own records may be given here (their parts are never
 * changed).
 */
export function shareStates(rec: Component): Component {
  let out: Record<string, unknown> | undefined;
  for (const [key, held] of SHARED_FIELDS) {
    const v = rec[key] as unknown;
    if (!isPlainObject(v)) continue;
    const shared = sharedFor(held, v);
    if (shared !== v) {
      out ??= { ...rec };
      out[key] = shared;
    }
  }
  const actual = rec.actual_state as unknown;
  if (isPlainObject(actual) && isPlainObject(actual.boot_artifacts)) {
    const ba = actual.boot_artifacts;
    const shared = sharedArtifactsFor(ba);
    if (shared !== ba) {
      out ??= { ...rec };
      out.actual_state = { ...actual, boot_artifacts: shared };
    }
  }
  return (out as Component | undefined) ?? rec;
}

/** The stored JSON of a record of the store, in pieces: joined, exactly `JSON.stringify(rec)`. */
export function storedPieces(rec: Component): string[] {
  const p = new Pieces();
  const r = rec as unknown as Record<string, unknown>;
  for (const key of Object.keys(r)) {
    const v = r[key];
    if (key === 'actual_state' && isPlainObject(v)) {
      p.actualState(key, v, false);
      continue;
    }
    const t = fieldText(key, v);
    if (t !== undefined) p.field(key, t);
  }
  return p.end();
}

/**
 * The output JSON of a record of the store, in pieces: joined, exactly
 * `JSON.stringify(outputView(rec))` (status computed and attached, internal timestamp left out);
 * with `leaveOut`, without those fields (a desired view).
 */
export function outputPieces(rec: Component, leaveOut?: ReadonlySet<string>): string[] {
  const p = new Pieces();
  const r = rec as unknown as Record<string, unknown>;
  const statusObject = !!r.status && typeof r.status === 'object';
  const status = shownStatusText(rec);
  for (const key of Object.keys(r)) {
    if (leaveOut?.has(key)) continue;
    const v = r[key];
    if (key === 'actual_state' && isPlainObject(v)) {
      p.actualState(key, v, true);
      continue;
    }
    let t: string | undefined;
    if (key === 'status') {
      if (!statusObject) continue; // attached at the end, as outputView() does
      t = status;
    } else {
      t = fieldText(key, v);
    }
    if (t !== undefined) p.field(key, t);
  }
  if (!statusObject && !leaveOut?.has('status')) p.field('status', status);
  return p.end();
}

/**
 * `JSON.stringify(shownStatus(rec))`, remembered per computed status on a status object that
 * shareStates() made the one for its text (shared by many records).
 */
function shownStatusText(rec: Component): string {
  const st = rec.status as unknown;
  if (!isPlainObject(st) || (st as Record<symbol, string | undefined>)[TEXT] === undefined) return JSON.stringify(shownStatus(rec));
  const status = computeStatus(rec);
  let texts = (st as Record<symbol, Map<string, string> | undefined>)[SHOWN_STATUS];
  const known = texts?.get(status);
  if (known !== undefined) return known;
  const text = JSON.stringify(shownStatus(rec));
  if (texts === undefined && Object.isExtensible(st)) {
    texts = new Map();
    Object.defineProperty(st, SHOWN_STATUS, { value: texts, enumerable: false, writable: false, configurable: false });
  }
  texts?.set(status, text);
  return text;
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
