/**
 * `bos sessions create --dry-run`: the session preview (docs/rollouts.md, "Previewing a session") as a
 * short report: per boot set the nodes, those left out grouped by reason, and the state given.
 */
import type { DesiredState, Session, StagedState } from '../../common/types.js';

export interface SessionPreview {
  session: Session;
  error: string | null;
  boot_sets: Record<string, { nodes: string[]; excluded: { id: string; reason: string }[]; warnings: string[]; state?: DesiredState | StagedState }>;
  nodes: string[];
  not_in_bos: string[];
}

const REASONS: Record<string, string> = {
  not_in_limit: 'not in the limit',
  locked: 'locked in HSM',
  other_tenant: 'not the tenant’s',
  not_in_hsm: 'unknown to HSM',
  wrong_arch: 'another architecture',
  disabled_in_hsm: 'disabled in HSM (--include-disabled takes them)',
};

/** A list of ids, the first `max` of them and how many more. */
function ids(list: readonly string[], max = 6): string {
  return list.slice(0, max).join(',') + (list.length > max ? ` … (${list.length - max} more)` : '');
}

export function previewReport(p: SessionPreview): string {
  const s = p.session;
  const lines = [`Preview of a ${s.operation} session of template ${s.template_name}${s.limit ? `, limit ${s.limit}` : ''} (nothing was created)`];
  if (s.max_in_flight !== undefined || s.max_failed !== undefined || s.canary) {
    const parts = [s.max_in_flight !== undefined ? `at most ${s.max_in_flight} in flight` : '', s.max_failed !== undefined ? `stop after more than ${s.max_failed} failed` : '', s.canary ? `canary ${s.canary}` : ''];
    lines.push(`Rolls out: ${parts.filter(Boolean).join(', ')}; every node waits, staged for the session, until its turn`);
  }
  for (const [name, bs] of Object.entries(p.boot_sets)) {
    lines.push('', `boot set ${name}: ${bs.nodes.length} node(s)${bs.nodes.length ? `: ${ids(bs.nodes)}` : ''}`);
    const byReason = new Map<string, string[]>();
    for (const e of bs.excluded) byReason.set(e.reason, [...(byReason.get(e.reason) ?? []), e.id]);
    for (const [reason, list] of byReason) lines.push(`  left out, ${REASONS[reason] ?? reason}: ${list.length}: ${ids(list)}`);
    for (const w of bs.warnings) lines.push(`  warning: ${w}`);
    const st = bs.state;
    if (st) {
      const ba = st.boot_artifacts;
      lines.push(`  kernel             ${ba?.kernel || '(none)'}`, `  initrd             ${ba?.initrd || '(none)'}`);
      lines.push(`  kernel parameters  ${ba?.kernel_parameters || '(none)'}`, `  configuration      ${st.configuration || '(none)'}`);
    }
  }
  if (p.not_in_bos.length) lines.push('', `not BOS components (left out): ${p.not_in_bos.length}: ${ids(p.not_in_bos)}`);
  lines.push('', p.error ? `The session would not start: ${p.error}` : `The session would act on ${p.nodes.length - p.not_in_bos.length} node(s).`);
  return lines.join('\n') + '\n';
}
