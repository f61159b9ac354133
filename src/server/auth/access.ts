/**
 * Who may do what, decided in one place from a verified token's claims (docs/security.md). Pure: a
 * principal and a request in, allowed or the reason refused out.
 *
 *   admin role          everything (within its tenants, when the token names any)
 *   monitor role        reads only (GET, and session previews)
 *   tenant claim        acts only with a Cray-Tenant-Name it names; without a role, as the
 *                       administrator of those tenants
 *   node role + xname   only its own state report: PATCH /v2/components/<its xname> of actual_state
 */

/** The role names the access rules use (configurable; these are the defaults). */
export interface RoleNames {
  admin: string;
  monitor: string;
  node: string;
}

export const DEFAULT_ROLES: Readonly<RoleNames> = Object.freeze({ admin: 'admin', monitor: 'monitor', node: 'system-compute' });

/** What a token says about its bearer. */
export interface Principal {
  /** `sub` (or the client id), for the audit log. */
  subject: string;
  roles: readonly string[];
  /** The tenants the token names; undefined when it names none. */
  tenants?: readonly string[];
  /** The node the token belongs to (node tokens). */
  xname?: string;
}

/** The part of a request the rules look at. */
export interface AccessRequest {
  method: string;
  /** The route template below the URL prefix, e.g. `/v2/components/:component_id`. */
  route: string;
  params: Readonly<Record<string, string>>;
  /** The Cray-Tenant-Name header, '' when absent. */
  tenant: string;
  /** The JSON body, when the request has one (a node's report is checked to hold its actual state only). */
  body?: unknown;
}

export type Decision = { allow: true } | { allow: false; reason: string };

const READS = new Set(['GET', 'HEAD', 'OPTIONS']);
const NODE_REPORT_KEYS = new Set(['id', 'actual_state']);

/** Requests answered without a token: the API's own description and health. */
export function isOpen(method: string, route: string): boolean {
  return READS.has(method) && (route === '/' || route === '/v2' || route === '/v2/version' || route === '/v2/healthz');
}

/** A session preview writes nothing: a read, though it is a POST. */
function isPreview(r: AccessRequest): boolean {
  return r.method === 'POST' && r.route === '/v2/sessionpreview';
}

export function decide(p: Principal, r: AccessRequest, roles: RoleNames = DEFAULT_ROLES): Decision {
  const has = (role: string) => p.roles.includes(role);
  if (has(roles.node) && !has(roles.admin)) {
    if (!p.xname) return refuse(`a ${roles.node} token must carry the node's xname claim`);
    const report = r.method === 'PATCH' && r.route === '/v2/components/:component_id';
    if (!report || r.params.component_id !== p.xname) {
      return refuse(`a ${roles.node} token may only report its own node's state: PATCH /v2/components/${p.xname}`);
    }
    const body = r.body;
    const keys = body && typeof body === 'object' && !Array.isArray(body) ? Object.keys(body) : [];
    if (keys.some((k) => !NODE_REPORT_KEYS.has(k)) || (keys.includes('id') && (body as { id?: unknown }).id !== p.xname)) {
      return refuse(`a ${roles.node} token may only change its node's actual_state`);
    }
    return { allow: true };
  }
  const tenants = p.tenants;
  if (tenants && tenants.length > 0) {
    if (!r.tenant) return refuse(`this token acts for tenant ${tenants.join(', ')} only: send the Cray-Tenant-Name header`);
    if (!tenants.includes(r.tenant)) return refuse(`this token may not act for tenant ${r.tenant} (it names ${tenants.join(', ')})`);
  }
  if (has(roles.admin)) return { allow: true };
  if (has(roles.monitor)) {
    return READS.has(r.method) || isPreview(r) ? { allow: true } : refuse(`the ${roles.monitor} role may only read (GET); ${r.method} needs the ${roles.admin} role`);
  }
  if (tenants && tenants.length > 0) return { allow: true };
  return refuse(`the token grants neither the ${roles.admin} nor the ${roles.monitor} role and names no tenant`);
}

function refuse(reason: string): Decision {
  return { allow: false, reason };
}

/** The value at a dotted claim path (`realm_access.roles`), or undefined. */
function claimAt(claims: Readonly<Record<string, unknown>>, path: string): unknown {
  let v: unknown = claims;
  for (const part of path.split('.')) {
    if (!v || typeof v !== 'object' || Array.isArray(v)) return undefined;
    v = (v as Record<string, unknown>)[part];
  }
  return v;
}

/** The claim paths a principal is read from (configurable; these are the defaults). */
export interface ClaimPaths {
  roles: string;
  tenant: string;
  xname: string;
}

export const DEFAULT_CLAIMS: Readonly<ClaimPaths> = Object.freeze({ roles: 'realm_access.roles', tenant: 'tenant', xname: 'xname' });

/** A principal from a verified token's claims. Strings or lists of strings count; anything else is ignored. */
export function principalOf(claims: Readonly<Record<string, unknown>>, paths: ClaimPaths = DEFAULT_CLAIMS): Principal {
  const strings = (v: unknown): string[] | undefined => {
    if (typeof v === 'string') return v === '' ? [] : [v];
    if (Array.isArray(v)) return v.filter((x): x is string => typeof x === 'string' && x !== '');
    return undefined;
  };
  const xname = claimAt(claims, paths.xname);
  const subject = typeof claims.sub === 'string' ? claims.sub : typeof claims.client_id === 'string' ? claims.client_id : '?';
  return {
    subject,
    roles: strings(claimAt(claims, paths.roles)) ?? [],
    tenants: strings(claimAt(claims, paths.tenant)),
    ...(typeof xname === 'string' && xname !== '' ? { xname } : {}),
  };
}
