/**
 * `bos components list|describe|update`.
 */
import type { ComponentQuery } from '../../clients/types.js';
import { type Command, InvalidArgumentError } from 'commander';
import { emptyStagedState } from '../../common/constants.js';
import { PHASES, type Component, type ComponentPatch } from '../../common/types.js';
import { act, boolArg, intArg, leaf, withConnection, type Io } from './common.js';
import { CliError, seg, type BosApi, type Query } from './http.js';
import { describe, json, show, table, type Column } from './output.js';

const DEFAULT_PAGE_SIZE = 2000;
/** Ids per request when listing by a long id list (keeps the request line well under 16 KiB). */
const IDS_PER_REQUEST = 400;

export type { ComponentQuery };

/**
 * Every component matching the query, following pages: each request asks for `pageSize` records
 * after the last id seen (`start_after_id`) until a short page. pageSize 0 = one unpaged request.
 */
export async function listComponents(api: BosApi, q: ComponentQuery, pageSize = DEFAULT_PAGE_SIZE): Promise<Component[]> {
  const ids = q.ids?.split(',').filter(Boolean) ?? [];
  if (ids.length > IDS_PER_REQUEST) {
    // A long id list would not fit in one request line: ask in chunks, merge in id order.
    const all: Component[] = [];
    const seen = new Set<string>();
    for (let i = 0; i < ids.length; i += IDS_PER_REQUEST) {
      for (const c of await listComponents(api, { ...q, ids: ids.slice(i, i + IDS_PER_REQUEST).join(',') }, pageSize)) {
        if (!seen.has(c.id)) {
          seen.add(c.id);
          all.push(c);
        }
      }
    }
    return all.sort((a, b) => (a.id < b.id ? -1 : a.id > b.id ? 1 : 0));
  }
  const base: Query = { ...q };
  if (pageSize === 0) return api.get<Component[]>('/components', base);
  const all: Component[] = [];
  let after: string | undefined;
  for (;;) {
    const page = await api.get<Component[]>('/components', { ...base, page_size: pageSize, start_after_id: after });
    for (const c of page) all.push(c);
    if (page.length < pageSize) return all;
    const last = page[page.length - 1]!.id;
    if (after !== undefined && last <= after) {
      throw new CliError(`the API did not move past component ${last} when paging; list again with --page-size 0`);
    }
    after = last;
  }
}

function attempts(c: Component): string {
  const e = c.event_stats ?? {};
  return `${e.power_on_attempts ?? 0}/${e.power_off_graceful_attempts ?? 0}/${e.power_off_forceful_attempts ?? 0}`;
}

export const COMPONENT_COLUMNS: Column<Component>[] = [
  { header: 'ID', get: (c) => c.id },
  { header: 'ENABLED', get: (c) => show(c.enabled) },
  { header: 'PHASE', get: (c) => show(c.status?.phase) },
  { header: 'STATUS', get: (c) => show(c.status?.status) },
  { header: 'LAST ACTION', get: (c) => show(c.last_action?.action) + (c.last_action?.failed ? ' (failed)' : '') },
  { header: 'ATTEMPTS', get: attempts },
  { header: 'SESSION', get: (c) => show(c.session), max: 40 },
  { header: 'ERROR', get: (c) => show(c.error), max: 60 },
];

function phaseArg(v: string): string {
  const p = v === 'none' ? '' : v;
  if (!(PHASES as readonly string[]).includes(p)) {
    throw new InvalidArgumentError(`"${v}" is not a phase: use powering_on, powering_off or configuring`);
  }
  return p;
}

interface ListOpts {
  ids?: string;
  enabled?: boolean;
  session?: string;
  stagedSession?: string;
  phase?: string;
  status?: string;
  pageSize: number;
}

interface UpdateOpts {
  enabled?: boolean;
  retryPolicy?: number;
  clearError?: boolean;
  clearStaged?: boolean;
  clearOverride?: boolean;
  configuration?: string;
  skipBadIds?: boolean;
}

/** The PATCH body of `components update` from its options. */
function componentPatch(o: UpdateOpts): ComponentPatch {
  const patch: ComponentPatch = {};
  if (o.enabled !== undefined) patch.enabled = o.enabled;
  if (o.retryPolicy !== undefined) patch.retry_policy = o.retryPolicy;
  if (o.clearError) patch.error = '';
  if (o.clearStaged) patch.staged_state = { ...emptyStagedState(), session: '' };
  if (o.clearOverride) patch.status = { status_override: '' };
  if (o.configuration !== undefined) patch.desired_state = { configuration: o.configuration };
  return patch;
}

export function registerComponents(program: Command, io: Io): void {
  const group = withConnection(
    program.command('components').alias('component').description('list, show and change the nodes BOS manages'),
  );

  leaf(group.command('list'))
    .description('list components (every page; filters combine)')
    .option('--ids <ids>', 'only these ids (comma-separated xnames)')
    .option('--enabled <bool>', 'only enabled (true) or disabled (false) components', boolArg)
    .option('--session <name>', 'only components of this session')
    .option('--staged-session <name>', 'only components staged by this session')
    .option('--phase <phase>', 'only this phase: powering_on, powering_off, configuring, or none', phaseArg)
    .option('--status <list>', 'only these statuses (comma-separated, e.g. failed,on_hold)')
    .option('--page-size <n>', 'records per request; 0 = everything in one request', intArg(0, 1048576), DEFAULT_PAGE_SIZE)
    .action(
      act<ListOpts>(io, async (ctx, _args, o) => {
        let list = await listComponents(
          ctx.api,
          { ids: o.ids, enabled: o.enabled, session: o.session, staged_session: o.stagedSession, phase: o.phase, status: o.status },
          o.pageSize,
        );
        // The API filters only when some filter is truthy (docs/api.md, "Listing components"): `--enabled false` or
        // `--phase none` alone would list everything, so those two are (also) applied here.
        if (o.enabled === false || o.phase === '') {
          list = list.filter((c) => (o.enabled === undefined || c.enabled === o.enabled) && (o.phase === undefined || (c.status?.phase ?? '') === o.phase));
        }
        ctx.io.out.write(ctx.format === 'json' ? json(list) : table(COMPONENT_COLUMNS, list));
      }),
    );

  leaf(group.command('describe').argument('<id>', 'component id (xname)'))
    .description('show one component: state, last action, attempts, error, status')
    .action(
      act(io, async (ctx, [id]) => {
        const c = await ctx.api.get<Component>(`/components/${seg(id!)}`);
        ctx.io.out.write(ctx.format === 'json' ? json(c) : describe(c));
      }),
    );

  leaf(group.command('update').argument('<ids...>', 'component ids (xnames, space- or comma-separated)'))
    .description('change components: enable/disable, retry policy, clear an error or a staged state')
    .option('--enabled <bool>', 'enable (true) or disable (false)', boolArg)
    .option('--retry-policy <n>', 'attempts before BOS gives up on the node', intArg(0, 1048576))
    .option('--clear-error', 'empty the error field')
    .option('--clear-staged', 'drop the staged state (and its session)')
    .option('--clear-override', 'drop a status override (failed, on_hold); with --enabled true BOS sets on_hold anyway')
    .option('--configuration <name>', 'desired CFS configuration (like any desired-state change, detaches the node from its session)')
    .option('--skip-bad-ids', 'with several ids: ignore unknown ids instead of failing')
    .action(
      act<UpdateOpts>(io, async (ctx, args, o) => {
        const ids = args.flatMap((a) => a.split(',')).map((s) => s.trim()).filter(Boolean);
        const patch = componentPatch(o);
        if (Object.keys(patch).length === 0) {
          throw new CliError('nothing to change: give at least one of --enabled, --retry-policy, --clear-error, --clear-staged, --clear-override, --configuration');
        }
        let out: Component[];
        if (ids.length === 1) {
          out = [await ctx.api.patch<Component>(`/components/${seg(ids[0]!)}`, patch)];
        } else {
          out = await ctx.api.patch<Component[]>('/components', { patch, filters: { ids: ids.join(',') } }, o.skipBadIds ? { skip_bad_ids: true } : undefined);
        }
        if (ctx.format === 'json') ctx.io.out.write(json(ids.length === 1 ? out[0] : out));
        else ctx.io.out.write(`updated ${out.length} component${out.length === 1 ? '' : 's'}${out.length <= 10 ? ': ' + out.map((c) => c.id).join(',') : ''}\n`);
      }),
    );
}
