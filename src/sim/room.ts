import type { Clock } from '../common/clock.js';
import { formatTimestamp, systemClock } from '../common/clock.js';
import { tryParseDuration } from '../common/duration.js';
import type { CfsComponent, HsmComponent, HsmGroup, HsmLock, HsmPartition, ImsImage } from '../clients/types.js';
import { buildCatalogue, manifestPath, makeObject, DEFAULT_BOOT_PARAMETERS, SIM_IMAGES, BOOT_IMAGES_BUCKET, type SimObject } from './images.js';
import { resolveKnobs, type SimKnobs, type SimService } from './knobs.js';
import { defaultLayout, type Layout, type NodeArch, type NodeRole, type TenantSpec } from './layout.js';
import { stream, type Prng } from './prng.js';
import { ReportSender } from './report-sender.js';
import { Scheduler, type ScheduledEvent } from './scheduler.js';
import Queue from 'yocto-queue';

export type PowerTransitionOperation = 'On' | 'Off' | 'Soft-Off' | 'Soft-Restart' | 'Hard-Restart' | 'Init' | 'Force-Off';
export const POWER_OPERATIONS: readonly PowerTransitionOperation[] = ['On', 'Off', 'Soft-Off', 'Soft-Restart', 'Hard-Restart', 'Init', 'Force-Off'];

/** What BSS holds for one host. */
export interface BootParameters {
  params: string;
  kernel: string;
  initrd: string;
  /** Referral token of the PUT that stored these (one per PUT). */
  token: string;
}

/** What a node booted: the BSS entry at power-on time and the resulting kernel command line. */
interface BootRecord extends BootParameters {
  cmdline: string;
  /** Machine time the node became Ready. */
  at: number;
}

interface CfsState {
  desired_config: string;
  enabled: boolean;
  error_count: number;
  tags: Record<string, string>;
  state: Record<string, unknown>[];
  applied?: string;
  failed?: string;
  job?: ScheduledEvent;
  /** The simulated CFS session configuring the node while `job` is pending. */
  session?: CfsSessionState;
}

/** A CFS v3 configuration (`GET /v3/configurations/{name}`). */
export interface CfsConfiguration {
  name: string;
  description?: string;
  tenant_name: string;
  last_updated: string;
  layers: Record<string, unknown>[];
  additional_inventory?: Record<string, unknown>;
}

/** A CFS v3 session record (`GET /v3/sessions`), as the CFS batcher creates them. */
export interface CfsSession {
  name: string;
  configuration: { name: string; limit: string };
  ansible: { config: string; limit: string; verbosity: number; passthrough: string };
  target: { definition: 'dynamic'; groups: { name: string; members: string[] }[]; image_map: unknown[] };
  status: {
    artifacts: unknown[];
    session: { job: string; ims_job: string; start_time: string; completion_time?: string; status: 'pending' | 'running' | 'complete'; succeeded: 'none' | 'true' | 'false' | 'unknown' };
  };
  tags: Record<string, string>;
  debug_on_failure: boolean;
  logs: string;
}

interface CfsSessionState {
  record: CfsSession;
  key: string;
  pending: Set<string>;
  ok: number;
  failed: number;
}

export interface CfsSessionQuery {
  status?: string;
  succeeded?: string;
  name_contains?: string;
  limit?: string;
  after?: string;
}

/** The clone URL of the simulated VCS configuration repository. */
const CONFIG_CLONE_URL = 'https://api-gw-service-nmn.local/vcs/cray/config-management.git';
const CFS_SESSION_LIMIT = 10_000;

function cfsTime(ms: number): string {
  return formatTimestamp(ms) + 'Z';
}

function pageLimit(raw: string | undefined, dflt: number): number {
  if (raw === undefined || raw === '') return dflt;
  const l = Number(raw);
  if (!Number.isInteger(l) || l < 1) throw new RangeError(`limit must be a positive integer, got ${JSON.stringify(raw)}`);
  return l;
}

/** One simulated node; tests may read any field and change the behaviour flags. */
export interface SimNode {
  readonly id: string;
  readonly nid: number;
  role: NodeRole;
  subRole?: string;
  arch?: NodeArch;
  readonly class: 'Mountain' | 'River';
  /** HSM Enabled. */
  enabled: boolean;
  /** HSM lock; PCS refuses to transition a locked node. */
  locked: boolean;
  power: 'on' | 'off';
  /** Booted (HSM Ready). */
  booted: boolean;
  ignoreSoftOff: boolean;
  neverBoot: boolean;
  /** CFS configuration of this node always fails. */
  cfsFails: boolean;
  /** The current boot, while booted. */
  boot?: BootRecord;
  /** How many times this node has booted. */
  boots: number;
  /** Successful state reports to BOS (all boots). */
  reports: number;
  /** Failed report attempts (errors and non-2xx answers). */
  reportFailures: number;
  /** Machine time of the last successful report. */
  lastReportAt?: number;
  /** Machine time of the last power state change. */
  lastPowerChange: number;
}

interface NodeState extends SimNode {
  /** The node's entry of a PCS power-status answer as JSON, kept until its power or last change does. */
  pcsJson?: { power: string; at: number; text: string };
  gen: number;
  pending?: ScheduledEvent;
  bootEv?: ScheduledEvent;
  reportEv?: ScheduledEvent;
  reportedThisBoot: boolean;
  cfs: CfsState;
}

interface TransitionTask {
  xname: string;
  taskStatus: 'new' | 'in-progress' | 'failed' | 'succeeded';
  taskStatusDescription: string;
  error?: string;
}

export interface TransitionRecord {
  transitionID: string;
  operation: PowerTransitionOperation;
  createTime: string;
  automaticExpirationTime: string;
  transitionStatus: 'new' | 'in-progress' | 'completed' | 'aborted';
  taskDeadlineMinutes: number;
  tasks: TransitionTask[];
}

export interface MachineRoomOptions {
  nodes: number;
  seed?: number;
  clock?: Clock;
  /** BOS API base, e.g. `http://127.0.0.1:8080/apis/bos/v2`; without it nodes do not report. */
  bosUrl?: string;
  knobs?: Partial<SimKnobs>;
  /** Replace the default layout (tests). */
  layout?: Layout;
}

export interface CfsListQuery {
  ids?: string;
  status?: string;
  enabled?: string;
  config_name?: string;
  limit?: string;
  after?: string;
}

export interface ReportEvent {
  xname: string;
  at: number;
  ok: boolean;
  status?: number;
}

const REPORT_LOG_LIMIT = 10_000;

/** The transitions PCS lists for every node (one shared array: answers only read it). */
const SUPPORTED_TRANSITIONS: readonly string[] = Object.freeze(['On', 'Soft-Off', 'Force-Off', 'Soft-Restart', 'Hard-Restart', 'Init', 'Off']);

const SUPPORTED_TRANSITIONS_JSON = JSON.stringify(SUPPORTED_TRANSITIONS);

/** `JSON.stringify(pcsEntry(n))`, written out: a status pass asks for every node whose power changed. */
function pcsEntryText(n: NodeState): string {
  return (
    `{"xname":${JSON.stringify(n.id)},"powerState":${JSON.stringify(n.power)},"managementState":"available","error":"",` +
    `"supportedPowerTransitions":${SUPPORTED_TRANSITIONS_JSON},"lastUpdated":"${new Date(n.lastPowerChange).toISOString()}"}`
  );
}

/** A node's entry of a PCS power-status answer. */
function pcsEntry(n: NodeState): Record<string, unknown> {
  return {
    xname: n.id,
    powerState: n.power,
    managementState: 'available',
    error: '',
    supportedPowerTransitions: SUPPORTED_TRANSITIONS,
    lastUpdated: new Date(n.lastPowerChange).toISOString(),
  };
}

/** The entry PCS answers for an xname it does not know. */
function pcsUnknownEntry(id: string): Record<string, unknown> {
  return { xname: id, powerState: 'undefined', managementState: 'undefined', error: 'Component not found in component map.', supportedPowerTransitions: [], lastUpdated: '' };
}

/**
 * The machine room: nodes with power, boot and configuration state machines driven by a Scheduler
 * over the injected Clock, plus the state HSM, PCS, BSS, CFS, IMS, S3 and TAPMS serve. Methods are
 * synchronous state changes; the only asynchronous work is the state reporter's HTTP calls to BOS.
 */
export class MachineRoom {
  readonly clock: Clock;
  readonly seed: number;
  readonly knobs: SimKnobs;
  readonly scheduler: Scheduler;
  readonly groups: HsmGroup[];
  readonly partitions: HsmPartition[];
  readonly tenants: TenantSpec[];
  readonly objects: Map<string, SimObject>;
  readonly images: Map<string, ImsImage>;
  readonly transitions = new Map<string, TransitionRecord>();
  /** CFS v3 configurations by name (created on demand when components are given one). */
  readonly cfsConfigurations = new Map<string, CfsConfiguration>();
  /** Recent report attempts, oldest first (the last 10,000 to 15,000). */
  readonly reportLog: ReportEvent[] = [];
  /** Running totals over every node (summary() counts them node by node; counts() reads these). */
  private readonly totals = { boots: 0, reports: 0, reportFailures: 0 };

  private readonly nodeMap = new Map<string, NodeState>();
  private readonly order: NodeState[] = [];
  private readonly sortedIds: string[];
  private readonly bss = new Map<string, BootParameters>();
  private readonly failurePrng: Prng;
  private readonly tokenPrng: Prng;
  private readonly jitterPrng: Prng;
  private readonly cfsPrng: Prng;
  private readonly configPrng: Prng;
  private readonly sessionPrng: Prng;
  private readonly cfsSessions = new Map<string, CfsSessionState>();
  private readonly openCfsSessions = new Map<string, CfsSessionState>();
  private readonly inflight = new Set<Promise<void>>();
  /** Reports waiting for a free reporter slot (a FIFO: an array's shift() copies it, 100,000 at a time). */
  private readonly queue = new Queue<() => Promise<void>>();
  private active = 0;
  private closed = false;
  private readonly sender = new ReportSender();
  private bos?: string;

  /**
   * The bearer token each node's reporter sends (a node token naming its xname, as a real node gets
   * from the SPIRE/token service); without it, the reporterToken knob, if set.
   */
  nodeToken?: (xname: string) => string | undefined | Promise<string | undefined>;

  constructor(opts: MachineRoomOptions) {
    this.clock = opts.clock ?? systemClock;
    this.seed = opts.seed ?? 1;
    this.knobs = resolveKnobs(opts.knobs);
    this.bos = opts.bosUrl?.replace(/\/+$/, '') || undefined;
    this.scheduler = new Scheduler(this.clock);
    this.failurePrng = stream(this.seed, 'failures');
    this.tokenPrng = stream(this.seed, 'tokens');
    this.jitterPrng = stream(this.seed, 'reporter');
    this.cfsPrng = stream(this.seed, 'cfs');
    this.configPrng = stream(this.seed, 'cfs-configurations');
    this.sessionPrng = stream(this.seed, 'cfs-sessions');
    const layout = opts.layout ?? defaultLayout(opts.nodes);
    this.groups = layout.groups;
    this.partitions = layout.partitions;
    this.tenants = layout.tenants;
    const now = this.clock.now();
    const catalogue = buildCatalogue(now);
    this.objects = catalogue.objects;
    this.images = catalogue.images;
    const k = this.knobs;
    const set = (xs: string[]) => new Set(xs);
    const [stubborn, never, cfsFail, locked, disabled] = [k.ignoreSoftOff, k.neverBoot, k.cfsFailNodes, k.locked, k.disabled].map(set);
    for (const spec of layout.nodes) {
      const node: NodeState = {
        ...spec,
        enabled: !disabled.has(spec.id),
        locked: locked.has(spec.id),
        power: 'off',
        booted: false,
        ignoreSoftOff: stubborn.has(spec.id),
        neverBoot: never.has(spec.id),
        cfsFails: cfsFail.has(spec.id),
        boots: 0,
        reports: 0,
        reportFailures: 0,
        lastPowerChange: now,
        gen: 0,
        reportedThisBoot: false,
        cfs: { desired_config: '', enabled: false, error_count: 0, tags: {}, state: [] },
      };
      this.nodeMap.set(spec.id, node);
      this.order.push(node);
    }
    this.sortedIds = [...this.nodeMap.keys()].sort();
    this.seedBootParameters();
    if (k.initialPower === 'on') {
      for (const node of this.order) {
        node.power = 'on';
        if (!node.neverBoot) this.finishBoot(node, now, true);
      }
    }
  }

  /** BOS API base the nodes report to (e.g. `http://127.0.0.1:8080/apis/bos/v2`). */
  get bosUrl(): string | undefined {
    return this.bos;
  }

  /**
   * Set or change where nodes report. Booted nodes that were not reporting (no URL before) start
   * within a minute; nodes already reporting use the new URL from their next report on.
   */
  set bosUrl(url: string | undefined) {
    this.bos = url?.replace(/\/+$/, '') || undefined;
    if (!this.bos) return;
    for (const n of this.order) {
      if (n.booted && !n.reportEv) {
        const gen = n.gen;
        n.reportEv = this.scheduler.after(Math.floor(this.jitterPrng.next() * 60_000), () => this.report(n, gen, 1));
      }
    }
  }

  // ------------------------------------------------------------------ nodes
  get size(): number {
    return this.order.length;
  }

  /** Every node in layout order. */
  nodes(): readonly SimNode[] {
    return this.order;
  }

  node(xname: string): SimNode | undefined {
    return this.nodeMap.get(xname);
  }

  /** Change behaviour flags or HSM facts of one node. Throws on an unknown xname. */
  setNode(
    xname: string,
    changes: Partial<Pick<SimNode, 'enabled' | 'locked' | 'ignoreSoftOff' | 'neverBoot' | 'cfsFails' | 'role' | 'subRole' | 'arch'>>,
  ): SimNode {
    const node = this.nodeMap.get(xname);
    if (!node) throw new Error(`unknown node ${xname}: the simulator has ${this.size} nodes, e.g. ${this.order[0]?.id ?? '(none)'}`);
    Object.assign(node, changes);
    return node;
  }

  /** HSM State of a node. */
  hsmState(node: SimNode): 'Off' | 'On' | 'Ready' {
    return node.power === 'off' ? 'Off' : node.booted ? 'Ready' : 'On';
  }

  /** Knobs fixed when the room is built (they shape the nodes); change nodes with setNode instead. */
  static readonly CONSTRUCTION_KNOBS = ['ignoreSoftOff', 'neverBoot', 'cfsFailNodes', 'locked', 'disabled', 'initialPower'] as const;

  /**
   * Change run-wide knobs while running (delays apply to transitions started afterwards). Validates
   * the result as a whole and changes nothing when it is invalid.
   */
  updateKnobs(changes: Partial<SimKnobs>): SimKnobs {
    for (const k of Object.keys(changes)) {
      if ((MachineRoom.CONSTRUCTION_KNOBS as readonly string[]).includes(k)) {
        throw new RangeError(`${k} only applies when the room is built; change single nodes with setNode (PATCH /nodes/{xname})`);
      }
      if (!(k in this.knobs) && k !== 'reporterToken') throw new RangeError(`unknown knob ${k}`);
    }
    const merged = resolveKnobs({ ...this.knobs, ...changes });
    Object.assign(this.knobs, merged);
    this.pump();
    return this.knobs;
  }

  /** Boots and report totals so far, without a walk over the nodes (cheap to poll at scale). */
  counts(): { boots: number; reports: number; reportFailures: number; reportsInFlight: number } {
    return { ...this.totals, reportsInFlight: this.active + this.queue.size };
  }

  /** Counts for a dashboard line: power and HSM states, boots, reports. */
  summary(): Record<string, number> {
    const out: Record<string, number> = { nodes: this.order.length, off: 0, on: 0, ready: 0, locked: 0, disabled: 0, reports: 0, reportFailures: 0, boots: 0 };
    for (const n of this.order) {
      const st = this.hsmState(n);
      if (st === 'Off') out.off!++;
      else if (st === 'On') out.on!++;
      else out.ready!++;
      if (n.locked) out.locked!++;
      if (!n.enabled) out.disabled!++;
      out.reports! += n.reports;
      out.reportFailures! += n.reportFailures;
      out.boots! += n.boots;
    }
    out.scheduledEvents = this.scheduler.size;
    out.reportsInFlight = this.active + this.queue.size;
    return out;
  }

  // ------------------------------------------------------------------ faults
  /** Decide (from the seeded stream) whether this call to `service` fails. */
  shouldFail(service: SimService): boolean {
    const rate = this.knobs.failureRate[service] ?? 0;
    if (rate <= 0) return false;
    return this.failurePrng.next() < rate;
  }

  // ------------------------------------------------------------------ HSM
  hsmComponent(node: SimNode): HsmComponent {
    const c: HsmComponent = {
      ID: node.id,
      Type: 'Node',
      State: this.hsmState(node),
      Flag: 'OK',
      Enabled: node.enabled,
      Role: node.role,
    };
    if (node.subRole) c.SubRole = node.subRole;
    c.NID = node.nid;
    c.NetType = 'Sling';
    if (node.arch) c.Arch = node.arch;
    c.Class = node.class;
    return c;
  }

  /** GET /State/Components with the usual HSM filters (each a list; empty = any). */
  listHsm(filter: { id?: string[]; type?: string[]; state?: string[]; role?: string[]; subrole?: string[]; enabled?: string[]; arch?: string[] } = {}): HsmComponent[] {
    const ids = filter.id?.length ? filter.id : undefined;
    const nodes: NodeState[] = ids ? ids.map((i) => this.nodeMap.get(i)).filter((n): n is NodeState => !!n) : this.order;
    return this.filterHsm(nodes, filter).map((n) => this.hsmComponent(n));
  }

  /** POST /State/Components/Query: the listed ids that exist (unknown ids are left out). */
  queryHsm(ids: readonly string[], filter: { enabled?: string[]; state?: string[]; role?: string[]; type?: string[] } = {}): HsmComponent[] {
    const nodes: NodeState[] = [];
    const seen = new Set<string>();
    for (const id of ids) {
      const n = this.nodeMap.get(id);
      if (n && !seen.has(id)) {
        seen.add(id);
        nodes.push(n);
      }
    }
    return this.filterHsm(nodes, filter).map((n) => this.hsmComponent(n));
  }

  private filterHsm(
    nodes: NodeState[],
    f: { type?: string[]; state?: string[]; role?: string[]; subrole?: string[]; enabled?: string[]; arch?: string[] },
  ): NodeState[] {
    const lc = (xs?: string[]) => (xs && xs.length ? new Set(xs.map((x) => x.toLowerCase())) : undefined);
    const type = lc(f.type);
    const state = lc(f.state);
    const role = lc(f.role);
    const subrole = lc(f.subrole);
    const arch = lc(f.arch);
    const enabled = f.enabled?.length ? new Set(f.enabled.map((e) => ['true', '1', 't', 'yes'].includes(e.toLowerCase()))) : undefined;
    if (type && !type.has('node')) return [];
    if (!state && !role && !subrole && !arch && !enabled) return nodes;
    return nodes.filter(
      (n) =>
        (!state || state.has(this.hsmState(n).toLowerCase())) &&
        (!role || role.has(n.role.toLowerCase())) &&
        (!subrole || subrole.has((n.subRole ?? '').toLowerCase())) &&
        (!arch || arch.has((n.arch ?? 'unknown').toLowerCase())) &&
        (!enabled || enabled.has(n.enabled)),
    );
  }

  locks(lockedOnly: boolean | undefined): HsmLock[] {
    const out: HsmLock[] = [];
    for (const n of this.order) {
      if (lockedOnly === true && !n.locked) continue;
      if (lockedOnly === false && n.locked) continue;
      out.push({ ID: n.id, Locked: n.locked, Reserved: false, CreatedTime: '', ExpirationTime: '', ReservationDisabled: false });
    }
    return out;
  }

  tenant(name: string): TenantSpec | undefined {
    return this.tenants.find((t) => t.name === name);
  }

  // ------------------------------------------------------------------ PCS
  /** PCS power status of the nodes (all without ids); answered to 100,000 nodes per status pass, so cheap per node. */
  powerStatus(ids?: readonly string[]): Record<string, unknown>[] {
    const out: Record<string, unknown>[] = [];
    for (const id of this.pcsTargets(ids)) {
      const n = this.nodeMap.get(id);
      out.push(n ? pcsEntry(n) : pcsUnknownEntry(id));
    }
    return out;
  }

  /**
   * `JSON.stringify({ status: powerStatus(ids) })`, from each node's entry text kept until its power
   * changes: a status pass over 100,000 nodes asks for all of them, and their entries rarely change
   * between two passes.
   */
  powerStatusJson(ids?: readonly string[]): string {
    const list = this.pcsTargets(ids);
    const texts: string[] = new Array(list.length);
    for (let i = 0; i < list.length; i++) {
      const n = this.nodeMap.get(list[i]!);
      if (!n) {
        texts[i] = JSON.stringify(pcsUnknownEntry(list[i]!));
        continue;
      }
      const at = n.lastPowerChange;
      let kept = n.pcsJson;
      if (kept?.power !== n.power || kept.at !== at) kept = n.pcsJson = { power: n.power, at, text: pcsEntryText(n) };
      texts[i] = kept.text;
    }
    return `{"status":[${texts.join(',')}]}`;
  }

  /** The xnames a power-status request asks about: those given, or every node when none are. */
  private pcsTargets(ids?: readonly string[]): readonly string[] {
    return ids && ids.length ? ids : this.order.map((n) => n.id);
  }

  /** Start a PCS transition; nodes change power after the knob delays. */
  transition(operation: PowerTransitionOperation, xnames: readonly string[], taskDeadlineMinutes = 5): TransitionRecord {
    const now = this.clock.now();
    const rec: TransitionRecord = {
      transitionID: this.tokenPrng.uuid(),
      operation,
      createTime: new Date(now).toISOString(),
      automaticExpirationTime: new Date(now + 24 * 3600_000).toISOString(),
      transitionStatus: 'in-progress',
      taskDeadlineMinutes,
      tasks: [],
    };
    const k = this.knobs;
    const wanted = [...new Set(xnames)];
    let open = 0;
    const done = (task: TransitionTask, status: 'failed' | 'succeeded', desc: string, error?: string) => {
      task.taskStatus = status;
      task.taskStatusDescription = desc;
      if (error) task.error = error;
      open--;
      if (open === 0) rec.transitionStatus = 'completed';
    };
    for (const xname of wanted) {
      const task: TransitionTask = { xname, taskStatus: 'in-progress', taskStatusDescription: 'Confirming successful transition' };
      rec.tasks.push(task);
      open++;
      const n = this.nodeMap.get(xname);
      if (!n) {
        done(task, 'failed', 'Missing xname', 'Xname not found in HSM data');
        continue;
      }
      if (n.locked) {
        done(task, 'failed', 'Component is locked', 'Unable to reserve component: it is locked in HSM');
        continue;
      }
      const wantOff = operation !== 'On';
      const wantOn = operation === 'On' || operation === 'Soft-Restart' || operation === 'Hard-Restart' || operation === 'Init';
      const graceful = operation === 'Soft-Off' || operation === 'Soft-Restart';
      if (graceful && n.ignoreSoftOff && n.power === 'on') {
        // The node never acts on the graceful request; PCS gives up at the deadline.
        this.scheduler.after(taskDeadlineMinutes * 60_000, () => done(task, 'failed', 'Transition timed out', 'Timeout waiting for transition to complete'));
        continue;
      }
      this.scheduler.cancel(n.pending);
      n.pending = undefined;
      if (wantOff && n.power === 'on') {
        const offDelay = graceful ? k.powerOffDelayMs : k.forceOffDelayMs;
        n.pending = this.scheduler.after(offDelay, (at) => {
          n.pending = undefined;
          this.powerOff(n, at);
          if (!wantOn) return done(task, 'succeeded', 'Transition confirmed, off');
          n.pending = this.scheduler.after(k.powerOnDelayMs, (at2) => {
            n.pending = undefined;
            this.powerOn(n, at2);
            done(task, 'succeeded', 'Transition confirmed, on');
          });
        });
      } else if (wantOn && n.power === 'off') {
        n.pending = this.scheduler.after(k.powerOnDelayMs, (at) => {
          n.pending = undefined;
          this.powerOn(n, at);
          done(task, 'succeeded', 'Transition confirmed, on');
        });
      } else if (wantOn && wantOff) {
        // Restart of a node that is off: just power it on.
        n.pending = this.scheduler.after(k.powerOnDelayMs, (at) => {
          n.pending = undefined;
          this.powerOn(n, at);
          done(task, 'succeeded', 'Transition confirmed, on');
        });
      } else {
        done(task, 'succeeded', `Component already in desired state`);
      }
    }
    if (open === 0) rec.transitionStatus = 'completed';
    this.transitions.set(rec.transitionID, rec);
    if (this.transitions.size > 10_000) {
      const oldest = this.transitions.keys().next().value;
      if (oldest !== undefined) this.transitions.delete(oldest);
    }
    return rec;
  }

  private powerOn(n: NodeState, at: number): void {
    if (n.power === 'on') return;
    n.power = 'on';
    n.booted = false;
    n.boot = undefined;
    n.gen++;
    n.lastPowerChange = at;
    if (n.neverBoot) return;
    const entry = this.bss.get(n.id);
    if (!entry) return; // nothing to network-boot: the node sits at its firmware prompt
    const gen = n.gen;
    n.bootEv = this.scheduler.after(this.knobs.bootDelayMs, (t) => {
      n.bootEv = undefined;
      if (n.gen !== gen || n.power !== 'on' || n.neverBoot) return;
      this.finishBoot(n, t, false);
    });
  }

  private powerOff(n: NodeState, at: number): void {
    if (n.power === 'off') return;
    n.power = 'off';
    n.booted = false;
    n.boot = undefined;
    n.gen++;
    n.lastPowerChange = at;
    this.scheduler.cancel(n.bootEv);
    this.scheduler.cancel(n.reportEv);
    this.cancelCfsJob(n, at);
    n.bootEv = n.reportEv = undefined;
  }

  /** The node comes up on what BSS holds for it and starts its reporters. */
  private finishBoot(n: NodeState, at: number, initial: boolean): void {
    const entry = this.bss.get(n.id);
    if (!entry) return;
    n.booted = true;
    n.boots++;
    this.totals.boots++;
    n.reportedThisBoot = false;
    n.boot = {
      ...entry,
      cmdline: `${entry.params} bss_referral_token=${entry.token} xname=${n.id} nid=${n.nid}`.trim(),
      at,
    };
    if (this.knobs.cfsEnableOnBoot) n.cfs.enabled = true;
    this.cfsCheck(n);
    if (this.bosUrl) {
      // Nodes already running when the room starts report at a random moment of the first minute.
      const first = initial ? Math.floor(this.jitterPrng.next() * 60_000) : 0;
      const gen = n.gen;
      n.reportEv = this.scheduler.after(first, () => this.report(n, gen, 1));
    }
  }

  // ------------------------------------------------------------------ reporter
  private reportPeriod(n: NodeState): number {
    const m = /(?:^|\s)bos_update_frequency=(\S+)/.exec(n.boot?.cmdline ?? '');
    const secs = m ? tryParseDuration(m[1]) : undefined;
    return secs !== undefined ? 0.75 * secs * 1000 : this.knobs.reportPeriodMs;
  }

  private report(n: NodeState, gen: number, attempt: number): void {
    n.reportEv = undefined;
    if (this.closed || n.gen !== gen || !n.booted || !n.boot || !this.bosUrl) return;
    const url = `${this.bosUrl}/components/${encodeURIComponent(n.id)}`;
    const body = JSON.stringify({ id: n.id, actual_state: { bss_token: n.boot.token } });
    this.enqueue(async () => {
      if (this.closed || n.gen !== gen) return;
      let status: number | undefined;
      let ok = false;
      try {
        // The updated record is not read: ask BOS not to send it (RFC 7240; upstream BOS sends it anyway).
        const headers: Record<string, string> = { 'content-type': 'application/json', prefer: 'return=minimal' };
        const token = this.nodeToken ? await this.nodeToken(n.id) : this.knobs.reporterToken;
        if (token) headers.authorization = `Bearer ${token}`;
        status = await this.sender.patch(url, headers, body, 10_000);
        ok = status >= 200 && status < 300;
      } catch {
        ok = false;
      }
      const at = this.clock.now();
      this.reportLog.push({ xname: n.id, at, ok, status });
      if (this.reportLog.length > REPORT_LOG_LIMIT * 1.5) this.reportLog.splice(0, this.reportLog.length - REPORT_LOG_LIMIT);
      if (this.closed || n.gen !== gen) return;
      if (ok) {
        n.reports++;
        this.totals.reports++;
        n.lastReportAt = at;
        const period = this.reportPeriod(n);
        const wait = n.reportedThisBoot ? period : Math.floor(this.jitterPrng.next() * period);
        n.reportedThisBoot = true;
        n.reportEv = this.scheduler.at(at + wait, () => this.report(n, gen, 1));
      } else {
        n.reportFailures++;
        this.totals.reportFailures++;
        const wait = Math.min(this.knobs.reportRetryCapMs, 2000 * attempt);
        n.reportEv = this.scheduler.at(at + wait, () => this.report(n, gen, attempt + 1));
      }
    });
  }

  private enqueue(job: () => Promise<void>): void {
    this.queue.enqueue(job);
    this.pump();
  }

  private pump(): void {
    while (this.active < this.knobs.reporterConcurrency && this.queue.size > 0) {
      const job = this.queue.dequeue()!;
      this.active++;
      const p: Promise<void> = job()
        .catch(() => undefined)
        .finally(() => {
          this.active--;
          this.inflight.delete(p);
          this.pump();
        });
      this.inflight.add(p);
    }
  }

  // ------------------------------------------------------------------ BSS
  private seedBootParameters(): void {
    const byArch = new Map<string, string[]>();
    for (const n of this.order) {
      const image = n.role === 'Application' ? SIM_IMAGES.uanX86 : n.arch === 'ARM' ? SIM_IMAGES.computeArm : SIM_IMAGES.computeX86;
      const list = byArch.get(image) ?? [];
      list.push(n.id);
      byArch.set(image, list);
    }
    for (const [image, hosts] of byArch) {
      const base = `s3://${BOOT_IMAGES_BUCKET}/${image}`;
      this.putBootParameters(hosts, `${DEFAULT_BOOT_PARAMETERS} root=live:s3://${BOOT_IMAGES_BUCKET}/${image}/rootfs`, `${base}/kernel`, `${base}/initrd`);
    }
  }

  /** PUT /bootparameters: store per host, return the referral token of this PUT. */
  putBootParameters(hosts: readonly string[], params: string, kernel: string, initrd: string): string {
    const token = this.tokenPrng.uuid();
    for (const h of hosts) this.bss.set(h, { params, kernel, initrd, token });
    return token;
  }

  bootParameters(name: string): BootParameters | undefined {
    return this.bss.get(name);
  }

  bootParameterHosts(): string[] {
    return [...this.bss.keys()];
  }

  // ------------------------------------------------------------------ CFS
  private cfsStatus(c: CfsState): string {
    if (!c.desired_config) return 'unconfigured';
    if (c.failed === c.desired_config) return 'failed';
    if (c.applied === c.desired_config) return 'configured';
    return 'pending';
  }

  cfsComponent(node: SimNode): CfsComponent & Record<string, unknown> {
    const n = node as NodeState;
    return {
      id: n.id,
      state: n.cfs.state,
      desired_config: n.cfs.desired_config,
      error_count: n.cfs.error_count,
      retry_policy: 3,
      enabled: n.cfs.enabled,
      configuration_status: this.cfsStatus(n.cfs),
      tags: n.cfs.tags,
      logs: '',
    };
  }

  /** GET /components: filters, then `limit`/`after` paging in id order. */
  listCfs(q: CfsListQuery): { components: Record<string, unknown>[]; next: Record<string, string | number> | null } {
    let limit = this.knobs.cfsPageSize;
    if (q.limit !== undefined && q.limit !== '') {
      const l = Number(q.limit);
      if (!Number.isInteger(l) || l < 1) throw new RangeError(`limit must be a positive integer, got ${JSON.stringify(q.limit)}`);
      limit = l;
    }
    let ids: string[];
    if (q.ids) {
      const wanted = new Set(q.ids.split(',').map((s) => s.trim()).filter(Boolean));
      ids = this.sortedIds.filter((id) => wanted.has(id));
    } else ids = this.sortedIds;
    if (q.after) {
      const after = q.after;
      let lo = 0;
      let hi = ids.length;
      while (lo < hi) {
        const mid = (lo + hi) >> 1;
        if (ids[mid]! <= after) lo = mid + 1;
        else hi = mid;
      }
      ids = ids.slice(lo);
    }
    const statuses = q.status ? new Set(q.status.split(',').map((s) => s.trim().toLowerCase())) : undefined;
    const enabled = q.enabled !== undefined && q.enabled !== '' ? q.enabled.toLowerCase() === 'true' : undefined;
    const components: Record<string, unknown>[] = [];
    let last: string | undefined;
    let more = false;
    for (const id of ids) {
      const n = this.nodeMap.get(id)!;
      if (statuses && !statuses.has(this.cfsStatus(n.cfs))) continue;
      if (enabled !== undefined && n.cfs.enabled !== enabled) continue;
      if (q.config_name !== undefined && q.config_name !== '' && n.cfs.desired_config !== q.config_name) continue;
      if (components.length === limit) {
        more = true;
        break;
      }
      components.push(this.cfsComponent(n));
      last = id;
    }
    let next: Record<string, string | number> | null = null;
    if (more && last !== undefined) {
      next = { limit, after: last };
      for (const key of ['ids', 'status', 'enabled', 'config_name'] as const) if (q[key]) next[key] = q[key]!;
    }
    return { components, next };
  }

  /** PATCH /components: apply one patch to the listed ids; unknown ids are skipped. Returns patched ids. */
  patchCfs(ids: readonly string[], patch: Record<string, unknown>): string[] {
    const out: string[] = [];
    for (const id of ids) {
      const n = this.nodeMap.get(id);
      if (!n) continue;
      const c = n.cfs;
      if (typeof patch.desired_config === 'string' && patch.desired_config !== c.desired_config) {
        c.desired_config = patch.desired_config;
        this.cancelCfsJob(n);
      }
      if (typeof patch.desired_config === 'string' && patch.desired_config !== '') this.ensureConfiguration(patch.desired_config);
      if (typeof patch.enabled === 'boolean') c.enabled = patch.enabled;
      if (typeof patch.error_count === 'number') c.error_count = patch.error_count;
      if (patch.tags && typeof patch.tags === 'object') {
        for (const [k, v] of Object.entries(patch.tags as Record<string, unknown>)) {
          if (v === null || v === '') delete c.tags[k];
          else c.tags[k] = String(v);
        }
      }
      if (Array.isArray(patch.state)) {
        c.state = patch.state.filter((s): s is Record<string, unknown> => !!s && typeof s === 'object');
        if (c.state.length === 0) {
          c.applied = undefined;
          c.failed = undefined;
          this.cancelCfsJob(n);
        }
      }
      this.cfsCheck(n);
      out.push(id);
    }
    return out;
  }

  /** Start configuring a booted, enabled node whose configuration is pending. */
  private cfsCheck(n: NodeState): void {
    const c = n.cfs;
    if (c.job || !c.enabled || !n.booted || this.cfsStatus(c) !== 'pending') return;
    const config = c.desired_config;
    const gen = n.gen;
    const session = this.joinCfsSession(config, n.id);
    c.session = session;
    c.job = this.scheduler.after(this.knobs.cfsConfigureDelayMs, (at) => {
      c.job = undefined;
      c.session = undefined;
      if (n.gen !== gen || !n.booted || c.desired_config !== config || !c.enabled) {
        this.leaveCfsSession(session, n.id, at, undefined);
        return;
      }
      if (n.cfsFails || this.knobs.failingConfigurations.includes(config)) {
        c.failed = config;
        c.error_count++;
        this.leaveCfsSession(session, n.id, at, false);
        return;
      }
      c.applied = config;
      const layers = this.cfsConfigurations.get(config)?.layers ?? [];
      c.state = (layers.length ? layers : [{}]).map((l) => ({
        clone_url: typeof l.clone_url === 'string' ? l.clone_url : CONFIG_CLONE_URL,
        playbook: typeof l.playbook === 'string' ? l.playbook : 'site.yml',
        commit: typeof l.commit === 'string' ? l.commit : this.cfsPrng.hex(40),
        status: 'applied',
        session_name: session.record.name,
        last_updated: cfsTime(at),
      }));
      this.leaveCfsSession(session, n.id, at, true);
    });
  }

  /** Drop a node's pending configuration (its session goes on without it). */
  private cancelCfsJob(n: NodeState, at = this.clock.now()): void {
    const c = n.cfs;
    this.scheduler.cancel(c.job);
    c.job = undefined;
    if (c.session) this.leaveCfsSession(c.session, n.id, at, undefined);
    c.session = undefined;
  }

  // ------------------------------------------------------------------ CFS sessions
  /**
   * The batcher-style session configuring `xname`: nodes that start on the same configuration at
   * the same machine time share one (CFS batches them the same way).
   */
  private joinCfsSession(config: string, xname: string): CfsSessionState {
    const now = this.clock.now();
    const key = `${config}\u0000${now}`;
    let s = this.openCfsSessions.get(key);
    if (!s) {
      const id = this.sessionPrng.uuid();
      s = {
        key,
        pending: new Set(),
        ok: 0,
        failed: 0,
        record: {
          name: `batcher-${id}`,
          configuration: { name: config, limit: '' },
          ansible: { config: 'cfs-default-ansible-cfg', limit: '', verbosity: 0, passthrough: '' },
          target: { definition: 'dynamic', groups: [], image_map: [] },
          status: {
            artifacts: [],
            session: { job: `cfs-${id}`, ims_job: '', start_time: cfsTime(now), status: 'running', succeeded: 'none' },
          },
          tags: {},
          debug_on_failure: false,
          logs: '',
        },
      };
      this.openCfsSessions.set(key, s);
      this.cfsSessions.set(s.record.name, s);
      this.trimCfsSessions();
    }
    s.pending.add(xname);
    s.record.ansible.limit = s.record.ansible.limit ? `${s.record.ansible.limit},${xname}` : xname;
    return s;
  }

  /** A node of a session is done (`ok`), failed (`false`) or dropped (`undefined`). */
  private leaveCfsSession(s: CfsSessionState, xname: string, at: number, ok: boolean | undefined): void {
    if (!s.pending.delete(xname)) return;
    if (ok === true) s.ok++;
    else if (ok === false) s.failed++;
    if (s.pending.size > 0) return;
    this.openCfsSessions.delete(s.key);
    const st = s.record.status.session;
    st.status = 'complete';
    st.completion_time = cfsTime(at);
    st.succeeded = s.failed > 0 ? 'false' : s.ok > 0 ? 'true' : 'unknown';
  }

  private trimCfsSessions(): void {
    if (this.cfsSessions.size <= CFS_SESSION_LIMIT) return;
    for (const [name, s] of this.cfsSessions) {
      if (this.cfsSessions.size <= CFS_SESSION_LIMIT) break;
      if (s.record.status.session.status === 'complete') this.cfsSessions.delete(name);
    }
  }

  /** GET /v3/sessions: filters (`status`, `succeeded`, `name_contains`), then `limit`/`after` paging by name. */
  listCfsSessions(q: CfsSessionQuery = {}): { sessions: CfsSession[]; next: Record<string, string | number> | null } {
    const limit = pageLimit(q.limit, this.knobs.cfsPageSize);
    const statuses = q.status ? new Set(q.status.split(',').map((x) => x.trim().toLowerCase())) : undefined;
    const succeeded = q.succeeded ? new Set(q.succeeded.split(',').map((x) => x.trim().toLowerCase())) : undefined;
    const names = [...this.cfsSessions.keys()].sort();
    const sessions: CfsSession[] = [];
    let more = false;
    for (const name of names) {
      if (q.after && name <= q.after) continue;
      const r = this.cfsSessions.get(name)!.record;
      if (statuses && !statuses.has(r.status.session.status)) continue;
      if (succeeded && !succeeded.has(r.status.session.succeeded)) continue;
      if (q.name_contains && !name.includes(q.name_contains)) continue;
      if (sessions.length === limit) {
        more = true;
        break;
      }
      sessions.push(r);
    }
    let next: Record<string, string | number> | null = null;
    if (more) {
      next = { limit, after: sessions[sessions.length - 1]!.name };
      for (const key of ['status', 'succeeded', 'name_contains'] as const) if (q[key]) next[key] = q[key]!;
    }
    return { sessions, next };
  }

  cfsSession(name: string): CfsSession | undefined {
    return this.cfsSessions.get(name)?.record;
  }

  // ------------------------------------------------------------------ CFS configurations
  /** The configuration `name`, created with one plausible layer when it does not exist yet. */
  ensureConfiguration(name: string): CfsConfiguration {
    let c = this.cfsConfigurations.get(name);
    if (!c) {
      c = {
        name,
        tenant_name: '',
        last_updated: cfsTime(this.clock.now()),
        layers: [{ name: 'site', clone_url: CONFIG_CLONE_URL, playbook: 'site.yml', commit: this.configPrng.hex(40), branch: 'main' }],
      };
      this.cfsConfigurations.set(name, c);
    }
    return c;
  }

  /** PUT /v3/configurations/{name}: store the layers (a layer without a commit gets one, as CFS resolves its branch). */
  putConfiguration(name: string, body: Record<string, unknown>): CfsConfiguration {
    if (!Array.isArray(body.layers)) throw new RangeError('layers must be a list of configuration layers');
    const layers = body.layers.map((l, i) => {
      if (!l || typeof l !== 'object' || Array.isArray(l)) throw new RangeError(`layers[${i}] must be an object`);
      const layer = { ...(l as Record<string, unknown>) };
      if (typeof layer.playbook !== 'string' || !layer.playbook) throw new RangeError(`layers[${i}].playbook is required`);
      if (typeof layer.clone_url !== 'string' && typeof layer.source !== 'string') throw new RangeError(`layers[${i}] needs a clone_url or a source`);
      if (typeof layer.commit !== 'string') layer.commit = this.configPrng.hex(40);
      return layer;
    });
    const c: CfsConfiguration = {
      name,
      tenant_name: typeof body.tenant_name === 'string' ? body.tenant_name : '',
      last_updated: cfsTime(this.clock.now()),
      layers,
    };
    if (typeof body.description === 'string') c.description = body.description;
    if (body.additional_inventory && typeof body.additional_inventory === 'object') c.additional_inventory = body.additional_inventory as Record<string, unknown>;
    this.cfsConfigurations.set(name, c);
    return c;
  }

  /** GET /v3/configurations: `in_use` filter, then `limit`/`after` paging by name. */
  listConfigurations(q: { in_use?: string; limit?: string; after?: string } = {}): { configurations: CfsConfiguration[]; next: Record<string, string | number> | null } {
    const limit = pageLimit(q.limit, this.knobs.cfsPageSize);
    let inUse: Set<string> | undefined;
    const wantInUse = q.in_use === undefined || q.in_use === '' ? undefined : q.in_use.toLowerCase() === 'true';
    if (wantInUse !== undefined) inUse = new Set(this.order.map((n) => n.cfs.desired_config).filter(Boolean));
    const configurations: CfsConfiguration[] = [];
    let more = false;
    for (const name of [...this.cfsConfigurations.keys()].sort()) {
      if (q.after && name <= q.after) continue;
      if (inUse && inUse.has(name) !== wantInUse) continue;
      if (configurations.length === limit) {
        more = true;
        break;
      }
      configurations.push(this.cfsConfigurations.get(name)!);
    }
    let next: Record<string, string | number> | null = null;
    if (more) {
      next = { limit, after: configurations[configurations.length - 1]!.name };
      if (q.in_use) next.in_use = q.in_use;
    }
    return { configurations, next };
  }

  // ------------------------------------------------------------------ IMS
  patchImage(id: string, patch: Record<string, unknown>): ImsImage | undefined {
    const img = this.images.get(id);
    if (!img) return undefined;
    const md = patch.metadata;
    if (md && typeof md === 'object') {
      const { operation, key, value } = md as { operation?: unknown; key?: unknown; value?: unknown };
      if (typeof key !== 'string' || !key) throw new RangeError('metadata.key must be a non-empty string');
      img.metadata ??= {};
      if (operation === 'set') img.metadata[key] = typeof value === 'string' ? value : '';
      else if (operation === 'remove') delete img.metadata[key];
      else throw new RangeError(`metadata.operation must be "set" or "remove", got ${JSON.stringify(operation)}`);
    }
    if (typeof patch.arch === 'string') {
      if (patch.arch !== 'x86_64' && patch.arch !== 'aarch64') throw new RangeError(`arch must be x86_64 or aarch64, got ${JSON.stringify(patch.arch)}`);
      img.arch = patch.arch;
    }
    if (patch.link && typeof patch.link === 'object') img.link = patch.link as ImsImage['link'];
    return img;
  }

  // ------------------------------------------------------------------ S3
  getObject(bucket: string, key: string): SimObject | undefined {
    return this.objects.get(`${bucket}/${key}`);
  }

  hasBucket(bucket: string): boolean {
    const prefix = `${bucket}/`;
    if (bucket === BOOT_IMAGES_BUCKET) return true;
    for (const k of this.objects.keys()) if (k.startsWith(prefix)) return true;
    return false;
  }

  putObject(bucket: string, key: string, body: Buffer | string, contentType = 'application/octet-stream'): SimObject {
    const obj = makeObject(body, contentType, this.clock.now());
    this.objects.set(`${bucket}/${key}`, obj);
    return obj;
  }

  /** The manifest URL of a simulated image. */
  manifestUrl(imageId: string): string {
    return manifestPath(imageId);
  }

  // ------------------------------------------------------------------ time
  /** Run every event due now (after advancing a FakeClock). */
  tick(): number {
    return this.scheduler.runDue();
  }

  /**
   * Run due events and wait for in-flight reports until nothing due is left and nothing is in
   * flight (bounded number of rounds). For tests driving a FakeClock.
   */
  async settle(maxRounds = 10_000): Promise<void> {
    for (let i = 0; i < maxRounds; i++) {
      this.scheduler.runDue();
      const due = this.scheduler.nextDue();
      const pendingNow = due !== undefined && due <= this.clock.now();
      if (this.inflight.size === 0 && this.queue.size === 0 && !pendingNow) return;
      if (this.inflight.size > 0) await Promise.race([...this.inflight]);
      await new Promise<void>((r) => setImmediate(r));
    }
  }

  start(): void {
    this.scheduler.start();
  }

  async close(): Promise<void> {
    this.closed = true;
    this.queue.clear();
    this.sender.close();
    await this.scheduler.close();
    await Promise.allSettled([...this.inflight]);
  }
}
