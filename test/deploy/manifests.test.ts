/**
 * The Kubernetes manifests: rendered (kubectl kustomize, or the small renderer when kubectl is
 * missing), every object validated against the Kubernetes schemas (kubernetes-models), and checked
 * against the code: probe paths are routes the code serves, probe ports are the ports the command
 * listens on, every environment variable is a setting of src/config.ts with a valid value.
 */
import { readFileSync, readdirSync, statSync } from 'node:fs';
import { load as loadYaml } from 'js-yaml';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { describe, expect, it } from 'vitest';
import { ConfigMap } from 'kubernetes-models/v1/ConfigMap';
import { Namespace } from 'kubernetes-models/v1/Namespace';
import { Service } from 'kubernetes-models/v1/Service';
import { ServiceAccount } from 'kubernetes-models/v1/ServiceAccount';
import { Deployment } from 'kubernetes-models/apps/v1/Deployment';
import { StatefulSet } from 'kubernetes-models/apps/v1/StatefulSet';
import { Role } from 'kubernetes-models/rbac.authorization.k8s.io/v1/Role';
import { RoleBinding } from 'kubernetes-models/rbac.authorization.k8s.io/v1/RoleBinding';
import { PodDisruptionBudget } from 'kubernetes-models/policy/v1/PodDisruptionBudget';
import { NetworkPolicy } from 'kubernetes-models/networking.k8s.io/v1/NetworkPolicy';
import { ServiceMonitor } from '@kubernetes-models/prometheus-operator/monitoring.coreos.com/v1/ServiceMonitor';
import { PrometheusRule } from '@kubernetes-models/prometheus-operator/monitoring.coreos.com/v1/PrometheusRule';
import { CONFIG_ENV_VARS, SETTINGS, loadConfig, type ConfigFlags } from '../../src/config.js';
import { OPERATOR_NAMES } from '../../src/operators/types.js';
import { hasKubectl, render, renderSimple, renderWithKubectl, type K8sObject } from './kustomize.js';

const ROOT = fileURLToPath(new URL('../../', import.meta.url));
const DIRS = ['deploy/base', 'deploy/overlays/production', 'deploy/overlays/embedded-demo', 'deploy/overlays/production-per-container', 'deploy/overlays/production-redis-ha'];
const rendered = new Map(DIRS.map((d) => [d, render(join(ROOT, d))]));

type Model = new (data: never) => { validate(): void };
const MODELS: Record<string, Model> = {
  'v1/ConfigMap': ConfigMap as unknown as Model,
  'v1/Namespace': Namespace as unknown as Model,
  'v1/Service': Service as unknown as Model,
  'v1/ServiceAccount': ServiceAccount as unknown as Model,
  'apps/v1/Deployment': Deployment as unknown as Model,
  'apps/v1/StatefulSet': StatefulSet as unknown as Model,
  'rbac.authorization.k8s.io/v1/Role': Role as unknown as Model,
  'rbac.authorization.k8s.io/v1/RoleBinding': RoleBinding as unknown as Model,
  'policy/v1/PodDisruptionBudget': PodDisruptionBudget as unknown as Model,
  'networking.k8s.io/v1/NetworkPolicy': NetworkPolicy as unknown as Model,
  'monitoring.coreos.com/v1/ServiceMonitor': ServiceMonitor as unknown as Model,
  'monitoring.coreos.com/v1/PrometheusRule': PrometheusRule as unknown as Model,
};

interface Probe {
  httpGet?: { path: string; port: number | string };
  tcpSocket?: { port: number | string };
  exec?: { command: string[] };
}
interface EnvVar {
  name: string;
  value?: string;
  valueFrom?: { fieldRef?: { fieldPath: string }; secretKeyRef?: { name: string; key: string } };
}
interface Container {
  name: string;
  image: string;
  args?: string[];
  env?: EnvVar[];
  ports?: { name?: string; containerPort: number }[];
  livenessProbe?: Probe;
  readinessProbe?: Probe;
  resources?: { requests?: Record<string, string>; limits?: Record<string, string> };
  securityContext?: {
    runAsNonRoot?: boolean;
    runAsUser?: number;
    allowPrivilegeEscalation?: boolean;
    readOnlyRootFilesystem?: boolean;
    capabilities?: { drop?: string[]; add?: string[] };
  };
}
interface PodSpec {
  containers: Container[];
  securityContext?: { runAsNonRoot?: boolean; runAsUser?: number };
  serviceAccountName?: string;
}

function workloads(objs: K8sObject[]): K8sObject[] {
  return objs.filter((o) => o.kind === 'Deployment' || o.kind === 'StatefulSet');
}
function podSpec(o: K8sObject): PodSpec {
  return (o.spec as { template: { spec: PodSpec } }).template.spec;
}
function byName(objs: K8sObject[], kind: string, name: string): K8sObject {
  const o = objs.find((x) => x.kind === kind && x.metadata.name === name);
  if (!o) throw new Error(`no ${kind} ${name} in the rendered manifests`);
  return o;
}
function bosContainers(objs: K8sObject[]): { workload: K8sObject; c: Container }[] {
  return workloads(objs).flatMap((w) => podSpec(w).containers.filter((c) => /(^|\/)bos(:|$)/.test(c.image)).map((c) => ({ workload: w, c })));
}

// ---------------------------------------------------------------- source scanning

function sourceFiles(dir: string): string[] {
  return readdirSync(dir).flatMap((f) => {
    const p = join(dir, f);
    return statSync(p).isDirectory() ? sourceFiles(p) : p.endsWith('.ts') ? [p] : [];
  });
}
const SOURCE = sourceFiles(join(ROOT, 'src'))
  .map((f) => readFileSync(f, 'utf8'))
  .join('\n');
const literal = (s: string) => [`'${s}'`, `"${s}"`, `\`${s}\``].some((q) => SOURCE.includes(q));
/** A path the code serves: a route literal, or a prefix literal followed by a route literal. */
function served(path: string): boolean {
  if (literal(path)) return true;
  for (let i = 1; i < path.length; i++) {
    if (path[i] === '/' && literal(path.slice(0, i)) && literal(path.slice(i))) return true;
  }
  return false;
}

// ---------------------------------------------------------------- what a container listens on

/** The container's settings through src/config.ts (env from the manifest, flags from its args). */
function containerConfig(c: Container) {
  const env: Record<string, string> = {};
  for (const e of c.env ?? []) {
    if (e.value !== undefined) env[e.name] = e.value;
    else if (e.valueFrom?.fieldRef?.fieldPath === 'metadata.name') env[e.name] = 'cray-bos-operators-5d8c9-abcde';
    else if (e.valueFrom?.fieldRef?.fieldPath === 'metadata.namespace') env[e.name] = 'services';
    else if (e.valueFrom?.secretKeyRef) env[e.name] = 'from-a-secret';
  }
  const args = c.args ?? [];
  const flags: ConfigFlags = {};
  for (let i = 1; i < args.length; i++) {
    const s = SETTINGS.find((x) => x.flag === args[i]);
    if (s && args[i + 1] !== undefined && !args[i + 1]!.startsWith('--')) flags[s.key] = args[++i];
  }
  return { command: args[0], config: loadConfig({ ...env, KUBERNETES_SERVICE_HOST: '10.96.0.1' }, flags) };
}

function portNumber(c: Container, port: number | string): number | undefined {
  if (typeof port === 'number') return port;
  return c.ports?.find((p) => p.name === port)?.containerPort;
}

describe.each(DIRS)('%s', (dir) => {
  const objs = rendered.get(dir)!;

  it('renders, and every object is valid against its Kubernetes schema', () => {
    expect(objs.length).toBeGreaterThan(0);
    for (const o of objs) {
      const model = MODELS[`${o.apiVersion}/${o.kind}`];
      expect(model, `no schema for ${o.apiVersion} ${o.kind}`).toBeDefined();
      expect(() => new model!(o as never).validate(), `${o.kind}/${o.metadata.name}`).not.toThrow();
    }
    const keys = objs.map((o) => `${o.kind}/${o.metadata.namespace ?? ''}/${o.metadata.name}`);
    expect(new Set(keys).size).toBe(keys.length);
  });

  it('runs every container non-root, read-only, without privilege escalation or capabilities, with requests and limits', () => {
    for (const w of workloads(objs)) {
      const spec = podSpec(w);
      for (const c of spec.containers) {
        const where = `${w.kind}/${w.metadata.name} container ${c.name}`;
        const nonRoot = c.securityContext?.runAsNonRoot ?? spec.securityContext?.runAsNonRoot;
        const uid = c.securityContext?.runAsUser ?? spec.securityContext?.runAsUser;
        expect(nonRoot, where).toBe(true);
        expect(uid, where).not.toBe(0);
        expect(c.securityContext?.allowPrivilegeEscalation, where).toBe(false);
        expect(c.securityContext?.readOnlyRootFilesystem, where).toBe(true);
        expect(c.securityContext?.capabilities?.drop, where).toContain('ALL');
        expect(c.securityContext?.capabilities?.add ?? [], where).toEqual([]);
        for (const r of ['cpu', 'memory']) {
          expect(c.resources?.requests?.[r], `${where} requests.${r}`).toBeTruthy();
          expect(c.resources?.limits?.[r], `${where} limits.${r}`).toBeTruthy();
        }
        expect(c.livenessProbe, `${where} liveness`).toBeDefined();
        expect(c.readinessProbe, `${where} readiness`).toBeDefined();
      }
    }
  });

  it('names only environment variables that src/config.ts (or Node, NODE_OPTIONS) reads, with values it accepts', () => {
    for (const { workload, c } of bosContainers(objs)) {
      for (const e of c.env ?? []) if (e.name !== 'NODE_OPTIONS') expect(CONFIG_ENV_VARS, `${workload.metadata.name}/${c.name} sets ${e.name}`).toContain(e.name);
      expect(() => containerConfig(c), `${workload.metadata.name}/${c.name}`).not.toThrow();
    }
  });

  it('gives the API and the operators a V8 heap ceiling that fits their memory limit with room to spare', () => {
    for (const { workload, c } of bosContainers(objs)) {
      const where = `${workload.metadata.name}/${c.name}`;
      const options = c.env?.find((e) => e.name === 'NODE_OPTIONS')?.value;
      if (!['serve', 'operators'].includes(c.args?.[0] ?? '')) continue;
      expect(options, `${where} NODE_OPTIONS`).toBeDefined();
      const flag = (name: string) => Number(new RegExp(`--${name}=(\\d+)`).exec(options!)?.[1]);
      const oldSpace = flag('max-old-space-size');
      const semiSpace = flag('max-semi-space-size');
      expect(oldSpace, `${where} --max-old-space-size`).toBeGreaterThan(0);
      expect(semiSpace, `${where} --max-semi-space-size`).toBeGreaterThan(0);
      const limit = /^(\d+)(Mi|Gi)$/.exec(String(c.resources?.limits?.memory));
      expect(limit, `${where} limits.memory in Mi or Gi`).not.toBeNull();
      const limitMiB = Number(limit![1]) * (limit![2] === 'Gi' ? 1024 : 1);
      // Old generation plus young generation (three semi-spaces) within three quarters of the limit:
      // the rest is for code, buffers outside the heap and the runtime.
      expect(oldSpace + 3 * semiSpace, where).toBeLessThanOrEqual(0.75 * limitMiB);
    }
  });

  it('probes routes the code serves, on the port the command listens on', () => {
    for (const { workload, c } of bosContainers(objs)) {
      const { command, config } = containerConfig(c);
      const where = `${workload.metadata.name}/${c.name} (bos ${command})`;
      const listens = command === 'operators' ? config.metricsPort : config.port;
      expect(['serve', 'operators', 'up'], where).toContain(command);
      // The API and the operators' metrics/probe server both bind BOS_HOST: the kubelet and
      // Prometheus reach them on the pod address, not on loopback.
      expect(config.host, `${where} must bind all addresses`).toBe('0.0.0.0');
      for (const probe of [c.livenessProbe!, c.readinessProbe!]) {
        expect(probe.httpGet, `${where}: HTTP probes`).toBeDefined();
        const { path, port } = probe.httpGet!;
        expect(served(path), `${where}: ${path} is not a route in src/`).toBe(true);
        expect(portNumber(c, port), `${where}: probe port ${port}`).toBe(listens);
        if (command === 'operators') expect(['/healthz', '/readyz'], where).toContain(path);
        else expect(path, where).toMatch(/\/v2\/healthz$/);
      }
      // Liveness must not depend on other services: the operators' /healthz, not /readyz.
      if (command === 'operators') {
        expect(c.livenessProbe!.httpGet!.path).toBe('/healthz');
        expect(c.readinessProbe!.httpGet!.path).toBe('/readyz');
      }
    }
  });
});

describe('base', () => {
  const objs = rendered.get('deploy/base')!;

  it('grants the operators only get/create/update on Leases in their namespace', () => {
    const role = byName(objs, 'Role', 'cray-bos-operators-leader-election') as unknown as { rules: { apiGroups: string[]; resources: string[]; verbs: string[] }[] };
    expect(role.rules).toEqual([{ apiGroups: ['coordination.k8s.io'], resources: ['leases'], verbs: ['get', 'create', 'update'] }]);
    expect(objs.some((o) => o.kind === 'ClusterRole' || o.kind === 'ClusterRoleBinding')).toBe(false);
    const binding = byName(objs, 'RoleBinding', 'cray-bos-operators-leader-election') as unknown as { subjects: { kind: string; name: string; namespace: string }[] };
    expect(binding.subjects).toEqual([{ kind: 'ServiceAccount', name: 'cray-bos-operators', namespace: 'services' }]);
    expect(podSpec(byName(objs, 'Deployment', 'cray-bos-operators')).serviceAccountName).toBe('cray-bos-operators');
    // Nothing else talks to the Kubernetes API.
    for (const name of ['cray-bos']) {
      const spec = podSpec(byName(objs, 'Deployment', name)) as PodSpec & { automountServiceAccountToken?: boolean };
      expect(spec.automountServiceAccountToken).toBe(false);
    }
  });

  it('runs all operators in one container and names the Services the code defaults to', () => {
    const ops = podSpec(byName(objs, 'Deployment', 'cray-bos-operators')).containers;
    expect(ops).toHaveLength(1);
    expect(containerConfig(ops[0]!).config.only).toEqual([...OPERATOR_NAMES]);
    const defaults = loadConfig({});
    // The operators reach the API as http://cray-bos/v2 and Redis as cray-bos-db:6379.
    expect(defaults.bosUrl).toBe('http://cray-bos/v2');
    const api = byName(objs, 'Service', 'cray-bos') as unknown as { spec: { ports: { port: number }[] } };
    expect(api.spec.ports[0]!.port).toBe(80);
    const db = byName(objs, 'Service', 'cray-bos-db') as unknown as { spec: { ports: { port: number }[] } };
    expect(db.spec.ports[0]!.port).toBe(6379);
    expect(containerConfig(ops[0]!).config.redisUrl).toBe('redis://cray-bos-db:6379');
  });

  it('keeps Redis in a StatefulSet with an append-only file on a persistent volume', () => {
    const sts = byName(objs, 'StatefulSet', 'cray-bos-db') as unknown as {
      spec: { serviceName: string; volumeClaimTemplates: { metadata: { name: string } }[]; template: { spec: PodSpec & { containers: (Container & { volumeMounts: { name: string; mountPath: string }[] })[] } } };
    };
    const redis = sts.spec.template.spec.containers[0]!;
    const args = (redis.args ?? []).join(' ');
    expect(args).toMatch(/--appendonly yes/);
    const dir = /--dir (\S+)/.exec(args)?.[1];
    const claim = sts.spec.volumeClaimTemplates[0]!.metadata.name;
    expect(redis.volumeMounts.find((m) => m.name === claim)?.mountPath).toBe(dir);
    expect(sts.spec.serviceName).toBe('cray-bos-db');
  });

  it('has ServiceMonitors scrape /metrics on the operators metrics port and the API port', () => {
    for (const name of ['cray-bos-operators', 'cray-bos']) {
      const sm = byName(objs, 'ServiceMonitor', name) as unknown as { spec: { selector: { matchLabels: Record<string, string> }; endpoints: { port: string; path: string }[] } };
      const svc = byName(objs, 'Service', name) as unknown as { metadata: { labels: Record<string, string> }; spec: { ports: { name: string; targetPort: string }[] } };
      for (const [k, v] of Object.entries(sm.spec.selector.matchLabels)) expect(svc.metadata.labels[k], name).toBe(v);
      expect(sm.spec.endpoints.map((e) => e.port), name).toEqual(svc.spec.ports.map((p) => p.name));
      expect(sm.spec.endpoints.every((e) => e.path === '/metrics'), name).toBe(true);
    }
    expect(served('/metrics')).toBe(true);
  });

  it('ships the alert rules as a PrometheusRule equal to the plain rules file', () => {
    const rule = byName(objs, 'PrometheusRule', 'cray-bos') as unknown as { spec: { groups: unknown[] } };
    const plain = loadYaml(readFileSync(join(ROOT, 'deploy/alerts/bos-alerts.rules.yaml'), 'utf8')) as { groups: unknown[] };
    expect(rule.spec.groups).toEqual(plain.groups);
    expect(plain.groups.length).toBeGreaterThan(0);
  });
});

describe('overlays', () => {
  it('production: two operator replicas with leader election on, each with its pod name as identity', () => {
    const objs = rendered.get('deploy/overlays/production')!;
    const dep = byName(objs, 'Deployment', 'cray-bos-operators') as unknown as { spec: { replicas: number } };
    expect(dep.spec.replicas).toBe(2);
    const c = podSpec(dep as unknown as K8sObject).containers[0]!;
    const { config } = containerConfig(c);
    expect(config.leaderElection).toBe(true);
    expect(c.env?.find((e) => e.name === 'POD_NAME')?.valueFrom?.fieldRef?.fieldPath).toBe('metadata.name');
    expect(config.leaseIdentity).toBe('cray-bos-operators-5d8c9-abcde');
    expect(config.renewDeadlineSeconds).toBeLessThan(config.leaseDurationSeconds);
    expect(objs.some((o) => o.kind === 'StatefulSet' && o.metadata.name === 'cray-bos-db')).toBe(true);
    expect(objs.filter((o) => o.kind === 'PodDisruptionBudget')).toHaveLength(2);
  });

  it('embedded-demo: one pod running bos up, no Redis and no Kubernetes API access', () => {
    const objs = rendered.get('deploy/overlays/embedded-demo')!;
    const ws = workloads(objs);
    expect(ws).toHaveLength(1);
    expect((ws[0]!.spec as { replicas: number }).replicas).toBe(1);
    const spec = podSpec(ws[0]!) as PodSpec & { automountServiceAccountToken?: boolean };
    expect(spec.containers).toHaveLength(1);
    expect(spec.containers[0]!.args?.[0]).toBe('up');
    expect(spec.automountServiceAccountToken).toBe(false);
    expect(objs.some((o) => o.kind === 'Role' || o.kind === 'RoleBinding')).toBe(false);
  });

  it('one operator per container: every operator once, own metrics port and own Lease', () => {
    const objs = rendered.get('deploy/overlays/production-per-container')!;
    const cs = podSpec(byName(objs, 'Deployment', 'cray-bos-operators')).containers;
    const configs = cs.map((c) => containerConfig(c).config);
    expect(configs.flatMap((c) => c.only).sort()).toEqual([...OPERATOR_NAMES].sort());
    expect(configs.every((c) => c.only.length === 1)).toBe(true);
    expect(new Set(configs.map((c) => c.metricsPort)).size).toBe(cs.length);
    expect(new Set(configs.map((c) => c.leaseName)).size).toBe(cs.length);
    const svc = byName(objs, 'Service', 'cray-bos-operators') as unknown as { spec: { ports: { port: number }[] } };
    expect(svc.spec.ports.map((p) => p.port).sort()).toEqual(configs.map((c) => c.metricsPort).sort());
  });

  it('production-redis-ha: three Redis pods with Sentinels, the clients through the Sentinels, waiting for a replica', () => {
    const objs = rendered.get('deploy/overlays/production-redis-ha')!;
    type Volume = { name: string; configMap?: { name: string }; emptyDir?: object };
    type DbContainer = Container & { command?: string[]; volumeMounts?: { name: string; mountPath: string }[] };
    const sts = byName(objs, 'StatefulSet', 'cray-bos-db') as unknown as {
      spec: { replicas: number; serviceName: string; template: { metadata: { labels: Record<string, string> }; spec: { containers: DbContainer[]; volumes: Volume[] } } };
    };
    expect(sts.spec.replicas).toBe(3);
    const pod = sts.spec.template;
    const container = (name: string) => pod.spec.containers.find((c) => c.name === name)!;
    expect(pod.spec.containers.map((c) => c.name).sort()).toEqual(['redis', 'sentinel']);
    expect(portNumber(container('sentinel'), 'sentinel')).toBe(26379);

    // The clients: the Sentinel Service and the master name the Sentinels monitor; WAIT for one replica.
    const url = 'redis+sentinel://cray-bos-db-sentinel:26379/cray-bos-db';
    for (const name of ['cray-bos', 'cray-bos-operators']) {
      const env = podSpec(byName(objs, 'Deployment', name)).containers[0]!.env ?? [];
      const value = (n: string) => env.find((e) => e.name === n)?.value;
      expect(value('BOS_REDIS_URL'), name).toBe(url);
      expect(value('BOS_REDIS_WAIT_REPLICAS'), name).toBe('1');
    }
    const sentinelSvc = byName(objs, 'Service', 'cray-bos-db-sentinel') as unknown as { spec: { selector: Record<string, string>; ports: { port: number; targetPort: string }[] } };
    for (const [k, v] of Object.entries(sentinelSvc.spec.selector)) expect(pod.metadata.labels[k]).toBe(v);
    expect(sentinelSvc.spec.ports.map((p) => [p.port, p.targetPort])).toEqual([[26379, 'sentinel']]);
    // Pod names resolve before the pods are ready (replicas reach the primary, Sentinels resolve it).
    const headless = byName(objs, 'Service', sts.spec.serviceName) as unknown as { spec: { clusterIP: string; publishNotReadyAddresses?: boolean } };
    expect(headless.spec.clusterIP).toBe('None');
    expect(headless.spec.publishNotReadyAddresses).toBe(true);

    // The configuration the start scripts write, from the ConfigMap both containers mount on /config.
    const configVolume = pod.spec.volumes.find((v) => v.configMap)!;
    const cm = byName(objs, 'ConfigMap', configVolume.configMap!.name) as unknown as { data: Record<string, string> };
    for (const [c, script] of [['redis', 'start-redis.sh'], ['sentinel', 'start-sentinel.sh']] as const) {
      expect(container(c).command, c).toEqual(['sh', `/config/${script}`]);
      expect(container(c).args, c).toBeUndefined();
      expect(container(c).volumeMounts?.find((m) => m.mountPath === '/config')?.name, c).toBe(configVolume.name);
      // Each writes its configuration into its own writable emptyDir on /conf (Sentinel rewrites its file).
      const conf = container(c).volumeMounts?.find((m) => m.mountPath === '/conf')?.name;
      expect(pod.spec.volumes.find((v) => v.name === conf)?.emptyDir, c).toBeDefined();
      expect(cm.data[script], script).toContain(`exec redis-server /conf/${c}.conf`);
    }
    const lines = (text: string) => text.split('\n').map((l) => l.trim()).filter((l) => l && !l.startsWith('#'));
    const redisConf = lines(cm.data['redis.conf']!);
    for (const l of ['dir /data', 'appendonly yes', 'min-replicas-to-write 1', 'min-replicas-max-lag 10', 'replica-announce-ip @ME@']) expect(redisConf).toContain(l);
    expect(container('redis').volumeMounts?.find((m) => m.mountPath === '/data')?.name).toBe('data');
    const sentinelConf = lines(cm.data['sentinel.conf']!);
    const master = url.split('/').at(-1)!;
    const monitor = sentinelConf.find((l) => l.startsWith('sentinel monitor '))?.split(' ');
    expect(monitor?.slice(2, 5)).toEqual([master, '@PRIMARY@', '6379']);
    const quorum = Number(monitor?.[5]);
    expect(quorum).toBeGreaterThan(sts.spec.replicas / 2);
    expect(quorum).toBeLessThanOrEqual(sts.spec.replicas);
    for (const l of ['sentinel resolve-hostnames yes', 'sentinel announce-hostnames yes', `sentinel down-after-milliseconds ${master} 5000`, `sentinel failover-timeout ${master} 60000`]) {
      expect(sentinelConf).toContain(l);
    }
    // resolve-hostnames must come before the first host name.
    expect(sentinelConf.indexOf('sentinel resolve-hostnames yes')).toBeLessThan(sentinelConf.indexOf(monitor!.join(' ')));
    // Pod 0 is the first primary and the others its replicas; a restarting pod asks the Sentinels first.
    expect(cm.data['common.sh']).toContain('FIRST="$NAME-0.$NAME"');
    expect(cm.data['start-redis.sh']).toMatch(/ask_sentinels[\s\S]*replicaof \$primary 6379/);

    const pdb = byName(objs, 'PodDisruptionBudget', 'cray-bos-db') as unknown as { spec: { minAvailable: number; selector: { matchLabels: Record<string, string> } } };
    expect(pdb.spec.minAvailable).toBe(2);
    for (const [k, v] of Object.entries(pdb.spec.selector.matchLabels)) expect(pod.metadata.labels[k]).toBe(v);
    for (const o of objs) expect(o.metadata.namespace, `${o.kind}/${o.metadata.name}`).toBe('services');
  });
});

describe('the fallback renderer', () => {
  /** Objects keyed by kind/name, named lists sorted by name, so ordering differences do not count. */
  function canonical(objs: K8sObject[]): Record<string, unknown> {
    const sortNamed = (v: unknown): unknown => {
      if (Array.isArray(v)) {
        const items = v.map(sortNamed);
        return items.every((i) => i && typeof i === 'object' && typeof (i as { name?: unknown }).name === 'string')
          ? [...items].sort((a, b) => String((a as { name: string }).name).localeCompare(String((b as { name: string }).name)))
          : items;
      }
      if (v && typeof v === 'object') return Object.fromEntries(Object.entries(v).map(([k, x]) => [k, sortNamed(x)]));
      return v;
    };
    return Object.fromEntries(objs.map((o) => [`${o.kind}/${o.metadata.name}`, sortNamed(o)]));
  }

  it.skipIf(!hasKubectl()).each(DIRS)('renders %s like kubectl kustomize', (dir) => {
    expect(canonical(renderSimple(join(ROOT, dir)))).toEqual(canonical(renderWithKubectl(join(ROOT, dir))));
  });
});

describe('Dockerfile', () => {
  const text = readFileSync(join(ROOT, 'Dockerfile'), 'utf8');
  const stages = text.split(/^FROM /m).slice(1);

  it('builds with dev dependencies and runs with production dependencies only, as a non-root user', () => {
    expect(stages.length).toBeGreaterThanOrEqual(2);
    const build = stages[0]!;
    const run = stages.at(-1)!;
    expect(build).toMatch(/npm ci(?![^\n]*--omit=dev)/);
    expect(build).toMatch(/node scripts\/build\.mjs/);
    expect(run).toMatch(/npm ci --omit=dev/);
    expect(run).not.toMatch(/npx tsc|npm ci(?![^\n]*--omit=dev)/);
    const user = /^USER\s+(\S+)/m.exec(run)?.[1];
    expect(user).toBeDefined();
    expect(user!.split(':')[0]).not.toMatch(/^(root|0)$/);
    expect(run).toMatch(/^ENTRYPOINT \["node", "bin\/bos\.js"\]/m);
    // The compiled code and the OpenAPI file it reads at run time are in the image.
    expect(run).toMatch(/COPY --from=\S+ \/app\/dist\/src/);
    // The build script (run by the build stage) checks the contract is beside the compiled code.
    expect(readFileSync(join(ROOT, 'scripts', 'build.mjs'), 'utf8')).toMatch(/bos-v2-openapi\.yaml/);
  });

  it('runs as the uid the manifests expect', () => {
    const user = /^USER\s+(\d+)/m.exec(stages.at(-1)!)?.[1];
    for (const dir of DIRS) {
      for (const { workload, c } of bosContainers(rendered.get(dir)!)) {
        const spec = podSpec(workload);
        expect(String(c.securityContext?.runAsUser ?? spec.securityContext?.runAsUser), `${dir} ${c.name}`).toBe(user);
      }
    }
  });
});
