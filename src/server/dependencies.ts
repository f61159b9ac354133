/**
 * The services the API calls while answering (IMS, the tenant service, S3), watched from the start:
 * each is asked for any HTTP answer (2 s at most) at start and then every 30 s. One log line says when
 * one stops or starts answering, and `GET /readyz` lists them with what is affected while one does
 * not answer. The API stays ready while its store answers: a missing service only fails the requests
 * that need it, each within its deadline (docs/operations.md).
 */
import http from 'node:http';
import https from 'node:https';
import type { FastifyBaseLogger } from 'fastify';

export interface Dependency {
  /** `ims`, `tapms`, `s3`. */
  name: string;
  url: string;
  /** What does not work while it does not answer, for the log line and /readyz. */
  affects: string;
}

export interface DependencyState extends Dependency {
  state: 'answers' | 'no answer' | 'unknown';
  /** Since when (ISO time) it is in that state. */
  since?: string;
  /** Why it does not answer. */
  error?: string;
}

const PROBE_TIMEOUT_MS = 2_000;
const PROBE_INTERVAL_MS = 30_000;

/** Any HTTP answer from `url` within the timeout: undefined when it answered, else why not. */
function probe(url: string, timeoutMs = PROBE_TIMEOUT_MS): Promise<string | undefined> {
  return new Promise((resolve) => {
    let u: URL;
    try {
      u = new URL(url);
    } catch {
      resolve(`not a URL: ${url}`);
      return;
    }
    const mod = u.protocol === 'https:' ? https : http;
    const req = mod.request(u, { method: 'GET', timeout: timeoutMs, rejectUnauthorized: false, agent: false }, (res) => {
      res.resume();
      resolve(undefined);
      req.destroy();
    });
    req.on('timeout', () => req.destroy(new Error(`no answer within ${timeoutMs / 1000} s`)));
    req.on('error', (err: NodeJS.ErrnoException) => resolve(err.code && !err.message.includes(err.code) ? `${err.code} ${err.message}` : err.message));
    req.end();
  });
}

export class DependencyWatch {
  private readonly states: DependencyState[];
  private timer: NodeJS.Timeout | undefined;

  constructor(
    deps: readonly Dependency[],
    private readonly log: FastifyBaseLogger,
    private readonly intervalMs = PROBE_INTERVAL_MS,
  ) {
    this.states = deps.map((d) => ({ ...d, state: 'unknown' }));
  }

  /** Probe every dependency once (logging the ones that do not answer), then keep probing. */
  async start(): Promise<void> {
    await this.check();
    this.timer = setInterval(() => void this.check(), this.intervalMs);
    this.timer.unref();
  }

  stop(): void {
    if (this.timer) clearInterval(this.timer);
  }

  list(): DependencyState[] {
    return this.states.map((s) => ({ ...s }));
  }

  private async check(): Promise<void> {
    await Promise.all(
      this.states.map(async (s, i) => {
        const error = await probe(s.url);
        const state = error === undefined ? 'answers' : 'no answer';
        if (state === s.state) {
          if (error) this.states[i] = { ...s, error };
          return;
        }
        const since = new Date().toISOString();
        if (state === 'no answer') {
          this.log.warn({ service: s.name, url: s.url, err: error }, `${s.name} at ${s.url} does not answer (${error}): ${s.affects} until it does`);
        } else if (s.state !== 'unknown') {
          this.log.info({ service: s.name, url: s.url }, `${s.name} at ${s.url} answers again`);
        }
        this.states[i] = { ...s, state, since, ...(error ? { error } : { error: undefined }) };
      }),
    );
  }
}
