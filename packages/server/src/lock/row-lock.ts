/**
 * AT row locks. A branch's lockKey is `table:pk1,pk2;table2:pk` (ConnectionContext.buildLockKeys);
 * each row becomes a lock under the row key `resourceId^^^table^^^pk` (AbstractLocker.LOCK_SPLIT).
 */

/** One row lock. */
export interface RowLock {
  rowKey: string;
  xid: string;
  transactionId: bigint;
  branchId: bigint;
  resourceId: string;
  tableName: string;
  pk: string;
}

/** Seata's separator inside a row key. */
export const LOCK_SPLIT = '^^^';

/** Splits a lockKey into rows (AbstractLockManager.collectRowLocks). Empty parts are skipped. */
export function parseLockKey(lockKey: string): Array<{ tableName: string; pk: string }> {
  const rows: Array<{ tableName: string; pk: string }> = [];
  for (const tablePart of lockKey.split(';')) {
    if (tablePart.length === 0) continue;
    const colon = tablePart.indexOf(':');
    if (colon <= 0) continue;
    const tableName = tablePart.slice(0, colon);
    for (const pk of tablePart.slice(colon + 1).split(',')) {
      if (pk.length > 0) rows.push({ tableName, pk });
    }
  }
  return rows;
}

/** The row locks a branch asks for. */
export function collectRowLocks(
  lockKey: string | null,
  resourceId: string,
  xid: string,
  transactionId: bigint,
  branchId: bigint,
): RowLock[] {
  if (!lockKey) return [];
  return parseLockKey(lockKey).map(({ tableName, pk }) => ({
    rowKey: `${resourceId}${LOCK_SPLIT}${tableName}${LOCK_SPLIT}${pk}`,
    xid,
    transactionId,
    branchId,
    resourceId,
    tableName,
    pk,
  }));
}
