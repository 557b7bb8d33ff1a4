/**
 * Wire constants of Seata RPC protocol v1 (ProtocolConstants, MessageType, SerializerType,
 * CompressorType, BranchType, BranchStatus, GlobalStatus, ResultCode in Seata's core module).
 * Each value is named once here; everything else refers to these names.
 */

/** The two magic bytes every v1 frame starts with. */
export const MAGIC = 0xdada;
/** Protocol version byte written by v1 peers. */
export const PROTOCOL_VERSION = 1;
/** Bytes before the head map: magic 2, version 1, full length 4, head length 2, type 1, codec 1, compressor 1, id 4. */
export const V1_HEAD_LENGTH = 16;
/** Largest full frame length a peer accepts (ProtocolConstants.MAX_FRAME_LENGTH). */
export const MAX_FRAME_LENGTH = 8 * 1024 * 1024;

/** The frame's messageType byte: what kind of exchange the frame belongs to. */
export const FrameType = {
  /** MSGTYPE_RESQUEST_SYNC (sic in Seata): a request that expects a response. */
  REQUEST_SYNC: 0,
  RESPONSE: 1,
  /** Fire and forget; also used for MergedWarpMessage batches, which the TC still answers. */
  REQUEST_ONEWAY: 2,
  HEARTBEAT_REQUEST: 3,
  HEARTBEAT_RESPONSE: 4,
} as const;
export type FrameType = (typeof FrameType)[keyof typeof FrameType];

/** The serializer byte. Only SEATA is implemented; the others are named for clear errors. */
export const Codec = {
  SEATA: 0x01,
  PROTOBUF: 0x02,
  KRYO: 0x04,
  FST: 0x08,
  /** 0x16 = 22: Seata's "power of two" literal, but this really is the byte on the wire. */
  HESSIAN: 0x16,
  /** 0x32 = 50, Seata 2.x. */
  JACKSON: 0x32,
} as const;
export type Codec = (typeof Codec)[keyof typeof Codec];

/** The compressor byte (CompressorType). Only the body is compressed, never the head map. */
export const Compressor = {
  NONE: 0,
  GZIP: 1,
  /** A ZIP archive with one deflated entry named "zip" (Seata's ZipUtil, java.util.zip.ZipOutputStream). */
  ZIP: 2,
  SEVENZ: 3,
  BZIP2: 4,
  LZ4: 5,
  /** java.util.zip.Deflater output: a zlib-wrapped deflate stream (Seata's DeflaterUtil). */
  DEFLATER: 6,
  ZSTD: 7,
} as const;
export type Compressor = (typeof Compressor)[keyof typeof Compressor];

/** The int16 type code that starts every "seata" codec body (MessageType). */
export const TypeCode = {
  GLOBAL_BEGIN: 1,
  GLOBAL_BEGIN_RESULT: 2,
  BRANCH_COMMIT: 3,
  BRANCH_COMMIT_RESULT: 4,
  BRANCH_ROLLBACK: 5,
  BRANCH_ROLLBACK_RESULT: 6,
  GLOBAL_COMMIT: 7,
  GLOBAL_COMMIT_RESULT: 8,
  GLOBAL_ROLLBACK: 9,
  GLOBAL_ROLLBACK_RESULT: 10,
  BRANCH_REGISTER: 11,
  BRANCH_REGISTER_RESULT: 12,
  BRANCH_STATUS_REPORT: 13,
  BRANCH_STATUS_REPORT_RESULT: 14,
  GLOBAL_STATUS: 15,
  GLOBAL_STATUS_RESULT: 16,
  GLOBAL_REPORT: 17,
  GLOBAL_REPORT_RESULT: 18,
  GLOBAL_LOCK_QUERY: 21,
  GLOBAL_LOCK_QUERY_RESULT: 22,
  SEATA_MERGE: 59,
  SEATA_MERGE_RESULT: 60,
  REG_CLT: 101,
  REG_CLT_RESULT: 102,
  REG_RM: 103,
  REG_RM_RESULT: 104,
  RM_DELETE_UNDOLOG: 111,
  /** Only used for in-process dispatch in Java; a v1 heartbeat frame has no body. */
  HEARTBEAT_MSG: 120,
  BATCH_RESULT_MSG: 121,
} as const;
export type TypeCode = (typeof TypeCode)[keyof typeof TypeCode];

/** BranchType is written as its ordinal. */
export const BranchType = {
  AT: 0,
  TCC: 1,
  SAGA: 2,
  XA: 3,
} as const;
export type BranchType = (typeof BranchType)[keyof typeof BranchType];

/** BranchStatus is written as its code. */
export const BranchStatus = {
  Unknown: 0,
  Registered: 1,
  PhaseOne_Done: 2,
  PhaseOne_Failed: 3,
  PhaseOne_Timeout: 4,
  PhaseTwo_Committed: 5,
  PhaseTwo_CommitFailed_Retryable: 6,
  PhaseTwo_CommitFailed_Unretryable: 7,
  PhaseTwo_Rollbacked: 8,
  PhaseTwo_RollbackFailed_Retryable: 9,
  PhaseTwo_RollbackFailed_Unretryable: 10,
  PhaseTwo_CommitFailed_XAER_NOTA_Retryable: 11,
  PhaseTwo_RollbackFailed_XAER_NOTA_Retryable: 12,
  /** Seata 2.x only. */
  PhaseOne_RDONLY: 13,
} as const;
export type BranchStatus = (typeof BranchStatus)[keyof typeof BranchStatus];

/** GlobalStatus is written as its code. */
export const GlobalStatus = {
  UnKnown: 0,
  Begin: 1,
  Committing: 2,
  CommitRetrying: 3,
  Rollbacking: 4,
  RollbackRetrying: 5,
  TimeoutRollbacking: 6,
  TimeoutRollbackRetrying: 7,
  AsyncCommitting: 8,
  Committed: 9,
  CommitFailed: 10,
  Rollbacked: 11,
  RollbackFailed: 12,
  TimeoutRollbacked: 13,
  TimeoutRollbackFailed: 14,
  Finished: 15,
  CommitRetryTimeout: 16,
  RollbackRetryTimeout: 17,
} as const;
export type GlobalStatus = (typeof GlobalStatus)[keyof typeof GlobalStatus];

/** ResultCode is an ordinal: Failed is 0, not 1. */
export const ResultCode = {
  Failed: 0,
  Success: 1,
} as const;
export type ResultCode = (typeof ResultCode)[keyof typeof ResultCode];

/** Reverse lookup helper: the name of a value in one of the tables above, for messages. */
export function nameOf(table: Record<string, number>, value: number): string {
  for (const key in table) if (table[key] === value) return key;
  return `#${value}`;
}

const memberSets = new WeakMap<Record<string, number>, ReadonlySet<number>>();

/** The set of a table's values; hot paths keep it in a constant instead of calling isMember. */
export function memberSet(table: Record<string, number>): ReadonlySet<number> {
  let set = memberSets.get(table);
  if (set === undefined) {
    set = new Set(Object.values(table));
    memberSets.set(table, set);
  }
  return set;
}

/** True when `value` is one of the table's values. */
export function isMember(table: Record<string, number>, value: number): boolean {
  return memberSet(table).has(value);
}
