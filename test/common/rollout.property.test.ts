/**
 * The rules of rolling sessions (docs/rollouts.md, "The rules"), as properties: one step over any
 * counts, and whole rollouts simulated step by step with nodes that finish or fail at random.
 */
import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import { isRolling, isRolloutStop, nodeRolloutState, rolloutEta, rolloutStep, type RolloutCounts } from '../../src/common/rollout.js';
import type { RolloutSettings } from '../../src/common/types.js';

const arbSettings: fc.Arbitrary<RolloutSettings> = fc.record(
  {
    max_in_flight: fc.integer({ min: 1, max: 40 }),
    max_failed: fc.integer({ min: 0, max: 10 }),
    canary: fc.integer({ min: 0, max: 12 }),
    failures_forgiven: fc.integer({ min: 0, max: 10 }),
  },
  { requiredKeys: [] },
);

const arbCounts: fc.Arbitrary<RolloutCounts> = fc.record({
  waiting: fc.integer({ min: 0, max: 200 }),
  in_flight: fc.integer({ min: 0, max: 60 }),
  done: fc.integer({ min: 0, max: 200 }),
  failed: fc.integer({ min: 0, max: 30 }),
});

describe('rolloutStep', () => {
  it('starts no more than wait, keeps in flight within max_in_flight, and starts nothing once stopped', () => {
    fc.assert(
      fc.property(arbSettings, arbCounts, (s, c) => {
        const step = rolloutStep(s, c);
        expect(step.start).toBeGreaterThanOrEqual(0);
        expect(step.start).toBeLessThanOrEqual(c.waiting);
        if (s.max_in_flight !== undefined && step.start > 0) expect(c.in_flight + step.start).toBeLessThanOrEqual(s.max_in_flight);
        if (step.stopped !== null) expect(step.start).toBe(0);
      }),
      { numRuns: 3000 },
    );
  });

  it('while fewer than canary nodes are done: at most canary nodes in flight or done, and any unforgiven failure stops', () => {
    fc.assert(
      fc.property(arbSettings, arbCounts, (s, c) => {
        const canary = s.canary ?? 0;
        fc.pre(canary > 0 && c.done < canary);
        const step = rolloutStep(s, c);
        const failed = c.failed - (s.failures_forgiven ?? 0);
        if (failed > 0) expect(step.stopped).toMatch(/^canary failed: /);
        else {
          expect(step.stopped).toBeNull();
          if (step.start > 0) expect(c.in_flight + c.done + step.start).toBeLessThanOrEqual(canary);
        }
      }),
      { numRuns: 3000 },
    );
  });

  it('after the canary: stops exactly when unforgiven failures exceed max_failed', () => {
    fc.assert(
      fc.property(arbSettings, arbCounts, (s, c) => {
        fc.pre(c.done >= (s.canary ?? 0));
        const failed = Math.max(0, c.failed - (s.failures_forgiven ?? 0));
        const over = s.max_failed !== undefined && failed > s.max_failed;
        const step = rolloutStep(s, c);
        expect(step.stopped !== null).toBe(over);
        if (over) expect(step.stopped).toMatch(/^failure budget exceeded: /);
        expect(isRolloutStop(step.stopped)).toBe(over);
      }),
      { numRuns: 3000 },
    );
  });

  it('without limits starts every waiting node at once', () => {
    fc.assert(
      fc.property(arbCounts, (c) => {
        expect(rolloutStep({}, c)).toEqual({ start: c.waiting, stopped: null });
      }),
    );
  });
});

/** A whole rollout, step by step: each pass some in-flight nodes finish (done or failed, as `fails` says). */
function simulate(settings: RolloutSettings, nodes: number, fails: ReadonlySet<number>, finishPerPass: number[]) {
  const order = Array.from({ length: nodes }, (_, i) => i);
  let next = 0;
  const inFlight: number[] = [];
  const done: number[] = [];
  const failed: number[] = [];
  let maxInFlight = 0;
  let stoppedWith: string | null = null;
  const startedAfterStop: number[] = [];
  for (let pass = 0; pass < finishPerPass.length + nodes + 5; pass++) {
    const counts = { waiting: nodes - next, in_flight: inFlight.length, done: done.length, failed: failed.length };
    const step = rolloutStep(settings, counts);
    if (stoppedWith && step.start > 0) startedAfterStop.push(pass);
    stoppedWith = step.stopped;
    for (let i = 0; i < step.start; i++) inFlight.push(order[next++]!);
    maxInFlight = Math.max(maxInFlight, inFlight.length);
    // Some nodes in flight finish before the next pass (at least one when nothing else can move).
    const k = Math.min(inFlight.length, Math.max(finishPerPass[pass] ?? 1, step.start === 0 ? 1 : 0));
    for (const n of inFlight.splice(0, k)) (fails.has(n) ? failed : done).push(n);
  }
  return { started: next, done, failed, maxInFlight, stoppedWith, startedAfterStop, inFlight };
}

describe('a whole rollout (simulated)', () => {
  const arbRun = fc.record({
    nodes: fc.integer({ min: 1, max: 120 }),
    maxInFlight: fc.integer({ min: 1, max: 30 }),
    maxFailed: fc.option(fc.integer({ min: 0, max: 5 }), { nil: undefined }),
    canary: fc.integer({ min: 0, max: 8 }),
    failEvery: fc.option(fc.integer({ min: 2, max: 15 }), { nil: undefined }),
    finish: fc.array(fc.integer({ min: 0, max: 12 }), { maxLength: 60 }),
  });

  it('never exceeds max_in_flight; without failures every node is started and done', () => {
    fc.assert(
      fc.property(arbRun, (r) => {
        const out = simulate({ max_in_flight: r.maxInFlight, max_failed: r.maxFailed, canary: r.canary }, r.nodes, new Set(), r.finish);
        expect(out.maxInFlight).toBeLessThanOrEqual(r.maxInFlight);
        expect(out.started).toBe(r.nodes);
        expect(out.done).toHaveLength(r.nodes);
        expect(out.stoppedWith).toBeNull();
      }),
      { numRuns: 500 },
    );
  });

  it('with failures: a rollout that stops starts nothing more; a canary failure leaves every node after the canary unstarted', () => {
    fc.assert(
      fc.property(arbRun, (r) => {
        fc.pre(r.failEvery !== undefined);
        const fails = new Set(Array.from({ length: r.nodes }, (_, i) => i).filter((i) => i % r.failEvery! === r.failEvery! - 1));
        const out = simulate({ max_in_flight: r.maxInFlight, max_failed: r.maxFailed, canary: r.canary }, r.nodes, fails, r.finish);
        expect(out.maxInFlight).toBeLessThanOrEqual(r.maxInFlight);
        expect(out.startedAfterStop).toEqual([]);
        const canaryFails = [...fails].some((n) => n < r.canary);
        if (r.canary > 0 && canaryFails && r.nodes > r.canary) {
          expect(out.stoppedWith).toMatch(/^canary failed/);
          expect(out.started).toBeLessThanOrEqual(r.canary);
        }
        if (out.stoppedWith?.startsWith('failure budget')) expect(out.failed.length).toBeGreaterThan(r.maxFailed!);
        if (out.stoppedWith === null) expect(out.started).toBe(r.nodes);
      }),
      { numRuns: 500 },
    );
  });

  it('a resume that forgives the failures so far lets a stopped rollout go on', () => {
    const fails = new Set([0, 1, 2]);
    const stopped = rolloutStep({ max_in_flight: 2, max_failed: 1 }, { waiting: 10, in_flight: 0, done: 0, failed: 3 });
    expect(stopped.stopped).toMatch(/failure budget exceeded: 3 node\(s\) failed, max_failed is 1; 10 node\(s\) not started/);
    const resumed = rolloutStep({ max_in_flight: 2, max_failed: 1, failures_forgiven: fails.size }, { waiting: 10, in_flight: 0, done: 0, failed: 3 });
    expect(resumed).toEqual({ start: 2, stopped: null });
  });
});

describe('node states and the rest', () => {
  it('failed, or on hold and disabled, is failed; enabled is in flight (on hold too: just started); else done', () => {
    expect(nodeRolloutState({ enabled: true, status: { status_override: 'failed' } as never })).toBe('failed');
    expect(nodeRolloutState({ enabled: false, status: { status_override: 'on_hold' } as never })).toBe('failed');
    expect(nodeRolloutState({ enabled: true, status: { status_override: 'on_hold' } as never })).toBe('in_flight');
    expect(nodeRolloutState({ enabled: true, status: { phase: 'powering_on' } as never })).toBe('in_flight');
    expect(nodeRolloutState({ enabled: false })).toBe('done');
  });

  it('a session rolls out when any limit is set and it is not staged', () => {
    expect(isRolling({})).toBe(false);
    expect(isRolling({ canary: 0 })).toBe(false);
    expect(isRolling({ max_failed: 0 })).toBe(true);
    expect(isRolling({ max_in_flight: 5 })).toBe(true);
    expect(isRolling({ canary: 2 })).toBe(true);
    expect(isRolling({ max_in_flight: 5, stage: true })).toBe(false);
  });

  it('the ETA is the nodes left at the pace so far', () => {
    expect(rolloutEta({ waiting: 50, in_flight: 10, done: 30, failed: 0 }, 60)).toBe(120);
    expect(rolloutEta({ waiting: 50, in_flight: 10, done: 0, failed: 0 }, 60)).toBeNull();
  });
});
