/**
 * The global row-lock table of AT mode: acquired when a branch registers, released when its
 * phase two ends. Locks held by the same global transaction never conflict with each other.
 */
import type { BranchSession, GlobalSession } from '../session/global-session.js';
import { collectRowLocks, type RowLock } from './row-lock.js';

/** Where row locks live: process memory for the file store, lock_table or Redis for shared stores. */
export interface LockManager {
  /** Takes every row of the branch, or none: false when another transaction holds one of them. */
  acquire(branch: BranchSession): Promise<boolean>;
  /** Releases the branch's rows. */
  release(branch: BranchSession): Promise<void>;
  /** Releases every row of the transaction. */
  releaseGlobal(global: GlobalSession): Promise<void>;
  /** True when none of the rows is held by a transaction other than `xid` (null: any). */
  isLockable(xid: string | null, resourceId: string, lockKey: string): Promise<boolean>;
}

/** Row locks in process memory, rebuilt from the branches' lockKeys when a file store reopens. */
export class MemoryLockManager implements LockManager {
  private readonly rows = new Map<string, RowLock>();

  /** Locks held now. */
  get size(): number {
    return this.rows.size;
  }

  async acquire(branch: BranchSession): Promise<boolean> {
    return this.acquireSync(branch);
  }

  /** Synchronous acquire (used when rebuilding after a restart). */
  acquireSync(branch: BranchSession): boolean {
    const wanted = collectRowLocks(
      branch.lockKey,
      branch.resourceId,
      branch.xid,
      branch.transactionId,
      branch.branchId,
    );
    for (const row of wanted) {
      const held = this.rows.get(row.rowKey);
      if (held && held.xid !== branch.xid) return false;
    }
    for (const row of wanted) if (!this.rows.has(row.rowKey)) this.rows.set(row.rowKey, row);
    return true;
  }

  async release(branch: BranchSession): Promise<void> {
    for (const row of collectRowLocks(
      branch.lockKey,
      branch.resourceId,
      branch.xid,
      branch.transactionId,
      branch.branchId,
    )) {
      const held = this.rows.get(row.rowKey);
      if (held && held.branchId === branch.branchId) this.rows.delete(row.rowKey);
    }
  }

  async releaseGlobal(global: GlobalSession): Promise<void> {
    for (const b of global.branches) await this.release(b);
    for (const [key, row] of this.rows) if (row.xid === global.xid) this.rows.delete(key);
  }

  async isLockable(xid: string | null, resourceId: string, lockKey: string): Promise<boolean> {
    for (const row of collectRowLocks(lockKey, resourceId, xid ?? '', 0n, 0n)) {
      const held = this.rows.get(row.rowKey);
      if (held && held.xid !== xid) return false;
    }
    return true;
  }
}
