import { createServer, type Server } from 'node:http';
import type { AddressInfo } from 'node:net';
import { afterEach, describe, expect, it } from 'vitest';
import { ReportSender } from '../../src/sim/report-sender.js';

const cleanups: (() => void | Promise<void>)[] = [];
afterEach(async () => {
  while (cleanups.length) await cleanups.pop()!();
});

/** A loopback server answering each request with `answer`, recording what it got. */
async function serve(answer: (path: string, body: string) => { status: number; body?: string } | null): Promise<{ url: string; seen: { method: string; path: string; headers: Record<string, unknown>; body: string }[] }> {
  const seen: { method: string; path: string; headers: Record<string, unknown>; body: string }[] = [];
  const server: Server = createServer((req, res) => {
    let body = '';
    req.on('data', (c) => (body += c));
    req.on('end', () => {
      seen.push({ method: req.method!, path: req.url!, headers: req.headers, body });
      const a = answer(req.url!, body);
      if (a === null) return; // never answered
      res.writeHead(a.status, { 'content-type': 'application/json' });
      res.end(a.body ?? '');
    });
  });
  await new Promise<void>((r) => server.listen(0, '127.0.0.1', r));
  cleanups.push(() => new Promise<void>((r) => { server.closeAllConnections(); server.close(() => r()); }));
  return { url: `http://127.0.0.1:${(server.address() as AddressInfo).port}`, seen };
}

describe('ReportSender', () => {
  it('PATCHes the report and resolves with the status, whatever the answer carries', async () => {
    const s = await serve((path) => (path.endsWith('/x1') ? { status: 204 } : { status: 409, body: JSON.stringify({ detail: 'conflict' }) }));
    const sender = new ReportSender();
    cleanups.push(() => sender.close());
    const body = JSON.stringify({ actual_state: { bss_token: 't' } });
    expect(await sender.patch(`${s.url}/v2/components/x1`, { 'content-type': 'application/json', prefer: 'return=minimal' }, body, 5000)).toBe(204);
    expect(await sender.patch(`${s.url}/v2/components/x2?q=1`, { 'content-type': 'application/json' }, body, 5000)).toBe(409);
    expect(s.seen.map((r) => [r.method, r.path, r.body])).toEqual([
      ['PATCH', '/v2/components/x1', body],
      ['PATCH', '/v2/components/x2?q=1', body],
    ]);
    expect(s.seen[0]!.headers.prefer).toBe('return=minimal');
  });

  it('rejects when no answer comes within the idle timeout, when nothing listens, and once closed', async () => {
    const s = await serve(() => null);
    const sender = new ReportSender();
    await expect(sender.patch(`${s.url}/v2/components/x1`, {}, '{}', 200)).rejects.toThrow();
    await expect(sender.patch('http://127.0.0.1:1/v2/components/x1', {}, '{}', 2000)).rejects.toThrow();
    const pending = sender.patch(`${s.url}/v2/components/x2`, {}, '{}', 10_000);
    await new Promise((r) => setTimeout(r, 50));
    sender.close();
    await expect(pending).rejects.toThrow();
    await expect(sender.patch(`${s.url}/v2/components/x3`, {}, '{}', 1000)).rejects.toThrow(/closed/);
  });
});
