/**
 * A small seeded pseudo-random generator (mulberry32) so a simulator run is reproducible from its
 * seed. Independent streams (failures, tokens, reporter jitter …) are derived from one seed and a
 * label, so adding draws to one stream does not shift the others.
 */
export class Prng {
  private state: number;

  constructor(seed: number) {
    this.state = seed >>> 0;
  }

  /** A float in [0, 1). */
  next(): number {
    this.state = (this.state + 0x6d2b79f5) >>> 0;
    let t = this.state;
    t = Math.imul(t ^ (t >>> 15), t | 1);
    t ^= t + Math.imul(t ^ (t >>> 7), t | 61);
    return ((t ^ (t >>> 14)) >>> 0) / 4294967296;
  }

  /** An integer in [0, n). */
  int(n: number): number {
    return Math.floor(this.next() * n);
  }

  /** Lower-case hex string of `len` characters. */
  hex(len: number): string {
    let out = '';
    while (out.length < len) out += this.int(0x10000).toString(16).padStart(4, '0');
    return out.slice(0, len);
  }

  /** A version-4-shaped UUID. */
  uuid(): string {
    const h = this.hex(32);
    return `${h.slice(0, 8)}-${h.slice(8, 12)}-4${h.slice(13, 16)}-${'89ab'[this.int(4)]}${h.slice(17, 20)}-${h.slice(20, 32)}`;
  }

  /** Choose `k` distinct items of `items` (order of the result follows `items`). */
  sample<T>(items: readonly T[], k: number): T[] {
    const idx = items.map((_, i) => i);
    for (let i = idx.length - 1; i > 0; i--) {
      const j = this.int(i + 1);
      [idx[i], idx[j]] = [idx[j]!, idx[i]!];
    }
    return idx
      .slice(0, Math.max(0, Math.min(k, items.length)))
      .sort((a, b) => a - b)
      .map((i) => items[i]!);
  }
}

/** Derive an independent stream from a seed and a label (FNV-1a over the label, mixed with the seed). */
export function stream(seed: number, label: string): Prng {
  let h = 0x811c9dc5 ^ (seed >>> 0);
  for (let i = 0; i < label.length; i++) {
    h ^= label.charCodeAt(i);
    h = Math.imul(h, 0x01000193) >>> 0;
  }
  h ^= Math.floor(seed / 4294967296) >>> 0;
  return new Prng(h);
}
