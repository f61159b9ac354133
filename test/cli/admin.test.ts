/**
 * The administrator commands in-process (runAdmin / the pure pieces) against a real loopback API or
 * a header-capturing stub: output layout, paging, filters, headers, token secrecy, the watch view.
 */
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { createServer, type IncomingHttpHeaders, type Server } from 'node:http';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import fc from 'fast-check';
import { afterAll, beforeAll, beforeEach, describe, expect, it } from 'vitest';
import { OPTION_NAMES, optionRule } from '../../src/common/options.js';
import type { Component, Session } from '../../src/common/types.js';
import { BosApi, apiBase } from '../../src/cli/admin/http.js';
import { runAdmin } from '../../src/cli/admin/index.js';
import { parseOptionValue } from '../../src/cli/admin/options.js';
import { cell, describe as describeRecord, table } from '../../src/cli/admin/output.js';
import { bar, progressOf, watchSession } from '../../src/cli/admin/watch.js';
import { COMPONENT_COLUMNS } from '../../src/cli/admin/components.js';
import { startApi, type Api } from './helpers.js';

let api: Api;
let url: string;

beforeAll(async () => {
  api = await startApi();
  url = api.url;
});
afterAll(async () => api.close());

function session(name: string, status: Partial<Session['status']> = {}): Session {
  return {
    name,
    tenant: null,
    operation: 'boot',
    template_name: 't',
    limit: '',
    stage: false,
    components: '',
    include_disabled: false,
    status: { status: 'running', start_time: '2026-01-01T00:00:00', end_time: null, error: null, ...status },
  };
}

describe('apiBase', () => {
  it('accepts a base with or without /v2 and trailing slashes', () => {
    expect(apiBase('http://h:8080/apis/bos')).toBe('http://h:8080/apis/bos/v2');
    expect(apiBase('http://h:8080/apis/bos/')).toBe('http://h:8080/apis/bos/v2');
    expect(apiBase('http://h:8080/apis/bos/v2/')).toBe('http://h:8080/apis/bos/v2');
    expect(apiBase('https://h')).toBe('https://h/v2');
    expect(() => apiBase('h:8080')).toThrow(/not an http\(s\) URL|not a URL/);
    let msg = '';
    try {
      apiBase('http://admin:hunter2@h/apis/bos');
    } catch (err) {
      msg = (err as Error).message;
    }
    expect(msg).toMatch(/must not carry a user name or password/);
    expect(msg).not.toContain('hunter2');
  });

  it('is idempotent and always ends in exactly one /v2', () => {
    fc.assert(
      fc.property(fc.array(fc.stringMatching(/^[a-z0-9-]{1,8}$/), { maxLength: 4 }), fc.boolean(), fc.boolean(), (segs, v2, slash) => {
        const u = `http://127.0.0.1:9/${segs.join('/')}${v2 ? '/v2' : ''}${slash ? '/' : ''}`;
        const b = apiBase(u);
        expect(b.endsWith('/v2')).toBe(true);
        expect(b.endsWith('/v2/v2')).toBe(segs.length > 0 && segs[segs.length - 1] === 'v2' && v2);
        expect(apiBase(b)).toBe(b);
      }),
    );
  });
});

describe('table layout', () => {
  it('aligns every column so the cells can be read back', () => {
    const word = fc.stringMatching(/^[A-Za-z0-9_.:-]{1,12}$/);
    fc.assert(
      fc.property(fc.array(fc.tuple(word, word, word), { maxLength: 30 }), (rows) => {
        const cols = [0, 1, 2].map((i) => ({ header: `H${i}`, get: (r: string[]) => r[i]! }));
        const lines = table(cols, rows).trimEnd().split('\n');
        expect(lines).toHaveLength(rows.length + 1);
        const starts = [0, lines[0]!.indexOf('H1'), lines[0]!.indexOf('H2')];
        rows.forEach((r, k) => {
          const line = lines[k + 1]!;
          r.forEach((v, i) => expect(line.slice(starts[i], starts[i]! + v.length)).toBe(v));
          expect(line).toBe(line.trimEnd());
        });
      }),
    );
  });

  it('cuts long cells and folds line breaks', () => {
    expect(cell('abcdef', 4)).toBe('abc…');
    expect(cell('a\n  b')).toBe('a b');
    expect(cell('abc', 3)).toBe('abc');
  });

  it('lays out 10,000 components with one line each', () => {
    const rows: Component[] = Array.from({ length: 10_000 }, (_, i) => ({
      id: `x${1000 + (i % 17)}c0s${i}b0n0`,
      enabled: i % 3 !== 0,
      status: { phase: i % 2 ? 'powering_on' : '', status: i % 2 ? 'power_on_called' : 'stable' },
      error: i % 100 === 0 ? `error ${i} `.repeat(20) : '',
    }));
    const out = table(COMPONENT_COLUMNS, rows);
    const lines = out.trimEnd().split('\n');
    expect(lines).toHaveLength(10_001);
    const errAt = lines[0]!.indexOf('ERROR');
    expect(lines[1]!.slice(errAt)).toMatch(/^error 0 error 0 .{40,}…$/);
    expect(Math.max(...lines.map((l) => l.length))).toBeLessThan(errAt + 61);
  });

  it('describes a record as dotted keys', () => {
    const text = describeRecord({ id: 'x1', status: { phase: '', status: 'stable' }, node_list: ['a', 'b'], e: {} });
    expect(text.split('\n')).toEqual(['id             x1', 'status.phase   -', 'status.status  stable', 'node_list      a,b', 'e              {}', '']);
  });
});

describe('watch pieces', () => {
  it('draws a bar of the given width whose parts follow the counts', () => {
    fc.assert(
      fc.property(fc.nat(500), fc.nat(500), fc.nat(500), fc.integer({ min: 5, max: 80 }), (done, failed, inProgress, w) => {
        const b = bar({ done, failed, inProgress }, w);
        expect(b).toHaveLength(w + 2);
        const total = done + failed + inProgress;
        const d = (b.match(/=/g) ?? []).length;
        if (total === 0) expect(b.trim()).toBe('[' + ' '.repeat(w) + ']');
        else expect(Math.abs(d - (done / total) * w)).toBeLessThanOrEqual(1);
        if (done === total && total > 0) expect(d).toBe(w);
      }),
    );
  });

  it('counts phases, statuses, done and failed from the components', () => {
    const p = progressOf(
      's',
      {
        managed_components_count: 5,
        phases: { percent_complete: 0, percent_powering_on: 0, percent_powering_off: 0, percent_configuring: 0 },
        percent_staged: 20,
        percent_successful: 0,
        percent_failed: 0,
        error_summary: { a: { count: 1, list: 'x1' }, b: { count: 3, list: 'x2,x3,x4' } },
        timing: { start_time: '2026-01-01T00:00:00', end_time: null, duration: '1 day, 0:00:03.250000' },
        status: 'running',
      },
      [
        { id: 'x1', status: { phase: 'powering_on', status: 'power_on_called' } },
        { id: 'x2', status: { phase: '', status: 'stable' } },
        { id: 'x3', status: { phase: '', status: 'failed' } },
        { id: 'x4', status: { phase: 'powering_on', status: 'power_on_pending' } },
      ],
      '0:00:01',
    );
    expect(p).toMatchObject({ nodes: 4, done: 1, failed: 1, inProgress: 2, staged: 1, elapsed: '1 day, 0:00:03' });
    expect(p.phases).toEqual({ powering_on: 2 });
    expect(p.statuses).toEqual({ power_on_called: 1, stable: 1, failed: 1, power_on_pending: 1 });
    expect(p.errors).toEqual([
      ['b', 3],
      ['a', 1],
    ]);
  });

  it('on a terminal redraws in place, then prints the summary and answers 0 when no node failed', async () => {
    await api.store.sessions.put('', 'tty1', session('tty1'));
    const comps: Component[] = ['x7000c0s1b0n0', 'x7000c0s2b0n0', 'x7000c0s3b0n0'].map((id) => ({
      id,
      enabled: true,
      session: 'tty1',
      status: { phase: 'configuring', status_override: '' },
      error: id.endsWith('1b0n0') ? 'CFS: configuration failed once' : '',
    }));
    await api.store.components.putMany(comps);
    let out = '';
    let sleeps = 0;
    const code = await watchSession(
      new BosApi({ url }),
      'tty1',
      { out: { write: (s: string) => (out += s), isTTY: true, columns: 100 }, err: { write: () => true } },
      {
        intervalMs: 1,
        sleep: async () => {
          sleeps++;
          if (sleeps === 1) await api.store.components.putMany([{ ...comps[1]!, status: { phase: '', status_override: '' } }]);
          if (sleeps === 2) {
            await api.store.components.putMany(comps.map((c) => ({ ...c, error: '', status: { phase: '', status_override: '' } })));
            await api.store.sessions.put('', 'tty1', session('tty1', { status: 'complete', end_time: '2026-01-01T01:00:00' }));
          }
        },
      },
    );
    expect(code).toBe(0);
    const frames = out.split('\x1b[J');
    // First frame: no cursor movement; second frame moves up over the first frame's lines.
    expect(frames[0]).not.toMatch(/\x1b\[\d+F/);
    expect(frames[0]).toContain('Session tty1 (boot of template t): running');
    expect(frames[0]).toContain('3 nodes: 0 done, 0 failed, 3 in progress');
    expect(frames[0]).toMatch(/1 {2}CFS: configuration failed once/);
    const firstFrameLines = frames[0]!.split('\n').length - 1;
    expect(frames[1]!.startsWith(`\x1b[${firstFrameLines}F`)).toBe(true);
    expect(frames[1]).toContain('3 nodes: 1 done, 0 failed, 2 in progress');
    expect(out.endsWith('Session tty1 complete in 1:00:00: 3 nodes, 3 succeeded, 0 failed\n')).toBe(true);
    expect(out.split('\n').every((l) => l.replace(/\x1b\[[0-9;]*[A-Za-z]/g, '').length <= 99)).toBe(true);
  });

  it('stops with a one-line error when the session does not exist', async () => {
    const r = await runAdmin(['sessions', 'status', 'ghost', '--watch', '--interval', '0.01', '--url', url]);
    expect(r.code).toBe(1);
    expect(r.stderr).toBe("bos: The resource was not found: Session 'ghost' does not exist (HTTP 404 from GET /v2/sessions/ghost/status)\n");
  });
});

describe('components list paging', () => {
  beforeEach(async () => {
    for (const id of await api.store.components.ids()) await api.store.components.delete(id);
  });

  async function pagedRequests(n: number, pageSize: number): Promise<{ ids: string[]; requests: string[] }> {
    await api.store.components.putMany(Array.from({ length: n }, (_, i) => ({ id: `x${String(i).padStart(4, '0')}`, enabled: true })));
    const r = await runAdmin(['components', 'list', '--page-size', String(pageSize), '--format', 'json', '--verbose', '--url', url]);
    expect(r.code).toBe(0);
    return { ids: (JSON.parse(r.stdout) as Component[]).map((c) => c.id), requests: r.stderr.trimEnd().split('\n') };
  }

  it('follows start_after_id until a short page', async () => {
    const { ids, requests } = await pagedRequests(23, 5);
    expect(ids).toEqual(Array.from({ length: 23 }, (_, i) => `x${String(i).padStart(4, '0')}`));
    expect(requests).toHaveLength(5);
    expect(requests[0]).toMatch(/GET http:\/\/127\.0\.0\.1:\d+\/v2\/components\?page_size=5 -> 200/);
    expect(requests[1]).toContain('start_after_id=x0004');
    expect(requests[4]).toContain('start_after_id=x0019');
  });

  it('asks once more after a full last page, and once with --page-size 0', async () => {
    expect((await pagedRequests(10, 5)).requests).toHaveLength(3);
    for (const id of await api.store.components.ids()) await api.store.components.delete(id);
    const one = await pagedRequests(10, 0);
    expect(one.requests).toHaveLength(1);
    expect(one.ids).toHaveLength(10);
  });
});

describe('sessions', () => {
  beforeEach(async () => {
    for (const s of await api.store.sessions.list()) await api.store.sessions.delete(s.tenant ?? '', s.name);
  });

  it('refuses a bulk delete with no filter unless --all, and deletes only what the filters select', async () => {
    await api.store.sessions.put('', 'done1', session('done1', { status: 'complete', end_time: '2026-01-01T00:10:00' }));
    await api.store.sessions.put('', 'run1', session('run1'));
    const refused = await runAdmin(['sessions', 'delete', '--url', url]);
    expect(refused.code).toBe(1);
    expect(refused.stderr).toMatch(/^bos: no session named and no filter given: .*--all/);
    expect(await api.store.sessions.list()).toHaveLength(2);

    const both = await runAdmin(['sessions', 'delete', 'run1', '--status', 'complete', '--url', url]);
    expect(both.code).toBe(1);

    const del = await runAdmin(['sessions', 'delete', '--status', 'complete', '--url', url]);
    expect(del).toMatchObject({ code: 0, stdout: 'deleted the selected sessions\n' });
    expect((await api.store.sessions.list()).map((s) => s.name)).toEqual(['run1']);
  });

  it('lists as a table and reports the status with counts', async () => {
    await api.store.sessions.put('', 'b2', session('b2', { start_time: '2026-01-02T00:00:00' }));
    await api.store.sessions.put('', 'a1', session('a1', { status: 'complete', end_time: '2026-01-01T00:00:09' }));
    const r = await runAdmin(['sessions', 'list', '--url', url]);
    const lines = r.stdout.trimEnd().split('\n');
    expect(lines[0]).toMatch(/^NAME\s+TENANT\s+OPERATION\s+TEMPLATE\s+STATUS\s+START\s+END\s+LIMIT\s+ERROR$/);
    expect(lines.slice(1).map((l) => l.split(/\s+/)[0])).toEqual(['a1', 'b2']); // oldest first
    expect(lines[1]).toMatch(/^a1\s+-\s+boot\s+t\s+complete\s+2026-01-01T00:00:00\s+2026-01-01T00:00:09\s+-\s+-$/);

    await api.store.components.putMany([
      { id: 'x8000c0s1b0n0', enabled: false, session: 'a1', status: { phase: '', status_override: 'failed' }, error: 'boom' },
      { id: 'x8000c0s2b0n0', enabled: false, session: 'a1', status: { phase: '', status_override: '' } },
    ]);
    const st = await runAdmin(['sessions', 'status', 'a1', '--url', url]);
    expect(st.stdout).toMatch(/^failed\s+50% \(1\)$/m);
    expect(st.stdout).toMatch(/^succeeded\s+50% \(1\)$/m);
    expect(st.stdout).toMatch(/^duration\s+0:00:09$/m);
    expect(st.stdout).toMatch(/^\s+1 {2}boom {2}\(x8000c0s1b0n0\)$/m);
  });

  it('checks ages before asking the API', async () => {
    const r = await runAdmin(['sessions', 'list', '--min-age', '7 days', '--url', url]);
    expect(r.code).not.toBe(0);
    expect(r.stderr).toContain('"7 days" is not an age');
  });
});

describe('applystaged', () => {
  it('treats nodes with nothing staged as a failure unless --allow-ignored', async () => {
    const r = await runAdmin(['applystaged', 'x404', '--url', url]);
    expect(r).toEqual({
      code: 1,
      stdout: '',
      stderr: 'bos: applystaged: nothing staged for x404 (unknown to BOS, outside the tenant, or no staged session)\n',
    });
    expect(await runAdmin(['applystaged', 'x404', '--allow-ignored', '--url', url])).toEqual({ code: 0, stdout: '', stderr: '' });
    expect(await runAdmin(['applystaged', 'x404', '--quiet', '--url', url])).toEqual({ code: 1, stdout: '', stderr: '' });
  });
});

describe('options', () => {
  it('parses each option by its rule', () => {
    for (const name of OPTION_NAMES) {
      const rule = optionRule(name);
      if (rule.type === 'integer') {
        fc.assert(
          fc.property(fc.integer({ min: -10, max: rule.max + 10 }), (n) => {
            const ok = n >= rule.min && n <= rule.max;
            if (ok) expect(parseOptionValue(name, String(n))).toBe(n);
            else expect(() => parseOptionValue(name, String(n))).toThrow(/outside/);
          }),
          { numRuns: 30 },
        );
        expect(() => parseOptionValue(name, '1.5')).toThrow(/whole number/);
      } else if (rule.type === 'boolean') {
        expect(parseOptionValue(name, 'false')).toBe(false);
        expect(() => parseOptionValue(name, 'maybe')).toThrow(/true or false/);
      }
    }
    expect(parseOptionValue('logging_level', 'warning')).toBe('WARNING');
    expect(() => parseOptionValue('logging_level', 'LOUD')).toThrow(/not one of/);
    expect(parseOptionValue('component_actual_state_ttl', '6h')).toBe('6h');
    expect(() => parseOptionValue('cleanup_completed_session_ttl', '7 days')).toThrow(/does not match/);
  });

  it('refuses an update with nothing to change', async () => {
    const r = await runAdmin(['options', 'update', '--url', url]);
    expect(r.code).toBe(1);
    expect(r.stderr).toMatch(/^bos: nothing to change/);
  });
});

describe('tenant and token', () => {
  let stub: Server;
  let stubUrl: string;
  let seen: { method: string; url: string; headers: IncomingHttpHeaders }[] = [];
  let dir: string;
  const TOKEN = 'secret-token-value-123';

  beforeAll(async () => {
    stub = createServer((req, res) => {
      seen.push({ method: req.method!, url: req.url!, headers: req.headers });
      if (req.url!.startsWith('/apis/bos/v2/sessiontemplates')) {
        res.writeHead(401, { 'content-type': 'application/problem+json' });
        res.end(JSON.stringify({ type: 'about:blank', title: 'Unauthorized', status: 401, detail: 'token rejected' }));
        return;
      }
      res.writeHead(200, { 'content-type': 'application/json' });
      res.end('[]');
    });
    await new Promise<void>((r) => stub.listen(0, '127.0.0.1', () => r()));
    stubUrl = `http://127.0.0.1:${(stub.address() as { port: number }).port}/apis/bos`;
    dir = mkdtempSync(join(tmpdir(), 'bos-token-'));
    writeFileSync(join(dir, 'token'), `${TOKEN}\n`);
  });
  afterAll(async () => {
    await new Promise<void>((r) => stub.close(() => r()));
    rmSync(dir, { recursive: true, force: true });
  });
  beforeEach(() => {
    seen = [];
  });

  it('sends Cray-Tenant-Name and the bearer token, and never prints the token', async () => {
    const r = await runAdmin(['sessions', 'list', '--url', stubUrl, '--tenant', 'acme', '--token-file', join(dir, 'token'), '--verbose']);
    expect(r.code).toBe(0);
    expect(seen).toHaveLength(1);
    expect(seen[0]!.url).toBe('/apis/bos/v2/sessions');
    expect(seen[0]!.headers['cray-tenant-name']).toBe('acme');
    expect(seen[0]!.headers.authorization).toBe(`Bearer ${TOKEN}`);
    expect(r.stdout + r.stderr).not.toContain(TOKEN);

    const denied = await runAdmin(['sessiontemplates', 'list', '--url', stubUrl, '--token-file', join(dir, 'token'), '-v']);
    expect(denied.code).toBe(1);
    expect(denied.stderr).toContain('bos: Unauthorized: token rejected; check --token or --token-file (BOS_TOKEN, BOS_TOKEN_FILE) (HTTP 401 from GET /apis/bos/v2/sessiontemplates)');
    expect(denied.stdout + denied.stderr).not.toContain(TOKEN);
  });

  it('explains an unreadable token file without sending anything', async () => {
    const r = await runAdmin(['sessions', 'list', '--url', stubUrl, '--token-file', join(dir, 'missing')]);
    expect(r.code).toBe(1);
    expect(r.stderr).toBe(`bos: cannot read the token file ${join(dir, 'missing')} (ENOENT): check --token-file or BOS_TOKEN_FILE\n`);
    expect(seen).toHaveLength(0);
  });
});

describe('filters the API does not apply on their own', () => {
  it('--enabled false and --phase none select locally', async () => {
    for (const id of await api.store.components.ids()) await api.store.components.delete(id);
    await api.store.components.putMany([
      { id: 'x1', enabled: true, status: { phase: 'powering_on', status_override: '' } },
      { id: 'x2', enabled: false, status: { phase: '', status_override: '' } },
      { id: 'x3', enabled: true, status: { phase: '', status_override: '' } },
    ]);
    const ids = async (...args: string[]) =>
      (JSON.parse((await runAdmin(['components', 'list', '--format', 'json', '--url', url, ...args])).stdout) as Component[]).map((c) => c.id);
    expect(await ids('--enabled', 'false')).toEqual(['x2']);
    expect(await ids('--phase', 'none')).toEqual(['x2', 'x3']);
    expect(await ids('--phase', 'none', '--enabled', 'true')).toEqual(['x3']);
    expect(await ids('--phase', 'powering_on')).toEqual(['x1']);
  });
});

describe('session templates and bulk component updates in-process', () => {
  let dir: string;
  beforeAll(() => {
    dir = mkdtempSync(join(tmpdir(), 'bos-tpl-'));
  });
  afterAll(() => rmSync(dir, { recursive: true, force: true }));

  it('updates (PATCH, read-only fields of a saved record dropped), validates, prints the example and deletes', async () => {
    await api.store.templates.put('', 'tp', {
      name: 'tp',
      tenant: null,
      description: 'old',
      boot_sets: { b: { name: 'b', type: 's3', path: 's3://boot-images/i/manifest.json', node_list: ['x3000c0s1b0n0'], arch: 'X86' } },
    });
    const file = join(dir, 'patch.json');
    writeFileSync(file, JSON.stringify({ name: 'tp', tenant: null, description: 'new', boot_sets: { b: { type: 's3', path: 's3://boot-images/i/manifest.json', node_list: ['x3000c0s2b0n0'] } } }));
    const up = await runAdmin(['sessiontemplates', 'update', 'tp', '--file', file, '--format', 'json', '--url', url]);
    expect(up.stderr).toBe('');
    expect(JSON.parse(up.stdout)).toMatchObject({ description: 'new', boot_sets: { b: { node_list: ['x3000c0s2b0n0'], path: 's3://boot-images/i/manifest.json' } } });

    const val = await runAdmin(['sessiontemplates', 'validate', 'tp', '--url', url]);
    expect(val.code).toBe(0);
    expect(val.stdout).toMatch(/^Session template: 'tp' boot set: 'b': .+\n$/);

    const ex = await runAdmin(['sessiontemplates', 'template', '--url', url]);
    expect(JSON.parse(ex.stdout)).toHaveProperty('boot_sets.name_your_boot_set.type', 's3');

    expect((await runAdmin(['sessiontemplates', 'delete', 'tp', '--url', url])).stdout).toBe('deleted session template tp\n');
    expect(await api.store.templates.get('', 'tp')).toBeUndefined();
  });

  it('reads YAML from a file and refuses a file that is not an object', async () => {
    const bad = join(dir, 'list.yaml');
    writeFileSync(bad, '- a\n- b\n');
    const r = await runAdmin(['sessiontemplates', 'create', 'x', '--file', bad, '--url', url]);
    expect(r).toMatchObject({ code: 1, stderr: `bos: ${bad} must hold one object (the session template)\n` });
  });

  it('updates several components with one bulk PATCH', async () => {
    await api.store.components.putMany([
      { id: 'x6000c0s1b0n0', enabled: true, error: 'e' },
      { id: 'x6000c0s2b0n0', enabled: true, error: 'e' },
    ]);
    const r = await runAdmin(['components', 'update', 'x6000c0s1b0n0,x6000c0s2b0n0', '--enabled', 'false', '--clear-error', '--url', url, '-v']);
    expect(r.stdout).toBe('updated 2 components: x6000c0s1b0n0,x6000c0s2b0n0\n');
    expect(r.stderr).toMatch(/^bos: PATCH http:\/\/127\.0\.0\.1:\d+\/v2\/components -> 200/);
    for (const id of ['x6000c0s1b0n0', 'x6000c0s2b0n0']) expect(await api.store.components.get(id)).toMatchObject({ enabled: false, error: '' });

    const none = await runAdmin(['components', 'update', 'x6000c0s1b0n0', '--url', url]);
    expect(none.code).toBe(1);
    expect(none.stderr).toMatch(/^bos: nothing to change/);
  });
});

describe('watch through a flaky connection', () => {
  it('retries a failed poll a few times with a line each, then gives up with the connection error', async () => {
    const probe = createServer();
    await new Promise<void>((r) => probe.listen(0, '127.0.0.1', () => r()));
    const port = (probe.address() as { port: number }).port;
    await new Promise<void>((r) => probe.close(() => r()));
    let err = '';
    let sleeps = 0;
    const watching = watchSession(
      new BosApi({ url: `http://127.0.0.1:${port}` }),
      's',
      { out: { write: () => true }, err: { write: (s: string) => (err += s) } },
      { intervalMs: 1, maxPollFailures: 2, sleep: async () => void sleeps++ },
    );
    await expect(watching).rejects.toThrow(`cannot reach BOS at http://127.0.0.1:${port}/v2 (ECONNREFUSED)`);
    expect(sleeps).toBe(2);
    expect(err.trimEnd().split('\n')).toHaveLength(2);
    expect(err).toMatch(/\(retrying, 1 of 2\)\n.*\(retrying, 2 of 2\)\n$/);
  });
});

describe('progress counts', () => {
  it('every listed node is done, failed or in progress; phases count only nodes with a phase', () => {
    const statuses = ['stable', 'failed', 'power_on_pending', 'power_on_called', 'configuring', 'on_hold', 'power_off_pending'];
    const phases = ['', 'powering_on', 'powering_off', 'configuring'];
    fc.assert(
      fc.property(fc.array(fc.tuple(fc.constantFrom(...statuses), fc.constantFrom(...phases)), { maxLength: 60 }), (nodes) => {
        const comps: Component[] = nodes.map(([status, phase], i) => ({ id: `x${i}`, status: { status, phase } }));
        const ext = {
          managed_components_count: comps.length,
          phases: { percent_complete: 0, percent_powering_on: 0, percent_powering_off: 0, percent_configuring: 0 },
          percent_staged: 0,
          percent_successful: 0,
          percent_failed: 0,
          error_summary: {},
          timing: { start_time: null, end_time: null, duration: '0:00:00' },
          status: 'running',
        };
        const p = progressOf('s', ext, comps, '0:00:09');
        expect(p.done + p.failed + p.inProgress).toBe(comps.length);
        expect(p.done).toBe(nodes.filter(([s]) => s === 'stable').length);
        expect(p.failed).toBe(nodes.filter(([s]) => s === 'failed').length);
        expect(Object.values(p.statuses).reduce((a, b) => a + b, 0)).toBe(comps.length);
        expect(Object.values(p.phases).reduce((a, b) => a + b, 0)).toBe(nodes.filter(([, ph]) => ph !== '').length);
        expect(p.elapsed).toBe('0:00:09'); // no start time yet: the watch's own clock
      }),
    );
  });
});

describe('output format default', () => {
  it('is table unless BOS_FORMAT or --format says json', async () => {
    const before = process.env.BOS_FORMAT;
    try {
      delete process.env.BOS_FORMAT;
      expect((await runAdmin(['options', 'list', '--url', url])).stdout).toMatch(/^OPTION\s+VALUE\n/);
      process.env.BOS_FORMAT = 'json';
      expect(JSON.parse((await runAdmin(['options', 'list', '--url', url])).stdout)).toHaveProperty('polling_frequency');
      expect((await runAdmin(['options', 'list', '--url', url, '--format', 'table'])).stdout).toMatch(/^OPTION\s+VALUE\n/);
      process.env.BOS_FORMAT = 'yaml';
      const bad = await runAdmin(['options', 'list', '--url', url]);
      expect(bad).toMatchObject({ code: 1, stdout: '' });
      expect(bad.stderr).toContain('--format must be json or table');
    } finally {
      if (before === undefined) delete process.env.BOS_FORMAT;
      else process.env.BOS_FORMAT = before;
    }
  });
});

describe('watch with --format json and no terminal', () => {
  it('writes one JSON object per change, then the final status with the failed count', async () => {
    await api.store.sessions.put('', 'jl', session('jl'));
    const comps: Component[] = ['x7100c0s1b0n0', 'x7100c0s2b0n0'].map((id) => ({ id, enabled: true, session: 'jl', status: { phase: 'powering_on', status_override: '' } }));
    await api.store.components.putMany(comps);
    let out = '';
    let sleeps = 0;
    const code = await watchSession(
      new BosApi({ url }),
      'jl',
      { out: { write: (s: string) => (out += s) }, err: { write: () => true } },
      {
        intervalMs: 1,
        json: true,
        sleep: async () => {
          sleeps++;
          if (sleeps === 3) {
            await api.store.components.putMany([
              { ...comps[0]!, enabled: false, error: 'boom', status: { phase: '', status_override: 'failed' } },
              { ...comps[1]!, enabled: false, status: { phase: '', status_override: '' } },
            ]);
            await api.store.sessions.put('', 'jl', session('jl', { status: 'complete', end_time: '2026-01-01T00:00:30' }));
          }
        },
      },
    );
    expect(code).toBe(2);
    const lines = out.trimEnd().split('\n').map((l) => JSON.parse(l) as Record<string, unknown>);
    // Three polls with unchanged counts give one line; then the final line.
    expect(lines).toHaveLength(2);
    expect(lines[0]).toMatchObject({ session: 'jl', sessionStatus: 'running', nodes: 2, done: 0, failed: 0, inProgress: 2, phases: { powering_on: 2 } });
    expect(lines[1]).toMatchObject({ session: 'jl', complete: true, failed: 1, status: { status: 'complete', error_summary: { boom: { count: 1 } } } });
  });
});

describe('components list by a long id list', () => {
  it('asks in chunks that fit a request line and answers every match once, in id order', async () => {
    for (const id of await api.store.components.ids()) await api.store.components.delete(id);
    const ids = Array.from({ length: 1000 }, (_, i) => `x${3000 + (i % 7)}c0s${i}b0n0`);
    await api.store.components.putMany(ids.filter((_, i) => i % 2 === 0).map((id) => ({ id, enabled: true })));
    // Unknown ids (odd ones) are dropped by the API; a repeated id is listed once.
    const r = await runAdmin(['components', 'list', '--ids', [...ids, ids[0]!].join(','), '--format', 'json', '--url', url, '-v']);
    expect(r.code).toBe(0);
    const got = (JSON.parse(r.stdout) as Component[]).map((c) => c.id);
    expect(got).toEqual(ids.filter((_, i) => i % 2 === 0).sort());
    const requests = r.stderr.trimEnd().split('\n');
    expect(requests).toHaveLength(3);
    expect(Math.max(...requests.map((l) => l.length))).toBeLessThan(16 * 1024);
  });
});
