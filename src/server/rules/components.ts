/**
 * Component rules of the API (docs/data-model.md, "Component"; docs/api.md, "Components"): fields the
 * server sets by itself, the PATCH merge, the 409 actual-state rule, list filters and output
 * preparation. Pure functions of records; the caller fetches and stores.
 */
import type { ComponentQuery } from '../../clients/types.js';
import { attachStatus, computeStatus } from '../../common/status.js';
import type { BootArtifactsRecord, Component, ComponentPatch } from '../../common/types.js';
import { copyJson, merged } from '../../common/copy.js';

type Obj = Record<string, unknown>;

function isObj(v: unknown): v is Obj {
  return v !== null && typeof v === 'object' && !Array.isArray(v);
}

/** The BSS tokens whose boot-artifact records the auto-field step (a) needs for these documents. */
export function tokensToResolve(docs: Iterable<ComponentPatch>): string[] {
  const out = new Set<string>();
  for (const d of docs) {
    const t = isObj(d.actual_state) ? d.actual_state.bss_token : undefined;
    if (typeof t === 'string' && t !== '') out.add(t);
  }
  return [...out];
}

/**
 * Apply the automatic fields (docs/data-model.md, "Fields the server sets", steps a–e in order) to a
 * document in place: a full record (PUT, applystaged) or a patch document (PATCH). `artifacts` maps BSS
 * tokens to their boot-artifact records (unknown tokens are simply absent). Returns the same document.
 */
export function applyAutoFields<T extends ComponentPatch>(
  doc: T,
  now: string,
  artifacts: ReadonlyMap<string, BootArtifactsRecord> | undefined,
): T {
  const d = doc as Obj;
  // a. boot artifacts from the BSS token
  const actual = d.actual_state;
  if (isObj(actual) && typeof actual.bss_token === 'string' && actual.bss_token !== '') {
    const rec = artifacts?.get(actual.bss_token);
    if (rec) actual.boot_artifacts = { ...rec };
  }
  // b. last_updated stamps
  for (const key of ['actual_state', 'desired_state'] as const) {
    const s = d[key];
    if (isObj(s)) {
      const keys = Object.keys(s);
      if (!(keys.length === 1 && keys[0] === 'bss_token')) s.last_updated = now;
    }
  }
  if (isObj(d.staged_state)) d.staged_state.last_updated = now;
  if (isObj(d.last_action)) d.last_action.last_updated = now;
  // c. on_hold when enabled
  if (d.enabled === true) {
    if (isObj(d.status)) d.status.status_override = 'on_hold';
    else d.status = { status_override: 'on_hold' };
  }
  // d. a manual desired-state change detaches the component from its session
  if (isObj(d.desired_state) && Object.keys(d.desired_state).length > 0 && !d.session) d.session = '';
  // e. event_stats reset on a new desired state
  if (isObj(d.desired_state) && ('boot_artifacts' in d.desired_state || 'configuration' in d.desired_state)) {
    d.event_stats = { power_on_attempts: 0, power_off_graceful_attempts: 0, power_off_forceful_attempts: 0 };
  }
  return doc;
}

const STATE_KEYS = new Set(['actual_state', 'desired_state', 'staged_state']);
const SHALLOW_KEYS = new Set(['last_action', 'event_stats', 'status']);

const copy = copyJson;

/**
 * A patch document (id removed, auto fields applied) merged into a stored record (docs/data-model.md,
 * "The PATCH merge"): the three states are merged key by key with boot_artifacts merged one level
 * deeper; last_action, event_stats and status are merged key by key; anything else is replaced. Nothing
 * is deleted. Returns a new record and leaves `record` as it was: what the patch changes is new, what
 * it does not change is shared with `record` (so the store's own record can be merged into without a
 * copy, as long as neither is changed in place afterwards). Keys keep the order an in-place merge gives.
 */
export function mergeComponent(record: Component, patch: ComponentPatch, memo?: MergeMemo): Component {
  const r: Obj = merged(record);
  for (const [key, value] of Object.entries(patch)) {
    if (key === 'id') continue;
    const target = r[key];
    if (STATE_KEYS.has(key) && isObj(value) && isObj(target)) {
      r[key] = remembered(memo, key, target, () => mergedState(target, value));
    } else if (SHALLOW_KEYS.has(key) && isObj(value) && isObj(target)) {
      r[key] = remembered(memo, key, target, () => merged(target, value));
    } else if (memo && value !== null && typeof value === 'object') {
      let copied = memo.copies.get(key);
      if (copied === undefined) memo.copies.set(key, (copied = copy(value)));
      r[key] = copied;
    } else {
      r[key] = copy(value);
    }
  }
  return r as unknown as Component;
}

/**
 * What mergeComponent() made of one patch, for the next record it merges the same patch into: a
 * part depends only on the record's part and the patch, so records that share a part (a boot set's
 * desired state, a status) get one merged part, made once, and a value the patch sets is copied
 * once. For a patch given to many records (a bulk PATCH by id filter); one memo per patch object.
 */
export interface MergeMemo {
  /** Per field, the record's part → the part merged from it. */
  parts: Map<string, WeakMap<object, Obj>>;
  /** Per field, the copy of the patch's value set in place of the record's. */
  copies: Map<string, unknown>;
}

export function mergeMemo(): MergeMemo {
  return { parts: new Map(), copies: new Map() };
}

function remembered(memo: MergeMemo | undefined, key: string, target: Obj, make: () => Obj): Obj {
  if (!memo) return make();
  let byPart = memo.parts.get(key);
  if (byPart === undefined) memo.parts.set(key, (byPart = new WeakMap()));
  let out = byPart.get(target);
  if (out === undefined) byPart.set(target, (out = make()));
  return out;
}

/** A state merged key by key, boot_artifacts one level deeper. */
function mergedState(target: Obj, value: Obj): Obj {
  const state: Obj = merged(target);
  for (const [k, v] of Object.entries(value)) {
    const artifacts = state.boot_artifacts;
    if (k === 'boot_artifacts' && isObj(v) && isObj(artifacts)) state.boot_artifacts = merged(artifacts, v as Obj);
    else state[k] = copy(v);
  }
  return state;
}

/**
 * The 409 rule of a single-component PATCH that carries `actual_state`
 * (docs/api.md, "Single-component writes"): allowed when the stored record is not enabled (absent
 * counts as not enabled), its computed status is stable, or its last action is powering_on.
 */
export function actualStateUpdateAllowed(stored: Component): boolean {
  if (stored.enabled !== true) return true;
  if (computeStatus(stored) === 'stable') return true;
  return stored.last_action?.action === 'powering_on';
}

/** Query of GET /v2/components after parameter parsing. */
export interface ComponentListQuery extends ComponentQuery {
  start_after_id?: string;
  page_size?: number;
}

/**
 * The record filter of GET /v2/components (docs/api.md, "Listing components"), or undefined when no
 * filtering applies. Filtering is active only when at least one of enabled/session/staged_session/
 * phase/status is truthy; `?enabled=false` alone therefore filters nothing (upstream's quirk).
 */
export function componentFilter(q: ComponentListQuery): ((c: Component) => boolean) | undefined {
  const active = q.enabled === true || !!q.session || !!q.staged_session || !!q.phase || !!q.status;
  if (!active) return undefined;
  const { enabled, session, staged_session: staged, phase } = q;
  const statuses = q.status ? new Set(q.status.split(',')) : undefined;
  return (c) => {
    if (enabled !== undefined && c.enabled !== enabled) return false;
    if (session && c.session !== session) return false;
    if (staged && c.staged_state?.session !== staged) return false;
    if (phase && c.status?.phase !== phase) return false;
    if (statuses && !statuses.has(computeStatus(c))) return false;
    return true;
  };
}

/** Prepare a record for GET output, in place: computed status attached, internal timestamp removed. */
export function prepareForOutput(c: Component): Component {
  attachStatus(c);
  const ba = c.actual_state?.boot_artifacts;
  if (ba && typeof ba === 'object' && 'timestamp' in ba) delete ba.timestamp;
  return c;
}

/**
 * The GET output form of a record without changing it (status attached, internal timestamp left
 * out): shallow copies of only the parts that differ, so a stored record can be shown uncopied.
 */
export function outputView(c: Component): Component {
  const o: Component = merged(c);
  if (c.status && typeof c.status === 'object') o.status = merged(c.status);
  else delete o.status;
  attachStatus(o);
  const a = c.actual_state;
  if (a && typeof a === 'object' && a.boot_artifacts && typeof a.boot_artifacts === 'object' && 'timestamp' in a.boot_artifacts) {
    const { timestamp: _internal, ...artifacts } = a.boot_artifacts;
    o.actual_state = { ...a, boot_artifacts: artifacts };
  }
  return o;
}

/**
 * Key a list of documents by id, last duplicate winning but keeping the position of the first
 * occurrence (the order upstream's dict gives).
 */
export function lastWinsById<T extends { id?: string }>(docs: readonly T[]): Map<string, T> {
  const out = new Map<string, T>();
  for (const d of docs) out.set(d.id as string, d);
  return out;
}
