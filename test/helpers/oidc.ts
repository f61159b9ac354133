import { exportJWK, generateKeyPair } from 'jose';
import Provider from 'oidc-provider';
import { freePort } from './net.js';

/** The resource indicator token requests name (an absolute URI, as oidc-provider wants); the tokens' `aud` is the audience. */
const RESOURCE = 'urn:bos:api';

/** A client of the test OpenID provider, with the claims its access tokens carry. */
export interface OidcClient {
  id: string;
  /** Keycloak-style `realm_access.roles`. */
  roles?: string[];
  tenant?: string | string[];
  xname?: string;
}

export interface TestOidcProvider {
  /** The issuer URL (`iss`), with OpenID discovery at `<issuer>/.well-known/openid-configuration`. */
  issuer: string;
  audience: string;
  /** A client-credentials access token (a signed JWT) for the client. */
  token(clientId: string): Promise<string>;
  close(): Promise<void>;
}

/**
 * A real OpenID provider (`oidc-provider`) on loopback, issuing client-credentials access tokens as
 * RS256 JWTs for `audience`, with each client's roles, tenant and xname as claims.
 */
export async function startOidcProvider(opts: { audience: string; clients: OidcClient[] }): Promise<TestOidcProvider> {
  const port = await freePort();
  const issuer = `http://127.0.0.1:${port}`;
  const { privateKey } = await generateKeyPair('RS256', { extractable: true });
  const jwk = { ...(await exportJWK(privateKey)), alg: 'RS256', use: 'sig', kid: 'test-key-1' };
  const byId = new Map(opts.clients.map((c) => [c.id, c]));
  const secret = (id: string) => `secret-of-${id}`;
  const provider = new Provider(issuer, {
    clients: opts.clients.map((c) => ({
      client_id: c.id,
      client_secret: secret(c.id),
      grant_types: ['client_credentials'],
      redirect_uris: [],
      response_types: [],
    })),
    jwks: { keys: [jwk] },
    features: {
      clientCredentials: { enabled: true },
      devInteractions: { enabled: false },
      resourceIndicators: {
        enabled: true,
        defaultResource: () => RESOURCE,
        useGrantedResource: () => true,
        getResourceServerInfo: () => ({ scope: '', audience: opts.audience, accessTokenFormat: 'jwt', accessTokenTTL: 600, jwt: { sign: { alg: 'RS256' } } }),
      },
    },
    extraTokenClaims: (_ctx: unknown, token: { clientId?: string }) => {
      const c = byId.get(token.clientId ?? '');
      if (!c) return undefined;
      return {
        ...(c.roles ? { realm_access: { roles: c.roles } } : {}),
        ...(c.tenant !== undefined ? { tenant: c.tenant } : {}),
        ...(c.xname ? { xname: c.xname } : {}),
      };
    },
  } as never);
  const server = provider.listen(port, '127.0.0.1');
  await new Promise<void>((resolve) => server.once('listening', () => resolve()));
  return {
    issuer,
    audience: opts.audience,
    async token(clientId) {
      const r = await fetch(`${issuer}/token`, {
        method: 'POST',
        headers: {
          'content-type': 'application/x-www-form-urlencoded',
          authorization: `Basic ${Buffer.from(`${clientId}:${secret(clientId)}`).toString('base64')}`,
        },
        body: new URLSearchParams({ grant_type: 'client_credentials', resource: RESOURCE }).toString(),
      });
      const body = (await r.json()) as { access_token?: string; error?: string; error_description?: string };
      if (!body.access_token) throw new Error(`the test OpenID provider refused a token for ${clientId}: ${body.error} ${body.error_description ?? ''}`);
      return body.access_token;
    },
    async close() {
      server.closeAllConnections?.();
      await new Promise<void>((resolve) => server.close(() => resolve()));
    },
  };
}
