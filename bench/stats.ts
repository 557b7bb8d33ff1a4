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

/** What a busy loop on an otherwise idle machine lost to stalls (the VM's vCPU being off-core). */
export interface MachineStalls {
  /** Stalls of at least `thresholdMs` per second. */
  perSecond: number;
  /** Fraction of the loop's time spent in them. */
  lostFraction: number;
  /** The longest, in ms. */
  longestMs: number;
  thresholdMs: number;
}

/**
 * Spins for `durationMs` reading the clock and counts the gaps between two reads of at least
 * `thresholdMs`: time the thread was not running although it never blocked. On a quiet machine
 * these stay in the microseconds; each one is latency every request in flight pays at once.
 */
export function machineStalls(durationMs = 2000, thresholdMs = 0.5): MachineStalls {
  const start = performance.now();
  const end = start + durationMs;
  let last = start;
  let count = 0;
  let lost = 0;
  let longest = 0;
  for (;;) {
    const now = performance.now();
    if (now >= end) break;
    const gap = now - last;
    if (gap >= thresholdMs) {
      count++;
      lost += gap;
      if (gap > longest) longest = gap;
    }
    last = now;
  }
  const seconds = (performance.now() - start) / 1000;
  return {
    perSecond: count / seconds,
    lostFraction: lost / (seconds * 1000),
    longestMs: longest,
    thresholdMs,
  };
}

/** One line describing `machineStalls()`. */
export function describeStalls(s: MachineStalls): string {
  return `machine check: a busy loop on the idle box stalled ${s.perSecond.toFixed(1)} times/s for ≥ ${s.thresholdMs} ms (${(100 * s.lostFraction).toFixed(2)} % of its time lost, longest ${s.longestMs.toFixed(1)} ms)`;
}
