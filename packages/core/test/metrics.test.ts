import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { createMemoryMetrics, type Metrics, noopMetrics } from '../src/index.js';

describe('createMemoryMetrics', () => {
  it('counts by label set, keyed like Prometheus series', () => {
    const m = createMemoryMetrics();
    const c = m.counter('dtx_tm_begin_total', 'Global transactions begun', ['result']);
    c.inc({ result: 'ok' });
    c.inc({ result: 'ok' }, 2);
    c.inc({ result: 'failed' });
    const plain = m.counter('dtx_reconnects_total', 'Reconnects');
    plain.inc();
    assert.deepEqual(m.snapshot(), {
      'dtx_tm_begin_total{result="ok"}': 3,
      'dtx_tm_begin_total{result="failed"}': 1,
      dtx_reconnects_total: 1,
    });
  });

  it('sets, raises and lowers gauges', () => {
    const m = createMemoryMetrics();
    const g = m.gauge('dtx_sessions', 'Open sessions', ['role', 'tc']);
    g.set({ tc: 'a', role: 'tm' }, 5);
    g.inc({ role: 'tm', tc: 'a' });
    g.dec({ role: 'tm', tc: 'a' }, 3);
    assert.deepEqual(m.snapshot(), { 'dtx_sessions{role="tm",tc="a"}': 3 });
  });

  it('observes histograms into cumulative buckets with count and sum', () => {
    const m = createMemoryMetrics();
    const h = m.histogram('dtx_rpc_seconds', 'RPC latency', ['type'], [0.01, 0.1]);
    h.observe({ type: 'begin' }, 0.005);
    h.observe({ type: 'begin' }, 0.05);
    h.observe({ type: 'begin' }, 1);
    assert.deepEqual(m.snapshot(), {
      'dtx_rpc_seconds_count{type="begin"}': 3,
      'dtx_rpc_seconds_sum{type="begin"}': 1.055,
      'dtx_rpc_seconds_bucket{type="begin",le="0.01"}': 1,
      'dtx_rpc_seconds_bucket{type="begin",le="0.1"}': 2,
      'dtx_rpc_seconds_bucket{type="begin",le="+Inf"}': 3,
    });
  });

  it('returns the same instrument for the same name and refuses misuse', () => {
    const m = createMemoryMetrics();
    const c = m.counter('a_total', 'A', ['x']);
    assert.equal(m.counter('a_total', 'A', ['x']), c);
    assert.throws(() => m.gauge('a_total', 'A'), /already a counter/);
    assert.throws(() => c.inc({ y: '1' }), /has no label y/);
    assert.throws(() => c.inc({}, -1), /cannot decrease/);
    assert.throws(() => m.counter('bad name', 'x'), /invalid metric name/);
  });
});

describe('noopMetrics', () => {
  it('hands out instruments that accept every call', () => {
    const m: Metrics = noopMetrics;
    m.counter('a_total', 'A', ['x']).inc({ x: 1 });
    m.gauge('g', 'G').set({}, 1);
    m.histogram('h', 'H').observe({}, 1);
  });
});
