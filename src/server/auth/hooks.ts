/**
 * Token checks and the audit log on the API (docs/security.md): with a verifier, every request but
 * the open ones needs a valid bearer token (401 otherwise), and the token must allow the request
 * (403 otherwise, naming what is missing); every write and every refused request is logged once with
 * who asked. Without a verifier nothing is checked (the gateway's job, as upstream).
 */
import type { FastifyInstance, FastifyReply, FastifyRequest } from 'fastify';
import { TENANT_HEADER } from '../../common/constants.js';
import { sendProblem, tenantOf } from '../context.js';
import { Problem } from '../problem.js';
import { decide, isOpen, type Principal } from './access.js';
import { routeTemplate } from '../route-template.js';
import { KeysUnavailable, TokenRefused, type TokenVerifier } from './verifier.js';

const principals = new WeakMap<FastifyRequest, Principal>();
const READS = new Set(['GET', 'HEAD', 'OPTIONS']);

function unauthorized(reply: FastifyReply, detail: string, invalid: boolean): FastifyReply {
  const challenge = invalid ? `Bearer realm="bos", error="invalid_token", error_description="${detail.replace(/["\\]/g, "'")}"` : 'Bearer realm="bos"';
  return sendProblem(reply, new Problem(401, 'Unauthorized', detail, { 'WWW-Authenticate': challenge }));
}

export function installAuth(app: FastifyInstance, verifier: TokenVerifier): void {
  // Audit lines are written whatever the logging_level option says.
  const audit = app.log.child({ audit: true });
  try {
    audit.level = 'info';
  } catch {
    // a disabled logger has no levels
  }
  // Who is asking: before the body is read, so a request without a valid token costs nothing more.
  app.addHook('onRequest', async (req, reply) => {
    const route = routeTemplate(req);
    if (route === undefined || !route.startsWith('/v2') || isOpen(req.method, route)) return;
    const header = req.headers.authorization;
    const m = typeof header === 'string' ? /^Bearer\s+(\S+)\s*$/i.exec(header) : null;
    if (!m) return unauthorized(reply, 'this request needs a bearer token: send Authorization: Bearer <token>', false);
    try {
      principals.set(req, await verifier.verify(m[1]!));
    } catch (err) {
      if (err instanceof TokenRefused) return unauthorized(reply, `the bearer token was refused: ${err.message}`, true);
      if (err instanceof KeysUnavailable) return sendProblem(reply, new Problem(503, 'Service Unavailable', `tokens cannot be checked now: ${err.message}`));
      throw err;
    }
  });
  // Whether the token allows it: after the body is read (a node's report is checked to change only its state).
  app.addHook('preHandler', async (req, reply) => {
    const principal = principals.get(req);
    const route = routeTemplate(req);
    if (!principal || route === undefined) return;
    let tenant = '';
    try {
      tenant = tenantOf(req);
    } catch {
      return; // the handler answers the bad header
    }
    const d = decide(principal, { method: req.method, route, params: req.params as Record<string, string>, tenant, body: req.body }, verifier.roles);
    if (!d.allow) return sendProblem(reply, new Problem(403, 'Forbidden', `${d.reason} (token subject ${principal.subject})`));
  });
  // The audit log: every write and every refused request, once, with who asked and what about; never the token.
  app.addHook('onResponse', async (req, reply) => {
    const status = reply.statusCode;
    if (READS.has(req.method) && status !== 401 && status !== 403) return;
    if (routeTemplate(req) === undefined && status !== 401 && status !== 403) return;
    const params = (req.params ?? {}) as Record<string, string>;
    const body = (req.body && typeof req.body === 'object' ? req.body : {}) as Record<string, unknown>;
    const principal = principals.get(req);
    const header = req.headers[TENANT_HEADER.toLowerCase()];
    audit.info(
      {
        reqId: req.id,
        subject: principal?.subject ?? null,
        tenant: (Array.isArray(header) ? header[0] : header) || null,
        method: req.method,
        path: req.url.split('?')[0],
        status,
        ...(params.session_id ? { session: params.session_id } : {}),
        ...(params.session_template_id ? { template: params.session_template_id } : typeof body.template_name === 'string' ? { template: body.template_name } : {}),
      },
      'audit',
    );
  });
}
