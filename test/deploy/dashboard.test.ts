/**
 * The Grafana dashboard queries only metrics (and labels) that the operators (src/metrics.ts) and the
 * API (src/server/metrics.ts) register, and covers what an administrator watches: pass durations,
 * components by status and phase, sessions, failures per service, retry-limit hits, downstream
 * latency, API requests and the store. test/observability/prometheus.test.ts runs every query on a
 * real Prometheus.
 */
import { readFileSync } from 'node:fs';
import { describe, expect, it } from 'vitest';
import { Registry } from 'prom-client';
import { createMetrics } from '../../src/metrics.js';
import { ApiMetrics } from '../../src/server/metrics.js';
import type { Store } from '../../src/server/store/store.js';

interface Target { expr: string; refId: string }
interface Panel { id: number; type: string; title: string; targets?: Target[]; gridPos: { x: number; y: number; w: number; h: number }; datasource?: { uid: string } }
interface Dashboard { uid: string; panels: Panel[]; templating: { list: { name: string; type: string; query?: unknown }[] } }

const dashboard = JSON.parse(readFileSync(new URL('../../deploy/grafana/bos-dashboard.json', import.meta.url), 'utf8')) as Dashboard;

/** Name → type and label names of every metric src/metrics.ts registers. */
function registered(): Map<string, { type: string; labels: string[] }> {
  const reg = new Registry();
  createMetrics(reg);
  new ApiMetrics(reg).watchStore({ stats: () => ({}) } as unknown as Store);
  const out = new Map<string, { type: string; labels: string[] }>();
  for (const m of reg.getMetricsAsArray()) {
    const meta = m as unknown as { name: string; labelNames?: string[]; constructor: { name: string } };
    out.set(meta.name, { type: meta.constructor.name.toLowerCase(), labels: meta.labelNames ?? [] });
  }
  return out;
}

const METRICS = registered();

function queries(): string[] {
  const exprs = dashboard.panels.flatMap((p) => (p.targets ?? []).map((t) => t.expr));
  for (const v of dashboard.templating.list) {
    const q = v.query as { query?: string } | string | undefined;
    const text = typeof q === 'string' ? q : q?.query;
    if (v.type === 'query' && text) exprs.push(text);
  }
  return exprs;
}

/** The registered metric a series name belongs to (histogram series carry _bucket/_sum/_count). */
function metricOf(series: string): string | undefined {
  if (METRICS.has(series)) return series;
  const m = /^(.*)_(bucket|sum|count)$/.exec(series);
  if (m && METRICS.get(m[1]!)?.type === 'histogram') return m[1];
  return undefined;
}

describe('Grafana dashboard', () => {
  it('queries only metrics registered in src/metrics.ts', () => {
    const used = new Set(queries().flatMap((e) => e.match(/\bbos_[a-z0-9_]+/g) ?? []));
    expect(used.size).toBeGreaterThan(0);
    for (const series of used) expect(metricOf(series), `${series} is not a metric BOS registers`).toBeDefined();
  });

  it('groups and filters only by labels the metric has', () => {
    for (const expr of queries()) {
      const series = [...new Set(expr.match(/\bbos_[a-z0-9_]+/g) ?? [])];
      // Prometheus adds the target's labels to every series it scrapes.
      const labels = new Set<string>(['instance', 'job']);
      for (const s of series) {
        const m = METRICS.get(metricOf(s)!)!;
        m.labels.forEach((l) => labels.add(l));
        if (s.endsWith('_bucket')) labels.add('le');
      }
      const byClauses = [...expr.matchAll(/\bby \(([^)]*)\)/g)].flatMap((m) => m[1]!.split(',').map((l) => l.trim()));
      const matchers = [...expr.matchAll(/\{([^}]*)\}/g)].flatMap((m) => [...m[1]!.matchAll(/([a-z_]+)\s*[=!]~?/g)].map((x) => x[1]!));
      const labelValues = [...expr.matchAll(/label_values\([^,]+,\s*([a-z_]+)\)/g)].map((m) => m[1]!);
      for (const l of [...byClauses, ...matchers, ...labelValues]) expect(labels, `${l} in: ${expr}`).toContain(l);
    }
  });

  it('shows pass durations, components, sessions, failures per service, retry-limit hits and downstream latency', () => {
    const all = queries().join('\n');
    expect(all).toMatch(/bos_operator_pass_duration_seconds_bucket.*by \(operator, le\)|by \(operator, le\).*bos_operator_pass_duration_seconds_bucket/);
    expect(all).toMatch(/by \(status\)[^\n]*bos_components/);
    expect(all).toMatch(/by \(phase\)[^\n]*bos_components/);
    expect(all).toMatch(/by \(status\)[^\n]*bos_sessions\b/);
    expect(all).toMatch(/by \(service\)[^\n]*bos_operator_action_failures_total/);
    expect(all).toMatch(/bos_operator_retry_limit_failed_total/);
    expect(all).toMatch(/by \(service, le\)[^\n]*bos_downstream_request_duration_seconds_bucket/);
    expect(all).toMatch(/by \(route, le\)[^\n]*bos_api_request_duration_seconds_bucket/);
    expect(all).toMatch(/by \(operation, le\)[^\n]*bos_api_store_operation_duration_seconds_bucket/);
    expect(all).toMatch(/bos_api_listing_cache_reads_total\{result="hit"\}/);
  });

  it('is well formed: unique panel ids, every query on the datasource variable, panels inside the 24-column grid', () => {
    const ids = dashboard.panels.map((p) => p.id);
    expect(new Set(ids).size).toBe(ids.length);
    expect(dashboard.templating.list.some((v) => v.name === 'datasource' && v.type === 'datasource')).toBe(true);
    for (const p of dashboard.panels.filter((x) => x.type !== 'row')) {
      expect(p.datasource?.uid, p.title).toBe('${datasource}');
      expect(p.gridPos.x + p.gridPos.w, p.title).toBeLessThanOrEqual(24);
      expect(p.targets?.length, p.title).toBeGreaterThan(0);
    }
  });
});
