/**
 * In-memory fakes of every `Services` interface for operator tests. The BOS fake merges patches the
 * way the server does (nested objects merged, boot_artifacts one level deeper, `enabled: true` puts the
 * component on hold, `last_updated` stamped from the clock) and computes `status.status` on output.
 * Every call is recorded; any method can be made to fail.
 */
import { FakeClock, formatTimestamp, type Clock } from '../../src/common/clock.js';
import { computeStatus } from '../../src/common/status.js';
import type { BootArtifactsRecord, Component, Session, SessionTemplate } from '../../src/common/types.js';
import {
  ServiceError,
  type BootArtifactsRecords,
  type BosClient,
  type BssClient,
  type CfsClient,
  type CfsComponent,
  type ComponentQuery,
  type ListPagesOptions,
  type HsmClient,
  type HsmComponent,
  type HsmGroup,
  type HsmPartition,
  type ImsClient,
  type ImsImage,
  type PcsClient,
  type PowerOperation,
  type S3Client,
  type S3Object,
  type Services,
  type ServiceName,
  type TenantClient,
} from '../../src/clients/types.js';
import { ImageNotFound } from '../../src/clients/ims.js';
import { createMetrics, type OperatorMetrics } from '../../src/metrics.js';
import { silentLogger } from '../../src/log.js';
import { OPTION_DEFAULTS, type Options } from '../../src/common/options.js';
import type { PassContext } from '../../src/operators/types.js';

interface Call {
  service: ServiceName;
  method: string;
  args: unknown[];
}

type Obj = Record<string, unknown>;
const isObj = (v: unknown): v is Obj => v !== null && typeof v === 'object' && !Array.isArray(v);
const copy = <T>(v: T): T => structuredClone(v);

/** Merge a patch into a record as the BOS server does. */
export function mergeComponent(record: Component, patch: Partial<Component>): Component {
  const out = copy(record) as unknown as Obj;
  for (const [k, v] of Object.entries(patch)) {
    if (k === 'id') continue;
    if (isObj(v) && isObj(out[k])) {
      const target = out[k] as Obj;
      for (const [k2, v2] of Object.entries(v)) {
        if (k2 === 'boot_artifacts' && isObj(v2) && isObj(target[k2])) target[k2] = { ...(target[k2] as Obj), ...(copy(v2) as Obj) };
        else target[k2] = copy(v2);
      }
    } else out[k] = copy(v);
  }
  return out as unknown as Component;
}

class Recorder {
  readonly calls: Call[] = [];
  readonly failures = new Map<string, (args: unknown[]) => unknown>();
  record(service: ServiceName, method: string, args: unknown[]): void {
    this.calls.push({ service, method, args: copy(args) });
    const f = this.failures.get(`${service}.${method}`);
    if (f) {
      const err = f(args);
      if (err !== undefined) throw err;
    }
  }
  /** Make `service.method` throw (a ServiceError with `message` unless `err` is given). */
  fail(service: ServiceName, method: string, message = 'boom', opts: { status?: number; times?: number; err?: unknown } = {}): void {
    let left = opts.times ?? Infinity;
    this.failures.set(`${service}.${method}`, () => {
      if (left <= 0) return undefined;
      left--;
      return opts.err ?? new ServiceError(service, method, '/x', opts.status ?? 500, message);
    });
  }
  heal(service: ServiceName, method: string): void {
    this.failures.delete(`${service}.${method}`);
  }
  of(service: ServiceName, method?: string): Call[] {
    return this.calls.filter((c) => c.service === service && (method === undefined || c.method === method));
  }
}

class FakeBos implements BosClient {
  components = new Map<string, Component>();
  sessions = new Map<string, Session>();
  templates = new Map<string, SessionTemplate>();
  options: Record<string, unknown> = {};
  constructor(
    private readonly rec: Recorder,
    private readonly clock: Clock,
  ) {}

  private stamp(patch: Partial<Component>): Partial<Component> {
    const p = copy(patch) as Obj;
    const now = formatTimestamp(this.clock.now());
    for (const key of ['actual_state', 'desired_state'] as const) {
      const s = p[key];
      if (isObj(s)) {
        const keys = Object.keys(s);
        if (!(keys.length === 1 && keys[0] === 'bss_token')) s.last_updated = now;
      }
    }
    if (isObj(p.staged_state)) p.staged_state.last_updated = now;
    if (isObj(p.last_action)) p.last_action.last_updated = now;
    if (p.enabled === true) p.status = { ...(isObj(p.status) ? p.status : {}), status_override: 'on_hold' };
    return p as Partial<Component>;
  }

  /** Store a component as given (test setup, no stamping). */
  put(c: Component): void {
    this.components.set(c.id, copy(c));
  }

  get(id: string): Component {
    const c = this.components.get(id);
    if (!c) throw new Error(`no component ${id}`);
    return this.out(c);
  }

  private out(c: Component): Component {
    const o = copy(c);
    o.status = { phase: '', status_override: '', ...o.status, status: computeStatus(o) };
    return o;
  }

  async getOptions(): Promise<Record<string, unknown>> {
    this.rec.record('bos', 'getOptions', []);
    return copy(this.options);
  }

  /** Set by enablePaging(): the paged listing the HTTP client has (off by default: the whole-listing path). */
  listComponentPages?: (query: Omit<ComponentQuery, 'ids'>, pageSize: number, opts?: ListPagesOptions) => AsyncIterable<Component[]>;

  /** Set by enablePaging(): the conditional re-read of a page the HTTP client has against this API. */
  rereadPage?: (page: Component[]) => Promise<Component[] | 'unchanged' | undefined>;

  /**
   * List page by page, as the HTTP client does: each page read (and recorded) when asked for, after
   * the previous page's last id; and re-read a page conditionally, as against this project's API
   * (its tag here: the page's JSON, so 'unchanged' exactly when no record on it changed).
   */
  enablePaging(): void {
    const sources = new WeakMap<Component[], { read: () => Component[]; tag: string }>();
    this.listComponentPages = (query, pageSize, opts = {}) => {
      const self = this;
      return (async function* () {
        let after: string | undefined = opts.startAfter;
        for (;;) {
          self.rec.record('bos', 'listComponentPages', [query, pageSize, after]);
          const from = after;
          const read = () => {
            const rest = self.matching(query).filter((c) => from === undefined || c.id > from);
            return pageSize > 0 ? rest.slice(0, pageSize) : rest;
          };
          const page = read();
          sources.set(page, { read, tag: JSON.stringify(page) });
          yield page;
          if (!(pageSize > 0) || page.length < pageSize) return;
          after = page[page.length - 1]!.id;
        }
      })();
    };
    this.rereadPage = async (page) => {
      this.rec.record('bos', 'rereadPage', [page.map((c) => c.id)]);
      const source = sources.get(page);
      if (!source) return undefined;
      const now = source.read();
      return JSON.stringify(now) === source.tag ? 'unchanged' : now;
    };
  }

  async listComponents(query: ComponentQuery, pageSize: number): Promise<Component[]> {
    this.rec.record('bos', 'listComponents', [query, pageSize]);
    return this.matching(query);
  }

  private matching(query: ComponentQuery): Component[] {
    const ids = query.ids ? new Set(query.ids.split(',')) : undefined;
    const statuses = query.status ? query.status.split(',') : undefined;
    return [...this.components.values()]
      .map((c) => this.out(c))
      .filter((c) => !ids || ids.has(c.id))
      .filter((c) => query.session === undefined || c.session === query.session)
      .filter((c) => query.staged_session === undefined || c.staged_state?.session === query.staged_session)
      .filter((c) => query.enabled === undefined || (c.enabled ?? false) === query.enabled)
      .filter((c) => query.phase === undefined || (c.status?.phase ?? '') === query.phase)
      .filter((c) => !statuses || statuses.includes(c.status!.status!))
      .sort((a, b) => (a.id < b.id ? -1 : a.id > b.id ? 1 : 0));
  }

  async patchComponents(patches: Partial<Component>[], opts: { skipBadIds?: boolean; chunkSize?: number } = {}): Promise<Component[]> {
    this.rec.record('bos', 'patchComponents', [patches, opts]);
    const out: Component[] = [];
    for (const p of patches) {
      const id = p.id!;
      const existing = this.components.get(id);
      if (!existing) {
        if (opts.skipBadIds) continue;
        throw new ServiceError('bos', 'PATCH', '/components', 404, `Component ${id} could not be found`);
      }
      const merged = mergeComponent(existing, this.stamp(p));
      this.components.set(id, merged);
      out.push(this.out(merged));
    }
    return out;
  }

  async patchComponentsByFilter(): Promise<Component[]> {
    throw new Error('not used by operators');
  }

  async putComponents(records: Component[]): Promise<Component[]> {
    this.rec.record('bos', 'putComponents', [records]);
    for (const r of records) this.components.set(r.id, mergeComponent({ id: r.id }, this.stamp(r)));
    return records.map((r) => this.get(r.id));
  }

  async listSessions(query: { status?: string } = {}): Promise<Session[]> {
    this.rec.record('bos', 'listSessions', [query]);
    return [...this.sessions.values()].filter((s) => !query.status || s.status.status === query.status).map(copy);
  }

  async patchSession(name: string, tenant: string | null, patch: { status?: Partial<Session['status']>; components?: string }): Promise<Session> {
    this.rec.record('bos', 'patchSession', [name, tenant, patch]);
    const s = this.sessions.get(name);
    if (!s) throw new ServiceError('bos', 'PATCH', `/sessions/${name}`, 404, `Session ${name} could not be found`);
    if (patch.status) s.status = { ...s.status, ...patch.status };
    if (patch.components !== undefined) s.components = patch.components;
    return copy(s);
  }

  async saveSessionStatus(name: string, tenant: string | null): Promise<unknown> {
    this.rec.record('bos', 'saveSessionStatus', [name, tenant]);
    return {};
  }

  async deleteSessions(query: { status?: string; min_age?: string }): Promise<void> {
    this.rec.record('bos', 'deleteSessions', [query]);
  }

  async getSessionTemplate(name: string, tenant: string | null): Promise<SessionTemplate> {
    this.rec.record('bos', 'getSessionTemplate', [name, tenant]);
    const t = this.templates.get(name);
    if (!t) throw new ServiceError('bos', 'GET', `/sessiontemplates/${name}`, 404, `Session template ${name} could not be found`);
    return copy(t);
  }
}

class FakeHsm implements HsmClient {
  components: HsmComponent[] = [];
  groups: HsmGroup[] = [];
  partitions: HsmPartition[] = [];
  locked = new Set<string>();
  constructor(private readonly rec: Recorder) {}
  /** Add Ready, enabled X86 nodes. */
  addNodes(ids: readonly string[], extra: Partial<HsmComponent> = {}): void {
    for (const id of ids) this.components.push({ ID: id, Type: 'Node', State: 'Ready', Enabled: true, Arch: 'X86', Role: 'Compute', ...extra });
  }
  async listComponents(): Promise<HsmComponent[]> {
    this.rec.record('hsm', 'listComponents', []);
    return copy(this.components);
  }
  async queryComponents(ids: readonly string[], opts?: { enabled?: boolean }): Promise<HsmComponent[]> {
    if (ids.length === 0) return [];
    this.rec.record('hsm', 'queryComponents', [ids, opts]);
    const want = new Set(ids);
    return copy(this.components.filter((c) => want.has(c.ID) && (opts?.enabled === undefined || (c.Enabled ?? true) === opts.enabled)));
  }
  async listGroups(): Promise<HsmGroup[]> {
    this.rec.record('hsm', 'listGroups', []);
    return copy(this.groups);
  }
  async listPartitions(): Promise<HsmPartition[]> {
    this.rec.record('hsm', 'listPartitions', []);
    return copy(this.partitions);
  }
  async lockedNodes(): Promise<Set<string>> {
    this.rec.record('hsm', 'lockedNodes', []);
    return new Set(this.locked);
  }
}

class FakePcs implements PcsClient {
  power = new Map<string, string>();
  constructor(private readonly rec: Recorder) {}
  async powerStatus(ids: readonly string[]): Promise<Map<string, string>> {
    if (ids.length === 0) return new Map();
    this.rec.record('pcs', 'powerStatus', [ids]);
    const out = new Map<string, string>();
    for (const id of ids) if (this.power.has(id)) out.set(id, this.power.get(id)!);
    return out;
  }
  async transition(operation: PowerOperation, ids: readonly string[]): Promise<{ transitionID?: string }> {
    if (ids.length === 0) throw new Error(`_transition_create called with no xnames! (operation=${operation})`);
    this.rec.record('pcs', 'transition', [operation, ids]);
    return { transitionID: 't' };
  }
}

class FakeBss implements BssClient {
  private n = 0;
  constructor(private readonly rec: Recorder) {}
  async setBootParameters(hosts: readonly string[], params: string, kernel: string, initrd: string): Promise<string> {
    if (hosts.length === 0) throw new Error('set_bss called with empty node_set');
    this.rec.record('bss', 'setBootParameters', [hosts, params, kernel, initrd]);
    return `token-${++this.n}`;
  }
}

class FakeCfs implements CfsClient {
  components = new Map<string, CfsComponent>();
  constructor(private readonly rec: Recorder) {}
  async getComponents(ids?: readonly string[]): Promise<CfsComponent[]> {
    this.rec.record('cfs', 'getComponents', [ids]);
    const all = [...this.components.values()];
    return copy(ids ? all.filter((c) => ids.includes(c.id)) : all);
  }
  async setDesiredConfig(ids: readonly string[], config: string, opts: { enabled: boolean; session?: string; clearState?: boolean }): Promise<void> {
    this.rec.record('cfs', 'setDesiredConfig', [ids, config, opts]);
    for (const id of ids) {
      const c = this.components.get(id) ?? { id };
      this.components.set(id, { ...c, desired_config: config, enabled: opts.enabled });
    }
  }
}

class FakeIms implements ImsClient {
  missing = new Set<string>();
  constructor(private readonly rec: Recorder) {}
  async getImage(id: string): Promise<ImsImage> {
    this.rec.record('ims', 'getImage', [id]);
    return { id };
  }
  async listImages(): Promise<ImsImage[]> {
    return [];
  }
  async tagImage(id: string, key: string, value?: string, operation?: 'set' | 'remove'): Promise<void> {
    this.rec.record('ims', 'tagImage', [id, key, value, operation]);
    if (this.missing.has(id)) throw new ImageNotFound(id, 'PATCH', `/images/${id}`);
  }
}

class FakeS3 implements S3Client {
  objects = new Map<string, string>();
  constructor(private readonly rec: Recorder) {}
  async getObject(url: string): Promise<S3Object> {
    this.rec.record('s3', 'getObject', [url]);
    const body = this.objects.get(url);
    if (body === undefined) throw new ServiceError('s3', 'GET', url, 404, `GET ${url} failed: NoSuchKey`);
    return { body: Buffer.from(body), contentLength: Buffer.byteLength(body) };
  }
  async headObject(url: string): Promise<{ etag?: string; contentLength?: number }> {
    this.rec.record('s3', 'headObject', [url]);
    return {};
  }
  /** Store a manifest with kernel, initrd, rootfs (and optional boot parameters file). */
  addImage(id: string, opts: { bootParameters?: string; withoutKernel?: boolean; withoutInitrd?: boolean } = {}): string {
    const base = `s3://boot-images/${id}`;
    const artifacts: unknown[] = [];
    if (!opts.withoutKernel) artifacts.push({ type: 'application/vnd.cray.image.kernel', link: { path: `${base}/kernel`, etag: 'ek', type: 's3' } });
    if (!opts.withoutInitrd) artifacts.push({ type: 'application/vnd.cray.image.initrd', link: { path: `${base}/initrd`, etag: 'ei', type: 's3' } });
    artifacts.push({ type: 'application/vnd.cray.image.rootfs.squashfs', link: { path: `${base}/rootfs`, etag: 'rootfs-etag', type: 's3' } });
    if (opts.bootParameters !== undefined) {
      artifacts.push({ type: 'application/vnd.cray.image.parameters.boot', link: { path: `${base}/boot_parameters`, etag: 'ep', type: 's3' } });
      this.objects.set(`${base}/boot_parameters`, opts.bootParameters);
    }
    const manifest = `${base}/manifest.json`;
    this.objects.set(manifest, JSON.stringify({ version: '1.0', artifacts }));
    return manifest;
  }
}

class FakeTenants implements TenantClient {
  tenants = new Map<string, Set<string>>();
  constructor(private readonly rec: Recorder) {}
  async tenantXnames(tenant: string): Promise<Set<string> | null> {
    if (!tenant) return new Set();
    this.rec.record('tapms', 'tenantXnames', [tenant]);
    const t = this.tenants.get(tenant);
    return t ? new Set(t) : null;
  }
}

class FakeBootArtifacts implements BootArtifactsRecords {
  records = new Map<string, BootArtifactsRecord>();
  constructor(private readonly rec: Recorder) {}
  async put(token: string, record: BootArtifactsRecord): Promise<void> {
    this.rec.record('redis', 'put', [token, record]);
    this.records.set(token, copy(record));
  }
  async get(token: string): Promise<BootArtifactsRecord | undefined> {
    return this.records.get(token);
  }
}

export interface World extends Services {
  rec: Recorder;
  clock: FakeClock;
  bos: FakeBos;
  hsm: FakeHsm;
  pcs: FakePcs;
  bss: FakeBss;
  cfs: FakeCfs;
  ims: FakeIms;
  s3: FakeS3;
  tenants: FakeTenants;
  bootArtifacts: FakeBootArtifacts;
}

const T0 = Date.UTC(2026, 0, 1, 12, 0, 0);

export function world(start = T0): World {
  const rec = new Recorder();
  const clock = new FakeClock(start);
  return {
    rec,
    clock,
    bos: new FakeBos(rec, clock),
    hsm: new FakeHsm(rec),
    pcs: new FakePcs(rec),
    bss: new FakeBss(rec),
    cfs: new FakeCfs(rec),
    ims: new FakeIms(rec),
    s3: new FakeS3(rec),
    tenants: new FakeTenants(rec),
    bootArtifacts: new FakeBootArtifacts(rec),
  };
}

/** A pass context over a world (for calling filters and passes directly). */
export function context(w: World, options: Partial<Options> = {}, metrics: OperatorMetrics = createMetrics()): PassContext {
  const o = { ...OPTION_DEFAULTS, ...options };
  return {
    name: 'test',
    services: w,
    options: o,
    clock: w.clock,
    log: silentLogger(),
    metrics,
    batchSize: o.max_component_batch_size,
  };
}

/** A timestamp `secondsAgo` before the world's clock. */
export function ago(w: World, secondsAgo: number): string {
  return formatTimestamp(w.clock.now() - secondsAgo * 1000);
}

/** A booted-looking component. */
/** A pending session of template t1 (an operation and anything else from `extra`). */
export function pendingSession(name: string, extra: Partial<Session> = {}): Session {
  return {
    name,
    tenant: null,
    operation: 'boot',
    template_name: 't1',
    limit: '',
    stage: false,
    components: '',
    include_disabled: false,
    status: { status: 'pending', start_time: '2026-01-01T11:00:00', end_time: null, error: null },
    ...extra,
  };
}

export function comp(id: string, extra: Partial<Component> = {}): Component {
  return { id, enabled: true, error: '', session: '', status: { phase: '', status_override: '' }, ...extra };
}

export function bootArtifacts(kernel = 's3://boot-images/img1/kernel', params = 'console=ttyS0', initrd = 's3://boot-images/img1/initrd') {
  return { kernel, kernel_parameters: params, initrd };
}
