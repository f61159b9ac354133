/**
 * Records after a boot's writes, as the API holds them: N records (default 100,000) taken through the
 * patches one boot writes to each component (session setup, power-on's preset, token and base update,
 * the node's report, two status writes), merged as the API merges them (mergeComponent(), which copies
 * with merged()), against the same merge written with object spreads as it was before. For each: the
 * time of the merges, the time of what the API then does with every record (its status, its stored
 * and shown JSON), the live heap holding the records, and how many records (or their status objects) do not
 * share the first one's V8 hidden class. Both in one run, so the figures compare as ratios.
 *
 * Then the same boot as the Redis store writes it: the bulk writes (every patch but the node's
 * report) as one patch for all records, merged with and without mergeMemo() (what a bulk PATCH by id
 * filter does, against merging the patch into each record on its own), each record written then
 * made one with the equal parts other records hold (shareStates()) and encoded (storedPieces()), and
 * listed (outputPieces()) after each bulk write. Both ways twice, alternating, in one run.
 *
 *   npx tsx bench/merge.bench.ts [100000]          (npm run bench -- merge)
 */
import { setFlagsFromString } from 'node:v8';
import { runInNewContext } from 'node:vm';
import { copyJson } from '../src/common/copy.js';
import { computeStatus } from '../src/common/status.js';
import type { Component, ComponentPatch } from '../src/common/types.js';
import { outputPieces, shareStates, storedPieces } from '../src/server/record-json.js';
import { applyAutoFields, mergeComponent, mergeMemo } from '../src/server/rules/components.js';
import { machineLine } from './scale-common.js';

const N = Number(process.argv.slice(2).find((a) => /^\d+$/.test(a)) ?? 100_000);
setFlagsFromString('--expose-gc');
setFlagsFromString('--allow-natives-syntax');
const gc = runInNewContext('gc') as () => void;
const sameClass = new Function('a', 'b', 'return %HaveSameMap(a, b)') as (a: unknown, b: unknown) => boolean;

type Obj = Record<string, unknown>;
const isObj = (v: unknown): v is Obj => v !== null && typeof v === 'object' && !Array.isArray(v);
const STATE_KEYS = new Set(['actual_state', 'desired_state', 'staged_state']);
const SHALLOW_KEYS = new Set(['last_action', 'event_stats', 'status']);

/** The merge as it was written before merged(): object spreads (the rule is mergeComponent()'s). */
function spreadMerge(record: Component, patch: ComponentPatch): Component {
  const r: Obj = { ...record };
  for (const [key, value] of Object.entries(patch)) {
    if (key === 'id') continue;
    const target = r[key];
    if (STATE_KEYS.has(key) && isObj(value) && isObj(target)) {
      const state: Obj = { ...target };
      for (const [k, v] of Object.entries(value)) {
        const artifacts = state.boot_artifacts;
        state[k] = k === 'boot_artifacts' && isObj(v) && isObj(artifacts) ? { ...artifacts, ...(v as Obj) } : copyJson(v);
      }
      r[key] = state;
    } else if (SHALLOW_KEYS.has(key) && isObj(value) && isObj(target)) {
      r[key] = { ...target, ...value };
    } else {
      r[key] = copyJson(value);
    }
  }
  return r as unknown as Component;
}

const now = '2026-12-05T03:00:00';
const artifacts = { kernel: 's3://boot-images/compute/kernel', kernel_parameters: 'console=ttyS0 root=sbps-s3:compute ip=dhcp quiet', initrd: 's3://boot-images/compute/initrd' };

function discovered(i: number): Component {
  const id = `x${1000 + Math.floor(i / 512)}c${Math.floor(i / 64) % 8}s${Math.floor(i / 8) % 8}b${Math.floor(i / 2) % 4}n${i % 2}`;
  return JSON.parse(
    JSON.stringify({
      id,
      actual_state: { boot_artifacts: { kernel: '', kernel_parameters: '', initrd: '' }, bss_token: '', last_updated: now },
      desired_state: { boot_artifacts: { kernel: '', kernel_parameters: '', initrd: '' }, configuration: '', bss_token: '', last_updated: now },
      staged_state: { last_updated: now },
      last_action: { action: 'newly_discovered', failed: false, last_updated: now },
      enabled: false,
      error: '',
      session: '',
    }),
  ) as Component;
}

/** The patches one boot writes to a component, in order, each as the API receives it (parsed, auto fields applied). */
function bootPatches(): ComponentPatch[] {
  return PATCH_TEXTS.map((_, k) => bootPatch(k));
}

/** The boot's k-th patch as the API receives it. */
function bootPatch(k: number): ComponentPatch {
  return applyAutoFields(JSON.parse(PATCH_TEXTS[k]!) as ComponentPatch, now, KNOWN);
}
const KNOWN = new Map([['token-1', { ...artifacts, timestamp: now }]]);
const PATCH_TEXTS = bootPatchTexts();
function bootPatchTexts(): string[] {
  const texts = [
    { error: '', desired_state: { boot_artifacts: artifacts, configuration: 'cos-config' }, session: 'boot', enabled: true, last_action: { action: 'session_setup', failed: false } },
    { error: '', last_action: { action: 'powering_on', failed: false } },
    { session: 'boot', desired_state: { bss_token: 'token-1' } },
    { error: '', last_action: { action: 'powering_on', failed: false }, event_stats: { power_on_attempts: 1 } },
    { actual_state: { bss_token: 'token-1' } },
    { status: { status_override: '', phase: 'configuring' } },
    { status: { status_override: '', phase: '' }, event_stats: { power_on_attempts: 0, power_off_graceful_attempts: 0, power_off_forceful_attempts: 0 }, enabled: false },
  ];
  return texts.map((t) => JSON.stringify(t));
}

function liveMiB(): number {
  for (let i = 0; i < 3; i++) gc();
  return process.memoryUsage().heapUsed / 2 ** 20;
}

interface Row {
  name: string;
  mergeMs: number;
  useMs: number;
  liveMiB: number;
  ownClass: number;
}

function measure(name: string, merge: (r: Component, p: ComponentPatch) => Component): Row {
  let records = Array.from({ length: N }, (_, i) => discovered(i));
  const base = liveMiB();
  // Each record its own parsed patches, as the API receives a node's report or an item of a list.
  const patches = records.map(() => bootPatches());
  const t0 = performance.now();
  for (let k = 0; k < PATCH_TEXTS.length; k++) records = records.map((r, i) => merge(r, patches[i]![k]!));
  const mergeMs = performance.now() - t0;
  patches.length = 0;
  const t1 = performance.now();
  let bytes = 0;
  for (let pass = 0; pass < 3; pass++) {
    for (const r of records) {
      bytes += computeStatus(r).length;
      for (const s of storedPieces(r)) bytes += s.length;
      for (const s of outputPieces(r)) bytes += s.length;
    }
  }
  const useMs = performance.now() - t1;
  if (bytes === 0) throw new Error('no JSON made');
  const live = liveMiB() - base;
  let ownClass = 0;
  for (const r of records) if (!sameClass(r.status, records[0]!.status) || !sameClass(r, records[0])) ownClass++;
  records = [];
  return { name, mergeMs, useMs, liveMiB: live, ownClass };
}

console.log(machineLine());
console.log(`records: ${N}, each through ${bootPatches().length} patches of a boot, then its status, stored and shown JSON made three times`);
// Each way twice, alternating, so neither has the machine's quieter moment to itself; the second of each is reported.
const runs = [measure('spread', spreadMerge), measure('merged()', mergeComponent), measure('spread', spreadMerge), measure('merged()', mergeComponent)];
const [spread, current] = [runs[2]!, runs[3]!];
console.log('| merge | merges | status and JSON, 3 times | live heap | records or status objects with a hidden class of their own |');
console.log('|---|---|---|---|---|');
for (const r of [spread, current]) console.log(`| ${r.name} | ${(r.mergeMs / 1000).toFixed(2)} s | ${(r.useMs / 1000).toFixed(2)} s | ${r.liveMiB.toFixed(1)} MiB | ${r.ownClass} of ${N} |`);
console.log(
  `merged() against spread: merges ${(spread.mergeMs / current.mergeMs).toFixed(2)}× faster, status and JSON ${(spread.useMs / current.useMs).toFixed(2)}× faster, ` +
    `live heap ${(spread.liveMiB / current.liveMiB).toFixed(2)}× smaller`,
);

/** The boot as the Redis store writes it (see the header); `memo`: bulk writes merged through mergeMemo(). */
function measureStore(memo: boolean): { ms: number; liveMiB: number } {
  const base = liveMiB();
  let records = Array.from({ length: N }, (_, i) => shareStates(discovered(i)));
  const shared = bootPatches();
  // The node's report is each record's own patch, parsed before the clock starts (as in measure()).
  const own = shared.map((p, k) => ('actual_state' in p ? records.map(() => bootPatch(k)) : undefined));
  const t0 = performance.now();
  let bytes = 0;
  for (let k = 0; k < PATCH_TEXTS.length; k++) {
    const reports = own[k];
    const m = memo && !reports ? mergeMemo() : undefined;
    records = records.map((r, i) => {
      const next = shareStates(mergeComponent(r, reports ? reports[i]! : shared[k]!, m));
      for (const x of storedPieces(next)) bytes += x.length;
      return next;
    });
    if (!reports) for (const r of records) for (const x of outputPieces(r)) bytes += x.length;
  }
  const ms = performance.now() - t0;
  if (bytes === 0) throw new Error('no JSON made');
  const live = liveMiB() - base;
  // Read after the heap is measured, so the records are still alive when it is.
  if (records.length !== N) throw new Error('records lost');
  records = [];
  return { ms, liveMiB: live };
}

const store = [measureStore(false), measureStore(true), measureStore(false), measureStore(true)];
const [plain, memoized] = [store[2]!, store[3]!];
console.log('');
console.log('| bulk writes merged | writes, encodings and listings | live heap |');
console.log('|---|---|---|');
console.log(`| per record | ${(plain.ms / 1000).toFixed(2)} s | ${plain.liveMiB.toFixed(1)} MiB |`);
console.log(`| once per shared part (mergeMemo()) | ${(memoized.ms / 1000).toFixed(2)} s | ${memoized.liveMiB.toFixed(1)} MiB |`);
console.log(`mergeMemo() against per record: ${(plain.ms / memoized.ms).toFixed(2)}× faster, live heap ${(plain.liveMiB / memoized.liveMiB).toFixed(2)}× smaller`);

if (current.ownClass > N / 100) {
  console.error(`merged() records do not share hidden classes: ${current.ownClass} of ${N} status objects have one of their own`);
  process.exit(1);
}
