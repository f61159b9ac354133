/**
 * The development token issuer of `bos up --auth`: a key pair made at start, and tokens signed with
 * it for the administrator, the operators and each simulated node, so the whole system runs with
 * token verification on (docs/security.md). Not for production: the key lives in the process.
 */
import { exportJWK, generateKeyPair, SignJWT, type CryptoKey, type JSONWebKeySet, type JWTPayload } from 'jose';
import type { TokenSource } from '../../clients/http.js';
import { TokenVerifier } from './verifier.js';

const DEV_ISSUER = 'urn:bos:development-issuer';
const DEV_AUDIENCE = 'bos';
const KEY_ID = 'bos-dev-1';

export class DevIssuer {
  private constructor(
    private readonly privateKey: CryptoKey,
    readonly jwks: JSONWebKeySet,
  ) {}

  static async create(): Promise<DevIssuer> {
    const { privateKey, publicKey } = await generateKeyPair('ES256');
    const jwk = { ...(await exportJWK(publicKey)), kid: KEY_ID, alg: 'ES256', use: 'sig' };
    return new DevIssuer(privateKey, { keys: [jwk] });
  }

  /** A verifier of this issuer's tokens. */
  verifier(): TokenVerifier {
    return new TokenVerifier({ jwks: this.jwks, issuer: DEV_ISSUER, audience: DEV_AUDIENCE });
  }

  /** A signed token with `claims`, valid for `ttlSeconds`. */
  mint(subject: string, claims: JWTPayload, ttlSeconds: number): Promise<string> {
    return new SignJWT(claims)
      .setProtectedHeader({ alg: 'ES256', kid: KEY_ID })
      .setIssuer(DEV_ISSUER)
      .setAudience(DEV_AUDIENCE)
      .setSubject(subject)
      .setIssuedAt()
      .setExpirationTime(`${ttlSeconds}s`)
      .sign(this.privateKey);
  }

  /** Tokens with `claims` as a client sends them: signed again before the last one expires. */
  source(subject: string, claims: JWTPayload, ttlSeconds = 3600): TokenSource {
    let current: { token: Promise<string>; renewAt: number } | undefined;
    return {
      get: () => {
        const now = Date.now();
        if (!current || now >= current.renewAt) current = { token: this.mint(subject, claims, ttlSeconds), renewAt: now + (ttlSeconds * 1000) / 2 };
        return current.token;
      },
    };
  }
}
