/** Assertions shared by the end-to-end scenarios. */
import { expect } from 'vitest';
import type { E2eSystem } from '../helpers/system.js';

/**
 * Every node is done with the session: disabled, stable, no error, booted in the room on exactly the
 * artifacts BOS wanted (and reports as actual), and configured by CFS with the wanted configuration.
 */
export async function expectBooted(e2e: E2eSystem, ids: string[], want: { session: string; configuration: string }): Promise<void> {
  const byId = new Map((await e2e.components()).map((c) => [c.id as string, c]));
  for (const id of ids) {
    const c = byId.get(id);
    expect(c, `component ${id}`).toBeDefined();
    const ctx = `${id}: ${JSON.stringify(c)}`;
    expect(c!.session, ctx).toBe(want.session);
    expect(c!.enabled, ctx).toBe(false);
    expect(c!.status.status, ctx).toBe('stable');
    expect(c!.status.phase, ctx).toBe('');
    expect(c!.error, ctx).toBe('');
    const desired = c!.desired_state.boot_artifacts;
    expect(desired.kernel, ctx).toMatch(/^s3:\/\/boot-images\/.+\/kernel$/);
    expect(desired.initrd, ctx).toMatch(/^s3:\/\/boot-images\/.+\/initrd$/);
    expect(desired.kernel_parameters, ctx).toContain('root=sbps-s3:');
    expect(c!.desired_state.configuration, ctx).toBe(want.configuration);
    const actual = c!.actual_state.boot_artifacts;
    expect({ kernel: actual.kernel, initrd: actual.initrd, kernel_parameters: actual.kernel_parameters }, ctx).toEqual({
      kernel: desired.kernel,
      initrd: desired.initrd,
      kernel_parameters: desired.kernel_parameters,
    });
    expect(c!.actual_state.bss_token, ctx).toBe(c!.desired_state.bss_token);

    // The machine room: powered, booted on the BSS entry BOS wrote, configured.
    const n = e2e.node(id);
    expect(n.power, id).toBe('on');
    expect(n.booted, id).toBe(true);
    expect(n.boot!.kernel, id).toBe(desired.kernel);
    expect(n.boot!.initrd, id).toBe(desired.initrd);
    expect(n.boot!.params, id).toBe(desired.kernel_parameters);
    expect(n.boot!.token, id).toBe(c!.desired_state.bss_token);
    expect(e2e.pcs(id).powerState, id).toBe('on');
    const cfs = e2e.cfs(id);
    expect(cfs.desired_config, id).toBe(want.configuration);
    expect(cfs.configuration_status, id).toBe('configured');
    expect(cfs.tags, id).toEqual({ bos_session: want.session });
  }
}

/** The session's extended status: every managed node successful, none failed, no error summary. */
export async function expectSessionClean(e2e: E2eSystem, name: string, count: number): Promise<void> {
  const st = await e2e.sessionStatus(name);
  expect(st.status).toBe('complete');
  expect(st.managed_components_count).toBe(count);
  expect(st.percent_successful).toBe(100);
  expect(st.percent_failed).toBe(0);
  expect(st.error_summary).toEqual({});
  expect(st.phases.percent_complete).toBe(100);
  expect(st.timing.end_time).toEqual(expect.any(String));
}
