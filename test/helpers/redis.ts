import { spawn, spawnSync, type ChildProcess } from 'node:child_process';
import { mkdtempSync, rmSync } from 'node:fs';
import { createConnection } from 'node:net';
import { connect as tlsConnect } from 'node:tls';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { freePort } from './net.js';

/**
 * A real, throw-away redis-server for tests: 127.0.0.1 on a free port, data in a temp dir, no RDB
 * snapshots. `stop()` shuts it down and removes the dir; `kill()` kills it hard (the dir stays, so
 * `restart()` can bring it back with whatever it had persisted); `restart()` shuts down gracefully
 * (if running) and starts again on the same port and dir.
 */
export interface TestRedis {
  /** `redis://127.0.0.1:<port>`, or `rediss://localhost:<port>` with `tls`. */
  url: string;
  port: number;
  dir: string;
  /** With `tls`: the PEM file of the self-signed CA/certificate the server presents. */
  caFile?: string;
  /** Process id of the running redis-server (undefined while it is stopped). */
  readonly pid: number | undefined;
  stop(): Promise<void>;
  kill(): Promise<void>;
  restart(): Promise<void>;
}

const running = new Set<ChildProcess>();
let exitHookInstalled = false;

function installExitHook(): void {
  if (exitHookInstalled) return;
  exitHookInstalled = true;
  process.on('exit', () => {
    for (const p of running) p.kill('SIGKILL');
  });
}

function redisServerAvailable(): boolean {
  const r = spawnSync('redis-server', ['--version'], { stdio: 'ignore' });
  return !r.error && r.status === 0;
}

/** True when something on the port answers a Redis PING (PONG, or NOAUTH when a password is set). */
function answers(port: number, tls: boolean): Promise<boolean> {
  return new Promise((resolve) => {
    const sock = tls ? tlsConnect({ host: '127.0.0.1', port, rejectUnauthorized: false }) : createConnection({ host: '127.0.0.1', port });
    let buf = '';
    const done = (ok: boolean) => {
      sock.destroy();
      resolve(ok);
    };
    sock.setTimeout(500, () => done(false));
    sock.on('error', () => done(false));
    sock.on(tls ? 'secureConnect' : 'connect', () => sock.write('PING\r\n'));
    sock.on('data', (d) => {
      buf += d.toString();
      if (buf.includes('\r\n')) done(buf.startsWith('+PONG') || buf.startsWith('-NOAUTH'));
    });
  });
}

function waitExit(p: ChildProcess): Promise<void> {
  if (p.exitCode !== null || p.signalCode !== null) return Promise.resolve();
  return new Promise((resolve) => p.once('exit', () => resolve()));
}

export async function startRedis(opts: { appendonly?: boolean; password?: string; tls?: boolean } = {}): Promise<TestRedis> {
  if (!redisServerAvailable()) {
    throw new Error('redis-server is not on PATH: the Redis store tests need it. Run `bash scripts/setup.sh` (installs it), then run the tests again.');
  }
  installExitHook();
  const port = await freePort();
  const dir = mkdtempSync(join(tmpdir(), 'bos-redis-'));
  let caFile: string | undefined;
  if (opts.tls) {
    caFile = join(dir, 'cert.pem');
    const r = spawnSync(
      'openssl',
      ['req', '-x509', '-newkey', 'rsa:2048', '-nodes', '-keyout', join(dir, 'key.pem'), '-out', caFile, '-days', '1', '-subj', '/CN=localhost',
        '-addext', 'subjectAltName=DNS:localhost,IP:127.0.0.1'],
      { stdio: ['ignore', 'ignore', 'pipe'] },
    );
    if (r.error || r.status !== 0) {
      rmSync(dir, { recursive: true, force: true });
      throw new Error(`cannot make a test TLS certificate with openssl (is it installed?): ${r.error?.message ?? r.stderr.toString().trim()}`);
    }
  }
  let proc: ChildProcess | undefined;
  let removed = false;

  const launch = async () => {
    const listen = opts.tls
      ? ['--port', '0', '--tls-port', String(port), '--tls-cert-file', caFile!, '--tls-key-file', join(dir, 'key.pem'), '--tls-auth-clients', 'no']
      : ['--port', String(port)];
    const args = [
      ...listen,
      '--bind', '127.0.0.1',
      '--save', '',
      '--appendonly', opts.appendonly ? 'yes' : 'no',
      '--dir', dir,
      '--daemonize', 'no',
      '--loglevel', 'warning',
      '--logfile', '',
    ];
    if (opts.password) args.push('--requirepass', opts.password);
    let output = '';
    const p = spawn('redis-server', args, { stdio: ['ignore', 'pipe', 'pipe'] });
    p.stdout!.on('data', (d) => (output += d.toString()));
    p.stderr!.on('data', (d) => (output += d.toString()));
    running.add(p);
    p.once('exit', () => running.delete(p));
    proc = p;
    const deadline = Date.now() + 10_000;
    for (;;) {
      if (p.exitCode !== null || p.signalCode !== null) {
        throw new Error(`redis-server on port ${port} exited at start-up: ${output.trim().slice(-500)}`);
      }
      if (await answers(port, !!opts.tls)) return;
      if (Date.now() > deadline) {
        p.kill('SIGKILL');
        throw new Error(`redis-server on port ${port} did not answer within 10 s: ${output.trim().slice(-500)}`);
      }
      await new Promise((r) => setTimeout(r, 20));
    }
  };

  const halt = async (signal: NodeJS.Signals) => {
    const p = proc;
    proc = undefined;
    if (!p || p.exitCode !== null || p.signalCode !== null) return;
    const exited = waitExit(p);
    p.kill(signal);
    await exited;
  };

  try {
    await launch();
  } catch (e) {
    rmSync(dir, { recursive: true, force: true });
    throw e;
  }

  return {
    url: opts.tls ? `rediss://localhost:${port}` : `redis://127.0.0.1:${port}`,
    port,
    dir,
    caFile,
    get pid() {
      return proc?.pid;
    },
    async stop() {
      await halt('SIGTERM');
      if (!removed) {
        removed = true;
        rmSync(dir, { recursive: true, force: true });
      }
    },
    async kill() {
      await halt('SIGKILL');
    },
    async restart() {
      if (removed) throw new Error('this redis-server was stopped and its data removed; start a new one');
      await halt('SIGTERM');
      await launch();
    },
  };
}
