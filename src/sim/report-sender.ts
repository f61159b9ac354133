import http from 'node:http';
import https from 'node:https';

/**
 * Sends the simulated nodes' state reports: one PATCH per report over a pool of keep-alive
 * connections (node:http, cheaper per request than fetch when 10,000 nodes report at once).
 */
export class ReportSender {
  private readonly agents = { http: new http.Agent({ keepAlive: true }), https: new https.Agent({ keepAlive: true }) };
  private readonly open = new Set<http.ClientRequest>();
  private closed = false;

  /**
   * PATCH `body` to `url`; resolves with the answer's status once it has been read, rejects on a
   * network error, on `idleTimeoutMs` without progress, or when the sender is closed.
   */
  patch(url: string, headers: Record<string, string>, body: string, idleTimeoutMs: number): Promise<number> {
    return new Promise((resolve, reject) => {
      if (this.closed) return reject(new Error('report sender closed'));
      const u = new URL(url);
      const tls = u.protocol === 'https:';
      const req = (tls ? https : http).request(u, {
        method: 'PATCH',
        headers: { ...headers, 'content-length': String(Buffer.byteLength(body)) },
        agent: tls ? this.agents.https : this.agents.http,
        timeout: idleTimeoutMs,
      });
      this.open.add(req);
      req.on('response', (res) => {
        res.on('end', () => resolve(res.statusCode ?? 0));
        res.on('error', reject);
        res.resume();
      });
      req.on('timeout', () => req.destroy(new Error(`no answer from ${u.host} within ${idleTimeoutMs} ms`)));
      req.on('error', reject);
      req.on('close', () => {
        this.open.delete(req);
        reject(new Error('connection closed before the answer was read'));
      });
      req.end(body);
    });
  }

  /** Abort every report in flight and close the pooled connections. */
  close(): void {
    this.closed = true;
    for (const req of this.open) req.destroy(new Error('report sender closed'));
    this.agents.http.destroy();
    this.agents.https.destroy();
  }
}
