import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import zlib from 'node:zlib';
import { ByteWriter } from '@dtx/protocol';
import fc from 'fast-check';
import type { BranchSession, GlobalSession } from '../src/index.js';
import { appendRecord, encodeRecord, opToJson, RecordTag, readOp, readRecords } from '../src/internal.js';
import type { StoreOp } from '../src/store/transaction-store.js';

const nullable = fc.option(fc.string({ unit: 'grapheme', maxLength: 40 }), { nil: null });
const id = fc.bigInt({ min: -(2n ** 63n), max: 2n ** 63n - 1n });
const time = fc.integer({ min: 0, max: Number.MAX_SAFE_INTEGER });

const branch: fc.Arbitrary<BranchSession> = fc
  .record({
    branchId: id,
    xid: fc.string({ minLength: 1 }),
    transactionId: id,
    resourceGroupId: nullable,
    resourceId: fc.string({ unit: 'grapheme' }),
    branchType: fc.constantFrom(0, 1, 2, 3, 4) as fc.Arbitrary<BranchSession['branchType']>,
    status: fc.integer({ min: 0, max: 15 }),
    clientId: fc.string(),
    applicationData: nullable,
    lockKey: nullable,
    beginTime: time,
  })
  .map((b) => ({ ...b })); // fast-check builds records without a prototype

const global: fc.Arbitrary<GlobalSession> = fc
  .record({
    xid: fc.string({ unit: 'grapheme', minLength: 1 }),
    transactionId: id,
    status: fc.integer({ min: 0, max: 20 }),
    applicationId: nullable,
    transactionServiceGroup: nullable,
    transactionName: nullable,
    timeout: fc.integer({ min: 0, max: 2 ** 31 - 1 }),
    beginTime: time,
    applicationData: nullable,
    active: fc.boolean(),
    branches: fc.array(branch, { maxLength: 4 }),
  })
  .map((g) => ({ ...g }));

const op: fc.Arbitrary<StoreOp> = fc.oneof(
  global.map((g): StoreOp => ({ op: 'globalAdd', global: g })),
  fc
    .record({ xid: fc.string(), status: fc.integer({ min: 0, max: 20 }), active: fc.boolean() })
    .map((o): StoreOp => ({ op: 'globalUpdate', ...o })),
  fc.string().map((xid): StoreOp => ({ op: 'globalRemove', xid })),
  branch.map((b): StoreOp => ({ op: 'branchAdd', branch: b })),
  fc
    .record({
      xid: fc.string(),
      branchId: id,
      status: fc.integer({ min: 0, max: 15 }),
      applicationData: nullable,
    })
    .map((o): StoreOp => ({ op: 'branchUpdate', ...o })),
  fc.record({ xid: fc.string(), branchId: id }).map((o): StoreOp => ({ op: 'branchRemove', ...o })),
);

/** Any payload framed as a log record (length, generation, checksum), written independently of the store's code. */
function frameRecord(payload: Buffer, generation: number): Buffer {
  const out = Buffer.alloc(12 + payload.length);
  out.writeUInt32BE(payload.length, 0);
  out.writeUInt32BE(generation, 4);
  payload.copy(out, 12);
  out.writeUInt32BE(zlib.crc32(payload, zlib.crc32(out.subarray(4, 8))), 8);
  return out;
}

/** A record in the JSON layout of logs written before the binary codec. */
function jsonRecord(o: StoreOp, generation: number): Buffer {
  return frameRecord(Buffer.from(opToJson(o), 'utf8'), generation);
}

const sample: StoreOp[] = [
  {
    op: 'globalAdd',
    global: {
      xid: '10.0.0.7:8091:42',
      transactionId: 42n,
      status: 1,
      applicationId: 'app',
      transactionServiceGroup: '',
      transactionName: 'transfer — 转账',
      timeout: 60_000,
      beginTime: 1_700_000_000_123,
      applicationData: null,
      active: true,
      branches: [],
    },
  },
  {
    op: 'branchAdd',
    branch: {
      branchId: 43n,
      xid: '10.0.0.7:8091:42',
      transactionId: 42n,
      resourceGroupId: null,
      resourceId: 'jdbc:mysql://db/orders',
      branchType: 0,
      status: 1,
      clientId: 'app:10.0.0.9:40001',
      applicationData: '{"actionContext":{"amount":1}}',
      lockKey: 'orders:1,2;items:7',
      beginTime: 1_700_000_000_124,
    },
  },
  { op: 'globalUpdate', xid: '10.0.0.7:8091:42', status: 2, active: false },
  { op: 'branchUpdate', xid: '10.0.0.7:8091:42', branchId: 43n, status: 3, applicationData: '' },
  { op: 'branchRemove', xid: '10.0.0.7:8091:42', branchId: 43n },
  { op: 'globalRemove', xid: '10.0.0.7:8091:42' },
];

describe('file store records', () => {
  it('round-trips every kind of record, keeping null apart from the empty string', () => {
    fc.assert(
      fc.property(
        fc.array(op, { minLength: 1, maxLength: 8 }),
        fc.integer({ min: 1, max: 2 ** 32 - 1 }),
        (ops, gen) => {
          const w = new ByteWriter(16); // too small on purpose: records make it grow
          for (const o of ops) appendRecord(w, o, gen);
          const { ops: back, validLength } = readRecords(w.result(), gen);
          assert.equal(validLength, w.offset);
          assert.deepStrictEqual(back, ops);
        },
      ),
      { numRuns: 300 },
    );
  });

  it('writes a tag byte first and no JSON', () => {
    const tags = sample.map((o) => encodeRecord(o, 1)[12]);
    assert.deepEqual(tags, [
      RecordTag.GLOBAL_ADD,
      RecordTag.BRANCH_ADD,
      RecordTag.GLOBAL_UPDATE,
      RecordTag.BRANCH_UPDATE,
      RecordTag.BRANCH_REMOVE,
      RecordTag.GLOBAL_REMOVE,
    ]);
  });

  it('replays a log of JSON records (written by an older dtx), also mixed with binary ones', () => {
    const gen = 7;
    const image = Buffer.concat([
      ...sample.slice(0, 3).map((o) => jsonRecord(o, gen)),
      ...sample.slice(3).map((o) => encodeRecord(o, gen)),
    ]);
    const { ops, validLength } = readRecords(image, gen);
    assert.equal(validLength, image.length);
    assert.deepStrictEqual(ops, sample);
  });

  it('stops at a record that does not decode, even with a good checksum', () => {
    const gen = 3;
    const good = encodeRecord(sample[0] as StoreOp, gen);
    // Checksummed payloads: an unknown tag, a byte left over, one cut short, a bad string length.
    const removal = encodeRecord(sample[5] as StoreOp, gen).subarray(12);
    for (const bad of [
      Buffer.from([99, 0, 0, 0, 0]),
      Buffer.concat([removal, Buffer.from([0])]),
      removal.subarray(0, removal.length - 1),
      Buffer.from([RecordTag.GLOBAL_REMOVE, 0xff, 0xff, 0xff, 0xfe]),
    ]) {
      const { ops, validLength } = readRecords(Buffer.concat([good, frameRecord(bad, gen), good]), gen);
      assert.equal(validLength, good.length, `stops before ${bad.toString('hex')}`);
      assert.equal(ops.length, 1);
    }
  });

  it('leaves the batch as it was when a record cannot be encoded', () => {
    const w = new ByteWriter(64);
    appendRecord(w, sample[5] as StoreOp, 1);
    const before = Buffer.from(w.result());
    const bad: StoreOp = { op: 'branchRemove', xid: 'x', branchId: 2n ** 64n };
    assert.throws(() => appendRecord(w, bad, 1), /int64/);
    assert.deepEqual(w.result(), before);
    assert.deepStrictEqual(readOp(before, 12, before.length), sample[5]);
  });
});
