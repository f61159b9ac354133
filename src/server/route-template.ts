import type { FastifyRequest } from 'fastify';

/**
 * The route template of a request below the URL prefix it was mounted under
 * (`/v2/components/:component_id`), or undefined when no route matched. Used where a request is
 * named without its raw path: access rules and metrics labels.
 */
export function routeTemplate(req: FastifyRequest): string | undefined {
  const url = req.routeOptions.url;
  if (!url) return undefined;
  const prefix = (req.routeOptions.config as { routePrefix?: string } | undefined)?.routePrefix ?? '';
  const route = url.startsWith(prefix) ? url.slice(prefix.length) : url;
  return route === '' ? '/' : route;
}
