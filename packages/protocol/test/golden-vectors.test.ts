/**
 * Golden bytes from the real Seata Java encoder (../shared/reference/seata-vectors.txt) and the
 * hand-derived vectors of seata-reference.md section 2.7. Every expected message below is written
 * out by hand from the vector's `body:` line; none is produced by our decoder.
 */
import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import {
  BranchStatus,
  BranchType,
  Codec,
  Compressor,
  decodeBody,
  decodeFrame,
  encodeBody,
  encodeFrame,
  FrameDecoder,
  FrameType,
  GlobalStatus,
  type Message,
  ResultCode,
  type RpcMessage,
  TypeCode,
} from '../src/index.js';
import { decodeChunks, prng, randomChunks, rawFrame, testSeed } from './helpers.js';
import { hexBytes, loadVectors } from './vectors.js';

const { vectors, transcript } = loadVectors();

// ---------------------------------------------------------------------------------------------
// Values copied from the vector file's body lines.

const XID = '127.0.0.1:8091:2612341069705662465';
const BRANCH_ID = 2612341069705662467n;
const TCC_APP_DATA = '{"actionContext":{"amount":100}}';

const LIVE_XID_1 = '127.0.0.1:8091:9854250467598337';
const LIVE_BRANCH_1 = 9854250467598338n;
const LIVE_XID_2 = '127.0.0.1:8091:9854250467598339';
const LIVE_BRANCH_2 = 9854250467598340n;
const LIVE_APP_DATA_1 =
  '{"@class":"java.util.Collections$SingletonMap","actionContext":{"@class":"java.util.HashMap","action-start-time":["java.lang.Long",1795234823076],"useTCCFence":false,"sys::prepare":"prepare","sys::rollback":"rollback","sys::commit":"commit","host-name":"192.0.2.2","actionName":"demo-tcc-action"}}';
const LIVE_APP_DATA_2 =
  '{"@class":"java.util.Collections$SingletonMap","actionContext":{"@class":"java.util.HashMap","action-start-time":["java.lang.Long",1795234826597],"useTCCFence":false,"sys::prepare":"prepare","sys::rollback":"rollback","sys::commit":"commit","host-name":"192.0.2.2","actionName":"demo-tcc-action"}}';
const LIVE_TM_EXTRA_1 =
  'ak=null\ndigest=default_tx_group,192.0.2.2,1795234820285\ntimestamp=1795234820285\nauthVersion=V4\nvgroup=default_tx_group\nip=192.0.2.2\n';
const LIVE_TM_EXTRA_2 =
  'ak=null\ndigest=default_tx_group,192.0.2.2,1795234824376\ntimestamp=1795234824376\nauthVersion=V4\nvgroup=default_tx_group\nip=192.0.2.2\n';

/** Every vector in the file is codec SEATA, compressor NONE and, unless stated, has no head map. */
const PLAIN = { codec: Codec.SEATA, compressor: Compressor.NONE, headMap: null } as const;

// ---------------------------------------------------------------------------------------------
// The named vectors (section title -> expected frame).

const NAMED: Record<string, RpcMessage> = {
  RegisterTMRequest: {
    id: 1,
    frameType: FrameType.REQUEST_SYNC,
    ...PLAIN,
    body: {
      typeCode: TypeCode.REG_CLT,
      version: '2.2.0',
      applicationId: 'demo-app',
      transactionServiceGroup: 'default_tx_group',
      extraData: 'vgroup=default_tx_group\nip=127.0.0.1\n',
    },
  },
  RegisterTMResponse: {
    id: 1,
    frameType: FrameType.RESPONSE,
    ...PLAIN,
    // extraData, resultCode and msg are not on the wire for identify responses.
    body: { typeCode: TypeCode.REG_CLT_RESULT, identified: true, version: '2.2.0' },
  },
  RegisterRMRequest: {
    id: 2,
    frameType: FrameType.REQUEST_SYNC,
    ...PLAIN,
    body: {
      typeCode: TypeCode.REG_RM,
      version: '2.2.0',
      applicationId: 'demo-app',
      transactionServiceGroup: 'default_tx_group',
      extraData: null,
      resourceIds: 'tcc-demo-action',
    },
  },
  'HeartbeatMessage.PING': { id: 3, frameType: FrameType.HEARTBEAT_REQUEST, ...PLAIN, body: null },
  'HeartbeatMessage.PONG': { id: 3, frameType: FrameType.HEARTBEAT_RESPONSE, ...PLAIN, body: null },
  GlobalBeginRequest: {
    id: 4,
    frameType: FrameType.REQUEST_SYNC,
    ...PLAIN,
    body: { typeCode: TypeCode.GLOBAL_BEGIN, timeout: 60000, transactionName: 'demo-tx' },
  },
  GlobalBeginResponse: {
    id: 4,
    frameType: FrameType.RESPONSE,
    ...PLAIN,
    body: {
      typeCode: TypeCode.GLOBAL_BEGIN_RESULT,
      resultCode: ResultCode.Success,
      msg: null,
      exceptionCode: 'Unknown',
      xid: XID,
      extraData: null,
    },
  },
  BranchRegisterRequest: {
    id: 5,
    frameType: FrameType.REQUEST_SYNC,
    ...PLAIN,
    body: {
      typeCode: TypeCode.BRANCH_REGISTER,
      xid: XID,
      branchType: BranchType.TCC,
      resourceId: 'tcc-demo-action',
      lockKey: null,
      applicationData: TCC_APP_DATA,
    },
  },
  BranchRegisterResponse: {
    id: 5,
    frameType: FrameType.RESPONSE,
    ...PLAIN,
    body: {
      typeCode: TypeCode.BRANCH_REGISTER_RESULT,
      resultCode: ResultCode.Success,
      msg: null,
      exceptionCode: 'Unknown',
      branchId: BRANCH_ID,
    },
  },
  GlobalCommitRequest: {
    id: 6,
    frameType: FrameType.REQUEST_SYNC,
    ...PLAIN,
    body: { typeCode: TypeCode.GLOBAL_COMMIT, xid: XID, extraData: null },
  },
  GlobalCommitResponse: {
    id: 6,
    frameType: FrameType.RESPONSE,
    ...PLAIN,
    body: {
      typeCode: TypeCode.GLOBAL_COMMIT_RESULT,
      resultCode: ResultCode.Success,
      msg: null,
      exceptionCode: 'Unknown',
      globalStatus: GlobalStatus.Committed,
    },
  },
  GlobalRollbackRequest: {
    id: 7,
    frameType: FrameType.REQUEST_SYNC,
    ...PLAIN,
    body: { typeCode: TypeCode.GLOBAL_ROLLBACK, xid: XID, extraData: null },
  },
  GlobalStatusRequest: {
    id: 8,
    frameType: FrameType.REQUEST_SYNC,
    ...PLAIN,
    body: { typeCode: TypeCode.GLOBAL_STATUS, xid: XID, extraData: null },
  },
  'BranchCommitRequest (TC->RM)': {
    id: 9,
    frameType: FrameType.REQUEST_SYNC,
    ...PLAIN,
    body: {
      typeCode: TypeCode.BRANCH_COMMIT,
      xid: XID,
      branchId: BRANCH_ID,
      branchType: BranchType.TCC,
      resourceId: 'tcc-demo-action',
      applicationData: TCC_APP_DATA,
    },
  },
  BranchCommitResponse: {
    id: 9,
    frameType: FrameType.RESPONSE,
    ...PLAIN,
    body: {
      typeCode: TypeCode.BRANCH_COMMIT_RESULT,
      resultCode: ResultCode.Success,
      msg: null,
      exceptionCode: 'Unknown',
      xid: XID,
      branchId: BRANCH_ID,
      branchStatus: BranchStatus.PhaseTwo_Committed,
    },
  },
  'BranchRollbackRequest (TC->RM)': {
    id: 10,
    frameType: FrameType.REQUEST_SYNC,
    ...PLAIN,
    body: {
      typeCode: TypeCode.BRANCH_ROLLBACK,
      xid: XID,
      branchId: BRANCH_ID,
      branchType: BranchType.TCC,
      resourceId: 'tcc-demo-action',
      applicationData: null,
    },
  },
  BranchReportRequest: {
    id: 11,
    frameType: FrameType.REQUEST_SYNC,
    ...PLAIN,
    body: {
      typeCode: TypeCode.BRANCH_STATUS_REPORT,
      xid: XID,
      branchId: BRANCH_ID,
      status: BranchStatus.PhaseOne_Done,
      resourceId: 'tcc-demo-action',
      applicationData: null,
      branchType: BranchType.TCC,
    },
  },
  'GlobalBeginResponse (failed)': {
    id: 12,
    frameType: FrameType.RESPONSE,
    ...PLAIN,
    body: {
      typeCode: TypeCode.GLOBAL_BEGIN_RESULT,
      resultCode: ResultCode.Failed,
      msg: 'boom',
      // The toString omits it; the byte after the message is 1 = BeginFailed.
      exceptionCode: 'BeginFailed',
      xid: null,
      extraData: null,
    },
  },
  'MergedWarpMessage[GlobalBegin,GlobalCommit]': {
    id: 15,
    frameType: FrameType.REQUEST_SYNC,
    ...PLAIN,
    body: {
      typeCode: TypeCode.SEATA_MERGE,
      msgs: [
        { typeCode: TypeCode.GLOBAL_BEGIN, timeout: 60000, transactionName: 'demo-tx' },
        { typeCode: TypeCode.GLOBAL_COMMIT, xid: XID, extraData: null },
      ],
      // Not in the toString: the trailing int32s 0x0d and 0x0e (Seata >= 1.5.0).
      msgIds: [13, 14],
    },
  },
  'GlobalBeginRequest with headMap {k=v}': {
    id: 16,
    frameType: FrameType.REQUEST_SYNC,
    codec: Codec.SEATA,
    compressor: Compressor.NONE,
    headMap: new Map([['k', 'v']]),
    body: { typeCode: TypeCode.GLOBAL_BEGIN, timeout: 60000, transactionName: 'demo-tx' },
  },
};

// ---------------------------------------------------------------------------------------------
// The live transcript, keyed by "connN dir id=N type=N".

function registerTm(id: number, extraData: string): RpcMessage {
  return {
    id,
    frameType: FrameType.REQUEST_SYNC,
    ...PLAIN,
    body: {
      typeCode: TypeCode.REG_CLT,
      version: '2.2.0',
      applicationId: 'demo-app',
      transactionServiceGroup: 'default_tx_group',
      extraData,
    },
  };
}

const REGISTER_RM: RpcMessage = {
  id: 1,
  frameType: FrameType.REQUEST_SYNC,
  ...PLAIN,
  body: {
    typeCode: TypeCode.REG_RM,
    version: '2.2.0',
    applicationId: 'demo-app',
    transactionServiceGroup: 'default_tx_group',
    extraData: null,
    resourceIds: 'demo-tcc-action',
  },
};
const REGISTER_TM_OK: RpcMessage = {
  id: 1,
  frameType: FrameType.RESPONSE,
  ...PLAIN,
  body: { typeCode: TypeCode.REG_CLT_RESULT, identified: true, version: '2.2.0' },
};
const REGISTER_RM_OK: RpcMessage = {
  id: 1,
  frameType: FrameType.RESPONSE,
  ...PLAIN,
  body: { typeCode: TypeCode.REG_RM_RESULT, identified: true, version: '2.2.0' },
};
const BEGIN_DEMO_TX: RpcMessage = {
  id: 2,
  frameType: FrameType.REQUEST_SYNC,
  ...PLAIN,
  body: { typeCode: TypeCode.GLOBAL_BEGIN, timeout: 60000, transactionName: 'demo-tx' },
};

const LIVE: Record<string, RpcMessage> = {
  // ---- first run: commit
  'conn1 C->S id=1 type=0': registerTm(1, LIVE_TM_EXTRA_1),
  'conn1 S->C id=1 type=1': REGISTER_TM_OK,
  'conn2 C->S id=1 type=0': REGISTER_RM,
  'conn2 S->C id=1 type=1': REGISTER_RM_OK,
  'conn1 C->S id=2 type=0': BEGIN_DEMO_TX,
  'conn1 S->C id=2 type=1': {
    id: 2,
    frameType: FrameType.RESPONSE,
    ...PLAIN,
    body: {
      typeCode: TypeCode.GLOBAL_BEGIN_RESULT,
      resultCode: ResultCode.Success,
      msg: null,
      exceptionCode: 'Unknown',
      xid: LIVE_XID_1,
      extraData: null,
    },
  },
  'conn2 C->S id=3 type=2': {
    id: 3,
    frameType: FrameType.REQUEST_ONEWAY,
    ...PLAIN,
    body: {
      typeCode: TypeCode.SEATA_MERGE,
      msgs: [
        {
          typeCode: TypeCode.BRANCH_REGISTER,
          xid: LIVE_XID_1,
          branchType: BranchType.TCC,
          resourceId: 'demo-tcc-action',
          lockKey: null,
          applicationData: LIVE_APP_DATA_1,
        },
      ],
      msgIds: [2],
    },
  },
  'conn2 S->C id=3 type=1': {
    id: 3,
    frameType: FrameType.RESPONSE,
    ...PLAIN,
    body: {
      typeCode: TypeCode.SEATA_MERGE_RESULT,
      msgs: [
        {
          typeCode: TypeCode.BRANCH_REGISTER_RESULT,
          resultCode: ResultCode.Success,
          msg: null,
          exceptionCode: 'Unknown',
          branchId: LIVE_BRANCH_1,
        },
      ],
    },
  },
  'conn1 C->S id=3 type=0': {
    id: 3,
    frameType: FrameType.REQUEST_SYNC,
    ...PLAIN,
    body: { typeCode: TypeCode.GLOBAL_COMMIT, xid: LIVE_XID_1, extraData: null },
  },
  'conn2 S->C id=1 type=0': {
    id: 1,
    frameType: FrameType.REQUEST_SYNC,
    ...PLAIN,
    body: {
      typeCode: TypeCode.BRANCH_COMMIT,
      xid: LIVE_XID_1,
      branchId: LIVE_BRANCH_1,
      branchType: BranchType.TCC,
      resourceId: 'demo-tcc-action',
      applicationData: LIVE_APP_DATA_1,
    },
  },
  'conn2 C->S id=1 type=1': {
    id: 1,
    frameType: FrameType.RESPONSE,
    ...PLAIN,
    body: {
      typeCode: TypeCode.BRANCH_COMMIT_RESULT,
      resultCode: ResultCode.Success,
      msg: null,
      exceptionCode: 'Unknown',
      xid: LIVE_XID_1,
      branchId: LIVE_BRANCH_1,
      branchStatus: BranchStatus.PhaseTwo_Committed,
    },
  },
  'conn1 S->C id=3 type=1': {
    id: 3,
    frameType: FrameType.RESPONSE,
    ...PLAIN,
    body: {
      typeCode: TypeCode.GLOBAL_COMMIT_RESULT,
      resultCode: ResultCode.Success,
      msg: null,
      exceptionCode: 'Unknown',
      globalStatus: GlobalStatus.Committed,
    },
  },
  'conn1 C->S id=4 type=0': {
    id: 4,
    frameType: FrameType.REQUEST_SYNC,
    ...PLAIN,
    body: { typeCode: TypeCode.GLOBAL_STATUS, xid: LIVE_XID_1, extraData: null },
  },
  'conn1 S->C id=4 type=1': {
    id: 4,
    frameType: FrameType.RESPONSE,
    ...PLAIN,
    body: {
      typeCode: TypeCode.GLOBAL_STATUS_RESULT,
      resultCode: ResultCode.Success,
      msg: null,
      exceptionCode: 'Unknown',
      globalStatus: GlobalStatus.Finished,
    },
  },
  // ---- second run: rollback
  'conn3 C->S id=1 type=0': registerTm(1, LIVE_TM_EXTRA_2),
  'conn3 S->C id=1 type=1': REGISTER_TM_OK,
  'conn4 C->S id=1 type=0': REGISTER_RM,
  'conn4 S->C id=1 type=1': REGISTER_RM_OK,
  'conn3 C->S id=2 type=0': BEGIN_DEMO_TX,
  'conn3 S->C id=2 type=1': {
    id: 2,
    frameType: FrameType.RESPONSE,
    ...PLAIN,
    body: {
      typeCode: TypeCode.GLOBAL_BEGIN_RESULT,
      resultCode: ResultCode.Success,
      msg: null,
      exceptionCode: 'Unknown',
      xid: LIVE_XID_2,
      extraData: null,
    },
  },
  'conn4 C->S id=3 type=2': {
    id: 3,
    frameType: FrameType.REQUEST_ONEWAY,
    ...PLAIN,
    body: {
      typeCode: TypeCode.SEATA_MERGE,
      msgs: [
        {
          typeCode: TypeCode.BRANCH_REGISTER,
          xid: LIVE_XID_2,
          branchType: BranchType.TCC,
          resourceId: 'demo-tcc-action',
          lockKey: null,
          applicationData: LIVE_APP_DATA_2,
        },
      ],
      msgIds: [2],
    },
  },
  'conn4 S->C id=3 type=1': {
    id: 3,
    frameType: FrameType.RESPONSE,
    ...PLAIN,
    body: {
      typeCode: TypeCode.SEATA_MERGE_RESULT,
      msgs: [
        {
          typeCode: TypeCode.BRANCH_REGISTER_RESULT,
          resultCode: ResultCode.Success,
          msg: null,
          exceptionCode: 'Unknown',
          branchId: LIVE_BRANCH_2,
        },
      ],
    },
  },
  'conn3 C->S id=3 type=0': {
    id: 3,
    frameType: FrameType.REQUEST_SYNC,
    ...PLAIN,
    body: { typeCode: TypeCode.GLOBAL_ROLLBACK, xid: LIVE_XID_2, extraData: null },
  },
  'conn4 S->C id=2 type=0': {
    id: 2,
    frameType: FrameType.REQUEST_SYNC,
    ...PLAIN,
    body: {
      typeCode: TypeCode.BRANCH_ROLLBACK,
      xid: LIVE_XID_2,
      branchId: LIVE_BRANCH_2,
      branchType: BranchType.TCC,
      resourceId: 'demo-tcc-action',
      applicationData: LIVE_APP_DATA_2,
    },
  },
  'conn4 C->S id=2 type=1': {
    id: 2,
    frameType: FrameType.RESPONSE,
    ...PLAIN,
    body: {
      typeCode: TypeCode.BRANCH_ROLLBACK_RESULT,
      resultCode: ResultCode.Success,
      msg: null,
      exceptionCode: 'Unknown',
      xid: LIVE_XID_2,
      branchId: LIVE_BRANCH_2,
      branchStatus: BranchStatus.PhaseTwo_Rollbacked,
    },
  },
  'conn3 S->C id=3 type=1': {
    id: 3,
    frameType: FrameType.RESPONSE,
    ...PLAIN,
    body: {
      typeCode: TypeCode.GLOBAL_ROLLBACK_RESULT,
      resultCode: ResultCode.Success,
      msg: null,
      exceptionCode: 'Unknown',
      globalStatus: GlobalStatus.Rollbacked,
    },
  },
  'conn3 C->S id=4 type=0': {
    id: 4,
    frameType: FrameType.REQUEST_SYNC,
    ...PLAIN,
    body: { typeCode: TypeCode.GLOBAL_STATUS, xid: LIVE_XID_2, extraData: null },
  },
  'conn3 S->C id=4 type=1': {
    id: 4,
    frameType: FrameType.RESPONSE,
    ...PLAIN,
    body: {
      typeCode: TypeCode.GLOBAL_STATUS_RESULT,
      resultCode: ResultCode.Success,
      msg: null,
      exceptionCode: 'Unknown',
      globalStatus: GlobalStatus.Finished,
    },
  },
};

// ---------------------------------------------------------------------------------------------
// seata-reference.md section 2.7, hand-derived from the codec tables (not from real Seata).

const SHORT_XID = '127.0.0.1:8091:1';
const SHORT_XID_HEX = '31 32 37 2e 30 2e 30 2e 31 3a 38 30 39 31 3a 31';

interface HandFrame {
  name: string;
  hex: string;
  expected: RpcMessage;
}

const HAND_FRAMES: HandFrame[] = [
  {
    name: 'PING [1]',
    hex: 'da da 01 00 00 00 10 00 10 03 01 00 00 00 00 01',
    expected: { id: 1, frameType: FrameType.HEARTBEAT_REQUEST, ...PLAIN, body: null },
  },
  {
    name: 'PONG [1]',
    hex: 'da da 01 00 00 00 10 00 10 04 01 00 00 00 00 01',
    expected: { id: 1, frameType: FrameType.HEARTBEAT_RESPONSE, ...PLAIN, body: null },
  },
  {
    name: 'PING [1] with head map {k: v}',
    hex: 'da da 01 00 00 00 16 00 16 03 01 00 00 00 00 01 00 01 6b 00 01 76',
    expected: {
      id: 1,
      frameType: FrameType.HEARTBEAT_REQUEST,
      codec: Codec.SEATA,
      compressor: Compressor.NONE,
      headMap: new Map([['k', 'v']]),
      body: null,
    },
  },
  {
    name: 'GlobalBeginRequest(60000, "test") SYNC [1]',
    hex: 'da da 01 00 00 00 1c 00 10 00 01 00 00 00 00 01 | 00 01 00 00 ea 60 00 04 74 65 73 74',
    expected: {
      id: 1,
      frameType: FrameType.REQUEST_SYNC,
      ...PLAIN,
      body: { typeCode: TypeCode.GLOBAL_BEGIN, timeout: 60000, transactionName: 'test' },
    },
  },
  {
    name: 'GlobalBeginResponse(Success, "127.0.0.1:8091:1") RESPONSE [1]',
    hex: `da da 01 00 00 00 28 00 10 01 01 00 00 00 00 01 | 00 02 01 00 00 10 ${SHORT_XID_HEX} 00 00`,
    expected: {
      id: 1,
      frameType: FrameType.RESPONSE,
      ...PLAIN,
      body: {
        typeCode: TypeCode.GLOBAL_BEGIN_RESULT,
        resultCode: ResultCode.Success,
        msg: null,
        exceptionCode: 'Unknown',
        xid: SHORT_XID,
        extraData: null,
      },
    },
  },
  {
    name: 'RegisterTMRequest("2.2.0", "app", "g", null) SYNC [2]',
    hex: 'da da 01 00 00 00 23 00 10 00 01 00 00 00 00 02 | 00 65 00 05 32 2e 32 2e 30 00 03 61 70 70 00 01 67 00 00',
    expected: {
      id: 2,
      frameType: FrameType.REQUEST_SYNC,
      ...PLAIN,
      body: {
        typeCode: TypeCode.REG_CLT,
        version: '2.2.0',
        applicationId: 'app',
        transactionServiceGroup: 'g',
        extraData: null,
      },
    },
  },
  {
    name: 'RegisterTMResponse(true, "2.2.0") RESPONSE [2]',
    hex: 'da da 01 00 00 00 1a 00 10 01 01 00 00 00 00 02 | 00 66 01 00 05 32 2e 32 2e 30',
    expected: {
      id: 2,
      frameType: FrameType.RESPONSE,
      ...PLAIN,
      body: { typeCode: TypeCode.REG_CLT_RESULT, identified: true, version: '2.2.0' },
    },
  },
  {
    name: 'RegisterRMRequest(..., "jdbc:mysql://h/db") SYNC [3]',
    hex:
      'da da 01 00 00 00 38 00 10 00 01 00 00 00 00 03 | 00 67 00 05 32 2e 32 2e 30 00 03 61 70 70 00 01 67 ' +
      '00 00 00 00 00 11 6a 64 62 63 3a 6d 79 73 71 6c 3a 2f 2f 68 2f 64 62',
    expected: {
      id: 3,
      frameType: FrameType.REQUEST_SYNC,
      ...PLAIN,
      body: {
        typeCode: TypeCode.REG_RM,
        version: '2.2.0',
        applicationId: 'app',
        transactionServiceGroup: 'g',
        extraData: null,
        resourceIds: 'jdbc:mysql://h/db',
      },
    },
  },
  {
    name: 'GlobalCommitResponse(Success, Committed) [5]',
    hex: 'da da 01 00 00 00 15 00 10 01 01 00 00 00 00 05 00 08 01 00 09',
    expected: {
      id: 5,
      frameType: FrameType.RESPONSE,
      ...PLAIN,
      body: {
        typeCode: TypeCode.GLOBAL_COMMIT_RESULT,
        resultCode: ResultCode.Success,
        msg: null,
        exceptionCode: 'Unknown',
        globalStatus: GlobalStatus.Committed,
      },
    },
  },
  {
    name: 'MergedWarpMessage([GlobalBegin(60000, "test")], msgIds [10]) ONEWAY [11]',
    hex: 'da da 01 00 00 00 28 00 10 02 01 00 00 00 00 0b | 00 3b 00 00 00 12 00 01 00 01 00 00 ea 60 00 04 74 65 73 74 00 00 00 0a',
    expected: {
      id: 11,
      frameType: FrameType.REQUEST_ONEWAY,
      ...PLAIN,
      body: {
        typeCode: TypeCode.SEATA_MERGE,
        msgs: [{ typeCode: TypeCode.GLOBAL_BEGIN, timeout: 60000, transactionName: 'test' }],
        msgIds: [10],
      },
    },
  },
];

interface HandBody {
  name: string;
  hex: string;
  expected: Message;
}

/** Section 2.7's body-only vectors, with `<xid>` = "127.0.0.1:8091:1". */
const HAND_BODIES: HandBody[] = [
  {
    name: 'BranchRegisterRequest(xid, AT, "r", lockKey "t:1", null)',
    hex: `00 0b 00 10 ${SHORT_XID_HEX} 00 00 01 72 00 00 00 03 74 3a 31 00 00 00 00`,
    expected: {
      typeCode: TypeCode.BRANCH_REGISTER,
      xid: SHORT_XID,
      branchType: BranchType.AT,
      resourceId: 'r',
      lockKey: 't:1',
      applicationData: null,
    },
  },
  {
    name: 'BranchRegisterResponse(Success, branchId 2)',
    hex: '00 0c 01 00 00 00 00 00 00 00 00 02',
    expected: {
      typeCode: TypeCode.BRANCH_REGISTER_RESULT,
      resultCode: ResultCode.Success,
      msg: null,
      exceptionCode: 'Unknown',
      branchId: 2n,
    },
  },
  {
    name: 'BranchRegisterResponse(Failed, LockKeyConflict, msg "x")',
    hex: '00 0c 00 00 01 78 02 00 00 00 00 00 00 00 00',
    expected: {
      typeCode: TypeCode.BRANCH_REGISTER_RESULT,
      resultCode: ResultCode.Failed,
      msg: 'x',
      exceptionCode: 'LockKeyConflict',
      branchId: 0n,
    },
  },
  {
    name: 'BranchCommitRequest(xid, 2, TCC, "act", "{}")',
    hex: `00 03 00 10 ${SHORT_XID_HEX} 00 00 00 00 00 00 00 02 01 00 03 61 63 74 00 00 00 02 7b 7d`,
    expected: {
      typeCode: TypeCode.BRANCH_COMMIT,
      xid: SHORT_XID,
      branchId: 2n,
      branchType: BranchType.TCC,
      resourceId: 'act',
      applicationData: '{}',
    },
  },
  {
    name: 'BranchCommitResponse(Success, xid, 2, PhaseTwo_Committed)',
    hex: `00 04 01 00 00 10 ${SHORT_XID_HEX} 00 00 00 00 00 00 00 02 05`,
    expected: {
      typeCode: TypeCode.BRANCH_COMMIT_RESULT,
      resultCode: ResultCode.Success,
      msg: null,
      exceptionCode: 'Unknown',
      xid: SHORT_XID,
      branchId: 2n,
      branchStatus: BranchStatus.PhaseTwo_Committed,
    },
  },
  {
    name: 'MergeResultMessage([GlobalBeginResponse(Success, xid)])',
    hex: `00 3c 00 00 00 1a 00 01 00 02 01 00 00 10 ${SHORT_XID_HEX} 00 00`,
    expected: {
      typeCode: TypeCode.SEATA_MERGE_RESULT,
      msgs: [
        {
          typeCode: TypeCode.GLOBAL_BEGIN_RESULT,
          resultCode: ResultCode.Success,
          msg: null,
          exceptionCode: 'Unknown',
          xid: SHORT_XID,
          extraData: null,
        },
      ],
    },
  },
];

// ---------------------------------------------------------------------------------------------

function liveKey(line: { conn: string; direction: string; id: number; type: number }): string {
  return `${line.conn} ${line.direction} id=${line.id} type=${line.type}`;
}

/** All golden frames of this file: name, bytes, expected message. */
interface Golden {
  name: string;
  bytes: Buffer;
  expected: RpcMessage;
}

function allGolden(): Golden[] {
  const out: Golden[] = [];
  for (const v of vectors) {
    const expected = NAMED[v.title];
    if (expected) out.push({ name: `vector "${v.title}"`, bytes: v.bytes, expected });
  }
  for (const line of transcript) {
    const expected = LIVE[liveKey(line)];
    if (expected) out.push({ name: `live #${line.index} ${liveKey(line)}`, bytes: line.bytes, expected });
  }
  for (const f of HAND_FRAMES)
    out.push({ name: `2.7 ${f.name}`, bytes: hexBytes(f.hex), expected: f.expected });
  // The body-only vectors, framed by a header built byte by byte (not by encodeFrame).
  HAND_BODIES.forEach((b, i) => {
    const frameType = b.expected.typeCode % 2 === 0 ? FrameType.RESPONSE : FrameType.REQUEST_SYNC;
    out.push({
      name: `2.7 body ${b.name}`,
      bytes: rawFrame({ frameType, id: 100 + i }, hexBytes(b.hex)),
      expected: { id: 100 + i, frameType, ...PLAIN, body: b.expected },
    });
  });
  return out;
}

function checkGolden(g: Golden): void {
  // (a) exact bytes
  assert.equal(encodeFrame(g.expected).toString('hex'), g.bytes.toString('hex'), 'encodeFrame bytes');
  // (b) decode
  assert.deepStrictEqual(decodeFrame(g.bytes), g.expected, 'decodeFrame');
  // (c) every two-piece split, including the empty first and last piece
  for (let at = 0; at <= g.bytes.length; at++) {
    const decoder = new FrameDecoder();
    const first = decoder.push(Buffer.from(g.bytes.subarray(0, at)));
    const second = decoder.push(Buffer.from(g.bytes.subarray(at)));
    if (at < g.bytes.length) assert.deepStrictEqual(first, [], `split at ${at}: frame before its last byte`);
    assert.deepStrictEqual([...first, ...second], [g.expected], `split at ${at}`);
    assert.equal(decoder.bufferedBytes, 0, `split at ${at}: leftover bytes`);
  }
  // (d) one byte at a time
  const decoder = new FrameDecoder();
  for (let i = 0; i < g.bytes.length; i++) {
    const frames = decoder.push(g.bytes.subarray(i, i + 1));
    if (i < g.bytes.length - 1) assert.deepStrictEqual(frames, [], `byte ${i}: frame before its last byte`);
    else assert.deepStrictEqual(frames, [g.expected], 'byte at a time');
  }
  assert.equal(decoder.bufferedBytes, 0);
}

describe('golden vectors from the real Seata Java codec', () => {
  it('parses the vector file completely', () => {
    assert.equal(vectors.length, 20, 'named vectors in seata-vectors.txt');
    assert.equal(transcript.length, 28, 'live transcript frames in seata-vectors.txt');
    for (const v of vectors) {
      assert.equal(v.codec, 1, v.title);
      assert.equal(v.compressor, 0, v.title);
    }
  });

  it('has a hand-written expectation for every vector and no stale ones', () => {
    const titles = vectors.map((v) => v.title).sort();
    assert.deepStrictEqual(titles, Object.keys(NAMED).sort());
    const keys = transcript.map(liveKey);
    assert.equal(new Set(keys).size, keys.length, 'transcript keys are unique');
    assert.deepStrictEqual([...keys].sort(), Object.keys(LIVE).sort());
  });

  it('agrees with the rpc: line (id, messageType, head) of every vector', () => {
    for (const v of vectors) {
      const e = NAMED[v.title] as RpcMessage;
      assert.equal(e.id, v.id, v.title);
      assert.equal(e.frameType, v.messageType, v.title);
      const head = e.headMap ? `{${[...e.headMap].map(([k, val]) => `${k}=${val}`).join(', ')}}` : '{}';
      assert.equal(head, v.head, v.title);
    }
    for (const line of transcript) {
      const e = LIVE[liveKey(line)] as RpcMessage;
      assert.equal(line.head, '{}');
      assert.equal(e.headMap, null);
    }
  });

  for (const v of vectors) {
    it(`${v.title}: exact bytes, decode, every split, byte by byte`, () => {
      const expected = NAMED[v.title];
      assert.ok(expected, `no expectation for ${v.title}`);
      checkGolden({ name: v.title, bytes: v.bytes, expected });
    });
  }
});

describe('golden vectors from the live Java capture', () => {
  for (const line of transcript) {
    it(`#${line.index} ${liveKey(line)}: exact bytes, decode, every split, byte by byte`, () => {
      const expected = LIVE[liveKey(line)];
      assert.ok(expected, `no expectation for ${liveKey(line)}`);
      assert.equal(expected.frameType, line.type);
      assert.equal(expected.id, line.id);
      checkGolden({ name: liveKey(line), bytes: line.bytes, expected });
    });
  }
});

describe('hand-derived vectors (seata-reference.md 2.7)', () => {
  for (const f of HAND_FRAMES) {
    it(`${f.name}: exact bytes, decode, every split, byte by byte`, () => {
      checkGolden({ name: f.name, bytes: hexBytes(f.hex), expected: f.expected });
    });
  }
  for (const b of HAND_BODIES) {
    it(`body ${b.name}: encodeBody / decodeBody`, () => {
      const bytes = hexBytes(b.hex);
      assert.equal(encodeBody(b.expected).toString('hex'), bytes.toString('hex'));
      assert.deepStrictEqual(decodeBody(bytes), b.expected);
    });
  }
  it('the framed body vectors pass the split checks too', () => {
    for (const g of allGolden().filter((x) => x.name.startsWith('2.7 body'))) checkGolden(g);
  });
});

describe('all golden frames in one stream', () => {
  it('random chunkings of the concatenation yield every message in order', () => {
    const golden = allGolden();
    assert.equal(golden.length, 20 + 28 + HAND_FRAMES.length + HAND_BODIES.length);
    const stream = Buffer.concat(golden.map((g) => g.bytes));
    const expected = golden.map((g) => g.expected);
    const seed = testSeed();
    const rnd = prng(seed);
    for (let round = 0; round < 200; round++) {
      const maxChunk = [1, 3, 16, 100, 1000, stream.length][round % 6] as number;
      const chunks = randomChunks(stream, rnd, maxChunk);
      assert.deepStrictEqual(decodeChunks(chunks), expected, `seed ${seed}, round ${round}`);
    }
    // And one chunk holding everything.
    assert.deepStrictEqual(decodeChunks([stream]), expected);
  });
});
