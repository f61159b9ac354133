/**
 * The route table: every path of the API with its handlers, mounted under each URL prefix. Methods a
 * path does not serve answer 405 with an Allow header (fastify alone would answer 404).
 */
import type { FastifyInstance, FastifyReply, FastifyRequest, HTTPMethods } from 'fastify';
import { Problem } from '../problem.js';

export type Handler = (req: FastifyRequest, reply: FastifyReply) => Promise<unknown>;
type Method = 'GET' | 'PUT' | 'POST' | 'PATCH' | 'DELETE';

const ALL_METHODS: Method[] = ['GET', 'PUT', 'POST', 'PATCH', 'DELETE'];

export class RouteTable {
  private readonly paths = new Map<string, Map<Method, Handler>>();

  add(method: Method, path: string, handler: Handler): void {
    let m = this.paths.get(path);
    if (!m) this.paths.set(path, (m = new Map()));
    m.set(method, handler);
  }

  /** Register every route under each prefix ('' = at the root); `around` wraps every handler. */
  mount(app: FastifyInstance, prefixes: readonly string[], around: (h: Handler) => Handler = (h) => h): void {
    for (const rawPrefix of prefixes) {
      const prefix = rawPrefix.replace(/\/+$/, '');
      for (const [path, handlers] of this.paths) {
        const urls = path === '/' ? (prefix ? [prefix, `${prefix}/`] : ['/']) : [prefix + path];
        for (const url of urls) {
          for (const [method, handler] of handlers) {
            app.route({ method, url, handler: around(handler), config: { routePrefix: prefix } });
          }
          const allowed = [...handlers.keys()];
          const others: HTTPMethods[] = ALL_METHODS.filter((m) => !handlers.has(m));
          if (!handlers.has('GET')) others.push('HEAD');
          const allow = [...allowed, ...(handlers.has('GET') ? ['HEAD'] : []), 'OPTIONS'].join(', ');
          app.route({
            method: 'OPTIONS',
            url,
            handler: async (_req, reply) => reply.code(200).header('Allow', allow).send(),
          });
          app.route({
            method: others,
            url,
            handler: async () => {
              throw new Problem(405, 'Method Not Allowed', 'The method is not allowed for the requested URL.', { Allow: allow });
            },
          });
        }
      }
    }
  }
}
