import { createServer, type Server, type Socket } from 'node:net';
import { freePort } from './net.js';

/** A service that is down or silent, on loopback, for the bounded-wait tests. */
export interface DeadEnd {
  /** `http://127.0.0.1:<port>` */
  url: string;
  port: number;
  close(): Promise<void>;
}

/** Nothing listens on the port: every connection is refused. */
export async function refusedService(): Promise<DeadEnd> {
  const port = await freePort();
  return { url: `http://127.0.0.1:${port}`, port, close: async () => undefined };
}

/** A server that accepts connections and reads requests but never answers. */
export async function silentService(): Promise<DeadEnd> {
  const sockets = new Set<Socket>();
  const server: Server = createServer((s) => {
    sockets.add(s);
    s.on('data', () => undefined);
    s.on('error', () => undefined);
    s.once('close', () => sockets.delete(s));
  });
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', () => resolve()));
  const addr = server.address();
  const port = typeof addr === 'object' && addr ? addr.port : 0;
  return {
    url: `http://127.0.0.1:${port}`,
    port,
    async close() {
      for (const s of sockets) s.destroy();
      await new Promise<void>((resolve) => server.close(() => resolve()));
    },
  };
}
