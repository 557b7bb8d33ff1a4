/**
 * TCC actions. Calling an action inside a global transaction registers a TCC branch (resourceId
 * = the action name, applicationData `{"actionContext":{...}}` as Seata Java and Go write it),
 * runs try (through the fence when one is given), and fails the caller if try fails. Phase two
 * arrives from the TC and runs confirm or cancel with the business action context.
 */
import os from 'node:os';
import { Channels, publish, TransactionError } from '@dtx/core';
import { BranchStatus, BranchType, ResultCode, TypeCode } from '@dtx/protocol';
import { getXid } from '../context.js';
import type { BranchEndRequest, DtxClient } from '../dtx-client.js';
import type { TccFence } from './fence/tcc-fence.js';

/** Seata's BusinessActionContext: what confirm and cancel receive. */
export interface BusinessActionContext {
  xid: string;
  branchId: bigint;
  actionName: string;
  /** The parameters the try recorded, plus Seata's `sys::*` entries. */
  actionContext: Record<string, unknown>;
}

/** What try receives. */
export interface TryContext<A, Tx> {
  /** Null outside a global transaction (try alone). */
  xid: string | null;
  branchId: bigint | null;
  actionName: string;
  args: A;
  /** Mutable: changes made by try are reported to the TC and reach confirm/cancel. */
  actionContext: Record<string, unknown>;
  /** The fence's local transaction, when the action has a fence: run the business SQL on it. */
  tx: Tx;
}

/** What confirm and cancel receive. */
export interface PhaseTwoContext<Tx> extends BusinessActionContext {
  /** The fence's local transaction, when the action has a fence. */
  tx: Tx;
}

/** Thrown by confirm/cancel to tell the TC not to retry (PhaseTwo_*Failed_Unretryable). */
export class NonRetryableError extends TransactionError {
  constructor(message: string, commit: boolean) {
    super('BranchRollbackFailed_Unretriable', message, {
      branchStatus: commit
        ? BranchStatus.PhaseTwo_CommitFailed_Unretryable
        : BranchStatus.PhaseTwo_RollbackFailed_Unretryable,
    });
  }
}

/** A TCC action's definition. */
export interface TccActionDefinition<A, R, Tx = unknown> {
  /** The action name: the branch's resourceId. */
  name: string;
  try(ctx: TryContext<A, Tx>): Promise<R> | R;
  /** Returning false (or throwing) asks the TC to retry; throw NonRetryableError to stop. */
  confirm(ctx: PhaseTwoContext<Tx>): Promise<boolean | undefined> | boolean | undefined;
  cancel(ctx: PhaseTwoContext<Tx>): Promise<boolean | undefined> | boolean | undefined;
  /** Run each phase through this fence (useTCCFence). */
  fence?: TccFence<Tx>;
  /** The try arguments recorded in the action context (@BusinessActionContextParameter). @default args when it is a plain object */
  contextOf?(args: A): Record<string, unknown>;
}

/** A callable TCC action. */
export interface TccAction<A, R> {
  readonly name: string;
  (args: A): Promise<R>;
}

const HOST = (() => {
  for (const list of Object.values(os.networkInterfaces())) {
    for (const a of list ?? []) if (a.family === 'IPv4' && !a.internal) return a.address;
  }
  return '127.0.0.1';
})();

/**
 * Java peers write the context with Jackson type hints: `"@class"` keys and
 * `["java.lang.Long", 1]` pairs. Strip them so every peer's context reads the same.
 */
export function plainContext(value: unknown): unknown {
  if (Array.isArray(value)) {
    if (
      value.length === 2 &&
      typeof value[0] === 'string' &&
      /^(java|javax|org\.apache|io\.seata)\./.test(value[0])
    ) {
      return plainContext(value[1]);
    }
    return value.map(plainContext);
  }
  if (value && typeof value === 'object') {
    const out: Record<string, unknown> = {};
    for (const [k, v] of Object.entries(value)) if (k !== '@class') out[k] = plainContext(v);
    return out;
  }
  return value;
}

/** Parses a branch's applicationData into its action context. */
export function parseActionContext(applicationData: string | null): Record<string, unknown> {
  if (!applicationData) return {};
  try {
    const parsed = plainContext(JSON.parse(applicationData)) as { actionContext?: Record<string, unknown> };
    return parsed.actionContext ?? {};
  } catch {
    return {};
  }
}

/** Defines a TCC action on `client`: registers its resource and returns the callable. */
export function defineTccAction<A, R, Tx = unknown>(
  client: DtxClient,
  def: TccActionDefinition<A, R, Tx>,
): TccAction<A, R> {
  const useFence = def.fence !== undefined;
  const statusOf = (ok: boolean | undefined, commit: boolean): number => {
    if (ok === false)
      return commit
        ? BranchStatus.PhaseTwo_CommitFailed_Retryable
        : BranchStatus.PhaseTwo_RollbackFailed_Retryable;
    return commit ? BranchStatus.PhaseTwo_Committed : BranchStatus.PhaseTwo_Rollbacked;
  };
  const phaseTwo = async (req: BranchEndRequest, commit: boolean): Promise<number> => {
    const actionContext = parseActionContext(req.applicationData);
    const base: BusinessActionContext = {
      xid: req.xid,
      branchId: req.branchId,
      actionName: def.name,
      actionContext,
    };
    const method = commit ? def.confirm : def.cancel;
    // The context says whether try went through the fence (a Java or Go try may have written it).
    const fenced = def.fence && actionContext.useTCCFence !== false;
    let ok: boolean | undefined;
    if (fenced && def.fence) {
      const run = async (tx: Tx) => (await method.call(def, { ...base, tx })) !== false;
      ok = commit
        ? await def.fence.commit(req.xid, req.branchId, def.name, run)
        : await def.fence.rollback(req.xid, req.branchId, def.name, run);
    } else {
      ok = await method.call(def, { ...base, tx: undefined as Tx });
    }
    publish(Channels.RM_PHASE_TWO, () => ({
      xid: req.xid,
      branchId: req.branchId,
      actionName: def.name,
      commit,
      ok,
    }));
    return statusOf(ok, commit);
  };
  client.addResource({
    resourceId: def.name,
    branchType: BranchType.TCC,
    branchCommit: (req) => phaseTwo(req, true),
    branchRollback: (req) => phaseTwo(req, false),
  });

  const call = async (args: A): Promise<R> => {
    const xid = getXid();
    const recorded = def.contextOf
      ? def.contextOf(args)
      : args && typeof args === 'object' && !Array.isArray(args)
        ? { ...(args as object) }
        : {};
    const actionContext: Record<string, unknown> = {
      ...recorded,
      'action-start-time': Date.now(),
      'sys::prepare': 'try',
      'sys::commit': 'confirm',
      'sys::rollback': 'cancel',
      actionName: def.name,
      useTCCFence: useFence,
      'host-name': HOST,
    };
    if (!xid) {
      client.logger.warn(
        { action: def.name },
        'TCC action called outside a global transaction: running try alone, no confirm or cancel will follow',
      );
      const alone = (tx: Tx) =>
        def.try({ xid: null, branchId: null, actionName: def.name, args, actionContext, tx });
      // A fenced try writes its SQL on the fence's transaction handle: give it one (with no
      // fence row, as there is no branch), so it runs, and commits or rolls back, as a unit.
      return def.fence ? def.fence.db.transaction(async (tx) => alone(tx)) : alone(undefined as Tx);
    }
    const applicationData = JSON.stringify({ actionContext });
    const r = await client.rmRequest(
      {
        typeCode: TypeCode.BRANCH_REGISTER,
        xid,
        branchType: BranchType.TCC,
        resourceId: def.name,
        lockKey: null,
        applicationData,
      },
      xid,
    );
    if (r.typeCode !== TypeCode.BRANCH_REGISTER_RESULT)
      throw new TransactionError('BranchRegisterFailed', `unexpected answer ${r.typeCode}`);
    if (r.resultCode === ResultCode.Failed)
      throw new TransactionError(r.exceptionCode, `branch register of ${def.name} failed: ${r.msg}`);
    const branchId = r.branchId;
    publish(Channels.RM_BRANCH_REGISTER, () => ({ xid, branchId, actionName: def.name }));
    const ctx: TryContext<A, Tx> = {
      xid,
      branchId,
      actionName: def.name,
      args,
      actionContext,
      tx: undefined as Tx,
    };
    const result = def.fence
      ? await def.fence.prepare(xid, branchId, def.name, async (tx) => def.try({ ...ctx, tx }))
      : await def.try(ctx);
    // A try that changed its context reports it, so phase two sees the change (BranchReport).
    const updated = JSON.stringify({ actionContext: ctx.actionContext });
    if (updated !== applicationData) {
      const report = await client.rmRequest(
        {
          typeCode: TypeCode.BRANCH_STATUS_REPORT,
          xid,
          branchId,
          status: BranchStatus.Registered,
          resourceId: def.name,
          applicationData: updated,
          branchType: BranchType.TCC,
        },
        xid,
      );
      if ('resultCode' in report && report.resultCode === ResultCode.Failed) {
        throw new TransactionError(
          report.exceptionCode,
          `branch report of ${def.name} failed: ${report.msg}`,
        );
      }
    }
    return result;
  };
  Object.defineProperty(call, 'name', { value: def.name });
  return call as TccAction<A, R>;
}
