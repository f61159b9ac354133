/** Version, health and options endpoints (docs/api.md, "Version and health" and "Options"). */
import type { FastifyRequest } from 'fastify';
import { API_VERSION } from '../../common/constants.js';
import { checkOption, isOptionName, OPTION_DEFAULTS, OPTION_NAMES, optionRule } from '../../common/options.js';
import { jsonBody, sendJson, type ServerContext } from '../context.js';
import { badRequest } from '../problem.js';
import type { RouteTable } from './table.js';
import { messageOf } from '../../common/errors.js';

/** `http://host[:port]` plus the path prefix the API is served under (docs/api.md, "Version and health"). */
function baseUrl(req: FastifyRequest): string {
  const prefix = ((req.routeOptions.config as { routePrefix?: string } | undefined)?.routePrefix ?? '').replace(/\/+$/, '');
  const proxy = process.env.PROXY_PATH;
  const path = proxy && req.headers['x-forwarded-for'] ? proxy.replace(/\/+$/, '') : prefix;
  return `${req.protocol}://${req.host}${path}`;
}

function version(req: FastifyRequest) {
  const base = baseUrl(req);
  return {
    ...API_VERSION,
    links: [
      { href: `${base}/`, rel: 'self' },
      { href: `${base}/v2`, rel: 'versions' },
    ],
  };
}

/** The options GET shows (docs/api.md, "Options"): known names only, defaults filled in, bad TTL replaced. */
function visibleOptions(stored: Record<string, unknown>): Record<string, unknown> {
  const out: Record<string, unknown> = {};
  for (const name of OPTION_NAMES) out[name] = name in stored ? stored[name] : OPTION_DEFAULTS[name];
  const ttl = out.component_actual_state_ttl;
  const rule = optionRule('component_actual_state_ttl');
  if (typeof ttl !== 'string' || (rule.type === 'string' && rule.pattern?.test(ttl) !== true)) out.component_actual_state_ttl = OPTION_DEFAULTS.component_actual_state_ttl;
  return out;
}

export function baseRoutes(ctx: ServerContext, routes: RouteTable): void {
  routes.add('GET', '/', async (req, reply) => sendJson(reply, 200, [{ ...API_VERSION, links: [{ href: `${baseUrl(req)}/`, rel: 'self' }] }]));
  routes.add('GET', '/v2', async (req, reply) => sendJson(reply, 200, version(req)));
  routes.add('GET', '/v2/version', async (req, reply) => sendJson(reply, 200, version(req)));

  routes.add('GET', '/v2/healthz', async (_req, reply) => {
    let db = false;
    try {
      db = await ctx.store.ping();
    } catch {
      db = false;
    }
    return sendJson(reply, 200, { dbStatus: db ? 'ok' : 'not_available', apiStatus: 'ok' });
  });

  routes.add('GET', '/v2/options', async (_req, reply) => sendJson(reply, 200, visibleOptions(await ctx.storedOptions())));

  routes.add('PATCH', '/v2/options', async (req, reply) => {
    const body = jsonBody<Record<string, unknown>>(req, 'V2Options');
    for (const [k, v] of Object.entries(body)) {
      if (!isOptionName(k)) continue;
      let problem: string | undefined;
      try {
        problem = checkOption(k, v);
      } catch (err) {
        problem = `${k}: ${messageOf(err)}`;
      }
      if (problem) throw badRequest(problem);
    }
    await ctx.storedOptions(); // defaults written first, as for every request
    let updated: Record<string, unknown> = {};
    await ctx.store.updateOptions((cur) => (updated = { ...visibleOptions(cur ?? {}), ...body }));
    ctx.applyLogLevel(updated.logging_level);
    return sendJson(reply, 200, updated);
  });
}
