/**
 * Verification of bearer tokens (JWTs) with `jose`: the signature (RS256 or ES256) against the
 * issuer's published keys (found by OpenID discovery, or a JWKS URL; fetched once, cached, and
 * fetched again when a token names a key not yet known), and the `iss`, `aud`, `exp` and `nbf`
 * claims. A verified token string is remembered until it expires, so a client sending the same token
 * with every request (the operators, each node) pays for the signature check once (docs/security.md).
 */
import { createLocalJWKSet, createRemoteJWKSet, errors, jwtVerify, type JSONWebKeySet, type JWTVerifyGetKey } from 'jose';
import { DEFAULT_CLAIMS, DEFAULT_ROLES, principalOf, type ClaimPaths, type Principal, type RoleNames } from './access.js';

export interface AuthSettings {
  /** The issuer (`iss`); its keys are found by OpenID discovery unless `jwksUrl` is given. */
  issuer?: string;
  /** Where the issuer publishes its keys (JWKS). */
  jwksUrl?: string;
  /** Keys given directly (the development issuer of `bos up --auth`). */
  jwks?: JSONWebKeySet;
  /** The audience (`aud`) tokens must be for. */
  audience?: string;
  claims?: Partial<ClaimPaths>;
  roles?: Partial<RoleNames>;
}

/** The token is missing or does not verify: 401. */
export class TokenRefused extends Error {
  constructor(message: string) {
    super(message);
    this.name = 'TokenRefused';
  }
}

/** The issuer's keys cannot be fetched: tokens cannot be checked now (503). */
export class KeysUnavailable extends Error {
  constructor(message: string) {
    super(message);
    this.name = 'KeysUnavailable';
  }
}

const ALGORITHMS = ['RS256', 'ES256'];
/** Verified tokens remembered (each until it expires). */
const REMEMBERED_MAX = 20_000;
const FETCH_TIMEOUT_MS = 5_000;

export class TokenVerifier {
  readonly claims: ClaimPaths;
  readonly roles: RoleNames;
  private keys: Promise<JWTVerifyGetKey> | undefined;
  private readonly remembered = new Map<string, { principal: Principal; exp?: number; nbf?: number }>();

  constructor(private readonly settings: AuthSettings) {
    if (!settings.issuer && !settings.jwksUrl && !settings.jwks) throw new Error('token verification needs an issuer, a JWKS URL or keys');
    this.claims = { ...DEFAULT_CLAIMS, ...settings.claims };
    this.roles = { ...DEFAULT_ROLES, ...settings.roles };
  }

  /** Where the keys come from, for messages. */
  get keySource(): string {
    return this.settings.jwksUrl ?? (this.settings.issuer ? `${this.settings.issuer} (OpenID discovery)` : 'the given key set');
  }

  /** The principal of a valid token; throws TokenRefused (or KeysUnavailable) otherwise. */
  async verify(token: string): Promise<Principal> {
    const now = Date.now() / 1000;
    const known = this.remembered.get(token);
    if (known && (known.exp === undefined || known.exp > now) && (known.nbf === undefined || known.nbf <= now)) return known.principal;
    const keys = await this.keySet();
    let payload: Record<string, unknown>;
    try {
      ({ payload } = await jwtVerify(token, keys, {
        algorithms: ALGORITHMS,
        ...(this.settings.issuer ? { issuer: this.settings.issuer } : {}),
        ...(this.settings.audience ? { audience: this.settings.audience } : {}),
      }));
    } catch (err) {
      throw this.explain(err);
    }
    const principal = principalOf(payload, this.claims);
    if (this.remembered.size >= REMEMBERED_MAX) this.remembered.delete(this.remembered.keys().next().value!);
    this.remembered.set(token, { principal, exp: typeof payload.exp === 'number' ? payload.exp : undefined, nbf: typeof payload.nbf === 'number' ? payload.nbf : undefined });
    return principal;
  }

  private keySet(): Promise<JWTVerifyGetKey> {
    this.keys ??= this.loadKeys().catch((err: unknown) => {
      this.keys = undefined; // asked again with the next token
      throw err;
    });
    return this.keys;
  }

  private async loadKeys(): Promise<JWTVerifyGetKey> {
    const s = this.settings;
    if (s.jwks) return createLocalJWKSet(s.jwks);
    let url = s.jwksUrl;
    if (!url) {
      const where = `${s.issuer!.replace(/\/+$/, '')}/.well-known/openid-configuration`;
      let doc: { jwks_uri?: unknown };
      try {
        const r = await fetch(where, { signal: AbortSignal.timeout(FETCH_TIMEOUT_MS) });
        if (!r.ok) throw new Error(`HTTP ${r.status}`);
        doc = (await r.json()) as { jwks_uri?: unknown };
      } catch (err) {
        throw new KeysUnavailable(`cannot read the token issuer's OpenID configuration at ${where} (${(err as Error).message}): check BOS_AUTH_ISSUER and that the issuer answers`);
      }
      if (typeof doc.jwks_uri !== 'string') throw new KeysUnavailable(`the OpenID configuration at ${where} names no jwks_uri: give BOS_AUTH_JWKS_URL`);
      url = doc.jwks_uri;
    }
    return createRemoteJWKSet(new URL(url), { timeoutDuration: FETCH_TIMEOUT_MS });
  }

  /** A one-line reason a token was refused, never the token itself. */
  private explain(err: unknown): Error {
    if (err instanceof errors.JWTExpired) return new TokenRefused('the token has expired');
    if (err instanceof errors.JWTClaimValidationFailed) {
      if (err.claim === 'nbf') return new TokenRefused('the token is not valid yet (nbf)');
      if (err.claim === 'aud') return new TokenRefused(`the token is not for this service (aud is not ${this.settings.audience})`);
      if (err.claim === 'iss') return new TokenRefused(`the token was not issued by ${this.settings.issuer}`);
      return new TokenRefused(`the token's ${err.claim} claim is not valid: ${err.reason}`);
    }
    if (err instanceof errors.JWSSignatureVerificationFailed) return new TokenRefused('the token signature does not verify');
    if (err instanceof errors.JWKSNoMatchingKey) return new TokenRefused(`the token was signed with a key ${this.keySource} does not publish`);
    if (err instanceof errors.JOSEAlgNotAllowed) return new TokenRefused(`the token is signed with an algorithm other than ${ALGORITHMS.join(' or ')}`);
    if (err instanceof errors.JWKSTimeout || (err instanceof Error && /fetch|ECONNREFUSED|network|Expected 200/i.test(err.message))) {
      return new KeysUnavailable(`cannot fetch the token issuer's keys from ${this.keySource} (${(err as Error).message})`);
    }
    if (err instanceof errors.JOSEError) return new TokenRefused(`the token is not a valid JWT (${err.code})`);
    return err instanceof Error ? err : new Error(String(err));
  }
}
