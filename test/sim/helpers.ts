import Fastify, { type FastifyInstance } from 'fastify';

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
