import Fastify, { type FastifyReply } from 'fastify';

/** One request as the fake saw it. */
interface Seen {
  method: string;
  /** Path without the query string. */
  path: string;
  query: Record<string, string>;
  headers: Record<string, string | string[] | undefined>;
  body: unknown;
  rawBody: string;
}

export interface Answer {
  status?: number;
  body?: unknown;
  /** Sent as is (no JSON encoding). */
  raw?: string;
  headers?: Record<string, string>;
  /** Wait this long before answering (tests of read timeouts). */
  delayMs?: number;
}

export type Handler = (req: Seen, n: number) => Answer | Promise<Answer>;

export interface Fake {
  url: string;
  seen: Seen[];
  close(): Promise<void>;
}

/** A loopback HTTP server that records every request and answers with `handler`. */
export async function startFake(handler: Handler): Promise<Fake> {
  const app = Fastify({ logger: false });
  const seen: Seen[] = [];
  const timers = new Map<NodeJS.Timeout, () => void>();
  app.removeAllContentTypeParsers();
  app.addContentTypeParser('*', { parseAs: 'string' }, (_req, body, done) => done(null, body));
  app.route({
    method: ['GET', 'POST', 'PUT', 'PATCH', 'DELETE', 'HEAD'],
    url: '/*',
    handler: async (req, reply: FastifyReply) => {
      const [path, qs = ''] = req.url.split('?', 2) as [string, string?];
      const rawBody = typeof req.body === 'string' ? req.body : '';
      let body: unknown = undefined;
      if (rawBody) {
        try {
          body = JSON.parse(rawBody);
        } catch {
          body = rawBody;
        }
      }
      const s: Seen = {
        method: req.method,
        path: decodeURI(path),
        query: Object.fromEntries(new URLSearchParams(qs)),
        headers: req.headers,
        body,
        rawBody,
      };
      seen.push(s);
      const a = await handler(s, seen.length);
      if (a.delayMs) {
        await new Promise<void>((resolve) => {
          const t = setTimeout(() => {
            timers.delete(t);
            resolve();
          }, a.delayMs);
          timers.set(t, resolve);
        });
      }
      reply.code(a.status ?? 200);
      for (const [k, v] of Object.entries(a.headers ?? {})) reply.header(k, v);
      if (a.raw !== undefined) {
        if (!a.headers?.['content-type']) reply.header('content-type', 'text/plain');
        return reply.send(a.raw);
      }
      if (a.body === undefined) return reply.send();
      reply.header('content-type', 'application/json');
      return reply.send(JSON.stringify(a.body));
    },
  });
  await app.listen({ host: '127.0.0.1', port: 0 });
  const addr = app.server.address();
  const port = typeof addr === 'object' && addr ? addr.port : 0;
  return {
    url: `http://127.0.0.1:${port}`,
    seen,
    async close() {
      for (const [t, resolve] of timers) {
        clearTimeout(t);
        resolve();
      }
      timers.clear();
      app.server.closeAllConnections();
      await app.close();
    },
  };
}

/** A port nothing listens on (bound, then released). */
export async function deadPort(): Promise<number> {
  const app = Fastify();
  await app.listen({ host: '127.0.0.1', port: 0 });
  const addr = app.server.address();
  const port = typeof addr === 'object' && addr ? addr.port : 0;
  await app.close();
  return port;
}

/** Tiny backoffs so retry tests take milliseconds. */
export const FAST_RETRY = { retries: 3, backoffFactorMs: 1, maxBackoffMs: 5 };
