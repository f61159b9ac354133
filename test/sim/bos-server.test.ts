/** The simulated state reporter against the project's own BOS API server over loopback. */
import { afterEach, describe, expect, it } from 'vitest';
import type { FastifyInstance } from 'fastify';
import { FakeClock } from '../../src/common/clock.js';
import { buildApp } from '../../src/server/app.js';
import { MemoryStore } from '../../src/server/store/memory.js';
import { INSTANT_KNOBS, startSimulator, type RunningSimulator } from '../../src/sim/index.js';
import { call } from './helpers.js';

let app: FastifyInstance | undefined;
let sim: RunningSimulator | undefined;
afterEach(async () => {
  await sim?.close();
  await app?.close();
  app = sim = undefined;
});

describe('reporter → BOS API', () => {
  it('records the booted token as actual_state.bss_token; an unknown component is retried until it exists', async () => {
    const clock = new FakeClock();
    app = await buildApp({ store: new MemoryStore(), logger: false, prefixes: ['', '/apis/bos'], clock });
    await app.listen({ port: 0, host: '127.0.0.1' });
    const addr = app.server.address();
    const bos = `http://127.0.0.1:${typeof addr === 'object' && addr ? addr.port : 0}/apis/bos/v2`;
    sim = await startSimulator({ nodes: 4, clock, knobs: INSTANT_KNOBS, bosUrl: bos });
    const known = 'x1000c0s0b0n0';
    const later = 'x1000c0s0b0n1';
    expect((await call(`${bos}/components/${known}`, 'PUT', { id: known, enabled: false })).status).toBe(200);

    const put = await call(`${sim.url}/apis/bss/boot/v1/bootparameters`, 'PUT', { hosts: [known, later], params: 'quiet', kernel: 'k', initrd: 'i' });
    const token = put.headers.get('bss-referral-token');
    await call(`${sim.url}/apis/power-control/v1/transitions`, 'POST', { location: [{ xname: known }, { xname: later }], operation: 'On' });
    await sim.room.settle();

    const got = await call<{ actual_state: { bss_token: string } }>(`${bos}/components/${known}`);
    expect(got.body.actual_state.bss_token).toBe(token);
    expect(sim.room.node(later)!.reports).toBe(0);
    expect(sim.room.node(later)!.reportFailures).toBe(1);

    // once BOS knows the component, the next retry (2 s later) lands
    expect((await call(`${bos}/components/${later}`, 'PUT', { id: later, enabled: false })).status).toBe(200);
    clock.advance(2_000);
    await sim.room.settle();
    const got2 = await call<{ actual_state: { bss_token: string } }>(`${bos}/components/${later}`);
    expect(got2.body.actual_state.bss_token).toBe(token);
  });
});
