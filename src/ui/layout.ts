/**
 * The machine room as the hardware is laid out, for the web view's grid: cabinets side by side
 * (wrapping into rows to fit the width), in each cabinet its chassis one under another, in each
 * chassis its slots left to right, in each slot its nodes (by BMC, then node). Ids that are not node
 * xnames go in a last block of their own. Pure, and free of Node and DOM APIs.
 *
 *   const plan = planRoom(ids);                      // once per set of ids
 *   const layout = fitRoom(plan, 1200, 700);         // the largest cells that fit, on every resize
 *   nodeAt(layout, x, y);                            // index into ids, or -1
 */
import { parseNodeXname } from './xname.js';

/** One chassis of a cabinet: its node indices by slot column. */
interface ChassisPlan {
  /** Node rows of its tallest slot. */
  rows: number;
  slots: { column: number; nodes: number[] }[];
}

/** One cabinet (or the block of other ids), before it is given a place. */
interface CabinetPlan {
  label: string;
  /** Slot columns: one per slot number used in any of its chassis, so chassis line up. */
  columns: number;
  /** Node columns in a slot: 2 when some slot holds more than one node, else 1. */
  slotCols: number;
  chassis: ChassisPlan[];
  /** Every node index of the cabinet. */
  nodes: number[];
}

/** The ids grouped by cabinet, chassis and slot: what placing them at any size starts from. */
export interface RoomPlan {
  size: number;
  cabinets: CabinetPlan[];
}

/** A cabinet's place: its label above a box holding its nodes. */
interface CabinetBox {
  label: string;
  /** The label's baseline is at y + LABEL_HEIGHT - 3; the nodes start at y + LABEL_HEIGHT. */
  x: number;
  y: number;
  w: number;
  h: number;
  nodes: readonly number[];
}

export interface RoomLayout {
  /** Side of a node's square, in CSS pixels. */
  cell: number;
  width: number;
  height: number;
  /** Top-left corner of node i (an index into the ids planned). */
  x: Int32Array;
  y: Int32Array;
  cabinets: CabinetBox[];
}

/** Height of a cabinet's label line, in CSS pixels. */
export const LABEL_HEIGHT = 14;
/** Width a label character takes at the grid's font, so a narrow cabinet is widened to its label. */
const LABEL_CHAR_WIDTH = 7;
/** Nodes per row in the block of ids that are not node xnames. */
const OTHER_COLUMNS = 16;
/** Cell sizes fitRoom() tries, largest first. */
export const MAX_CELL = 28;
export const MIN_CELL = 2;

function byNumber(a: number, b: number): number {
  return a - b;
}

function otherBlock(nodes: number[], ids: readonly string[]): CabinetPlan {
  const sorted = [...nodes].sort((a, b) => (ids[a]! < ids[b]! ? -1 : ids[a]! > ids[b]! ? 1 : a - b));
  const slots: { column: number; nodes: number[] }[] = [];
  for (let col = 0; col < Math.min(OTHER_COLUMNS, sorted.length); col++) slots.push({ column: col, nodes: [] });
  sorted.forEach((n, i) => slots[i % OTHER_COLUMNS]!.nodes.push(n));
  return {
    label: 'other',
    columns: slots.length,
    slotCols: 1,
    chassis: [{ rows: Math.ceil(sorted.length / OTHER_COLUMNS), slots }],
    nodes: sorted,
  };
}

/** Group ids (component ids, usually node xnames) by cabinet, chassis and slot. */
export function planRoom(ids: readonly string[]): RoomPlan {
  // cabinet → chassis → slot → [bmc, node, index]
  const cabinets = new Map<number, Map<number, Map<number, [number, number, number][]>>>();
  const others: number[] = [];
  ids.forEach((id, i) => {
    const loc = parseNodeXname(id);
    if (!loc) {
      others.push(i);
      return;
    }
    let chassis = cabinets.get(loc.cabinet);
    if (!chassis) cabinets.set(loc.cabinet, (chassis = new Map()));
    let slots = chassis.get(loc.chassis);
    if (!slots) chassis.set(loc.chassis, (slots = new Map()));
    let nodes = slots.get(loc.slot);
    if (!nodes) slots.set(loc.slot, (nodes = []));
    nodes.push([loc.bmc, loc.node, i]);
  });
  const plans: CabinetPlan[] = [];
  for (const cabinet of [...cabinets.keys()].sort(byNumber)) {
    const chassisMap = cabinets.get(cabinet)!;
    const slotNumbers = new Set<number>();
    let slotCols = 1;
    for (const slots of chassisMap.values()) {
      for (const [slot, nodes] of slots) {
        slotNumbers.add(slot);
        if (nodes.length > 1) slotCols = 2;
      }
    }
    const column = new Map([...slotNumbers].sort(byNumber).map((s, i) => [s, i]));
    const chassis: ChassisPlan[] = [];
    const all: number[] = [];
    for (const c of [...chassisMap.keys()].sort(byNumber)) {
      const slots = chassisMap.get(c)!;
      let rows = 0;
      const placed = [...slots.keys()].sort(byNumber).map((s) => {
        const nodes = slots.get(s)!.sort((a, b) => a[0] - b[0] || a[1] - b[1] || a[2] - b[2]).map((n) => n[2]);
        rows = Math.max(rows, Math.ceil(nodes.length / slotCols));
        all.push(...nodes);
        return { column: column.get(s)!, nodes };
      });
      chassis.push({ rows, slots: placed });
    }
    plans.push({ label: `x${cabinet}`, columns: slotNumbers.size, slotCols, chassis, nodes: all });
  }
  if (others.length > 0) plans.push(otherBlock(others, ids));
  return { size: ids.length, cabinets: plans };
}

/** Gaps between slots, chassis and cabinets at a cell size: wider with larger cells. */
function gaps(cell: number): { slot: number; chassis: number; cabinet: number } {
  return { slot: Math.max(1, Math.round(cell / 4)), chassis: Math.max(2, Math.round(cell / 2)), cabinet: Math.max(10, cell * 2) };
}

/** Place a plan at one cell size, cabinets flowing left to right and wrapping at `width`. */
export function placeRoom(plan: RoomPlan, width: number, cell: number): RoomLayout {
  const g = gaps(cell);
  const x = new Int32Array(plan.size);
  const y = new Int32Array(plan.size);
  const boxes: CabinetBox[] = [];
  let cx = 0;
  let rowY = 0;
  let rowH = 0;
  let maxW = 0;
  for (const cab of plan.cabinets) {
    const slotW = cab.slotCols * cell;
    const innerW = cab.columns * slotW + Math.max(0, cab.columns - 1) * g.slot;
    const innerH = cab.chassis.reduce((h, c) => h + c.rows * cell, 0) + Math.max(0, cab.chassis.length - 1) * g.chassis;
    const w = Math.max(innerW, Math.ceil(cab.label.length * LABEL_CHAR_WIDTH));
    const h = LABEL_HEIGHT + innerH;
    if (cx > 0 && cx + w > width) {
      rowY += rowH + g.cabinet;
      cx = 0;
      rowH = 0;
    }
    let chassisY = rowY + LABEL_HEIGHT;
    for (const ch of cab.chassis) {
      for (const slot of ch.slots) {
        const left = cx + slot.column * (slotW + g.slot);
        slot.nodes.forEach((n, k) => {
          x[n] = left + (k % cab.slotCols) * cell;
          y[n] = chassisY + Math.floor(k / cab.slotCols) * cell;
        });
      }
      chassisY += ch.rows * cell + g.chassis;
    }
    boxes.push({ label: cab.label, x: cx, y: rowY, w, h, nodes: cab.nodes });
    maxW = Math.max(maxW, cx + w);
    rowH = Math.max(rowH, h);
    cx += w + g.cabinet;
  }
  return { cell, width: maxW, height: rowY + rowH, x, y, cabinets: boxes };
}

/**
 * The plan placed with the largest cells (MAX_CELL down to MIN_CELL) whose layout fits `width` ×
 * `height`; at the smallest size it may be taller than `height` (the page then scrolls).
 */
export function fitRoom(plan: RoomPlan, width: number, height: number): RoomLayout {
  for (let cell = MAX_CELL; cell > MIN_CELL; cell--) {
    const tried = placeRoom(plan, width, cell);
    if (tried.width <= width && tried.height <= height) return tried;
  }
  return placeRoom(plan, width, MIN_CELL);
}

/** The node whose square holds the point (CSS pixels in the layout), or -1 (a gap, a label, outside). */
export function nodeAt(layout: RoomLayout, px: number, py: number): number {
  const c = layout.cell;
  for (const box of layout.cabinets) {
    if (px < box.x || px >= box.x + box.w || py < box.y || py >= box.y + box.h) continue;
    for (const n of box.nodes) {
      const nx = layout.x[n]!;
      const ny = layout.y[n]!;
      if (px >= nx && px < nx + c && py >= ny && py < ny + c) return n;
    }
    return -1;
  }
  return -1;
}
