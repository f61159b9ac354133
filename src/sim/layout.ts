import type { HsmGroup, HsmPartition } from '../clients/types.js';

export type NodeRole = 'Compute' | 'Application' | 'Management';
export type NodeArch = 'X86' | 'ARM' | 'UNKNOWN';

/** The fixed, hardware-like facts of one node. */
interface NodeSpec {
  id: string;
  nid: number;
  role: NodeRole;
  subRole?: string;
  /** Missing for a few nodes, as on real systems whose HSM never learnt the architecture. */
  arch?: NodeArch;
  class: 'Mountain' | 'River';
}

export interface TenantSpec {
  name: string;
  xnames: string[];
}

export interface Layout {
  nodes: NodeSpec[];
  groups: HsmGroup[];
  partitions: HsmPartition[];
  tenants: TenantSpec[];
}

/** Compute nodes per liquid-cooled cabinet: 8 chassis × 8 slots × 2 BMCs × 2 nodes. */
const NODES_PER_CABINET = 256;

/** The xname of compute node `i` (0-based): cabinets x1000, x1001, … then chassis, slot, BMC, node. */
export function computeXname(i: number): string {
  const cab = 1000 + Math.floor(i / NODES_PER_CABINET);
  const r = i % NODES_PER_CABINET;
  const chassis = Math.floor(r / 32);
  const slot = Math.floor((r % 32) / 4);
  const bmc = Math.floor((r % 4) / 2);
  const node = r % 2;
  return `x${cab}c${chassis}s${slot}b${bmc}n${node}`;
}

/**
 * The default machine room for `n` nodes:
 * - with n ≥ 8, three Management nodes (SubRoles Master, Worker, Storage) in river cabinet x3000;
 * - with n ≥ 16, one Application node (SubRole UAN) per 50 nodes (1–8), also in x3000;
 * - the rest Compute nodes in mountain cabinets x1000… Compute node i (0-based) is ARM when
 *   i % 8 == 7, has no Arch when i % 16 == 5 and Arch UNKNOWN when i % 32 == 13; the others X86.
 * Groups: `compute` (every compute node), `gpu` (compute i % 4 == 3), `blue` (first half of the
 * compute nodes), `green` (second half), `uan` (application nodes), `tenant-a` / `tenant-b`
 * (the nodes of those tenants). Partitions: `p1` = blue, `p2` = green. Tenants: `tenant-a` owns
 * the first eighth of the compute nodes (at least one), `tenant-b` the next eighth.
 */
export function defaultLayout(n: number): Layout {
  if (!Number.isInteger(n) || n < 1) throw new Error(`the simulator needs a whole number of nodes ≥ 1, got ${String(n)}`);
  const mgmt = n >= 8 ? 3 : 0;
  const uan = n >= 16 ? Math.min(8, Math.max(1, Math.floor(n / 50))) : 0;
  const computeCount = n - mgmt - uan;
  const nodes: NodeSpec[] = [];
  const compute: string[] = [];
  for (let i = 0; i < computeCount; i++) {
    const id = computeXname(i);
    const spec: NodeSpec = { id, nid: i + 1, role: 'Compute', class: 'Mountain' };
    if (i % 8 === 7) spec.arch = 'ARM';
    else if (i % 32 === 13) spec.arch = 'UNKNOWN';
    else if (i % 16 !== 5) spec.arch = 'X86';
    nodes.push(spec);
    compute.push(id);
  }
  const subRoles = ['Master', 'Worker', 'Storage'];
  for (let i = 0; i < mgmt; i++) {
    nodes.push({ id: `x3000c0s${1 + 2 * i}b0n0`, nid: 100001 + i, role: 'Management', subRole: subRoles[i]!, arch: 'X86', class: 'River' });
  }
  const uans: string[] = [];
  for (let i = 0; i < uan; i++) {
    const id = `x3000c0s${20 + i}b0n0`;
    nodes.push({ id, nid: 200001 + i, role: 'Application', subRole: 'UAN', arch: 'X86', class: 'River' });
    uans.push(id);
  }
  const half = Math.ceil(compute.length / 2);
  const blue = compute.slice(0, half);
  const green = compute.slice(half);
  const eighth = Math.max(1, Math.floor(compute.length / 8));
  const tenantA = compute.slice(0, eighth);
  const tenantB = compute.slice(eighth, 2 * eighth);
  const group = (label: string, description: string, ids: string[]): HsmGroup => ({ label, description, tags: [], members: { ids } });
  const groups: HsmGroup[] = [
    group('compute', 'every compute node', compute),
    group('gpu', 'compute nodes with accelerators', compute.filter((_, i) => i % 4 === 3)),
    group('blue', 'first half of the compute nodes', blue),
    group('green', 'second half of the compute nodes', green),
    group('uan', 'user access nodes', uans),
    group('tenant-a', 'nodes of tenant tenant-a', tenantA),
    group('tenant-b', 'nodes of tenant tenant-b', tenantB),
  ];
  const partitions: HsmPartition[] = [
    { name: 'p1', description: 'blue partition', members: { ids: blue } },
    { name: 'p2', description: 'green partition', members: { ids: green } },
  ];
  const tenants: TenantSpec[] = [
    { name: 'tenant-a', xnames: tenantA },
    { name: 'tenant-b', xnames: tenantB },
  ];
  return { nodes, groups, partitions, tenants };
}
