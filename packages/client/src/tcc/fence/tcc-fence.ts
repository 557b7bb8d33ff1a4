/**
 * The TCC fence (Seata's SpringFenceHandler over `tcc_fence_log`): each phase runs in one
 * local DB transaction together with the participant's own SQL, so the fence row and the
 * business change commit or roll back as one.
 *
 * - try: INSERT status TRIED; a duplicate key means the cancel came first (hanging) or the try
 *   repeats: refused, the business code does not run.
 * - confirm: SELECT … FOR UPDATE; no row is an empty commit (refused loudly, never reported as
 *   committed); COMMITTED is idempotent; ROLLBACKED/SUSPENDED loses; else TRIED → COMMITTED
 *   and the confirm runs.
 * - cancel: SELECT … FOR UPDATE; no row is an empty rollback: INSERT SUSPENDED (which also
 *   blocks a late try) and succeed without calling cancel; ROLLBACKED/SUSPENDED is idempotent;
 *   COMMITTED loses; else TRIED → ROLLBACKED and the cancel runs.
 * The row lock serialises a confirm and a cancel racing for one branch: one wins, the other
 * sees the final state.
 */
import { EventEmitter } from 'node:events';
import { Channels, FenceError, type Logger, noopLogger, publish } from '@dtx/core';

/** tcc_fence_log.status (CommonFenceConstant). */
export const FenceStatus = {
  TRIED: 1,
  COMMITTED: 2,
  ROLLBACKED: 3,
  SUSPENDED: 4,
} as const;
export type FenceStatus = (typeof FenceStatus)[keyof typeof FenceStatus];

/** What the fence tells an operator about. */
export interface FenceAlert {
  kind: 'EMPTY_COMMIT' | 'EMPTY_ROLLBACK' | 'TRY_REFUSED' | 'LOST_RACE';
  xid: string;
  branchId: bigint;
  actionName: string;
  message: string;
}

/** Runs SQL inside one local transaction. */
export type SqlRunner = (
  sql: string,
  params: unknown[],
) => Promise<{ rows: Array<Record<string, unknown>>; affected: number }>;

/** The database side of the fence: pg and mysql2 adapters implement it. */
export interface FenceDatabase<Tx> {
  readonly dialect: 'postgres' | 'mysql';
  /** BEGIN, run `fn`, COMMIT; ROLLBACK if it throws. */
  transaction<T>(fn: (tx: Tx, sql: SqlRunner) => Promise<T>): Promise<T>;
  /** Runs one statement outside a transaction. */
  run: SqlRunner;
  isDuplicateKey(err: unknown): boolean;
}

/** Fence options. */
export interface TccFenceOptions {
  /** `tcc.fence.logTableName` @default 'tcc_fence_log' */
  tableName: string;
  /** Finished rows older than this are deleted by the cleanup job (`tcc.fence.cleanPeriod`). @default 1 day */
  cleanPeriodMs: number;
  /** How often the cleanup job runs; 0 disables it. @default 1 hour */
  cleanIntervalMs: number;
  logger: Logger;
}

/** Defaults of TccFenceOptions. */
export const DEFAULT_FENCE_OPTIONS: Readonly<TccFenceOptions> = Object.freeze({
  tableName: 'tcc_fence_log',
  cleanPeriodMs: 86_400_000,
  cleanIntervalMs: 3_600_000,
  logger: noopLogger,
});

/** Thrown inside the local transaction to roll it back when a phase-two method returns false. */
class Declined extends Error {}

/** Seata's DDL for the fence table. */
export function fenceTableDdl(dialect: 'postgres' | 'mysql', table = 'tcc_fence_log'): string[] {
  if (dialect === 'mysql') {
    return [
      `CREATE TABLE IF NOT EXISTS \`${table}\` (
  \`xid\` VARCHAR(128) NOT NULL COMMENT 'global id',
  \`branch_id\` BIGINT NOT NULL COMMENT 'branch id',
  \`action_name\` VARCHAR(64) NOT NULL COMMENT 'action name',
  \`status\` TINYINT NOT NULL COMMENT 'status(tried:1;committed:2;rollbacked:3;suspended:4)',
  \`gmt_create\` DATETIME(3) NOT NULL COMMENT 'create time',
  \`gmt_modified\` DATETIME(3) NOT NULL COMMENT 'update time',
  PRIMARY KEY (\`xid\`, \`branch_id\`),
  KEY \`idx_gmt_modified\` (\`gmt_modified\`),
  KEY \`idx_status\` (\`status\`)
) ENGINE = InnoDB DEFAULT CHARSET = utf8mb4`,
    ];
  }
  return [
    `CREATE TABLE IF NOT EXISTS ${table} (
  xid VARCHAR(128) NOT NULL,
  branch_id BIGINT NOT NULL,
  action_name VARCHAR(64) NOT NULL,
  status SMALLINT NOT NULL,
  gmt_create TIMESTAMP(3) NOT NULL,
  gmt_modified TIMESTAMP(3) NOT NULL,
  CONSTRAINT pk_${table} PRIMARY KEY (xid, branch_id)
)`,
    `CREATE INDEX IF NOT EXISTS idx_${table}_gmt_modified ON ${table} (gmt_modified)`,
    `CREATE INDEX IF NOT EXISTS idx_${table}_status ON ${table} (status)`,
  ];
}

/** The fence over one database. `Tx` is the handle the business code runs its SQL on. */
export class TccFence<Tx = unknown> extends EventEmitter<{ alert: [FenceAlert] }> {
  readonly options: TccFenceOptions;
  private timer: NodeJS.Timeout | null = null;
  private readonly sql: {
    insert: string;
    select: string;
    update: string;
    clean: string;
  };

  constructor(
    readonly db: FenceDatabase<Tx>,
    options: Partial<TccFenceOptions> = {},
  ) {
    super();
    this.options = { ...DEFAULT_FENCE_OPTIONS, ...options };
    const t = this.options.tableName;
    const p = db.dialect === 'postgres' ? (i: number) => `$${i}` : () => '?';
    const now = db.dialect === 'postgres' ? 'now()' : 'CURRENT_TIMESTAMP(3)';
    this.sql = {
      insert: `INSERT INTO ${t} (xid, branch_id, action_name, status, gmt_create, gmt_modified) VALUES (${p(1)}, ${p(2)}, ${p(3)}, ${p(4)}, ${now}, ${now})`,
      select: `SELECT status FROM ${t} WHERE xid = ${p(1)} AND branch_id = ${p(2)} FOR UPDATE`,
      update: `UPDATE ${t} SET status = ${p(1)}, gmt_modified = ${now} WHERE xid = ${p(2)} AND branch_id = ${p(3)} AND status = ${p(4)}`,
      // The cut-off is taken on the database clock, as the rows' times are: a Date parameter
      // would be read in this process's time zone against times written in the session's.
      clean:
        db.dialect === 'postgres'
          ? `DELETE FROM ${t} WHERE ctid IN (SELECT ctid FROM ${t} WHERE status IN (2, 3, 4) AND gmt_modified < now() - $1::bigint * interval '1 millisecond' LIMIT 1000)`
          : `DELETE FROM ${t} WHERE status IN (2, 3, 4) AND gmt_modified < CURRENT_TIMESTAMP(3) - INTERVAL ? MICROSECOND LIMIT 1000`,
    };
    if (this.options.cleanIntervalMs > 0) {
      this.timer = setInterval(
        () => void this.cleanup().catch((err) => this.options.logger.warn({ err }, 'fence cleanup failed')),
        this.options.cleanIntervalMs,
      );
      this.timer.unref();
    }
  }

  /** Creates the fence table if it is missing (Seata's DDL). */
  async ensureTable(): Promise<void> {
    for (const stmt of fenceTableDdl(this.db.dialect, this.options.tableName)) await this.db.run(stmt, []);
  }

  private alert(a: FenceAlert): void {
    this.options.logger.warn({ ...a, branchId: a.branchId.toString() }, `TCC fence: ${a.message}`);
    publish(Channels.TCC_FENCE_ALERT, () => a);
    this.emit('alert', a);
  }

  /** Phase one: record TRIED and run the try in the same local transaction. */
  async prepare<R>(
    xid: string,
    branchId: bigint,
    actionName: string,
    fn: (tx: Tx) => Promise<R>,
  ): Promise<R> {
    return this.db.transaction(async (tx, sql) => {
      try {
        await sql(this.sql.insert, [xid, branchId.toString(), actionName, FenceStatus.TRIED]);
      } catch (err) {
        if (!this.db.isDuplicateKey(err)) throw err;
        const message = `try of ${actionName} refused for ${xid}/${branchId}: its cancel already ran (hanging) or it was already tried`;
        this.alert({ kind: 'TRY_REFUSED', xid, branchId, actionName, message });
        throw new FenceError('FENCE_TRY_REFUSED', { xid, branchId, actionName }, message, { cause: err });
      }
      return fn(tx);
    });
  }

  /** Phase two commit; true when the branch is (now or already) committed. */
  commit(
    xid: string,
    branchId: bigint,
    actionName: string,
    fn: (tx: Tx) => Promise<boolean>,
  ): Promise<boolean> {
    return this.phaseTwo('confirm', { xid, branchId, actionName }, fn);
  }

  /** Phase two rollback; true when the branch is (now or already) rolled back or suspended. */
  rollback(
    xid: string,
    branchId: bigint,
    actionName: string,
    fn: (tx: Tx) => Promise<boolean>,
  ): Promise<boolean> {
    return this.phaseTwo('cancel', { xid, branchId, actionName }, fn);
  }

  /**
   * Both phase-two paths: lock the branch's row, settle the cases where the method must not run
   * (no try, already final, lost to the other phase), then move TRIED to the phase's status and
   * run the method in the same local transaction. They differ only in what a missing row means:
   * an empty commit is refused loudly; an empty rollback is recorded SUSPENDED and succeeds.
   */
  private async phaseTwo(
    phase: 'confirm' | 'cancel',
    branch: { xid: string; branchId: bigint; actionName: string },
    fn: (tx: Tx) => Promise<boolean>,
  ): Promise<boolean> {
    const { xid, branchId, actionName } = branch;
    const confirm = phase === 'confirm';
    const target = confirm ? FenceStatus.COMMITTED : FenceStatus.ROLLBACKED;
    try {
      return await this.db.transaction(async (tx, sql) => {
        const { rows } = await sql(this.sql.select, [xid, branchId.toString()]);
        const row = rows[0];
        if (!row) {
          if (confirm) {
            const message = `confirm of ${actionName} for ${xid}/${branchId} has no try record (empty commit); refused`;
            this.alert({ kind: 'EMPTY_COMMIT', ...branch, message });
            throw new FenceError('FENCE_EMPTY_COMMIT', branch, message);
          }
          // Empty rollback: the try never ran here. The SUSPENDED row also makes a late try fail.
          await sql(this.sql.insert, [xid, branchId.toString(), actionName, FenceStatus.SUSPENDED]);
          this.alert({
            kind: 'EMPTY_ROLLBACK',
            ...branch,
            message: `cancel of ${actionName} for ${xid}/${branchId} before any try: recorded as an empty rollback`,
          });
          return true;
        }
        const status = Number(row.status);
        // Already final for this phase (a cancel also accepts its own empty-rollback record).
        if (status === target || (!confirm && status === FenceStatus.SUSPENDED)) return true;
        if (status !== FenceStatus.TRIED) {
          const other = confirm ? 'rolled back' : 'committed';
          this.alert({
            kind: 'LOST_RACE',
            ...branch,
            message: `${phase} of ${actionName} after the branch was ${other}`,
          });
          return false;
        }
        const { affected } = await sql(this.sql.update, [
          target,
          xid,
          branchId.toString(),
          FenceStatus.TRIED,
        ]);
        if (affected !== 1) return false;
        if (!(await fn(tx))) throw new Declined();
        return true;
      });
    } catch (err) {
      if (err instanceof Declined) return false;
      // A try inserting its row at the same moment as an empty-rollback insert: the TC retries.
      if (!confirm && this.db.isDuplicateKey(err)) return false;
      throw err;
    }
  }

  /**
   * Deletes finished rows older than cleanPeriodMs (or last modified before `olderThan`), 1000
   * at a time; returns how many. Ages are measured on the database clock.
   */
  async cleanup(olderThan = new Date(Date.now() - this.options.cleanPeriodMs)): Promise<number> {
    const ageMs = Math.max(0, Date.now() - olderThan.getTime());
    const age = this.db.dialect === 'postgres' ? String(ageMs) : ageMs * 1000;
    let total = 0;
    for (;;) {
      const { affected } = await this.db.run(this.sql.clean, [age]);
      total += affected;
      if (affected < 1000) return total;
    }
  }

  /** Stops the cleanup job. */
  close(): void {
    if (this.timer) clearInterval(this.timer);
    this.timer = null;
  }
}
