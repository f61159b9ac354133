/** Session endpoints (docs/api.md, "Sessions"). */
import { DurationError } from '../../common/duration.js';
import type { Component, Session } from '../../common/types.js';
import { checkParam, jsonBody, pathParam, queryParam, sendJson, tenantOf, type ServerContext } from '../context.js';
import { alreadyExists, badRequest, recordNotFound } from '../problem.js';
import { extendedStatus, limitError, mergeSession, newSession, sessionFilter, type SessionCreateBody } from '../rules/sessions.js';
import { validateBootSets } from '../rules/validate-bootsets.js';
import type { FastifyRequest } from 'fastify';
import type { RouteTable } from './table.js';

export function sessionRoutes(ctx: ServerContext, routes: RouteTable): void {
  const { store } = ctx;

  /** Sessions selected by the list/delete query of this request. */
  async function selected(req: FastifyRequest): Promise<Session[]> {
    const status = queryParam(req, 'status');
    const min_age = queryParam(req, 'min_age');
    const max_age = queryParam(req, 'max_age');
    checkParam('min_age', min_age, 'AgeString');
    checkParam('max_age', max_age, 'AgeString');
    checkParam('status', status, 'V2SessionStatusLabel');
    const tenant = tenantOf(req);
    await ctx.options();
    let filter: ((s: Session) => boolean) | undefined;
    try {
      filter = sessionFilter({ tenant, status, min_age, max_age }, ctx.clock.now());
    } catch (err) {
      if (err instanceof DurationError) throw badRequest(`Error parsing age field: ${err.message}`);
      throw err;
    }
    const all = await store.sessions.list();
    return filter ? all.filter(filter) : all;
  }

  async function load(req: FastifyRequest): Promise<{ id: string; tenant: string; session: Session }> {
    const id = pathParam(req, 'session_id', 'V2SessionName');
    const tenant = tenantOf(req);
    await ctx.options();
    const session = await store.sessions.get(tenant, id);
    if (!session) throw recordNotFound('Session', id, tenant);
    return { id, tenant, session };
  }

  async function extendedStatusOf(id: string, tenant: string, session: Session) {
    const tenantSet = await ctx.tenantSetLenient(tenant);
    const related = await store.components.list({
      filter: (c) => (c.session === id || c.staged_state?.session === id) && (!tenantSet || tenantSet.has(c.id)),
    });
    const managed: Component[] = [];
    let staged = 0;
    for (const c of related) {
      if (c.session === id) managed.push(c);
      if (c.staged_state?.session === id) staged++;
    }
    return extendedStatus(session, managed, staged, ctx.clock.now());
  }

  routes.add('POST', '/v2/sessions', async (req, reply) => {
    const body = jsonBody<SessionCreateBody>(req, 'V2SessionCreate');
    const tenant = tenantOf(req);
    await ctx.tenantSet(tenant, 'The provided tenant does not exist');
    const options = await ctx.options();
    const limitErr = limitError(body.limit, options, (msg) => ctx.log.warn(msg));
    if (limitErr) throw badRequest(limitErr);
    const template = await store.templates.get(tenant, body.template_name);
    if (!template) throw badRequest(`Session Template Name invalid: ${body.template_name}`);
    const validation = await validateBootSets(template, body.operation, { s3: ctx.s3, ims: ctx.ims, options });
    if (validation.error) throw badRequest(`Session template fails check: ${validation.error}`);
    for (const w of validation.warnings) ctx.log.warn(`Session template ${body.template_name}: ${w}`);
    const session = newSession(body, tenant, ctx.clock.now());
    // Created only where no session of that name exists, checked atomically (two replicas may be asked at once).
    await store.sessions.update(tenant, session.name, (existing) => {
      if (existing) throw alreadyExists(`Session '${session.name}' already exists${tenant ? ` for tenant '${tenant}'` : ''}`);
      return session;
    });
    return sendJson(reply, 201, session);
  });

  routes.add('GET', '/v2/sessions', async (req, reply) => sendJson(reply, 200, await selected(req)));

  routes.add('DELETE', '/v2/sessions', async (req, reply) => {
    for (const s of await selected(req)) {
      await store.sessions.delete(s.tenant ?? '', s.name);
      await store.sessionStatus.delete(s.tenant ?? '', s.name);
    }
    return reply.code(204).send();
  });

  routes.add('GET', '/v2/sessions/:session_id', async (req, reply) => sendJson(reply, 200, (await load(req)).session));

  routes.add('PATCH', '/v2/sessions/:session_id', async (req, reply) => {
    pathParam(req, 'session_id', 'V2SessionName');
    const body = jsonBody<{ components?: string; status?: Record<string, unknown> }>(req, 'V2SessionUpdate');
    const { id, tenant } = await load(req);
    const updated = await store.sessions.update(tenant, id, (current) => {
      if (!current) throw recordNotFound('Session', id, tenant);
      return mergeSession(current, body);
    });
    return sendJson(reply, 200, updated);
  });

  routes.add('DELETE', '/v2/sessions/:session_id', async (req, reply) => {
    const id = pathParam(req, 'session_id', 'V2SessionName');
    const tenant = tenantOf(req);
    await ctx.options();
    if (!(await store.sessions.delete(tenant, id))) throw recordNotFound('Session', id, tenant);
    await store.sessionStatus.delete(tenant, id);
    return reply.code(204).send();
  });

  routes.add('GET', '/v2/sessions/:session_id/status', async (req, reply) => {
    const { id, tenant, session } = await load(req);
    if (session.status?.status === 'complete') {
      const saved = await store.sessionStatus.get(tenant, id);
      if (saved) return sendJson(reply, 200, saved);
    }
    return sendJson(reply, 200, await extendedStatusOf(id, tenant, session));
  });

  routes.add('POST', '/v2/sessions/:session_id/status', async (req, reply) => {
    const { id, tenant, session } = await load(req);
    const status = await extendedStatusOf(id, tenant, session);
    await store.sessionStatus.put(tenant, id, status);
    return sendJson(reply, 200, status);
  });
}
