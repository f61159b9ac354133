/**
 * rollout: every running rolling session starts its waiting nodes (staged for it by session setup) a
 * few at a time, within its `max_in_flight`, `canary` and `max_failed` (docs/rollouts.md). Starting a
 * node is what session setup does for a session that does not roll: its staged state becomes its
 * desired state under the session, so each step is visible in the component records.
 */
import { parseTimestamp } from '../common/clock.js';
import { isRolling, isRolloutStop, nodeRolloutState, rolloutStep, type RolloutCounts } from '../common/rollout.js';
import type { Component, Session } from '../common/types.js';
import { errorText } from './errors.js';
import { patchComponents } from './runner.js';
import { rolloutStartPatch, unstaged } from './session-plan.js';
import type { PassContext, PassOperator } from './types.js';

/**
 * A waiting node another session took over after this one started (a newer session set it up): it
 * stays with that session and leaves this rollout.
 */
function takenOver(c: Component, session: Session): boolean {
  if (!c.session || c.session === session.name || c.last_action?.action !== 'session_setup') return false;
  return parseTimestamp(c.last_action.last_updated ?? undefined) > parseTimestamp(session.status?.start_time ?? undefined);
}

/** One rollout step of one session; the number of nodes started. */
async function advance(ctx: PassContext, session: Session): Promise<number> {
  const bos = ctx.services.bos;
  const name = session.name;
  // Waiting first: a node started between the two reads is then counted in flight, never missed.
  const staged = await bos.listComponents({ staged_session: name }, ctx.batchSize);
  const managed = await bos.listComponents({ session: name }, ctx.batchSize);
  const counts: RolloutCounts = { waiting: 0, in_flight: 0, done: 0, failed: 0 };
  for (const c of managed) counts[nodeRolloutState(c)]++;
  const managedIds = new Set(managed.map((c) => c.id));
  const waiting: Component[] = [];
  const left: Component[] = [];
  for (const c of staged) {
    if (managedIds.has(c.id)) continue; // started meanwhile
    if (takenOver(c, session)) left.push(c);
    else waiting.push(c);
  }
  counts.waiting = waiting.length;
  if (left.length > 0) {
    ctx.log.info({ session: name, count: left.length, ids: left.slice(0, 20).map((c) => c.id) }, `${left.length} waiting node(s) of ${name} were taken over by newer sessions; left to them`);
    await patchComponents(ctx.services, left.map((c) => ({ id: c.id, staged_state: unstaged() })), { chunkSize: ctx.batchSize, records: false });
  }
  const step = rolloutStep(session, counts);
  const start = waiting.slice(0, step.start);
  if (start.length > 0) {
    await patchComponents(ctx.services, start.map((c) => rolloutStartPatch(c.id, session, c.staged_state ?? {})), { chunkSize: ctx.batchSize, records: false });
    ctx.log.info(
      { session: name, started: start.length, ...counts },
      `rollout ${name}: started ${start.length} node(s) (waiting ${counts.waiting}, in flight ${counts.in_flight}, done ${counts.done}, failed ${counts.failed})`,
    );
  }
  const stopped = counts.waiting > 0 ? step.stopped : null;
  const error = session.status?.error ?? null;
  if (stopped && error !== stopped) {
    ctx.log.warn({ session: name, ...counts }, `rollout ${name} stopped: ${stopped}`);
    await bos.patchSession(name, session.tenant || null, { status: { error: stopped } });
  } else if (!stopped && isRolloutStop(error)) {
    await bos.patchSession(name, session.tenant || null, { status: { error: null } });
  }
  const after = { ...counts, waiting: counts.waiting - start.length, in_flight: counts.in_flight + start.length };
  for (const [state, n] of Object.entries(after)) ctx.metrics.rolloutNodes.set({ session: name, state }, n);
  return start.length;
}

export const rollout: PassOperator = {
  kind: 'pass',
  name: 'rollout',
  async pass(ctx) {
    const rolling = (await ctx.services.bos.listSessions({ status: 'running' })).filter((s) => isRolling(s));
    ctx.metrics.rolloutNodes.reset();
    let started = 0;
    const failures: string[] = [];
    for (const session of rolling) {
      try {
        started += await advance(ctx, session);
      } catch (err) {
        const text = errorText(err);
        failures.push(`${session.name}: ${text}`);
        ctx.log.error({ session: session.name, err: text }, `could not advance rollout ${session.name}: ${text}`);
      }
    }
    if (failures.length > 0) throw new Error(`could not advance ${failures.length} rollout(s): ${failures.join('; ')}`);
    return { selected: rolling.length, acted: started };
  },
};
