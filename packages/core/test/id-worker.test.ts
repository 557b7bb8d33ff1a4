import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { ConfigError, defaultWorkerId, ID_EPOCH_MS, IdWorker, splitId } from '../src/index.js';

const MAX_63 = (1n << 63n) - 1n;

/** A clock the test moves by hand. */
function manualClock(start: number) {
  const clock = { now: start, read: () => clock.now };
  return clock;
}

describe('IdWorker', () => {
  it('issues strictly increasing, positive, 63-bit ids over 1e5 calls', () => {
    const worker = new IdWorker({ workerId: 1023 });
    let previous = -1n;
    for (let i = 0; i < 100_000; i++) {
      const id = worker.nextId();
      assert.ok(id > previous, `id ${i} ${id} <= ${previous}`);
      previous = id;
    }
    assert.ok(previous > 0n && previous <= MAX_63);
  });

  it('lays ids out as [0][workerId: bits 53..62][timestamp: 12..52][sequence: 0..11]', () => {
    const clock = manualClock(ID_EPOCH_MS + 5000);
    const worker = new IdWorker({ workerId: 0b1010101011, clock: clock.read });
    const id = worker.nextId();
    assert.equal((id >> 53n) & 0x3ffn, 0b1010101011n);
    assert.equal(id >> 63n, 0n);
    assert.equal((id >> 12n) & ((1n << 41n) - 1n), 5000n);
    assert.equal(id & 0xfffn, 0n + 1n);
    assert.deepEqual(splitId(id), { workerId: 0b1010101011, timestamp: ID_EPOCH_MS + 5000, sequence: 1 });
    // The largest worker id still leaves the sign bit clear.
    const top = new IdWorker({ workerId: 1023, clock: clock.read }).nextId();
    assert.ok(top > 0n && top <= MAX_63);
    assert.equal(splitId(top).workerId, 1023);
  });

  it('splits an id Seata made (the XID in the test vectors)', () => {
    assert.deepEqual(splitId(2612341069705662465n), {
      workerId: 290,
      timestamp: Date.parse('2022-04-18T09:02:41.029Z'),
      sequence: 1,
    });
  });

  it('carries a sequence overflow into the timestamp and reports how far ahead of the clock it is', () => {
    const clock = manualClock(ID_EPOCH_MS + 1000);
    const worker = new IdWorker({ workerId: 7, clock: clock.read });
    let id = 0n;
    for (let i = 0; i < 4095; i++) id = worker.nextId();
    assert.deepEqual(splitId(id), { workerId: 7, timestamp: ID_EPOCH_MS + 1000, sequence: 4095 });
    assert.equal(worker.aheadOfClockMs, 0);
    id = worker.nextId();
    assert.deepEqual(splitId(id), { workerId: 7, timestamp: ID_EPOCH_MS + 1001, sequence: 0 });
    assert.equal(worker.aheadOfClockMs, 1);
    for (let i = 0; i < 4096 * 3; i++) id = worker.nextId();
    assert.equal(splitId(id).timestamp, ID_EPOCH_MS + 1004);
    assert.equal(worker.aheadOfClockMs, 4);
  });

  it('moves the counter forward when the clock overtakes it, never back', () => {
    const clock = manualClock(ID_EPOCH_MS + 1000);
    const worker = new IdWorker({ workerId: 1, clock: clock.read });
    const first = worker.nextId();
    clock.now += 60_000;
    const later = worker.nextId();
    assert.deepEqual(splitId(later), { workerId: 1, timestamp: ID_EPOCH_MS + 61_000, sequence: 0 });
    assert.ok(later > first);
    clock.now -= 30_000; // the clock steps back: ids keep increasing from the counter
    const afterStepBack = worker.nextId();
    assert.ok(afterStepBack > later);
    assert.equal(splitId(afterStepBack).timestamp, ID_EPOCH_MS + 61_000);
    assert.equal(worker.aheadOfClockMs, 30_000);
  });

  it('rejects a worker id outside 0..1023 with a ConfigError naming workerId', () => {
    for (const workerId of [-1, 1024, 1.5, Number.NaN]) {
      assert.throws(
        () => new IdWorker({ workerId }),
        (err: unknown) =>
          err instanceof ConfigError && err.key === 'workerId' && /0\.\.1023/.test(err.message),
      );
    }
  });

  it('derives the worker id from the low 10 bits of the first non-internal MAC, else at random', () => {
    const iface = (mac: string, internal: boolean) => ({
      address: '10.0.0.2',
      netmask: '255.0.0.0',
      family: 'IPv4' as const,
      mac,
      internal,
      cidr: null,
    });
    assert.equal(
      defaultWorkerId({
        lo: [iface('00:00:00:00:00:00', true)],
        eth0: [iface('02:42:ac:11:03:07', false)],
        eth1: [iface('02:42:ac:11:00:09', false)],
      }),
      (0x03 << 8) | 0x07,
    );
    assert.equal(defaultWorkerId({ eth0: [iface('aa:bb:cc:dd:ee:ff', false)] }), 0x2ff);
    for (let i = 0; i < 20; i++) {
      const id = defaultWorkerId({ lo: [iface('00:00:00:00:00:00', true)] });
      assert.ok(Number.isInteger(id) && id >= 0 && id <= 1023);
    }
    const id = new IdWorker().workerId;
    assert.ok(id >= 0 && id <= 1023);
  });
});
