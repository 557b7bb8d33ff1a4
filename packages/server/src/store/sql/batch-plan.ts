/**
 * Turns store operations into rows, and a run of them into one batch: the row inserts, the last
 * update of each row, and the deletes that one SQL transaction applies.
 *
 * Why applying a batch as "inserts, then updates, then deletes" gives the same rows as applying
 * its operations one by one, in order:
 * - an update that follows the insert of its row lands on the inserted row either way, and of
 *   several updates of one row only the last one's values remain either way;
 * - a delete removes the row whatever was inserted into it or updated before it, and an update
 *   after a delete changes nothing either way (deleting last leaves the row deleted);
 * - the orders it would get wrong are an insert after a delete or an update of the same row, and
 *   a second insert of a row. The coordinator never produces them (a transaction's globalAdd is
 *   queued before anything else about it, a branch's branchAdd before anything about the
 *   branch, and ids are never reused), but the planner still refuses to put such an operation
 *   into the batch and starts the next batch with it, so the store stays correct for any caller.
 * Deleting a global row also deletes its branch rows (a saga ends with its branches attached).
 * A compare-and-set status change (globalUpdate with `expect`) is its own conditional UPDATE,
 * and is alone with its row in a batch: nothing else about that global row joins the batch
 * before or after it, so its condition reads the row as earlier batches left it.
 *
 * The plan then writes each row with exactly one statement, so the statements of a batch touch
 * disjoint rows: PostgreSQL runs them as one statement of data-modifying CTEs (which share one
 * snapshot and must not touch a row twice), MySQL as one multi-statement script.
 */
import { TransactionError } from '@dtx/core';
import { BranchType } from '@dtx/protocol';
import type { BranchSession, GlobalSession } from '../../session/global-session.js';
import type { StoreOp } from '../transaction-store.js';

/** A global_table row, copied from the session when the operation was written. */
export interface GlobalRow {
  xid: string;
  transactionId: bigint;
  status: number;
  applicationId: string | null;
  transactionServiceGroup: string | null;
  transactionName: string | null;
  timeout: number;
  beginTime: number;
  applicationData: string | null;
}

/** A branch_table row (branch_type as its name, as Seata stores it). */
export interface BranchRow {
  branchId: bigint;
  xid: string;
  transactionId: bigint;
  resourceGroupId: string | null;
  resourceId: string;
  branchType: string;
  status: number;
  clientId: string;
  applicationData: string | null;
}

/** A store operation reduced to rows, frozen at write() time like the file store's record. */
export type Change =
  | { op: 'globalAdd'; row: GlobalRow; branches: BranchRow[] }
  | { op: 'globalUpdate'; xid: string; status: number; expect: number | null }
  | { op: 'globalRemove'; xid: string }
  | { op: 'branchAdd'; row: BranchRow }
  | { op: 'branchUpdate'; xid: string; branchId: bigint; status: number; applicationData: string | null }
  | { op: 'branchRemove'; xid: string; branchId: bigint };

/** What one SQL transaction writes. */
export interface BatchPlan {
  insertGlobals: GlobalRow[];
  insertBranches: BranchRow[];
  updateGlobals: Array<{ xid: string; status: number }>;
  /** Compare-and-set status changes, one statement each: applied only from status `expect`. */
  casGlobals: Array<{ xid: string; status: number; expect: number }>;
  updateBranches: Array<{ branchId: bigint; status: number; applicationData: string | null }>;
  /** Branch rows deleted by id. */
  deleteBranches: bigint[];
  /** Global rows deleted, with their branch rows. */
  deleteGlobals: string[];
}

const BRANCH_TYPE_NAMES = new Map<number, string>(
  Object.entries(BranchType).map(([name, code]) => [code, name]),
);
const MIN_I64 = -(2n ** 63n);
const MAX_I64 = 2n ** 63n - 1n;

function invalid(message: string): TransactionError {
  return new TransactionError('FailedStore', message);
}

/** Checks a VARCHAR(max) value; both databases count characters (code points), not bytes. */
function text(value: string | null, max: number, column: string, nullable = true): string | null {
  if (value === null || value === undefined) {
    if (nullable) return null;
    throw invalid(`${column} must not be null`);
  }
  if (typeof value !== 'string') throw invalid(`${column} must be a string`);
  // UTF-16 length >= code points: only long strings need counting.
  if (value.length > max && [...value].length > max) {
    throw invalid(
      `${column} has ${[...value].length} characters; the column holds ${max} (VARCHAR(${max}) in Seata's schema)`,
    );
  }
  // PostgreSQL text cannot hold NUL, and no Seata client sends one.
  if (value.includes('\u0000')) throw invalid(`${column} contains a NUL character`);
  return value;
}

function id(value: bigint, column: string): bigint {
  if (typeof value !== 'bigint' || value < MIN_I64 || value > MAX_I64)
    throw invalid(`${column} must be a 64-bit bigint`);
  return value;
}

function int(value: number, min: number, max: number, column: string): number {
  if (!Number.isInteger(value) || value < min || value > max)
    throw invalid(`${column} must be an integer in ${min}..${max}, got ${value}`);
  return value;
}

// status is TINYINT in MySQL (signed) and SMALLINT in PostgreSQL: the common range is 0..127.
const status = (v: number, column: string) => int(v, 0, 127, column);

/** The global_table row of a session; throws FailedStore when a value does not fit its column. */
export function globalRow(g: GlobalSession): GlobalRow {
  return {
    xid: text(g.xid, 128, 'global_table.xid', false) as string,
    transactionId: id(g.transactionId, 'global_table.transaction_id'),
    status: status(g.status, 'global_table.status'),
    applicationId: text(g.applicationId, 32, 'global_table.application_id'),
    transactionServiceGroup: text(g.transactionServiceGroup, 32, 'global_table.transaction_service_group'),
    transactionName: text(g.transactionName, 128, 'global_table.transaction_name'),
    timeout: int(g.timeout, -(2 ** 31), 2 ** 31 - 1, 'global_table.timeout'),
    beginTime: int(g.beginTime, Number.MIN_SAFE_INTEGER, Number.MAX_SAFE_INTEGER, 'global_table.begin_time'),
    applicationData: text(g.applicationData, 2000, 'global_table.application_data'),
  };
}

/** The branch_table row of a branch. lockKey and beginTime have no column in Seata's schema. */
export function branchRow(b: BranchSession): BranchRow {
  const type = BRANCH_TYPE_NAMES.get(b.branchType);
  if (type === undefined)
    throw invalid(`branch_table.branch_type: unknown branch type ${String(b.branchType)}`);
  return {
    branchId: id(b.branchId, 'branch_table.branch_id'),
    xid: text(b.xid, 128, 'branch_table.xid', false) as string,
    transactionId: id(b.transactionId, 'branch_table.transaction_id'),
    resourceGroupId: text(b.resourceGroupId, 32, 'branch_table.resource_group_id'),
    resourceId: text(b.resourceId, 256, 'branch_table.resource_id', false) as string,
    branchType: type,
    status: status(b.status, 'branch_table.status'),
    clientId: text(b.clientId, 64, 'branch_table.client_id', false) as string,
    applicationData: text(b.applicationData, 2000, 'branch_table.application_data'),
  };
}

/** Copies an operation into rows, checking every value against its column. */
export function toChange(op: StoreOp): Change {
  switch (op.op) {
    case 'globalAdd':
      return { op: 'globalAdd', row: globalRow(op.global), branches: op.global.branches.map(branchRow) };
    case 'globalUpdate':
      return {
        op: 'globalUpdate',
        xid: op.xid,
        status: status(op.status, 'global_table.status'),
        expect: op.expect === undefined ? null : status(op.expect, 'global_table.status'),
      };
    case 'globalRemove':
      return { op: 'globalRemove', xid: op.xid };
    case 'branchAdd':
      return { op: 'branchAdd', row: branchRow(op.branch) };
    case 'branchUpdate':
      return {
        op: 'branchUpdate',
        xid: op.xid,
        branchId: id(op.branchId, 'branch_table.branch_id'),
        status: status(op.status, 'branch_table.status'),
        applicationData: text(op.applicationData, 2000, 'branch_table.application_data'),
      };
    case 'branchRemove':
      return { op: 'branchRemove', xid: op.xid, branchId: id(op.branchId, 'branch_table.branch_id') };
    default:
      throw invalid(`unknown store operation ${String((op as { op?: unknown }).op)}`);
  }
}

/** Collects changes into one batch, refusing the first one that reordering would get wrong. */
export class BatchPlanner {
  private readonly gIns = new Map<string, GlobalRow>();
  private readonly bIns = new Map<bigint, BranchRow>();
  private readonly gUpd = new Map<string, number>();
  private readonly bUpd = new Map<bigint, { xid: string; status: number; applicationData: string | null }>();
  private readonly gDel = new Set<string>();
  private readonly gCas = new Map<string, { xid: string; status: number; expect: number }>();
  /** Deleted branch ids, with their xid. */
  private readonly bDel = new Map<bigint, string>();

  /** Adds `c` to the batch, or returns false when it must start the next batch instead. */
  accept(c: Change): boolean {
    switch (c.op) {
      case 'globalAdd': {
        const x = c.row.xid;
        if (this.gIns.has(x) || this.gUpd.has(x) || this.gDel.has(x) || this.gCas.has(x)) return false;
        if (c.branches.some((b) => !this.branchInsertable(b))) return false;
        this.gIns.set(x, c.row);
        for (const b of c.branches) this.bIns.set(b.branchId, b);
        return true;
      }
      case 'branchAdd':
        if (!this.branchInsertable(c.row)) return false;
        this.bIns.set(c.row.branchId, c.row);
        return true;
      case 'globalUpdate':
        // A compare-and-set reads the row as the batch finds it, so it is alone with its row:
        // nothing else about that global row before or after it in the same batch.
        if (this.gCas.has(c.xid)) return false;
        if (c.expect !== null) {
          if (this.gIns.has(c.xid) || this.gUpd.has(c.xid) || this.gDel.has(c.xid)) return false;
          this.gCas.set(c.xid, { xid: c.xid, status: c.status, expect: c.expect });
          return true;
        }
        this.gUpd.set(c.xid, c.status);
        return true;
      case 'branchUpdate':
        this.bUpd.set(c.branchId, { xid: c.xid, status: c.status, applicationData: c.applicationData });
        return true;
      case 'globalRemove':
        if (this.gCas.has(c.xid)) return false;
        this.gDel.add(c.xid);
        return true;
      case 'branchRemove':
        this.bDel.set(c.branchId, c.xid);
        return true;
    }
  }

  private branchInsertable(b: BranchRow): boolean {
    const id = b.branchId;
    return !this.bIns.has(id) && !this.bUpd.has(id) && !this.bDel.has(id) && !this.gDel.has(b.xid);
  }

  /**
   * The statements' rows. Rows deleted later in the batch are neither inserted nor updated (a
   * transaction that begins and ends within one batch costs only its deletes), and a row
   * inserted in the batch takes its last update into the insert. So every row is written by
   * exactly one of the statements, and they may run in any order, or as one statement.
   */
  plan(): BatchPlan {
    const gone = (xid: string) => this.gDel.has(xid);
    // Rows in key order: two TCs writing overlapping rows lock them in the same order.
    const byXid = <T extends { xid: string }>(a: T, b: T) => (a.xid < b.xid ? -1 : a.xid > b.xid ? 1 : 0);
    const byId = <T extends { branchId: bigint }>(a: T, b: T) =>
      a.branchId < b.branchId ? -1 : a.branchId > b.branchId ? 1 : 0;
    return {
      // A row inserted in this batch is inserted with its last update already applied.
      insertGlobals: [...this.gIns.values()]
        .filter((g) => !gone(g.xid))
        .map((g) => {
          const status = this.gUpd.get(g.xid);
          return status === undefined ? g : { ...g, status };
        })
        .sort(byXid),
      insertBranches: [...this.bIns.values()]
        .filter((b) => !gone(b.xid) && !this.bDel.has(b.branchId))
        .map((b) => {
          const u = this.bUpd.get(b.branchId);
          return u === undefined ? b : { ...b, status: u.status, applicationData: u.applicationData };
        })
        .sort(byId),
      updateGlobals: [...this.gUpd]
        .filter(([xid]) => !gone(xid) && !this.gIns.has(xid))
        .map(([xid, status]) => ({ xid, status }))
        .sort(byXid),
      casGlobals: [...this.gCas.values()].sort(byXid),
      updateBranches: [...this.bUpd]
        .filter(([branchId, u]) => !this.bDel.has(branchId) && !gone(u.xid) && !this.bIns.has(branchId))
        .map(([branchId, u]) => ({ branchId, status: u.status, applicationData: u.applicationData }))
        .sort(byId),
      // Still deleted when inserted in this batch: a row from an earlier batch may share the id.
      deleteBranches: [...this.bDel]
        .filter(([, xid]) => !gone(xid))
        .map(([branchId]) => branchId)
        .sort((a, b) => (a < b ? -1 : a > b ? 1 : 0)),
      deleteGlobals: [...this.gDel].sort(),
    };
  }

  /** True when nothing was accepted. */
  get empty(): boolean {
    return (
      this.gIns.size +
        this.bIns.size +
        this.gUpd.size +
        this.gCas.size +
        this.bUpd.size +
        this.gDel.size +
        this.bDel.size ===
      0
    );
  }
}
