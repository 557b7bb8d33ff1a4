/**
 * The low-level TM object (Seata's DefaultGlobalTransaction): begin, commit, rollback, status,
 * report. A transaction begun elsewhere (an XID already bound) is joined as a Participant,
 * whose commit and rollback are no-ops: only the Launcher ends a global transaction.
 */
import { Channels, publish, TransactionError } from '@dtx/core';
import { GlobalStatus, ResultCode, type SingleMessage, TypeCode } from '@dtx/protocol';
import type { DtxClient } from '../dtx-client.js';

/** Launcher began it here; Participant joined an XID from elsewhere. */
export type GlobalTransactionRole = 'Launcher' | 'Participant';

function check(response: SingleMessage, what: string): SingleMessage {
  if ('resultCode' in response && response.resultCode === ResultCode.Failed) {
    throw new TransactionError(response.exceptionCode, `${what} failed: ${response.msg ?? 'no message'}`);
  }
  return response;
}

function statusOf(response: SingleMessage): number {
  return 'globalStatus' in response && response.globalStatus !== null
    ? response.globalStatus
    : GlobalStatus.UnKnown;
}

/** One global transaction as the TM sees it. */
export class GlobalTransaction {
  xid: string | null;
  status: number;
  readonly role: GlobalTransactionRole;
  /** When begin returned (ms since the epoch), for the local timeout check. */
  beginTime = 0;
  timeout = 0;

  constructor(
    private readonly client: DtxClient,
    joinXid: string | null = null,
  ) {
    this.xid = joinXid;
    this.role = joinXid ? 'Participant' : 'Launcher';
    this.status = joinXid ? GlobalStatus.Begin : GlobalStatus.UnKnown;
  }

  /** Opens the transaction on the TC (a Participant only checks it has an XID). */
  async begin(
    timeout = this.client.options.defaultGlobalTransactionTimeout,
    name = 'default',
  ): Promise<string> {
    if (this.role === 'Participant') return this.xid as string;
    if (this.xid) throw new TransactionError('GlobalTransactionStatusInvalid', `already begun: ${this.xid}`);
    // Timed from before the request: the TC's clock starts when it receives it, so the local
    // timeout check (TransactionalTemplate) never thinks the transaction younger than the TC does.
    const sentAt = Date.now();
    const r = check(
      await this.client.tmRequest({ typeCode: TypeCode.GLOBAL_BEGIN, timeout, transactionName: name }),
      'global begin',
    );
    if (r.typeCode !== TypeCode.GLOBAL_BEGIN_RESULT || !r.xid)
      throw new TransactionError('BeginFailed', 'the TC returned no XID');
    this.xid = r.xid;
    this.status = GlobalStatus.Begin;
    this.beginTime = sentAt;
    this.timeout = timeout;
    publish(Channels.TM_BEGIN, () => ({ xid: this.xid, name, timeout }));
    return r.xid;
  }

  /** Asks the TC to commit, retrying `client.tm.commitRetryCount` times on failure; returns the status. */
  async commit(): Promise<number> {
    if (this.role === 'Participant') return this.status;
    const xid = this.requireXid();
    this.status = await this.retry(this.client.options.commitRetryCount, 'global commit', async () =>
      statusOf(
        check(
          await this.client.tmRequest({ typeCode: TypeCode.GLOBAL_COMMIT, xid, extraData: null }, xid),
          'global commit',
        ),
      ),
    );
    publish(Channels.TM_COMMIT, () => ({ xid, status: this.status }));
    return this.status;
  }

  /** Asks the TC to roll back, retrying `client.tm.rollbackRetryCount` times on failure; returns the status. */
  async rollback(): Promise<number> {
    if (this.role === 'Participant') return this.status;
    const xid = this.requireXid();
    this.status = await this.retry(this.client.options.rollbackRetryCount, 'global rollback', async () =>
      statusOf(
        check(
          await this.client.tmRequest({ typeCode: TypeCode.GLOBAL_ROLLBACK, xid, extraData: null }, xid),
          'global rollback',
        ),
      ),
    );
    publish(Channels.TM_ROLLBACK, () => ({ xid, status: this.status }));
    return this.status;
  }

  /** The TC's view of the transaction (Finished once it has ended and been removed). */
  async getStatus(): Promise<number> {
    const xid = this.requireXid();
    return statusOf(
      check(
        await this.client.tmRequest({ typeCode: TypeCode.GLOBAL_STATUS, xid, extraData: null }, xid),
        'global status',
      ),
    );
  }

  /** Saga-style: tells the TC how the transaction ended (GlobalReportRequest). */
  async globalReport(status: number): Promise<number> {
    const xid = this.requireXid();
    this.status = statusOf(
      check(
        await this.client.tmRequest(
          { typeCode: TypeCode.GLOBAL_REPORT, xid, extraData: null, globalStatus: status as GlobalStatus },
          xid,
        ),
        'global report',
      ),
    );
    return this.status;
  }

  private requireXid(): string {
    if (!this.xid) throw new TransactionError('GlobalTransactionNotExist', 'the transaction has not begun');
    return this.xid;
  }

  private async retry(times: number, what: string, op: () => Promise<number>): Promise<number> {
    let last: unknown;
    for (let attempt = 0; attempt <= times; attempt++) {
      try {
        return await op();
      } catch (err) {
        last = err;
        // A definite answer from the TC is final; only failures to get one are retried.
        if (err instanceof TransactionError && err.code !== 'IO' && err.code !== 'Unknown') throw err;
        this.client.logger.warn({ err, xid: this.xid, attempt }, `${what} failed; retrying`);
        await new Promise((r) => setTimeout(r, Math.min(1000, 50 * 2 ** attempt)));
      }
    }
    throw last;
  }
}

/** Saga-style callers that decide the outcome themselves: report a global status for an XID. */
export class GlobalReport {
  constructor(private readonly client: DtxClient) {}

  /** Reports `status` for `xid` and returns what the TC recorded. */
  async report(xid: string, status: number): Promise<number> {
    const tx = new GlobalTransaction(this.client);
    tx.xid = xid;
    return tx.globalReport(status);
  }
}
