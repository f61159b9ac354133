/**
 * A BOS API on loopback over a seeded memory store, for the property tests: components (some owned
 * by tenants), templates and sessions in the global and tenant namespaces, saved session statuses,
 * options; plus a raw HTTP helper that never hangs and a byte-for-byte snapshot of the store.
 */
import { buildApp } from '../../src/server/app.js';
import { MemoryStore } from '../../src/server/store/memory.js';
import type { Store } from '../../src/server/store/store.js';
import { OPTION_DEFAULTS } from '../../src/common/options.js';
import { addBootImage, FakeIms, FakeS3, FakeTenants } from '../helpers/api.js';
import type { FastifyInstance } from 'fastify';
import type { Logger } from 'pino';
import type { TokenVerifier } from '../../src/server/auth/verifier.js';

export const TENANT_NODES: Record<string, string[]> = {
  'tenant-a': ['x1000c0s0b0n0', 'x1000c0s0b0n1'],
  'tenant-b': ['x1000c0s1b0n0', 'x1000c0s1b0n1'],
};
export const FREE_NODES = ['x1000c0s2b0n0', 'x1000c0s2b0n1', 'x3000c0s1b0n0'];
export const ALL_NODES = [...TENANT_NODES['tenant-a']!, ...TENANT_NODES['tenant-b']!, ...FREE_NODES];
const TENANTS = ['', 'tenant-a', 'tenant-b'];

export interface PropServer {
  url: string;
  store: Store;
  app: FastifyInstance;
  s3: FakeS3;
  manifest: string;
  close(): Promise<void>;
}

export interface RawResponse {
  status: number;
  contentType: string | null;
  text: string;
  body: any;
}

/** One request; the answer must come within 5 s. */
export async function raw(url: string, method: string, path: string, opts: { body?: string | Buffer; contentType?: string; headers?: Record<string, string> } = {}): Promise<RawResponse> {
  const headers: Record<string, string> = { ...(opts.headers ?? {}) };
  if (opts.body !== undefined && opts.contentType !== undefined) headers['content-type'] = opts.contentType;
  const r = await fetch(url + path, { method, headers, body: opts.body, signal: AbortSignal.timeout(5000) });
  const text = await r.text();
  const contentType = r.headers.get('content-type');
  let body: unknown = text;
  if (contentType?.includes('json') && text) body = JSON.parse(text);
  return { status: r.status, contentType, text, body };
}

/** Everything the store holds, as one string (records in store order). */
export async function snapshot(store: Store): Promise<string> {
  return JSON.stringify({
    components: await store.components.list(),
    templates: await store.templates.list(),
    sessions: await store.sessions.list(),
    statuses: await store.sessionStatus.list(),
    options: await store.getOptions(),
  });
}

function component(id: string, session = ''): Record<string, unknown> {
  return {
    id,
    actual_state: { boot_artifacts: { kernel: '', kernel_parameters: '', initrd: '' }, bss_token: '', last_updated: '2026-11-01T00:00:00' },
    desired_state: { boot_artifacts: { kernel: '', kernel_parameters: '', initrd: '' }, configuration: '', bss_token: '', last_updated: '2026-11-01T00:00:00' },
    staged_state: { boot_artifacts: { kernel: '', kernel_parameters: '', initrd: '' }, configuration: '', session: '', last_updated: '2026-11-01T00:00:00' },
    last_action: { action: '', failed: false, last_updated: '2026-11-01T00:00:00' },
    event_stats: { power_on_attempts: 0, power_off_graceful_attempts: 0, power_off_forceful_attempts: 0 },
    status: { phase: '', status_override: '' },
    enabled: false,
    error: '',
    session,
  };
}

function sessionRecord(name: string, tenant: string, template: string, components: string[], status = 'running'): Record<string, unknown> {
  return {
    name,
    tenant: tenant || null,
    operation: 'boot',
    template_name: template,
    limit: '',
    stage: false,
    components: components.join(','),
    include_disabled: false,
    status: { start_time: '2026-11-01T00:00:00', end_time: status === 'complete' ? '2026-11-01T01:00:00' : null, status, error: null },
  };
}

/** Start the API over a store seeded with records of every tenant. */
export async function startPropServer(opts: { auth?: TokenVerifier; logger?: Logger } = {}): Promise<PropServer> {
  const store = new MemoryStore();
  const s3 = new FakeS3();
  const ims = new FakeIms();
  const manifest = addBootImage(s3, ims, 'img-1');
  const app = await buildApp({ store, tenants: new FakeTenants(TENANT_NODES), s3, ims, logger: opts.logger ?? false, auth: opts.auth });
  await app.listen({ port: 0, host: '127.0.0.1' });
  const addr = app.server.address();
  const url = `http://127.0.0.1:${typeof addr === 'object' && addr ? addr.port : 0}`;

  await store.putOptions({ ...OPTION_DEFAULTS });
  await store.components.putMany(ALL_NODES.map((id) => component(id, TENANT_NODES['tenant-a']!.includes(id) ? 'sa' : TENANT_NODES['tenant-b']!.includes(id) ? 'sb' : 's0')) as never);
  for (const tenant of TENANTS) {
    const tag = tenant ? tenant.slice(-1) : '0';
    const nodes = tenant ? TENANT_NODES[tenant]! : FREE_NODES;
    await store.templates.put(tenant, `t${tag}`, {
      name: `t${tag}`,
      tenant: tenant || null,
      boot_sets: { compute: { path: manifest, type: 's3', node_list: nodes, kernel_parameters: 'console=ttyS0' } },
      enable_cfs: false,
    } as never);
    await store.sessions.put(tenant, `s${tag}`, sessionRecord(`s${tag}`, tenant, `t${tag}`, nodes) as never);
    await store.sessions.put(tenant, `done${tag}`, sessionRecord(`done${tag}`, tenant, `t${tag}`, nodes, 'complete') as never);
  }
  return {
    url,
    store,
    app,
    s3,
    manifest,
    close: () => app.close(),
  };
}
