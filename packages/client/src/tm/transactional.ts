/**
 * `globalTransaction(fn, options)`: Seata's TransactionalTemplate. Begin, run `fn` with the XID
 * bound in AsyncLocalStorage, commit if it returns, roll back if it throws (and rethrow), with
 * Seata's propagation modes and hooks. A transaction the TC timed out is reported as rolled
 * back, never as committed. With `local`, the initiator's own DB transaction is bound to it:
 * the local transaction commits only while the global one is alive, and the global commit
 * follows the local commit.
 */
import { TransactionError } from '@dtx/core';
import { GlobalStatus } from '@dtx/protocol';
import { getXid, runWithXid } from '../context.js';
import type { DtxClient } from '../dtx-client.js';
import { GlobalTransaction } from './global-transaction.js';
import type { LocalTransaction } from './local-transaction.js';

/** Seata's Propagation. */
export const Propagation = {
  /** Join the current transaction, or begin one. */
  REQUIRED: 'REQUIRED',
  /** Suspend the current transaction (if any) and begin a new one. */
  REQUIRES_NEW: 'REQUIRES_NEW',
  /** Suspend the current transaction (if any) and run without one. */
  NOT_SUPPORTED: 'NOT_SUPPORTED',
  /** Join the current transaction if there is one, else run without. */
  SUPPORTS: 'SUPPORTS',
  /** Fail if a transaction is bound. */
  NEVER: 'NEVER',
  /** Fail unless a transaction is bound; join it. */
  MANDATORY: 'MANDATORY',
} as const;
export type Propagation = (typeof Propagation)[keyof typeof Propagation];

/** Callbacks around a global transaction (Seata's TransactionHook). Each may be async. */
export interface TransactionHooks {
  beforeBegin?(): unknown;
  afterBegin?(xid: string): unknown;
  beforeCommit?(xid: string): unknown;
  afterCommit?(xid: string, status: number): unknown;
  beforeRollback?(xid: string): unknown;
  afterRollback?(xid: string, status: number): unknown;
  afterCompletion?(xid: string, status: number): unknown;
}

/** Options of one global transaction. */
export interface GlobalTransactionOptions<L = unknown> {
  /** @default 'default' */
  name?: string;
  /** ms @default client.tm.defaultGlobalTransactionTimeout */
  timeout?: number;
  /** @default 'REQUIRED' */
  propagation?: Propagation;
  hooks?: TransactionHooks;
  /** Bind the initiator's local DB transaction (see pgLocalTransaction / mysqlLocalTransaction). */
  local?: LocalTransaction<L>;
}

const globalHooks: TransactionHooks[] = [];

/** Registers hooks for every global transaction of the process (TransactionHookManager). */
export function registerTransactionHooks(hooks: TransactionHooks): () => void {
  globalHooks.push(hooks);
  return () => {
    const i = globalHooks.indexOf(hooks);
    if (i >= 0) globalHooks.splice(i, 1);
  };
}

async function fire<K extends keyof TransactionHooks>(
  own: TransactionHooks | undefined,
  name: K,
  ...args: Parameters<NonNullable<TransactionHooks[K]>>
): Promise<void> {
  for (const h of own ? [...globalHooks, own] : globalHooks) {
    const f = h[name] as ((...a: unknown[]) => unknown) | undefined;
    if (f) await f.apply(h, args);
  }
}

/** Statuses after a commit request that mean the transaction did NOT commit. */
function rolledBack(status: number): boolean {
  return (
    status === GlobalStatus.Rollbacking ||
    status === GlobalStatus.RollbackRetrying ||
    status === GlobalStatus.Rollbacked ||
    status === GlobalStatus.RollbackFailed ||
    status === GlobalStatus.TimeoutRollbacking ||
    status === GlobalStatus.TimeoutRollbackRetrying ||
    status === GlobalStatus.TimeoutRollbacked ||
    status === GlobalStatus.TimeoutRollbackFailed ||
    status === GlobalStatus.RollbackRetryTimeout
  );
}

function statusName(code: number): string {
  for (const [k, v] of Object.entries(GlobalStatus)) if (v === code) return k;
  return String(code);
}

/** Runs `fn` in a global transaction of `client` (see the module comment). */
export async function runGlobalTransaction<T, L = unknown>(
  client: DtxClient,
  fn: (local: L) => Promise<T> | T,
  options: GlobalTransactionOptions<L> = {},
): Promise<T> {
  const propagation = options.propagation ?? Propagation.REQUIRED;
  const existing = getXid();
  switch (propagation) {
    case Propagation.NOT_SUPPORTED:
      return runWithXid(null, () => fn(undefined as L));
    case Propagation.SUPPORTS:
      return fn(undefined as L);
    case Propagation.NEVER:
      if (existing)
        throw new TransactionError(
          'GlobalTransactionStatusInvalid',
          `propagation NEVER, but ${existing} is bound`,
        );
      return fn(undefined as L);
    case Propagation.MANDATORY:
      if (!existing)
        throw new TransactionError(
          'GlobalTransactionNotExist',
          'propagation MANDATORY, but no global transaction is bound',
        );
      return fn(undefined as L);
    case Propagation.REQUIRED:
      if (existing) return fn(undefined as L); // joined: the launcher ends it
      break;
    case Propagation.REQUIRES_NEW:
      break; // the new context below suspends the current one; it resumes when this returns
    default:
      throw new TransactionError('Unknown', `unknown propagation ${String(propagation)}`);
  }
  return runWithXid(null, () => execute(client, fn, options));
}

async function execute<T, L>(
  client: DtxClient,
  fn: (local: L) => Promise<T> | T,
  options: GlobalTransactionOptions<L>,
): Promise<T> {
  const hooks = options.hooks;
  const tx = new GlobalTransaction(client);
  const timeout = options.timeout ?? client.options.defaultGlobalTransactionTimeout;
  const local = options.local;
  let localHandle: L = undefined as L;
  if (local) localHandle = await local.begin();
  let xid: string;
  try {
    await fire(hooks, 'beforeBegin');
    xid = await tx.begin(timeout, options.name ?? 'default');
  } catch (err) {
    if (local) await local.rollback(localHandle).catch(() => {});
    throw err;
  }
  await fire(hooks, 'afterBegin', xid);

  let result: T;
  try {
    result = await runWithXid(xid, () => fn(localHandle));
    // TransactionalTemplate.commitTransaction: past its timeout the transaction is rolled back,
    // not committed. The TC has rolled it back (or is about to) and may already have forgotten
    // it, so a commit would only be answered Finished.
    if (Date.now() - tx.beginTime > timeout) {
      throw new TransactionError(
        'TransactionTimeout',
        `global transaction ${xid} passed its ${timeout} ms timeout before the ${local ? 'local ' : ''}commit; rolled back`,
      );
    }
    if (local) {
      // seadt's rule: the local transaction commits only while the global one is still alive.
      const status = await tx.getStatus();
      if (status !== GlobalStatus.Begin) {
        throw new TransactionError(
          'GlobalTransactionNotActive',
          `global transaction ${xid} is ${statusName(status)} before the local commit`,
          {
            globalStatus: status as GlobalStatus,
          },
        );
      }
      await local.commit(localHandle);
    }
  } catch (err) {
    if (local)
      await local
        .rollback(localHandle)
        .catch((e) => client.logger.error({ err: e, xid }, 'local rollback failed'));
    await fire(hooks, 'beforeRollback', xid);
    let status: number = GlobalStatus.UnKnown;
    try {
      status = await tx.rollback();
    } catch (rollbackErr) {
      client.logger.error(
        { err: rollbackErr, xid },
        'global rollback failed; the TC will time the transaction out',
      );
    }
    await fire(hooks, 'afterRollback', xid, status);
    await fire(hooks, 'afterCompletion', xid, status);
    throw err;
  }

  await fire(hooks, 'beforeCommit', xid);
  const status = await tx.commit();
  if (rolledBack(status)) {
    await fire(hooks, 'afterRollback', xid, status);
    await fire(hooks, 'afterCompletion', xid, status);
    throw new TransactionError(
      status === GlobalStatus.TimeoutRollbacking || status === GlobalStatus.TimeoutRollbacked
        ? 'TransactionTimeout'
        : 'GlobalTransactionStatusInvalid',
      `global transaction ${xid} was rolled back (${statusName(status)}), not committed${local ? '; the local transaction had already committed' : ''}`,
      { globalStatus: status as GlobalStatus },
    );
  }
  if (status === GlobalStatus.Finished) {
    // The TC no longer held the transaction when the commit arrived: it ended without this
    // commit (timed out and rolled back, most likely). TransactionalTemplate reads this as a
    // commit failure; it is never reported as committed.
    await fire(hooks, 'afterCompletion', xid, status);
    throw new TransactionError(
      'GlobalTransactionNotExist',
      `global transaction ${xid} had already ended at the TC when its commit arrived (most likely timed out and rolled back); not committed by this call`,
      { globalStatus: status as GlobalStatus },
    );
  }
  if (status === GlobalStatus.CommitFailed || status === GlobalStatus.CommitRetryTimeout) {
    await fire(hooks, 'afterCompletion', xid, status);
    throw new TransactionError(
      'CommitHeuristic',
      `global transaction ${xid} failed to commit (${statusName(status)})`,
      {
        globalStatus: status as GlobalStatus,
      },
    );
  }
  await fire(hooks, 'afterCommit', xid, status);
  await fire(hooks, 'afterCompletion', xid, status);
  return result;
}
