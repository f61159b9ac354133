import Fastify, { type FastifyError, type FastifyInstance, type FastifyPluginAsync, type FastifyReply, type FastifyRequest } from 'fastify';
import { POWER_OPERATIONS, type MachineRoom, type PowerTransitionOperation } from './room.js';
import type { SimKnobs, SimService } from './knobs.js';
import { SIM_CONTROL_PATH, SIM_PATHS, simRewriteUrl, targetOf } from './routing.js';
import { messageOf } from '../common/errors.js';

export { SIM_CONTROL_PATH, SIM_PATHS } from './routing.js';

/**
 * Services that read a request body as JSON whatever its Content-Type says (Go services decoding
 * `r.Body` directly): upstream BOS's power-on PUTs BSS boot parameters without one. CFS and IMS
 * (Python, connexion) need `application/json`.
 */
const JSON_ANY_CONTENT_TYPE: ReadonlySet<SimService> = new Set(['hsm', 'pcs', 'bss', 'tapms']);

type Handler = (req: FastifyRequest, reply: FastifyReply) => unknown;

function problem(reply: FastifyReply, status: number, title: string, detail: string) {
  return reply.code(status).type('application/problem+json').send({ type: 'about:blank', title, status, detail });
}

const STATUS_TITLES: Record<number, string> = { 400: 'Bad Request', 404: 'Not Found', 405: 'Method Not Allowed', 413: 'Payload Too Large', 415: 'Unsupported Media Type' };

/** The request target as the client sent it (before the rewrite to the gateway layout). */
function sentUrl(req: FastifyRequest): string {
  return (req.raw as { originalUrl?: string }).originalUrl ?? req.url;
}

/** An unknown route: a JSON problem for the JSON services (and other gateway paths), S3's XML in S3's space. */
function notFound(req: FastifyRequest, reply: FastifyReply) {
  const target = targetOf(req.raw);
  if (target === 's3') {
    const bucket = (req.url.split('?')[0] ?? '/').split('/')[1] ?? '';
    if (!['GET', 'HEAD', 'PUT'].includes(req.method)) {
      return s3Error(reply, req, 405, 'MethodNotAllowed', 'The specified method is not allowed against this resource.', bucket);
    }
    return s3Error(reply, req, 404, 'NoSuchBucket', 'The specified bucket does not exist', bucket);
  }
  const where = target === 'other' ? 'the simulator' : target === 'control' ? 'the simulator control API' : target.toUpperCase();
  return problem(reply, 404, 'Not Found', `${where} has no route ${req.method} ${sentUrl(req)}`);
}

function asList(v: unknown): string[] {
  if (v === undefined || v === null) return [];
  return (Array.isArray(v) ? v : [v]).flatMap((x) => String(x).split(',')).map((s) => s.trim()).filter(Boolean);
}

function isRecord(v: unknown): v is Record<string, unknown> {
  return !!v && typeof v === 'object' && !Array.isArray(v);
}

function s3Error(reply: FastifyReply, req: FastifyRequest, status: number, code: string, message: string, bucket: string, key?: string) {
  reply.code(status).header('x-amz-request-id', req.id);
  if (req.method === 'HEAD') return reply.send();
  const xml =
    '<?xml version="1.0" encoding="UTF-8"?>\n<Error>' +
    `<Code>${code}</Code><Message>${escapeXml(message)}</Message>` +
    (key !== undefined ? `<Key>${escapeXml(key)}</Key>` : '') +
    `<BucketName>${escapeXml(bucket)}</BucketName><RequestId>${escapeXml(String(req.id))}</RequestId></Error>`;
  return reply.type('application/xml').send(xml);
}

function escapeXml(s: string): string {
  return s.replace(/[<>&'"]/g, (c) => ({ '<': '&lt;', '>': '&gt;', '&': '&amp;', "'": '&apos;', '"': '&quot;' })[c]!);
}

/**
 * The simulator's routes as a fastify plugin (encapsulated: its body parsers do not leak into the
 * host app). Every service route first applies the service's latency and failure-rate knobs.
 */
function simPlugin(room: MachineRoom): FastifyPluginAsync {
  return async (app) => {
    app.addContentTypeParser('*', { parseAs: 'buffer' }, (_req, body, done) => done(null, body));
    try {
      app.setNotFoundHandler((req, reply) => notFound(req, reply));
    } catch {
      // The host app already answers unknown routes at this prefix; its handler stays.
    }
    app.setErrorHandler((err: FastifyError, req, reply) => {
      const status = typeof err.statusCode === 'number' && err.statusCode >= 400 ? err.statusCode : 500;
      if (targetOf(req.raw) === 's3') {
        const bucket = (req.url.split('?')[0] ?? '/').split('/')[1] ?? '';
        return s3Error(reply, req, status, status >= 500 ? 'InternalError' : 'InvalidRequest', err.message, bucket);
      }
      return problem(reply, status, STATUS_TITLES[status] ?? (status >= 500 ? 'Internal Server Error' : 'Error'), err.message);
    });

    const wrap =
      (service: SimService, fn: Handler): Handler =>
      async (req, reply) => {
        // The S3 routes catch every /<bucket>/<key>: a gateway path or an in-cluster service's path is not S3's.
        if (service === 's3' && targetOf(req.raw) !== 's3') return notFound(req, reply);
        const latency = room.knobs.latencyMs[service] ?? 0;
        if (latency > 0) await new Promise((r) => setTimeout(r, latency));
        if (room.shouldFail(service)) {
          if (service === 's3') {
            const { bucket } = req.params as { bucket: string };
            return s3Error(reply, req, 500, 'InternalError', 'We encountered an internal error. Please try again.', bucket);
          }
          return problem(reply, 500, 'Internal Server Error', `simulated ${service} failure (failure rate ${room.knobs.failureRate[service]})`);
        }
        if (JSON_ANY_CONTENT_TYPE.has(service) && (Buffer.isBuffer(req.body) || typeof req.body === 'string')) {
          const text = Buffer.isBuffer(req.body) ? req.body.toString('utf8') : req.body;
          if (text.trim() === '') req.body = undefined;
          else {
            try {
              req.body = JSON.parse(text) as unknown;
            } catch (e) {
              return problem(reply, 400, 'Bad Request', `the request body is not valid JSON: ${messageOf(e)}`);
            }
          }
        }
        return fn(req, reply);
      };
    const route = (service: SimService, method: 'GET' | 'POST' | 'PUT' | 'PATCH' | 'DELETE', path: string, fn: Handler) =>
      app.route({ method, url: SIM_PATHS[service] + path, handler: wrap(service, fn) });

    // ------------------------------------------------------------ HSM
    route('hsm', 'GET', '/State/Components', (req) => {
      const q = req.query as Record<string, unknown>;
      return {
        Components: room.listHsm({
          id: asList(q.id),
          type: asList(q.type),
          state: asList(q.state),
          role: asList(q.role),
          subrole: asList(q.subrole),
          enabled: asList(q.enabled),
          arch: asList(q.arch),
        }),
      };
    });
    route('hsm', 'GET', '/State/Components/:xname', (req, reply) => {
      const { xname } = req.params as { xname: string };
      const node = room.node(xname);
      if (!node) return problem(reply, 404, 'Not Found', 'no such xname.');
      return room.hsmComponent(node);
    });
    route('hsm', 'POST', '/State/Components/Query', (req, reply) => {
      const body = req.body;
      if (!isRecord(body) || !Array.isArray(body.ComponentIDs)) {
        return problem(reply, 400, 'Bad Request', 'expected a JSON object with a ComponentIDs list');
      }
      const ids = body.ComponentIDs.filter((x): x is string => typeof x === 'string');
      return {
        Components: room.queryHsm(ids, {
          enabled: asList(body.enabled),
          state: asList(body.state),
          role: asList(body.role),
          type: asList(body.type),
        }),
      };
    });
    route('hsm', 'GET', '/groups', () => room.groups);
    route('hsm', 'GET', '/groups/:label', (req, reply) => {
      const { label } = req.params as { label: string };
      const g = room.groups.find((x) => x.label === label);
      return g ?? problem(reply, 404, 'Not Found', `No such group: ${label}`);
    });
    route('hsm', 'GET', '/partitions', () => room.partitions);
    route('hsm', 'GET', '/locks/status', (req) => {
      const q = req.query as Record<string, unknown>;
      if (q.type !== undefined && String(q.type).toLowerCase() !== 'node') return { Components: [] };
      const locked = q.locked === undefined ? undefined : ['true', '1', 't'].includes(String(q.locked).toLowerCase());
      return { Components: room.locks(locked) };
    });

    // ------------------------------------------------------------ PCS
    const powerStatus = (reply: FastifyReply, xnames: unknown) => reply.type('application/json; charset=utf-8').send(room.powerStatusJson(asList(xnames)));
    route('pcs', 'POST', '/power-status', (req, reply) => {
      const body = req.body ?? {};
      if (!isRecord(body)) return problem(reply, 400, 'Bad Request', 'expected a JSON object {"xname": [ids]}');
      return powerStatus(reply, body.xname);
    });
    route('pcs', 'GET', '/power-status', (req, reply) => powerStatus(reply, (req.query as Record<string, unknown>).xname));
    route('pcs', 'POST', '/transitions', (req, reply) => {
      const body = req.body;
      if (!isRecord(body)) return problem(reply, 400, 'Bad Request', 'expected a JSON object with operation and location');
      const op = body.operation;
      const match = POWER_OPERATIONS.find((o) => typeof op === 'string' && o.toLowerCase() === op.toLowerCase());
      if (!match) {
        return problem(reply, 400, 'Bad Request', `invalid operation ${JSON.stringify(op)}; valid: ${POWER_OPERATIONS.join(', ')}`);
      }
      if (!Array.isArray(body.location) || body.location.length === 0) {
        return problem(reply, 400, 'Bad Request', 'location must be a non-empty list of {"xname": "<id>"}');
      }
      const xnames = body.location.map((l) => (isRecord(l) && typeof l.xname === 'string' ? l.xname : '')).filter(Boolean);
      const deadline = typeof body.taskDeadlineMinutes === 'number' && body.taskDeadlineMinutes > 0 ? body.taskDeadlineMinutes : 5;
      const rec = room.transition(match as PowerTransitionOperation, xnames, deadline);
      return { transitionID: rec.transitionID, operation: rec.operation };
    });
    route('pcs', 'GET', '/transitions', () => ({
      transitions: [...room.transitions.values()].map((t) => ({
        transitionID: t.transitionID,
        operation: t.operation,
        createTime: t.createTime,
        automaticExpirationTime: t.automaticExpirationTime,
        transitionStatus: t.transitionStatus,
      })),
    }));
    route('pcs', 'GET', '/transitions/:id', (req, reply) => {
      const { id } = req.params as { id: string };
      const t = room.transitions.get(id);
      if (!t) return problem(reply, 404, 'Not Found', `transition ${id} does not exist`);
      const counts = { total: t.tasks.length, new: 0, inProgress: 0, failed: 0, succeeded: 0, unsupported: 0 };
      for (const task of t.tasks) {
        if (task.taskStatus === 'in-progress') counts.inProgress++;
        else counts[task.taskStatus]++;
      }
      return { ...t, taskCounts: counts };
    });

    // ------------------------------------------------------------ BSS
    const putParams: Handler = (req, reply) => {
      const b = req.body;
      if (!isRecord(b)) return problem(reply, 400, 'Bad Request', 'expected a JSON object with hosts, params, kernel, initrd');
      const hosts = Array.isArray(b.hosts) ? b.hosts.filter((h): h is string => typeof h === 'string' && h !== '') : [];
      if (hosts.length === 0) return problem(reply, 400, 'Bad Request', 'hosts must list at least one host');
      for (const f of ['params', 'kernel', 'initrd'] as const) {
        if (b[f] !== undefined && typeof b[f] !== 'string') return problem(reply, 400, 'Bad Request', `${f} must be a string`);
      }
      const token = room.putBootParameters(hosts, (b.params as string) ?? '', (b.kernel as string) ?? '', (b.initrd as string) ?? '');
      return reply.code(200).header('bss-referral-token', token).send();
    };
    route('bss', 'PUT', '/bootparameters', putParams);
    route('bss', 'POST', '/bootparameters', putParams);
    route('bss', 'GET', '/bootparameters', (req) => {
      const q = req.query as Record<string, unknown>;
      const names = asList(q.name);
      const hosts = names.length ? names : room.bootParameterHosts();
      const out: Record<string, unknown>[] = [];
      for (const h of hosts) {
        const p = room.bootParameters(h);
        if (p) out.push({ hosts: [h], params: p.params, kernel: p.kernel, initrd: p.initrd, 'cloud-init': { 'meta-data': null, 'user-data': null } });
      }
      return out;
    });
    route('bss', 'GET', '/bootscript', (req, reply) => {
      const q = req.query as Record<string, unknown>;
      const name = typeof q.name === 'string' ? q.name : '';
      const p = room.bootParameters(name);
      const node = room.node(name);
      if (!p || !node) return problem(reply, 404, 'Not Found', `no boot parameters for ${name || '(no name given)'}`);
      const script =
        `#!ipxe\nkernel --name kernel ${p.kernel} initrd=initrd ${p.params} bss_referral_token=${p.token} xname=${name} nid=${node.nid} || goto boot_retry\n` +
        `initrd --name initrd ${p.initrd} || goto boot_retry\nboot || goto boot_retry\n:boot_retry\nsleep 30\nchain https://api-gw-service-nmn.local/apis/bss/boot/v1/bootscript?name=${name}\n`;
      return reply.type('text/plain').send(script);
    });

    // ------------------------------------------------------------ CFS
    route('cfs', 'GET', '/components', (req, reply) => {
      try {
        return room.listCfs(req.query as Record<string, string>);
      } catch (e) {
        return problem(reply, 400, 'Bad Request', messageOf(e));
      }
    });
    route('cfs', 'GET', '/components/:id', (req, reply) => {
      const { id } = req.params as { id: string };
      const node = room.node(id);
      return node ? room.cfsComponent(node) : problem(reply, 404, 'Not Found', `Component ${id} could not be found`);
    });
    route('cfs', 'PATCH', '/components', (req, reply) => {
      const b = req.body;
      if (Array.isArray(b)) {
        const out: Record<string, unknown>[] = [];
        for (const item of b) {
          if (!isRecord(item) || typeof item.id !== 'string') return problem(reply, 400, 'Bad Request', 'every list entry needs an "id"');
        }
        for (const item of b as Record<string, unknown>[]) {
          const [id] = room.patchCfs([item.id as string], item);
          const node = id ? room.node(id) : undefined;
          if (node) out.push(room.cfsComponent(node));
        }
        return out;
      }
      if (!isRecord(b) || !isRecord(b.patch) || !isRecord(b.filters)) {
        return problem(reply, 400, 'Bad Request', 'expected {"patch": {...}, "filters": {"ids": "a,b"}} or a list of components');
      }
      const filters = b.filters;
      let ids = typeof filters.ids === 'string' ? asList(filters.ids) : undefined;
      if (ids === undefined) {
        const { components } = room.listCfs({
          status: typeof filters.status === 'string' ? filters.status : undefined,
          enabled: filters.enabled === undefined ? undefined : String(filters.enabled),
          config_name: typeof filters.config_name === 'string' ? filters.config_name : undefined,
          limit: String(Number.MAX_SAFE_INTEGER),
        });
        ids = components.map((c) => c.id as string);
      }
      return { component_ids: room.patchCfs(ids, b.patch) };
    });
    route('cfs', 'PATCH', '/components/:id', (req, reply) => {
      const { id } = req.params as { id: string };
      if (!isRecord(req.body)) return problem(reply, 400, 'Bad Request', 'expected a JSON object');
      const [done] = room.patchCfs([id], req.body);
      const node = done ? room.node(done) : undefined;
      return node ? room.cfsComponent(node) : problem(reply, 404, 'Not Found', `Component ${id} could not be found`);
    });

    route('cfs', 'GET', '/configurations', (req, reply) => {
      try {
        return room.listConfigurations(req.query as Record<string, string>);
      } catch (e) {
        return problem(reply, 400, 'Bad Request', messageOf(e));
      }
    });
    route('cfs', 'GET', '/configurations/:name', (req, reply) => {
      const { name } = req.params as { name: string };
      return room.cfsConfigurations.get(name) ?? problem(reply, 404, 'Configuration not found', `Configuration ${name} could not be found`);
    });
    route('cfs', 'PUT', '/configurations/:name', (req, reply) => {
      const { name } = req.params as { name: string };
      if (!isRecord(req.body)) return problem(reply, 400, 'Bad Request', 'expected a JSON object with layers');
      try {
        return room.putConfiguration(name, req.body);
      } catch (e) {
        return problem(reply, 400, 'Bad Request', messageOf(e));
      }
    });
    route('cfs', 'DELETE', '/configurations/:name', (req, reply) => {
      const { name } = req.params as { name: string };
      if (!room.cfsConfigurations.delete(name)) return problem(reply, 404, 'Configuration not found', `Configuration ${name} could not be found`);
      return reply.code(204).send();
    });
    route('cfs', 'GET', '/sessions', (req, reply) => {
      try {
        return room.listCfsSessions(req.query as Record<string, string>);
      } catch (e) {
        return problem(reply, 400, 'Bad Request', messageOf(e));
      }
    });
    route('cfs', 'GET', '/sessions/:name', (req, reply) => {
      const { name } = req.params as { name: string };
      return room.cfsSession(name) ?? problem(reply, 404, 'Session not found', `Session ${name} could not be found`);
    });

    // ------------------------------------------------------------ IMS
    route('ims', 'GET', '/images', () => [...room.images.values()]);
    route('ims', 'GET', '/images/:id', (req, reply) => {
      const { id } = req.params as { id: string };
      return room.images.get(id) ?? problem(reply, 404, 'Not Found', `No image record with id "${id}" was found.`);
    });
    route('ims', 'PATCH', '/images/:id', (req, reply) => {
      const { id } = req.params as { id: string };
      if (!isRecord(req.body)) return problem(reply, 400, 'Bad Request', 'expected a JSON object');
      try {
        return room.patchImage(id, req.body) ?? problem(reply, 404, 'Not Found', `No image record with id "${id}" was found.`);
      } catch (e) {
        return problem(reply, 400, 'Bad Request', messageOf(e));
      }
    });

    // ------------------------------------------------------------ TAPMS
    const tenantBody = (name: string) => {
      const t = room.tenant(name)!;
      const resources = [{ type: 'compute', hsmgrouplabel: t.name, enforceexclusivehsmgroups: true, xnames: t.xnames }];
      return {
        apiVersion: 'tapms.hpe.com/v1alpha3',
        kind: 'Tenant',
        metadata: { name: t.name, namespace: 'tenants' },
        spec: { childnamespaces: ['user'], tenantname: t.name, tenantresources: resources },
        status: { childnamespaces: [`${t.name}-user`], tenantresources: resources, uuid: '' },
      };
    };
    route('tapms', 'GET', '/tenants', () => room.tenants.map((t) => tenantBody(t.name)));
    route('tapms', 'GET', '/tenants/:name', (req, reply) => {
      const { name } = req.params as { name: string };
      if (!room.tenant(name)) return reply.code(404).send({ code: 404, message: `Tenant ${name} not found` });
      return tenantBody(name);
    });

    // ------------------------------------------------------------ simulator control (not a real service)
    const CTL = SIM_CONTROL_PATH;
    const nodeView = (id: string) => {
      const n = room.node(id)!;
      return {
        id: n.id,
        nid: n.nid,
        role: n.role,
        subRole: n.subRole ?? null,
        arch: n.arch ?? null,
        power: n.power,
        state: room.hsmState(n),
        enabled: n.enabled,
        locked: n.locked,
        ignoreSoftOff: n.ignoreSoftOff,
        neverBoot: n.neverBoot,
        cfsFails: n.cfsFails,
        boots: n.boots,
        bssToken: n.boot?.token ?? null,
        kernel: n.boot?.kernel ?? null,
        reports: n.reports,
        reportFailures: n.reportFailures,
        lastReport: n.lastReportAt === undefined ? null : new Date(n.lastReportAt).toISOString(),
      };
    };
    app.get(`${CTL}/summary`, async () => ({ time: new Date(room.clock.now()).toISOString(), ...room.summary() }));
    app.get(`${CTL}/counts`, async () => room.counts());
    app.get(`${CTL}/nodes`, async () => room.nodes().map((n) => nodeView(n.id)));
    app.get(`${CTL}/nodes/:xname`, async (req, reply) => {
      const { xname } = req.params as { xname: string };
      return room.node(xname) ? nodeView(xname) : problem(reply, 404, 'Not Found', `unknown node ${xname}`);
    });
    app.patch(`${CTL}/nodes/:xname`, async (req, reply) => {
      const { xname } = req.params as { xname: string };
      const b = req.body;
      if (!room.node(xname)) return problem(reply, 404, 'Not Found', `unknown node ${xname}`);
      if (!isRecord(b)) return problem(reply, 400, 'Bad Request', 'expected a JSON object of node flags');
      const flags = ['enabled', 'locked', 'ignoreSoftOff', 'neverBoot', 'cfsFails'] as const;
      const changes: Partial<Record<(typeof flags)[number], boolean>> = {};
      for (const [k, v] of Object.entries(b)) {
        if (!(flags as readonly string[]).includes(k) || typeof v !== 'boolean') {
          return problem(reply, 400, 'Bad Request', `${k}: only the boolean flags ${flags.join(', ')} can be changed`);
        }
        changes[k as (typeof flags)[number]] = v;
      }
      room.setNode(xname, changes);
      return nodeView(xname);
    });
    app.get(`${CTL}/knobs`, async () => {
      const { reporterToken, ...rest } = room.knobs;
      return { ...rest, reporterToken: reporterToken ? '(set)' : null };
    });
    app.patch(`${CTL}/knobs`, async (req, reply) => {
      if (!isRecord(req.body)) return problem(reply, 400, 'Bad Request', 'expected a JSON object of knobs');
      try {
        const { reporterToken, ...rest } = room.updateKnobs(req.body as Partial<SimKnobs>);
        return { ...rest, reporterToken: reporterToken ? '(set)' : null };
      } catch (e) {
        return problem(reply, 400, 'Bad Request', messageOf(e));
      }
    });

    // ------------------------------------------------------------ S3 (path style)
    const s3Get = (head: boolean): Handler => (req, reply) => {
      const { bucket } = req.params as { bucket: string };
      const key = decodeURIComponent((req.params as Record<string, string>)['*'] ?? '');
      if (!room.hasBucket(bucket)) return s3Error(reply, req, 404, 'NoSuchBucket', 'The specified bucket does not exist', bucket);
      const obj = room.getObject(bucket, key);
      if (!obj) return s3Error(reply, req, 404, 'NoSuchKey', 'The specified key does not exist.', bucket, key);
      reply
        .code(200)
        .header('etag', obj.etag)
        .header('last-modified', new Date(obj.lastModified).toUTCString())
        .header('accept-ranges', 'bytes')
        .header('x-amz-request-id', req.id)
        .header('content-type', obj.contentType)
        .header('content-length', String(obj.body.length));
      return head ? reply.send() : reply.send(obj.body);
    };
    app.route({ method: 'GET', url: '/:bucket/*', exposeHeadRoute: false, handler: wrap('s3', s3Get(false)) });
    app.route({ method: 'HEAD', url: '/:bucket/*', handler: wrap('s3', s3Get(true)) });
    app.route({
      method: 'PUT',
      url: '/:bucket/*',
      handler: wrap('s3', (req, reply) => {
        const { bucket } = req.params as { bucket: string };
        const key = decodeURIComponent((req.params as Record<string, string>)['*'] ?? '');
        const raw = req.body;
        const body = Buffer.isBuffer(raw) ? raw : raw === undefined || raw === null ? Buffer.alloc(0) : Buffer.from(typeof raw === 'string' ? raw : JSON.stringify(raw));
        const obj = room.putObject(bucket, key, body, String(req.headers['content-type'] ?? 'application/octet-stream'));
        return reply.code(200).header('etag', obj.etag).send();
      }),
    });
  };
}

/**
 * Mount the simulator's routes on `app` (a new fastify instance when none is given) and return it.
 * A host app must mount it before it is ready or listening (fastify accepts no routes afterwards) —
 * or register `simPlugin(room)` itself wherever it assembles its plugins. Only the simulator's own
 * instance routes by Host header and per-service port (its `rewriteUrl` is `simRewriteUrl`); a host
 * app that wants that passes `rewriteUrl: simRewriteUrl` to its own constructor.
 */
export function buildSimApp(room: MachineRoom, app?: FastifyInstance): FastifyInstance {
  const target = app ?? Fastify({ logger: false, bodyLimit: 64 * 1024 * 1024, rewriteUrl: simRewriteUrl });
  try {
    void target.register(simPlugin(room));
  } catch (e) {
    throw new Error(
      'cannot mount the simulator: the fastify instance is already ready or listening. Call buildSimApp(room, app) ' +
        `(or app.register(simPlugin(room))) before app.ready()/app.listen(). (${messageOf(e)})`,
    );
  }
  return target;
}
