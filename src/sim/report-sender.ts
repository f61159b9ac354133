import { Agent } from 'undici';

/**
 * Sends the simulated nodes' state reports: one PATCH per report over keep-alive connections, one
 * request at a time on each, as many nodes reporting at once would. undici, not node:http: it
 * writes a request in one piece and parses answers with less machinery, so the simulator and the
 * API it reports to both spend less CPU per report (docs/simulator.md, "Nodes"). Each report is
 * dispatched with a handler that keeps only the status: no response object or body stream is made
 * for an answer nobody reads.
 */
export class ReportSender {
  private readonly agent = new Agent({ pipelining: 1 });
  private closed = false;

  /**
   * PATCH `body` to `url`; resolves with the answer's status once it has been read, rejects on a
   * network error, on `idleTimeoutMs` without progress, or when the sender is closed.
   */
  patch(url: string, headers: Record<string, string>, body: string, idleTimeoutMs: number): Promise<number> {
    if (this.closed) return Promise.reject(new Error('report sender closed'));
    const u = new URL(url);
    return new Promise((resolve, reject) => {
      let status = 0;
      this.agent.dispatch(
        { origin: u.origin, path: u.pathname + u.search, method: 'PATCH', headers, body, headersTimeout: idleTimeoutMs, bodyTimeout: idleTimeoutMs },
        {
          onConnect: () => undefined,
          onHeaders: (statusCode) => {
            status = statusCode;
            return true;
          },
          onData: () => true,
          onComplete: () => resolve(status),
          onError: reject,
        },
      );
    });
  }

  /** Abort every report in flight and close the connections. */
  close(): void {
    this.closed = true;
    this.agent.destroy(new Error('report sender closed')).catch(() => undefined);
  }
}
