/**
 * Malformed answers from downstream services. A loopback fake stands in front of one simulated
 * service (HSM, PCS, BSS or CFS): while it answers generated garbage (wrong types, truncated JSON,
 * HTML, empty bodies, odd statuses) the operators must not crash, must say which service failed
 * (an error on the components or a failed pass naming the service), and once the service answers
 * properly again the boot must finish.
 */
import fc from 'fast-check';
import Fastify, { type FastifyInstance } from 'fastify';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { createServices, gatewayUrls, storeBootArtifacts, type ClosableServices } from '../../src/clients/index.js';
import { OPTION_DEFAULTS } from '../../src/common/options.js';
import { startOperators, type RunningOperators } from '../../src/operators/index.js';
import type { RunningSystem } from '../../src/system.js';
import { bootTemplate, bos, captureLogger, checkOutcome, FAST_OPTIONS, startFaultSystem, startSession, transitionsPerNode, until, waitComplete, waitDiscovered } from '../faults/harness.js';

interface Garbage {
  status: number;
  contentType?: string;
  body: string;
}

const garbage: fc.Arbitrary<Garbage> = fc.record({
  status: fc.constantFrom(200, 200, 200, 201, 202, 299, 302, 404, 418, 500, 502),
  contentType: fc.option(fc.constantFrom('application/json', 'text/html', 'text/plain', 'application/octet-stream', 'application/problem+json'), { nil: undefined }),
  body: fc.oneof(
    fc.jsonValue({ maxDepth: 2 }).map((v) => JSON.stringify(v)),
    fc.constantFrom('', '{', '[1,', '{"Components":', '<html><body>502 Bad Gateway</body></html>', 'null', '{"status":null}', '{"transitionID":42}', '{"Components":[{"ID":7}]}', '{"status":[{"xname":1,"powerState":{}}]}', '[{"id":null}]'),
    fc.string({ maxLength: 40 }),
  ),
});

const SERVICES = {
  hsm: { key: 'hsmUrl', prefix: '/apis/smd/hsm/v2' },
  pcs: { key: 'pcsUrl', prefix: '/apis/power-control/v1' },
  bss: { key: 'bssUrl', prefix: '/apis/bss/boot/v1' },
  cfs: { key: 'cfsUrl', prefix: '/apis/cfs/v3' },
} as const;
type Svc = keyof typeof SERVICES;

/** Forwards to the simulator, or answers `bad` while it is set. */
async function startFake(target: string): Promise<{ url: string; app: FastifyInstance; set(g: Garbage | undefined): void; hits(): number }> {
  const app = Fastify({ logger: false });
  app.removeAllContentTypeParsers();
  app.addContentTypeParser('*', { parseAs: 'buffer' }, (_req, body, done) => done(null, body));
  let bad: Garbage | undefined;
  let hits = 0;
  app.all('/*', async (req, reply) => {
    if (bad) {
      hits++;
      reply.code(bad.status);
      if (bad.status === 302) reply.header('location', '/nowhere');
      if (bad.contentType) reply.header('content-type', bad.contentType);
      return reply.send(bad.body);
    }
    const headers: Record<string, string> = {};
    if (req.headers['content-type']) headers['content-type'] = String(req.headers['content-type']);
    const r = await fetch(target + req.url, {
      method: req.method,
      headers,
      body: req.method === 'GET' || req.method === 'HEAD' ? undefined : (req.body as Buffer | undefined),
    });
    reply.code(r.status);
    // Every header but the framing ones (BSS answers with its referral token in a header).
    r.headers.forEach((value, name) => {
      if (!['content-length', 'transfer-encoding', 'connection', 'keep-alive', 'content-encoding'].includes(name)) reply.header(name, value);
    });
    return reply.send(Buffer.from(await r.arrayBuffer()));
  });
  await app.listen({ port: 0, host: '127.0.0.1' });
  const addr = app.server.address();
  return {
    url: `http://127.0.0.1:${typeof addr === 'object' && addr ? addr.port : 0}`,
    app,
    set: (g) => (bad = g),
    hits: () => hits,
  };
}


let sys: RunningSystem;
let fake: Awaited<ReturnType<typeof startFake>>;
beforeAll(async () => {
  sys = await startFaultSystem({ operators: [], options: { logging_level: 'WARNING' } });
  fake = await startFake(sys.url);
});
afterAll(async () => {
  await fake?.app.close();
  await sys?.close();
});

function x86Compute(): string[] {
  return sys.room
    .nodes()
    .filter((n) => n.role === 'Compute' && n.arch !== 'ARM')
    .map((n) => n.id)
    .sort();
}

describe('garbage from a downstream service', () => {
  for (const svc of Object.keys(SERVICES) as Svc[]) {
    it(`${svc}: the operators say so and carry on; the next passes work once ${svc} is healthy`, async () => {
      const call = bos(sys.bosUrl);
      let round = 0;
      await fc.assert(
        fc.asyncProperty(garbage, fc.constantFrom<'boot' | 'reboot'>('boot', 'reboot'), async (g, op) => {
          round++;
          const cap = captureLogger('warn');
          let ops: RunningOperators | undefined;
          const services: ClosableServices = createServices({
            ...gatewayUrls(sys.url),
            [SERVICES[svc].key]: fake.url + SERVICES[svc].prefix,
            bootArtifacts: storeBootArtifacts(sys.store),
            options: () => ops?.options() ?? { ...OPTION_DEFAULTS, ...FAST_OPTIONS },
            retry: { retries: 2, backoffFactorMs: 20, maxBackoffMs: 100 },
          });
          ops = startOperators({ services, logger: cap.logger, minIntervalMs: 100 });
          try {
            await waitDiscovered(call, sys.room);
            const hitsBefore = fake.hits();
            const since = new Set(sys.room.transitions.keys());
            // A boot of nodes already booted with the image has nothing to do (and calls no BSS).
            const operation = op === 'boot' && sys.room.node(x86Compute()[0]!)!.booted ? 'reboot' : op;
            fake.set(g);
            const session = await startSession(call, bootTemplate(), operation, `garbage-${svc}-${round}`);
            await until(`the operators to meet ${svc}'s garbage`, async () => fake.hits() > hitsBefore, 20_000, 50);
            // The failure is reported: on a component, in a failed pass, or as a skipped record.
            await until(`an error naming ${svc}`, async () => {
              const named = new RegExp(`\\b${svc}\\b`);
              if (cap.lines.some((l) => named.test(l) && /"level":(40|50)/.test(l))) return true;
              const comps = (await call('GET', '/components')).body as { error?: string }[];
              return comps.some((c) => named.test(c.error ?? ''));
            }, 20_000, 100);
            fake.set(undefined);
            const done = await waitComplete(call, session, 45_000);
            if (done.status.error) {
              // Session setup met a permanent (4xx) answer: the session fails as a whole, naming the
              // service, and touches no node.
              expect(done.status.error).toMatch(new RegExp(`\\b${svc}\\b`));
              expect(transitionsPerNode(sys.room, ['On', 'Soft-Off', 'Off', 'Force-Off'], since).size).toBe(0);
              const comps = (await call('GET', '/components')).body as { session?: string }[];
              for (const c of comps) expect(c.session ?? '').not.toBe(session);
            } else {
              await checkOutcome(sys, call, session, { nodes: x86Compute(), services: [svc], since, allowOnHold: svc === 'pcs' || svc === 'cfs' });
            }
          } finally {
            fake.set(undefined);
            await ops.stop();
            await services.close();
          }
        }),
        // Each run is a boot of its own: few runs, no shrinking (a failure shows its own example).
        { numRuns: 2, endOnFailure: true },
      );
    }, 60_000);
  }
});
