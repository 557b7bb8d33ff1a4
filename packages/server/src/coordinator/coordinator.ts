/**
 * The transaction coordinator's request handling and phase two (Seata's DefaultCoordinator,
 * DefaultCore, AbstractCore, ATCore, SagaCore). It talks to peers only through Session objects
 * handed to it by the remoting layer, and to disk only through a TransactionStore.
 */
import { createHmac, timingSafeEqual } from 'node:crypto';
import {
  buildXid,
  Channels,
  type IdWorker,
  LimitError,
  type Logger,
  type Metrics,
  publish,
  TransactionError,
} from '@dtx/core';
import {
  BranchStatus,
  BranchType,
  GlobalStatus,
  ResultCode,
  type SingleMessage,
  type TcRequest,
  type TransactionExceptionCode,
  TypeCode,
} from '@dtx/protocol';
import type { Session } from '@dtx/remoting';
import type { LockManager } from '../lock/lock-manager.js';
import {
  type BranchSession,
  canBeCommittedAsync,
  type GlobalSession,
  isEndStatus,
  isSaga,
  isTimedOut,
} from '../session/global-session.js';
import type { StoreOp, TransactionStore } from '../store/transaction-store.js';
import { getOrCreate } from '../util/maps.js';
import { ChannelManager, parseExtraData, type RpcContext, splitAddress } from './rpc-context.js';

/** The Seata release dtx answers registrations with. */
export const COMPAT_VERSION = '2.2.0';

/** Coordinator settings (Seata's `server.*` keys where they exist). */
export interface CoordinatorOptions {
  /** The `ip:port` written into XIDs: the address clients reach this TC at. */
  advertisedHost: string;
  advertisedPort: number;
  /** BranchCommit/BranchRollback timeout (`transport.rpcTcRequestTimeout`). @default 15000 */
  branchRequestTimeoutMs: number;
  /** Check applicationData size on register (`server.applicationDataLimitCheck`). @default false */
  applicationDataLimitCheck: boolean;
  /** @default 64000 (`server.applicationDataLimit`) */
  applicationDataLimit: number;
  /** ms; -1 retries forever (`server.maxCommitRetryTimeout`). @default -1 */
  maxCommitRetryTimeout: number;
  /** ms; -1 retries forever (`server.maxRollbackRetryTimeout`). @default -1 */
  maxRollbackRetryTimeout: number;
  /** @default false (`server.rollbackRetryTimeoutUnlockEnable`) */
  rollbackRetryTimeoutUnlockEnable: boolean;
  /** Default global timeout when a begin asks for 0 or less. @default 60000 */
  defaultGlobalTimeoutMs: number;
  /** Transactions one client may hold open (begun, not ended) at once. @default 100000 */
  maxOpenTransactionsPerClient: number;
  /** Registration auth: off unless a secret key is set (`ak`/`digest` extraData). */
  auth: { enabled: boolean; accessKey: string | null; secretKey: string | null; maxClockSkewMs: number };
}

/** Defaults of CoordinatorOptions (advertised address excluded). */
export const DEFAULT_COORDINATOR_OPTIONS: Readonly<
  Omit<CoordinatorOptions, 'advertisedHost' | 'advertisedPort'>
> = Object.freeze({
  branchRequestTimeoutMs: 15000,
  applicationDataLimitCheck: false,
  applicationDataLimit: 64000,
  maxCommitRetryTimeout: -1,
  maxRollbackRetryTimeout: -1,
  rollbackRetryTimeoutUnlockEnable: false,
  defaultGlobalTimeoutMs: 60000,
  maxOpenTransactionsPerClient: 100000,
  auth: { enabled: false, accessKey: null, secretKey: null, maxClockSkewMs: 5 * 60_000 },
});

type Fields = Record<string, unknown>;

const S = GlobalStatus;
const B = BranchStatus;

function ok<T extends SingleMessage['typeCode']>(typeCode: T, fields: Fields): SingleMessage {
  return {
    typeCode,
    resultCode: ResultCode.Success,
    msg: null,
    exceptionCode: 'Unknown',
    ...fields,
  } as unknown as SingleMessage;
}

/** Default field values of each response type, so a failure carries a complete message. */
const FAILURE_DEFAULTS: Record<number, Fields> = {
  [TypeCode.GLOBAL_BEGIN_RESULT]: { xid: null, extraData: null },
  [TypeCode.BRANCH_REGISTER_RESULT]: { branchId: 0n },
  [TypeCode.BRANCH_STATUS_REPORT_RESULT]: {},
  [TypeCode.GLOBAL_COMMIT_RESULT]: { globalStatus: S.UnKnown },
  [TypeCode.GLOBAL_ROLLBACK_RESULT]: { globalStatus: S.UnKnown },
  [TypeCode.GLOBAL_STATUS_RESULT]: { globalStatus: S.UnKnown },
  [TypeCode.GLOBAL_REPORT_RESULT]: { globalStatus: S.UnKnown },
  [TypeCode.GLOBAL_LOCK_QUERY_RESULT]: { lockable: false },
};

/** The response type for each request type. */
const RESPONSE_OF: Record<number, SingleMessage['typeCode']> = {
  [TypeCode.GLOBAL_BEGIN]: TypeCode.GLOBAL_BEGIN_RESULT,
  [TypeCode.BRANCH_REGISTER]: TypeCode.BRANCH_REGISTER_RESULT,
  [TypeCode.BRANCH_STATUS_REPORT]: TypeCode.BRANCH_STATUS_REPORT_RESULT,
  [TypeCode.GLOBAL_COMMIT]: TypeCode.GLOBAL_COMMIT_RESULT,
  [TypeCode.GLOBAL_ROLLBACK]: TypeCode.GLOBAL_ROLLBACK_RESULT,
  [TypeCode.GLOBAL_STATUS]: TypeCode.GLOBAL_STATUS_RESULT,
  [TypeCode.GLOBAL_REPORT]: TypeCode.GLOBAL_REPORT_RESULT,
  [TypeCode.GLOBAL_LOCK_QUERY]: TypeCode.GLOBAL_LOCK_QUERY_RESULT,
};

/** A failed response as AbstractExceptionHandler writes it. */
function failure(typeCode: SingleMessage['typeCode'], err: unknown): SingleMessage {
  const isTx = err instanceof TransactionError;
  const code: TransactionExceptionCode = isTx ? err.code : 'Unknown';
  const text = err instanceof Error ? err.message : String(err);
  return {
    typeCode,
    ...FAILURE_DEFAULTS[typeCode],
    resultCode: ResultCode.Failed,
    exceptionCode: code,
    msg: isTx ? `TransactionException[${text}]` : `RuntimeException[${text}]`,
  } as unknown as SingleMessage;
}

function txError(code: TransactionExceptionCode, message: string): TransactionError {
  return new TransactionError(code, message);
}

/** Everything the coordinator needs, injected. */
export interface CoordinatorDeps {
  store: TransactionStore;
  locks: LockManager;
  ids: IdWorker;
  logger: Logger;
  metrics: Metrics;
  channels?: ChannelManager;
}

/** The TC's brain. */
export class Coordinator {
  readonly channels: ChannelManager;
  /** Sessions this TC holds in memory, by XID. */
  readonly sessions = new Map<string, GlobalSession>();
  /** XIDs whose phase two is running now, so recovery does not drive them twice. */
  private readonly busy = new Set<string>();
  /** Open transactions per clientId, for maxOpenTransactionsPerClient. */
  private readonly openPerClient = new Map<string, number>();
  /** Who opened each open transaction, and when it stops counting (maxOpenTransactionsPerClient). */
  private readonly openOwners = new Map<string, { client: string; until: number }>();
  /**
   * Whether `sessions` is the truth (the file store: one TC owns everything) or every request
   * reads the store afresh (shared stores: another TC may have changed a session, so a cached
   * copy could miss a branch or a decision; Seata's db mode reads the store the same way).
   */
  private readonly cached: boolean;
  private readonly store: TransactionStore;
  private readonly locks: LockManager;
  private ids: IdWorker;
  private readonly logger: Logger;
  private readonly txCounter;
  private readonly txLatency;
  private readonly exceptionCounter;
  private stopped = false;

  constructor(
    readonly options: CoordinatorOptions,
    deps: CoordinatorDeps,
  ) {
    this.store = deps.store;
    this.locks = deps.locks;
    this.ids = deps.ids;
    this.logger = deps.logger;
    this.channels = deps.channels ?? new ChannelManager();
    this.cached = !deps.store.shared;
    this.txCounter = deps.metrics.counter('seata_transaction', 'Global transactions by role and status', [
      'role',
      'status',
    ]);
    this.txLatency = deps.metrics.histogram(
      'seata_transaction_duration_seconds',
      'Begin-to-end time of global transactions',
      ['role', 'status'],
      [0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10, 30, 60],
    );
    this.exceptionCounter = deps.metrics.counter('seata_exception', 'Failed TC requests by exception code', [
      'code',
    ]);
  }

  /** Loads the store's unfinished sessions into memory (after a restart) and rebuilds locks. */
  restore(sessions: GlobalSession[]): void {
    for (const g of sessions) {
      this.sessions.set(g.xid, g);
      if (!isEndStatus(g.status) && g.status !== S.Begin) g.active = false;
      for (const b of g.branches) {
        if (b.lockKey && 'acquireSync' in this.locks)
          (this.locks as { acquireSync(b: BranchSession): boolean }).acquireSync(b);
      }
    }
  }

  /** Replaces the id source (a worker id leased from a shared store); only before requests arrive. */
  useIdWorker(ids: IdWorker): void {
    this.ids = ids;
  }

  /** Stops driving phase two (shutdown). */
  stop(): void {
    this.stopped = true;
  }

  // -------------------------------------------------------------------------------------------
  // entry point from remoting

  /** Handles one request from a peer; returns the response for SYNC requests. */
  async onMessage(session: Session, msg: SingleMessage): Promise<SingleMessage | undefined> {
    switch (msg.typeCode) {
      case TypeCode.REG_CLT:
        return this.registerTm(session, msg);
      case TypeCode.REG_RM:
        return this.registerRm(session, msg);
      case TypeCode.BRANCH_COMMIT_RESULT:
      case TypeCode.BRANCH_ROLLBACK_RESULT:
        return undefined; // responses are matched by the session's futures
      default:
        break;
    }
    const responseType = RESPONSE_OF[msg.typeCode];
    if (responseType === undefined) {
      this.logger.warn(
        { typeCode: msg.typeCode, peer: session.remoteAddress },
        'unexpected message type; closing session',
      );
      session.close(new TransactionError('Unknown', `message type ${msg.typeCode} is not a TC request`));
      return undefined;
    }
    const ctx = this.channels.contextOf(session);
    if (!ctx) {
      // ServerOnRequestProcessor: a transaction request on an unregistered channel closes it.
      this.logger.warn(
        { peer: session.remoteAddress, typeCode: msg.typeCode },
        'request before registration; closing session',
      );
      session.close(new TransactionError('Unknown', 'transaction request on an unregistered session'));
      return undefined;
    }
    try {
      return await this.handle(ctx, msg as TcRequest);
    } catch (err) {
      const code = err instanceof TransactionError ? err.code : 'Unknown';
      this.exceptionCounter.inc({ code });
      if (!(err instanceof TransactionError))
        this.logger.error({ err, typeCode: msg.typeCode }, 'request failed');
      return failure(responseType, err);
    }
  }

  private handle(ctx: RpcContext, msg: TcRequest): Promise<SingleMessage> {
    switch (msg.typeCode) {
      case TypeCode.GLOBAL_BEGIN:
        return this.begin(ctx, msg.timeout, msg.transactionName);
      case TypeCode.BRANCH_REGISTER:
        return this.branchRegister(ctx, msg);
      case TypeCode.BRANCH_STATUS_REPORT:
        return this.branchReport(msg);
      case TypeCode.GLOBAL_COMMIT:
        return this.commit(msg.xid);
      case TypeCode.GLOBAL_ROLLBACK:
        return this.rollback(msg.xid);
      case TypeCode.GLOBAL_STATUS:
        return this.status(msg.xid);
      case TypeCode.GLOBAL_REPORT:
        return this.globalReport(msg.xid, msg.globalStatus);
      case TypeCode.GLOBAL_LOCK_QUERY:
        return this.lockQuery(msg.xid, msg.resourceId, msg.lockKey);
    }
  }

  // -------------------------------------------------------------------------------------------
  // registration

  private checkAuth(extra: Map<string, string>, group: string | null, ip: string): string | null {
    const auth = this.options.auth;
    if (!auth.enabled) return null;
    const ak = extra.get('ak');
    const digest = extra.get('digest');
    const timestamp = Number(extra.get('timestamp'));
    // Without a configured access key any ak is accepted (Java clients send "ak=null" by default).
    if (auth.accessKey && ak !== auth.accessKey) return 'unknown access key';
    if (!Number.isFinite(timestamp) || Math.abs(Date.now() - timestamp) > auth.maxClockSkewMs)
      return 'timestamp outside the allowed skew';
    if (!auth.secretKey || !digest) return 'missing digest';
    // Seata's DefaultAuthSigner: HmacSHA256 over "group,ip,timestamp", base64.
    const expected = createHmac('sha256', auth.secretKey)
      .update(`${group ?? ''},${ip},${timestamp}`)
      .digest('base64');
    const a = Buffer.from(expected);
    const b = Buffer.from(digest);
    return a.length === b.length && timingSafeEqual(a, b) ? null : 'bad digest';
  }

  private registerTm(session: Session, msg: Extract<SingleMessage, { typeCode: 101 }>): SingleMessage {
    const extra = parseExtraData(msg.extraData);
    // The signed ip is the client's; remoteAddress is `ip:port`, so only its ip part may stand in.
    const ip = extra.get('ip') ?? splitAddress(session.remoteAddress).ip;
    const refused = this.checkAuth(extra, msg.transactionServiceGroup, ip);
    if (refused) {
      this.logger.warn({ peer: session.remoteAddress, reason: refused }, 'TM registration refused');
      return { typeCode: TypeCode.REG_CLT_RESULT, identified: false, version: COMPAT_VERSION };
    }
    this.channels.register(session, 'TM', {
      version: msg.version ?? '',
      applicationId: msg.applicationId ?? '',
      transactionServiceGroup: msg.transactionServiceGroup ?? '',
    });
    return { typeCode: TypeCode.REG_CLT_RESULT, identified: true, version: COMPAT_VERSION };
  }

  private registerRm(session: Session, msg: Extract<SingleMessage, { typeCode: 103 }>): SingleMessage {
    const extra = parseExtraData(msg.extraData);
    const refused = this.checkAuth(
      extra,
      msg.transactionServiceGroup,
      extra.get('ip') ?? splitAddress(session.remoteAddress).ip,
    );
    if (refused) {
      this.logger.warn({ peer: session.remoteAddress, reason: refused }, 'RM registration refused');
      return { typeCode: TypeCode.REG_RM_RESULT, identified: false, version: COMPAT_VERSION };
    }
    this.channels.register(session, 'RM', {
      version: msg.version ?? '',
      applicationId: msg.applicationId ?? '',
      transactionServiceGroup: msg.transactionServiceGroup ?? '',
      resourceIds: (msg.resourceIds ?? '').split(',').filter((r) => r.length > 0),
    });
    return { typeCode: TypeCode.REG_RM_RESULT, identified: true, version: COMPAT_VERSION };
  }

  /** A session closed: forget its registration. */
  onSessionClose(session: Session): void {
    this.channels.unregister(session);
  }

  // -------------------------------------------------------------------------------------------
  // phase one

  private async begin(ctx: RpcContext, timeout: number, name: string | null): Promise<SingleMessage> {
    let open = this.openPerClient.get(ctx.clientId) ?? 0;
    if (open >= this.options.maxOpenTransactionsPerClient) {
      this.pruneOpenSlots(ctx.clientId);
      open = this.openPerClient.get(ctx.clientId) ?? 0;
    }
    if (open >= this.options.maxOpenTransactionsPerClient) {
      const limit = new LimitError(
        'server.maxOpenTransactionsPerClient',
        this.options.maxOpenTransactionsPerClient,
      );
      throw txError(
        'BeginFailed',
        `${ctx.clientId} already holds ${open} open transactions: ${limit.message}`,
      );
    }
    const transactionId = this.ids.nextId();
    const xid = buildXid(this.options.advertisedHost, this.options.advertisedPort, transactionId);
    const g: GlobalSession = {
      xid,
      transactionId,
      status: S.Begin,
      applicationId: ctx.applicationId,
      transactionServiceGroup: ctx.transactionServiceGroup,
      transactionName: name,
      timeout: timeout > 0 ? timeout : this.options.defaultGlobalTimeoutMs,
      beginTime: Date.now(),
      applicationData: null,
      active: true,
      branches: [],
    };
    if (this.cached) this.sessions.set(xid, g);
    this.openPerClient.set(ctx.clientId, open + 1);
    // A transaction ended by another TC (shared stores) is never seen ending here: it stops
    // counting once well past its timeout, when the TC cluster has timed it out anyway.
    this.openOwners.set(xid, { client: ctx.clientId, until: g.beginTime + 2 * g.timeout + 60_000 });
    try {
      await this.store.write({ op: 'globalAdd', global: g }, true);
    } catch (err) {
      this.forget(g);
      throw txError('BeginFailed', `could not store the new transaction: ${(err as Error).message}`);
    }
    this.txCounter.inc({ role: 'tc', status: 'Begin' });
    publish(Channels.TC_GLOBAL_STATUS, () => ({ xid, status: S.Begin }));
    return ok(TypeCode.GLOBAL_BEGIN_RESULT, { xid, extraData: null });
  }

  /**
   * The session for an XID: from memory (file store, without a promise), or read afresh from a
   * shared store (`withBranches: false` when only its status matters).
   */
  private find(
    xid: string | null,
    withBranches = true,
  ): GlobalSession | null | Promise<GlobalSession | null> {
    if (!xid) return null;
    if (this.cached) return this.sessions.get(xid) ?? null;
    return this.store.findGlobal(xid, { waitForWrites: false, withBranches });
  }

  private async branchRegister(
    ctx: RpcContext,
    msg: Extract<SingleMessage, { typeCode: 11 }>,
  ): Promise<SingleMessage> {
    const g = await this.find(msg.xid, false); // registration checks the status only
    if (!g)
      throw txError(
        'GlobalTransactionNotExist',
        `Could not found global transaction xid = ${msg.xid}, may be it has finished.`,
      );
    if (!g.active)
      throw txError(
        'GlobalTransactionNotActive',
        `Could not register branch into global session xid = ${g.xid} status = ${g.status}, cause by globalSession not active`,
      );
    if (g.status !== S.Begin)
      throw txError(
        'GlobalTransactionStatusInvalid',
        `Could not register branch into global session xid = ${g.xid} status = ${g.status} while expecting ${S.Begin}`,
      );
    if (!msg.resourceId) throw txError('BranchRegisterFailed', 'branch register needs a resourceId');
    if (
      this.options.applicationDataLimitCheck &&
      msg.applicationData &&
      Buffer.byteLength(msg.applicationData) > this.options.applicationDataLimit
    ) {
      throw txError(
        'FailedToAddBranch',
        `applicationData of ${Buffer.byteLength(msg.applicationData)} bytes exceeds the ${this.options.applicationDataLimit}-byte limit`,
      );
    }
    const branch: BranchSession = {
      branchId: this.ids.nextId(),
      xid: g.xid,
      transactionId: g.transactionId,
      resourceGroupId: g.transactionServiceGroup,
      resourceId: msg.resourceId,
      branchType: msg.branchType,
      status: B.Registered,
      clientId: ctx.clientId,
      applicationData: msg.applicationData,
      lockKey: msg.lockKey,
      beginTime: Date.now(),
    };
    const takesLocks = msg.branchType === BranchType.AT && !!msg.lockKey;
    if (takesLocks) {
      if (!(await this.locks.acquire(branch))) {
        throw txError(
          'LockKeyConflict',
          `Global lock acquire failed xid = ${g.xid} branchId = ${branch.branchId}`,
        );
      }
      // Acquiring may have waited on the database: a commit or rollback that came in meanwhile
      // closed the session, so this branch must not join it (Seata holds the session lock here).
      if (!g.active || g.status !== S.Begin) {
        await this.locks.release(branch);
        throw txError(
          'GlobalTransactionNotActive',
          `Could not register branch into global session xid = ${g.xid} status = ${g.status}, cause by globalSession not active`,
        );
      }
      lockHolders.add(g);
    }
    g.branches.push(branch);
    try {
      await this.store.write({ op: 'branchAdd', branch }, true);
    } catch (err) {
      g.branches = g.branches.filter((b) => b !== branch);
      await this.locks.release(branch);
      throw txError('FailedToAddBranch', `could not store branch: ${(err as Error).message}`);
    }
    // A shared store: a commit or rollback taken meanwhile (by another request to this TC or
    // another one) may have read the branch list before this branch was stored, and would end
    // the transaction without it, leaving the participant's try hanging. The decision stores its
    // status before it reads the branches for the last time (lateBranches), so reading the
    // status back after storing the branch means one of the two sees the other.
    if (!this.cached) {
      const now = await this.store.findGlobal(g.xid, { waitForWrites: false, withBranches: false });
      if (!now || now.status !== S.Begin) {
        await this.store.write({ op: 'branchRemove', xid: g.xid, branchId: branch.branchId }, true);
        if (takesLocks) await this.locks.release(branch);
        throw txError(
          'GlobalTransactionNotActive',
          `Could not register branch into global session xid = ${g.xid} status = ${now ? now.status : S.Finished}, cause by globalSession not active`,
        );
      }
    }
    return ok(TypeCode.BRANCH_REGISTER_RESULT, { branchId: branch.branchId });
  }

  private async branchReport(msg: Extract<SingleMessage, { typeCode: 13 }>): Promise<SingleMessage> {
    const g = await this.find(msg.xid);
    if (!g)
      throw txError(
        'GlobalTransactionNotExist',
        `Could not found global transaction xid = ${msg.xid}, may be it has finished.`,
      );
    const b = g.branches.find((x) => x.branchId === msg.branchId);
    if (!b)
      throw txError(
        'BranchTransactionNotExist',
        `Could not found branch session xid = ${msg.xid} branchId = ${msg.branchId}`,
      );
    b.status = msg.status;
    if (msg.applicationData !== null) b.applicationData = msg.applicationData;
    await this.store.write(
      {
        op: 'branchUpdate',
        xid: g.xid,
        branchId: b.branchId,
        status: b.status,
        applicationData: b.applicationData,
      },
      true,
    );
    return ok(TypeCode.BRANCH_STATUS_REPORT_RESULT, {});
  }

  private async lockQuery(
    xid: string | null,
    resourceId: string | null,
    lockKey: string | null,
  ): Promise<SingleMessage> {
    const lockable = !resourceId || !lockKey ? true : await this.locks.isLockable(xid, resourceId, lockKey);
    return ok(TypeCode.GLOBAL_LOCK_QUERY_RESULT, { lockable });
  }

  private async status(xid: string | null): Promise<SingleMessage> {
    const g = await this.find(xid, false);
    return ok(TypeCode.GLOBAL_STATUS_RESULT, { globalStatus: g ? g.status : S.Finished });
  }

  // -------------------------------------------------------------------------------------------
  // decisions

  /**
   * Stores a new status. With `expect`, only while the stored status is still `expect`
   * (compare-and-set): false when another decision came first (another TC sharing the store,
   * or another request), and `g` keeps its old status.
   */
  private async setStatus(
    g: GlobalSession,
    status: number,
    durable: boolean,
    expect?: number,
  ): Promise<boolean> {
    const before = g.status;
    g.status = status;
    const op: StoreOp = { op: 'globalUpdate', xid: g.xid, status, active: g.active };
    if (expect !== undefined) op.expect = expect;
    if (!(await this.store.write(op, durable))) {
      g.status = before;
      return false;
    }
    publish(Channels.TC_GLOBAL_STATUS, () => ({ xid: g.xid, status }));
    return true;
  }

  /**
   * The answer to a commit or rollback whose decision lost its compare-and-set: the status the
   * store holds now, as if the request had found it there (AsyncCommitting reads as Committed to
   * a committing TM, as DefaultCore answers).
   */
  private async decidedElsewhere(
    xid: string,
    typeCode: typeof TypeCode.GLOBAL_COMMIT_RESULT | typeof TypeCode.GLOBAL_ROLLBACK_RESULT,
  ): Promise<SingleMessage> {
    const now = await this.find(xid, false);
    this.logger.info(
      { xid, status: now?.status ?? S.Finished },
      'another decision on this transaction came first',
    );
    let globalStatus = now ? now.status : S.Finished;
    if (typeCode === TypeCode.GLOBAL_COMMIT_RESULT && globalStatus === S.AsyncCommitting)
      globalStatus = S.Committed;
    return ok(typeCode, { globalStatus });
  }

  /** TM commit (DefaultCore.commit). */
  async commit(xid: string | null): Promise<SingleMessage> {
    const g = await this.find(xid);
    if (!g) return ok(TypeCode.GLOBAL_COMMIT_RESULT, { globalStatus: S.Finished });
    if (g.status !== S.Begin || !g.active) {
      return ok(TypeCode.GLOBAL_COMMIT_RESULT, {
        globalStatus: g.status === S.AsyncCommitting ? S.Committed : g.status,
      });
    }
    g.active = false;
    // Every decision leaves Begin by compare-and-set: of two racing decisions (this commit and a
    // rollback, another TC's timeout check, a retried commit) exactly one is taken.
    if (isTimedOut(g, Date.now())) {
      // Reported as rolling back, never as committed: the timeout decided first.
      if (!(await this.setStatus(g, S.TimeoutRollbacking, true, S.Begin)))
        return this.decidedElsewhere(g.xid, TypeCode.GLOBAL_COMMIT_RESULT);
      void this.doGlobalRollback(g, false);
      return ok(TypeCode.GLOBAL_COMMIT_RESULT, { globalStatus: S.TimeoutRollbacking });
    }
    if (canBeCommittedAsync(g)) {
      if (!(await this.setStatus(g, S.AsyncCommitting, true, S.Begin)))
        return this.decidedElsewhere(g.xid, TypeCode.GLOBAL_COMMIT_RESULT);
      // GlobalSession.closeAndClean: AT row locks go with the commit decision, not with phase two.
      if (this.holdsLocks(g)) await this.locks.releaseGlobal(g);
      // With a shared store the AsyncCommitting task (one TC at a time, under its cluster lock)
      // drives it, so two TCs never commit it at once. Alone on a file store, start right away.
      // Nobody awaits this run: a failure (the store refusing the end) must not become an
      // unhandled rejection, which would take the whole TC process down. Recovery retries.
      if (this.cached) {
        this.doGlobalCommit(g, true).catch((err) => {
          this.logger.error({ err, xid: g.xid }, 'async commit failed; recovery will retry');
        });
      }
      return ok(TypeCode.GLOBAL_COMMIT_RESULT, { globalStatus: S.Committed });
    }
    this.busy.add(g.xid);
    try {
      if (!(await this.setStatus(g, S.Committing, true, S.Begin)))
        return this.decidedElsewhere(g.xid, TypeCode.GLOBAL_COMMIT_RESULT);
      if (this.holdsLocks(g)) await this.locks.releaseGlobal(g);
    } finally {
      this.busy.delete(g.xid);
    }
    await this.doGlobalCommit(g, false);
    return ok(TypeCode.GLOBAL_COMMIT_RESULT, { globalStatus: g.status });
  }

  /** TM rollback (DefaultCore.rollback). */
  async rollback(xid: string | null): Promise<SingleMessage> {
    const g = await this.find(xid);
    if (!g) return ok(TypeCode.GLOBAL_ROLLBACK_RESULT, { globalStatus: S.Finished });
    if (!g.active || g.status !== S.Begin)
      return ok(TypeCode.GLOBAL_ROLLBACK_RESULT, { globalStatus: g.status });
    g.active = false;
    this.busy.add(g.xid);
    try {
      if (!(await this.setStatus(g, S.Rollbacking, true, S.Begin)))
        return this.decidedElsewhere(g.xid, TypeCode.GLOBAL_ROLLBACK_RESULT);
    } finally {
      this.busy.delete(g.xid);
    }
    await this.doGlobalRollback(g, false);
    return ok(TypeCode.GLOBAL_ROLLBACK_RESULT, { globalStatus: g.status });
  }

  /** Saga's GlobalReport: the TM tells the TC how the saga ended (SagaCore.doGlobalReport). */
  private async globalReport(xid: string | null, status: number | null): Promise<SingleMessage> {
    const g = await this.find(xid);
    if (!g) return ok(TypeCode.GLOBAL_REPORT_RESULT, { globalStatus: S.Finished });
    if (status === null) return ok(TypeCode.GLOBAL_REPORT_RESULT, { globalStatus: g.status });
    g.active = false;
    if (isEndStatus(status)) {
      g.status = status;
      await this.end(g, status);
    } else {
      await this.setStatus(g, status, true);
    }
    return ok(TypeCode.GLOBAL_REPORT_RESULT, { globalStatus: g.status });
  }

  // -------------------------------------------------------------------------------------------
  // phase two

  /** True while phase two of `xid` runs in this process. */
  isBusy(xid: string): boolean {
    return this.busy.has(xid);
  }

  /**
   * Commits every branch: in registration order per participant, participants concurrently.
   * Returns true when the transaction finished (committed or failed for good).
   */
  async doGlobalCommit(g: GlobalSession, _retrying: boolean): Promise<boolean> {
    if (this.busy.has(g.xid) || this.stopped) return false;
    this.busy.add(g.xid);
    this.noteLocks(g);
    try {
      if (isSaga(g)) return await this.sagaPhaseTwo(g, true);
      let failedForGood = false;
      let retry = false;
      await this.forEachParticipant(g.branches, async (branches) => {
        for (const b of branches) {
          if (failedForGood) return;
          if (b.status === B.PhaseOne_Failed || b.status === B.PhaseOne_RDONLY) {
            await this.removeBranch(g, b);
            continue;
          }
          const result = await this.sendBranchEnd(g, b, true);
          if (result === B.PhaseTwo_Committed) {
            await this.removeBranch(g, b);
          } else if (result === B.PhaseTwo_CommitFailed_Unretryable) {
            failedForGood = true;
            return;
          } else {
            retry = true;
            return; // later branches of this participant wait for the retry
          }
        }
      });
      if (failedForGood) {
        this.logger.error({ xid: g.xid }, 'global commit failed for good (CommitFailed)');
        await this.end(g, S.CommitFailed);
        return true;
      }
      if (retry || g.branches.length > 0 || (!this.cached && (await this.lateBranches(g)))) {
        if (this.retryExpired(g, this.options.maxCommitRetryTimeout)) {
          await this.end(g, S.CommitRetryTimeout);
          return true;
        }
        if (g.status !== S.AsyncCommitting && g.status !== S.CommitRetrying)
          await this.setStatus(g, S.CommitRetrying, false);
        return false;
      }
      await this.end(g, S.Committed);
      return true;
    } finally {
      this.busy.delete(g.xid);
    }
  }

  /** Rolls back every branch: in reverse registration order per participant, participants concurrently. */
  async doGlobalRollback(g: GlobalSession, retrying: boolean): Promise<boolean> {
    if (this.busy.has(g.xid) || this.stopped) return false;
    this.busy.add(g.xid);
    this.noteLocks(g);
    const timeout = g.status === S.TimeoutRollbacking || g.status === S.TimeoutRollbackRetrying;
    try {
      if (isSaga(g)) return await this.sagaPhaseTwo(g, false);
      let failedForGood = false;
      let retry = false;
      await this.forEachParticipant([...g.branches].reverse(), async (branches) => {
        for (const b of branches) {
          if (failedForGood) return;
          const result = await this.sendBranchEnd(g, b, false);
          if (result === B.PhaseTwo_Rollbacked) {
            await this.removeBranch(g, b);
          } else if (result === B.PhaseTwo_RollbackFailed_Unretryable) {
            failedForGood = true;
            return;
          } else {
            retry = true;
            return;
          }
        }
      });
      if (failedForGood) {
        this.logger.error({ xid: g.xid }, 'global rollback failed for good');
        await this.end(g, timeout ? S.TimeoutRollbackFailed : S.RollbackFailed);
        return true;
      }
      if (retry || g.branches.length > 0 || (!this.cached && (await this.lateBranches(g)))) {
        if (this.retryExpired(g, this.options.maxRollbackRetryTimeout)) {
          await this.end(g, S.RollbackRetryTimeout, this.options.rollbackRetryTimeoutUnlockEnable);
          return true;
        }
        const next = timeout ? S.TimeoutRollbackRetrying : S.RollbackRetrying;
        if (g.status !== next) await this.setStatus(g, next, false);
        return false;
      }
      await this.end(g, timeout ? S.TimeoutRollbacked : S.Rollbacked);
      return true;
    } catch (err) {
      this.logger.error({ err, xid: g.xid, retrying }, 'rollback failed');
      return false;
    } finally {
      this.busy.delete(g.xid);
    }
  }

  /**
   * Shared stores: true when the store holds branches of `g` this phase two did not see (stored
   * by a registration that raced the decision); they are taken into `g` and the transaction is
   * retried instead of ended without them. The decision's status is stored before this read and
   * a registration reads the status back after storing its branch (branchRegister), so a racing
   * branch either shows up here or has its registration refused.
   */
  private async lateBranches(g: GlobalSession): Promise<boolean> {
    // Branches this run finished may still be queued for removal: they are not late, so the read
    // need not wait for this TC's writes to drain.
    const done = removedHere.get(g);
    const fresh = await this.store.findGlobal(g.xid, { waitForWrites: false });
    const late = fresh?.branches.filter((b) => !done?.has(b.branchId)) ?? [];
    if (late.length === 0) return false;
    this.logger.warn(
      { xid: g.xid, branches: late.map((b) => b.branchId.toString()) },
      'branches registered while the transaction was being decided; driving them too',
    );
    g.branches = late;
    return true;
  }

  private retryExpired(g: GlobalSession, max: number): boolean {
    return max > 0 && Date.now() - g.beginTime > max;
  }

  /** Runs `fn` once per participant (clientId) with its branches in the given order, all concurrently. */
  private async forEachParticipant(
    branches: BranchSession[],
    fn: (branches: BranchSession[]) => Promise<void>,
  ): Promise<void> {
    if (branches.length === 1) return fn(branches);
    if (branches.length === 2) {
      // The common TCC shape: two branches, usually of two participants; no grouping needed.
      const [a, b] = branches as [BranchSession, BranchSession];
      if (a.clientId === b.clientId) return fn(branches);
      await Promise.all([fn([a]), fn([b])]);
      return;
    }
    const groups = new Map<string, BranchSession[]>();
    for (const b of branches) getOrCreate(groups, b.clientId, (): BranchSession[] => []).push(b);
    if (groups.size === 1) return fn(branches);
    await Promise.all([...groups.values()].map(fn));
  }

  /**
   * Sends BranchCommit or BranchRollback to the branch's RM and returns the branch status it
   * reports; no channel, a timeout or a broken session count as a retryable failure.
   */
  private async sendBranchEnd(g: GlobalSession, b: BranchSession, commit: boolean): Promise<number> {
    const retryable = commit ? B.PhaseTwo_CommitFailed_Retryable : B.PhaseTwo_RollbackFailed_Retryable;
    const session = this.channels.getChannel(b.resourceId, b.clientId);
    if (!session) {
      this.logger.debug(
        { xid: g.xid, branchId: b.branchId, resourceId: b.resourceId },
        'no RM session for phase two; will retry',
      );
      return retryable;
    }
    try {
      const response = await session.request(
        {
          typeCode: commit ? TypeCode.BRANCH_COMMIT : TypeCode.BRANCH_ROLLBACK,
          xid: g.xid,
          branchId: b.branchId,
          branchType: b.branchType,
          resourceId: b.resourceId,
          applicationData: b.applicationData,
        },
        { timeoutMs: this.options.branchRequestTimeoutMs },
      );
      if (
        response.typeCode !== TypeCode.BRANCH_COMMIT_RESULT &&
        response.typeCode !== TypeCode.BRANCH_ROLLBACK_RESULT
      ) {
        return retryable;
      }
      publish(Channels.RM_PHASE_TWO, () => ({
        xid: g.xid,
        branchId: b.branchId,
        commit,
        status: response.branchStatus,
      }));
      if (response.resultCode === ResultCode.Failed && response.branchStatus === B.Unknown) return retryable;
      return response.branchStatus;
    } catch (err) {
      this.logger.debug({ err, xid: g.xid, branchId: b.branchId }, 'phase-two request failed; will retry');
      return retryable;
    }
  }

  /** Saga: one BranchCommit/Rollback with branchId -1 to the saga's RM (SagaCore). */
  private async sagaPhaseTwo(g: GlobalSession, commit: boolean): Promise<boolean> {
    const resourceId = `${g.applicationId}#${g.transactionServiceGroup}`;
    const first = g.branches[0];
    const pseudo: BranchSession = {
      branchId: -1n,
      xid: g.xid,
      transactionId: g.transactionId,
      resourceGroupId: g.transactionServiceGroup,
      resourceId,
      branchType: BranchType.SAGA,
      status: B.Registered,
      clientId: first?.clientId ?? `${g.applicationId}:0:0`,
      applicationData: STATUS_NAMES.get(g.status) ?? null,
      lockKey: null,
      beginTime: g.beginTime,
    };
    const result = await this.sendBranchEnd(g, pseudo, commit);
    const good = commit ? B.PhaseTwo_Committed : B.PhaseTwo_Rollbacked;
    if (result === good) {
      await this.end(g, commit ? S.Committed : S.Rollbacked);
      return true;
    }
    const unretryable = commit ? B.PhaseTwo_CommitFailed_Unretryable : B.PhaseTwo_RollbackFailed_Unretryable;
    if (result === unretryable) {
      await this.end(g, commit ? S.CommitFailed : S.RollbackFailed);
      return true;
    }
    await this.setStatus(g, commit ? S.CommitRetrying : S.RollbackRetrying, false);
    return false;
  }

  private async removeBranch(g: GlobalSession, b: BranchSession): Promise<void> {
    g.branches = g.branches.filter((x) => x !== b);
    // Only a shared store's late-branch check reads these (lateBranches).
    if (!this.cached) getOrCreate(removedHere, g, () => new Set<bigint>()).add(b.branchId);
    if (b.branchType === BranchType.AT && b.lockKey) await this.locks.release(b);
    // Not awaited for durability: replaying a branch that already finished only repeats an idempotent phase two.
    void this.store.write({ op: 'branchRemove', xid: g.xid, branchId: b.branchId }, false).catch((err) => {
      this.logger.error({ err, xid: g.xid }, 'could not record branch removal');
    });
  }

  /**
   * Ends a transaction. Successful ends are removed from the store; failed ends stay with their
   * status so an operator can see and force them (Seata's onFailEnd keeps them too).
   */
  private async end(g: GlobalSession, status: number, unlock = true): Promise<void> {
    g.status = status;
    g.active = false;
    const labels = { role: 'tc', status: statusName(status) };
    this.txCounter.inc(labels);
    this.txLatency.observe(labels, (Date.now() - g.beginTime) / 1000);
    publish(Channels.TC_GLOBAL_STATUS, () => ({ xid: g.xid, status }));
    const success =
      status === S.Committed ||
      status === S.Rollbacked ||
      status === S.TimeoutRollbacked ||
      status === S.Finished;
    // Only transactions that took row locks (AT) release any: for TCC this saves a store round trip.
    if (unlock && this.holdsLocks(g)) await this.locks.releaseGlobal(g);
    if (success) {
      this.forget(g);
      void this.store.write({ op: 'globalRemove', xid: g.xid }, false).catch((err) => {
        this.logger.error({ err, xid: g.xid }, 'could not record transaction end');
      });
    } else {
      // Kept in memory as well as in the store (Seata's onFailEnd keeps the session), so
      // GlobalStatus answers the failure instead of Finished and late branches are refused as
      // not active; restore() loads such sessions after a restart the same way.
      this.releaseOpenSlot(g.xid);
      await this.store.write({ op: 'globalUpdate', xid: g.xid, status, active: false }, true);
    }
  }

  /**
   * True when `g` holds AT row locks: it took some here, or it has (or had, when its phase two
   * began) an AT branch (a shared store does not keep lockKeys: branch_table has no such
   * column, so every AT branch counts). A TCC-only transaction never touches the lock store.
   */
  private holdsLocks(g: GlobalSession): boolean {
    return lockHolders.has(g) || g.branches.some((b) => b.branchType === BranchType.AT);
  }

  /** Remembers, before phase two removes branches one by one, whether `g` has row locks to release. */
  private noteLocks(g: GlobalSession): void {
    if (g.branches.some((b) => b.branchType === BranchType.AT)) lockHolders.add(g);
  }

  private forget(g: GlobalSession): void {
    this.sessions.delete(g.xid);
    this.releaseOpenSlot(g.xid);
  }

  /** The transaction no longer counts against its client's maxOpenTransactionsPerClient. */
  private releaseOpenSlot(xid: string): void {
    const owner = this.openOwners.get(xid);
    if (!owner) return;
    this.openOwners.delete(xid);
    const n = (this.openPerClient.get(owner.client) ?? 1) - 1;
    if (n <= 0) this.openPerClient.delete(owner.client);
    else this.openPerClient.set(owner.client, n);
  }

  /** Stops counting `client`'s transactions that are long past their timeout. */
  private pruneOpenSlots(client: string): void {
    const now = Date.now();
    for (const [xid, owner] of this.openOwners)
      if (owner.client === client && owner.until < now) this.releaseOpenSlot(xid);
  }

  /**
   * The timeout check (DefaultCoordinator.timeoutCheck): a Begin session past its timeout is
   * closed, marked TimeoutRollbacking durably, and rolled back.
   */
  async timeoutToRollback(g: GlobalSession): Promise<boolean> {
    if (g.status !== S.Begin || !g.active || !isTimedOut(g, Date.now())) return false;
    g.active = false;
    // A commit or rollback that reached the store first wins; the timeout then changes nothing.
    if (!(await this.setStatus(g, S.TimeoutRollbacking, true, S.Begin))) {
      g.active = true;
      return false;
    }
    this.logger.info({ xid: g.xid, timeout: g.timeout }, 'global transaction timed out; rolling back');
    void this.doGlobalRollback(g, true);
    return true;
  }

  /**
   * The in-memory copy of a session read from a shared store by recovery, so one object is
   * driven however it was found.
   */
  adopt(g: GlobalSession): GlobalSession {
    if (!this.cached) return g;
    const known = this.sessions.get(g.xid);
    if (known) return known;
    this.sessions.set(g.xid, g);
    return g;
  }

  /** Sends UndoLogDeleteRequest (ONEWAY) for every resource of every RM (DefaultCoordinator.undoLogDelete). */
  broadcastUndoLogDelete(saveDays: number): number {
    let sent = 0;
    for (const ctx of this.channels.rmContexts()) {
      if (!ctx.session.isOpen) continue;
      for (const resourceId of ctx.resourceIds) {
        try {
          ctx.session.oneway({
            typeCode: TypeCode.RM_DELETE_UNDOLOG,
            branchType: BranchType.AT,
            resourceId,
            saveDays,
          });
          sent++;
        } catch (err) {
          this.logger.warn({ err, resourceId }, 'could not send undo-log delete');
        }
      }
    }
    return sent;
  }

  // -------------------------------------------------------------------------------------------
  // operator actions (the CLI)

  /** Forces another phase-two attempt of a stuck or failed transaction. */
  async forceRetry(xid: string): Promise<number> {
    const g = await this.find(xid);
    if (!g) throw txError('GlobalTransactionNotExist', `no transaction ${xid}`);
    if (
      g.status === S.CommitFailed ||
      g.status === S.CommitRetryTimeout ||
      g.status === S.Committing ||
      g.status === S.CommitRetrying ||
      g.status === S.AsyncCommitting
    ) {
      await this.setStatus(g, S.CommitRetrying, true);
      await this.doGlobalCommit(g, true);
    } else if (g.status !== S.Begin) {
      await this.setStatus(
        g,
        g.status === S.TimeoutRollbackFailed ? S.TimeoutRollbackRetrying : S.RollbackRetrying,
        true,
      );
      await this.doGlobalRollback(g, true);
    }
    return g.status;
  }

  /** Forces a rollback of a transaction still in Begin, or one whose rollback failed. */
  async forceRollback(xid: string): Promise<number> {
    const g = await this.find(xid);
    if (!g) throw txError('GlobalTransactionNotExist', `no transaction ${xid}`);
    if (
      g.status === S.Begin ||
      g.status === S.RollbackFailed ||
      g.status === S.RollbackRetryTimeout ||
      g.status === S.TimeoutRollbackFailed
    ) {
      g.active = false;
      if (!(await this.setStatus(g, S.RollbackRetrying, true, g.status)))
        throw txError(
          'GlobalTransactionStatusInvalid',
          `transaction ${xid} changed status meanwhile; look again`,
        );
      await this.doGlobalRollback(g, true);
    } else if (!isEndStatus(g.status) && (g.status === S.Rollbacking || g.status === S.RollbackRetrying)) {
      await this.doGlobalRollback(g, true);
    } else {
      throw txError(
        'GlobalTransactionStatusInvalid',
        `transaction ${xid} is ${statusName(g.status)}; only Begin or failed rollbacks can be forced back`,
      );
    }
    return g.status;
  }
}

/** Branch ids each session's phase two removed in this process (their removal may still be queued). */
const removedHere = new WeakMap<GlobalSession, Set<bigint>>();
/** Sessions that took AT row locks in this process. */
const lockHolders = new WeakSet<GlobalSession>();

const STATUS_NAMES = new Map<number, string>(Object.entries(S).map(([k, v]) => [v, k]));

/** GlobalStatus name of a code. */
export function statusName(code: number): string {
  return STATUS_NAMES.get(code) ?? String(code);
}
