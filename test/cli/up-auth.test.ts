/**
 * `bos up --auth`: the whole system with token verification on, its development issuer's
 * administrator token printed; the admin commands and the demo run with that token
 * (BOS_TOKEN), and are refused without it.
 */
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { RunningSystem } from '../../src/system.js';
import { runBos } from './helpers.js';

let sys: RunningSystem | undefined;
let printed = '';

beforeAll(async () => {
  const { up } = await import('../../src/cli/up.js');
  const write = process.stdout.write;
  process.stdout.write = ((chunk: string) => ((printed += chunk), true)) as typeof process.stdout.write;
  try {
    sys = await up({ nodes: 12, port: 0, host: '127.0.0.1', seed: 1, instant: true, logLevel: 'silent', auth: true });
  } finally {
    process.stdout.write = write;
  }
}, 60_000);
afterAll(async () => {
  await sys?.close();
});

describe('bos up --auth', () => {
  it('prints an administrator token; the commands work with it and are refused without it', async () => {
    const m = /export BOS_TOKEN=(\S+)/.exec(printed);
    expect(m, printed).not.toBeNull();
    const url = `${sys!.url}/apis/bos`;
    const refused = await runBos(['components', 'list', '--url', url]);
    expect(refused.code).toBe(1);
    expect(refused.stderr).toMatch(/bos: Unauthorized: this request needs a bearer token: send Authorization: Bearer <token>; check --token or --token-file \(BOS_TOKEN, BOS_TOKEN_FILE\) \(HTTP 401/);
    const listed = await runBos(['components', 'list', '--url', url, '--format', 'json'], { env: { BOS_TOKEN: m![1]! } });
    expect(listed.code, listed.stderr).toBe(0);
    expect(JSON.parse(listed.stdout).length).toBe(sys!.room.size);
    const flag = await runBos(['options', 'list', '--url', url, '--format', 'json', '--token', m![1]!]);
    expect(flag.code, flag.stderr).toBe(0);
  });

  it('the demo runs against it with the printed token: every compute node boots under verification', async () => {
    const token = /export BOS_TOKEN=(\S+)/.exec(printed)![1]!;
    const demo = await runBos(['demo', '--url', `${sys!.url}/apis/bos`, '--interval', '0.2'], { env: { BOS_TOKEN: token }, timeoutMs: 90_000 });
    expect(demo.code, demo.stderr + demo.stdout.slice(-2000)).toBe(0);
    expect(demo.stdout).toMatch(/Session demo-boot-\S+ complete in \S+: \d+ nodes, \d+ succeeded, 0 failed/);
    // The nodes reported with node tokens: none of their reports was refused.
    expect(sys!.room.nodes().every((n) => n.reportFailures === 0)).toBe(true);
  }, 120_000);
});
