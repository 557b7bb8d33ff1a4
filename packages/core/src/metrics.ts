/**
 * The metrics interface dtx records to. It follows prom-client's model (named instruments with
 * declared label names) so the server can back it with prom-client; everything else gets
 * `noopMetrics`, and tests `createMemoryMetrics()`.
 */

/** Label values of one sample, keyed by label name. */
export type Labels = Readonly<Record<string, string | number>>;

/** A monotonically increasing count. */
export interface Counter {
  /** Adds `value` (default 1) to the sample with `labels`. */
  inc(labels?: Labels, value?: number): void;
}

/** A value that goes up and down. */
export interface Gauge {
  /** Sets the sample with `labels` to `value`. */
  set(labels: Labels, value: number): void;
  /** Adds `value` (default 1). */
  inc(labels?: Labels, value?: number): void;
  /** Subtracts `value` (default 1). */
  dec(labels?: Labels, value?: number): void;
}

/** A distribution of observed values, counted into cumulative buckets. */
export interface Histogram {
  /** Records one observation of `value` in the sample with `labels`. */
  observe(labels: Labels, value: number): void;
}

/** A source of instruments. Asking twice for the same name and type returns the same instrument. */
export interface Metrics {
  /** A counter; by Prometheus convention `name` ends in `_total`. */
  counter(name: string, help: string, labelNames?: readonly string[]): Counter;
  /** A gauge. */
  gauge(name: string, help: string, labelNames?: readonly string[]): Gauge;
  /** A histogram; `buckets` are upper bounds, ascending (default DEFAULT_BUCKETS, in seconds). */
  histogram(
    name: string,
    help: string,
    labelNames?: readonly string[],
    buckets?: readonly number[],
  ): Histogram;
}

/** prom-client's default histogram buckets, in seconds. */
export const DEFAULT_BUCKETS: readonly number[] = [0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10];

const noopInstrument: Counter & Gauge & Histogram = { inc() {}, dec() {}, set() {}, observe() {} };

/** Metrics that record nothing; the default wherever metrics are optional. */
export const noopMetrics: Metrics = {
  counter: () => noopInstrument,
  gauge: () => noopInstrument,
  histogram: () => noopInstrument,
};

/**
 * Every sample, keyed the way Prometheus prints series: `name` or `name{a="x",b="y"}` (labels
 * sorted). A histogram gives `name_count{…}`, `name_sum{…}` and cumulative `name_bucket{…,le="…"}`.
 */
export type MetricsSnapshot = Record<string, number>;

/** In-memory Metrics for tests and small tools. */
export interface MemoryMetrics extends Metrics {
  /** The current value of every sample. */
  snapshot(): MetricsSnapshot;
}

type Kind = 'counter' | 'gauge' | 'histogram';

interface Family {
  kind: Kind;
  labelNames: readonly string[];
  instrument: Counter | Gauge | Histogram;
  /** Series key → value, written into the snapshot as is. */
  samples: Map<string, number>;
}

const METRIC_NAME = /^[a-zA-Z_:][a-zA-Z0-9_:]*$/;

/**
 * Metrics kept in memory, strict like prom-client: a label not declared, or a name reused for
 * another kind of instrument, throws TypeError (a programming error, not a runtime failure).
 */
export function createMemoryMetrics(): MemoryMetrics {
  const families = new Map<string, Family>();

  function family(
    kind: Kind,
    name: string,
    labelNames: readonly string[],
    make: (f: Family) => Family['instrument'],
  ) {
    if (!METRIC_NAME.test(name)) throw new TypeError(`invalid metric name ${JSON.stringify(name)}`);
    const existing = families.get(name);
    if (existing !== undefined) {
      if (existing.kind !== kind) throw new TypeError(`metric ${name} is already a ${existing.kind}`);
      return existing.instrument;
    }
    const f: Family = { kind, labelNames: [...labelNames], instrument: noopInstrument, samples: new Map() };
    f.instrument = make(f);
    families.set(name, f);
    return f.instrument;
  }

  function series(name: string, f: Family, labels: Labels | undefined, extra?: string): string {
    const parts: string[] = [];
    for (const label of Object.keys(labels ?? {}).sort()) {
      if (!f.labelNames.includes(label)) throw new TypeError(`metric ${name} has no label ${label}`);
      parts.push(`${label}=${JSON.stringify(String(labels?.[label]))}`);
    }
    if (extra !== undefined) parts.push(extra);
    return parts.length === 0 ? name : `${name}{${parts.join(',')}}`;
  }

  function add(f: Family, key: string, value: number): void {
    f.samples.set(key, (f.samples.get(key) ?? 0) + value);
  }

  return {
    counter(name, _help, labelNames = []) {
      return family('counter', name, labelNames, (f) => ({
        inc(labels, value = 1) {
          if (value < 0) throw new TypeError(`counter ${name} cannot decrease`);
          add(f, series(name, f, labels), value);
        },
      })) as Counter;
    },
    gauge(name, _help, labelNames = []) {
      return family('gauge', name, labelNames, (f) => ({
        set: (labels, value) => void f.samples.set(series(name, f, labels), value),
        inc: (labels, value = 1) => add(f, series(name, f, labels), value),
        dec: (labels, value = 1) => add(f, series(name, f, labels), -value),
      })) as Gauge;
    },
    histogram(name, _help, labelNames = [], buckets = DEFAULT_BUCKETS) {
      const bounds = [...buckets].sort((a, b) => a - b);
      return family('histogram', name, labelNames, (f) => ({
        observe(labels, value) {
          add(f, series(`${name}_count`, f, labels), 1);
          add(f, series(`${name}_sum`, f, labels), value);
          for (const le of bounds) {
            // Cumulative, as Prometheus exposes them: every bucket at or above the value counts it.
            const key = series(`${name}_bucket`, f, labels, `le="${le}"`);
            add(f, key, value <= le ? 1 : 0);
          }
          add(f, series(`${name}_bucket`, f, labels, 'le="+Inf"'), 1);
        },
      })) as Histogram;
    },
    snapshot() {
      const out: MetricsSnapshot = {};
      for (const f of families.values()) for (const [key, value] of f.samples) out[key] = value;
      return out;
    },
  };
}
