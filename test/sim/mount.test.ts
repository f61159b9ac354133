import { afterEach, describe, expect, it } from 'vitest';
import Fastify, { type FastifyInstance } from 'fastify';
import { FakeClock } from '../../src/common/clock.js';
import { MachineRoom, buildSimApp, INSTANT_KNOBS } from '../../src/sim/index.js';
import { call } from './helpers.js';

let app: FastifyInstance | undefined;
let room: MachineRoom | undefined;
afterEach(async () => {
  await room?.close();
  await app?.close();
  app = room = undefined;
});

describe('buildSimApp on an existing fastify instance', () => {
  it('serves the simulator beside the host routes, and nodes report to the host on the same port', async () => {
    const clock = new FakeClock();
    app = Fastify({ logger: false });
    const patches: { id: string; token?: string }[] = [];
    app.patch('/apis/bos/v2/components/:id', async (req) => {
      const body = req.body as { id: string; actual_state?: { bss_token?: string } };
      patches.push({ id: body.id, token: body.actual_state?.bss_token });
      return body;
    });
    app.get('/apis/bos/v2/healthz', async () => ({ ok: true }));
    room = new MachineRoom({ nodes: 4, clock, knobs: INSTANT_KNOBS });
    buildSimApp(room, app);
    await app.listen({ port: 0, host: '127.0.0.1' });
    const addr = app.server.address();
    const url = `http://127.0.0.1:${typeof addr === 'object' && addr ? addr.port : 0}`;
    room.bosUrl = `${url}/apis/bos/v2`;
    room.start();

    expect((await call(`${url}/apis/bos/v2/healthz`)).body).toEqual({ ok: true });
    const put = await call(`${url}/apis/bss/boot/v1/bootparameters`, 'PUT', { hosts: ['x1000c0s0b0n0'], params: 'p', kernel: 'k', initrd: 'i' });
    const token = put.headers.get('bss-referral-token');
    await call(`${url}/apis/power-control/v1/transitions`, 'POST', { location: [{ xname: 'x1000c0s0b0n0' }], operation: 'On' });
    await room.settle();
    expect(patches).toEqual([{ id: 'x1000c0s0b0n0', token }]);
  });

  it('nodes already running start reporting within a minute once the BOS URL becomes known', async () => {
    const clock = new FakeClock();
    app = Fastify({ logger: false });
    const seen = new Set<string>();
    app.patch('/apis/bos/v2/components/:id', async (req) => {
      seen.add((req.params as { id: string }).id);
      return {};
    });
    room = new MachineRoom({ nodes: 6, clock, knobs: { initialPower: 'on' } });
    buildSimApp(room, app);
    await app.listen({ port: 0, host: '127.0.0.1' });
    room.start();
    clock.advance(3600_000);
    await room.settle();
    expect(seen.size).toBe(0); // no URL yet: nobody to report to
    const addr = app.server.address();
    room.bosUrl = `http://127.0.0.1:${typeof addr === 'object' && addr ? addr.port : 0}/apis/bos/v2/`;
    clock.advance(60_000);
    await room.settle();
    expect([...seen].sort()).toEqual(room.nodes().map((n) => n.id).sort());
  });
});
