/**
 * One client object per process: a TM connection and an RM connection to every TC of the
 * cluster (as Seata's Java client keeps them), registration on every new session (so a
 * reconnect re-registers), the RM's resources, and the phase-two requests the TC sends.
 */
import { createHmac } from 'node:crypto';
import os from 'node:os';
import { ConnectionError, type Logger, TransactionError } from '@dtx/core';
import {
  BranchStatus,
  type BranchType,
  ResultCode,
  type SingleMessage,
  type TcRequest,
  TypeCode,
} from '@dtx/protocol';
import { Client, type Session } from '@dtx/remoting';
import { type DtxClientOptions, parseClientOptions } from './options.js';
import { type GlobalTransactionOptions, runGlobalTransaction } from './tm/transactional.js';

/** What the TC sends an RM in phase two. */
export interface BranchEndRequest {
  xid: string;
  branchId: bigint;
  branchType: BranchType;
  resourceId: string;
  applicationData: string | null;
}

/** A resource the RM manages: TCC actions register one per action name. */
export interface ResourceHandler {
  resourceId: string;
  branchType: BranchType;
  /** Phase-two commit; returns the BranchStatus to report. */
  branchCommit(request: BranchEndRequest): Promise<number>;
  /** Phase-two rollback; returns the BranchStatus to report. */
  branchRollback(request: BranchEndRequest): Promise<number>;
}

function externalIPv4(): string {
  for (const list of Object.values(os.networkInterfaces())) {
    for (const a of list ?? []) if (a.family === 'IPv4' && !a.internal) return a.address;
  }
  return '127.0.0.1';
}

let defaultClient: DtxClient | null = null;

/** The client `globalTransaction()` and decorated actions use: the first one created, or the one set. */
export function getDefaultClient(): DtxClient {
  if (!defaultClient) throw new TransactionError('Unknown', 'no DtxClient has been created in this process');
  return defaultClient;
}

/** Makes `client` the process default (null clears it). */
export function setDefaultClient(client: DtxClient | null): void {
  defaultClient = client;
}

/** The process's connection to a TC cluster. */
export class DtxClient {
  readonly options: DtxClientOptions;
  readonly logger: Logger;
  private readonly tm: Client;
  private readonly rm: Client;
  private readonly resources = new Map<string, ResourceHandler>();
  private readonly ip: string;
  private started = false;

  constructor(options: Partial<DtxClientOptions>) {
    this.options = parseClientOptions(options);
    this.logger = this.options.logger;
    this.ip = this.options.ip ?? externalIPv4();
    defaultClient ??= this;
    const o = this.options;
    const common = {
      addresses: o.grouplist,
      loadBalance: o.loadBalance,
      logger: o.logger,
      reconnectMaxMs: 5000,
    };
    this.tm = new Client(
      { ...common, batchRequests: o.tmBatch, requestTimeoutMs: o.tmRequestTimeoutMs },
      { onConnect: (s) => this.registerTm(s) },
    );
    this.rm = new Client(
      { ...common, batchRequests: o.rmBatch, requestTimeoutMs: o.rmRequestTimeoutMs },
      {
        onConnect: (s) => this.registerRm(s),
        onMessage: (_s, msg) => this.onTcRequest(msg),
      },
    );
  }

  /** Dials every TC and waits until a TM and an RM session are registered with at least one. */
  async start(timeoutMs = 10_000): Promise<this> {
    if (!this.started) {
      this.started = true;
      this.tm.start();
      this.rm.start();
    }
    await Promise.all([this.tm.waitReady(timeoutMs), this.rm.waitReady(timeoutMs)]);
    return this;
  }

  /** Closes both connections. */
  async close(): Promise<void> {
    if (defaultClient === this) defaultClient = null;
    await Promise.all([this.tm.close(), this.rm.close()]);
  }

  /** Runs `fn` in a global transaction of this client (see runGlobalTransaction). */
  globalTransaction<T, L = unknown>(
    fn: (local: L) => Promise<T> | T,
    options?: GlobalTransactionOptions<L>,
  ): Promise<T> {
    return runGlobalTransaction(this, fn, options);
  }

  /** The Seata extraData of a registration: vgroup, ip and, with a secret, the V4 auth fields. */
  private extraData(): string {
    const o = this.options;
    let extra = '';
    if (o.secretKey) {
      const timestamp = Date.now();
      const digest = createHmac('sha256', o.secretKey)
        .update(`${o.txServiceGroup},${this.ip},${timestamp}`)
        .digest('base64');
      extra += `ak=${o.accessKey ?? ''}\ndigest=${digest}\ntimestamp=${timestamp}\nauthVersion=V4\n`;
    }
    return `${extra}vgroup=${o.txServiceGroup}\nip=${this.ip}\n`;
  }

  private async registerTm(session: Session): Promise<void> {
    const o = this.options;
    const r = await session.request({
      typeCode: TypeCode.REG_CLT,
      version: o.version,
      applicationId: o.applicationId,
      transactionServiceGroup: o.txServiceGroup,
      extraData: this.extraData(),
    });
    if (r.typeCode !== TypeCode.REG_CLT_RESULT || !r.identified) {
      throw new ConnectionError('NOT_CONNECTED', `TM registration refused by ${session.remoteAddress}`);
    }
    session.setPeerVersion(r.version);
  }

  private async registerRm(session: Session): Promise<void> {
    const o = this.options;
    const r = await session.request({
      typeCode: TypeCode.REG_RM,
      version: o.version,
      applicationId: o.applicationId,
      transactionServiceGroup: o.txServiceGroup,
      extraData: this.extraData(),
      resourceIds: [...this.resources.keys()].join(','),
    });
    if (r.typeCode !== TypeCode.REG_RM_RESULT || !r.identified) {
      throw new ConnectionError('NOT_CONNECTED', `RM registration refused by ${session.remoteAddress}`);
    }
    session.setPeerVersion(r.version);
  }

  /**
   * Adds a resource. Sessions that are already registered learn about it through a ONEWAY
   * RegisterRM, as RmNettyRemotingClient.sendRegisterMessage does.
   */
  addResource(handler: ResourceHandler): void {
    if (this.resources.has(handler.resourceId)) {
      this.resources.set(handler.resourceId, handler);
      return;
    }
    this.resources.set(handler.resourceId, handler);
    const o = this.options;
    for (const session of this.rm.readySessions()) {
      try {
        session.oneway({
          typeCode: TypeCode.REG_RM,
          version: o.version,
          applicationId: o.applicationId,
          transactionServiceGroup: o.txServiceGroup,
          extraData: this.extraData(),
          resourceIds: handler.resourceId,
        });
      } catch (err) {
        this.logger.warn({ err, resourceId: handler.resourceId }, 'could not announce a new resource');
      }
    }
  }

  /** Sends a TM request (begin, commit, rollback, status, report), routed by XID when it has one. */
  async tmRequest(msg: TcRequest, xid: string | null = null): Promise<SingleMessage> {
    return this.tm.request(msg, { xid });
  }

  /** Sends an RM request (branch register, report, lock query), routed by XID. */
  async rmRequest(msg: TcRequest, xid: string | null = null): Promise<SingleMessage> {
    return this.rm.request(msg, { xid });
  }

  /** Phase two and undo-log delete, from the TC. */
  private async onTcRequest(msg: SingleMessage): Promise<SingleMessage | undefined> {
    if (msg.typeCode === TypeCode.RM_DELETE_UNDOLOG) return undefined;
    if (msg.typeCode !== TypeCode.BRANCH_COMMIT && msg.typeCode !== TypeCode.BRANCH_ROLLBACK)
      return undefined;
    const commit = msg.typeCode === TypeCode.BRANCH_COMMIT;
    const typeCode = commit ? TypeCode.BRANCH_COMMIT_RESULT : TypeCode.BRANCH_ROLLBACK_RESULT;
    const retryable = commit
      ? BranchStatus.PhaseTwo_CommitFailed_Retryable
      : BranchStatus.PhaseTwo_RollbackFailed_Retryable;
    const handler = msg.resourceId ? this.resources.get(msg.resourceId) : undefined;
    const base = { typeCode, xid: msg.xid, branchId: msg.branchId, exceptionCode: 'Unknown' as const };
    if (!handler || !msg.xid || !msg.resourceId) {
      this.logger.warn(
        { resourceId: msg.resourceId, xid: msg.xid },
        'phase two for a resource this RM does not hold',
      );
      return {
        ...base,
        resultCode: ResultCode.Failed,
        msg: `no resource ${msg.resourceId}`,
        branchStatus: retryable,
      } as SingleMessage;
    }
    const request: BranchEndRequest = {
      xid: msg.xid,
      branchId: msg.branchId,
      branchType: msg.branchType,
      resourceId: msg.resourceId,
      applicationData: msg.applicationData,
    };
    try {
      const branchStatus = commit
        ? await handler.branchCommit(request)
        : await handler.branchRollback(request);
      return { ...base, resultCode: ResultCode.Success, msg: null, branchStatus } as SingleMessage;
    } catch (err) {
      this.logger.error({ err, xid: msg.xid, branchId: msg.branchId, commit }, 'phase two failed');
      const branchStatus =
        err instanceof TransactionError && err.branchStatus !== undefined ? err.branchStatus : retryable;
      return {
        ...base,
        resultCode: ResultCode.Failed,
        msg: (err as Error).message,
        branchStatus,
      } as SingleMessage;
    }
  }
}
