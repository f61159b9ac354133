/**
 * The web view (docs/ui.md): sessions with their progress, and every node of the room or of one
 * session on a grid, kept live by polling the v2 API with the caller's credentials. Read-only: it
 * sends GETs and nothing else.
 *
 * Query parameters: `interval=<seconds>` between polls (default 2). The session shown is in the
 * address (`#session=<name>`), so a view can be shared.
 */
import type { ExtendedStatus, Session } from '../../common/types.js';
import type { ListedComponent } from '../../common/status-view.js';
import { ApiProblem, problemText, UiApi, type Credentials } from '../api.js';
import { CLASS_COLOURS, CLASS_LABELS, CLASS_MEANINGS, NODE_CLASSES, nodeClass } from '../classes.js';
import { errorGroups } from '../errors.js';
import { ComponentPager } from '../pager.js';
import { formatSeconds } from '../../common/duration.js';
import { sessionAbout, sessionProgress, sortSessions, type SessionProgress } from '../sessions.js';
import { byId, el } from './dom.js';
import { Grid } from './grid.js';

const TOKEN_KEY = 'bos-ui-token';
const TENANT_KEY = 'bos-ui-tenant';
/** Complete sessions listed (the most recent); running and pending ones are always listed. */
const COMPLETE_SHOWN = 10;
/** Extended statuses read at once. */
const STATUS_CONCURRENCY = 4;

const params = new URLSearchParams(location.search);
const intervalMs = Math.min(60, Math.max(0.2, Number(params.get('interval')) || 2)) * 1000;

// The token lives in this tab only (sessionStorage): closing the tab forgets it.
function credentials(): Credentials {
  return { token: sessionStorage.getItem(TOKEN_KEY) ?? '', tenant: sessionStorage.getItem(TENANT_KEY) ?? '' };
}

// The API beside the page: /ui/ reads /v2, /apis/bos/ui/ reads /apis/bos/v2.
const api = new UiApi(new URL('../v2', location.href).href, credentials);

const grid = new Grid(byId<HTMLCanvasElement>('grid'), byId('grid-wrap'), byId('tooltip'), (id) => void openRecord(id));
const stats = { polls: 0, pollMs: [] as number[] };
let pager: ComponentPager | undefined;
let pagerFor: string | undefined;
let sessions: Session[] = [];
const statuses = new Map<string, ExtendedStatus>();
let components: readonly ListedComponent[] = [];
let recordId: string | undefined;
let errorPicked: string | undefined;
let timer: ReturnType<typeof setTimeout> | undefined;
let polling = false;
/** Something asked for a poll while one ran (a new session picked, new credentials): poll again at once. */
let again = false;

function selectedSession(): string {
  const m = /(?:^#|&)session=([^&]*)/.exec(location.hash);
  return m ? decodeURIComponent(m[1]!) : '';
}

// ------------------------------------------------------------------ polling

/** Read the sessions, their statuses and the nodes shown; then draw. Errors go to the banner. */
async function poll(): Promise<void> {
  if (polling) {
    again = true;
    return;
  }
  polling = true;
  again = false;
  clearTimeout(timer);
  const t0 = performance.now();
  try {
    const selected = selectedSession();
    const listed = await api.get<Session[]>('/sessions');
    sessions = listed.status === 200 && Array.isArray(listed.body) ? sortSessions(listed.body) : sessions;
    await readStatuses(selected);
    if (!pager || pagerFor !== selected) {
      pager = new ComponentPager(api, selected ? { session: selected } : {});
      pagerFor = selected;
      errorPicked = undefined;
      grid.setHighlight(undefined);
    }
    const r = await pager.refresh();
    if (r.changed) {
      components = r.components;
      grid.setComponents(components);
      grid.select(recordId);
    }
    if (recordId) await showRecord(recordId);
    render(selected);
    showProblem(undefined);
    stats.polls++;
    byId('grid').dataset.polls = String(stats.polls);
    byId('live').textContent = `live · updated ${new Date().toLocaleTimeString()}`;
  } catch (err) {
    showProblem(err);
  } finally {
    stats.pollMs.push(performance.now() - t0);
    if (stats.pollMs.length > 600) stats.pollMs.shift();
    polling = false;
    if (again) void poll();
    else schedule();
  }
}

function schedule(): void {
  clearTimeout(timer);
  // A hidden tab does not poll (visibilitychange polls again at once).
  if (document.visibilityState === 'hidden') {
    byId('live').textContent = 'paused while the tab is hidden';
    return;
  }
  timer = setTimeout(() => void poll(), intervalMs);
}

/** Extended statuses: of every running or pending session and the one shown each poll; of a complete one once. */
async function readStatuses(selected: string): Promise<void> {
  const complete = sessions.filter((s) => s.status?.status === 'complete').slice(0, COMPLETE_SHOWN);
  const wanted = sessions.filter(
    (s) => s.status?.status !== 'complete' || s.name === selected || (complete.includes(s) && statuses.get(s.name)?.status !== 'complete'),
  );
  for (let i = 0; i < wanted.length; i += STATUS_CONCURRENCY) {
    await Promise.all(
      wanted.slice(i, i + STATUS_CONCURRENCY).map(async (s) => {
        try {
          const r = await api.get<ExtendedStatus>(`/sessions/${encodeURIComponent(s.name)}/status`);
          if (r.status === 200) statuses.set(s.name, r.body);
        } catch (err) {
          // Deleted since it was listed: it is gone from the next list.
          if (!(err instanceof ApiProblem && err.kind === 'not_found')) throw err;
        }
      }),
    );
  }
  const names = new Set(sessions.map((s) => s.name));
  for (const name of statuses.keys()) if (!names.has(name)) statuses.delete(name);
}

function showProblem(err: unknown): void {
  const banner = byId('problem');
  if (err === undefined) {
    banner.hidden = true;
    document.body.dataset.state = 'live';
    return;
  }
  const text = err instanceof ApiProblem ? problemText(err, api.base) : `The view failed: ${err instanceof Error ? err.message : String(err)}`;
  banner.textContent = text;
  banner.hidden = false;
  banner.dataset.kind = err instanceof ApiProblem ? err.kind : 'page';
  document.body.dataset.state = 'problem';
  byId('live').textContent = `not updated since ${stats.polls ? 'the last good poll' : 'the start'}`;
  if (err instanceof ApiProblem && (err.kind === 'unauthorized' || err.kind === 'forbidden')) byId('token').focus({ preventScroll: true });
}

// ------------------------------------------------------------------ drawing the text parts

function bar(p: SessionProgress): HTMLElement {
  const total = Math.max(1, p.total);
  const part = (cls: string, n: number) => {
    const s = el('span', cls);
    s.style.width = `${(n * 100) / total}%`;
    return s;
  };
  return el('div', 'bar', part('done', p.done), part('failed', p.failed), part('moving', p.inProgress));
}

function figures(p: SessionProgress, status: string): string {
  const parts = [`${p.done} done`, `${p.failed} failed`];
  if (p.inProgress) parts.push(`${p.inProgress} in progress`);
  if (p.waiting) parts.push(`${p.waiting} waiting`);
  if (p.elapsed !== undefined) parts.push(`${status === 'complete' ? 'took' : 'elapsed'} ${formatSeconds(p.elapsed)}`);
  if (p.perMinute !== undefined && status !== 'complete') parts.push(`${p.perMinute < 10 ? p.perMinute.toFixed(1) : Math.round(p.perMinute)} nodes/min`);
  if (p.eta !== undefined) parts.push(`ETA ${formatSeconds(p.eta)}`);
  return `${p.total} nodes: ${parts.join(' · ')}`;
}

function sessionButton(label: HTMLElement[], current: boolean, hash: string): HTMLElement {
  const b = el('button', '', ...label);
  b.type = 'button';
  b.setAttribute('aria-current', String(current));
  b.addEventListener('click', () => {
    location.hash = hash;
  });
  return el('li', '', b);
}

function renderSessions(selected: string): void {
  const list = byId('session-list');
  const items: HTMLElement[] = [sessionButton([el('div', 's-name', 'Whole machine room'), el('div', 's-about', 'every node BOS knows')], selected === '', '')];
  let complete = 0;
  for (const s of sessions) {
    const status = s.status?.status ?? 'pending';
    if (status === 'complete' && ++complete > COMPLETE_SHOWN && s.name !== selected) continue;
    const ext = statuses.get(s.name);
    const parts = [el('span', `s-status ${status}`, status), el('div', 's-name', s.name), el('div', 's-about', sessionAbout(s))];
    if (ext) {
      const p = sessionProgress(ext);
      parts.push(bar(p), el('div', 's-figures', figures(p, status)));
    }
    const li = sessionButton(parts, s.name === selected, `session=${encodeURIComponent(s.name)}`);
    li.dataset.session = s.name;
    items.push(li);
  }
  if (complete > COMPLETE_SHOWN) items.push(el('li', 'more', `${complete - COMPLETE_SHOWN} older complete sessions (bos sessions list)`));
  list.replaceChildren(...items);
}

function renderSummary(selected: string): void {
  const summary = byId('summary');
  if (!selected) {
    summary.replaceChildren(el('strong', '', 'Whole machine room'), el('span', 'dim', ` · ${grid.size} nodes`));
    return;
  }
  const s = sessions.find((x) => x.name === selected);
  const ext = statuses.get(selected);
  const parts: (Node | string)[] = [el('strong', '', `Session ${selected}`)];
  if (!s) parts.push(el('span', 'dim', ' · not found (deleted?): the nodes still naming it are shown'));
  else {
    parts.push(el('span', 'dim', ` (${sessionAbout(s)}) · ${s.status?.status ?? 'pending'}`));
    if (ext) parts.push(el('div', '', figures(sessionProgress(ext), s.status?.status ?? '')));
    if (ext?.rollout?.stopped) parts.push(el('div', '', `Rollout stopped: ${ext.rollout.stopped}`));
    if (s.status?.error) parts.push(el('div', '', `Session error: ${s.status.error}`));
  }
  summary.replaceChildren(...parts);
}

function renderLegend(): void {
  const counts = grid.counts();
  byId('legend').replaceChildren(
    ...NODE_CLASSES.map((k) => {
      const swatch = el('span', 'swatch');
      swatch.style.background = CLASS_COLOURS[k];
      const li = el('li', '', swatch, CLASS_LABELS[k], el('span', 'n', String(counts[k])));
      li.title = CLASS_MEANINGS[k];
      li.dataset.class = k;
      return li;
    }),
  );
}

function renderErrors(): void {
  const groups = errorGroups(components);
  if (errorPicked !== undefined && !groups.some((g) => g.text === errorPicked)) {
    errorPicked = undefined;
    grid.setHighlight(undefined);
  }
  byId('errors').replaceChildren(
    ...groups.map((g) => {
      const b = el('button', '', `${g.count} × ${g.text}`);
      b.type = 'button';
      b.title = `${g.text}\n${g.ids.join(', ')}${g.count > g.ids.length ? ', …' : ''}\nClick to show only these nodes`;
      b.setAttribute('aria-pressed', String(errorPicked === g.text));
      b.addEventListener('click', () => {
        errorPicked = errorPicked === g.text ? undefined : g.text;
        grid.setHighlight(errorPicked === undefined ? undefined : (c) => c.error === errorPicked);
        renderErrors();
      });
      return el('li', '', b);
    }),
  );
}

function render(selected: string): void {
  renderSessions(selected);
  renderSummary(selected);
  renderLegend();
  renderErrors();
}

// ------------------------------------------------------------------ a node's record

async function showRecord(id: string): Promise<void> {
  const r = await api.get<ListedComponent>(`/components/${encodeURIComponent(id)}`).catch((err: unknown) => {
    if (err instanceof ApiProblem && err.kind === 'not_found') return undefined;
    throw err;
  });
  if (recordId !== id) return;
  const body = r?.status === 200 ? r.body : undefined;
  byId('record-title').textContent = id;
  byId('record-state').textContent = body ? `${CLASS_LABELS[nodeClass(body)]}${body.error ? ` · error: ${body.error}` : ''}` : 'BOS has no component with this id (for this tenant).';
  byId('record-command').textContent = `bos components describe ${id}`;
  byId('record-body').textContent = body ? JSON.stringify(body, null, 2) : '';
}

async function openRecord(id: string): Promise<void> {
  recordId = id;
  grid.select(id);
  byId('record').hidden = false;
  byId('record-title').textContent = id;
  byId('record-body').textContent = 'reading…';
  try {
    await showRecord(id);
  } catch (err) {
    showProblem(err);
  }
}

function closeRecord(): void {
  recordId = undefined;
  grid.select(undefined);
  byId('record').hidden = true;
}

// ------------------------------------------------------------------ wiring

/** Intervals between animation frames and long tasks (main thread busy over 50 ms) for `ms`. */
async function frameTimes(ms: number): Promise<{ frames: number[]; longTasks: number[] }> {
  const frames: number[] = [];
  const longTasks: number[] = [];
  const observer = new PerformanceObserver((list) => {
    for (const e of list.getEntries()) longTasks.push(e.duration);
  });
  observer.observe({ type: 'longtask' });
  let running = true;
  let last = -1;
  const tick = (t: number) => {
    if (last >= 0) frames.push(t - last);
    last = t;
    if (running) requestAnimationFrame(tick);
  };
  requestAnimationFrame(tick);
  await new Promise((resolve) => setTimeout(resolve, ms));
  running = false;
  observer.disconnect();
  return { frames, longTasks };
}

function start(): void {
  const token = byId<HTMLInputElement>('token');
  const tenant = byId<HTMLInputElement>('tenant');
  token.value = sessionStorage.getItem(TOKEN_KEY) ?? '';
  tenant.value = sessionStorage.getItem(TENANT_KEY) ?? '';
  byId('credentials').addEventListener('submit', (e) => {
    e.preventDefault();
    sessionStorage.setItem(TOKEN_KEY, token.value.trim());
    sessionStorage.setItem(TENANT_KEY, tenant.value.trim());
    // Another tenant sees other nodes and sessions: start again.
    pager = undefined;
    statuses.clear();
    void poll();
  });
  byId('forget').addEventListener('click', () => {
    sessionStorage.removeItem(TOKEN_KEY);
    sessionStorage.removeItem(TENANT_KEY);
    token.value = '';
    tenant.value = '';
    pager = undefined;
    void poll();
  });
  byId('find').addEventListener('submit', (e) => {
    e.preventDefault();
    const id = byId<HTMLInputElement>('find-id').value.trim();
    if (id) void openRecord(id);
  });
  byId('record-close').addEventListener('click', closeRecord);
  document.addEventListener('keydown', (e) => {
    if (e.key === 'Escape') closeRecord();
  });
  window.addEventListener('hashchange', () => void poll());
  document.addEventListener('visibilitychange', () => {
    if (document.visibilityState === 'visible') void poll();
  });
  // For the browser tests and the frame-time benchmark: where a node is drawn, and the page's own timings.
  Object.assign(window, {
    bosMachineRoom: {
      frameTimes,
      pointOf: (id: string) => grid.pointOf(id),
      drawMs: () => [...grid.drawMs],
      pollMs: () => [...stats.pollMs],
      resetTimes: () => {
        grid.drawMs.length = 0;
        stats.pollMs.length = 0;
      },
    },
  });
  void poll();
}

start();
