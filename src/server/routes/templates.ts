/** Session template endpoints (docs/api.md, "Session templates"). */
import type { FastifyRequest } from 'fastify';
import type { SessionTemplate } from '../../common/types.js';
import { jsonBody, pathParam, sendJson, tenantOf, type ServerContext } from '../context.js';
import { badRequest, recordNotFound } from '../problem.js';
import { exampleTemplate, mergeTemplate, sanitizeTemplate, TemplateError } from '../rules/templates.js';
import { checkImsImage, validateBootSets, validationMessage } from '../rules/validate-bootsets.js';
import type { RouteTable } from './table.js';

type Obj = Record<string, unknown>;

export function templateRoutes(ctx: ServerContext, routes: RouteTable): void {
  const { store } = ctx;

  async function sanitize(req: FastifyRequest, body: Obj, name: string, tenant: string, verb: 'created' | 'patched'): Promise<SessionTemplate> {
    const options = await ctx.options();
    const { s3, ims } = ctx.calls(req);
    try {
      return await sanitizeTemplate(body, {
        name,
        tenant,
        rejectNids: options.reject_nids,
        imsError: async (bs) => {
          const r = await checkImsImage(bs, { s3, ims, options });
          if (r.warning) ctx.log.warn(`Session template ${name}: ${r.warning}`);
          return r.error ? `${r.error.kind}: ${r.error.message}` : undefined;
        },
        warn: (msg) => ctx.log.warn(`Session template ${name}: ${msg}`),
      });
    } catch (err) {
      if (err instanceof TemplateError) throw badRequest(`The session template could not be ${verb}: ${err.message}`);
      throw err;
    }
  }

  routes.add('GET', '/v2/sessiontemplates', async (req, reply) => {
    const tenant = tenantOf(req);
    await ctx.options();
    let all = await store.templates.list();
    if (tenant) all = all.filter((t) => t.tenant === tenant);
    return sendJson(reply, 200, all);
  });

  routes.add('GET', '/v2/sessiontemplates/:session_template_id', async (req, reply) => {
    const id = pathParam(req, 'session_template_id', 'SessionTemplateName');
    const tenant = tenantOf(req);
    await ctx.options();
    const t = await store.templates.get(tenant, id);
    if (!t) throw recordNotFound('Session template', id, tenant);
    return sendJson(reply, 200, t);
  });

  routes.add('PUT', '/v2/sessiontemplates/:session_template_id', async (req, reply) => {
    const id = pathParam(req, 'session_template_id', 'SessionTemplateName');
    const body = jsonBody<Obj>(req, 'V2SessionTemplate');
    const tenant = tenantOf(req);
    await ctx.tenantSet(req, tenant, 'The provided tenant does not exist');
    const record = await sanitize(req, body, id, tenant, 'created');
    await store.templates.put(tenant, id, record);
    return sendJson(reply, 200, record);
  });

  routes.add('PATCH', '/v2/sessiontemplates/:session_template_id', async (req, reply) => {
    const id = pathParam(req, 'session_template_id', 'SessionTemplateName');
    const body = jsonBody<Obj>(req, 'V2SessionTemplatePatch');
    const tenant = tenantOf(req);
    await ctx.options();
    const record = await store.templates.update(tenant, id, async (stored) => {
      if (!stored) throw recordNotFound('Session template', id, tenant);
      return sanitize(req, mergeTemplate(stored, body), id, tenant, 'patched');
    });
    return sendJson(reply, 200, record);
  });

  routes.add('DELETE', '/v2/sessiontemplates/:session_template_id', async (req, reply) => {
    const id = pathParam(req, 'session_template_id', 'SessionTemplateName');
    const tenant = tenantOf(req);
    await ctx.options();
    if (!(await store.templates.delete(tenant, id))) throw recordNotFound('Session template', id, tenant);
    return reply.code(204).send();
  });

  routes.add('GET', '/v2/sessiontemplatetemplate', async (_req, reply) => sendJson(reply, 200, exampleTemplate()));

  routes.add('GET', '/v2/sessiontemplatesvalid/:session_template_id', async (req, reply) => {
    const id = pathParam(req, 'session_template_id', 'SessionTemplateName');
    const tenant = tenantOf(req);
    const options = await ctx.options();
    const t = await store.templates.get(tenant, id);
    if (!t) throw recordNotFound('Session template', id, tenant);
    const { s3, ims } = ctx.calls(req);
    const result = await validateBootSets(t, 'boot', { s3, ims, options });
    return sendJson(reply, 200, validationMessage(result));
  });
}
