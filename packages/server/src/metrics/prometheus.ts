/**
 * Metrics backed by prom-client, at the edge of the TC (STYLE rule 7), with Seata's meter names
 * (`seata.transaction` by role and status, `seata.exception`) in Prometheus form, plus the
 * process's own metrics and event-loop lag.
 */
import type { Counter, Gauge, Histogram, Labels, Metrics } from '@dtx/core';
import client from 'prom-client';

/** A Metrics implementation writing into a prom-client registry. */
export class PrometheusMetrics implements Metrics {
  readonly registry: client.Registry;
  private readonly made = new Map<string, Counter | Gauge | Histogram>();

  constructor(options: { collectDefault?: boolean } = {}) {
    this.registry = new client.Registry();
    if (options.collectDefault ?? true) {
      // process_*, nodejs_* including nodejs_eventloop_lag_seconds and its percentiles.
      client.collectDefaultMetrics({ register: this.registry, eventLoopMonitoringPrecision: 10 });
    }
  }

  counter(name: string, help: string, labelNames: readonly string[] = []): Counter {
    const existing = this.made.get(name);
    if (existing) return existing as Counter;
    const c = new client.Counter({ name, help, labelNames: [...labelNames], registers: [this.registry] });
    const out: Counter = {
      inc: (labels?: Labels, value?: number) => (labels ? c.inc(labels, value ?? 1) : c.inc(value ?? 1)),
    };
    this.made.set(name, out);
    return out;
  }

  gauge(name: string, help: string, labelNames: readonly string[] = []): Gauge {
    const existing = this.made.get(name);
    if (existing) return existing as Gauge;
    const g = new client.Gauge({ name, help, labelNames: [...labelNames], registers: [this.registry] });
    const out: Gauge = {
      set: (labels, value) => g.set(labels, value),
      inc: (labels?: Labels, value?: number) => (labels ? g.inc(labels, value ?? 1) : g.inc(value ?? 1)),
      dec: (labels?: Labels, value?: number) => (labels ? g.dec(labels, value ?? 1) : g.dec(value ?? 1)),
    };
    this.made.set(name, out);
    return out;
  }

  histogram(
    name: string,
    help: string,
    labelNames: readonly string[] = [],
    buckets?: readonly number[],
  ): Histogram {
    const existing = this.made.get(name);
    if (existing) return existing as Histogram;
    const h = new client.Histogram({
      name,
      help,
      labelNames: [...labelNames],
      registers: [this.registry],
      ...(buckets ? { buckets: [...buckets] } : {}),
    });
    const out: Histogram = { observe: (labels, value) => h.observe(labels, value) };
    this.made.set(name, out);
    return out;
  }

  /** The exposition text for /metrics. */
  text(): Promise<string> {
    return this.registry.metrics();
  }
}
