/**
 * The TC's scheduled tasks (DefaultCoordinator.init): retry committing, retry rollbacking,
 * async committing, timeout check and undo-log delete. With a shared store each task runs on
 * one TC at a time, under a cluster-wide task lock (Seata's distributed_lock rows), and reads
 * its candidates from the store, so a transaction begun on a TC that died is finished by another.
 */
import type { Logger } from '@dtx/core';
import { GlobalStatus } from '@dtx/protocol';
import type { Coordinator } from '../coordinator/coordinator.js';
import type { GlobalSession } from '../session/global-session.js';
import type { TransactionStore } from '../store/transaction-store.js';

const S = GlobalStatus;

/** Recovery settings, with Seata's keys and defaults. */
export interface RecoveryOptions {
  /** `server.recovery.committingRetryPeriod` @default 1000 */
  committingRetryPeriodMs: number;
  /** `server.recovery.rollbackingRetryPeriod` @default 1000 */
  rollbackingRetryPeriodMs: number;
  /** `server.recovery.asyncCommittingRetryPeriod` @default 1000 */
  asyncCommittingRetryPeriodMs: number;
  /** `server.recovery.timeoutRetryPeriod` @default 1000 */
  timeoutRetryPeriodMs: number;
  /** `server.undo.logDeletePeriod` @default 86400000 */
  undoLogDeletePeriodMs: number;
  /** First undo-log delete after start. @default 180000 */
  undoLogDeleteDelayMs: number;
  /** `server.undo.logSaveDays` @default 7 */
  undoLogSaveDays: number;
  /**
   * A Committing/Rollbacking session begun longer ago than this is driven by recovery even though
   * its phase two may have started on another TC (`server.retryDeadThreshold`). @default 130000
   */
  retryDeadThresholdMs: number;
  /** `server.distributedLockExpireTime` @default 10000 */
  distributedLockExpireTimeMs: number;
  /** Sessions read per task run from a shared store. @default 1000 */
  batchSize: number;
}

/** Defaults of RecoveryOptions. */
export const DEFAULT_RECOVERY_OPTIONS: Readonly<RecoveryOptions> = Object.freeze({
  committingRetryPeriodMs: 1000,
  rollbackingRetryPeriodMs: 1000,
  asyncCommittingRetryPeriodMs: 1000,
  timeoutRetryPeriodMs: 1000,
  undoLogDeletePeriodMs: 86_400_000,
  undoLogDeleteDelayMs: 180_000,
  undoLogSaveDays: 7,
  retryDeadThresholdMs: 130_000,
  distributedLockExpireTimeMs: 10_000,
  batchSize: 1000,
});

/** Task names, as the seed rows of Seata's distributed_lock table. */
export const RecoveryTask = {
  RETRY_COMMITTING: 'RetryCommitting',
  RETRY_ROLLBACKING: 'RetryRollbacking',
  ASYNC_COMMITTING: 'AsyncCommitting',
  TIMEOUT_CHECK: 'TxTimeoutCheck',
  UNDOLOG_DELETE: 'UndologDelete',
} as const;
export type RecoveryTask = (typeof RecoveryTask)[keyof typeof RecoveryTask];

const ROLLBACKING = [S.Rollbacking, S.RollbackRetrying, S.TimeoutRollbacking, S.TimeoutRollbackRetrying];
const COMMITTING = [S.Committing, S.CommitRetrying];

/** The scheduler. */
export class Recovery {
  private timers: NodeJS.Timeout[] = [];
  private readonly running = new Set<RecoveryTask>();
  /** Runs in progress, awaited by close(). */
  private readonly inFlight = new Set<Promise<void>>();
  /** Task locks this TC took on its last attempt (shared stores), released by close(). */
  private readonly held = new Set<RecoveryTask>();
  /** Runs of each task, for tests and metrics. */
  readonly runs: Record<RecoveryTask, number> = {
    RetryCommitting: 0,
    RetryRollbacking: 0,
    AsyncCommitting: 0,
    TxTimeoutCheck: 0,
    UndologDelete: 0,
  };

  constructor(
    private readonly coordinator: Coordinator,
    private readonly store: TransactionStore,
    readonly options: RecoveryOptions,
    private readonly owner: string,
    private readonly logger: Logger,
  ) {}

  /** Starts every periodic task. */
  start(): void {
    const every = (ms: number, task: RecoveryTask, first = ms) => {
      const run = () => void this.runOnce(task);
      const t0 = setTimeout(() => {
        run();
        const t = setInterval(run, ms);
        t.unref();
        this.timers.push(t);
      }, first);
      t0.unref();
      this.timers.push(t0);
    };
    every(this.options.committingRetryPeriodMs, RecoveryTask.RETRY_COMMITTING);
    every(this.options.rollbackingRetryPeriodMs, RecoveryTask.RETRY_ROLLBACKING);
    every(this.options.asyncCommittingRetryPeriodMs, RecoveryTask.ASYNC_COMMITTING);
    every(this.options.timeoutRetryPeriodMs, RecoveryTask.TIMEOUT_CHECK);
    every(this.options.undoLogDeletePeriodMs, RecoveryTask.UNDOLOG_DELETE, this.options.undoLogDeleteDelayMs);
  }

  /** Stops the timers; a run in progress finishes on its own. */
  stop(): void {
    for (const t of this.timers) clearTimeout(t);
    this.timers = [];
  }

  /**
   * Stops, waits for the runs in progress (at most a lease), then hands back the task locks this
   * TC holds, so another TC of the cluster takes the tasks over at once instead of when the
   * leases run out. A run still going after that keeps its lock until the lease ends.
   */
  async close(): Promise<void> {
    this.stop();
    let timer: NodeJS.Timeout | undefined;
    await Promise.race([
      Promise.all(this.inFlight),
      new Promise<void>((resolve) => {
        timer = setTimeout(resolve, this.options.distributedLockExpireTimeMs);
      }),
    ]);
    clearTimeout(timer);
    for (const task of this.held) {
      if (this.running.has(task)) continue;
      try {
        await this.store.releaseTaskLock(task, this.owner);
      } catch (err) {
        this.logger.warn({ err, task }, 'could not release a recovery task lock; it expires on its own');
      }
    }
    this.held.clear();
  }

  /** Runs one task now (skipped if the same task is still running or another TC holds its lock). */
  async runOnce(task: RecoveryTask): Promise<void> {
    if (this.running.has(task)) return;
    this.running.add(task);
    const run = this.run(task);
    this.inFlight.add(run);
    try {
      await run;
    } finally {
      this.inFlight.delete(run);
      this.running.delete(task);
    }
  }

  private async run(task: RecoveryTask): Promise<void> {
    try {
      if (this.store.shared) {
        const held = await this.store.acquireTaskLock(
          task,
          this.owner,
          this.options.distributedLockExpireTimeMs,
        );
        if (!held) {
          this.held.delete(task);
          return;
        }
        this.held.add(task);
      }
      this.runs[task]++;
      switch (task) {
        case RecoveryTask.TIMEOUT_CHECK:
          for (const g of await this.candidates([S.Begin])) await this.coordinator.timeoutToRollback(g);
          break;
        case RecoveryTask.RETRY_ROLLBACKING:
          await this.drive(await this.candidates(ROLLBACKING), (g) =>
            this.coordinator.doGlobalRollback(g, true),
          );
          break;
        case RecoveryTask.RETRY_COMMITTING:
          await this.drive(await this.candidates(COMMITTING), (g) =>
            this.coordinator.doGlobalCommit(g, true),
          );
          break;
        case RecoveryTask.ASYNC_COMMITTING:
          await this.drive(await this.candidates([S.AsyncCommitting]), (g) =>
            this.coordinator.doGlobalCommit(g, true),
          );
          break;
        case RecoveryTask.UNDOLOG_DELETE:
          this.coordinator.broadcastUndoLogDelete(this.options.undoLogSaveDays);
          break;
      }
    } catch (err) {
      this.logger.error({ err, task }, 'recovery task failed');
    }
  }

  /** Sessions in `statuses`: from memory, or from the store when it is shared. */
  private async candidates(statuses: number[]): Promise<GlobalSession[]> {
    if (!this.store.shared) {
      const out: GlobalSession[] = [];
      for (const g of this.coordinator.sessions.values()) if (statuses.includes(g.status)) out.push(g);
      return out;
    }
    return this.store.listGlobals({ statuses, limit: this.options.batchSize });
  }

  private async drive(sessions: GlobalSession[], fn: (g: GlobalSession) => Promise<boolean>): Promise<void> {
    const now = Date.now();
    const work: Array<Promise<boolean>> = [];
    for (const g of sessions) {
      if (this.coordinator.isBusy(g.xid)) continue;
      // Committing/Rollbacking may still be in the hands of the TC that decided them; only a
      // session older than the dead threshold is taken over (DefaultCoordinator's dead-session rule).
      // TimeoutRollbacking too: unlike Seata, whose retry task alone drives it, the TC that times
      // a session out (timeout check, or a commit that came too late) rolls it back at once, and
      // another TC holding the RetryRollbacking lock would drive it a second time meanwhile.
      const firstPhaseTwo =
        g.status === S.Committing || g.status === S.Rollbacking || g.status === S.TimeoutRollbacking;
      if (firstPhaseTwo && this.store.shared && now - g.beginTime < this.options.retryDeadThresholdMs)
        continue;
      work.push(fn(g).catch(() => false));
    }
    await Promise.all(work);
  }
}
