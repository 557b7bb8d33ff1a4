/**
 * The TC's view of one global transaction and its branches (Seata's GlobalSession and
 * BranchSession). Plain data plus the status predicates the coordinator and recovery use.
 */
import { BranchType, GlobalStatus } from '@dtx/protocol';

/** One branch: a participant's part of a global transaction. */
export interface BranchSession {
  branchId: bigint;
  xid: string;
  transactionId: bigint;
  resourceGroupId: string | null;
  resourceId: string;
  branchType: BranchType;
  status: number;
  /** `applicationId:ip:port` of the RM that registered it. */
  clientId: string;
  applicationData: string | null;
  /** AT row locks, `table:pk1,pk2;table2:pk`. */
  lockKey: string | null;
  /** ms since the epoch. */
  beginTime: number;
}

/** One global transaction. */
export interface GlobalSession {
  xid: string;
  transactionId: bigint;
  status: number;
  applicationId: string | null;
  transactionServiceGroup: string | null;
  transactionName: string | null;
  /** ms. */
  timeout: number;
  /** ms since the epoch. */
  beginTime: number;
  applicationData: string | null;
  /** False once closed to new branches (at commit, rollback or timeout). */
  active: boolean;
  /** In registration order. */
  branches: BranchSession[];
}

const S = GlobalStatus;

/** Statuses after which nothing more happens to a transaction (GlobalStatus end states). */
export function isEndStatus(status: number): boolean {
  return (
    status === S.Committed ||
    status === S.CommitFailed ||
    status === S.Rollbacked ||
    status === S.RollbackFailed ||
    status === S.TimeoutRollbacked ||
    status === S.TimeoutRollbackFailed ||
    status === S.Finished ||
    status === S.CommitRetryTimeout ||
    status === S.RollbackRetryTimeout
  );
}

/** Statuses that the rollback retry loop drives. */
export function isRollbackingStatus(status: number): boolean {
  return (
    status === S.Rollbacking ||
    status === S.RollbackRetrying ||
    status === S.TimeoutRollbacking ||
    status === S.TimeoutRollbackRetrying
  );
}

/** Statuses that the commit retry loop drives. */
export function isCommittingStatus(status: number): boolean {
  return status === S.Committing || status === S.CommitRetrying;
}

/** True when the session was begun more than its timeout ago. */
export function isTimedOut(g: GlobalSession, now: number): boolean {
  return now - g.beginTime > g.timeout;
}

/**
 * Seata's canBeCommittedAsync: every branch is AT, or failed in phase one, so phase two needs
 * no answer from the participants before the TM is told Committed.
 */
export function canBeCommittedAsync(g: GlobalSession): boolean {
  if (g.branches.length === 0) return false;
  return g.branches.every((b) => b.branchType === BranchType.AT || b.status === 3 /* PhaseOne_Failed */);
}

/** Saga transactions are recognised by their first branch, or by the `$Saga_` name prefix (SagaCore). */
export function isSaga(g: GlobalSession): boolean {
  return g.branches[0]?.branchType === BranchType.SAGA || (g.transactionName?.startsWith('$Saga_') ?? false);
}
