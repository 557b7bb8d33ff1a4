/**
 * Typed messages of the "seata" body codec. Each has a `typeCode` discriminant (its int16 wire
 * code) and its fields in Seata's names. Branch and transaction ids are bigint; strings that
 * Seata may leave null are `string | null`.
 */
import type { BranchStatus, BranchType, GlobalStatus, ResultCode, TypeCode } from './constants.js';
import type { TransactionExceptionCode } from './exception-code.js';

/** The result prefix every transaction response starts with. */
export interface TransactionResult {
  resultCode: ResultCode;
  /** Only on the wire when resultCode is Failed. */
  msg: string | null;
  exceptionCode: TransactionExceptionCode;
}

/** TM -> TC: open a global transaction. */
export interface GlobalBeginRequest {
  typeCode: typeof TypeCode.GLOBAL_BEGIN;
  /** Milliseconds. */
  timeout: number;
  transactionName: string | null;
}
/** TC -> TM. */
export interface GlobalBeginResponse extends TransactionResult {
  typeCode: typeof TypeCode.GLOBAL_BEGIN_RESULT;
  xid: string | null;
  extraData: string | null;
}

/** The shape shared by global commit, rollback and status requests (AbstractGlobalEndRequest). */
export interface GlobalEndRequestFields {
  xid: string | null;
  extraData: string | null;
}
/** TM -> TC. */
export interface GlobalCommitRequest extends GlobalEndRequestFields {
  typeCode: typeof TypeCode.GLOBAL_COMMIT;
}
/** TM -> TC. */
export interface GlobalRollbackRequest extends GlobalEndRequestFields {
  typeCode: typeof TypeCode.GLOBAL_ROLLBACK;
}
/** TM -> TC. */
export interface GlobalStatusRequest extends GlobalEndRequestFields {
  typeCode: typeof TypeCode.GLOBAL_STATUS;
}
/** TM (saga) -> TC: report a global status decided by the caller. */
export interface GlobalReportRequest extends GlobalEndRequestFields {
  typeCode: typeof TypeCode.GLOBAL_REPORT;
  /** Written as -1 when null. */
  globalStatus: GlobalStatus | null;
}

/** The shape shared by the four global end responses. */
export interface GlobalEndResponseFields extends TransactionResult {
  globalStatus: GlobalStatus;
}
/** TC -> TM. */
export interface GlobalCommitResponse extends GlobalEndResponseFields {
  typeCode: typeof TypeCode.GLOBAL_COMMIT_RESULT;
}
/** TC -> TM. */
export interface GlobalRollbackResponse extends GlobalEndResponseFields {
  typeCode: typeof TypeCode.GLOBAL_ROLLBACK_RESULT;
}
/** TC -> TM. */
export interface GlobalStatusResponse extends GlobalEndResponseFields {
  typeCode: typeof TypeCode.GLOBAL_STATUS_RESULT;
}
/** TC -> TM. */
export interface GlobalReportResponse extends GlobalEndResponseFields {
  typeCode: typeof TypeCode.GLOBAL_REPORT_RESULT;
}

/** The fields shared by branch register and global lock query. */
export interface BranchRegisterFields {
  xid: string | null;
  branchType: BranchType;
  resourceId: string | null;
  /** AT row locks: `table:pk1,pk2;table2:pk`. */
  lockKey: string | null;
  applicationData: string | null;
}
/** RM -> TC. */
export interface BranchRegisterRequest extends BranchRegisterFields {
  typeCode: typeof TypeCode.BRANCH_REGISTER;
}
/** TC -> RM. */
export interface BranchRegisterResponse extends TransactionResult {
  typeCode: typeof TypeCode.BRANCH_REGISTER_RESULT;
  branchId: bigint;
}

/** RM -> TC: a branch's phase-one outcome, or new applicationData. */
export interface BranchReportRequest {
  typeCode: typeof TypeCode.BRANCH_STATUS_REPORT;
  xid: string | null;
  branchId: bigint;
  status: BranchStatus;
  resourceId: string | null;
  applicationData: string | null;
  branchType: BranchType;
}
/** TC -> RM. */
export interface BranchReportResponse extends TransactionResult {
  typeCode: typeof TypeCode.BRANCH_STATUS_REPORT_RESULT;
}

/** RM -> TC: may these rows be locked? Same layout as BranchRegisterRequest. */
export interface GlobalLockQueryRequest extends BranchRegisterFields {
  typeCode: typeof TypeCode.GLOBAL_LOCK_QUERY;
}
/** TC -> RM. `lockable` is an int16 on the wire. */
export interface GlobalLockQueryResponse extends TransactionResult {
  typeCode: typeof TypeCode.GLOBAL_LOCK_QUERY_RESULT;
  lockable: boolean;
}

/** The fields shared by branch commit and rollback requests (AbstractBranchEndRequest). */
export interface BranchEndRequestFields {
  xid: string | null;
  branchId: bigint;
  branchType: BranchType;
  resourceId: string | null;
  applicationData: string | null;
}
/** TC -> RM: phase two, commit. */
export interface BranchCommitRequest extends BranchEndRequestFields {
  typeCode: typeof TypeCode.BRANCH_COMMIT;
}
/** TC -> RM: phase two, rollback. */
export interface BranchRollbackRequest extends BranchEndRequestFields {
  typeCode: typeof TypeCode.BRANCH_ROLLBACK;
}
/** The fields shared by branch commit and rollback responses. */
export interface BranchEndResponseFields extends TransactionResult {
  xid: string | null;
  branchId: bigint;
  branchStatus: BranchStatus;
}
/** RM -> TC. */
export interface BranchCommitResponse extends BranchEndResponseFields {
  typeCode: typeof TypeCode.BRANCH_COMMIT_RESULT;
}
/** RM -> TC. */
export interface BranchRollbackResponse extends BranchEndResponseFields {
  typeCode: typeof TypeCode.BRANCH_ROLLBACK_RESULT;
}

/** The fields shared by the two registration requests (AbstractIdentifyRequest). */
export interface IdentifyRequestFields {
  version: string | null;
  applicationId: string | null;
  transactionServiceGroup: string | null;
  /** `k=v\n` pairs: vgroup, ip, and the optional ak/digest/timestamp/authVersion. */
  extraData: string | null;
}
/** TM -> TC. */
export interface RegisterTMRequest extends IdentifyRequestFields {
  typeCode: typeof TypeCode.REG_CLT;
}
/** RM -> TC. */
export interface RegisterRMRequest extends IdentifyRequestFields {
  typeCode: typeof TypeCode.REG_RM;
  /** Comma-joined resource ids. */
  resourceIds: string | null;
}
/** The fields of a registration response: no result code on the wire. */
export interface IdentifyResponseFields {
  identified: boolean;
  version: string | null;
}
/** TC -> TM. */
export interface RegisterTMResponse extends IdentifyResponseFields {
  typeCode: typeof TypeCode.REG_CLT_RESULT;
}
/** TC -> RM. */
export interface RegisterRMResponse extends IdentifyResponseFields {
  typeCode: typeof TypeCode.REG_RM_RESULT;
}

/** TC -> RM, one-way: delete undo logs older than saveDays. */
export interface UndoLogDeleteRequest {
  typeCode: typeof TypeCode.RM_DELETE_UNDOLOG;
  branchType: BranchType;
  resourceId: string | null;
  saveDays: number;
}

/** Client -> TC: several requests in one frame. msgIds is absent before Seata 1.5.0. */
export interface MergedWarpMessage {
  typeCode: typeof TypeCode.SEATA_MERGE;
  msgs: SingleMessage[];
  msgIds: number[] | null;
}
/** TC -> client: results of a MergedWarpMessage, in the same order. */
export interface MergeResultMessage {
  typeCode: typeof TypeCode.SEATA_MERGE_RESULT;
  msgs: SingleMessage[];
}
/** TC -> client (peers at 1.5.0+): results with their request ids, possibly split over frames. */
export interface BatchResultMessage {
  typeCode: typeof TypeCode.BATCH_RESULT_MSG;
  msgs: SingleMessage[];
  msgIds: number[];
}

/** Requests a client sends to a TC. */
export type TcRequest =
  | GlobalBeginRequest
  | GlobalCommitRequest
  | GlobalRollbackRequest
  | GlobalStatusRequest
  | GlobalReportRequest
  | BranchRegisterRequest
  | BranchReportRequest
  | GlobalLockQueryRequest;

/** Responses a TC returns to client requests. */
export type TcResponse =
  | GlobalBeginResponse
  | GlobalCommitResponse
  | GlobalRollbackResponse
  | GlobalStatusResponse
  | GlobalReportResponse
  | BranchRegisterResponse
  | BranchReportResponse
  | GlobalLockQueryResponse;

/** Every message that is not a batch container. */
export type SingleMessage =
  | TcRequest
  | TcResponse
  | BranchCommitRequest
  | BranchRollbackRequest
  | BranchCommitResponse
  | BranchRollbackResponse
  | RegisterTMRequest
  | RegisterTMResponse
  | RegisterRMRequest
  | RegisterRMResponse
  | UndoLogDeleteRequest;

/** Every message the codec can carry. */
export type Message = SingleMessage | MergedWarpMessage | MergeResultMessage | BatchResultMessage;

/** The message with type code `T`. */
export type MessageOf<T extends TypeCode> = Extract<Message, { typeCode: T }>;
