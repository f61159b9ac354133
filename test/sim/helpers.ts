import Fastify, { type FastifyInstance } from 'fastify';
import { request as httpRequest } from 'node:http';

export async function call<T = unknown>(url: string, method = 'GET', body?: unknown): Promise<{ status: number; body: T; headers: Headers }> {
  const res = await fetch(url, {
    method,
    headers: body === undefined ? {} : { 'content-type': 'application/json' },
    body: body === undefined ? undefined : JSON.stringify(body),
  });
  const text = await res.text();
  let parsed: unknown = null;
  try {
    parsed = text ? JSON.parse(text) : null;
  } catch {
    parsed = text;
  }
  return { status: res.status, body: parsed as T, headers: res.headers };
}

export interface Report {
  xname: string;
  body: { id?: string; actual_state?: { bss_token?: string } };
}

/** A tiny stand-in for the BOS API that records component PATCHes; `answer` picks the status. */
export async function fakeBos(answer: (xname: string, n: number) => number = () => 200): Promise<{
  url: string;
  reports: Report[];
  /** The Prefer header of every PATCH received. */
  prefers: (string | undefined)[];
  close(): Promise<void>;
}> {
  const app: FastifyInstance = Fastify({ logger: false });
  const reports: Report[] = [];
  const prefers: (string | undefined)[] = [];
  let n = 0;
  app.patch('/apis/bos/v2/components/:xname', async (req, reply) => {
    const { xname } = req.params as { xname: string };
    const status = answer(xname, n++);
    prefers.push(req.headers.prefer as string | undefined);
    if (status >= 200 && status < 300) reports.push({ xname, body: req.body as Report['body'] });
    return reply.code(status).send(status === 409 ? { title: 'Conflict', detail: 'Actual state can not be updated.' } : { id: xname });
  });
  await app.listen({ port: 0, host: '127.0.0.1' });
  const addr = app.server.address();
  const port = typeof addr === 'object' && addr ? addr.port : 0;
  return { url: `http://127.0.0.1:${port}/apis/bos/v2`, reports, prefers, close: () => app.close() };
}

export interface RawResponse<T = unknown> {
  status: number;
  headers: Record<string, string | string[] | undefined>;
  text: string;
  /** The body parsed as JSON, or null when it is not JSON. */
  json: T;
}

/**
 * One request over loopback with exactly the given head: `host` sets the Host header (fetch cannot),
 * `target` the request target as sent (e.g. an absolute-form `http://cray-smd/hsm/v2/...`, as a
 * client sends it to a proxy), and a string `body` goes out without a Content-Type unless
 * `headers` gives one.
 */
export function raw<T = unknown>(
  base: string,
  target: string,
  opts: { method?: string; host?: string; headers?: Record<string, string>; body?: string } = {},
): Promise<RawResponse<T>> {
  const u = new URL(base);
  const headers: Record<string, string> = { ...(opts.headers ?? {}) };
  if (opts.host !== undefined) headers.host = opts.host;
  if (opts.body !== undefined) headers['content-length'] = String(Buffer.byteLength(opts.body));
  return new Promise((resolve, reject) => {
    const req = httpRequest({ host: u.hostname, port: Number(u.port), method: opts.method ?? 'GET', path: target, headers, agent: false }, (res) => {
      const chunks: Buffer[] = [];
      res.on('data', (c: Buffer) => chunks.push(c));
      res.on('end', () => {
        const text = Buffer.concat(chunks).toString('utf8');
        let json: unknown = null;
        try {
          json = text ? JSON.parse(text) : null;
        } catch {
          json = null;
        }
        resolve({ status: res.statusCode ?? 0, headers: res.headers, text, json: json as T });
      });
      res.on('error', reject);
    });
    req.on('error', reject);
    if (opts.body !== undefined) req.write(opts.body);
    req.end();
  });
}
