/**
 * `bos demo` (what `npm run demo` runs): boot the simulated compute nodes through the BOS v2 API and
 * watch it happen.
 *
 * If no BOS API answers at --url, the whole system (API, simulated machine room, operators) is
 * started in this process with the demo machine delays of `bos up`. The demo then reads the image
 * list of the simulated IMS on the same host, writes a session template for the compute nodes
 * (an X86 boot set and an ARM boot set, each with its own image, and a CFS configuration), starts a
 * boot (or reboot) session and follows it with the live view of `bos sessions status --watch`,
 * ending with its summary. Exit code: 0 when no node failed, 2 when some failed, 1 on an error.
 */
import { type Command, InvalidArgumentError, Option } from 'commander';
import { pino } from 'pino';
import type { ImsImage } from '../clients/types.js';
import type { Component, Session, SessionTemplate } from '../common/types.js';
import { INSTANT_KNOBS } from '../sim/knobs.js';
import { defaultLayout } from '../sim/layout.js';
import { startSystem, type RunningSystem } from '../system.js';
import { processIo, type Io } from './admin/common.js';
import { listComponents } from './admin/components.js';
import { apiBase, BosApi, CliError, DEFAULT_URL, seg } from './admin/http.js';
import { watchSession } from './admin/watch.js';
import { DEMO_KNOBS, DEMO_OPTIONS } from './up.js';

export const DEMO_TEMPLATE = 'demo-compute';
export const DEMO_CONFIGURATION = 'demo-config';

export interface DemoOptions {
  url?: string;
  nodes: number;
  operation: 'boot' | 'reboot';
  /** Seconds between polls of the watch view. */
  interval: number;
  /** No simulated machine delays (only when the demo starts the system itself). */
  instant?: boolean;
  /** Seconds to wait for BOS to discover the nodes. */
  discoveryTimeout: number;
  /** Make a few compute nodes fail their configuration (only when the demo starts the system itself). */
  faults?: boolean;
  /** Keep the system the demo started running after the session, until Ctrl-C. */
  keep?: boolean;
}

/** Compute nodes whose CFS configuration fails with --faults: the 3rd and the 11th (when there are that many). */
export function faultyNodes(nodes: number): string[] {
  const compute = defaultLayout(nodes).nodes.filter((n) => n.role === 'Compute' && n.arch === 'X86');
  return [compute[2], compute[10]].filter((n) => n !== undefined).map((n) => n.id);
}

const sleep = (ms: number) => new Promise<void>((r) => setTimeout(r, ms));

/**
 * Does a BOS v2 API answer at this base? False when nothing answers at all; something that answers
 * but is not BOS (a 404, a body that is not JSON) fails with the one-line message of the API helper.
 */
async function bosAnswers(api: BosApi): Promise<boolean> {
  try {
    await fetch(api.url('/version'), { signal: AbortSignal.timeout(10_000) });
  } catch {
    return false;
  }
  await api.get('/version');
  return true;
}

/** Port to listen on for an in-process system at `url`: its own port on a loopback host, else any. */
function localPort(url: URL): { host: string; port: number } | undefined {
  const loopback = ['127.0.0.1', 'localhost', '[::1]'];
  if (!loopback.includes(url.hostname)) return undefined;
  const port = url.port ? Number(url.port) : url.protocol === 'https:' ? 443 : 80;
  return { host: url.hostname === 'localhost' ? '127.0.0.1' : url.hostname.replace(/^\[|\]$/g, ''), port };
}

/** The session template of the demo: every compute node, X86 (and UNKNOWN) nodes and ARM nodes each on their image. */
export function demoTemplate(x86: ImsImage, arm: ImsImage | undefined): Omit<SessionTemplate, 'name'> {
  const bootSet = (image: ImsImage, arch: 'X86' | 'ARM') => ({
    path: image.link?.path ?? `s3://boot-images/${image.id}/manifest.json`,
    etag: image.link?.etag,
    type: 's3',
    arch,
    node_roles_groups: ['Compute'],
    kernel_parameters: 'console=ttyS0,115200 quiet',
    rootfs_provider: 'sbps',
    rootfs_provider_passthrough: 'sbps:v1:iqn.2023-06.csm.iscsi:_sbps-hsn._tcp.sys:300',
  });
  const boot_sets: Record<string, ReturnType<typeof bootSet>> = { 'compute-x86': bootSet(x86, 'X86') };
  if (arm) boot_sets['compute-arm'] = bootSet(arm, 'ARM');
  for (const b of Object.values(boot_sets)) if (b.etag === undefined) delete b.etag;
  return {
    description: `bos demo: every compute node; X86 on ${x86.name ?? x86.id}${arm ? `, ARM on ${arm.name ?? arm.id}` : ''}`,
    enable_cfs: true,
    cfs: { configuration: DEMO_CONFIGURATION },
    boot_sets,
  } as unknown as Omit<SessionTemplate, 'name'>;
}

/** Pick the compute images from the IMS list: a compute image per architecture (else any of that architecture). */
export function pickImages(images: readonly ImsImage[]): { x86?: ImsImage; arm?: ImsImage } {
  const usable = images.filter((i) => i.link?.path);
  const pick = (arch: string) => {
    const ofArch = usable.filter((i) => i.arch === arch);
    return ofArch.find((i) => /compute/i.test(i.name ?? '')) ?? ofArch[0];
  };
  return { x86: pick('x86_64'), arm: pick('aarch64') };
}

async function readImages(api: BosApi): Promise<ImsImage[]> {
  const imsUrl = `${new URL(api.base).origin}/apis/ims/v3/images`;
  let res: Response;
  try {
    res = await fetch(imsUrl, { headers: { accept: 'application/json' }, signal: AbortSignal.timeout(30_000) });
  } catch (err) {
    throw new CliError(`cannot read the image list at ${imsUrl} (${(err as Error).message}): the demo needs the simulated IMS beside BOS (run \`bos up\`)`);
  }
  if (!res.ok) {
    throw new CliError(`the image list at ${imsUrl} answered HTTP ${res.status}: the demo needs the simulated IMS beside BOS (run \`bos up\`)`);
  }
  const body = (await res.json().catch(() => undefined)) as unknown;
  if (!Array.isArray(body)) throw new CliError(`the image list at ${imsUrl} is not a JSON array: is that the simulated IMS?`);
  return body as ImsImage[];
}

/** Wait until BOS lists components and the count stops changing (or reaches `expect`). */
async function waitForComponents(api: BosApi, expect: number | undefined, timeoutS: number): Promise<Component[]> {
  const deadline = Date.now() + timeoutS * 1000;
  let last = -1;
  let steady = 0;
  for (;;) {
    const list = await listComponents(api, {});
    if (expect !== undefined ? list.length >= expect : list.length > 0 && list.length === last && ++steady >= 2) return list;
    if (list.length !== last) steady = 0;
    last = list.length;
    if (Date.now() > deadline) {
      if (list.length > 0) return list;
      throw new CliError(`BOS at ${api.base} knows no components after ${timeoutS} s: are the operators running (discovery adds the nodes from HSM)?`);
    }
    await sleep(500);
  }
}

/** The web view beside the API (`<prefix>/ui/`, docs/ui.md), when it is served; else undefined. */
async function webView(api: BosApi): Promise<string | undefined> {
  const url = new URL('../ui/', `${api.base}/`).href;
  const served = await fetch(url, { signal: AbortSignal.timeout(5_000) }).then((r) => r.ok, () => false);
  return served ? url : undefined;
}

/** ` --url <base>` for commands suggested to the user, unless the base is the default one. */
function urlFlag(api: BosApi): string {
  return api.base === apiBase(process.env.BOS_URL ?? DEFAULT_URL) ? '' : ` --url ${api.base.replace(/\/v2$/, '')}`;
}

/** Run the demo; answers the exit code. */
export async function runDemo(o: DemoOptions, io: Io = processIo): Promise<number> {
  const say = (s: string) => io.out.write(s + '\n');
  let api = new BosApi({ url: o.url });
  let system: RunningSystem | undefined;
  const stop = async () => {
    const s = system;
    system = undefined;
    if (s) await s.close();
  };
  const onSignal = () => {
    say('\nstopping the demo system...');
    void stop().finally(() => process.exit(130));
  };
  try {
    if (await bosAnswers(api)) {
      say(`BOS v2 API   ${api.base} (already running)`);
    } else {
      const at = localPort(new URL(api.base));
      say(`No BOS API answers at ${api.base}: starting one in this process`);
      say(`             ${o.nodes} simulated nodes, ${o.instant ? 'instant hardware' : 'demo machine delays'}`);
      if (o.faults) say(`             configuration will fail on ${faultyNodes(o.nodes).join(', ') || 'no node (too few compute nodes)'}`);
      const common = {
        nodes: o.nodes,
        knobs: { ...(o.instant ? INSTANT_KNOBS : DEMO_KNOBS), ...(o.faults ? { cfsFailNodes: faultyNodes(o.nodes) } : {}) },
        options: { ...DEMO_OPTIONS, logging_level: 'ERROR' as const },
        // Operator and API logs would tear the live view: only errors, on stderr.
        logger: pino({ level: 'error' }, pino.destination(2)),
        ui: true,
      };
      // On the URL's own port when it is free (and one fetch may use), else on any free port.
      if (at) {
        system = await startSystem({ ...common, host: at.host, port: at.port }).catch(() => undefined);
        if (system && !(await fetch(`${system.bosUrl}/v2/version`).then((r) => r.ok, () => false))) {
          await system.close();
          system = undefined;
        }
      }
      system ??= await startSystem({ ...common, port: 0 });
      process.once('SIGINT', onSignal);
      process.once('SIGTERM', onSignal);
      api = new BosApi({ url: system.bosUrl });
      say(`BOS v2 API   ${api.base}`);
      say(`             (in another terminal: bos components list${urlFlag(api)})`);
    }

    const components = await waitForComponents(api, system ? o.nodes : undefined, o.discoveryTimeout);
    say(`Discovery    ${components.length} components`);

    const { x86, arm } = pickImages(await readImages(api));
    if (!x86) throw new CliError(`the image list has no x86_64 image with a manifest: nothing to boot the compute nodes with`);
    say(`Images       X86 ${x86.name ?? x86.id}${arm ? `, ARM ${arm.name ?? arm.id}` : '; no ARM image (ARM nodes left out)'}`);

    const template = demoTemplate(x86, arm);
    await api.put(`/sessiontemplates/${seg(DEMO_TEMPLATE)}`, template);
    const sets = Object.entries((template as unknown as { boot_sets: Record<string, { arch: string }> }).boot_sets);
    say(`Template     ${DEMO_TEMPLATE}: boot sets ${sets.map(([n, b]) => `${n} (${b.arch})`).join(' and ')} of role Compute`);
    say(`             CFS configuration ${DEMO_CONFIGURATION}`);

    // A short readable name (the view's header line holds it); unique per run.
    const name = `demo-${o.operation}-${Date.now().toString(36)}`;
    const session = await api.post<Session>('/sessions', { template_name: DEMO_TEMPLATE, operation: o.operation, name });
    say(`Session      ${session.name} (${o.operation})`);
    say(`             (in another terminal: bos sessions status ${session.name} --watch${urlFlag(api)})`);
    const view = await webView(api);
    if (view) say(`             (in a browser: ${view}#session=${encodeURIComponent(session.name)})`);
    say('');
    const code = await watchSession(api, session.name, io, { intervalMs: o.interval * 1000 });
    if (system && o.keep) {
      process.off('SIGINT', onSignal);
      process.off('SIGTERM', onSignal);
      say('');
      say(`BOS keeps running; look around with \`bos components list${urlFlag(api)}\`. Ctrl-C stops it.`);
      await new Promise<void>((resolve) => {
        process.once('SIGINT', resolve);
        process.once('SIGTERM', resolve);
      });
    }
    return code;
  } finally {
    process.off('SIGINT', onSignal);
    process.off('SIGTERM', onSignal);
    if (system) {
      say('Stopping the demo system...');
      await stop();
    }
  }
}

function positiveInt(what: string, max: number) {
  return (v: string): number => {
    const n = Number(v);
    if (!/^\d+$/.test(v.trim()) || n < 1 || n > max) throw new InvalidArgumentError(`"${v}" is not a valid ${what}: use a whole number from 1 to ${max}`);
    return n;
  };
}

function seconds(v: string): number {
  const n = Number(v);
  if (!Number.isFinite(n) || n <= 0 || n > 3600) throw new InvalidArgumentError(`"${v}" is not a number of seconds above 0 (at most 3600)`);
  return n;
}

export function register(program: Command): void {
  program
    .command('demo')
    .description('boot the simulated compute nodes through BOS and watch it live (starts BOS in-process if none answers at --url)')
    .option('--url <url>', `BOS API base, with or without /v2 (env BOS_URL; default ${DEFAULT_URL})`)
    .option('--nodes <n>', 'simulated nodes when the demo starts BOS itself', positiveInt('node count', 20_000), 64)
    .addOption(new Option('--operation <op>', 'boot or reboot').choices(['boot', 'reboot']).default('boot'))
    .option('--interval <seconds>', 'seconds between polls of the progress view', seconds, 1)
    .option('--instant', 'no simulated hardware delays (when the demo starts BOS itself)')
    .option('--faults', 'make two compute nodes fail their CFS configuration (when the demo starts BOS itself)')
    .option('--keep', 'keep the BOS the demo started running after the session, to look around (Ctrl-C stops it)')
    .option('--discovery-timeout <seconds>', 'how long to wait for BOS to discover the nodes', seconds, 60)
    .addHelpText(
      'after',
      '\nExit code: 0 when every node succeeded, 2 when some failed, 1 on an error.\n' +
        'Examples:\n  npm run demo\n  bos demo --nodes 200 --operation reboot\n  bos demo --url http://127.0.0.1:8080/apis/bos   # against a running `bos up`\n',
    )
    .action(async (o: DemoOptions) => {
      let code: number;
      try {
        code = await runDemo(o);
      } catch (err) {
        if (!(err instanceof CliError)) throw err;
        process.stderr.write(`bos: ${err.message}\n`);
        code = err.exitCode;
      }
      process.exit(code);
    });
}
