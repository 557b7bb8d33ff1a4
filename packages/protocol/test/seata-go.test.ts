/**
 * seata-go interop (seata-reference.md section 9): the 1-byte failure-message length of four
 * responses, and the 1.x / 2.x TransactionExceptionCode numbering. Bodies are written out byte
 * by byte from seata-go's codecs (pkg/protocol/codec/*_codec.go) and Seata's Java codecs.
 */
import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import {
  BranchStatus,
  decodeBody,
  decodeFrame,
  dialectForVersion,
  EXCEPTION_CODE_ORDINALS,
  encodeBody,
  exceptionCodeFromWire,
  exceptionCodeToWire,
  FrameDecoder,
  FrameType,
  isVersionAtLeast,
  type Message,
  ResultCode,
  TypeCode,
} from '../src/index.js';
import { expectProtocolError, rawFrame } from './helpers.js';
import { hexBytes } from './vectors.js';

const XID = '127.0.0.1:8091:1';
const XID_HEX = '00 10 31 32 37 2e 30 2e 30 2e 31 3a 38 30 39 31 3a 31'; // int16 length 16 + bytes
const BRANCH_2 = '00 00 00 00 00 00 00 02';

/** "commit failed" (13 bytes). */
const COMMIT_FAILED = '63 6f 6d 6d 69 74 20 66 61 69 6c 65 64';
/** "回滚失败" (4 characters, 12 UTF-8 bytes). */
const ROLLBACK_FAILED_ZH = 'e5 9b 9e e6 bb 9a e5 a4 b1 e8 b4 a5';

interface Case {
  name: string;
  /** seata-go: resultCode, int8 msg length + msg, exCode, rest. */
  go: string;
  /** Java: resultCode, int16 msg length + msg, exCode, rest. */
  java: string;
  expected: Message;
}

const FAILED_CASES: Case[] = [
  {
    name: 'BranchCommitResponse, msg "commit failed"',
    go: `00 04 | 00 | 0d ${COMMIT_FAILED} | 03 | ${XID_HEX} | ${BRANCH_2} | 06`,
    java: `00 04 | 00 | 00 0d ${COMMIT_FAILED} | 03 | ${XID_HEX} | ${BRANCH_2} | 06`,
    expected: {
      typeCode: TypeCode.BRANCH_COMMIT_RESULT,
      resultCode: ResultCode.Failed,
      msg: 'commit failed',
      exceptionCode: 'IO',
      xid: XID,
      branchId: 2n,
      branchStatus: BranchStatus.PhaseTwo_CommitFailed_Retryable,
    },
  },
  {
    name: 'BranchCommitResponse, empty msg',
    go: `00 04 | 00 | 00 | 03 | ${XID_HEX} | ${BRANCH_2} | 07`,
    java: `00 04 | 00 | 00 00 | 03 | ${XID_HEX} | ${BRANCH_2} | 07`,
    expected: {
      typeCode: TypeCode.BRANCH_COMMIT_RESULT,
      resultCode: ResultCode.Failed,
      msg: null,
      exceptionCode: 'IO',
      xid: XID,
      branchId: 2n,
      branchStatus: BranchStatus.PhaseTwo_CommitFailed_Unretryable,
    },
  },
  {
    name: 'BranchCommitResponse, empty msg and exception code Unknown (0)',
    go: `00 04 | 00 | 00 | 00 | ${XID_HEX} | ${BRANCH_2} | 06`,
    java: `00 04 | 00 | 00 00 | 00 | ${XID_HEX} | ${BRANCH_2} | 06`,
    expected: {
      typeCode: TypeCode.BRANCH_COMMIT_RESULT,
      resultCode: ResultCode.Failed,
      msg: null,
      exceptionCode: 'Unknown',
      xid: XID,
      branchId: 2n,
      branchStatus: BranchStatus.PhaseTwo_CommitFailed_Retryable,
    },
  },
  {
    name: 'BranchRollbackResponse, multi-byte msg "回滚失败"',
    go: `00 06 | 00 | 0c ${ROLLBACK_FAILED_ZH} | 04 | ${XID_HEX} | ${BRANCH_2} | 09`,
    java: `00 06 | 00 | 00 0c ${ROLLBACK_FAILED_ZH} | 04 | ${XID_HEX} | ${BRANCH_2} | 09`,
    expected: {
      typeCode: TypeCode.BRANCH_ROLLBACK_RESULT,
      resultCode: ResultCode.Failed,
      msg: '回滚失败',
      exceptionCode: 'BranchRollbackFailed_Retriable',
      xid: XID,
      branchId: 2n,
      branchStatus: BranchStatus.PhaseTwo_RollbackFailed_Retryable,
    },
  },
  {
    name: 'BranchRollbackResponse, empty msg',
    go: `00 06 | 00 | 00 | 05 | ${XID_HEX} | ${BRANCH_2} | 0a`,
    java: `00 06 | 00 | 00 00 | 05 | ${XID_HEX} | ${BRANCH_2} | 0a`,
    expected: {
      typeCode: TypeCode.BRANCH_ROLLBACK_RESULT,
      resultCode: ResultCode.Failed,
      msg: null,
      exceptionCode: 'BranchRollbackFailed_Unretriable',
      xid: XID,
      branchId: 2n,
      branchStatus: BranchStatus.PhaseTwo_RollbackFailed_Unretryable,
    },
  },
  {
    name: 'BranchReportResponse, msg "bad"',
    go: '00 0e | 00 | 03 62 61 64 | 07',
    java: '00 0e | 00 | 00 03 62 61 64 | 07',
    expected: {
      typeCode: TypeCode.BRANCH_STATUS_REPORT_RESULT,
      resultCode: ResultCode.Failed,
      msg: 'bad',
      exceptionCode: 'BranchReportFailed',
    },
  },
  {
    name: 'BranchReportResponse, empty msg',
    go: '00 0e | 00 | 00 | 07',
    java: '00 0e | 00 | 00 00 | 07',
    expected: {
      typeCode: TypeCode.BRANCH_STATUS_REPORT_RESULT,
      resultCode: ResultCode.Failed,
      msg: null,
      exceptionCode: 'BranchReportFailed',
    },
  },
  {
    name: 'BranchReportResponse, empty msg and exception code Unknown (0)',
    go: '00 0e | 00 | 00 | 00',
    java: '00 0e | 00 | 00 00 | 00',
    expected: {
      typeCode: TypeCode.BRANCH_STATUS_REPORT_RESULT,
      resultCode: ResultCode.Failed,
      msg: null,
      exceptionCode: 'Unknown',
    },
  },
  {
    name: 'GlobalLockQueryResponse, msg "busy"',
    go: '00 16 | 00 | 04 62 75 73 79 | 08 | 00 00',
    java: '00 16 | 00 | 00 04 62 75 73 79 | 08 | 00 00',
    expected: {
      typeCode: TypeCode.GLOBAL_LOCK_QUERY_RESULT,
      resultCode: ResultCode.Failed,
      msg: 'busy',
      exceptionCode: 'LockableCheckFailed',
      lockable: false,
    },
  },
  {
    name: 'GlobalLockQueryResponse, empty msg, lockable',
    go: '00 16 | 00 | 00 | 00 | 00 01',
    java: '00 16 | 00 | 00 00 | 00 | 00 01',
    expected: {
      typeCode: TypeCode.GLOBAL_LOCK_QUERY_RESULT,
      resultCode: ResultCode.Failed,
      msg: null,
      exceptionCode: 'Unknown',
      lockable: true,
    },
  },
  {
    // seata-go cuts the msg to math.MaxInt8 = 127 bytes.
    name: 'GlobalLockQueryResponse, the longest msg seata-go writes (127 bytes)',
    go: `00 16 | 00 | 7f ${'61 '.repeat(127)}| 02 | 00 00`,
    java: `00 16 | 00 | 00 7f ${'61 '.repeat(127)}| 02 | 00 00`,
    expected: {
      typeCode: TypeCode.GLOBAL_LOCK_QUERY_RESULT,
      resultCode: ResultCode.Failed,
      msg: 'a'.repeat(127),
      exceptionCode: 'LockKeyConflict',
      lockable: false,
    },
  },
];

const SUCCESS_CASES: { name: string; hex: string; expected: Message }[] = [
  {
    name: 'BranchCommitResponse',
    hex: `00 04 | 01 | 00 | ${XID_HEX} | ${BRANCH_2} | 05`,
    expected: {
      typeCode: TypeCode.BRANCH_COMMIT_RESULT,
      resultCode: ResultCode.Success,
      msg: null,
      exceptionCode: 'Unknown',
      xid: XID,
      branchId: 2n,
      branchStatus: BranchStatus.PhaseTwo_Committed,
    },
  },
  {
    name: 'BranchRollbackResponse',
    hex: `00 06 | 01 | 00 | ${XID_HEX} | ${BRANCH_2} | 08`,
    expected: {
      typeCode: TypeCode.BRANCH_ROLLBACK_RESULT,
      resultCode: ResultCode.Success,
      msg: null,
      exceptionCode: 'Unknown',
      xid: XID,
      branchId: 2n,
      branchStatus: BranchStatus.PhaseTwo_Rollbacked,
    },
  },
  {
    name: 'BranchReportResponse',
    hex: '00 0e | 01 | 00',
    expected: {
      typeCode: TypeCode.BRANCH_STATUS_REPORT_RESULT,
      resultCode: ResultCode.Success,
      msg: null,
      exceptionCode: 'Unknown',
    },
  },
  {
    name: 'GlobalLockQueryResponse',
    hex: '00 16 | 01 | 00 | 00 01',
    expected: {
      typeCode: TypeCode.GLOBAL_LOCK_QUERY_RESULT,
      resultCode: ResultCode.Success,
      msg: null,
      exceptionCode: 'Unknown',
      lockable: true,
    },
  },
];

describe('seata-go 1-byte failure message length', () => {
  for (const c of FAILED_CASES) {
    it(`${c.name}: the seata-go layout decodes`, () => {
      const go = hexBytes(c.go);
      assert.equal(go.length, hexBytes(c.java).length - 1, 'the Go layout is one byte shorter');
      assert.deepStrictEqual(decodeBody(go), c.expected);
      // And inside a frame, through both decoders.
      const frame = rawFrame({ frameType: FrameType.RESPONSE, id: 7 }, go);
      assert.deepStrictEqual(decodeFrame(frame).body, c.expected);
      const decoder = new FrameDecoder();
      const frames = [...frame].flatMap((byte) => decoder.push(Buffer.from([byte])));
      assert.deepStrictEqual(
        frames.map((f) => f.body),
        [c.expected],
      );
    });

    it(`${c.name}: the Java int16 layout still decodes, and is what we encode`, () => {
      const java = hexBytes(c.java);
      assert.deepStrictEqual(decodeBody(java), c.expected);
      assert.equal(encodeBody(c.expected).toString('hex'), java.toString('hex'));
    });
  }

  for (const c of SUCCESS_CASES) {
    it(`${c.name}: success responses are the same bytes in both layouts`, () => {
      const bytes = hexBytes(c.hex);
      assert.deepStrictEqual(decodeBody(bytes), c.expected);
      assert.equal(encodeBody(c.expected).toString('hex'), bytes.toString('hex'));
    });
  }

  it('a failed body that fits neither layout is BAD_LENGTH', () => {
    // Java reading leaves 2 bytes over; Go reading leaves 4.
    const err = expectProtocolError(() => decodeBody(hexBytes('00 0e 00 00 01 78 03 ff ff')), 'BAD_LENGTH');
    assert.deepStrictEqual(err.details, { typeCode: TypeCode.BRANCH_STATUS_REPORT_RESULT, trailing: 4 });
  });

  it('only the four seata-go types get the fallback: a short BranchRegisterResponse is TRUNCATED', () => {
    // Failed, int8-length "x", LockKeyConflict, branchId 2: Java reads a 0x0178-byte msg.
    const err = expectProtocolError(() => decodeBody(hexBytes(`00 0c 00 01 78 02 ${BRANCH_2}`)), 'TRUNCATED');
    assert.equal(err.details.field, 'msg');
  });
});

describe('TransactionExceptionCode dialects', () => {
  // seata-reference.md table 2.5, written out.
  const COMMON = [
    'Unknown',
    'BeginFailed',
    'LockKeyConflict',
    'IO',
    'BranchRollbackFailed_Retriable',
    'BranchRollbackFailed_Unretriable',
    'BranchRegisterFailed',
    'BranchReportFailed',
    'LockableCheckFailed',
    'BranchTransactionNotExist',
    'GlobalTransactionNotExist',
    'GlobalTransactionNotActive',
    'GlobalTransactionStatusInvalid',
    'FailedToSendBranchCommitRequest',
    'FailedToSendBranchRollbackRequest',
    'FailedToAddBranch',
    'FailedLockGlobalTranscation',
    'FailedWriteSession',
    'FailedStore',
  ];

  it('ordinal tables match Seata 1.8 (v1) and 2.x (v2)', () => {
    assert.deepStrictEqual(EXCEPTION_CODE_ORDINALS.v1, [
      ...COMMON,
      'LockKeyConflictFailFast',
      'TransactionTimeout',
      'CommitHeuristic',
      'Broken',
    ]);
    assert.deepStrictEqual(EXCEPTION_CODE_ORDINALS.v2, [
      ...COMMON,
      'NotRaftLeader',
      'LockKeyConflictFailFast',
      'TransactionTimeout',
      'CommitHeuristic',
      'Broken',
    ]);
  });

  // BranchRegisterResponse: Failed, msg "x", exCode <byte>, branchId 0.
  const withCode = (code: number) =>
    hexBytes(`00 0c 00 00 01 78 ${code.toString(16).padStart(2, '0')} 00 00 00 00 00 00 00 00`);

  it('ordinal 19 is NotRaftLeader for 2.x peers and LockKeyConflictFailFast for 1.x / seata-go', () => {
    const body = withCode(19);
    assert.equal(
      (decodeBody(body, { exceptionCodes: 'v2' }) as { exceptionCode: string }).exceptionCode,
      'NotRaftLeader',
    );
    assert.equal(
      (decodeBody(body, { exceptionCodes: 'v1' }) as { exceptionCode: string }).exceptionCode,
      'LockKeyConflictFailFast',
    );
    // v2 is the default.
    assert.equal((decodeBody(body) as { exceptionCode: string }).exceptionCode, 'NotRaftLeader');
    assert.equal(exceptionCodeFromWire(19, 'v2'), 'NotRaftLeader');
    assert.equal(exceptionCodeFromWire(19, 'v1'), 'LockKeyConflictFailFast');
  });

  it('TransactionTimeout is written as 21 for 2.x and 20 for 1.x / seata-go', () => {
    const m: Message = {
      typeCode: TypeCode.BRANCH_REGISTER_RESULT,
      resultCode: ResultCode.Failed,
      msg: 'x',
      exceptionCode: 'TransactionTimeout',
      branchId: 0n,
    };
    assert.equal(encodeBody(m, { exceptionCodes: 'v2' }).toString('hex'), withCode(21).toString('hex'));
    assert.equal(encodeBody(m, { exceptionCodes: 'v1' }).toString('hex'), withCode(20).toString('hex'));
    assert.equal(encodeBody(m).toString('hex'), withCode(21).toString('hex'));
    assert.equal(exceptionCodeToWire('TransactionTimeout', 'v2'), 21);
    assert.equal(exceptionCodeToWire('TransactionTimeout', 'v1'), 20);
  });

  it('codes 0-18 are the same in both; codes a dialect lacks become Unknown', () => {
    for (let i = 0; i <= 18; i++) {
      assert.equal(exceptionCodeFromWire(i, 'v1'), exceptionCodeFromWire(i, 'v2'));
      assert.equal(exceptionCodeToWire(exceptionCodeFromWire(i, 'v1'), 'v2'), i);
    }
    assert.equal(exceptionCodeToWire('NotRaftLeader', 'v1'), 0);
    assert.equal(exceptionCodeFromWire(23, 'v1'), 'Unknown');
    assert.equal(exceptionCodeFromWire(23, 'v2'), 'Broken');
    assert.equal(exceptionCodeFromWire(24, 'v2'), 'Unknown');
    assert.equal(exceptionCodeFromWire(255, 'v2'), 'Unknown');
  });

  it('dialectForVersion: below 2.0.0 is v1', () => {
    assert.equal(dialectForVersion('1.5.2'), 'v1');
    assert.equal(dialectForVersion('1.1.0'), 'v1');
    assert.equal(dialectForVersion('1.8.0'), 'v1');
    assert.equal(dialectForVersion('2.2.0'), 'v2');
    assert.equal(dialectForVersion('2.0.0'), 'v2');
    assert.equal(dialectForVersion('2.3.0-SNAPSHOT'), 'v2');
    assert.equal(dialectForVersion(null), 'v2');
  });

  it('isVersionAtLeast compares dotted numbers (msgIds need 1.5.0)', () => {
    assert.equal(isVersionAtLeast('1.5.0', '1.5.0'), true);
    assert.equal(isVersionAtLeast('1.10.0', '1.5.0'), true);
    assert.equal(isVersionAtLeast('1.4.2', '1.5.0'), false);
    assert.equal(isVersionAtLeast('2.3.0-SNAPSHOT', '1.5.0'), true);
    assert.equal(isVersionAtLeast(null, '1.5.0'), false);
  });

  it('FrameDecoder.setOptions switches the dialect for later frames', () => {
    const frame = rawFrame({ frameType: FrameType.RESPONSE }, withCode(19));
    const decoder = new FrameDecoder();
    const code = (f: { body: unknown }) => (f.body as { exceptionCode: string }).exceptionCode;
    assert.equal(code(decoder.push(frame)[0] as { body: unknown }), 'NotRaftLeader');
    decoder.setOptions({ exceptionCodes: dialectForVersion('1.5.2') });
    assert.equal(code(decoder.push(frame)[0] as { body: unknown }), 'LockKeyConflictFailFast');
  });
});
