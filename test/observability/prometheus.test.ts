/**
 * The metrics as a real Prometheus reads them (docs/observability.md): Debian's `prometheus` scrapes
 * `bos up` and the split processes (`bos serve` on Redis, `bos operators`, with `bos sim` as the
 * machine room) every second while sessions boot simulated nodes; the expected series come back, no
 * label holds a node name, and every query of the Grafana dashboard parses and returns data. The
 * alert rules pass `promtool check rules`, and their unit tests (deploy/alerts/bos-alerts.test.yaml)
 * fire and clear every alert. Skipped, saying so, where Prometheus cannot be installed.
 */
import { spawn, spawnSync, type ChildProcess } from 'node:child_process';
import { mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { load as loadYaml } from 'js-yaml';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { gatewayUrls } from '../../src/clients/index.js';
import { spawnBos, waitAnswers, type BosProcess } from '../helpers/bos-process.js';
import { freePort } from '../helpers/net.js';
import { startRedis, type TestRedis } from '../helpers/redis.js';
import { bootTemplate, bos, sleep, until, waitComplete, type Call } from '../faults/harness.js';

const ROOT = fileURLToPath(new URL('../../', import.meta.url));
const RULES = join(ROOT, 'deploy/alerts/bos-alerts.rules.yaml');
const RULE_TESTS = join(ROOT, 'deploy/alerts/bos-alerts.test.yaml');
const NODES = 16;

function installed(bin: string): boolean {
  return spawnSync('sh', ['-c', `command -v ${bin}`], { stdio: 'ignore' }).status === 0;
}
const HAVE = installed('prometheus') && installed('promtool');
if (!HAVE) {
  console.warn('test/observability/prometheus.test.ts skipped: prometheus and promtool are not installed (Debian package `prometheus`; `bash scripts/setup.sh` installs it where it can).');
}

interface Rule { alert: string; annotations: Record<string, string> }
const rules = (loadYaml(readFileSync(RULES, 'utf8')) as { groups: { rules: Rule[] }[] }).groups.flatMap((g) => g.rules);

describe.skipIf(!HAVE)('alert rules under promtool', () => {
  it('pass `promtool check rules`', () => {
    const r = spawnSync('promtool', ['check', 'rules', RULES], { encoding: 'utf8' });
    expect(r.status, r.stdout + r.stderr).toBe(0);
    expect(r.stdout).toContain(`SUCCESS: ${rules.length} rules found`);
  });

  it('fire and clear on synthetic series (`promtool test rules`), every alert tested both ways', () => {
    const r = spawnSync('promtool', ['test', 'rules', RULE_TESTS], { encoding: 'utf8' });
    expect(r.status, r.stdout + r.stderr).toBe(0);
    interface Case { alert_rule_test?: { alertname: string; exp_alerts: unknown[] }[] }
    const cases = (loadYaml(readFileSync(RULE_TESTS, 'utf8')) as { tests: Case[] }).tests.flatMap((t) => t.alert_rule_test ?? []);
    for (const { alert } of rules) {
      const mine = cases.filter((c) => c.alertname === alert);
      expect(mine.some((c) => c.exp_alerts.length > 0), `${alert} is never shown firing`).toBe(true);
      expect(mine.some((c) => c.exp_alerts.length === 0), `${alert} is never shown clear`).toBe(true);
    }
  });

  it('each alert has a summary, a description and a runbook in docs/runbooks.md', () => {
    const runbooks = readFileSync(join(ROOT, 'docs/runbooks.md'), 'utf8');
    const anchors = new Set([...runbooks.matchAll(/^#+ (.+)$/gm)].map((m) => m[1]!.trim().toLowerCase().replace(/[^\w\- ]/g, '').replace(/ /g, '-')));
    for (const { alert, annotations } of rules) {
      expect(annotations.summary, alert).toBeTruthy();
      expect(annotations.description, alert).toBeTruthy();
      expect(annotations.runbook_url, alert).toBe(`docs/runbooks.md#${alert.toLowerCase()}`);
      expect(anchors.has(alert.toLowerCase()), `docs/runbooks.md has no section ${alert}`).toBe(true);
    }
  });
});

// ------------------------------------------------------------------------------ a real Prometheus

interface Sample { metric: Record<string, string>; value: [number, string] }

let prometheus: ChildProcess | undefined;
let promUrl = '';
let dir = '';
let redis: TestRedis | undefined;
const processes: BosProcess[] = [];
const targets: Record<string, string> = {};

async function query(expr: string): Promise<Sample[]> {
  const r = await fetch(`${promUrl}/api/v1/query?query=${encodeURIComponent(expr)}`);
  const body = (await r.json()) as { status: string; error?: string; data?: { resultType: string; result: Sample[] | [number, string] } };
  if (body.status !== 'success') throw new Error(`query failed: ${expr}: ${body.error}`);
  const { resultType, result } = body.data!;
  // A scalar (e.g. time()) is one sample without labels.
  return resultType === 'scalar' ? [{ metric: {}, value: result as [number, string] }] : (result as Sample[]);
}

/** Start a boot session of every compute node from `template` and wait for it to complete. */
async function boot(call: Call, name: string, template: unknown, extra: Record<string, unknown> = {}): Promise<void> {
  expect((await call('PUT', `/sessiontemplates/${name}`, template)).status).toBe(200);
  const s = await call('POST', '/sessions', { template_name: name, operation: 'boot', ...extra });
  expect(s.status, JSON.stringify(s.body)).toBe(201);
  await waitComplete(call, s.body.name as string, 60_000);
}

describe.skipIf(!HAVE)('a real Prometheus scraping bos up and the split processes', () => {
  beforeAll(async () => {
    dir = mkdtempSync(join(tmpdir(), 'bos-prometheus-'));
    // bos up: API, operators and machine room in one process, /metrics on its one port.
    const upPort = await freePort();
    const up = spawnBos(['up', '--port', String(upPort), '--nodes', String(NODES), '--instant', '--log-level', 'warn']);
    processes.push(up);
    targets['bos-up'] = `127.0.0.1:${upPort}`;

    // The split processes: the API on Redis, the machine room, the operators with their metrics port.
    redis = await startRedis();
    const [apiPort, simPort, opsPort] = [await freePort(), await freePort(), await freePort()];
    const simUrl = `http://127.0.0.1:${simPort}`;
    const quiet = { BOS_LOG_LEVEL: 'warn', BOS_OPERATOR_LOG_LEVEL: 'warn' };
    const api = spawnBos(['serve', '--redis', redis.url, '--port', String(apiPort)], {
      ...quiet,
      BOS_IMS_URL: `${simUrl}/apis/ims/v3`,
      BOS_TAPMS_URL: `${simUrl}/apis/tapms/v1alpha3`,
      BOS_HSM_URL: `${simUrl}/apis/smd/hsm/v2`,
      S3_PROTOCOL: 'http',
      S3_GATEWAY: `127.0.0.1:${simPort}`,
      S3_ACCESS_KEY: 'bos',
      S3_SECRET_KEY: 'bos',
    });
    processes.push(api);
    const apiUrl = `http://127.0.0.1:${apiPort}`;
    // Two nodes never boot and one fails its configuration: with a retry limit of 1 they fail, so the
    // failure series exist too.
    const sim = spawnBos(['sim', '--port', String(simPort), '--nodes', String(NODES), '--instant', '--never-boot', '2', '--cfs-fail-nodes', '1', '--bos-url', `${apiUrl}/v2`]);
    processes.push(sim);
    const urls = gatewayUrls(simUrl);
    const ops = spawnBos(['operators'], {
      ...quiet,
      BOS_URL: `${apiUrl}/v2`,
      BOS_HSM_URL: urls.hsmUrl,
      BOS_PCS_URL: urls.pcsUrl,
      BOS_BSS_URL: urls.bssUrl,
      BOS_CFS_URL: urls.cfsUrl,
      BOS_IMS_URL: urls.imsUrl,
      BOS_TAPMS_URL: urls.tenantsUrl,
      S3_PROTOCOL: 'http',
      S3_GATEWAY: `127.0.0.1:${simPort}`,
      S3_ACCESS_KEY: 'bos',
      S3_SECRET_KEY: 'bos',
      BOS_REDIS_URL: redis.url,
      BOS_HOST: '127.0.0.1',
      BOS_METRICS_PORT: String(opsPort),
      BOS_LEADER_ELECTION: 'false',
    });
    processes.push(ops);
    targets['bos-serve'] = `127.0.0.1:${apiPort}`;
    targets['bos-operators'] = `127.0.0.1:${opsPort}`;
    targets['bos-sim'] = `127.0.0.1:${simPort}`;
    await Promise.all([
      waitAnswers(up, `http://${targets['bos-up']}/metrics`),
      waitAnswers(api, `${apiUrl}/metrics`),
      waitAnswers(sim, `${simUrl}/apis/smd/hsm/v2/State/Components`),
      waitAnswers(ops, `http://${targets['bos-operators']}/metrics`),
    ]);

    // Prometheus, scraping every second.
    const port = await freePort();
    promUrl = `http://127.0.0.1:${port}`;
    const config = {
      global: { scrape_interval: '1s', evaluation_interval: '1s' },
      rule_files: [RULES],
      scrape_configs: Object.entries(targets).map(([job, target]) => ({ job_name: job, static_configs: [{ targets: [target] }] })),
    };
    writeFileSync(join(dir, 'prometheus.yml'), JSON.stringify(config));
    prometheus = spawn('prometheus', [`--config.file=${join(dir, 'prometheus.yml')}`, `--storage.tsdb.path=${join(dir, 'data')}`, `--web.listen-address=127.0.0.1:${port}`, '--log.level=warn'], { stdio: 'ignore' });
    await until('Prometheus to answer', async () => (await fetch(`${promUrl}/-/ready`).catch(() => undefined))?.ok, 30_000, 200);

    // The systems at work: a boot on bos up, a plain and a rolling boot on the split processes.
    const upCall = bos(`http://${targets['bos-up']}/apis/bos`);
    const splitCall = bos(apiUrl);
    await until('discovery on both', async () => {
      const [a, b] = await Promise.all([upCall('GET', '/components'), splitCall('GET', '/components')]);
      return a.body?.length === NODES && b.body?.length === NODES;
    }, 30_000, 250);
    expect((await splitCall('PATCH', '/options', { default_retry_policy: 1, max_boot_wait_time: 2 })).status).toBe(200);
    await Promise.all([
      boot(upCall, 'up-boot', bootTemplate()),
      boot(splitCall, 'split-boot', bootTemplate()),
    ]);
    // A session whose nodes do not exist: session setup fails it (an action failure).
    const nowhere = { boot_sets: { compute: { ...(bootTemplate().boot_sets as { compute: object }).compute, node_roles_groups: undefined, node_list: ['x9999c0s0b0n0'] } } };
    await boot(splitCall, 'nowhere', nowhere);
    // A rolling session left running (its nodes never boot, and now may wait an hour): the series of
    // running and rolling sessions.
    const stuck = (await splitCall('GET', '/components?status=failed')).body.map((c: { id: string }) => c.id);
    expect(stuck.length).toBeGreaterThan(0);
    expect((await splitCall('PATCH', '/options', { max_boot_wait_time: 3600 })).status).toBe(200);
    const s = await splitCall('POST', '/sessions', { template_name: 'split-boot', operation: 'reboot', limit: stuck.join(','), max_in_flight: 1 });
    expect(s.status, JSON.stringify(s.body)).toBe(201);
    await until('the stuck session seen running and rolling', async () => (await query('bos_session_start_timestamp_seconds')).length > 0 && (await query('bos_rollout_nodes')).length > 0, 30_000, 250);
    // Every target scraped since the work ended, and rates over a window with samples.
    await sleep(3_000);
  }, 180_000);

  afterAll(async () => {
    prometheus?.kill('SIGKILL');
    for (const p of processes) p.kill();
    await Promise.all(processes.map((p) => p.exited));
    await redis?.stop();
    if (dir) rmSync(dir, { recursive: true, force: true });
  }, 30_000);

  it('scrapes every process: all targets up, each with its process metrics', async () => {
    const up = await query('up');
    expect(Object.fromEntries(up.map((s) => [s.metric.job, s.value[1]]))).toEqual(Object.fromEntries(Object.keys(targets).map((j) => [j, '1'])));
    const cpu = await query('process_cpu_seconds_total');
    expect(new Set(cpu.map((s) => s.metric.job))).toEqual(new Set(Object.keys(targets)));
    // The simulator's running totals: its nodes booted and reported.
    expect(Number((await query('bos_sim_boots_total'))[0]?.value[1])).toBeGreaterThan(0);
    const reports = await query('sum by (outcome) (bos_sim_reports_total)');
    expect(Number(reports.find((s) => s.metric.outcome === 'ok')?.value[1])).toBeGreaterThan(0);
  });

  it('has the API series: requests by route template, store operations, change events, the Redis store', async () => {
    const requests = await query('sum by (job, route, method, status) (bos_api_request_duration_seconds_count)');
    const routes = new Set(requests.map((s) => `${s.metric.job} ${s.metric.method} ${s.metric.route}`));
    for (const job of ['bos-up', 'bos-serve']) {
      expect(routes).toContain(`${job} GET /v2/components`);
      expect(routes).toContain(`${job} PATCH /v2/components`);
      expect(routes).toContain(`${job} POST /v2/sessions`);
      expect(routes).toContain(`${job} PUT /v2/sessiontemplates/:session_template_id`);
    }
    // The nodes' own reports, under the route template: no node name in any label.
    expect(routes).toContain('bos-serve PATCH /v2/components/:component_id');
    const labels = (await query('{__name__=~"bos_.+"}')).flatMap((s) => Object.values(s.metric));
    expect(labels.filter((v) => /x\d+c\d+s\d+b\d+n\d+/.test(v))).toEqual([]);

    const store = await query('sum by (job, operation, outcome) (bos_api_store_operation_duration_seconds_count)');
    expect(store.some((s) => s.metric.job === 'bos-serve' && s.metric.operation === 'components.update' && s.metric.outcome === 'ok')).toBe(true);
    const events = await query('sum by (job, kind) (bos_api_change_events_published_total)');
    expect(events.some((s) => s.metric.job === 'bos-serve' && s.metric.kind === 'components' && Number(s.value[1]) > 0)).toBe(true);
    expect((await query('bos_api_redis_connected{job="bos-serve"}')).map((s) => s.value[1])).toEqual(['1']);
    expect(Number((await query('bos_api_listing_cache_records{job="bos-serve"}'))[0]?.value[1])).toBe(NODES);
    const reads = await query('sum by (result) (bos_api_listing_cache_reads_total{job="bos-serve"})');
    expect(reads.find((s) => s.metric.result === 'hit') && Number(reads.find((s) => s.metric.result === 'hit')!.value[1])).toBeGreaterThan(0);
    // The in-memory store of bos up has no Redis series at all (rather than a 0 that reads as "down").
    expect(await query('bos_api_redis_connected{job="bos-up"}')).toEqual([]);
    expect((await query('bos_api_requests_in_flight')).length).toBe(2);
  });

  it('has the operators series: passes, leadership, sessions and failures at the retry limit', async () => {
    const passes = await query('sum by (job, operator) (bos_operator_passes_total)');
    expect(new Set(passes.filter((s) => s.metric.job === 'bos-operators').map((s) => s.metric.operator)).size).toBe(11);
    expect((await query('bos_operators_leader')).map((s) => `${s.metric.job}=${s.value[1]}`).sort()).toEqual(['bos-operators=1', 'bos-up=1']);
    const failed = await query('sum(bos_operator_retry_limit_failed_total{job="bos-operators"})');
    expect(Number(failed[0]?.value[1])).toBeGreaterThanOrEqual(2);
    // The running sessions were seen with their start time while they ran.
    const started = await query('max_over_time(bos_session_start_timestamp_seconds[5m])');
    expect(started.some((s) => s.metric.job === 'bos-operators' && Number(s.value[1]) > 0)).toBe(true);
    const rolling = await query('bos_rollout_nodes{job="bos-operators"}');
    expect(rolling.map((r) => r.metric.state).sort()).toEqual(['done', 'failed', 'in_flight', 'waiting']);
  });

  it('runs every query of the Grafana dashboard: each parses and returns data', async () => {
    interface Panel { title: string; targets?: { expr: string }[] }
    const dashboard = JSON.parse(readFileSync(join(ROOT, 'deploy/grafana/bos-dashboard.json'), 'utf8')) as { panels: Panel[] };
    // Grafana's variables as Grafana would fill them: every operator and service, a window with samples.
    const grafana = (expr: string) => expr.replaceAll('$__rate_interval', '1m').replaceAll('$__range', '5m').replaceAll('$operator', '.*').replaceAll('$service', '.*');
    const empty: string[] = [];
    for (const panel of dashboard.panels) {
      for (const t of panel.targets ?? []) {
        const result = await query(grafana(t.expr));
        if (result.length === 0) empty.push(`${panel.title}: ${t.expr}`);
      }
    }
    expect(empty).toEqual([]);
  });

  it('loads the alert rules and fires none while the system works', async () => {
    const r = await fetch(`${promUrl}/api/v1/rules`);
    const groups = ((await r.json()) as { data: { groups: { rules: { name: string; health: string; state: string }[] }[] } }).data.groups;
    const loaded = groups.flatMap((g) => g.rules);
    expect(loaded.map((x) => x.name).sort()).toEqual(rules.map((x) => x.alert).sort());
    expect(loaded.filter((x) => x.health !== 'ok' && x.health !== 'unknown')).toEqual([]);
    expect(loaded.filter((x) => x.state === 'firing').map((x) => x.name)).toEqual([]);
  });
});
