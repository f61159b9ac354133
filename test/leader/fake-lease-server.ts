/**
 * A fake of the Kubernetes Lease endpoints (`coordination.k8s.io/v1`), in memory and over loopback
 * HTTP (fastify), with the API server's optimistic concurrency: a create of an existing lease and a
 * replace whose `metadata.resourceVersion` is not the current one both get 409. MicroTime fields must
 * be RFC 3339 with microseconds, as the real API server demands.
 *
 * Each client instance is told apart by its bearer token (HTTP) or by name (in memory). The test can
 * kill an instance (its requests are swallowed, never answered or applied) or partition it: `fail`
 * (503 at once) or `hang` (held until healed, then either applied late or dropped).
 */
import Fastify, { type FastifyInstance, type FastifyReply, type FastifyRequest } from 'fastify';
import { KubeConfig, type V1Lease } from '@kubernetes/client-node';
import { LeaseConflict, type LeaseApi } from '../../src/leader/lease.js';

export type Fault = 'fail' | 'hang' | 'dead';

interface StoredLease {
  apiVersion: string;
  kind: string;
  metadata: Record<string, unknown> & { name: string; namespace: string; resourceVersion: string };
  spec: Record<string, unknown>;
}

export interface WriteRecord {
  instance: string;
  holder: string;
  renewTime: string;
  transitions: number;
}

const MICRO = /^\d{4}-\d{2}-\d{2}T\d{2}:\d{2}:\d{2}\.\d{6}(Z|[+-]\d{2}:\d{2})$/;

class HttpError extends Error {
  constructor(
    readonly code: number,
    readonly reason: string,
    message: string,
  ) {
    super(message);
  }
}

/** The leases and the fault state of every instance. */
export class LeaseStore {
  private leases = new Map<string, StoredLease>();
  private version = 0;
  private faults = new Map<string, Fault>();
  private held = new Map<string, { run: () => void; drop: () => void }[]>();
  readonly writes: WriteRecord[] = [];
  requests = 0;

  get(namespace: string, name: string): StoredLease | undefined {
    const l = this.leases.get(`${namespace}/${name}`);
    return l ? structuredClone(l) : undefined;
  }

  fault(instance: string): Fault | undefined {
    return this.faults.get(instance);
  }

  /** Stop answering this instance for good: it can no longer renew, and it never releases. */
  kill(instance: string): void {
    this.faults.set(instance, 'dead');
  }

  partition(instance: string, mode: 'fail' | 'hang'): void {
    if (this.faults.get(instance) === 'dead') return;
    this.faults.set(instance, mode);
  }

  /** End a partition; requests held during a `hang` are applied now (late delivery) unless `drop`. */
  heal(instance: string, opts: { drop?: boolean } = {}): void {
    if (this.faults.get(instance) === 'dead') return;
    this.faults.delete(instance);
    const held = this.held.get(instance) ?? [];
    this.held.delete(instance);
    for (const h of held) (opts.drop ? h.drop : h.run)();
  }

  /** Answer nothing more: drop every held request (used at teardown). */
  dropAll(): void {
    for (const list of this.held.values()) for (const h of list) h.drop();
    this.held.clear();
  }

  /**
   * Run one request for `instance` under its fault: `fail` rejects with 503, `hang` holds it,
   * `dead` swallows it.
   */
  submit<T>(instance: string, op: () => T): Promise<T> {
    this.requests++;
    const fault = this.faults.get(instance);
    if (fault === 'fail') return Promise.reject(new HttpError(503, 'ServiceUnavailable', 'partitioned'));
    if (fault === 'hang' || fault === 'dead') {
      return new Promise<T>((resolve, reject) => {
        const list = this.held.get(instance) ?? [];
        list.push({
          run: () => {
            try {
              resolve(op());
            } catch (e) {
              reject(e);
            }
          },
          drop: () => reject(new HttpError(503, 'ServiceUnavailable', 'dropped')),
        });
        this.held.set(instance, list);
      });
    }
    try {
      return Promise.resolve(op());
    } catch (e) {
      return Promise.reject(e);
    }
  }

  read(namespace: string, name: string): StoredLease {
    const l = this.get(namespace, name);
    if (!l) throw new HttpError(404, 'NotFound', `leases.coordination.k8s.io "${name}" not found`);
    return l;
  }

  create(instance: string, namespace: string, body: unknown): StoredLease {
    const lease = this.check(namespace, body);
    const key = `${namespace}/${lease.metadata.name}`;
    if (this.leases.has(key)) {
      throw new HttpError(409, 'AlreadyExists', `leases.coordination.k8s.io "${lease.metadata.name}" already exists`);
    }
    lease.metadata.resourceVersion = String(++this.version);
    lease.metadata.uid = `uid-${this.version}`;
    this.leases.set(key, lease);
    this.record(instance, lease);
    return structuredClone(lease);
  }

  replace(instance: string, namespace: string, name: string, body: unknown): StoredLease {
    const lease = this.check(namespace, body);
    if (lease.metadata.name !== name) throw new HttpError(400, 'BadRequest', 'the name of the object does not match the name on the URL');
    const key = `${namespace}/${name}`;
    const current = this.leases.get(key);
    if (!current) throw new HttpError(404, 'NotFound', `leases.coordination.k8s.io "${name}" not found`);
    if (lease.metadata.resourceVersion !== current.metadata.resourceVersion) {
      throw new HttpError(
        409,
        'Conflict',
        `Operation cannot be fulfilled on leases.coordination.k8s.io "${name}": the object has been modified; please apply your changes to the latest version and try again`,
      );
    }
    lease.metadata.resourceVersion = String(++this.version);
    this.leases.set(key, lease);
    this.record(instance, lease);
    return structuredClone(lease);
  }

  private record(instance: string, lease: StoredLease): void {
    this.writes.push({
      instance,
      holder: String(lease.spec.holderIdentity ?? ''),
      renewTime: String(lease.spec.renewTime ?? ''),
      transitions: Number(lease.spec.leaseTransitions ?? 0),
    });
  }

  private check(namespace: string, body: unknown): StoredLease {
    if (!body || typeof body !== 'object') throw new HttpError(400, 'BadRequest', 'body is not an object');
    const b = structuredClone(body) as Partial<StoredLease>;
    if (b.apiVersion !== 'coordination.k8s.io/v1' || b.kind !== 'Lease') {
      throw new HttpError(400, 'BadRequest', `expected a coordination.k8s.io/v1 Lease, got ${String(b.apiVersion)} ${String(b.kind)}`);
    }
    const meta = (b.metadata ?? {}) as StoredLease['metadata'];
    if (!meta.name) throw new HttpError(422, 'Invalid', 'metadata.name: Required value');
    if (meta.namespace && meta.namespace !== namespace) throw new HttpError(400, 'BadRequest', 'the namespace of the object does not match the namespace on the request');
    meta.namespace = namespace;
    const spec = (b.spec ?? {}) as Record<string, unknown>;
    for (const f of ['acquireTime', 'renewTime']) {
      const v = spec[f];
      if (v !== undefined && (typeof v !== 'string' || !MICRO.test(v))) {
        throw new HttpError(400, 'BadRequest', `spec.${f}: ${JSON.stringify(v)} is not an RFC 3339 time with microseconds`);
      }
    }
    return { apiVersion: b.apiVersion, kind: b.kind, metadata: meta, spec };
  }
}

function asJson(lease: V1Lease): unknown {
  return JSON.parse(JSON.stringify(lease));
}

/** A LeaseApi over the store directly, for clock-driven tests (`instance` names the caller). */
export function memoryLeaseApi(store: LeaseStore, instance: string): LeaseApi {
  const call = <T>(signal: AbortSignal, op: () => T): Promise<T> => {
    if (signal.aborted) return Promise.reject(new Error('aborted'));
    return new Promise<T>((resolve, reject) => {
      const onAbort = () => reject(new Error('aborted'));
      signal.addEventListener('abort', onAbort, { once: true });
      store.submit(instance, op).then(
        (v) => {
          signal.removeEventListener('abort', onAbort);
          resolve(v);
        },
        (e: unknown) => {
          signal.removeEventListener('abort', onAbort);
          reject(e);
        },
      );
    });
  };
  const mapConflict = (e: unknown, what: string): never => {
    if (e instanceof HttpError && e.code === 409) throw new LeaseConflict(what);
    throw e;
  };
  return {
    read: (ns, name, signal) =>
      call(signal, () => {
        const l = store.get(ns, name);
        return l ? (structuredClone(l) as unknown as V1Lease) : null;
      }),
    create: (ns, lease, signal) =>
      call(signal, () => store.create(instance, ns, asJson(lease)) as unknown as V1Lease).catch((e: unknown) => mapConflict(e, 'create')),
    replace: (ns, name, lease, signal) =>
      call(signal, () => store.replace(instance, ns, name, asJson(lease)) as unknown as V1Lease).catch((e: unknown) => mapConflict(e, 'update')),
  };
}

function status(reply: FastifyReply, e: unknown) {
  if (e instanceof HttpError) {
    return reply
      .code(e.code)
      .send({ kind: 'Status', apiVersion: 'v1', metadata: {}, status: 'Failure', message: e.message, reason: e.reason, code: e.code });
  }
  throw e;
}

export interface FakeLeaseServer {
  store: LeaseStore;
  url: string;
  /** A KubeConfig for one instance: its requests carry `Bearer <instance>`. */
  kubeConfig(instance: string): KubeConfig;
  close(): Promise<void>;
}

/** Serve the store on 127.0.0.1, a free port. */
export async function startFakeLeaseServer(store = new LeaseStore()): Promise<FakeLeaseServer> {
  const app: FastifyInstance = Fastify({ logger: false, forceCloseConnections: true });
  const who = (req: FastifyRequest) => {
    const auth = req.headers.authorization ?? '';
    return auth.startsWith('Bearer ') ? auth.slice(7) : '';
  };
  const base = '/apis/coordination.k8s.io/v1/namespaces/:ns/leases';
  type P = { Params: { ns: string; name: string } };
  app.get<P>(`${base}/:name`, async (req, reply) => {
    try {
      return await store.submit(who(req), () => store.read(req.params.ns, req.params.name));
    } catch (e) {
      return status(reply, e);
    }
  });
  app.post<{ Params: { ns: string } }>(base, async (req, reply) => {
    try {
      const l = await store.submit(who(req), () => store.create(who(req), req.params.ns, req.body));
      return reply.code(201).send(l);
    } catch (e) {
      return status(reply, e);
    }
  });
  app.put<P>(`${base}/:name`, async (req, reply) => {
    try {
      return await store.submit(who(req), () => store.replace(who(req), req.params.ns, req.params.name, req.body));
    } catch (e) {
      return status(reply, e);
    }
  });
  await app.listen({ host: '127.0.0.1', port: 0 });
  const addr = app.server.address();
  const port = typeof addr === 'object' && addr ? addr.port : 0;
  const url = `http://127.0.0.1:${port}`;
  return {
    store,
    url,
    kubeConfig(instance: string) {
      const kc = new KubeConfig();
      kc.loadFromOptions({
        clusters: [{ name: 'fake', server: url, skipTLSVerify: true }],
        users: [{ name: instance, token: instance }],
        contexts: [{ name: 'fake', cluster: 'fake', user: instance }],
        currentContext: 'fake',
      });
      return kc;
    },
    async close() {
      store.dropAll();
      await app.close();
    },
  };
}
