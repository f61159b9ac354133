/**
 * The grid: every node a square on one canvas (10,000 nodes are 10,000 fillRects, not 10,000
 * elements), laid out by src/ui/layout.ts and coloured by src/ui/classes.ts. A poll that changes a
 * few nodes repaints only those squares, in the next animation frame; a new set of nodes or a resize
 * lays the room out again. Hover shows a node's state and error; a click picks it.
 */
import type { ListedComponent } from '../../common/status-view.js';
import { CLASS_COLOURS, CLASS_LABELS, classIndex, countClasses, NODE_CLASSES, nodeClass, type NodeClass } from '../classes.js';
import { fitRoom, LABEL_HEIGHT, nodeAt, planRoom, type RoomLayout, type RoomPlan } from '../layout.js';

/** Nothing drawn yet for a node. */
const UNDRAWN = 255;
const COLOURS = NODE_CLASSES.map((k) => CLASS_COLOURS[k]);
const BACKGROUND = '#0b0f17';
const CABINET = '#151b27';

/** Draw times kept for the page's figures (window.bosMachineRoom.drawStats()). */
const KEPT_DRAWS = 600;

export class Grid {
  private ids: string[] = [];
  private components: readonly ListedComponent[] = [];
  private classes = new Uint8Array(0);
  private drawn = new Uint8Array(0);
  private plan: RoomPlan = planRoom([]);
  private layout: RoomLayout = fitRoom(this.plan, 1, 1);
  private byId = new Map<string, number>();
  private relayout = true;
  private frame = 0;
  private selected = -1;
  private highlight: ((c: ListedComponent) => boolean) | undefined;
  private hovered = -1;
  readonly drawMs: number[] = [];

  constructor(
    private readonly canvas: HTMLCanvasElement,
    private readonly wrap: HTMLElement,
    private readonly tooltip: HTMLElement,
    private readonly onPick: (id: string) => void,
  ) {
    new ResizeObserver(() => this.invalidate(true)).observe(wrap);
    canvas.addEventListener('mousemove', (e) => this.hover(e));
    canvas.addEventListener('mouseleave', () => this.hideTooltip());
    canvas.addEventListener('click', (e) => {
      const n = this.nodeUnder(e);
      if (n >= 0) this.onPick(this.ids[n]!);
    });
  }

  /** The components of the latest poll (in id order, as the API lists them). */
  setComponents(list: readonly ListedComponent[]): void {
    const sameNodes = list.length === this.ids.length && list.every((c, i) => c.id === this.ids[i]);
    this.components = list;
    if (!sameNodes) {
      this.ids = list.map((c) => c.id);
      this.byId = new Map(this.ids.map((id, i) => [id, i]));
      this.plan = planRoom(this.ids);
      this.classes = new Uint8Array(list.length);
      this.drawn = new Uint8Array(list.length).fill(UNDRAWN);
      this.relayout = true;
      this.selected = -1;
      // Another set of nodes: the index under the pointer names another node now.
      this.hideTooltip();
    }
    for (let i = 0; i < list.length; i++) this.classes[i] = classIndex(nodeClass(list[i]!));
    if (this.hovered >= 0) this.showTooltipFor(this.hovered);
    this.invalidate(false);
  }

  counts(): Record<NodeClass, number> {
    return countClasses(this.classes);
  }

  get size(): number {
    return this.ids.length;
  }

  /** Outline one node (the one whose record is open), or none. */
  select(id: string | undefined): void {
    const n = id === undefined ? -1 : (this.byId.get(id) ?? -1);
    if (n === this.selected) return;
    for (const i of [this.selected, n]) if (i >= 0) this.drawn[i] = UNDRAWN;
    this.selected = n;
    this.invalidate(false);
  }

  /** Dim every node the predicate rejects (an error group picked), or none. */
  setHighlight(keep: ((c: ListedComponent) => boolean) | undefined): void {
    this.highlight = keep;
    this.drawn.fill(UNDRAWN);
    this.invalidate(false);
  }

  /** Where a node's square is on the page (its centre, viewport coordinates), for tests and the find box. */
  pointOf(id: string): { x: number; y: number } | undefined {
    const n = this.byId.get(id);
    if (n === undefined || this.relayout) return undefined;
    const r = this.canvas.getBoundingClientRect();
    const half = this.layout.cell / 2;
    return { x: r.left + this.layout.x[n]! + half, y: r.top + this.layout.y[n]! + half };
  }

  /** Repaint in the next animation frame (everything when `all`). */
  private invalidate(all: boolean): void {
    if (all) this.relayout = true;
    if (!this.frame) this.frame = requestAnimationFrame(() => this.draw());
  }

  private draw(): void {
    this.frame = 0;
    const t0 = performance.now();
    const ctx = this.canvas.getContext('2d', { alpha: false });
    if (!ctx) return;
    const dpr = window.devicePixelRatio || 1;
    if (this.relayout) {
      this.relayout = false;
      // Fit the width of the view, and its height when the cells stay large enough to point at.
      const width = Math.max(200, this.wrap.clientWidth - 2);
      this.layout = fitRoom(this.plan, width, Math.max(160, this.wrap.clientHeight - 4));
      this.canvas.width = Math.ceil(Math.max(1, this.layout.width) * dpr);
      this.canvas.height = Math.ceil(Math.max(1, this.layout.height) * dpr);
      this.canvas.style.width = `${Math.max(1, this.layout.width)}px`;
      this.canvas.style.height = `${Math.max(1, this.layout.height)}px`;
      ctx.setTransform(dpr, 0, 0, dpr, 0, 0);
      ctx.fillStyle = BACKGROUND;
      ctx.fillRect(0, 0, this.layout.width, this.layout.height);
      ctx.font = '11px system-ui, sans-serif';
      for (const box of this.layout.cabinets) {
        ctx.fillStyle = '#9ca3af';
        ctx.fillText(box.label, box.x, box.y + LABEL_HEIGHT - 3);
        ctx.fillStyle = CABINET;
        ctx.fillRect(box.x, box.y + LABEL_HEIGHT, box.w, box.h - LABEL_HEIGHT);
      }
      this.drawn.fill(UNDRAWN);
    }
    const { cell, x, y } = this.layout;
    const side = cell >= 4 ? cell - 1 : cell;
    // One fillStyle per class: the squares that changed, grouped by colour.
    for (let k = 0; k < COLOURS.length; k++) {
      let styled = false;
      for (let i = 0; i < this.classes.length; i++) {
        if (this.classes[i] !== k || this.drawn[i] === k) continue;
        if (!styled) {
          ctx.fillStyle = COLOURS[k]!;
          styled = true;
        }
        const dim = this.highlight !== undefined && !this.highlight(this.components[i]!);
        if (dim) {
          ctx.fillStyle = CABINET;
          ctx.fillRect(x[i]!, y[i]!, side, side);
          ctx.globalAlpha = 0.25;
          ctx.fillStyle = COLOURS[k]!;
          ctx.fillRect(x[i]!, y[i]!, side, side);
          ctx.globalAlpha = 1;
        } else {
          ctx.fillRect(x[i]!, y[i]!, side, side);
        }
        this.drawn[i] = k;
        if (i === this.selected) {
          ctx.strokeStyle = '#ffffff';
          ctx.lineWidth = 1;
          ctx.strokeRect(x[i]! + 0.5, y[i]! + 0.5, side - 1, side - 1);
          ctx.fillStyle = COLOURS[k]!;
        }
      }
    }
    const counts = this.counts();
    this.canvas.dataset.drawn = String(this.ids.length);
    this.canvas.dataset.counts = JSON.stringify(counts);
    this.drawMs.push(performance.now() - t0);
    if (this.drawMs.length > KEPT_DRAWS) this.drawMs.splice(0, this.drawMs.length - KEPT_DRAWS);
  }

  private nodeUnder(e: MouseEvent): number {
    const r = this.canvas.getBoundingClientRect();
    return this.relayout ? -1 : nodeAt(this.layout, e.clientX - r.left, e.clientY - r.top);
  }

  private hover(e: MouseEvent): void {
    const n = this.nodeUnder(e);
    this.hovered = n;
    if (n < 0) return this.hideTooltip();
    this.showTooltipFor(n);
    const t = this.tooltip;
    const left = Math.min(e.clientX + 14, window.innerWidth - t.offsetWidth - 8);
    const top = e.clientY + 16 + t.offsetHeight > window.innerHeight ? e.clientY - t.offsetHeight - 10 : e.clientY + 16;
    t.style.left = `${Math.max(4, left)}px`;
    t.style.top = `${Math.max(4, top)}px`;
  }

  private showTooltipFor(n: number): void {
    const c = this.components[n];
    if (!c) return this.hideTooltip();
    const k = NODE_CLASSES[this.classes[n]!]!;
    const t = this.tooltip;
    t.replaceChildren();
    const line = (cls: string, text: string) => {
      const d = document.createElement('div');
      d.className = cls;
      d.textContent = text;
      t.append(d);
    };
    line('t-id', c.id);
    line('t-state', `${CLASS_LABELS[k]} · status ${c.status?.status ?? 'stable'}${c.status?.phase ? ` · phase ${c.status.phase}` : ''} · ${c.enabled ? 'enabled' : 'disabled'}`);
    line('t-session', c.session ? `session ${c.session}` : 'in no session');
    if (c.last_action?.action) line('t-action', `last action ${c.last_action.action}${c.last_action.failed ? ' (failed)' : ''}${c.last_action.last_updated ? ` at ${c.last_action.last_updated}` : ''}`);
    if (c.error) line('t-error', c.error.length > 600 ? `${c.error.slice(0, 600)}…` : c.error);
    line('t-hint', 'click for the whole record');
    t.hidden = false;
  }

  private hideTooltip(): void {
    this.hovered = -1;
    this.tooltip.hidden = true;
  }
}
