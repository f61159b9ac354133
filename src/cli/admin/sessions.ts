/**
 * `bos sessions create|list|describe|delete|status`.
 */
import { type Command, InvalidArgumentError, Option } from 'commander';
import { OPERATIONS, SESSION_STATUSES, type ExtendedStatus, type Session } from '../../common/types.js';
import { previewReport, type SessionPreview } from './preview.js';
import { act, ageArg, intArg, leaf, secondsArg, withConnection, type Io } from './common.js';
import { apiStatusOf, CliError, seg, type Query } from './http.js';
import { describe, json, show, table, type Column } from './output.js';
import { rolloutLine, trimDuration, watchSession } from './watch.js';

const SESSION_COLUMNS: Column<Session>[] = [
  { header: 'NAME', get: (s) => s.name },
  { header: 'TENANT', get: (s) => show(s.tenant) },
  { header: 'OPERATION', get: (s) => show(s.operation) + (s.stage ? ' (staged)' : '') },
  { header: 'TEMPLATE', get: (s) => show(s.template_name), max: 40 },
  { header: 'STATUS', get: (s) => show(s.status?.status) },
  { header: 'START', get: (s) => show(s.status?.start_time) },
  { header: 'END', get: (s) => show(s.status?.end_time) },
  { header: 'LIMIT', get: (s) => show(s.limit), max: 30 },
  { header: 'ERROR', get: (s) => show(s.status?.error), max: 50 },
];

function byStart(a: Session, b: Session): number {
  const x = a.status?.start_time ?? '';
  const y = b.status?.start_time ?? '';
  return x < y ? -1 : x > y ? 1 : a.name < b.name ? -1 : a.name > b.name ? 1 : 0;
}

function statusArg(v: string): string {
  if (!(SESSION_STATUSES as readonly string[]).includes(v)) throw new InvalidArgumentError(`use one of ${SESSION_STATUSES.join(', ')}`);
  return v;
}

/** The extended status as a short report. */
function statusReport(name: string, ext: ExtendedStatus): string {
  const n = ext.managed_components_count ?? 0;
  const count = (p: number | undefined) => Math.round(((p ?? 0) * n) / 100);
  const ph = ext.phases ?? ({} as ExtendedStatus['phases']);
  const lines = [
    `session            ${name}`,
    `status             ${show(ext.status)}`,
    `start              ${show(ext.timing?.start_time)}`,
    `end                ${show(ext.timing?.end_time)}`,
    `duration           ${trimDuration(ext.timing?.duration)}`,
    `nodes              ${n}`,
    `complete           ${ph.percent_complete ?? 0}%`,
    `succeeded          ${ext.percent_successful ?? 0}% (${count(ext.percent_successful)})`,
    `failed             ${ext.percent_failed ?? 0}% (${count(ext.percent_failed)})`,
    `staged             ${ext.percent_staged ?? 0}% (${count(ext.percent_staged)})`,
    `powering on        ${ph.percent_powering_on ?? 0}% (${count(ph.percent_powering_on)})`,
    `powering off       ${ph.percent_powering_off ?? 0}% (${count(ph.percent_powering_off)})`,
    `configuring        ${ph.percent_configuring ?? 0}% (${count(ph.percent_configuring)})`,
  ];
  if (ext.rollout) {
    lines.push(rolloutLine(ext.rollout).replace(/^Rollout: {2}/, 'rollout            '));
    if (ext.rollout.stopped) lines.push(`stopped            ${ext.rollout.stopped}`);
  }
  const errors = Object.entries(ext.error_summary ?? {}).sort((a, b) => b[1].count - a[1].count);
  if (errors.length) {
    lines.push('errors');
    for (const [text, v] of errors) lines.push(`  ${String(v.count).padStart(6)}  ${text.replace(/\s+/g, ' ')}  (${v.list})`);
  }
  return lines.join('\n') + '\n';
}

interface CreateOpts {
  templateName: string;
  operation: string;
  limit?: string;
  stage?: boolean;
  includeDisabled?: boolean;
  name?: string;
  maxInFlight?: number;
  maxFailed?: number;
  canary?: number;
  dryRun?: boolean;
}

interface FilterOpts {
  status?: string;
  minAge?: string;
  maxAge?: string;
  all?: boolean;
}

function filterQuery(o: FilterOpts): Query {
  return { status: o.status, min_age: o.minAge, max_age: o.maxAge };
}

export function registerSessions(program: Command, io: Io): void {
  const group = withConnection(
    program.command('sessions').alias('session').description('start, list, follow and delete sessions (boot, reboot, shutdown)'),
  );

  leaf(group.command('create'))
    .description('start a session: boot, reboot or shut down the nodes of a session template')
    .requiredOption('--template-name <name>', 'session template to use')
    .addOption(new Option('--operation <op>', 'what to do').choices([...OPERATIONS]).makeOptionMandatory())
    .option('--limit <list>', 'only these nodes: comma list of xnames, groups, roles; & intersects, ! excludes (e.g. all,!x3000c0s1b0n0)')
    .option('--stage', 'stage the change; apply it later per node with `bos applystaged`')
    .option('--include-disabled', 'include nodes disabled in HSM')
    .option('--name <name>', 'session name (default: a random UUID)')
    .option('--max-in-flight <n>', 'roll out: at most this many nodes in progress at once; the others wait their turn', intArg(1, 1048576))
    .option('--max-failed <n>', 'roll out: stop starting nodes once more than this many have failed', intArg(0, 1048576))
    .option('--canary <n>', 'roll out: the first n nodes must all succeed before any other starts', intArg(0, 1048576))
    .option('--dry-run', 'show which nodes the session would act on (and which it would leave out, and why) without creating it')
    .addHelpText(
      'after',
      '\nExamples:\n  bos sessions create --template-name compute-23.7 --operation reboot --limit x3000c0s19b1n0\n' +
        '  bos sessions create --template-name compute-23.7 --operation reboot --dry-run\n' +
        '  bos sessions create --template-name compute-23.7 --operation reboot --max-in-flight 500 --max-failed 10 --canary 5\n' +
        '  bos sessions status <name> --watch\n',
    )
    .action(
      act<CreateOpts>(io, async (ctx, _args, o) => {
        const body: Record<string, unknown> = { template_name: o.templateName, operation: o.operation };
        if (o.limit !== undefined) body.limit = o.limit;
        if (o.stage) body.stage = true;
        if (o.includeDisabled) body.include_disabled = true;
        if (o.name !== undefined) body.name = o.name;
        if (o.maxInFlight !== undefined) body.max_in_flight = o.maxInFlight;
        if (o.maxFailed !== undefined) body.max_failed = o.maxFailed;
        if (o.canary !== undefined) body.canary = o.canary;
        if (o.dryRun) {
          const p = await ctx.api.post<SessionPreview>('/sessionpreview', body).catch((err: unknown) => {
            const status = apiStatusOf(err);
            if (status === 404 || status === 405) {
              throw new CliError('this BOS API offers no session previews (an extension of this project); nothing was created');
            }
            throw err;
          });
          ctx.io.out.write(ctx.format === 'json' ? json(p) : previewReport(p));
          return;
        }
        const s = await ctx.api.post<Session>('/sessions', body);
        ctx.io.out.write(ctx.format === 'json' ? json(s) : describe(s));
      }),
    );

  leaf(group.command('resume').argument('<name>', 'session name'))
    .description('let a rolling session whose rollout stopped (canary or failure budget) go on: the failures so far are forgiven')
    .action(
      act(io, async (ctx, [name]) => {
        const ext = await ctx.api.get<ExtendedStatus>(`/sessions/${seg(name!)}/status`);
        if (!ext.rollout) throw new CliError(`session ${name} does not roll out (it has no max_in_flight, max_failed or canary): there is nothing to resume`);
        if (ext.status === 'complete') throw new CliError(`session ${name} is complete: there is nothing to resume`);
        const s = await ctx.api.patch<Session>(`/sessions/${seg(name!)}`, { failures_forgiven: ext.rollout.failed, status: { error: null } });
        if (ctx.format === 'json') ctx.io.out.write(json(s));
        else {
          const was = ext.rollout.stopped ? `it had stopped: ${ext.rollout.stopped.replace(/ \(resume or delete the session\)$/, '')}` : 'it had not stopped';
          ctx.io.out.write(`resumed session ${name} (${was}); ${ext.rollout.failed} failure(s) forgiven, ${ext.rollout.waiting} node(s) waiting\n`);
        }
      }),
    );

  const filters = (cmd: Command) =>
    cmd
      .option('--status <status>', 'only sessions in this status: pending, running, complete', statusArg)
      .option('--min-age <age>', 'only sessions started at least this long ago (e.g. 7d, 4h, 30m, 2w)', ageArg)
      .option('--max-age <age>', 'only sessions started at most this long ago', ageArg);

  filters(leaf(group.command('list')))
    .description('list sessions (oldest first)')
    .action(
      act<FilterOpts>(io, async (ctx, _args, o) => {
        const list = await ctx.api.get<Session[]>('/sessions', filterQuery(o));
        list.sort(byStart);
        ctx.io.out.write(ctx.format === 'json' ? json(list) : table(SESSION_COLUMNS, list));
      }),
    );

  leaf(group.command('describe').argument('<name>', 'session name'))
    .description('show one session')
    .action(
      act(io, async (ctx, [name]) => {
        const s = await ctx.api.get<Session>(`/sessions/${seg(name!)}`);
        ctx.io.out.write(ctx.format === 'json' ? json(s) : describe(s));
      }),
    );

  filters(leaf(group.command('delete').argument('[name]', 'session name; without it, delete the sessions the filters select')))
    .description('delete one session, or every session the filters select (e.g. --status complete --min-age 7d)')
    .option('--all', 'with no name and no filter: delete every session')
    .action(
      act<FilterOpts>(io, async (ctx, args, o) => {
        const name = args[0];
        const filtered = o.status !== undefined || o.minAge !== undefined || o.maxAge !== undefined;
        if (name !== undefined) {
          if (filtered || o.all) throw new CliError('give either a session name or filters (--status, --min-age, --max-age, --all), not both');
          await ctx.api.delete(`/sessions/${seg(name)}`);
          if (ctx.format === 'table') ctx.io.out.write(`deleted session ${name}\n`);
          return;
        }
        if (!filtered && !o.all) {
          throw new CliError('no session named and no filter given: name a session, select with --status/--min-age/--max-age, or pass --all to delete every session');
        }
        await ctx.api.delete('/sessions', filterQuery(o));
        if (ctx.format === 'table') ctx.io.out.write('deleted the selected sessions\n');
      }),
    );

  leaf(group.command('status').argument('<name>', 'session name'))
    .description('progress of a session; --watch follows it until complete (exit 0: no node failed, 2: some failed)')
    .option('-w, --watch', 'follow the session live until it is complete, then print a summary')
    .option('--interval <seconds>', 'seconds between polls with --watch', secondsArg, 5)
    .action(
      act<{ watch?: boolean; interval: number }>(io, async (ctx, [name], o) => {
        if (o.watch) return watchSession(ctx.api, name!, ctx.io, { intervalMs: o.interval * 1000, json: ctx.format === 'json' });
        const ext = await ctx.api.get<ExtendedStatus>(`/sessions/${seg(name!)}/status`);
        if (ctx.format === 'json') ctx.io.out.write(json(ext));
        else ctx.io.out.write(statusReport(name!, ext));
        return undefined;
      }),
    );
}

