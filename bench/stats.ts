/** Small helpers shared by the benchmarks: percentiles and aligned output. */

/** The q-quantile (0..1) of sorted samples. */
export function quantile(sorted: Float64Array | number[], q: number): number {
  if (sorted.length === 0) return Number.NaN;
  const i = Math.min(sorted.length - 1, Math.max(0, Math.ceil(q * sorted.length) - 1));
  return sorted[i] as number;
}

/** Latency recorder in microseconds with a fixed capacity (reservoir beyond it). */
export class Latencies {
  private samples: Float64Array;
  private n = 0;
  private seen = 0;
  constructor(capacity = 1_000_000) {
    this.samples = new Float64Array(capacity);
  }
  add(us: number): void {
    this.seen++;
    if (this.n < this.samples.length) this.samples[this.n++] = us;
    else {
      const j = Math.floor(Math.random() * this.seen);
      if (j < this.samples.length) this.samples[j] = us;
    }
  }
  summary(): { p50: number; p99: number; count: number } {
    const s = this.samples.slice(0, this.n).sort();
    return { p50: quantile(s, 0.5), p99: quantile(s, 0.99), count: this.seen };
  }
}

/** Prints a table row with fixed-width columns. */
export function row(cols: Array<string | number>, widths: number[]): string {
  return cols.map((c, i) => String(c).padStart(widths[i] ?? 12)).join(' ');
}

/** Formats a number with thousands separators. */
export function fmt(n: number, digits = 0): string {
  return n.toLocaleString('en-US', { maximumFractionDigits: digits, minimumFractionDigits: digits });
}
