/**
 * AT row locks in Seata's lock_table (DataBaseLocker / LockStoreDataBaseDAO), shared by every TC
 * on the database. One row per locked business row: row_key `resourceId^^^table^^^pk` is the
 * primary key, so the database itself refuses a second holder.
 */
import { TransactionError } from '@dtx/core';
import { BranchType } from '@dtx/protocol';
import type { BranchSession, GlobalSession } from '../session/global-session.js';
import type { SqlTableNames } from '../store/sql/schema.js';
import type { SqlDialect, SqlValue } from '../store/sql/sql-dialect.js';
import type { LockManager } from './lock-manager.js';
import { collectRowLocks, type RowLock } from './row-lock.js';

/** Where the locks live: a SqlStore, or anything else with its pool and table names. */
export interface SqlLockSource {
  readonly db: SqlDialect;
  readonly options: Pick<SqlTableNames, 'lockTable'>;
}

/** Row keys per statement, at most. */
const KEYS_PER_STATEMENT = 1000;

/** lock_table column widths in Seata's schema. */
const LIMITS = { row_key: 128, xid: 128, resource_id: 256, table_name: 32, pk: 36 } as const;

function tooLong(value: string, max: number): boolean {
  return value.length > max && [...value].length > max;
}

/** Distinct rows in row-key order: every acquirer locks in the same order, so none deadlock. */
function wantedRows(rows: RowLock[]): RowLock[] {
  const byKey = new Map<string, RowLock>();
  for (const r of rows) if (!byKey.has(r.rowKey)) byKey.set(r.rowKey, r);
  return [...byKey.values()].sort((a, b) => (a.rowKey < b.rowKey ? -1 : a.rowKey > b.rowKey ? 1 : 0));
}

/** Row locks in lock_table. */
export class SqlLockManager implements LockManager {
  private readonly db: SqlDialect;
  private readonly table: string;

  constructor(source: SqlLockSource) {
    this.db = source.db;
    this.table = source.db.table(source.options.lockTable);
  }

  private placeholders(values: SqlValue[], items: readonly SqlValue[]): string {
    return items
      .map((v) => {
        values.push(v);
        return this.db.param(values.length);
      })
      .join(', ');
  }

  /**
   * In one transaction: SELECT … FOR UPDATE the wanted rows; any held by another transaction
   * means false; otherwise INSERT the missing ones. Two acquirers racing for a row that did not
   * exist meet on its primary key, and the loser's duplicate-key error (or deadlock) is a
   * conflict, reported as false like any other.
   */
  async acquire(branch: BranchSession): Promise<boolean> {
    const rows = wantedRows(
      collectRowLocks(branch.lockKey, branch.resourceId, branch.xid, branch.transactionId, branch.branchId),
    );
    if (rows.length === 0) return true;
    for (const r of rows) {
      for (const [column, value] of [
        ['row_key', r.rowKey],
        ['xid', r.xid],
        ['resource_id', r.resourceId],
        ['table_name', r.tableName],
        ['pk', r.pk],
      ] as const) {
        if (tooLong(value, LIMITS[column])) {
          throw new TransactionError(
            'FailedToAddBranch',
            `lock_table.${column} holds ${LIMITS[column]} characters; the branch's lock ${JSON.stringify(r.rowKey)} needs ${[...value].length}`,
          );
        }
      }
    }
    let conn: Awaited<ReturnType<SqlDialect['connect']>>;
    try {
      conn = await this.db.connect();
    } catch (err) {
      throw new TransactionError('FailedStore', `cannot reach lock_table: ${(err as Error).message}`, {
        cause: err,
      });
    }
    let broken = false;
    try {
      await this.db.begin(conn, true);
      const held = new Map<string, string>();
      for (let i = 0; i < rows.length; i += KEYS_PER_STATEMENT) {
        const part = rows.slice(i, i + KEYS_PER_STATEMENT);
        const params: SqlValue[] = [];
        const keys = this.placeholders(
          params,
          part.map((r) => r.rowKey),
        );
        const { rows: found } = await conn.query(
          `SELECT row_key, xid FROM ${this.table} WHERE row_key IN (${keys}) ORDER BY row_key FOR UPDATE`,
          params,
        );
        for (const f of found) held.set(String(f.row_key), String(f.xid));
      }
      for (const xid of held.values()) {
        if (xid !== branch.xid) {
          await conn.query('ROLLBACK');
          return false;
        }
      }
      // Rows this transaction already holds (from an earlier branch) stay with that branch.
      const missing = rows.filter((r) => !held.has(r.rowKey));
      for (let i = 0; i < missing.length; i += KEYS_PER_STATEMENT / 2) {
        const part = missing.slice(i, i + KEYS_PER_STATEMENT / 2);
        const params: SqlValue[] = [];
        const now = this.db.now(0);
        const values = part
          .map(
            (r) =>
              `(${this.placeholders(params, [r.rowKey, r.xid, r.transactionId, r.branchId, r.resourceId, r.tableName, r.pk])}, 0, ${now}, ${now})`,
          )
          .join(', ');
        await conn.query(
          `INSERT INTO ${this.table} (row_key, xid, transaction_id, branch_id, resource_id, table_name, pk, status, gmt_create, gmt_modified) VALUES ${values}`,
          params,
        );
      }
      await conn.query('COMMIT');
      return true;
    } catch (err) {
      broken = !(await rollback(conn));
      const kind = this.db.classify(err);
      if (kind === 'duplicate' || kind === 'deadlock') return false;
      throw new TransactionError(
        'FailedStore',
        `lock acquisition for branch ${branch.branchId} failed: ${(err as Error).message}`,
        {
          cause: err,
        },
      );
    } finally {
      conn.release(broken);
    }
  }

  /**
   * Deletes the branch's rows (rows it found already held by its transaction stay with their
   * branch). Only AT branches take row locks (Seata's ATCore; TCC, Saga and XA do not), so other
   * branches cost no round trip. An AT branch is released by id even without a lockKey: one read
   * back from the store after a restart has none, but its rows are still in lock_table.
   */
  async release(branch: BranchSession): Promise<void> {
    if (branch.branchType !== BranchType.AT) return;
    const params: SqlValue[] = [];
    const sql = `DELETE FROM ${this.table} WHERE xid = ${this.placeholders(params, [branch.xid])} AND branch_id = ${this.placeholders(params, [branch.branchId])}`;
    await this.run(sql, params, `release the locks of branch ${branch.branchId}`);
  }

  /** Deletes every row of the transaction. */
  async releaseGlobal(global: GlobalSession): Promise<void> {
    const params: SqlValue[] = [];
    await this.run(
      `DELETE FROM ${this.table} WHERE xid = ${this.placeholders(params, [global.xid])}`,
      params,
      `release the locks of ${global.xid}`,
    );
  }

  /** True when none of the rows is held by a transaction other than `xid`. */
  async isLockable(xid: string | null, resourceId: string, lockKey: string): Promise<boolean> {
    const rows = wantedRows(collectRowLocks(lockKey, resourceId, xid ?? '', 0n, 0n));
    try {
      for (let i = 0; i < rows.length; i += KEYS_PER_STATEMENT) {
        const params: SqlValue[] = [];
        const keys = this.placeholders(
          params,
          rows.slice(i, i + KEYS_PER_STATEMENT).map((r) => r.rowKey),
        );
        const { rows: found } = await this.db.query(
          `SELECT xid FROM ${this.table} WHERE row_key IN (${keys})`,
          params,
        );
        if (found.some((f) => String(f.xid) !== xid)) return false;
      }
      return true;
    } catch (err) {
      throw new TransactionError(
        'LockableCheckFailed',
        `lock_table query failed: ${(err as Error).message}`,
        { cause: err },
      );
    }
  }

  private async run(sql: string, params: SqlValue[], what: string): Promise<void> {
    try {
      await this.db.query(sql, params);
    } catch (err) {
      throw new TransactionError('FailedStore', `could not ${what}: ${(err as Error).message}`, {
        cause: err,
      });
    }
  }
}

async function rollback(conn: { query(sql: string): Promise<unknown> }): Promise<boolean> {
  try {
    await conn.query('ROLLBACK');
    return true;
  } catch {
    return false;
  }
}
