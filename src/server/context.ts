/**
 * What every route shares: the store and downstream clients, the clock, option refresh, tenant
 * look-ups, request parsing helpers and JSON answers.
 */
import { Readable } from 'node:stream';
import type { FastifyBaseLogger, FastifyReply, FastifyRequest } from 'fastify';
import { bounded, callDeadline, type CallDeadline } from '../clients/deadline.js';
import type { HsmClient, ImsClient, S3Client, TenantClient } from '../clients/types.js';
import { formatTimestamp, type Clock } from '../common/clock.js';
import { IDS_MEDIA_TYPE, TENANT_HEADER } from '../common/constants.js';
import { OPTION_DEFAULTS, OPTION_NAMES, resolveOptions, type Options } from '../common/options.js';
import type { BootArtifactsRecord, Component, ComponentPatch } from '../common/types.js';
import { pinoLevel } from '../log.js';
import { badRequest, invalidTenant, Problem } from './problem.js';
import { tokensToResolve } from './rules/components.js';
import { check } from './schema.js';
import type { Store } from './store/store.js';
import { piecesLength, sameFlatObject, storedPieces, writePieces } from './record-json.js';

/** Marker body for a request whose content type is not JSON. */
export const NON_JSON = Symbol('non-json body');
/** Marker body for a JSON request with an empty body. */
export const EMPTY_BODY = Symbol('empty body');

declare module 'fastify' {
  interface FastifyRequest {
    /** Bounds the calls the request makes to other services (set as it reaches its route, deadline.ts). */
    callDeadline: CallDeadline | null;
  }
}

/** The clients of the other services, each call bounded by one request's deadline. */
export interface RequestCalls {
  tenants?: TenantClient;
  s3?: S3Client;
  ims?: ImsClient;
  hsm?: HsmClient;
}

export class ServerContext {
  private appliedLevel: string | undefined;

  constructor(
    readonly store: Store,
    readonly clock: Clock,
    readonly log: FastifyBaseLogger,
    private readonly tenants?: TenantClient,
    private readonly s3?: S3Client,
    private readonly ims?: ImsClient,
    /** HSM, for session previews only (docs/rollouts.md, "Previewing a session"). */
    private readonly hsm?: HsmClient,
    /** Told the options each time a request reads them (the API's own clients follow their timeouts). */
    private readonly onOptions?: (options: Options) => void,
  ) {}

  /** The current timestamp in wire format. */
  now(): string {
    return formatTimestamp(this.clock.now());
  }

  /**
   * The stored options object (frozen), with defaults written back when any default key is missing.
   * The requests that ask in one turn of the event loop share one read, sent once all of them have
   * asked, so none sees less than a write completed before it asked: a boot's 100,000 state reports
   * would otherwise each read and parse the options.
   */
  storedOptions(): Promise<Readonly<Record<string, unknown>>> {
    let read = this.nextRead;
    if (read === undefined) {
      read = this.nextRead = new Promise<void>((resolve) => setImmediate(resolve)).then(() => {
        this.nextRead = undefined;
        return this.readStoredOptions();
      });
    }
    return read;
  }

  /** The read of the stored options that the requests asking now will share; not sent yet. */
  private nextRead: Promise<Readonly<Record<string, unknown>>> | undefined;

  private async readStoredOptions(): Promise<Readonly<Record<string, unknown>>> {
    let stored = await this.store.getOptions();
    if (!stored || OPTION_NAMES.some((k) => !(k in stored!))) {
      // Filled in atomically: another replica may be writing the options at the same moment.
      stored = await this.store.updateOptions((cur) => (cur && OPTION_NAMES.every((k) => k in cur) ? undefined : { ...OPTION_DEFAULTS, ...(cur ?? {}) }));
    }
    this.applyLogLevel(stored!.logging_level);
    return Object.freeze(stored!);
  }

  /**
   * Options as the server uses them (docs/api.md, "Options on every request"): refreshed from the store
   * on every call.
   */
  async options(): Promise<Options> {
    const stored = await this.storedOptions();
    // Options stored as they were at the last request resolve as they did then: the options resolved
    // then are given again (frozen, shared by the requests), instead of every value being checked again.
    let kept = this.resolved;
    if (kept?.stored !== stored) {
      const options = kept && sameFlatObject(kept.stored, stored) ? kept.options : Object.freeze(resolveOptions(stored));
      this.resolved = kept = { stored, options };
    }
    this.onOptions?.(kept.options);
    return kept.options;
  }

  /** The stored options (frozen) of the last request that resolved them, and what they resolved to. */
  private resolved: { stored: Readonly<Record<string, unknown>>; options: Options } | undefined;

  applyLogLevel(level: unknown): void {
    if (typeof level !== 'string') return;
    const target = pinoLevel(level);
    if (!target || target === this.appliedLevel) return;
    this.appliedLevel = target;
    try {
      this.log.level = target;
    } catch {
      // a disabled logger has no levels to set
    }
  }

  /**
   * The clients of the other services for `req`, every call bounded by its deadline (docs/operations.md,
   * "Bounded waits"). A request that has none yet (one not sent through the routes) gets one now.
   */
  calls(req: FastifyRequest): RequestCalls {
    const deadline = deadlineOf(req);
    return { tenants: bounded(this.tenants, deadline), s3: bounded(this.s3, deadline), ims: bounded(this.ims, deadline), hsm: bounded(this.hsm, deadline) };
  }

  /**
   * The tenant's component set for a tenant-checked endpoint: undefined when there is no tenant; a
   * tenant unknown to the tenant service (or no tenant service configured) → 400 Invalid tenant.
   */
  async tenantSet(req: FastifyRequest, tenant: string, invalidDetail = `Data not found for tenant ${tenant}`): Promise<Set<string> | undefined> {
    if (!tenant) return undefined;
    const set = await this.tenantXnames(req, tenant);
    if (!set) throw invalidTenant(invalidDetail);
    return set;
  }

  /** The tenant's component set where an unknown tenant simply owns nothing. */
  async tenantSetLenient(req: FastifyRequest, tenant: string): Promise<Set<string> | undefined> {
    if (!tenant) return undefined;
    return (await this.tenantXnames(req, tenant)) ?? new Set();
  }

  /** The tenant service's set for `tenant`, within `req`'s deadline; null when unknown or no tenant service is configured. */
  private async tenantXnames(req: FastifyRequest, tenant: string): Promise<Set<string> | null> {
    const tenants = bounded(this.tenants, deadlineOf(req));
    return tenants ? tenants.tenantXnames(tenant) : null;
  }

  /** Boot-artifact records for the BSS tokens these documents carry. */
  async artifactsFor(docs: Iterable<ComponentPatch>): Promise<Map<string, BootArtifactsRecord>> {
    const out = new Map<string, BootArtifactsRecord>();
    for (const token of tokensToResolve(docs)) {
      const rec = await this.store.bootArtifacts.get(token);
      if (rec) out.set(token, rec);
      else this.log.warn('a component reported a BSS token with no boot-artifacts record: actual_state.boot_artifacts left as given');
    }
    return out;
  }
}

// ---------------------------------------------------------------- request helpers

/** The deadline of `req`'s calls to other services: set as it reaches its route, else from now. */
function deadlineOf(req: FastifyRequest): CallDeadline {
  return (req.callDeadline ??= callDeadline());
}

/** The caller's tenant: the Cray-Tenant-Name header, '' when absent or empty. */
export function tenantOf(req: FastifyRequest): string {
  const h = req.headers[TENANT_HEADER.toLowerCase()];
  const v = Array.isArray(h) ? h[0] : h;
  if (!v) return '';
  if (v.length > 127) throw badRequest(`${JSON.stringify(v.slice(0, 40))}... is too long - '${TENANT_HEADER}'`);
  return v;
}

/** First value of a query parameter (repeated parameters: the first one is used). */
export function queryParam(req: FastifyRequest, name: string): string | undefined {
  const q = req.query as Record<string, string | string[] | undefined>;
  const v = q[name];
  return Array.isArray(v) ? v[0] : v;
}

/** A boolean query parameter (`true`/`false`, any case); undefined when absent. */
export function queryBool(req: FastifyRequest, name: string): boolean | undefined {
  const v = queryParam(req, name);
  if (v === undefined) return undefined;
  const l = v.toLowerCase();
  if (l === 'true') return true;
  if (l === 'false') return false;
  throw badRequest(`Wrong type, expected 'boolean' for query parameter '${name}'`);
}

/** An integer query parameter; undefined when absent. */
export function queryInt(req: FastifyRequest, name: string): number | undefined {
  const v = queryParam(req, name);
  if (v === undefined) return undefined;
  if (!/^[+-]?\d+$/.test(v.trim())) throw badRequest(`Wrong type, expected 'integer' for query parameter '${name}'`);
  return Number(v.trim());
}

/** Validate a parameter value against a named schema, naming the parameter on failure. */
export function checkParam(name: string, value: unknown, schema: string): void {
  if (value === undefined) return;
  const err = check(schema, value);
  if (err) throw badRequest(`${err} - '${name}'`);
}

/** A path parameter, validated against its schema. */
export function pathParam(req: FastifyRequest, name: string, schema: string): string {
  const v = (req.params as Record<string, string>)[name] ?? '';
  checkParam(name, v, schema);
  return v;
}

/**
 * The JSON request body validated against a named schema (request variant). `optional` bodies may be
 * absent (undefined is returned).
 */
export function jsonBody<T>(req: FastifyRequest, schema: string | undefined, opts: { optional?: boolean } = {}): T {
  const body = req.body as unknown;
  // A body of another media type is refused before its content is looked at, as upstream's framework does.
  if (body === NON_JSON) {
    const type = String(req.headers['content-type'] ?? '').split(';')[0]!.trim();
    throw new Problem(415, 'Unsupported Media Type', `Invalid Content-type (${type}), expected JSON data`);
  }
  if (body === undefined || body === EMPTY_BODY) {
    if (opts.optional) return undefined as T;
    throw badRequest('Error parsing the data provided: the request has no JSON body');
  }
  if (schema) {
    const err = check(schema, body);
    if (err) throw badRequest(err);
  }
  return body as T;
}

/**
 * Whether the request asks for no answer body (`Prefer: return=minimal`, RFC 7240), as the operators'
 * bulk patches and the nodes' state reports do: they do not read the updated records.
 */
function prefersMinimal(req: FastifyRequest): boolean {
  const h = req.headers.prefer;
  if (!h) return false;
  return (Array.isArray(h) ? h.join(',') : h)
    .split(',')
    .some((p) => p.split(';')[0]!.trim().toLowerCase().replace(/\s+/g, '') === 'return=minimal');
}

/**
 * Send a write's answer: the records written, or, when the client prefers a minimal answer, 204
 * without a body (`Preference-Applied: return=minimal`).
 */
export function sendWritten(req: FastifyRequest, reply: FastifyReply, body: unknown): FastifyReply {
  if (prefersMinimal(req)) return reply.code(204).header('preference-applied', 'return=minimal').send();
  return sendJson(reply, 200, body);
}

/**
 * sendWritten() for components the store has just written (its own records, handed over): their
 * JSON from the remembered texts of their states (record-json.ts), the very bytes JSON.stringify
 * gives. A bulk PATCH of a boot set's desired state answers with thousands of records.
 */
export function sendWrittenComponents(req: FastifyRequest, reply: FastifyReply, records: readonly Component[]): FastifyReply {
  if (prefersMinimal(req)) return reply.code(204).header('preference-applied', 'return=minimal').send();
  if (accepts(req, IDS_MEDIA_TYPE)) return sendJsonItems(reply, 200, records, idJson, IDS_MEDIA_TYPE);
  return sendJsonItems(reply, 200, records, storedPieces);
}

const idJson = (c: Component): string[] => [JSON.stringify(c.id)];

/** Whether the Accept header names `type` (with any quality above 0). */
export function accepts(req: FastifyRequest, type: string): boolean {
  const accept = req.headers.accept;
  if (!accept || !accept.includes(type)) return false;
  return accept.split(',').some((range) => {
    const [name, ...params] = range.split(';').map((p) => p.trim());
    if (name !== type) return false;
    const q = params.find((p) => p.startsWith('q='));
    return q === undefined || Number(q.slice(2)) > 0;
  });
}

/** Send a JSON answer (serialised here: plain JSON.stringify is the fastest path for large arrays). */
export function sendJson(reply: FastifyReply, status: number, body: unknown): FastifyReply {
  return reply.code(status).type('application/json').send(JSON.stringify(body) + '\n');
}

const STREAM_BATCH = 1000;

/**
 * Send a JSON array whose items are already serialised (`toJson` gives each item's JSON text as
 * pieces to join): the answer is assembled by writing each piece once into a buffer of the right
 * size (joining the texts first and then encoding the joined string copies every byte twice),
 * streamed in batches when large.
 */
export function sendJsonItems<T>(reply: FastifyReply, status: number, items: readonly T[], toJson: (item: T) => readonly string[], type = 'application/json'): FastifyReply {
  reply.code(status).type(type);
  const part = (from: number, to: number): Buffer => {
    const texts: (readonly string[])[] = new Array(to - from);
    // a bracket or comma before each item; at the end "]\n", after a "[" of its own when there are no items
    let size = to - from + (to === items.length ? 2 : 0) + (items.length === 0 ? 1 : 0);
    for (let j = from; j < to; j++) size += piecesLength((texts[j - from] = toJson(items[j]!)));
    const buf = Buffer.allocUnsafe(size);
    let at = 0;
    for (let j = from; j < to; j++) {
      buf[at++] = j === 0 ? OPEN_BRACKET : COMMA;
      at += writePieces(buf, at, texts[j - from]!);
    }
    if (to === items.length) {
      if (items.length === 0) buf[at++] = OPEN_BRACKET;
      at += buf.write(']\n', at);
    }
    return at === size ? buf : buf.subarray(0, at);
  };
  if (items.length <= STREAM_BATCH * 2) return reply.send(part(0, items.length));
  function* chunks(): Generator<Buffer> {
    for (let i = 0; i < items.length; i += STREAM_BATCH) yield part(i, Math.min(items.length, i + STREAM_BATCH));
  }
  return reply.send(Readable.from(chunks(), { objectMode: false }));
}

const OPEN_BRACKET = 0x5b; // [
const COMMA = 0x2c;

export function sendProblem(reply: FastifyReply, p: Problem): FastifyReply {
  for (const [k, v] of Object.entries(p.headers)) reply.header(k, v);
  return reply.code(p.status).type('application/problem+json').send(JSON.stringify(p.body()) + '\n');
}
