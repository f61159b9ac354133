/** Session endpoints (docs/api.md, "Sessions"). */
import { DurationError } from '../../common/duration.js';
import { emptyStagedState } from '../../common/constants.js';
import { isRolling } from '../../common/rollout.js';
import type { Component, RolloutSettings, Session } from '../../common/types.js';
import { checkParam, jsonBody, pathParam, queryParam, sendJson, tenantOf, type ServerContext } from '../context.js';
import { alreadyExists, badRequest, recordNotFound, serviceUnavailable } from '../problem.js';
import { extendedStatus, limitError, mergeSession, newSession, rolloutError, sessionFilter, type SessionCreateBody } from '../rules/sessions.js';
import { validateBootSets } from '../rules/validate-bootsets.js';
import type { FastifyRequest } from 'fastify';
import { ServiceError } from '../../clients/types.js';
import type { Logger } from '../../log.js';
import { errorText } from '../../operators/errors.js';
import { planSession, type SessionPlan } from '../../operators/session-plan.js';
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

  async function extendedStatusOf(req: FastifyRequest, id: string, tenant: string, session: Session) {
    const tenantSet = await ctx.tenantSetLenient(req, tenant);
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

  /** The checks of session creation (docs/api.md, "Creating a session"): the session and its template, or a 400. */
  async function checkedSession(req: FastifyRequest) {
    const body = jsonBody<SessionCreateBody>(req, 'V2SessionCreate');
    const tenant = tenantOf(req);
    await ctx.tenantSet(req, tenant, 'The provided tenant does not exist');
    const options = await ctx.options();
    const limitErr = limitError(body.limit, options, (msg) => ctx.log.warn(msg));
    if (limitErr) throw badRequest(limitErr);
    const rollErr = rolloutError(body);
    if (rollErr) throw badRequest(rollErr);
    const template = await store.templates.get(tenant, body.template_name);
    if (!template) throw badRequest(`Session Template Name invalid: ${body.template_name}`);
    const { s3, ims } = ctx.calls(req);
    const validation = await validateBootSets(template, body.operation, { s3, ims, options });
    if (validation.error) throw badRequest(`Session template fails check: ${validation.error}`);
    for (const w of validation.warnings) ctx.log.warn(`Session template ${body.template_name}: ${w}`);
    return { tenant, options, template, session: newSession(body, tenant, ctx.clock.now()) };
  }

  /**
   * A deleted rolling session lets go of its waiting nodes: their staged states (staged for it) are
   * emptied, so nothing starts them later (docs/rollouts.md, "Resuming and deleting").
   */
  async function releaseWaiting(session: Session): Promise<void> {
    // A complete session has no waiting node (it completes only when none is left staged for it).
    if (!isRolling(session) || session.status?.status === 'complete') return;
    const name = session.name;
    const waiting = await store.components.list({ filter: (c) => c.staged_state?.session === name });
    if (waiting.length === 0) return;
    const now = ctx.now();
    await store.components.update(
      waiting.map((c) => c.id),
      (rec) => (rec?.staged_state?.session === name ? { ...rec, staged_state: { ...emptyStagedState(), session: '', last_updated: now } } : undefined),
    );
  }

  routes.add('POST', '/v2/sessions', async (req, reply) => {
    const { tenant, session } = await checkedSession(req);
    // Created only where no session of that name exists, checked atomically (two replicas may be asked at once).
    await store.sessions.update(tenant, session.name, (existing) => {
      if (existing) throw alreadyExists(`Session '${session.name}' already exists${tenant ? ` for tenant '${tenant}'` : ''}`);
      return session;
    });
    return sendJson(reply, 201, session);
  });

  routes.add('POST', '/v2/sessionpreview', async (req, reply) => {
    const { tenant, options, template, session } = await checkedSession(req);
    const { hsm, s3, tenants } = ctx.calls(req);
    if (!hsm || !s3 || !tenants) {
      const missing = !hsm ? 'hsm' : !s3 ? 's3' : 'tapms';
      throw serviceUnavailable({ service: missing, message: 'session previews need HSM, S3 and the tenant service, and this API has no client for it' });
    }
    const planCtx = { services: { hsm, s3, tenants }, options, log: ctx.log as unknown as Logger };
    let plan: SessionPlan;
    try {
      plan = await planSession(planCtx, session, template);
    } catch (err) {
      // A service that fails is a 503 (repeat the preview); anything else is why the session would not start.
      if (err instanceof ServiceError) throw err;
      return sendJson(reply, 200, { session, error: errorText(err), boot_sets: {}, nodes: [], not_in_bos: [] });
    }
    const tenantSet = await ctx.tenantSetLenient(req, tenant);
    const stored = await store.components.getManyShared(plan.nodes);
    const notInBos = plan.nodes.filter((id, i) => !stored[i] || (tenantSet !== undefined && !tenantSet.has(id)));
    const error = notInBos.length === plan.nodes.length ? 'All nodes found to act upon do not exist as BOS components' : null;
    return sendJson(reply, 200, { session, error, boot_sets: plan.boot_sets, nodes: plan.nodes, not_in_bos: notInBos });
  });

  routes.add('GET', '/v2/sessions', async (req, reply) => sendJson(reply, 200, await selected(req)));

  routes.add('DELETE', '/v2/sessions', async (req, reply) => {
    for (const s of await selected(req)) {
      await store.sessions.delete(s.tenant ?? '', s.name);
      await store.sessionStatus.delete(s.tenant ?? '', s.name);
      await releaseWaiting(s);
    }
    return reply.code(204).send();
  });

  routes.add('GET', '/v2/sessions/:session_id', async (req, reply) => sendJson(reply, 200, (await load(req)).session));

  routes.add('PATCH', '/v2/sessions/:session_id', async (req, reply) => {
    pathParam(req, 'session_id', 'V2SessionName');
    const body = jsonBody<{ components?: string; status?: Record<string, unknown> } & RolloutSettings>(req, 'V2SessionUpdate');
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
    const session = await store.sessions.get(tenant, id);
    if (!(await store.sessions.delete(tenant, id))) throw recordNotFound('Session', id, tenant);
    await store.sessionStatus.delete(tenant, id);
    if (session) await releaseWaiting(session);
    return reply.code(204).send();
  });

  routes.add('GET', '/v2/sessions/:session_id/status', async (req, reply) => {
    const { id, tenant, session } = await load(req);
    if (session.status?.status === 'complete') {
      const saved = await store.sessionStatus.get(tenant, id);
      if (saved) return sendJson(reply, 200, saved);
    }
    return sendJson(reply, 200, await extendedStatusOf(req, id, tenant, session));
  });

  routes.add('POST', '/v2/sessions/:session_id/status', async (req, reply) => {
    const { id, tenant, session } = await load(req);
    const status = await extendedStatusOf(req, id, tenant, session);
    await store.sessionStatus.put(tenant, id, status);
    return sendJson(reply, 200, status);
  });
}
