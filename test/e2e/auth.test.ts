/**
 * The whole system under token verification, with tokens from a real OpenID provider (oidc-provider,
 * client-credentials grants): the operators call BOS with an admin token, each simulated node reports
 * its state with a node token naming its xname, and a boot completes. An administrator, a monitor and
 * a node can do exactly what their tokens allow.
 */
import { pino } from 'pino';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { TokenSource } from '../../src/clients/http.js';
import { TokenVerifier } from '../../src/server/auth/verifier.js';
import type { RunningSystem } from '../../src/system.js';
import { MachineRoom } from '../../src/sim/index.js';
import { bootTemplate, bos, checkOutcome, startFaultSystem, startSession, waitComplete, waitDiscovered, x86ComputeNodes } from '../faults/harness.js';
import { startOidcProvider, type TestOidcProvider } from '../helpers/oidc.js';

const NODES = 16;
let oidc: TestOidcProvider;
let sys: RunningSystem;
const lines: Record<string, unknown>[] = [];

/** Tokens from the provider, fetched once per client (they are valid for 10 minutes). */
function cached(clientId: string): TokenSource {
  let token: Promise<string> | undefined;
  return { get: () => (token ??= oidc.token(clientId)) };
}

beforeAll(async () => {
  const xnames = new MachineRoom({ nodes: NODES, seed: 7 }).nodes().map((n) => n.id);
  oidc = await startOidcProvider({
    audience: 'bos',
    clients: [
      { id: 'bos-operators', roles: ['admin'] },
      { id: 'admin-user', roles: ['admin'] },
      { id: 'monitor-user', roles: ['monitor'] },
      ...xnames.map((x) => ({ id: `node-${x}`, roles: ['system-compute'], xname: x })),
    ],
  });
  const nodeTokens = new Map(xnames.map((x) => [x, cached(`node-${x}`)]));
  const logger = pino({ level: 'info' }, { write: (l: string) => lines.push(JSON.parse(l)) });
  sys = await startFaultSystem({
    nodes: NODES,
    logger,
    auth: {
      verifier: new TokenVerifier({ issuer: oidc.issuer, audience: 'bos' }),
      operatorsToken: cached('bos-operators'),
      nodeToken: (x) => nodeTokens.get(x)!.get(),
    },
  });
}, 60_000);
afterAll(async () => {
  await sys?.close();
  await oidc?.close();
});

describe('the whole system with verified tokens', () => {
  it('boots the compute nodes: the operators with their admin token, each node reporting with its own', async () => {
    const token = await oidc.token('admin-user');
    const call = bos(sys.bosUrl, { authorization: `Bearer ${token}` });
    await waitDiscovered(call, sys.room);
    const nodes = x86ComputeNodes(sys.room);
    const session = await startSession(call, bootTemplate());
    await waitComplete(call, session);
    const { stable } = await checkOutcome(sys, call, session, { nodes, services: ['bos'], templates: ['faults'] });
    expect(stable.length).toBe(nodes.length);
    // Every node's report went in with its own token: they are in the audit log under the node's name.
    const reports = lines.filter((l) => l.audit === true && l.method === 'PATCH' && String(l.path).startsWith('/apis/bos/v2/components/x'));
    for (const id of nodes) expect(reports.some((l) => l.subject === `node-${id}` && l.status === 204), id).toBe(true);
    expect(lines.some((l) => l.audit === true && l.subject === 'bos-operators' && l.method === 'PATCH')).toBe(true);
    expect(lines.some((l) => l.audit === true && l.subject === 'admin-user' && l.method === 'POST' && l.status === 201)).toBe(true);
    expect(sys.room.nodes().filter((n) => nodes.includes(n.id)).every((n) => n.reportFailures === 0)).toBe(true);
  });

  it('a monitor reads but cannot start a session; without a token nothing but the open endpoints answers', async () => {
    const monitor = bos(sys.bosUrl, { authorization: `Bearer ${await oidc.token('monitor-user')}` });
    expect((await monitor('GET', '/components')).status).toBe(200);
    const refused = await monitor('POST', '/sessions', { template_name: 'faults', operation: 'reboot' });
    expect(refused.status).toBe(403);
    expect(refused.body.detail).toMatch(/monitor role may only read \(GET\); POST needs the admin role \(token subject monitor-user\)/);
    const anonymous = bos(sys.bosUrl);
    expect((await anonymous('GET', '/components')).status).toBe(401);
    expect((await anonymous('GET', '/version')).status).toBe(200);
    const node = bos(sys.bosUrl, { authorization: `Bearer ${await oidc.token(`node-${sys.room.nodes()[0]!.id}`)}` });
    expect((await node('GET', '/components')).status).toBe(403);
    expect(lines.some((l) => l.audit === true && l.subject === 'monitor-user' && l.status === 403)).toBe(true);
  });
});
