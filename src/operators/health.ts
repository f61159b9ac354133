/**
 * Liveness and readiness of an operators process, and the small HTTP server that exposes them with
 * the metrics: `/metrics` (Prometheus text), `/healthz` (the process is alive and every loop is
 * ticking), `/readyz` (BOS answers).
 */
import http from 'node:http';
import type { AddressInfo } from 'node:net';
import type { Registry } from 'prom-client';
import type { Services } from '../clients/types.js';
import { errorText } from './errors.js';
import type { RunnerHealth } from './runner.js';

/** A beat every `intervalMs` of real time while the event loop runs; its age tells a blocked loop. */
export class Heartbeat {
  private last = Date.now();
  private readonly timer: NodeJS.Timeout;
  constructor(intervalMs = 5_000) {
    this.timer = setInterval(() => (this.last = Date.now()), intervalMs);
    this.timer.unref();
  }
  ageMs(now = Date.now()): number {
    return now - this.last;
  }
  stop(): void {
    clearInterval(this.timer);
  }
}

export interface LivenessOptions {
  /** Seconds the heartbeat may be old (LIVENESS_DELTA_MAX; default 20). */
  livenessDeltaMaxSeconds?: number;
  /** Seconds one pass may take before the loop counts as stuck (default 1800). */
  stuckPassSeconds?: number;
}

export interface Liveness {
  ok: boolean;
  /** Why not (empty when ok). */
  problems: string[];
  heartbeatAgeSeconds: number;
  operators: readonly RunnerHealth[];
}

/**
 * Alive when the heartbeat is fresh and every operator loop runs: not ended, not stuck in one pass,
 * and (unless standing by for leadership) not overdue for its next pass.
 */
export function liveness(runners: readonly RunnerHealth[], heartbeatAgeMs: number, nowMs: number, opts: LivenessOptions = {}): Liveness {
  const delta = (opts.livenessDeltaMaxSeconds ?? 20) * 1000;
  const stuck = (opts.stuckPassSeconds ?? 1800) * 1000;
  const problems: string[] = [];
  if (heartbeatAgeMs > delta) problems.push(`heartbeat is ${Math.round(heartbeatAgeMs / 1000)}s old (limit ${delta / 1000}s): the event loop is blocked`);
  for (const r of runners) {
    if (!r.running) problems.push(`operator ${r.operator} is not running`);
    else if (r.inPass && nowMs - r.lastPassStartedAt > stuck) {
      problems.push(`operator ${r.operator} has been in one pass for ${Math.round((nowMs - r.lastPassStartedAt) / 1000)}s`);
    } else if (!r.inPass && !r.standby && r.passes > 0 && nowMs - r.lastPassEndedAt > r.intervalMs + Math.max(delta, 30_000)) {
      problems.push(`operator ${r.operator} is overdue: last pass ended ${Math.round((nowMs - r.lastPassEndedAt) / 1000)}s ago`);
    }
  }
  return { ok: problems.length === 0, problems, heartbeatAgeSeconds: heartbeatAgeMs / 1000, operators: runners };
}

/** Ready when BOS answers an options read within `timeoutMs`. */
export async function readiness(services: Pick<Services, 'bos'>, timeoutMs = 5_000): Promise<{ ok: boolean; problem?: string }> {
  let timer: NodeJS.Timeout | undefined;
  try {
    await Promise.race([
      services.bos.getOptions(),
      new Promise((_, reject) => {
        timer = setTimeout(() => reject(new Error(`BOS did not answer within ${timeoutMs} ms`)), timeoutMs);
      }),
    ]);
    return { ok: true };
  } catch (err) {
    return { ok: false, problem: `BOS is not reachable: ${errorText(err)}` };
  } finally {
    clearTimeout(timer);
  }
}

export interface HealthServerOptions {
  registry: Registry;
  live: () => Liveness;
  ready: () => Promise<{ ok: boolean; problem?: string }>;
  port: number;
  host?: string;
}

export interface HealthServer {
  url: string;
  port: number;
  close(): Promise<void>;
}

/** Serve /metrics, /healthz and /readyz. Port 0 picks a free port. */
export async function startHealthServer(opts: HealthServerOptions): Promise<HealthServer> {
  const server = http.createServer((req, res) => {
    const path = (req.url ?? '/').split('?')[0];
    const send = (status: number, type: string, body: string) => {
      res.writeHead(status, { 'content-type': type, 'cache-control': 'no-store' });
      res.end(body);
    };
    const json = (status: number, body: unknown) => send(status, 'application/json', JSON.stringify(body) + '\n');
    if (req.method !== 'GET' && req.method !== 'HEAD') return json(405, { error: 'only GET is served here' });
    if (path === '/metrics') {
      opts.registry.metrics().then(
        (text) => send(200, opts.registry.contentType, text),
        (err: unknown) => json(500, { error: `could not render metrics: ${errorText(err)}` }),
      );
      return;
    }
    if (path === '/healthz') {
      const l = opts.live();
      return json(l.ok ? 200 : 503, l);
    }
    if (path === '/readyz') {
      opts.ready().then(
        (r) => json(r.ok ? 200 : 503, r),
        (err: unknown) => json(503, { ok: false, problem: errorText(err) }),
      );
      return;
    }
    json(404, { error: `no such path ${path}; try /metrics, /healthz or /readyz` });
  });
  await new Promise<void>((resolve, reject) => {
    server.once('error', reject);
    server.listen(opts.port, opts.host ?? '0.0.0.0', () => {
      server.off('error', reject);
      resolve();
    });
  });
  const port = (server.address() as AddressInfo).port;
  const host = opts.host && opts.host !== '0.0.0.0' ? opts.host : '127.0.0.1';
  return {
    url: `http://${host.includes(':') ? `[${host}]` : host}:${port}`,
    port,
    close: () =>
      new Promise<void>((resolve) => {
        server.closeAllConnections();
        server.close(() => resolve());
      }),
  };
}
