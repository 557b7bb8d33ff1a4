/**
 * The interface every session store implements (file, MySQL/MariaDB, PostgreSQL, Redis), and
 * the change records written through it. One conformance suite (packages/testing) runs against
 * all of them.
 */
import type { BranchSession, GlobalSession } from '../session/global-session.js';

/** One change to the stored sessions (Seata's LogOperation: GLOBAL_ADD, BRANCH_REMOVE, ...). */
export type StoreOp =
  | { op: 'globalAdd'; global: GlobalSession }
  /**
   * With `expect`, a compare-and-set: applied only while the stored status is `expect` (how a
   * decision leaves Begin, so two TCs sharing a store cannot both decide one transaction).
   */
  | { op: 'globalUpdate'; xid: string; status: number; active: boolean; expect?: number }
  | { op: 'globalRemove'; xid: string }
  | { op: 'branchAdd'; branch: BranchSession }
  | { op: 'branchUpdate'; xid: string; branchId: bigint; status: number; applicationData: string | null }
  | { op: 'branchRemove'; xid: string; branchId: bigint };

/** Options of TransactionStore.findGlobal. */
export interface FindOptions {
  /** @default true */
  waitForWrites?: boolean;
  /** @default true */
  withBranches?: boolean;
}

/** Filter for listing stored sessions (recovery loops, the CLI). */
export interface SessionQuery {
  /** Only these statuses. */
  statuses?: number[];
  /** Only sessions begun before this time (ms since the epoch). */
  beganBefore?: number;
  /** @default 1000 */
  limit?: number;
}

/** A durable home for global and branch sessions. */
export interface TransactionStore {
  /** 'file' | 'mysql' | 'postgres' | 'redis' */
  readonly kind: string;
  /**
   * True when several TC processes can share this store (db and redis). The coordinator then
   * reads sessions it does not hold from the store and splits recovery work with task locks.
   */
  readonly shared: boolean;
  /** Opens the store (creating what it needs) and returns every unfinished session. */
  open(): Promise<GlobalSession[]>;
  /**
   * Applies one change. With `durable`, the promise settles only once the change would survive
   * a crash (fsync, a committed SQL transaction); without it, the change is queued in order and
   * the promise settles when it is written. Changes are applied in call order. Resolves false
   * only for a globalUpdate with `expect` that found another status, or no session, and so
   * changed nothing; stores that one TC owns (file) may leave that check to the coordinator,
   * whose sessions in memory are the truth.
   */
  write(op: StoreOp, durable: boolean): Promise<boolean>;
  /**
   * One session with its branches, or null. By default the read waits for the writes queued
   * before it; `waitForWrites: false` reads what is committed now (the coordinator's own durable
   * writes were acknowledged before it reads again, and its lazy ones never change a decision).
   * `withBranches: false` may leave `branches` empty (one query fewer for a status check).
   */
  findGlobal(xid: string, options?: FindOptions): Promise<GlobalSession | null>;
  /** Sessions matching the query, oldest first, with their branches. */
  listGlobals(query?: SessionQuery): Promise<GlobalSession[]>;
  /**
   * Cluster-wide task lock (Seata's distributed_lock): true when `owner` holds `name` for the next
   * `ttlMs`. Single-process stores always return true.
   */
  acquireTaskLock(name: string, owner: string, ttlMs: number): Promise<boolean>;
  /**
   * Gives up `name` if `owner` still holds it, so another TC may take it at once instead of after
   * the lease runs out; a lock held by someone else is left alone. No-op for single-process stores.
   */
  releaseTaskLock(name: string, owner: string): Promise<void>;
  /** Flushes what is queued and releases resources. */
  close(): Promise<void>;
}
