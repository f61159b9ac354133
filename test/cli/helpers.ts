/**
 * Helpers of the administrator command tests: a real BOS API on loopback (memory store) and the
 * `bos` command spawned as administrators run it.
 */
import { spawn } from 'node:child_process';
import { fileURLToPath } from 'node:url';
import { startServer, type RunningServer } from '../../src/server/app.js';
import { MemoryStore } from '../../src/server/store/memory.js';

export const BOS_BIN = fileURLToPath(new URL('../../bin/bos.js', import.meta.url));

export interface Api {
  url: string;
  store: MemoryStore;
  server: RunningServer;
  close(): Promise<void>;
}

export async function startApi(prefixes?: string[]): Promise<Api> {
  const store = new MemoryStore();
  const server = await startServer({ store, port: 0, logger: false, prefixes });
  return { url: server.url, store, server, close: () => server.close() };
}

export interface Spawned {
  code: number | null;
  stdout: string;
  stderr: string;
}

/** Environment of a spawned command: no BOS_* settings inherited from the caller. */
export function cleanEnv(extra: Record<string, string> = {}): NodeJS.ProcessEnv {
  const env: NodeJS.ProcessEnv = {};
  for (const [k, v] of Object.entries(process.env)) if (!k.startsWith('BOS_') && k !== 'NODE_OPTIONS') env[k] = v;
  return { ...env, ...extra };
}

/**
 * Run `bos <args>`; killed after `timeoutMs`. `onStdout` sees the output as it comes (to drive the
 * API while a watch runs).
 */
export function runBos(
  args: string[],
  opts: { env?: Record<string, string>; timeoutMs?: number; onStdout?: (all: string) => void; stdin?: string } = {},
): Promise<Spawned> {
  return new Promise((resolve, reject) => {
    const child = spawn(process.execPath, [BOS_BIN, ...args], { env: cleanEnv(opts.env), stdio: ['pipe', 'pipe', 'pipe'] });
    let stdout = '';
    let stderr = '';
    const timer = setTimeout(() => child.kill('SIGKILL'), opts.timeoutMs ?? 60_000);
    child.stdout.setEncoding('utf8').on('data', (d: string) => {
      stdout += d;
      opts.onStdout?.(stdout);
    });
    child.stderr.setEncoding('utf8').on('data', (d: string) => (stderr += d));
    child.on('error', (err) => {
      clearTimeout(timer);
      reject(err);
    });
    child.on('close', (code) => {
      clearTimeout(timer);
      resolve({ code, stdout, stderr });
    });
    child.stdin.end(opts.stdin ?? '');
  });
}

/** Components c001..cNNN of one session, all stable and enabled. */
export function sessionComponents(n: number, session: string): { id: string; enabled: boolean; session: string }[] {
  return Array.from({ length: n }, (_, i) => ({ id: `x3000c0s${String(i + 1).padStart(3, '0')}b0n0`, enabled: true, session }));
}
