/**
 * Render a kustomization: `kubectl kustomize` when kubectl is installed, else a small renderer that
 * covers what deploy/ uses (resources, components, namespace, images, strategic-merge patches and
 * JSON 6902 patches with a target).
 */
import { execFileSync } from 'node:child_process';
import { existsSync, readFileSync, statSync } from 'node:fs';
import { join, resolve } from 'node:path';
import { load, loadAll } from 'js-yaml';

export interface K8sObject {
  apiVersion: string;
  kind: string;
  metadata: { name: string; namespace?: string; labels?: Record<string, string>; [k: string]: unknown };
  [k: string]: unknown;
}

type Json = null | boolean | number | string | Json[] | { [k: string]: Json };
type JsonObject = { [k: string]: Json };

let kubectl: boolean | undefined;
export function hasKubectl(): boolean {
  if (kubectl === undefined) {
    try {
      execFileSync('kubectl', ['version', '--client'], { stdio: 'ignore', timeout: 20_000 });
      kubectl = true;
    } catch {
      kubectl = false;
    }
  }
  return kubectl;
}

function docs(text: string): K8sObject[] {
  return (loadAll(text) as unknown[]).filter((d): d is K8sObject => !!d && typeof d === 'object');
}

export function renderWithKubectl(dir: string): K8sObject[] {
  return docs(execFileSync('kubectl', ['kustomize', dir], { encoding: 'utf8', timeout: 60_000 }));
}

export function render(dir: string): K8sObject[] {
  return hasKubectl() ? renderWithKubectl(dir) : renderSimple(dir);
}

// ------------------------------------------------------------------ the small renderer

const CLUSTER_SCOPED = new Set(['Namespace', 'ClusterRole', 'ClusterRoleBinding', 'CustomResourceDefinition', 'PersistentVolume', 'StorageClass']);

interface Kustomization {
  kind?: string;
  namespace?: string;
  resources?: string[];
  components?: string[];
  patches?: { path?: string; patch?: string; target?: Target }[];
  images?: { name: string; newName?: string; newTag?: string }[];
}

interface Target {
  group?: string;
  version?: string;
  kind?: string;
  name?: string;
}

function readKustomization(dir: string): Kustomization {
  const file = ['kustomization.yaml', 'kustomization.yml', 'Kustomization'].map((f) => join(dir, f)).find((f) => existsSync(f));
  if (!file) throw new Error(`no kustomization file in ${dir}`);
  return load(readFileSync(file, 'utf8')) as Kustomization;
}

function isObject(v: unknown): v is JsonObject {
  return !!v && typeof v === 'object' && !Array.isArray(v);
}

/** Strategic merge as far as deploy/ needs it: maps merge, lists of named items merge by name. */
function merge(base: Json, patch: Json): Json {
  if (isObject(base) && isObject(patch)) {
    const out: JsonObject = { ...base };
    for (const [k, v] of Object.entries(patch)) {
      if (v === null) delete out[k];
      else out[k] = k in out ? merge(out[k]!, v) : structuredClone(v);
    }
    return out;
  }
  if (Array.isArray(base) && Array.isArray(patch) && patch.every((p) => isObject(p) && typeof p.name === 'string')) {
    const out = base.map((b) => structuredClone(b));
    for (const p of patch as JsonObject[]) {
      const i = out.findIndex((b) => isObject(b) && b.name === p.name);
      if (i >= 0) out[i] = merge(out[i]!, p);
      else out.push(structuredClone(p));
    }
    return out;
  }
  return structuredClone(patch);
}

function matches(o: K8sObject, t: Target): boolean {
  const [group, version] = o.apiVersion.includes('/') ? o.apiVersion.split('/') : ['', o.apiVersion];
  return (
    (t.kind === undefined || t.kind === o.kind) &&
    (t.name === undefined || t.name === o.metadata.name) &&
    (t.group === undefined || t.group === group) &&
    (t.version === undefined || t.version === version)
  );
}

function pointer(path: string): string[] {
  return path
    .split('/')
    .slice(1)
    .map((s) => s.replace(/~1/g, '/').replace(/~0/g, '~'));
}

function json6902(obj: K8sObject, ops: { op: string; path: string; value?: Json }[]): K8sObject {
  const out = structuredClone(obj) as unknown as JsonObject;
  for (const op of ops) {
    const parts = pointer(op.path);
    const last = parts.pop()!;
    let node: Json = out;
    for (const p of parts) node = Array.isArray(node) ? node[Number(p)]! : (node as JsonObject)[p]!;
    if (op.op === 'replace' || op.op === 'add') {
      if (Array.isArray(node)) {
        if (last === '-') node.push(structuredClone(op.value!));
        else if (op.op === 'add') node.splice(Number(last), 0, structuredClone(op.value!));
        else node[Number(last)] = structuredClone(op.value!);
      } else (node as JsonObject)[last] = structuredClone(op.value!);
    } else if (op.op === 'remove') {
      if (Array.isArray(node)) node.splice(Number(last), 1);
      else delete (node as JsonObject)[last];
    } else throw new Error(`JSON patch op ${op.op} is not supported by the test renderer`);
  }
  return out as unknown as K8sObject;
}

function applyPatches(dir: string, k: Kustomization, objs: K8sObject[]): K8sObject[] {
  let out = objs;
  for (const p of k.patches ?? []) {
    const doc = load(p.path ? readFileSync(resolve(dir, p.path), 'utf8') : p.patch!) as Json;
    if (Array.isArray(doc)) {
      out = out.map((o) => (p.target && matches(o, p.target) ? json6902(o, doc as { op: string; path: string; value?: Json }[]) : o));
    } else {
      const d = doc as unknown as K8sObject;
      const target: Target = p.target ?? { kind: d.kind, name: d.metadata.name };
      out = out.map((o) => (matches(o, target) ? (merge(o as unknown as Json, doc) as unknown as K8sObject) : o));
    }
  }
  return out;
}

function podSpecs(o: K8sObject): JsonObject[] {
  const spec = o.spec as JsonObject | undefined;
  const tpl = spec?.template as JsonObject | undefined;
  return tpl?.spec && isObject(tpl.spec) ? [tpl.spec] : [];
}

export function renderSimple(dir: string): K8sObject[] {
  const k = readKustomization(dir);
  let objs: K8sObject[] = [];
  for (const r of k.resources ?? []) {
    const p = resolve(dir, r);
    if (statSync(p).isDirectory()) objs.push(...renderSimple(p));
    else objs.push(...docs(readFileSync(p, 'utf8')));
  }
  for (const c of k.components ?? []) {
    const cdir = resolve(dir, c);
    const ck = readKustomization(cdir);
    for (const r of ck.resources ?? []) objs.push(...docs(readFileSync(resolve(cdir, r), 'utf8')));
    objs = applyPatches(cdir, ck, objs);
  }
  objs = applyPatches(dir, k, objs);
  if (k.namespace) {
    for (const o of objs) {
      if (!CLUSTER_SCOPED.has(o.kind)) o.metadata.namespace = k.namespace;
      if (o.kind === 'RoleBinding' || o.kind === 'ClusterRoleBinding') {
        for (const s of (o.subjects as JsonObject[] | undefined) ?? []) if (s.kind === 'ServiceAccount') s.namespace = k.namespace;
      }
    }
  }
  for (const img of k.images ?? []) {
    for (const spec of objs.flatMap(podSpecs)) {
      for (const c of [...((spec.containers as JsonObject[]) ?? []), ...((spec.initContainers as JsonObject[]) ?? [])]) {
        const image = String(c.image);
        const name = image.replace(/[:@].*$/, '');
        if (name !== img.name) continue;
        const tag = image.slice(name.length);
        c.image = `${img.newName ?? name}${img.newTag ? `:${img.newTag}` : tag}`;
      }
    }
  }
  return objs;
}
