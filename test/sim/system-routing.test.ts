/**
 * `bos up`'s one port shared by the BOS API and the simulator, with in-cluster Host names, proxy-style
 * request targets and the per-service ports; and the `--service-ports` flag of `bos sim`/`bos up`.
 */
import { afterEach, describe, expect, it } from 'vitest';
import { Command } from 'commander';
import { pino } from 'pino';
import { startSystem, type RunningSystem } from '../../src/system.js';
import { INSTANT_KNOBS } from '../../src/sim/index.js';
import { addSimulatorOptions, register as registerSim } from '../../src/cli/sim.js';
import { register as registerUp } from '../../src/cli/up.js';
import { call, raw } from './helpers.js';

let sys: RunningSystem | undefined;
afterEach(async () => {
  await sys?.close();
  sys = undefined;
});

describe('bos up: one port for the BOS API and the simulated services', () => {
  it('sends in-cluster service names to the simulator, cray-bos and gateway paths to BOS, as before', async () => {
    sys = await startSystem({ nodes: 8, knobs: INSTANT_KNOBS, operators: [], servicePorts: 0, logger: pino({ level: 'silent' }) });
    const u = sys.url;
    // as today
    expect((await call(`${u}/apis/bos/v2/options`)).status).toBe(200);
    expect((await call(`${u}/v2/options`)).status).toBe(200);
    expect((await call(`${u}/apis/smd/hsm/v2/State/Components`)).status).toBe(200);
    expect((await call(`${u}/metrics`)).status).toBe(200);
    // BOS by its in-cluster name (upstream operators call http://cray-bos/v2)
    const opts = await raw<Record<string, unknown>>(u, '/v2/options', { host: 'cray-bos' });
    expect(opts.status).toBe(200);
    expect(opts.json).toHaveProperty('polling_frequency');
    // the services by theirs, even on paths BOS would otherwise answer
    const hsm = await raw<{ Components: unknown[] }>(u, '/hsm/v2//State/Components/', { host: 'cray-smd' });
    expect(hsm.json.Components).toHaveLength(sys.room.size);
    for (const [host, path] of [
      ['cray-bss', '/'],
      ['cray-cfs-api', '/v2/options'],
    ] as const) {
      const r = await raw<{ status: number }>(u, path, { host });
      expect(r.status).toBe(404);
      expect(String(r.headers['content-type'])).toMatch(/^application\/problem\+json/);
    }
    expect((await raw(u, '/v3/configurations', { host: 'cray-cfs-api' })).json).toEqual({ configurations: [], next: null });
    // gateway paths win on any Host
    expect((await raw(u, '/apis/bos/v2/options', { host: 'cray-cfs-api' })).status).toBe(200);
    // proxy-style request targets (HTTP_PROXY pointing at bos up)
    expect((await raw(u, 'http://cray-bos/v2/options')).status).toBe(200);
    const put = await raw(u, 'http://cray-bss/boot/v1/bootparameters', {
      method: 'PUT',
      body: JSON.stringify({ hosts: ['x1000c0s0b0n0'], params: 'p', kernel: 'k', initrd: 'i' }),
    });
    expect(put.status).toBe(200);
    expect(put.headers['bss-referral-token']).toBeTruthy();

    // the per-service ports
    const l = sys.servicePorts!;
    expect((await call<{ Components: unknown[] }>(`${l.urls.hsm}/State/Components`)).body.Components).toHaveLength(sys.room.size);
    expect((await call(`${l.urls.pcs}/power-status`, 'POST', { xname: ['x1000c0s0b0n0'] })).status).toBe(200);
    await sys.close();
    sys = undefined;
    await expect(call(`${l.urls.hsm}/State/Components`)).rejects.toThrow();
  });
});

describe('--service-ports', () => {
  it('takes a base port whose block fits, on bos sim and bos up alike', () => {
    const parse = (...args: string[]) => addSimulatorOptions(new Command().exitOverride().configureOutput({ writeErr: () => {} })).parse(args, { from: 'user' }).opts();
    expect(parse('--service-ports', '27001').servicePorts).toBe(27001);
    expect(parse('--service-ports', '0').servicePorts).toBe(0);
    expect(parse().servicePorts).toBeUndefined();
    expect(() => parse('--service-ports', '65530')).toThrow(/do not fit/);
    expect(() => parse('--service-ports', 'many')).toThrow(/not a port/);

    const program = new Command();
    registerSim(program);
    registerUp(program);
    for (const name of ['sim', 'up']) {
      const cmd = program.commands.find((c) => c.name() === name)!;
      expect(cmd.options.map((o) => o.long), name).toContain('--service-ports');
    }
  });
});

describe('bos up --no-operators', () => {
  it('runs the API and the simulator with no operators of its own, for upstream\'s to drive', async () => {
    const { up } = await import('../../src/cli/up.js');
    const write = process.stdout.write;
    let printed = '';
    process.stdout.write = ((chunk: string) => ((printed += chunk), true)) as typeof process.stdout.write;
    try {
      sys = await up({ nodes: 4, port: 0, host: '127.0.0.1', seed: 1, instant: true, logLevel: 'silent', operators: false });
    } finally {
      process.stdout.write = write;
    }
    expect(sys.operators).toBeUndefined();
    expect(printed).toMatch(/BOS is up with 4 simulated nodes .*, no operators:/);
    expect((await call(`${sys.url}/apis/bos/v2/options`)).status).toBe(200);
    const cmd = new Command();
    registerUp(cmd);
    expect(cmd.commands.find((c) => c.name() === 'up')!.options.map((o) => o.long)).toContain('--no-operators');
  });
});

