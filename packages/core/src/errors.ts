/**
 * dtx's errors: one class per failure kind, each with a fixed `name`, a stable `code`, an
 * optional `cause` and `details`. Transaction failures carry Seata's TransactionExceptionCode
 * names as their code, so a TC response and a local failure read alike. Every code is listed in
 * `ErrorCode` below and in docs/errors.md (a test keeps the two in step).
 */
import type { BranchStatus, GlobalStatus, TransactionExceptionCode } from '@dtx/protocol';

/** Every code a DtxError can carry, with what it means. Documented in docs/errors.md. */
export const ErrorCode = {
  // Seata's TransactionExceptionCode (J-core/exception/TransactionExceptionCode.java), by name.
  // On the wire these are ordinals whose numbering differs between Seata 1.x and 2.x; see
  // exceptionCodeToWire in @dtx/protocol.
  /** The TC or RM failed for a reason it did not classify. */
  Unknown: 'Unknown',
  /** The TC could not begin a global transaction. */
  BeginFailed: 'BeginFailed',
  /** An AT branch wants a row lock another global transaction holds. */
  LockKeyConflict: 'LockKeyConflict',
  /** An I/O failure while the TC handled the request. */
  IO: 'IO',
  /** A branch rollback failed and may succeed when retried. */
  BranchRollbackFailed_Retriable: 'BranchRollbackFailed_Retriable',
  /** A branch rollback failed and retrying will not help. */
  BranchRollbackFailed_Unretriable: 'BranchRollbackFailed_Unretriable',
  /** The TC refused or failed to register a branch. */
  BranchRegisterFailed: 'BranchRegisterFailed',
  /** The TC failed to record a branch status report. */
  BranchReportFailed: 'BranchReportFailed',
  /** A global lock query (GlobalLockQuery, `@GlobalLock`) failed. */
  LockableCheckFailed: 'LockableCheckFailed',
  /** The branch id is not known to the TC. */
  BranchTransactionNotExist: 'BranchTransactionNotExist',
  /** The XID is not known to the TC (already finished, or never begun there). */
  GlobalTransactionNotExist: 'GlobalTransactionNotExist',
  /** The global transaction is closed: no more branches may join it. */
  GlobalTransactionNotActive: 'GlobalTransactionNotActive',
  /** The global transaction is not in a status that allows the request (branch register outside Begin). */
  GlobalTransactionStatusInvalid: 'GlobalTransactionStatusInvalid',
  /** The TC could not send BranchCommit to the RM holding the branch. */
  FailedToSendBranchCommitRequest: 'FailedToSendBranchCommitRequest',
  /** The TC could not send BranchRollback to the RM holding the branch. */
  FailedToSendBranchRollbackRequest: 'FailedToSendBranchRollbackRequest',
  /** The TC could not add the branch to the global session (applicationData too large, say). */
  FailedToAddBranch: 'FailedToAddBranch',
  /** The TC could not take the global session's lock. Seata spells the name with this typo. */
  FailedLockGlobalTranscation: 'FailedLockGlobalTranscation',
  /** The TC could not write the session to its store. */
  FailedWriteSession: 'FailedWriteSession',
  /** The TC's store failed. */
  FailedStore: 'FailedStore',
  /** The TC is a Raft follower; send the request to the leader (Seata 2.x). */
  NotRaftLeader: 'NotRaftLeader',
  /** A row lock conflict reported at once, without waiting for the lock (Seata's fail-fast lock retry). */
  LockKeyConflictFailFast: 'LockKeyConflictFailFast',
  /** The global transaction passed its timeout and is being rolled back. */
  TransactionTimeout: 'TransactionTimeout',
  /** Commit outcome is heuristic: some branches may not have committed. */
  CommitHeuristic: 'CommitHeuristic',
  /** The global transaction is in a broken state and needs manual attention. */
  Broken: 'Broken',

  // dtx's own codes.
  /** A configuration value or option is missing, unknown or invalid; `key` names it. */
  CONFIG_INVALID: 'CONFIG_INVALID',
  /** A request, dial or operation did not finish in time. */
  TIMEOUT: 'TIMEOUT',
  /** The connection closed while a request was outstanding or being written. */
  CONNECTION_CLOSED: 'CONNECTION_CLOSED',
  /** The peer refused the connection. */
  CONNECTION_REFUSED: 'CONNECTION_REFUSED',
  /** A client dialled its own listening address (a socket connected to itself). */
  SELF_CONNECT: 'SELF_CONNECT',
  /** No registered connection to any TC (or to the RM) is available for the request. */
  NOT_CONNECTED: 'NOT_CONNECTED',
  /** The TCP dial did not complete in time. */
  DIAL_TIMEOUT: 'DIAL_TIMEOUT',
  /** Too much is queued for the peer; the request was refused instead of buffered. */
  BACK_PRESSURE: 'BACK_PRESSURE',
  /** A configured limit (pending requests, sessions, payload size) would be exceeded. */
  LIMIT_EXCEEDED: 'LIMIT_EXCEEDED',
  /** An XID is not `ip:port:transactionId`. */
  INVALID_XID: 'INVALID_XID',
  /** TCC fence: a confirm arrived for a branch whose try never ran (an empty commit); refused. */
  FENCE_EMPTY_COMMIT: 'FENCE_EMPTY_COMMIT',
  /** TCC fence: a try arrived after its cancel (a hanging try) or a second time; refused. */
  FENCE_TRY_REFUSED: 'FENCE_TRY_REFUSED',
} as const;
/** One of the codes in `ErrorCode`. */
export type ErrorCode = (typeof ErrorCode)[keyof typeof ErrorCode];

/** The codes a ConnectionError can carry. */
export type ConnectionErrorCode =
  | 'CONNECTION_CLOSED'
  | 'CONNECTION_REFUSED'
  | 'SELF_CONNECT'
  | 'NOT_CONNECTED'
  | 'DIAL_TIMEOUT';

/** Options every DtxError accepts. */
export interface DtxErrorOptions {
  /** The error that led to this one (`Error.cause`). */
  cause?: unknown;
  /** Values that explain the failure (the offending value, an address, a limit). */
  details?: Record<string, unknown>;
}

/**
 * The base of every dtx error. `message` starts with the code, so a log line that prints only
 * the message still says which failure it was.
 */
export class DtxError extends Error {
  override readonly name: string = 'DtxError';
  /** A stable code from `ErrorCode` (or ProtocolErrorCode for errors wrapping a ProtocolError). */
  readonly code: string;
  /** Values that explain the failure, if any. */
  readonly details: Readonly<Record<string, unknown>> | undefined;

  constructor(code: string, message: string, options: DtxErrorOptions = {}) {
    super(`${code}: ${message}`, options.cause === undefined ? undefined : { cause: options.cause });
    this.code = code;
    this.details = options.details;
  }
}

/** Options of a TransactionError: the statuses the transaction or branch was in, where known. */
export interface TransactionErrorOptions extends DtxErrorOptions {
  /** The global transaction's status when the failure happened. */
  globalStatus?: GlobalStatus;
  /** The branch's status when the failure happened. */
  branchStatus?: BranchStatus;
}

/**
 * A global or branch transaction operation failed. Mirrors Seata's TransactionException: `code`
 * is the TransactionExceptionCode name, whichever dialect the peer numbered it in.
 */
export class TransactionError extends DtxError {
  override readonly name: string = 'TransactionError';
  declare readonly code: TransactionExceptionCode;
  /** The global transaction's status when the failure happened, if known. */
  readonly globalStatus: GlobalStatus | undefined;
  /** The branch's status when the failure happened, if known. */
  readonly branchStatus: BranchStatus | undefined;

  constructor(code: TransactionExceptionCode, message: string, options: TransactionErrorOptions = {}) {
    super(code, message, options);
    this.globalStatus = options.globalStatus;
    this.branchStatus = options.branchStatus;
  }
}

/**
 * A configuration value or option is missing, unknown or invalid. `key` is the dotted path of
 * the offending key (`service.vgroupMapping.my_group`, `remoting.heartbeatMs`); the message
 * always names it.
 */
export class ConfigError extends DtxError {
  override readonly name: string = 'ConfigError';
  declare readonly code: 'CONFIG_INVALID';
  /** The dotted key path at fault. */
  readonly key: string;

  constructor(key: string, message: string, options: DtxErrorOptions = {}) {
    super(ErrorCode.CONFIG_INVALID, message.includes(key) ? message : `${key}: ${message}`, options);
    this.key = key;
  }
}

/** A request, dial or other operation did not finish in time. */
export class TimeoutError extends DtxError {
  override readonly name: string = 'TimeoutError';
  declare readonly code: 'TIMEOUT';
  /** How long was waited, in ms, if known. */
  readonly timeoutMs: number | undefined;

  constructor(message: string, options: DtxErrorOptions & { timeoutMs?: number } = {}) {
    super(ErrorCode.TIMEOUT, message, options);
    this.timeoutMs = options.timeoutMs;
  }
}

/** A connection could not be made, was lost, or is missing. */
export class ConnectionError extends DtxError {
  override readonly name: string = 'ConnectionError';
  declare readonly code: ConnectionErrorCode;

  constructor(code: ConnectionErrorCode, message: string, options: DtxErrorOptions = {}) {
    super(code, message, options);
  }
}

/** Too much is queued for a peer; the request was refused rather than buffered without bound. */
export class BackPressureError extends DtxError {
  override readonly name: string = 'BackPressureError';
  declare readonly code: 'BACK_PRESSURE';

  constructor(message: string, options: DtxErrorOptions = {}) {
    super(ErrorCode.BACK_PRESSURE, message, options);
  }
}

/** A configured limit would be exceeded. `limit` names it and `value` is its configured value. */
export class LimitError extends DtxError {
  override readonly name: string = 'LimitError';
  declare readonly code: 'LIMIT_EXCEEDED';
  /** The limit's name, as its option or config key (`server.applicationDataLimit`). */
  readonly limit: string;
  /** The limit's configured value. */
  readonly value: number;

  constructor(limit: string, value: number, message?: string, options: DtxErrorOptions = {}) {
    super(ErrorCode.LIMIT_EXCEEDED, message ?? `${limit} (${value}) exceeded`, options);
    this.limit = limit;
    this.value = value;
  }
}

/** A string that should be an XID (`ip:port:transactionId`) is not one. */
export class XidError extends DtxError {
  override readonly name: string = 'XidError';
  declare readonly code: 'INVALID_XID';
  /** The malformed XID. */
  readonly xid: string;

  constructor(xid: string, message: string, options: DtxErrorOptions = {}) {
    super(ErrorCode.INVALID_XID, message, options);
    this.xid = xid;
  }
}

/** The codes a FenceError can carry. */
export type FenceErrorCode = 'FENCE_EMPTY_COMMIT' | 'FENCE_TRY_REFUSED';

/**
 * The TCC fence refused a call that would break the protocol: a confirm with no try (empty
 * commit), or a try after its cancel or a repeated try (hanging). `xid`, `branchId` and
 * `actionName` name the branch.
 */
export class FenceError extends DtxError {
  override readonly name: string = 'FenceError';
  declare readonly code: FenceErrorCode;
  readonly xid: string;
  readonly branchId: bigint;
  readonly actionName: string;

  constructor(
    code: FenceErrorCode,
    branch: { xid: string; branchId: bigint; actionName: string },
    message: string,
    options: DtxErrorOptions = {},
  ) {
    super(code, message, options);
    this.xid = branch.xid;
    this.branchId = branch.branchId;
    this.actionName = branch.actionName;
  }
}
