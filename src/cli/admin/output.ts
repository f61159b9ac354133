/**
 * Output of the administrator commands: JSON, plain column tables (fast at 10,000+ rows) and
 * key/value listings of one record.
 */

export type Format = 'json' | 'table';

export function parseFormat(v: string | undefined): Format {
  const f = (v ?? process.env.BOS_FORMAT ?? 'table').toLowerCase();
  if (f !== 'json' && f !== 'table') throw new Error(`--format must be json or table, not "${v}"`);
  return f;
}

export interface Writer {
  write(s: string): unknown;
}

export function json(value: unknown): string {
  return JSON.stringify(value, null, 2) + '\n';
}

export interface Column<R> {
  header: string;
  get: (row: R) => string;
  /** Cut longer cells to this many characters (ending in `…`). */
  max?: number;
}

/** Cut a cell to `max` characters, one line. */
export function cell(s: string, max?: number): string {
  let t = s.includes('\n') || s.includes('\r') ? s.replace(/\s*[\r\n]+\s*/g, ' ') : s;
  if (max !== undefined && t.length > max) t = t.slice(0, Math.max(0, max - 1)) + '…';
  return t;
}

/**
 * Plain column layout: headers, then one line per row, columns two spaces apart, trailing spaces
 * trimmed. The last column is not padded. Built as one string (one write for 10,000 rows).
 */
export function table<R>(columns: readonly Column<R>[], rows: readonly R[]): string {
  const n = columns.length;
  const cells: string[][] = new Array(rows.length);
  const widths = columns.map((c) => c.header.length);
  for (let r = 0; r < rows.length; r++) {
    const line = new Array<string>(n);
    for (let i = 0; i < n; i++) {
      const col = columns[i]!;
      const v = cell(col.get(rows[r]!), col.max);
      line[i] = v;
      if (v.length > widths[i]!) widths[i] = v.length;
    }
    cells[r] = line;
  }
  const render = (line: readonly string[]): string => {
    let out = '';
    for (let i = 0; i < n; i++) out += i === n - 1 ? line[i] : line[i]!.padEnd(widths[i]! + 2);
    return out.trimEnd();
  };
  const parts = new Array<string>(rows.length + 1);
  parts[0] = render(columns.map((c) => c.header));
  for (let r = 0; r < rows.length; r++) parts[r + 1] = render(cells[r]!);
  return parts.join('\n') + '\n';
}

/** Scalars as an administrator reads them; empty string, null and undefined as `-`. */
export function show(v: unknown): string {
  if (v === undefined || v === null || v === '') return '-';
  if (typeof v === 'string') return v;
  if (typeof v === 'number' || typeof v === 'boolean') return String(v);
  return JSON.stringify(v);
}

/**
 * One record as `key  value` lines, nested objects flattened to dotted keys, arrays of scalars
 * joined with `,`. Empty objects show as `{}`.
 */
export function describe(record: unknown): string {
  const rows: [string, string][] = [];
  const walk = (prefix: string, v: unknown): void => {
    if (v && typeof v === 'object' && !Array.isArray(v)) {
      const entries = Object.entries(v as Record<string, unknown>);
      if (entries.length === 0 && prefix) rows.push([prefix, '{}']);
      for (const [k, x] of entries) walk(prefix ? `${prefix}.${k}` : k, x);
    } else if (Array.isArray(v)) {
      if (v.every((x) => x === null || typeof x !== 'object')) rows.push([prefix, v.length ? v.map(show).join(',') : '[]']);
      else v.forEach((x, i) => walk(`${prefix}[${i}]`, x));
    } else {
      rows.push([prefix, show(v)]);
    }
  };
  walk('', record);
  const w = rows.reduce((m, [k]) => Math.max(m, k.length), 0);
  return rows.map(([k, v]) => `${k.padEnd(w + 2)}${cell(v)}`.trimEnd()).join('\n') + '\n';
}
