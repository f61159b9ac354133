import { spawn, type ChildProcess } from 'node:child_process';
import { fileURLToPath } from 'node:url';
import { freePort } from './net.js';

const BOS_BIN = fileURLToPath(new URL('../../bin/bos.js', import.meta.url));

/** A `bos serve` process of its own (an API replica), on a free loopback port. */
export interface ServeProcess {
  /** `http://127.0.0.1:<port>`: the API answers at `<url>/v2/...`. */
  url: string;
  /** What the process wrote to stderr and stdout (its log lines), for failure messages. */
  output(): string;
  /** SIGTERM, and wait for it to exit. */
  stop(): Promise<void>;
}

const running = new Set<ChildProcess>();
process.on('exit', () => {
  for (const p of running) p.kill('SIGKILL');
});

/** Start `bos serve --redis <redisUrl>` with `env` added; resolves once `/v2/healthz` answers with the database up. */
export async function startServeProcess(redisUrl: string, env: Record<string, string> = {}): Promise<ServeProcess> {
  const port = await freePort();
  const p = spawn(process.execPath, [BOS_BIN, 'serve', '--redis', redisUrl, '--port', String(port), '--host', '127.0.0.1'], {
    env: { ...process.env, BOS_LOG_LEVEL: 'warn', ...env },
    stdio: ['ignore', 'pipe', 'pipe'],
  });
  running.add(p);
  let out = '';
  p.stdout!.on('data', (d) => (out += String(d)));
  p.stderr!.on('data', (d) => (out += String(d)));
  const exited = new Promise<void>((resolve) => p.once('exit', () => (running.delete(p), resolve())));
  const url = `http://127.0.0.1:${port}`;
  const deadline = Date.now() + 30_000;
  for (;;) {
    if (p.exitCode !== null || p.signalCode !== null) throw new Error(`bos serve exited at start-up: ${out.slice(-2000)}`);
    try {
      const r = await fetch(`${url}/v2/healthz`);
      if (r.ok && ((await r.json()) as { dbStatus?: string }).dbStatus === 'ok') break;
    } catch {
      // not listening yet
    }
    if (Date.now() > deadline) {
      p.kill('SIGKILL');
      throw new Error(`bos serve did not answer on ${url} within 30 s: ${out.slice(-2000)}`);
    }
    await new Promise((r) => setTimeout(r, 100));
  }
  return {
    url,
    output: () => out,
    async stop() {
      if (p.exitCode === null && p.signalCode === null) p.kill('SIGTERM');
      await exited;
    },
  };
}
