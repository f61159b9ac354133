/**
 * The NetworkPolicies' intent, checked on the rendered overlays: a small evaluator of NetworkPolicy
 * semantics (networking.k8s.io/v1: pod, namespace and ipBlock peers, numeric ports and ranges)
 * decides which connections the policies admit, between the pods the manifests run and stand-ins
 * for the rest of the site. The endpoints come from the manifests themselves: the Services and
 * container ports behind the URLs the API and the operators are configured with.
 */
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { describe, expect, it } from 'vitest';
import { render, type K8sObject } from './kustomize.js';

const ROOT = fileURLToPath(new URL('../../', import.meta.url));
const WITH_POLICIES = ['deploy/base', 'deploy/overlays/production', 'deploy/overlays/production-per-container', 'deploy/overlays/production-redis-ha'];
const HA = 'deploy/overlays/production-redis-ha';
const rendered = new Map([...WITH_POLICIES, 'deploy/overlays/embedded-demo'].map((d) => [d, render(join(ROOT, d))]));

/**
 * The site-specific placeholders of deploy/base/networkpolicy.yaml (change them together): the
 * ingress gateway's and Prometheus's namespaces, an address on the nodes' network, the S3 gateway
 * and a Kubernetes API server endpoint.
 */
const SITE = { gatewayNamespace: 'istio-system', monitoringNamespace: 'sysmgmt-health', nodeIp: '10.252.1.10', s3Ip: '10.252.1.3', apiServerIp: '10.252.1.2' };
/** The services the operators call, by the host names of their default URLs (src/config.ts), in namespace services. */
const CALLED = ['cray-smd', 'cray-power-control', 'cray-bss', 'cray-cfs-api', 'cray-ims', 'cray-tapms'];

// ---------------------------------------------------------------- the evaluator

type Labels = Record<string, string>;
interface Selector {
  matchLabels?: Labels;
  matchExpressions?: { key: string; operator: 'In' | 'NotIn' | 'Exists' | 'DoesNotExist'; values?: string[] }[];
}
interface Peer {
  podSelector?: Selector;
  namespaceSelector?: Selector;
  ipBlock?: { cidr: string; except?: string[] };
}
interface PolicyPort {
  protocol?: string;
  port?: number | string;
  endPort?: number;
}
interface Policy {
  metadata: { name: string; namespace?: string };
  spec: {
    podSelector: Selector;
    policyTypes?: ('Ingress' | 'Egress')[];
    ingress?: { from?: Peer[]; ports?: PolicyPort[] }[];
    egress?: { to?: Peer[]; ports?: PolicyPort[] }[];
  };
}
/** A pod (namespace and labels, its namespace labelled with its name as Kubernetes does) or an address outside the pod network. */
type Endpoint = { namespace: string; labels: Labels; name?: string } | { ip: string; name?: string };

function selects(sel: Selector, labels: Labels): boolean {
  for (const [k, v] of Object.entries(sel.matchLabels ?? {})) if (labels[k] !== v) return false;
  for (const e of sel.matchExpressions ?? []) {
    const has = e.key in labels;
    const ok =
      e.operator === 'In' ? has && e.values!.includes(labels[e.key]!)
      : e.operator === 'NotIn' ? !has || !e.values!.includes(labels[e.key]!)
      : e.operator === 'Exists' ? has
      : !has;
    if (!ok) return false;
  }
  return true;
}

function ipv4(ip: string): number {
  const parts = ip.split('.').map(Number);
  if (parts.length !== 4 || parts.some((p) => !Number.isInteger(p) || p < 0 || p > 255)) throw new Error(`not an IPv4 address: ${ip}`);
  return parts.reduce((a, p) => a * 256 + p, 0);
}
function inCidr(ip: string, cidr: string): boolean {
  const [net, bits] = cidr.split('/');
  const size = 2 ** (32 - Number(bits));
  return Math.floor(ipv4(ip) / size) === Math.floor(ipv4(net!) / size);
}

function peerMatches(peer: Peer, policyNamespace: string, ep: Endpoint): boolean {
  if (peer.ipBlock) return 'ip' in ep && inCidr(ep.ip, peer.ipBlock.cidr) && !(peer.ipBlock.except ?? []).some((c) => inCidr(ep.ip, c));
  if (!('namespace' in ep)) return false;
  const namespaceOk = peer.namespaceSelector ? selects(peer.namespaceSelector, { 'kubernetes.io/metadata.name': ep.namespace }) : ep.namespace === policyNamespace;
  return namespaceOk && (!peer.podSelector || selects(peer.podSelector, ep.labels));
}

function portMatches(ports: PolicyPort[] | undefined, port: number, protocol: string): boolean {
  if (!ports?.length) return true;
  return ports.some((p) => {
    if ((p.protocol ?? 'TCP') !== protocol) return false;
    if (p.port === undefined) return true;
    if (typeof p.port !== 'number') throw new Error(`named port ${p.port}: not supported by this evaluator`);
    return p.endPort === undefined ? port === p.port : port >= p.port && port <= p.endPort;
  });
}

function types(p: Policy): string[] {
  return p.spec.policyTypes ?? (p.spec.egress ? ['Ingress', 'Egress'] : ['Ingress']);
}

/** Whether the policies let `ep` (a pod) take this connection in the given direction from/to `other`. */
function admits(policies: Policy[], direction: 'Ingress' | 'Egress', ep: Endpoint, other: Endpoint, port: number, protocol: string): boolean {
  if (!('namespace' in ep)) return true; // not a pod: no policy applies
  const relevant = policies.filter((p) => (p.metadata.namespace ?? 'default') === ep.namespace && types(p).includes(direction) && selects(p.spec.podSelector, ep.labels));
  if (relevant.length === 0) return true; // not isolated
  return relevant.some((p) => {
    const rules = direction === 'Ingress' ? (p.spec.ingress ?? []).map((r) => ({ peers: r.from, ports: r.ports })) : (p.spec.egress ?? []).map((r) => ({ peers: r.to, ports: r.ports }));
    return rules.some((r) => (!r.peers?.length || r.peers.some((peer) => peerMatches(peer, p.metadata.namespace ?? 'default', other))) && portMatches(r.ports, port, protocol));
  });
}

/** A connection is made when the source's egress and the destination's ingress both admit it. */
function connects(policies: Policy[], from: Endpoint, to: Endpoint, port: number, protocol = 'TCP'): boolean {
  return admits(policies, 'Egress', from, to, port, protocol) && admits(policies, 'Ingress', to, from, port, protocol);
}

// ---------------------------------------------------------------- the rendered objects

interface Container {
  name: string;
  env?: { name: string; value?: string }[];
  ports?: { name?: string; containerPort: number; protocol?: string }[];
}
interface Workload {
  kind: string;
  metadata: { name: string; namespace?: string };
  spec: { selector: { matchLabels: Labels }; template: { metadata: { labels: Labels }; spec: { containers: Container[] } } };
}
interface ServiceObj {
  metadata: { name: string; namespace?: string };
  spec: { selector: Labels; ports: { port: number; targetPort?: number | string; protocol?: string }[] };
}

function world(objs: K8sObject[]) {
  const policies = objs.filter((o) => o.kind === 'NetworkPolicy') as unknown as Policy[];
  const workloads = objs.filter((o) => o.kind === 'Deployment' || o.kind === 'StatefulSet') as unknown as Workload[];
  const services = objs.filter((o) => o.kind === 'Service') as unknown as ServiceObj[];
  const workload = (name: string) => workloads.find((w) => w.metadata.name === name) ?? fail(`no workload ${name}`);
  const pod = (name: string): Endpoint & { namespace: string; labels: Labels } => {
    const w = workload(name);
    return { name, namespace: w.metadata.namespace ?? 'default', labels: w.spec.template.metadata.labels };
  };
  const containers = (name: string) => workload(name).spec.template.spec.containers;
  const env = (name: string, variable: string) => containers(name)[0]!.env?.find((e) => e.name === variable)?.value ?? fail(`${name} has no ${variable}`);
  /** host:port of a URL (a Service name and port) → the pods behind that Service and the port they take it on. */
  const behind = (url: string): { pods: Endpoint[]; port: number } => {
    const u = new URL(url.replace(/,.*?\//, '/'));
    const port = Number(u.port || (u.protocol === 'https:' ? 443 : 80));
    const svc = services.find((s) => s.metadata.name === u.hostname) ?? fail(`no Service ${u.hostname} for ${url}`);
    const sp = svc.spec.ports.find((p) => p.port === port) ?? fail(`Service ${u.hostname} has no port ${port}`);
    const ws = workloads.filter((w) => Object.entries(svc.spec.selector).every(([k, v]) => w.spec.template.metadata.labels[k] === v));
    expect(ws.length, `pods behind Service ${u.hostname}`).toBeGreaterThan(0);
    const target = sp.targetPort ?? sp.port;
    const ports = new Set(
      ws.map((w) => {
        if (typeof target === 'number') return target;
        const cp = w.spec.template.spec.containers.flatMap((c) => c.ports ?? []).find((p) => p.name === target);
        return cp?.containerPort ?? fail(`no container port ${target} behind Service ${u.hostname}`);
      }),
    );
    expect(ports.size).toBe(1);
    return { pods: ws.map((w) => pod(w.metadata.name)), port: [...ports][0]! };
  };
  return { policies, workloads, pod, containers, env, behind, policy: (name: string) => policies.find((p) => p.metadata.name === name) ?? fail(`no NetworkPolicy ${name}`) };
}

function fail(message: string): never {
  throw new Error(message);
}

// Stand-ins for the rest of the site.
const gateway: Endpoint = { name: 'ingress gateway', namespace: SITE.gatewayNamespace, labels: { app: 'istio-ingressgateway', istio: 'ingressgateway' } };
const prometheus: Endpoint = { name: 'prometheus', namespace: SITE.monitoringNamespace, labels: { 'app.kubernetes.io/name': 'prometheus' } };
const node: Endpoint = { name: 'a node', ip: SITE.nodeIp };
const dns: Endpoint = { name: 'cluster DNS', namespace: 'kube-system', labels: { 'k8s-app': 'kube-dns' } };
const s3: Endpoint = { name: 'rgw-vip', ip: SITE.s3Ip };
const apiServer: Endpoint = { name: 'kube-apiserver', ip: SITE.apiServerIp };
const internet: Endpoint = { name: 'the internet', ip: '203.0.113.7' };
const neighbour: Endpoint = { name: 'another pod of services', namespace: 'services', labels: { 'app.kubernetes.io/name': 'cray-some-service' } };
/** A pod in another namespace that carries the BOS pods' own labels: pod selectors must not admit it. */
const impostor = (labels: Labels): Endpoint => ({ name: 'a look-alike in default', namespace: 'default', labels });
const calledService = (name: string, namespace = 'services'): Endpoint => ({ name, namespace, labels: { 'app.kubernetes.io/name': name } });

// ---------------------------------------------------------------- the checks

describe.each(WITH_POLICIES)('%s NetworkPolicies', (dir) => {
  const objs = rendered.get(dir)!;
  const w = world(objs);
  const { policies } = w;
  const api = w.pod('cray-bos');
  const ops = w.pod('cray-bos-operators');
  const db = w.pod('cray-bos-db');
  const ha = dir === HA;

  it('select the API, operators and database pods, each by one policy, in their namespace', () => {
    expect(policies.map((p) => p.metadata.name).sort()).toEqual(['cray-bos', 'cray-bos-db', 'cray-bos-operators']);
    for (const wl of w.workloads) {
      const selecting = policies.filter((p) => p.metadata.namespace === wl.metadata.namespace && selects(p.spec.podSelector, wl.spec.template.metadata.labels));
      expect(selecting.map((p) => p.metadata.name), `${wl.kind}/${wl.metadata.name}`).toEqual([wl.metadata.name]);
      // The policy selects exactly what the workload selects.
      expect(selecting[0]!.spec.podSelector).toEqual({ matchLabels: wl.spec.selector.matchLabels });
    }
    // An empty selector would select every pod of the shared namespace.
    for (const p of policies) expect(Object.keys(p.spec.podSelector.matchLabels ?? {}).length, p.metadata.name).toBeGreaterThan(0);
  });

  it('let only the API and operators pods (and, with Sentinel, the other database pods) reach Redis', () => {
    const p = w.policy('cray-bos-db');
    expect(p.spec.policyTypes).toEqual(['Ingress']);
    const sources = p.spec.ingress!.flatMap((r) => r.from ?? fail('an ingress rule without sources admits everyone'));
    const selectors = new Set(sources.map((s) => JSON.stringify(s)));
    const expected = [api, ops, ...(ha ? [db] : [])].map((e) => JSON.stringify({ podSelector: { matchLabels: w.workloads.find((x) => x.metadata.name === e.name)!.spec.selector.matchLabels } }));
    expect([...selectors].sort()).toEqual(expected.sort());

    // Through the URLs the clients are configured with (the Service's pods, on their port).
    for (const client of ['cray-bos', 'cray-bos-operators']) {
      const url = w.env(client, 'BOS_REDIS_URL');
      const { pods, port } = w.behind(url);
      for (const target of pods) expect(connects(policies, w.pod(client), target, port), `${client} → ${url}`).toBe(true);
    }
    const redisPorts = ha ? [6379, 26379] : [6379];
    for (const port of redisPorts) {
      expect(connects(policies, api, db, port), `API → db:${port}`).toBe(true);
      expect(connects(policies, ops, db, port), `operators → db:${port}`).toBe(true);
      for (const other of [gateway, prometheus, node, neighbour, impostor(api.labels), impostor(ops.labels), internet]) {
        expect(connects(policies, other, db, port), `${other.name} → db:${port}`).toBe(false);
      }
    }
    // Replication and the Sentinels only in the HA layout; no Sentinel port without Sentinels.
    for (const port of [6379, 26379]) expect(connects(policies, db, db, port), `db → db:${port}`).toBe(ha);
    if (!ha) expect(connects(policies, api, db, 26379)).toBe(false);
    expect(connects(policies, api, db, 6380)).toBe(false);
  });

  it('let the API be reached on its port only from the gateway namespace, the operators, the nodes and Prometheus', () => {
    const p = w.policy('cray-bos');
    expect(p.spec.policyTypes).toEqual(['Ingress']);
    expect(p.spec.ingress).toHaveLength(1);
    const rule = p.spec.ingress![0]!;
    const http = w.containers('cray-bos')[0]!.ports!.find((x) => x.name === 'http')!.containerPort;
    expect(rule.ports).toEqual([{ protocol: 'TCP', port: http }]);
    expect(rule.from).toEqual([
      { namespaceSelector: { matchLabels: { 'kubernetes.io/metadata.name': SITE.gatewayNamespace } } },
      { podSelector: { matchLabels: w.workloads.find((x) => x.metadata.name === 'cray-bos-operators')!.spec.selector.matchLabels } },
      { ipBlock: expect.objectContaining({ cidr: expect.stringMatching(/^\d+\.\d+\.\d+\.\d+\/\d+$/) }) },
      { namespaceSelector: { matchLabels: { 'kubernetes.io/metadata.name': SITE.monitoringNamespace } } },
    ]);

    for (const source of [gateway, ops, node, prometheus]) expect(connects(policies, source, api, http), `${source.name} → API`).toBe(true);
    for (const source of [neighbour, impostor(ops.labels), db, internet, dns]) expect(connects(policies, source, api, http), `${source.name} → API`).toBe(false);
    expect(connects(policies, gateway, api, 9229), 'another port').toBe(false);
    // The operators reach it as configured (BOS_URL → Service cray-bos port 80 → pod port 8080).
    const { pods, port } = w.behind(w.env('cray-bos-operators', 'BOS_URL'));
    expect(port).toBe(http);
    for (const target of pods) expect(connects(policies, ops, target, port)).toBe(true);
  });

  it('let the operators be reached only on their metrics/probe ports, from the monitoring namespace', () => {
    const p = w.policy('cray-bos-operators');
    expect(p.spec.policyTypes).toEqual(['Ingress', 'Egress']);
    const ports = w.containers('cray-bos-operators').flatMap((c) => (c.ports ?? []).map((x) => x.containerPort));
    expect(ports.length).toBe(dir.endsWith('per-container') ? 11 : 1);
    expect(p.spec.ingress).toHaveLength(1);
    expect(p.spec.ingress![0]!.from).toEqual([{ namespaceSelector: { matchLabels: { 'kubernetes.io/metadata.name': SITE.monitoringNamespace } } }]);
    expect(p.spec.ingress![0]!.ports!.map((x) => x.port).sort()).toEqual([...ports].sort());
    for (const port of ports) {
      expect(connects(policies, prometheus, ops, port), `Prometheus → operators:${port}`).toBe(true);
      for (const source of [gateway, api, node, neighbour, db]) expect(connects(policies, source, ops, port), `${source.name} → operators:${port}`).toBe(false);
    }
    expect(connects(policies, prometheus, ops, 8080)).toBe(false);
  });

  it('let the operators connect only to DNS, the API, Redis, the services they call, S3 and the Kubernetes API', () => {
    const p = w.policy('cray-bos-operators');
    // Every egress rule names its destinations (a rule without `to` would admit any address).
    for (const r of p.spec.egress!) expect(r.to?.length, JSON.stringify(r)).toBeGreaterThan(0);
    // Rules with no port list go only to pods of the called services, selected by namespace and labels.
    for (const r of p.spec.egress!.filter((x) => !x.ports?.length)) {
      for (const peer of r.to!) {
        expect(peer.ipBlock).toBeUndefined();
        expect(peer.namespaceSelector?.matchLabels).toEqual({ 'kubernetes.io/metadata.name': 'services' });
        expect(CALLED).toContain(peer.podSelector?.matchLabels?.['app.kubernetes.io/name']);
      }
    }

    expect(connects(policies, ops, dns, 53, 'UDP'), 'DNS over UDP').toBe(true);
    expect(connects(policies, ops, dns, 53, 'TCP'), 'DNS over TCP').toBe(true);
    expect(connects(policies, ops, dns, 443), 'kube-system on another port').toBe(false);
    expect(connects(policies, ops, api, 8080)).toBe(true);
    expect(connects(policies, ops, db, 6379)).toBe(true);
    expect(connects(policies, ops, db, 26379)).toBe(ha);
    // Each service as configured by default: the host of its URL is the Service, and its pods carry that name.
    for (const name of CALLED) {
      expect(connects(policies, ops, calledService(name), 8080), name).toBe(true);
      expect(admits(policies, 'Egress', ops, calledService(name, 'default'), 8080, 'TCP'), `${name} in another namespace`).toBe(false);
    }
    expect(w.env('cray-bos-operators', 'S3_GATEWAY')).toBe('rgw-vip');
    expect(w.env('cray-bos-operators', 'S3_PROTOCOL')).toBe('https');
    expect(connects(policies, ops, s3, 443), 'S3 over https').toBe(true);
    expect(connects(policies, ops, apiServer, 6443), 'Kubernetes API').toBe(true);
    expect(connects(policies, ops, apiServer, 443), 'Kubernetes API Service port').toBe(true);
    for (const [target, port] of [[internet, 443], [internet, 80], [neighbour, 8080], [gateway, 443], [prometheus, 9090], [s3, 22], [apiServer, 22]] as const) {
      expect(admits(policies, 'Egress', ops, target, port, 'TCP'), `${target.name}:${port}`).toBe(false);
    }
  });
});

describe('embedded-demo NetworkPolicies', () => {
  it('has none: one pod reached by port-forward, which NetworkPolicy does not filter, talking to nothing else', () => {
    const objs = rendered.get('deploy/overlays/embedded-demo')!;
    expect(objs.filter((o) => o.kind === 'NetworkPolicy')).toEqual([]);
  });
});

describe('the evaluator', () => {
  const pol = (spec: Policy['spec']): Policy[] => [{ metadata: { name: 'p', namespace: 'ns' }, spec }];
  const a: Endpoint = { namespace: 'ns', labels: { app: 'a' } };
  const b: Endpoint = { namespace: 'ns', labels: { app: 'b' } };

  it('follows the NetworkPolicy semantics it relies on', () => {
    // Unselected pods are not isolated; a selected pod with no rules admits nothing.
    expect(connects(pol({ podSelector: { matchLabels: { app: 'x' } }, policyTypes: ['Ingress'] }), a, b, 80)).toBe(true);
    expect(connects(pol({ podSelector: { matchLabels: { app: 'b' } }, policyTypes: ['Ingress'] }), a, b, 80)).toBe(false);
    // Egress isolation only with the Egress type.
    expect(connects(pol({ podSelector: { matchLabels: { app: 'a' } }, policyTypes: ['Ingress'] }), a, b, 80)).toBe(true);
    expect(connects(pol({ podSelector: { matchLabels: { app: 'a' } }, policyTypes: ['Egress'] }), a, b, 80)).toBe(false);
    // A peer with both selectors is their intersection; a pod selector alone means the policy's namespace.
    const both = pol({ podSelector: { matchLabels: { app: 'b' } }, ingress: [{ from: [{ namespaceSelector: { matchLabels: { 'kubernetes.io/metadata.name': 'other' } }, podSelector: { matchLabels: { app: 'a' } } }] }] });
    expect(connects(both, { namespace: 'other', labels: { app: 'a' } }, b, 80)).toBe(true);
    expect(connects(both, a, b, 80)).toBe(false);
    expect(connects(both, { namespace: 'other', labels: { app: 'c' } }, b, 80)).toBe(false);
    const local = pol({ podSelector: { matchLabels: { app: 'b' } }, ingress: [{ from: [{ podSelector: { matchLabels: { app: 'a' } } }] }] });
    expect(connects(local, a, b, 80)).toBe(true);
    expect(connects(local, { namespace: 'other', labels: { app: 'a' } }, b, 80)).toBe(false);
    // Ports: protocol defaults to TCP; ranges; no ports means all.
    const ports = pol({ podSelector: { matchLabels: { app: 'b' } }, ingress: [{ ports: [{ port: 53 }, { protocol: 'UDP', port: 9000, endPort: 9010 }] }] });
    expect(connects(ports, a, b, 53)).toBe(true);
    expect(connects(ports, a, b, 53, 'UDP')).toBe(false);
    expect(connects(ports, a, b, 9005, 'UDP')).toBe(true);
    expect(connects(ports, a, b, 9011, 'UDP')).toBe(false);
    // ipBlocks match addresses, with exceptions; not pods.
    const block = pol({ podSelector: { matchLabels: { app: 'b' } }, ingress: [{ from: [{ ipBlock: { cidr: '10.0.0.0/8', except: ['10.1.0.0/16'] } }] }] });
    expect(connects(block, { ip: '10.2.3.4' }, b, 80)).toBe(true);
    expect(connects(block, { ip: '10.1.3.4' }, b, 80)).toBe(false);
    expect(connects(block, { ip: '11.0.0.1' }, b, 80)).toBe(false);
    expect(connects(block, a, b, 80)).toBe(false);
    // matchExpressions.
    expect(selects({ matchExpressions: [{ key: 'app', operator: 'In', values: ['a', 'c'] }] }, { app: 'a' })).toBe(true);
    expect(selects({ matchExpressions: [{ key: 'app', operator: 'NotIn', values: ['a'] }] }, { app: 'a' })).toBe(false);
    expect(selects({ matchExpressions: [{ key: 'tier', operator: 'DoesNotExist' }] }, { app: 'a' })).toBe(true);
  });
});
