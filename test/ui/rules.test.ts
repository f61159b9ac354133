/**
 * The web view's rules besides the layout: a node's colour class, the error groups, and a session's
 * order, progress, pace and ETA from its extended status.
 */
import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import { computeStatus } from '../../src/common/status.js';
import type { ExtendedStatus } from '../../src/common/types.js';
import { countClasses, NODE_CLASSES, nodeClass } from '../../src/ui/classes.js';
import { errorGroups } from '../../src/ui/errors.js';
import { formatSeconds } from '../../src/common/duration.js';
import { sessionProgress, sortSessions, timespanSeconds } from '../../src/ui/sessions.js';

describe('nodeClass', () => {
  const node = (enabled: boolean, phase: string, override = '', session = 's1') => ({ enabled, session, status: { phase, status_override: override } });

  it('gives each state an administrator looks for its class', () => {
    expect(nodeClass(node(true, 'powering_on'))).toBe('powering_on');
    expect(nodeClass(node(true, 'powering_off'))).toBe('powering_off');
    expect(nodeClass(node(true, 'configuring'))).toBe('configuring');
    expect(nodeClass(node(true, ''))).toBe('stable');
    expect(nodeClass(node(false, ''))).toBe('stable'); // done: disabled by the status operator, its session named
    expect(nodeClass(node(false, '', 'failed'))).toBe('failed');
    expect(nodeClass(node(true, 'powering_on', 'on_hold'))).toBe('on_hold');
    expect(nodeClass(node(true, '', 'maintenance'))).toBe('on_hold'); // an administrator's override holds it too
    expect(nodeClass(node(false, '', '', ''))).toBe('disabled'); // never in a session (just discovered)
    expect(nodeClass(node(false, 'powering_on'))).toBe('disabled'); // disabled before it was done
    expect(nodeClass({})).toBe('disabled');
  });

  it('agrees with the status rule on failed and on the phases (property)', () => {
    const rec = fc.record({
      enabled: fc.option(fc.boolean(), { nil: undefined }),
      session: fc.constantFrom('', 's1', undefined),
      status: fc.option(fc.record({ phase: fc.constantFrom('', 'powering_on', 'powering_off', 'configuring', 'odd'), status_override: fc.constantFrom('', 'on_hold', 'failed', 'x') }), { nil: undefined }),
      last_action: fc.option(fc.record({ action: fc.constantFrom('powering_on', 'session_setup'), failed: fc.boolean() }), { nil: undefined }),
    });
    fc.assert(
      fc.property(rec, (c) => {
        const k = nodeClass(c);
        expect(NODE_CLASSES).toContain(k);
        expect(k === 'failed').toBe(computeStatus(c) === 'failed');
        if (c.enabled === true && !c.status?.status_override && ['powering_on', 'powering_off', 'configuring'].includes(c.status?.phase ?? '')) {
          expect(k).toBe(c.status!.phase);
        }
      }),
    );
  });

  it('counts nodes per class, every class present', () => {
    expect(countClasses(new Uint8Array([0, 3, 3, 4]))).toEqual({ powering_off: 1, powering_on: 0, configuring: 0, stable: 2, failed: 1, on_hold: 0, disabled: 0 });
  });
});

describe('errorGroups', () => {
  it('groups errors by their exact text, most nodes first, with the first ids', () => {
    const comps = [
      { id: 'a', error: 'cfs: configuration demo-config failed' },
      { id: 'b', error: '' },
      { id: 'c', error: 'pcs: power on refused' },
      { id: 'd', error: 'cfs: configuration demo-config failed' },
      { id: 'e' },
    ];
    expect(errorGroups(comps)).toEqual([
      { text: 'cfs: configuration demo-config failed', count: 2, ids: ['a', 'd'] },
      { text: 'pcs: power on refused', count: 1, ids: ['c'] },
    ]);
    expect(errorGroups(comps, 1, 1)).toEqual([{ text: 'cfs: configuration demo-config failed', count: 2, ids: ['a'] }]);
  });
});

describe('sessions', () => {
  const ext = (over: Partial<ExtendedStatus>): ExtendedStatus => ({
    managed_components_count: 100,
    phases: { percent_complete: 0, percent_powering_on: 0, percent_powering_off: 0, percent_configuring: 0 },
    percent_staged: 0,
    percent_successful: 0,
    percent_failed: 0,
    error_summary: {},
    timing: { start_time: '2026-11-23T10:00:00', end_time: null, duration: '0:01:40' },
    status: 'running',
    ...over,
  });

  it('lists running sessions first, newest first, then pending, then complete by end', () => {
    const s = (name: string, status: string, start?: string, end?: string) => ({ name, status: { status, start_time: start, end_time: end } });
    const sorted = sortSessions([
      s('old-done', 'complete', '2026-01-01T00:00:00', '2026-01-01T01:00:00'),
      s('new-done', 'complete', '2026-01-02T00:00:00', '2026-01-02T01:00:00'),
      s('waiting', 'pending'),
      s('run-1', 'running', '2026-01-03T00:00:00'),
      s('run-2', 'running', '2026-01-04T00:00:00'),
    ]);
    expect(sorted.map((x) => x.name)).toEqual(['run-2', 'run-1', 'waiting', 'new-done', 'old-done']);
  });

  it('reads time spans as the API writes them', () => {
    expect(timespanSeconds('0:01:40')).toBe(100);
    expect(timespanSeconds('1:02:03.500000')).toBe(3723.5);
    expect(timespanSeconds('2 days, 0:00:01')).toBe(172_801);
    expect(timespanSeconds('1 day, 1:00:00')).toBe(90_000);
    expect(timespanSeconds('soon')).toBeUndefined();
    expect(timespanSeconds(undefined)).toBeUndefined();
    expect(formatSeconds(3723.9)).toBe('1:02:03');
    expect(formatSeconds(-5)).toBe('0:00:00');
  });

  it('counts done, failed and in progress, the pace and the ETA at that pace', () => {
    // 100 nodes, 40 done and 10 failed in 100 s: 30 nodes/min, 50 more take another 100 s.
    const p = sessionProgress(ext({ percent_successful: 40, percent_failed: 10 }));
    expect(p).toEqual({ total: 100, done: 40, failed: 10, inProgress: 50, waiting: 0, elapsed: 100, perMinute: 30, eta: 100 });
    expect(sessionProgress(ext({})).eta).toBeUndefined(); // nothing finished yet: no pace
    expect(sessionProgress(ext({ percent_successful: 100, status: 'complete' })).eta).toBeUndefined();
    expect(sessionProgress(ext({ timing: { start_time: null, end_time: null, duration: '0:00:00' } })).elapsed).toBeUndefined();
  });

  it('takes a rolling session’s counts and ETA from its rollout, and none while it is stopped', () => {
    const rollout = { waiting: 30, in_flight: 10, done: 55, failed: 5, max_in_flight: 10, max_failed: 10, canary: 0, failures_forgiven: 0, stopped: null, eta_seconds: 67 };
    const p = sessionProgress(ext({ rollout }));
    expect(p).toMatchObject({ done: 55, failed: 5, inProgress: 10, waiting: 30, eta: 67 });
    expect(sessionProgress(ext({ rollout: { ...rollout, stopped: 'failure budget exceeded', eta_seconds: 67 } })).eta).toBeUndefined();
  });
});
