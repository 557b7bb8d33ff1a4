/**
 * TransactionExceptionCode travels as an ordinal, and the ordinals from 19 on differ between
 * Seata 1.x (and seata-go) and Seata 2.x. dtx keeps the code as its name in memory and maps it
 * to the peer's numbering at the edge.
 */

/** The code names of Seata's TransactionExceptionCode, 2.x spelling. */
export type TransactionExceptionCode =
  | 'Unknown'
  | 'BeginFailed'
  | 'LockKeyConflict'
  | 'IO'
  | 'BranchRollbackFailed_Retriable'
  | 'BranchRollbackFailed_Unretriable'
  | 'BranchRegisterFailed'
  | 'BranchReportFailed'
  | 'LockableCheckFailed'
  | 'BranchTransactionNotExist'
  | 'GlobalTransactionNotExist'
  | 'GlobalTransactionNotActive'
  | 'GlobalTransactionStatusInvalid'
  | 'FailedToSendBranchCommitRequest'
  | 'FailedToSendBranchRollbackRequest'
  | 'FailedToAddBranch'
  | 'FailedLockGlobalTranscation'
  | 'FailedWriteSession'
  | 'FailedStore'
  | 'NotRaftLeader'
  | 'LockKeyConflictFailFast'
  | 'TransactionTimeout'
  | 'CommitHeuristic'
  | 'Broken';

/** Which numbering a peer uses: 'v1' for Seata 1.x and seata-go, 'v2' for Seata 2.x. */
export type ExceptionCodeDialect = 'v1' | 'v2';

const COMMON: readonly TransactionExceptionCode[] = [
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

/** Ordinal tables per dialect (index = wire byte). */
export const EXCEPTION_CODE_ORDINALS: Readonly<
  Record<ExceptionCodeDialect, readonly TransactionExceptionCode[]>
> = {
  // Seata 1.8.0 and seata-go: no NotRaftLeader, everything after it one lower.
  v1: [...COMMON, 'LockKeyConflictFailFast', 'TransactionTimeout', 'CommitHeuristic', 'Broken'],
  // Seata 2.x inserted NotRaftLeader at 19.
  v2: [
    ...COMMON,
    'NotRaftLeader',
    'LockKeyConflictFailFast',
    'TransactionTimeout',
    'CommitHeuristic',
    'Broken',
  ],
};

/** The wire byte of `code` for a peer speaking `dialect`. Codes the dialect lacks become Unknown (0). */
export function exceptionCodeToWire(code: TransactionExceptionCode, dialect: ExceptionCodeDialect): number {
  const index = EXCEPTION_CODE_ORDINALS[dialect].indexOf(code);
  return Math.max(index, 0);
}

/** The code a peer speaking `dialect` meant by wire byte `ordinal`; out-of-range bytes read as Unknown. */
export function exceptionCodeFromWire(
  ordinal: number,
  dialect: ExceptionCodeDialect,
): TransactionExceptionCode {
  return EXCEPTION_CODE_ORDINALS[dialect][ordinal] ?? 'Unknown';
}

/**
 * The dialect of a peer from the version string it registered with: below 2.0.0 is 'v1'.
 * seata-go registers as 1.1.0 / 1.5.2 and follows the 1.x numbering.
 */
export function dialectForVersion(version: string | null | undefined): ExceptionCodeDialect {
  if (!version) return 'v2';
  const major = Number.parseInt(version, 10);
  return Number.isFinite(major) && major < 2 ? 'v1' : 'v2';
}

/** True when `version` is at least `minimum`, comparing dotted numeric parts (Seata's Version.isAboveOrEqualVersion). */
export function isVersionAtLeast(version: string | null | undefined, minimum: string): boolean {
  if (!version) return false;
  const a = version.split(/[.-]/).map((p) => Number.parseInt(p, 10));
  const b = minimum.split('.').map((p) => Number.parseInt(p, 10));
  for (let i = 0; i < b.length; i++) {
    const x = Number.isFinite(a[i]) ? (a[i] as number) : 0;
    const y = b[i] as number;
    if (x !== y) return x > y;
  }
  return true;
}
