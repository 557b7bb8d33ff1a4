/**
 * The "seata" serializer: body = int16 type code + the message's fields, in the order of the
 * Java codecs under serializer/seata-serializer-seata (…/protocol/**Codec.java). Pure functions
 * over Buffers.
 */
import { ByteReader, ByteWriter, truncateUtf8 } from './byte-io.js';
import {
  BranchStatus,
  BranchType,
  GlobalStatus,
  memberSet,
  nameOf,
  ResultCode,
  TypeCode,
} from './constants.js';
import { ProtocolError } from './errors.js';
import {
  type ExceptionCodeDialect,
  exceptionCodeFromWire,
  exceptionCodeToWire,
  type TransactionExceptionCode,
} from './exception-code.js';
import type {
  BranchEndRequestFields,
  BranchEndResponseFields,
  BranchRegisterFields,
  GlobalEndRequestFields,
  IdentifyRequestFields,
  Message,
  SingleMessage,
  TransactionResult,
} from './messages.js';

/** Per-peer choices that change how bodies are written or read. */
export interface CodecOptions {
  /**
   * TransactionExceptionCode numbering of the peer: 'v1' (Seata 1.x, seata-go) or 'v2'.
   * @default 'v2'
   */
  exceptionCodes?: ExceptionCodeDialect;
}

const CTX_V1: Ctx = Object.freeze({ dialect: 'v1' });
const CTX_V2: Ctx = Object.freeze({ dialect: 'v2' });

/** One shared context per dialect (the default is v2), not an object per frame. */
function ctxOf(options: CodecOptions): Ctx {
  return options.exceptionCodes === 'v1' ? CTX_V1 : CTX_V2;
}
/** Seata truncates a failure message before writing it with an int16 length. */
const MAX_MSG_BYTES = 0x7fff;

interface Ctx {
  dialect: ExceptionCodeDialect;
}

// ---------------------------------------------------------------------------------------------
// enum fields

const BRANCH_STATUSES = memberSet(BranchStatus);
const BRANCH_TYPES = memberSet(BranchType);
const GLOBAL_STATUSES = memberSet(GlobalStatus);
const RESULT_CODES = memberSet(ResultCode);

function readEnum<T extends number>(r: ByteReader, members: ReadonlySet<number>, field: string): T {
  const v = r.u8(field);
  if (!members.has(v))
    throw new ProtocolError('INVALID_ENUM', `${field} ${v} is not defined`, { field, value: v });
  return v as T;
}

function writeEnum(w: ByteWriter, members: ReadonlySet<number>, v: number, field: string): void {
  if (!members.has(v)) {
    throw new ProtocolError('INVALID_MESSAGE', `${field} ${String(v)} is not defined`, { field, value: v });
  }
  w.u8(v);
}

// ---------------------------------------------------------------------------------------------
// shared prefixes

/** AbstractResultMessageCodec + AbstractTransactionResponseCodec. */
function writeTxResult(w: ByteWriter, m: TransactionResult, ctx: Ctx): void {
  writeEnum(w, RESULT_CODES, m.resultCode, 'resultCode');
  if (m.resultCode === ResultCode.Failed) w.s16(m.msg ? truncateUtf8(m.msg, MAX_MSG_BYTES) : null, 'msg');
  w.u8(exceptionCodeToWire(m.exceptionCode ?? 'Unknown', ctx.dialect));
}

// The result prefix is read into the caller's locals and every decoder builds its message in
// one object literal: no intermediate objects and no spreads on the per-frame path.

function readResultCode(r: ByteReader): ResultCode {
  return readEnum<ResultCode>(r, RESULT_CODES, 'resultCode');
}

function readFailureMsg(r: ByteReader, resultCode: ResultCode, shortMsg: boolean): string | null {
  if (resultCode !== ResultCode.Failed) return null;
  return shortMsg ? r.s8('msg') : r.s16('msg');
}

function readExceptionCode(r: ByteReader, ctx: Ctx): TransactionExceptionCode {
  return exceptionCodeFromWire(r.u8('exceptionCode'), ctx.dialect);
}

function writeGlobalEndRequest(w: ByteWriter, m: GlobalEndRequestFields): void {
  w.s16(m.xid, 'xid');
  w.s16(m.extraData, 'extraData');
}

function readGlobalEndRequest<C extends 7 | 9 | 15>(
  r: ByteReader,
  typeCode: C,
): GlobalEndRequestFields & { typeCode: C } {
  return { typeCode, xid: r.s16('xid'), extraData: r.s16('extraData') };
}

function writeBranchRegister(w: ByteWriter, m: BranchRegisterFields): void {
  w.s16(m.xid, 'xid');
  writeEnum(w, BRANCH_TYPES, m.branchType, 'branchType');
  w.s16(m.resourceId, 'resourceId');
  w.s32(m.lockKey, 'lockKey');
  w.s32(m.applicationData, 'applicationData');
}

function readBranchRegister<C extends 11 | 21>(
  r: ByteReader,
  typeCode: C,
): BranchRegisterFields & { typeCode: C } {
  return {
    typeCode,
    xid: r.s16('xid'),
    branchType: readEnum<BranchType>(r, BRANCH_TYPES, 'branchType'),
    resourceId: r.s16('resourceId'),
    lockKey: r.s32('lockKey'),
    applicationData: r.s32('applicationData'),
  };
}

function writeBranchEndRequest(w: ByteWriter, m: BranchEndRequestFields): void {
  w.s16(m.xid, 'xid');
  w.i64(m.branchId);
  writeEnum(w, BRANCH_TYPES, m.branchType, 'branchType');
  w.s16(m.resourceId, 'resourceId');
  w.s32(m.applicationData, 'applicationData');
}

function readBranchEndRequest<C extends 3 | 5>(
  r: ByteReader,
  typeCode: C,
): BranchEndRequestFields & { typeCode: C } {
  return {
    typeCode,
    xid: r.s16('xid'),
    branchId: r.i64('branchId'),
    branchType: readEnum<BranchType>(r, BRANCH_TYPES, 'branchType'),
    resourceId: r.s16('resourceId'),
    applicationData: r.s32('applicationData'),
  };
}

function writeBranchEndResponse(w: ByteWriter, m: BranchEndResponseFields, ctx: Ctx): void {
  writeTxResult(w, m, ctx);
  w.s16(m.xid, 'xid');
  w.i64(m.branchId);
  writeEnum(w, BRANCH_STATUSES, m.branchStatus, 'branchStatus');
}

function readBranchEndResponse<C extends 4 | 6>(
  r: ByteReader,
  ctx: Ctx,
  shortMsg: boolean,
  typeCode: C,
): BranchEndResponseFields & { typeCode: C } {
  const resultCode = readResultCode(r);
  const msg = readFailureMsg(r, resultCode, shortMsg);
  return {
    typeCode,
    resultCode,
    msg,
    exceptionCode: readExceptionCode(r, ctx),
    xid: r.s16('xid'),
    branchId: r.i64('branchId'),
    branchStatus: readEnum<BranchStatus>(r, BRANCH_STATUSES, 'branchStatus'),
  };
}

function writeIdentifyRequest(w: ByteWriter, m: IdentifyRequestFields): void {
  w.s16(m.version, 'version');
  w.s16(m.applicationId, 'applicationId');
  w.s16(m.transactionServiceGroup, 'transactionServiceGroup');
  w.s16(m.extraData, 'extraData');
}

function readIdentifyRequest<C extends 101 | 103>(
  r: ByteReader,
  typeCode: C,
): IdentifyRequestFields & { typeCode: C } {
  return {
    typeCode,
    version: r.s16('version'),
    applicationId: r.s16('applicationId'),
    transactionServiceGroup: r.s16('transactionServiceGroup'),
    extraData: r.s16('extraData'),
  };
}

// ---------------------------------------------------------------------------------------------
// the per-type table

interface BodyCodec {
  encode(w: ByteWriter, m: never, ctx: Ctx): void;
  /** `shortMsg` selects seata-go's int8 failure-message length (only meaningful for four types). */
  decode(r: ByteReader, ctx: Ctx, shortMsg: boolean): Message;
}

function codec<M extends Message>(
  encode: (w: ByteWriter, m: M, ctx: Ctx) => void,
  decode: (r: ByteReader, ctx: Ctx, shortMsg: boolean) => M,
): BodyCodec {
  return { encode: encode as BodyCodec['encode'], decode };
}

const T = TypeCode;

/** AbstractGlobalEndResponseCodec: the transaction result, then the global status code. */
function globalEndResponse(typeCode: 8 | 10 | 16 | 18): BodyCodec {
  return codec(
    (w, m: Extract<Message, { typeCode: 8 | 10 | 16 | 18 }>, ctx) => {
      writeTxResult(w, m, ctx);
      writeEnum(w, GLOBAL_STATUSES, m.globalStatus, 'globalStatus');
    },
    (r, ctx) => {
      const resultCode = readResultCode(r);
      const msg = readFailureMsg(r, resultCode, false);
      return {
        typeCode,
        resultCode,
        msg,
        exceptionCode: readExceptionCode(r, ctx),
        globalStatus: readEnum<GlobalStatus>(r, GLOBAL_STATUSES, 'globalStatus'),
      } as Extract<Message, { typeCode: 8 | 10 | 16 | 18 }>;
    },
  );
}

const CODECS: Record<number, BodyCodec> = {
  [T.GLOBAL_BEGIN]: codec(
    (w, m: Extract<Message, { typeCode: 1 }>) => {
      w.i32(m.timeout);
      w.s16(m.transactionName, 'transactionName');
    },
    (r) => ({
      typeCode: T.GLOBAL_BEGIN,
      timeout: r.i32('timeout'),
      transactionName: r.s16('transactionName'),
    }),
  ),
  [T.GLOBAL_BEGIN_RESULT]: codec(
    (w, m: Extract<Message, { typeCode: 2 }>, ctx) => {
      writeTxResult(w, m, ctx);
      w.s16(m.xid, 'xid');
      w.s16(m.extraData, 'extraData');
    },
    (r, ctx) => {
      const resultCode = readResultCode(r);
      const msg = readFailureMsg(r, resultCode, false);
      return {
        typeCode: T.GLOBAL_BEGIN_RESULT,
        resultCode,
        msg,
        exceptionCode: readExceptionCode(r, ctx),
        xid: r.s16('xid'),
        extraData: r.s16('extraData'),
      };
    },
  ),
  [T.BRANCH_COMMIT]: codec(
    (w, m: Extract<Message, { typeCode: 3 }>) => writeBranchEndRequest(w, m),
    (r) => readBranchEndRequest(r, T.BRANCH_COMMIT),
  ),
  [T.BRANCH_COMMIT_RESULT]: codec(
    (w, m: Extract<Message, { typeCode: 4 }>, ctx) => writeBranchEndResponse(w, m, ctx),
    (r, ctx, shortMsg) => readBranchEndResponse(r, ctx, shortMsg, T.BRANCH_COMMIT_RESULT),
  ),
  [T.BRANCH_ROLLBACK]: codec(
    (w, m: Extract<Message, { typeCode: 5 }>) => writeBranchEndRequest(w, m),
    (r) => readBranchEndRequest(r, T.BRANCH_ROLLBACK),
  ),
  [T.BRANCH_ROLLBACK_RESULT]: codec(
    (w, m: Extract<Message, { typeCode: 6 }>, ctx) => writeBranchEndResponse(w, m, ctx),
    (r, ctx, shortMsg) => readBranchEndResponse(r, ctx, shortMsg, T.BRANCH_ROLLBACK_RESULT),
  ),
  [T.GLOBAL_COMMIT]: codec(
    (w, m: Extract<Message, { typeCode: 7 }>) => writeGlobalEndRequest(w, m),
    (r) => readGlobalEndRequest(r, T.GLOBAL_COMMIT),
  ),
  [T.GLOBAL_ROLLBACK]: codec(
    (w, m: Extract<Message, { typeCode: 9 }>) => writeGlobalEndRequest(w, m),
    (r) => readGlobalEndRequest(r, T.GLOBAL_ROLLBACK),
  ),
  [T.GLOBAL_STATUS]: codec(
    (w, m: Extract<Message, { typeCode: 15 }>) => writeGlobalEndRequest(w, m),
    (r) => readGlobalEndRequest(r, T.GLOBAL_STATUS),
  ),
  [T.GLOBAL_REPORT]: codec(
    (w, m: Extract<Message, { typeCode: 17 }>) => {
      writeGlobalEndRequest(w, m);
      if (m.globalStatus === null || m.globalStatus === undefined) w.u8(0xff);
      else writeEnum(w, GLOBAL_STATUSES, m.globalStatus, 'globalStatus');
    },
    (r) => {
      const xid = r.s16('xid');
      const extraData = r.s16('extraData');
      const raw = r.i8('globalStatus');
      if (raw !== -1 && !GLOBAL_STATUSES.has(raw)) {
        throw new ProtocolError('INVALID_ENUM', `globalStatus ${raw} is not defined`, {
          field: 'globalStatus',
          value: raw,
        });
      }
      return {
        typeCode: T.GLOBAL_REPORT,
        xid,
        extraData,
        globalStatus: raw === -1 ? null : (raw as GlobalStatus),
      };
    },
  ),
  [T.GLOBAL_COMMIT_RESULT]: globalEndResponse(T.GLOBAL_COMMIT_RESULT),
  [T.GLOBAL_ROLLBACK_RESULT]: globalEndResponse(T.GLOBAL_ROLLBACK_RESULT),
  [T.GLOBAL_STATUS_RESULT]: globalEndResponse(T.GLOBAL_STATUS_RESULT),
  [T.GLOBAL_REPORT_RESULT]: globalEndResponse(T.GLOBAL_REPORT_RESULT),
  [T.BRANCH_REGISTER]: codec(
    (w, m: Extract<Message, { typeCode: 11 }>) => writeBranchRegister(w, m),
    (r) => readBranchRegister(r, T.BRANCH_REGISTER),
  ),
  [T.BRANCH_REGISTER_RESULT]: codec(
    (w, m: Extract<Message, { typeCode: 12 }>, ctx) => {
      writeTxResult(w, m, ctx);
      w.i64(m.branchId);
    },
    (r, ctx) => {
      const resultCode = readResultCode(r);
      const msg = readFailureMsg(r, resultCode, false);
      return {
        typeCode: T.BRANCH_REGISTER_RESULT,
        resultCode,
        msg,
        exceptionCode: readExceptionCode(r, ctx),
        branchId: r.i64('branchId'),
      };
    },
  ),
  [T.BRANCH_STATUS_REPORT]: codec(
    (w, m: Extract<Message, { typeCode: 13 }>) => {
      w.s16(m.xid, 'xid');
      w.i64(m.branchId);
      writeEnum(w, BRANCH_STATUSES, m.status, 'status');
      w.s16(m.resourceId, 'resourceId');
      w.s32(m.applicationData, 'applicationData');
      // BranchReportRequestCodec writes the branch type last.
      writeEnum(w, BRANCH_TYPES, m.branchType, 'branchType');
    },
    (r) => ({
      typeCode: T.BRANCH_STATUS_REPORT,
      xid: r.s16('xid'),
      branchId: r.i64('branchId'),
      status: readEnum<BranchStatus>(r, BRANCH_STATUSES, 'status'),
      resourceId: r.s16('resourceId'),
      applicationData: r.s32('applicationData'),
      branchType: readEnum<BranchType>(r, BRANCH_TYPES, 'branchType'),
    }),
  ),
  [T.BRANCH_STATUS_REPORT_RESULT]: codec(
    (w, m: Extract<Message, { typeCode: 14 }>, ctx) => writeTxResult(w, m, ctx),
    (r, ctx, shortMsg) => {
      const resultCode = readResultCode(r);
      const msg = readFailureMsg(r, resultCode, shortMsg);
      return {
        typeCode: T.BRANCH_STATUS_REPORT_RESULT,
        resultCode,
        msg,
        exceptionCode: readExceptionCode(r, ctx),
      };
    },
  ),
  [T.GLOBAL_LOCK_QUERY]: codec(
    (w, m: Extract<Message, { typeCode: 21 }>) => writeBranchRegister(w, m),
    (r) => readBranchRegister(r, T.GLOBAL_LOCK_QUERY),
  ),
  [T.GLOBAL_LOCK_QUERY_RESULT]: codec(
    (w, m: Extract<Message, { typeCode: 22 }>, ctx) => {
      writeTxResult(w, m, ctx);
      w.i16(m.lockable ? 1 : 0);
    },
    (r, ctx, shortMsg) => {
      const resultCode = readResultCode(r);
      const msg = readFailureMsg(r, resultCode, shortMsg);
      return {
        typeCode: T.GLOBAL_LOCK_QUERY_RESULT,
        resultCode,
        msg,
        exceptionCode: readExceptionCode(r, ctx),
        lockable: r.i16('lockable') === 1,
      };
    },
  ),
  [T.REG_CLT]: codec(
    (w, m: Extract<Message, { typeCode: 101 }>) => writeIdentifyRequest(w, m),
    (r) => readIdentifyRequest(r, T.REG_CLT),
  ),
  [T.REG_RM]: codec(
    (w, m: Extract<Message, { typeCode: 103 }>) => {
      writeIdentifyRequest(w, m);
      w.s32(m.resourceIds, 'resourceIds');
    },
    (r) => {
      const { version, applicationId, transactionServiceGroup, extraData } = readIdentifyRequest(r, T.REG_RM);
      return {
        typeCode: T.REG_RM,
        version,
        applicationId,
        transactionServiceGroup,
        extraData,
        resourceIds: r.s32('resourceIds'),
      };
    },
  ),
  [T.REG_CLT_RESULT]: codec(
    (w, m: Extract<Message, { typeCode: 102 }>) => {
      w.u8(m.identified ? 1 : 0);
      w.s16(m.version, 'version');
    },
    (r) => ({ typeCode: T.REG_CLT_RESULT, identified: r.u8('identified') === 1, version: r.s16('version') }),
  ),
  [T.REG_RM_RESULT]: codec(
    (w, m: Extract<Message, { typeCode: 104 }>) => {
      w.u8(m.identified ? 1 : 0);
      w.s16(m.version, 'version');
    },
    (r) => ({ typeCode: T.REG_RM_RESULT, identified: r.u8('identified') === 1, version: r.s16('version') }),
  ),
  [T.RM_DELETE_UNDOLOG]: codec(
    (w, m: Extract<Message, { typeCode: 111 }>) => {
      writeEnum(w, BRANCH_TYPES, m.branchType, 'branchType');
      w.s16(m.resourceId, 'resourceId');
      w.i16(m.saveDays);
    },
    (r) => ({
      typeCode: T.RM_DELETE_UNDOLOG,
      branchType: readEnum<BranchType>(r, BRANCH_TYPES, 'branchType'),
      resourceId: r.s16('resourceId'),
      saveDays: r.i16('saveDays'),
    }),
  ),
  [T.SEATA_MERGE]: codec(
    (w, m: Extract<Message, { typeCode: 59 }>, ctx) => writeBatch(w, m.msgs, m.msgIds, ctx),
    (r, ctx) => {
      const { msgs, msgIds } = readBatch(r, ctx, 'optional');
      return { typeCode: T.SEATA_MERGE, msgs, msgIds };
    },
  ),
  [T.SEATA_MERGE_RESULT]: codec(
    (w, m: Extract<Message, { typeCode: 60 }>, ctx) => writeBatch(w, m.msgs, null, ctx),
    (r, ctx) => ({ typeCode: T.SEATA_MERGE_RESULT, msgs: readBatch(r, ctx, 'none').msgs }),
  ),
  [T.BATCH_RESULT_MSG]: codec(
    (w, m: Extract<Message, { typeCode: 121 }>, ctx) => {
      if (m.msgIds.length !== m.msgs.length) {
        throw new ProtocolError('INVALID_MESSAGE', 'BatchResultMessage needs one msgId per result', {
          msgs: m.msgs.length,
          msgIds: m.msgIds.length,
        });
      }
      writeBatch(w, m.msgs, m.msgIds, ctx);
    },
    (r, ctx) => {
      const { msgs, msgIds } = readBatch(r, ctx, 'required');
      return { typeCode: T.BATCH_RESULT_MSG, msgs, msgIds: msgIds ?? [] };
    },
  ),
};

/** Types whose failure message seata-go writes with a 1-byte length (seata-reference.md section 9). */
const SHORT_MSG_TOLERANT = new Set<number>([
  T.BRANCH_COMMIT_RESULT,
  T.BRANCH_ROLLBACK_RESULT,
  T.BRANCH_STATUS_REPORT_RESULT,
  T.GLOBAL_LOCK_QUERY_RESULT,
]);

const CONTAINERS = new Set<number>([T.SEATA_MERGE, T.SEATA_MERGE_RESULT, T.BATCH_RESULT_MSG]);

/**
 * MergedWarpMessage / MergeResultMessage / BatchResultMessage: int32 contentLength (bytes after
 * it, ids included), int16 count, count × (int16 typeCode + body), then count × int32 ids.
 */
function writeBatch(w: ByteWriter, msgs: SingleMessage[], msgIds: number[] | null, ctx: Ctx): void {
  if (msgs.length > 0x7fff) {
    throw new ProtocolError('INVALID_MESSAGE', `a batch holds at most 32767 messages, got ${msgs.length}`, {
      count: msgs.length,
    });
  }
  const at = w.offset;
  w.i32(0);
  w.i16(msgs.length);
  for (const m of msgs) {
    if (CONTAINERS.has(m.typeCode)) {
      throw new ProtocolError('UNEXPECTED_MESSAGE', 'a batch cannot contain another batch', {
        typeCode: m.typeCode,
      });
    }
    writeTyped(w, m, ctx);
  }
  if (msgIds) {
    if (msgIds.length !== msgs.length) {
      throw new ProtocolError('INVALID_MESSAGE', 'msgIds must match msgs one to one', {
        msgs: msgs.length,
        msgIds: msgIds.length,
      });
    }
    for (const id of msgIds) w.i32(id);
  }
  w.buf.writeInt32BE(w.offset - at - 4, at);
}

function readBatch(
  r: ByteReader,
  ctx: Ctx,
  ids: 'none' | 'optional' | 'required',
): { msgs: SingleMessage[]; msgIds: number[] | null } {
  const contentLength = r.i32('contentLength');
  if (contentLength < 2 || contentLength > r.remaining) {
    throw new ProtocolError(
      'BAD_LENGTH',
      `batch contentLength ${contentLength} does not fit the ${r.remaining} bytes left`,
      {
        contentLength,
        remaining: r.remaining,
      },
    );
  }
  const inner = new ByteReader(r.buf, r.offset, r.offset + contentLength);
  r.offset += contentLength;
  const count = inner.i16('count');
  if (count < 0) throw new ProtocolError('BAD_LENGTH', `batch count ${count} is negative`, { count });
  // Each message needs at least its 2-byte type code, so a count larger than that cannot be real.
  if (count * 2 > inner.remaining) {
    throw new ProtocolError('BAD_LENGTH', `batch count ${count} cannot fit in ${inner.remaining} bytes`, {
      count,
      remaining: inner.remaining,
    });
  }
  const msgs: SingleMessage[] = [];
  for (let i = 0; i < count; i++) {
    // Refuse a nested batch by its type code, before decoding it: decoding first would recurse
    // once per nesting level, and an 8 MiB frame holds a million levels (a stack overflow).
    const typeCode = inner.remaining >= 2 ? inner.buf.readInt16BE(inner.offset) : -1;
    if (CONTAINERS.has(typeCode)) {
      throw new ProtocolError('UNEXPECTED_MESSAGE', 'a batch cannot contain another batch', { typeCode });
    }
    msgs.push(readTyped(inner, ctx, false) as SingleMessage);
  }
  let msgIds: number[] | null = null;
  // MergedWarpMessageCodec reads the ids only when bytes remain (1.5.0+ peers write them).
  if (ids === 'required' || (ids === 'optional' && inner.remaining > 0)) {
    msgIds = [];
    for (let i = 0; i < count; i++) msgIds.push(inner.i32('msgId'));
  }
  return { msgs, msgIds };
}

function writeTyped(w: ByteWriter, m: Message, ctx: Ctx): void {
  const c = CODECS[m.typeCode];
  if (!c) {
    throw new ProtocolError('INVALID_MESSAGE', `no codec for type code ${String(m.typeCode)}`, {
      typeCode: m.typeCode,
    });
  }
  w.i16(m.typeCode);
  c.encode(w, m as never, ctx);
}

function readTyped(r: ByteReader, ctx: Ctx, shortMsg: boolean): Message {
  const typeCode = r.i16('typeCode');
  const c = CODECS[typeCode];
  if (!c) {
    throw new ProtocolError(
      'UNKNOWN_TYPE_CODE',
      `unknown message type code ${typeCode} (${nameOf(TypeCode, typeCode)})`,
      {
        typeCode,
      },
    );
  }
  return c.decode(r, ctx, shortMsg);
}

const TOP_READER = new ByteReader(Buffer.alloc(0));

/** Encodes `msg` as a "seata" body: int16 type code + fields. */
export function encodeBody(msg: Message, options: CodecOptions = {}): Buffer {
  const w = new ByteWriter(128);
  writeTyped(w, msg, ctxOf(options));
  return w.result();
}

/** Encodes into an existing writer (the frame encoder uses this to avoid a copy). */
export function encodeBodyInto(w: ByteWriter, msg: Message, options: CodecOptions = {}): void {
  writeTyped(w, msg, ctxOf(options));
}

/**
 * Decodes a whole "seata" body from `buf[start, end)`. For the four responses seata-go writes
 * with a 1-byte failure-message length, a Failed body that does not parse to exactly its length
 * with Java's int16 layout is read again with the int8 layout.
 */
export function decodeBody(buf: Buffer, options: CodecOptions = {}, start = 0, end = buf.length): Message {
  const ctx: Ctx = ctxOf(options);
  // Top-level decoding is never re-entered (a batch reads its contents with readers of its
  // own), so one reader serves every frame.
  const r = TOP_READER;
  r.reset(buf, start, end);
  if (end - start >= 3) {
    const typeCode = buf.readInt16BE(start);
    if (SHORT_MSG_TOLERANT.has(typeCode) && buf[start + 2] === ResultCode.Failed) {
      try {
        const m = readTyped(r, ctx, false);
        if (r.remaining === 0) return m;
      } catch (err) {
        if (!(err instanceof ProtocolError)) throw err;
      }
      const go = new ByteReader(buf, start, end);
      const m = readTyped(go, ctx, true);
      if (go.remaining !== 0) {
        throw new ProtocolError(
          'BAD_LENGTH',
          'failed response fits neither the int16 nor the int8 message layout',
          {
            typeCode,
            trailing: go.remaining,
          },
        );
      }
      return m;
    }
  }
  return readTyped(r, ctx, false);
}
