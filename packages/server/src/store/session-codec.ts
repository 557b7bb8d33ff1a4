/**
 * JSON forms of sessions and store records: bigint ids as decimal strings (never numbers), so
 * the same text is readable by `jq`, by SQL tooling and by the replay code.
 */
import type { BranchSession, GlobalSession } from '../session/global-session.js';
import type { StoreOp } from './transaction-store.js';

/** JSON-safe form of a branch. */
export function branchToJson(b: BranchSession): Record<string, unknown> {
  return { ...b, branchId: b.branchId.toString(), transactionId: b.transactionId.toString() };
}

/** Inverse of branchToJson. */
export function branchFromJson(o: Record<string, unknown>): BranchSession {
  return {
    branchId: BigInt(o.branchId as string),
    xid: o.xid as string,
    transactionId: BigInt(o.transactionId as string),
    resourceGroupId: (o.resourceGroupId as string | null) ?? null,
    resourceId: o.resourceId as string,
    branchType: o.branchType as BranchSession['branchType'],
    status: o.status as number,
    clientId: o.clientId as string,
    applicationData: (o.applicationData as string | null) ?? null,
    lockKey: (o.lockKey as string | null) ?? null,
    beginTime: o.beginTime as number,
  };
}

/** JSON-safe form of a global session, branches included. */
export function globalToJson(g: GlobalSession): Record<string, unknown> {
  return {
    xid: g.xid,
    transactionId: g.transactionId.toString(),
    status: g.status,
    applicationId: g.applicationId,
    transactionServiceGroup: g.transactionServiceGroup,
    transactionName: g.transactionName,
    timeout: g.timeout,
    beginTime: g.beginTime,
    applicationData: g.applicationData,
    active: g.active,
    branches: g.branches.map(branchToJson),
  };
}

/** Inverse of globalToJson. */
export function globalFromJson(o: Record<string, unknown>): GlobalSession {
  return {
    xid: o.xid as string,
    transactionId: BigInt(o.transactionId as string),
    status: o.status as number,
    applicationId: (o.applicationId as string | null) ?? null,
    transactionServiceGroup: (o.transactionServiceGroup as string | null) ?? null,
    transactionName: (o.transactionName as string | null) ?? null,
    timeout: o.timeout as number,
    beginTime: o.beginTime as number,
    applicationData: (o.applicationData as string | null) ?? null,
    active: o.active as boolean,
    branches: ((o.branches as Record<string, unknown>[] | undefined) ?? []).map(branchFromJson),
  };
}

/** JSON text of a store record. */
export function opToJson(op: StoreOp): string {
  switch (op.op) {
    case 'globalAdd':
      return JSON.stringify({ op: op.op, global: globalToJson(op.global) });
    case 'branchAdd':
      return JSON.stringify({ op: op.op, branch: branchToJson(op.branch) });
    case 'branchUpdate':
    case 'branchRemove':
      return JSON.stringify({ ...op, branchId: op.branchId.toString() });
    default:
      return JSON.stringify(op);
  }
}

/** Parses a store record. */
export function opFromJson(text: string): StoreOp {
  const o = JSON.parse(text) as Record<string, unknown>;
  switch (o.op) {
    case 'globalAdd':
      return { op: 'globalAdd', global: globalFromJson(o.global as Record<string, unknown>) };
    case 'branchAdd':
      return { op: 'branchAdd', branch: branchFromJson(o.branch as Record<string, unknown>) };
    case 'branchUpdate':
      return {
        op: 'branchUpdate',
        xid: o.xid as string,
        branchId: BigInt(o.branchId as string),
        status: o.status as number,
        applicationData: (o.applicationData as string | null) ?? null,
      };
    case 'branchRemove':
      return { op: 'branchRemove', xid: o.xid as string, branchId: BigInt(o.branchId as string) };
    case 'globalUpdate':
      return {
        op: 'globalUpdate',
        xid: o.xid as string,
        status: o.status as number,
        active: o.active as boolean,
      };
    case 'globalRemove':
      return { op: 'globalRemove', xid: o.xid as string };
    default:
      throw new Error(`unknown store record ${String(o.op)}`);
  }
}

/** Applies a record to an in-memory session map (replay, and the file store's own mirror). */
export function applyOp(sessions: Map<string, GlobalSession>, op: StoreOp): void {
  switch (op.op) {
    case 'globalAdd':
      sessions.set(op.global.xid, { ...op.global, branches: [...op.global.branches] });
      return;
    case 'globalUpdate': {
      const g = sessions.get(op.xid);
      if (g) {
        g.status = op.status;
        g.active = op.active;
      }
      return;
    }
    case 'globalRemove':
      sessions.delete(op.xid);
      return;
    case 'branchAdd': {
      const g = sessions.get(op.branch.xid);
      if (g && !g.branches.some((b) => b.branchId === op.branch.branchId)) g.branches.push({ ...op.branch });
      return;
    }
    case 'branchUpdate': {
      const b = sessions.get(op.xid)?.branches.find((x) => x.branchId === op.branchId);
      if (b) {
        b.status = op.status;
        b.applicationData = op.applicationData;
      }
      return;
    }
    case 'branchRemove': {
      const g = sessions.get(op.xid);
      if (g) g.branches = g.branches.filter((b) => b.branchId !== op.branchId);
      return;
    }
  }
}
