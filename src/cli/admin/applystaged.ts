/**
 * `bos applystaged XNAME...`: apply the staged state of nodes (the rolling-upgrade step a workload
 * manager runs per idle node, e.g. as Slurm's RebootProgram). Quiet and exit 0 when every node
 * succeeded; otherwise one line on stderr per kind of failure and exit 1.
 */
import { type Command } from 'commander';
import type { Component } from '../../common/types.js';
import { act, withConnection, type Io } from './common.js';
import { CliError, seg, type BosApi } from './http.js';
import { json } from './output.js';

interface ApplyStagedResult {
  succeeded: string[];
  failed: string[];
  ignored: string[];
}

/** The error BOS recorded on a node that failed to apply (best effort: empty when unreadable). */
async function recordedError(api: BosApi, id: string): Promise<string> {
  try {
    const c = await api.get<Component>(`/components/${seg(id)}`);
    return c.error ?? '';
  } catch {
    return '';
  }
}

/** The API takes at most this many xnames per request. */
const APPLYSTAGED_BATCH = 32768;

/** POST /v2/applystaged, in batches of APPLYSTAGED_BATCH xnames; the answers merged. */
async function applyStaged(api: BosApi, xnames: readonly string[]): Promise<ApplyStagedResult> {
  const all: ApplyStagedResult = { succeeded: [], failed: [], ignored: [] };
  for (let i = 0; i < xnames.length; i += APPLYSTAGED_BATCH) {
    const r = await api.post<ApplyStagedResult>('/applystaged', { xnames: xnames.slice(i, i + APPLYSTAGED_BATCH) });
    all.succeeded.push(...(r.succeeded ?? []));
    all.failed.push(...(r.failed ?? []));
    all.ignored.push(...(r.ignored ?? []));
  }
  return all;
}

function ids(list: string[]): string {
  return list.length > 8 ? `${list.slice(0, 8).join(',')},... (${list.length} nodes)` : list.join(',');
}

export function registerApplystaged(program: Command, io: Io): void {
  withConnection(program.command('applystaged'))
    .description('apply the staged state of nodes now (quiet on success; exit 1 and one line when a node failed or had nothing staged)')
    .argument('<xnames...>', 'node xnames (space- or comma-separated)')
    .option('--allow-ignored', 'nodes with nothing staged (ignored by BOS) are not a failure')
    .option('-q, --quiet', 'no output at all on failure either (exit code only)')
    .addHelpText('after', '\nAs Slurm\'s RebootProgram: a script running `bos applystaged --url <BOS API> $(cat /etc/cray/xname)`.\n')
    .action(
      act<{ allowIgnored?: boolean; quiet?: boolean; format?: string }>(io, async (ctx, args, o) => {
        const xnames = args.flatMap((a) => a.split(',')).map((s) => s.trim()).filter(Boolean);
        if (xnames.length === 0) throw new CliError('no xnames given');
        const r = await applyStaged(ctx.api, xnames);
        const failed = r.failed;
        const ignored = o.allowIgnored ? [] : r.ignored;
        if (o.format === 'json') ctx.io.out.write(json(r));
        if (failed.length === 0 && ignored.length === 0) return 0;
        if (o.quiet) return 1;
        if (failed.length) {
          const first = await recordedError(ctx.api, failed[0]!);
          ctx.io.err.write(`bos: applystaged failed for ${ids(failed)}${first ? `: ${first.replace(/\s+/g, ' ')}` : ''}\n`);
        }
        if (ignored.length) {
          ctx.io.err.write(`bos: applystaged: nothing staged for ${ids(ignored)} (unknown to BOS, outside the tenant, or no staged session)\n`);
        }
        return 1;
      }),
    );
}
