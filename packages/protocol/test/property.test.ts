/**
 * Property tests over every message type. The golden vectors pin the exact bytes; these check
 * that anything the encoder accepts decodes back to the same message, that re-encoding is
 * byte-identical, and that any chunking of any frame sequence decodes the same.
 */
import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import fc from 'fast-check';
import {
  BranchStatus,
  BranchType,
  ByteWriter,
  Codec,
  Compressor,
  decodeBody,
  decodeFrame,
  EXCEPTION_CODE_ORDINALS,
  type ExceptionCodeDialect,
  encodeBody,
  encodeFrame,
  encodeFrameInto,
  FrameType,
  GlobalStatus,
  type HeadMap,
  type Message,
  ProtocolError,
  ResultCode,
  type RpcMessage,
  type SingleMessage,
  TypeCode,
} from '../src/index.js';
import { decodeChunks } from './helpers.js';

const RUNS = Number(process.env.DTX_PROPERTY_RUNS ?? 1000);

// ---------------------------------------------------------------------------------------------
// arbitraries

/** Any Unicode text (astral planes included); null or "" for Seata's unset strings. */
const text = (maxLength = 24) => fc.string({ unit: 'binary', maxLength });
const str = (maxLength = 24) => fc.option(text(maxLength), { nil: null });
const int16 = fc.integer({ min: -0x8000, max: 0x7fff });
const int32 = fc.integer({ min: -0x80000000, max: 0x7fffffff });
const int64 = fc.bigInt({ min: -(2n ** 63n), max: 2n ** 63n - 1n });
const enumOf = <T extends Record<string, number>>(table: T) =>
  fc.constantFrom(...(Object.values(table) as T[keyof T][]));

const branchType = enumOf(BranchType);
const branchStatus = enumOf(BranchStatus);
const globalStatus = enumOf(GlobalStatus);
const txResult = (dialect: ExceptionCodeDialect) => ({
  resultCode: enumOf(ResultCode),
  msg: str(),
  exceptionCode: fc.constantFrom(...EXCEPTION_CODE_ORDINALS[dialect]),
});

type Arbs = Record<number, fc.Arbitrary<SingleMessage>>;

/** One arbitrary per single (non-batch) message type, keyed by type code. */
function singleArbs(dialect: ExceptionCodeDialect): Arbs {
  const tx = txResult(dialect);
  const globalEnd = <C extends 7 | 9 | 15>(typeCode: C) =>
    fc.record({ typeCode: fc.constant(typeCode), xid: str(), extraData: str() });
  const globalEndResult = <C extends 8 | 10 | 16 | 18>(typeCode: C) =>
    fc.record({ typeCode: fc.constant(typeCode), ...tx, globalStatus });
  const branchRegister = <C extends 11 | 21>(typeCode: C) =>
    fc.record({
      typeCode: fc.constant(typeCode),
      xid: str(),
      branchType,
      resourceId: str(),
      lockKey: str(60),
      applicationData: str(60),
    });
  const branchEnd = <C extends 3 | 5>(typeCode: C) =>
    fc.record({
      typeCode: fc.constant(typeCode),
      xid: str(),
      branchId: int64,
      branchType,
      resourceId: str(),
      applicationData: str(60),
    });
  const branchEndResult = <C extends 4 | 6>(typeCode: C) =>
    fc.record({ typeCode: fc.constant(typeCode), ...tx, xid: str(), branchId: int64, branchStatus });
  const identify = <C extends 101>(typeCode: C) =>
    fc.record({
      typeCode: fc.constant(typeCode),
      version: str(),
      applicationId: str(),
      transactionServiceGroup: str(),
      extraData: str(60),
    });
  const identifyResult = <C extends 102 | 104>(typeCode: C) =>
    fc.record({ typeCode: fc.constant(typeCode), identified: fc.boolean(), version: str() });

  return {
    [TypeCode.GLOBAL_BEGIN]: fc.record({
      typeCode: fc.constant(TypeCode.GLOBAL_BEGIN),
      timeout: int32,
      transactionName: str(),
    }),
    [TypeCode.GLOBAL_BEGIN_RESULT]: fc.record({
      typeCode: fc.constant(TypeCode.GLOBAL_BEGIN_RESULT),
      ...tx,
      xid: str(),
      extraData: str(),
    }),
    [TypeCode.BRANCH_COMMIT]: branchEnd(TypeCode.BRANCH_COMMIT),
    [TypeCode.BRANCH_COMMIT_RESULT]: branchEndResult(TypeCode.BRANCH_COMMIT_RESULT),
    [TypeCode.BRANCH_ROLLBACK]: branchEnd(TypeCode.BRANCH_ROLLBACK),
    [TypeCode.BRANCH_ROLLBACK_RESULT]: branchEndResult(TypeCode.BRANCH_ROLLBACK_RESULT),
    [TypeCode.GLOBAL_COMMIT]: globalEnd(TypeCode.GLOBAL_COMMIT),
    [TypeCode.GLOBAL_COMMIT_RESULT]: globalEndResult(TypeCode.GLOBAL_COMMIT_RESULT),
    [TypeCode.GLOBAL_ROLLBACK]: globalEnd(TypeCode.GLOBAL_ROLLBACK),
    [TypeCode.GLOBAL_ROLLBACK_RESULT]: globalEndResult(TypeCode.GLOBAL_ROLLBACK_RESULT),
    [TypeCode.BRANCH_REGISTER]: branchRegister(TypeCode.BRANCH_REGISTER),
    [TypeCode.BRANCH_REGISTER_RESULT]: fc.record({
      typeCode: fc.constant(TypeCode.BRANCH_REGISTER_RESULT),
      ...tx,
      branchId: int64,
    }),
    [TypeCode.BRANCH_STATUS_REPORT]: fc.record({
      typeCode: fc.constant(TypeCode.BRANCH_STATUS_REPORT),
      xid: str(),
      branchId: int64,
      status: branchStatus,
      resourceId: str(),
      applicationData: str(60),
      branchType,
    }),
    [TypeCode.BRANCH_STATUS_REPORT_RESULT]: fc.record({
      typeCode: fc.constant(TypeCode.BRANCH_STATUS_REPORT_RESULT),
      ...tx,
    }),
    [TypeCode.GLOBAL_STATUS]: globalEnd(TypeCode.GLOBAL_STATUS),
    [TypeCode.GLOBAL_STATUS_RESULT]: globalEndResult(TypeCode.GLOBAL_STATUS_RESULT),
    [TypeCode.GLOBAL_REPORT]: fc.record({
      typeCode: fc.constant(TypeCode.GLOBAL_REPORT),
      xid: str(),
      extraData: str(),
      globalStatus: fc.option(globalStatus, { nil: null }),
    }),
    [TypeCode.GLOBAL_REPORT_RESULT]: globalEndResult(TypeCode.GLOBAL_REPORT_RESULT),
    [TypeCode.GLOBAL_LOCK_QUERY]: branchRegister(TypeCode.GLOBAL_LOCK_QUERY),
    [TypeCode.GLOBAL_LOCK_QUERY_RESULT]: fc.record({
      typeCode: fc.constant(TypeCode.GLOBAL_LOCK_QUERY_RESULT),
      ...tx,
      lockable: fc.boolean(),
    }),
    [TypeCode.REG_CLT]: identify(TypeCode.REG_CLT),
    [TypeCode.REG_CLT_RESULT]: identifyResult(TypeCode.REG_CLT_RESULT),
    [TypeCode.REG_RM]: fc.record({
      typeCode: fc.constant(TypeCode.REG_RM),
      version: str(),
      applicationId: str(),
      transactionServiceGroup: str(),
      extraData: str(60),
      resourceIds: str(60),
    }),
    [TypeCode.REG_RM_RESULT]: identifyResult(TypeCode.REG_RM_RESULT),
    [TypeCode.RM_DELETE_UNDOLOG]: fc.record({
      typeCode: fc.constant(TypeCode.RM_DELETE_UNDOLOG),
      branchType,
      resourceId: str(),
      saveDays: int16,
    }),
  } as Arbs;
}

/** Every message type, batches included, keyed by type code. */
function messageArbs(dialect: ExceptionCodeDialect): Record<number, fc.Arbitrary<Message>> {
  const singles = singleArbs(dialect);
  const single: fc.Arbitrary<SingleMessage> = fc.oneof(...Object.values(singles));
  const msgs = fc.array(single, { maxLength: 5 });
  return {
    ...singles,
    [TypeCode.SEATA_MERGE]: fc.oneof(
      // Seata >= 1.5.0: one msgId per message.
      msgs.chain((list) =>
        fc.record({
          typeCode: fc.constant(TypeCode.SEATA_MERGE),
          msgs: fc.constant(list),
          msgIds: fc.array(int32, { minLength: list.length, maxLength: list.length }) as fc.Arbitrary<
            number[] | null
          >,
        }),
      ),
      // Seata < 1.5.0: no msgIds.
      fc.record({
        typeCode: fc.constant(TypeCode.SEATA_MERGE),
        msgs,
        msgIds: fc.constant(null),
      }),
    ),
    [TypeCode.SEATA_MERGE_RESULT]: fc.record({ typeCode: fc.constant(TypeCode.SEATA_MERGE_RESULT), msgs }),
    [TypeCode.BATCH_RESULT_MSG]: msgs.chain((list) =>
      fc.record({
        typeCode: fc.constant(TypeCode.BATCH_RESULT_MSG),
        msgs: fc.constant(list),
        msgIds: fc.array(int32, { minLength: list.length, maxLength: list.length }),
      }),
    ),
  };
}

const ARBS_V2 = messageArbs('v2');
const anyMessage: fc.Arbitrary<Message> = fc.oneof(...Object.values(ARBS_V2));

const headMap: fc.Arbitrary<HeadMap | null> = fc.option(
  fc
    .array(fc.tuple(text(8), fc.option(text(12), { nil: null })), { maxLength: 4 })
    .map((entries) => new Map(entries)),
  { nil: null },
);
const requestId = fc.integer({ min: 0, max: 0x7fffffff });
const compressor = fc.constantFrom(
  Compressor.NONE,
  Compressor.NONE,
  Compressor.NONE,
  Compressor.GZIP,
  Compressor.ZIP,
  Compressor.DEFLATER,
);

const anyFrame: fc.Arbitrary<RpcMessage> = fc.oneof(
  fc.record({
    id: requestId,
    frameType: fc.constantFrom(FrameType.REQUEST_SYNC, FrameType.RESPONSE, FrameType.REQUEST_ONEWAY),
    codec: fc.constant(Codec.SEATA),
    compressor,
    headMap,
    body: anyMessage,
  }),
  fc.record({
    id: requestId,
    frameType: fc.constantFrom(FrameType.HEARTBEAT_REQUEST, FrameType.HEARTBEAT_RESPONSE),
    codec: fc.constant(Codec.SEATA),
    compressor,
    headMap,
    body: fc.constant(null),
  }),
);

// ---------------------------------------------------------------------------------------------
// what the wire can carry

/**
 * The message as the wire carries it: "" and null strings are both length 0 (read back as
 * null); msg is only written when resultCode is Failed; a merge with no messages has no room
 * for msgIds, so its empty id list reads back as absent.
 */
function wireNormal<M extends Message>(m: M): M {
  const out: Record<string, unknown> = {};
  for (const [key, value] of Object.entries(m)) {
    if (value === '') out[key] = null;
    else if (key === 'msgs') out[key] = (value as Message[]).map((x) => wireNormal(x));
    else out[key] = value;
  }
  if ('resultCode' in m && m.resultCode === ResultCode.Success) out.msg = null;
  if (m.typeCode === TypeCode.SEATA_MERGE && m.msgs.length === 0) out.msgIds = null;
  return out as M;
}

function frameNormal(f: RpcMessage): RpcMessage {
  return {
    id: f.id,
    frameType: f.frameType,
    codec: f.codec ?? Codec.SEATA,
    compressor: f.compressor ?? Compressor.NONE,
    headMap: f.headMap && f.headMap.size > 0 ? f.headMap : null,
    body: f.body ? wireNormal(f.body) : null,
  };
}

// ---------------------------------------------------------------------------------------------

describe('properties', () => {
  it('has an arbitrary for every type code except HEARTBEAT_MSG', () => {
    const covered = Object.keys(ARBS_V2)
      .map(Number)
      .sort((a, b) => a - b);
    const all = Object.values(TypeCode)
      .filter((c) => c !== TypeCode.HEARTBEAT_MSG)
      .sort((a, b) => a - b);
    assert.deepStrictEqual(covered, all);
  });

  it('the wire normalisation is not vacuous', () => {
    // The normaliser is part of the oracle, so pin what it does.
    assert.deepStrictEqual(
      wireNormal({
        typeCode: TypeCode.GLOBAL_BEGIN_RESULT,
        resultCode: ResultCode.Success,
        msg: 'dropped',
        exceptionCode: 'IO',
        xid: '',
        extraData: 'e',
      }),
      {
        typeCode: TypeCode.GLOBAL_BEGIN_RESULT,
        resultCode: ResultCode.Success,
        msg: null,
        exceptionCode: 'IO',
        xid: null,
        extraData: 'e',
      },
    );
  });

  for (const [code, arb] of Object.entries(ARBS_V2)) {
    it(`type ${code}: decodeBody(encodeBody(m)) equals m as the wire carries it`, () => {
      fc.assert(
        fc.property(arb, (m) => {
          assert.deepStrictEqual(decodeBody(encodeBody(m)), wireNormal(m));
        }),
        { numRuns: Math.ceil(RUNS / 3) },
      );
    });
  }

  it('v1 exception-code dialect: bodies round-trip for every code v1 has', () => {
    const v1 = fc.oneof(...Object.values(messageArbs('v1')));
    fc.assert(
      fc.property(v1, (m) => {
        const options = { exceptionCodes: 'v1' as const };
        assert.deepStrictEqual(decodeBody(encodeBody(m, options), options), wireNormal(m));
      }),
      { numRuns: RUNS },
    );
  });

  it('decodeFrame(encodeFrame(m)) equals m as the wire carries it', () => {
    fc.assert(
      fc.property(anyFrame, (m) => {
        assert.deepStrictEqual(decodeFrame(encodeFrame(m)), frameNormal(m));
      }),
      { numRuns: RUNS },
    );
  });

  it('re-encoding a decoded frame gives identical bytes', () => {
    fc.assert(
      fc.property(anyFrame, (m) => {
        const bytes = encodeFrame(m);
        assert.equal(encodeFrame(decodeFrame(bytes)).toString('hex'), bytes.toString('hex'));
      }),
      { numRuns: RUNS },
    );
  });

  it('frames encoded back to back into one growing buffer decode to the same messages', () => {
    fc.assert(
      fc.property(fc.array(anyFrame, { minLength: 1, maxLength: 8 }), (frames) => {
        // Far too small (or empty, as an idle session's): every frame makes it grow.
        const w = new ByteWriter(frames.length % 2 === 0 ? 16 : 0);
        for (const f of frames) encodeFrameInto(w, f);
        assert.deepStrictEqual(decodeChunks([w.result()]), frames.map(frameNormal));
      }),
      { numRuns: Math.ceil(RUNS / 2) },
    );
  });

  it('a frame that fails to encode leaves the shared buffer as it was', () => {
    fc.assert(
      fc.property(anyFrame, anyFrame, (first, second) => {
        const w = new ByteWriter(64);
        const length = encodeFrameInto(w, first);
        assert.equal(w.offset, length);
        // A limit below the second frame's size (every frame has at least its 16-byte head).
        assert.throws(
          () => encodeFrameInto(w, second, { maxFrameLength: 15 }),
          (err: Error) => err instanceof ProtocolError && err.code === 'FRAME_TOO_LARGE',
        );
        assert.equal(w.offset, length);
        assert.deepStrictEqual(decodeChunks([w.result()]), [frameNormal(first)]);
      }),
      { numRuns: Math.ceil(RUNS / 2) },
    );
  });

  it('any list of frames in any chunking decodes to the same messages', () => {
    const chunked = fc.array(anyFrame, { minLength: 1, maxLength: 8 }).chain((frames) => {
      const stream = Buffer.concat(frames.map((f) => encodeFrame(f)));
      return fc.record({
        frames: fc.constant(frames),
        stream: fc.constant(stream),
        cuts: fc.uniqueArray(fc.integer({ min: 1, max: Math.max(1, stream.length - 1) }), {
          maxLength: Math.min(stream.length, 40),
        }),
      });
    });
    fc.assert(
      fc.property(chunked, ({ frames, stream, cuts }) => {
        const points = [0, ...cuts.filter((c) => c < stream.length).sort((a, b) => a - b), stream.length];
        const chunks = points.slice(1).map((end, i) => stream.subarray(points[i] as number, end));
        assert.deepStrictEqual(decodeChunks(chunks), frames.map(frameNormal));
      }),
      { numRuns: Math.ceil(RUNS / 2) },
    );
  });
});
