/**
 * The typed surface of every downstream client (docs/services.md). Operators depend on these
 * interfaces (and tests pass fakes); src/clients/*.ts implement them over HTTP; src/sim serves the
 * same wire. Clients know URLs and payloads, never policy.
 */
import type { ListingView } from '../common/status-view.js';
import type { BootArtifactsRecord, Component, Session, SessionTemplate } from '../common/types.js';
import type { Boundable } from './deadline.js';

/** A failed downstream call. `service` names the service in errors a component records. */
export class ServiceError extends Error {
  constructor(
    readonly service: ServiceName,
    readonly method: string,
    readonly path: string,
    /** HTTP status, or undefined for a timeout / connection failure / malformed answer. */
    readonly status: number | undefined,
    message: string,
  ) {
    super(message);
    this.name = 'ServiceError';
  }
}

export type ServiceName = 'bos' | 'hsm' | 'pcs' | 'bss' | 'cfs' | 'ims' | 's3' | 'tapms' | 'redis';

// ---------------------------------------------------------------- BOS
export interface ComponentQuery {
  ids?: string;
  session?: string;
  staged_session?: string;
  enabled?: boolean;
  phase?: string;
  /** Comma list; OR. */
  status?: string;
}

export interface ListPagesOptions {
  /** Ask for views instead of full records (where the API makes them). */
  view?: ListingView;
  /** Begin after this component id (start_after_id), as a page whose last record it was. */
  startAfter?: string;
}

export interface BosClient {
  getOptions(): Promise<Record<string, unknown>>;
  /**
   * Paged with page_size = pageSize (0 → one unpaged request) and start_after_id. With `limit` > 0,
   * at most that many components (the first in id order): pages of at most `limit`, no further
   * page once `limit` are read — an existence check costs one small request.
   */
  listComponents(query: ComponentQuery, pageSize: number, opts?: { limit?: number; view?: ListingView }): Promise<Component[]>;
  /**
   * The same listing (no `ids` filter) page by page, for callers that work through a large listing
   * without holding all of it (a page size of 0 gives one page with everything). Optional: a client
   * without it is used through listComponents. With a `view` the API is asked for status or desired
   * views (common/status-view.ts); an API that does not make them answers full records.
   */
  listComponentPages?(query: Omit<ComponentQuery, 'ids'>, pageSize: number, opts?: ListPagesOptions): AsyncIterable<Component[]>;
  /**
   * Read again a page listComponentPages yielded, conditionally (If-None-Match with the entity tag
   * the API sent with it): 'unchanged' when the API answers 304 Not Modified, else the page as it is
   * now. undefined when the API sent no tag (upstream BOS) or the page is not one of this client's.
   */
  rereadPage?(page: Component[]): Promise<Component[] | 'unchanged' | undefined>;
  /**
   * Bulk PATCH, list form; `skipBadIds` adds skip_bad_ids=true. Chunked by `chunkSize` (0 → one).
   * With `discardAnswer` the updated records are not read (the answer is only checked to be an
   * array) and the result is empty: for writers that do not use them (at 100,000 components the
   * answers are as large as a full listing). With `idsOnly` the records come back holding only
   * their id, each chunk's answer let go once read (for a caller that wants to know which were found).
   */
  patchComponents(patches: Partial<Component>[], opts?: { skipBadIds?: boolean; chunkSize?: number; discardAnswer?: boolean; idsOnly?: boolean }): Promise<Component[]>;
  /** Bulk PATCH, filter form. */
  patchComponentsByFilter(
    patch: Partial<Component>,
    filters: { ids: string } | { session: string },
    opts?: { skipBadIds?: boolean },
  ): Promise<Component[]>;
  /** Bulk PUT; with `discardAnswer` the records written are not read back and the result is empty (as for patchComponents). */
  putComponents(records: Component[], opts?: { discardAnswer?: boolean }): Promise<Component[]>;
  listSessions(query?: { status?: string; min_age?: string; max_age?: string }): Promise<Session[]>;
  patchSession(name: string, tenant: string | null, patch: { status?: Partial<Session['status']>; components?: string }): Promise<Session>;
  saveSessionStatus(name: string, tenant: string | null): Promise<unknown>;
  deleteSessions(query: { status?: string; min_age?: string; max_age?: string }): Promise<void>;
  getSessionTemplate(name: string, tenant: string | null): Promise<SessionTemplate>;
}

// ---------------------------------------------------------------- HSM
export interface HsmComponent {
  ID: string;
  Type?: string;
  State?: string;
  Flag?: string;
  Enabled?: boolean;
  Role?: string;
  SubRole?: string;
  NID?: number;
  NetType?: string;
  Arch?: string;
  Class?: string;
}
export interface HsmGroup {
  label: string;
  description?: string;
  tags?: string[];
  exclusiveGroup?: string;
  members: { ids: string[] };
}
export interface HsmPartition {
  name: string;
  description?: string;
  members: { ids: string[] };
}
export interface HsmLock {
  ID: string;
  Locked?: boolean;
  Reserved?: boolean;
  ReservationDisabled?: boolean;
  CreatedTime?: string;
  ExpirationTime?: string;
}
export interface HsmClient extends Boundable<HsmClient> {
  /** GET /State/Components (every component). */
  listComponents(): Promise<HsmComponent[]>;
  /** POST /State/Components/Query; empty ids → [] without a call. */
  queryComponents(ids: readonly string[], opts?: { enabled?: boolean }): Promise<HsmComponent[]>;
  listGroups(): Promise<HsmGroup[]>;
  listPartitions(): Promise<HsmPartition[]>;
  /** GET /locks/status?type=Node&locked=True → ids of locked nodes. */
  lockedNodes(): Promise<Set<string>>;
}

// ---------------------------------------------------------------- TAPMS
export interface TenantClient extends Boundable<TenantClient> {
  /** Union of status.tenantresources[].xnames; null when the tenant does not exist (404). '' → empty set, no call. */
  tenantXnames(tenant: string): Promise<Set<string> | null>;
}

// ---------------------------------------------------------------- PCS
export type PowerState = 'on' | 'off' | 'undefined' | string;
export type PowerOperation = 'On' | 'Soft-Off' | 'Force-Off';
export interface PcsClient {
  /** POST /power-status {xname: ids}; map id → state ('on'|'off'|'undefined', or the error text). Empty → no call. */
  powerStatus(ids: readonly string[]): Promise<Map<string, PowerState>>;
  /** POST /transitions; throws without a call on an empty list. */
  transition(operation: PowerOperation, ids: readonly string[]): Promise<{ transitionID?: string }>;
}

// ---------------------------------------------------------------- BSS
export interface BssClient {
  /** PUT /bootparameters; returns the bss-referral-token response header. Throws on empty hosts. */
  setBootParameters(hosts: readonly string[], params: string, kernel: string, initrd: string): Promise<string>;
}

// ---------------------------------------------------------------- CFS
export interface CfsComponent {
  id: string;
  desired_config?: string;
  configuration_status?: 'unconfigured' | 'pending' | 'failed' | 'configured' | string;
  enabled?: boolean;
  error_count?: number;
  tags?: Record<string, string>;
  state?: unknown[];
}
export interface CfsClient {
  /** GET /components following `next`; with ids: batches of 200; without: every component. */
  getComponents(ids?: readonly string[]): Promise<CfsComponent[]>;
  /** Every component page by page as CFS pages them, where the client can (else getComponents() is used). */
  componentPages?(): AsyncIterable<CfsComponent[]>;
  /** PATCH /components grouped into batches of 1000 ids, one desired config / session tag per call. */
  setDesiredConfig(
    ids: readonly string[],
    config: string,
    opts: { enabled: boolean; session?: string; clearState?: boolean },
  ): Promise<void>;
}

// ---------------------------------------------------------------- IMS
export interface ImsImage {
  id: string;
  name?: string;
  arch?: string;
  created?: string;
  link?: { path: string; etag?: string; type?: string } | null;
  metadata?: Record<string, string>;
}
export interface ImsClient extends Boundable<ImsClient> {
  getImage(id: string): Promise<ImsImage>;
  listImages(): Promise<ImsImage[]>;
  tagImage(id: string, key: string, value?: string, operation?: 'set' | 'remove'): Promise<void>;
}

// ---------------------------------------------------------------- S3
export interface S3Object {
  body: Buffer;
  etag?: string;
  contentLength?: number;
}
export interface S3Client extends Boundable<S3Client> {
  /**
   * GetObject on an `s3://bucket/key` URL. With `maxBytes`, reading stops once the object is known to
   * be larger: `contentLength` then exceeds maxBytes and the body is empty or partial.
   */
  getObject(url: string, opts?: { maxBytes?: number }): Promise<S3Object>;
  headObject(url: string): Promise<{ etag?: string; contentLength?: number }>;
}

// ---------------------------------------------------------------- boot-artifact records
export interface BootArtifactsRecords {
  put(token: string, record: BootArtifactsRecord): Promise<void>;
  get(token: string): Promise<BootArtifactsRecord | undefined>;
}

/** Everything an operator may call. */
export interface Services {
  bos: BosClient;
  hsm: HsmClient;
  pcs: PcsClient;
  bss: BssClient;
  cfs: CfsClient;
  ims: ImsClient;
  s3: S3Client;
  tenants: TenantClient;
  bootArtifacts: BootArtifactsRecords;
}
