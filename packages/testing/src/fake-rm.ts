/**
 * A fake resource manager for TC tests: a WirePeer (the real protocol on a real socket) that
 * registers as an RM, records every BranchCommit/BranchRollback the TC sends it, and answers
 * them as its fault switches say: succeed, fail retryably or for good, never answer, answer
 * late, fail n times first, or vanish and come back as the same application on a new
 * connection (which the TC must find through its same-ip-other-port channel fallback).
 */
import {
  type BranchRegisterResponse,
  type BranchReportResponse,
  BranchStatus,
  type BranchType,
  type GlobalLockQueryResponse,
  ResultCode,
  type SingleMessage,
  TypeCode,
} from '@dtx/protocol';
import { WirePeer } from './wire-peer.js';

/** How the fake RM answers one phase of phase two. */
export type PhaseTwoReply =
  /** PhaseTwo_Committed / PhaseTwo_Rollbacked. */
  | 'ok'
  /** PhaseTwo_CommitFailed_Retryable / PhaseTwo_RollbackFailed_Retryable: the TC retries later. */
  | 'retryable'
  /** PhaseTwo_CommitFailed_Unretryable / PhaseTwo_RollbackFailed_Unretryable: the TC gives up. */
  | 'unretryable'
  /** No answer at all: the TC's request times out. */
  | 'never';

/** Which phase-two request. */
export type PhaseTwoKind = 'commit' | 'rollback';

/** One BranchCommit or BranchRollback the TC sent. */
export interface PhaseTwoCall {
  kind: PhaseTwoKind;
  xid: string | null;
  branchId: bigint;
  branchType: BranchType;
  resourceId: string | null;
  applicationData: string | null;
  /**
   * Arrival order across every FakeRm of the process (a shared counter), so tests can compare
   * the order of calls seen by different RMs as well as by one.
   */
  order: number;
  /** Which connection of this RM it arrived on: 0 for the first, 1 after one reconnect, ... */
  connection: number;
  /** What the fake answered (after any delay), or null while the answer is still pending. */
  reply: PhaseTwoReply | null;
}

/** How to connect. */
export interface FakeRmOptions {
  /** The TC's port. */
  port: number;
  /** @default '127.0.0.1' */
  host?: string;
  applicationId: string;
  /** Resources registered (TCC action names, AT JDBC URLs). */
  resourceIds: string[];
  /** The Seata version sent at registration. @default '2.2.0' */
  version?: string;
  /** @default 'default_tx_group' */
  transactionServiceGroup?: string;
  /** Registration extraData (auth keys), or null. @default null */
  extraData?: string | null;
  /** Bound of every wait on a TC response. @default 5000 */
  requestTimeoutMs?: number;
}

/** What registerBranch sends besides the XID. */
export interface BranchSpec {
  branchType: BranchType;
  /** @default the first registered resourceId */
  resourceId?: string;
  /** AT row locks, `table:pk1,pk2;table2:pk`. @default null */
  lockKey?: string | null;
  /** @default null */
  applicationData?: string | null;
}

/** What report sends besides the XID and branch id. */
export interface ReportSpec {
  status: BranchStatus;
  branchType: BranchType;
  /** @default the first registered resourceId */
  resourceId?: string;
  /** @default null */
  applicationData?: string | null;
}

let callOrder = 0;

/** A registration the TC refused (identified = false). */
export class RegistrationRefusedError extends Error {
  override readonly name = 'RegistrationRefusedError';
}

/** A scriptable RM on a real connection. */
export class FakeRm {
  /** Every phase-two request received, in arrival order. */
  readonly calls: PhaseTwoCall[] = [];
  /** UndoLogDeleteRequests received (resourceIds). */
  readonly undoLogDeletes: string[] = [];
  /** Reply per phase. Settable at any time; applies to requests that arrive afterwards. */
  readonly respond: { commit: PhaseTwoReply; rollback: PhaseTwoReply } = { commit: 'ok', rollback: 'ok' };
  /** Wait this long before answering a phase-two request. @default 0 */
  delayMs = 0;
  private failuresLeft = { commit: 0, rollback: 0 };
  private current: WirePeer;
  private connections = 0;

  private constructor(
    readonly options: FakeRmOptions,
    peer: WirePeer,
  ) {
    this.current = peer;
    this.attach(peer);
  }

  /** Connects to the TC and registers as RM; rejects if the TC refuses the registration. */
  static async connect(options: FakeRmOptions): Promise<FakeRm> {
    const peer = await WirePeer.connect(options.port, options.host ?? '127.0.0.1');
    const rm = new FakeRm(options, peer);
    try {
      await rm.register();
    } catch (err) {
      peer.close();
      throw err;
    }
    return rm;
  }

  /** The live connection (for raw writes or `closed`). */
  get peer(): WirePeer {
    return this.current;
  }

  /** BranchCommits received. */
  get commits(): PhaseTwoCall[] {
    return this.calls.filter((c) => c.kind === 'commit');
  }

  /** BranchRollbacks received. */
  get rollbacks(): PhaseTwoCall[] {
    return this.calls.filter((c) => c.kind === 'rollback');
  }

  /** Calls for one transaction, in arrival order. */
  callsFor(xid: string, kind?: PhaseTwoKind): PhaseTwoCall[] {
    return this.calls.filter((c) => c.xid === xid && (kind === undefined || c.kind === kind));
  }

  /**
   * Answers the next `n` phase-two requests of `kind` (both kinds when omitted) with a
   * retryable failure, then goes back to the `respond` switch.
   */
  failTimes(n: number, kind?: PhaseTwoKind): void {
    if (kind === undefined || kind === 'commit') this.failuresLeft.commit = n;
    if (kind === undefined || kind === 'rollback') this.failuresLeft.rollback = n;
  }

  /** Vanishes: destroys the socket without a goodbye and waits until it has closed. */
  async dropConnection(): Promise<void> {
    this.current.close();
    await this.current.closed;
  }

  /**
   * Connects again as the same application with the same resources (a new connection, so a new
   * local port) and registers. The old connection is dropped first if it is still open. `port`
   * defaults to the original one (a restarted TC listens there again).
   */
  async reconnect(port = this.options.port): Promise<void> {
    if (!this.current.socket.destroyed) await this.dropConnection();
    const peer = await WirePeer.connect(port, this.options.host ?? '127.0.0.1');
    this.current = peer;
    this.attach(peer);
    try {
      await this.register();
    } catch (err) {
      peer.close();
      throw err;
    }
  }

  /** Registers a branch on this RM's connection (RM -> TC BranchRegisterRequest). */
  async registerBranch(xid: string, spec: BranchSpec): Promise<BranchRegisterResponse> {
    const r = await this.call({
      typeCode: TypeCode.BRANCH_REGISTER,
      xid,
      branchType: spec.branchType,
      resourceId: spec.resourceId ?? this.defaultResource(),
      lockKey: spec.lockKey ?? null,
      applicationData: spec.applicationData ?? null,
    });
    return expectType(r, TypeCode.BRANCH_REGISTER_RESULT);
  }

  /** Registers a branch and returns its id, failing if the TC refused it. */
  async registerBranchOk(xid: string, spec: BranchSpec): Promise<bigint> {
    const r = await this.registerBranch(xid, spec);
    if (r.resultCode !== ResultCode.Success) {
      throw new Error(`branch register failed: ${r.exceptionCode} ${r.msg ?? ''}`);
    }
    return r.branchId;
  }

  /** Reports a branch's status or new applicationData (BranchReportRequest). */
  async report(xid: string, branchId: bigint, spec: ReportSpec): Promise<BranchReportResponse> {
    const r = await this.call({
      typeCode: TypeCode.BRANCH_STATUS_REPORT,
      xid,
      branchId,
      status: spec.status,
      resourceId: spec.resourceId ?? this.defaultResource(),
      applicationData: spec.applicationData ?? null,
      branchType: spec.branchType,
    });
    return expectType(r, TypeCode.BRANCH_STATUS_REPORT_RESULT);
  }

  /** Asks whether AT rows could be locked (GlobalLockQueryRequest). `xid` may be null. */
  async lockQuery(
    xid: string | null,
    lockKey: string,
    resourceId?: string,
  ): Promise<GlobalLockQueryResponse> {
    const r = await this.call({
      typeCode: TypeCode.GLOBAL_LOCK_QUERY,
      xid,
      branchType: 0,
      resourceId: resourceId ?? this.defaultResource(),
      lockKey,
      applicationData: null,
    });
    return expectType(r, TypeCode.GLOBAL_LOCK_QUERY_RESULT);
  }

  /**
   * Polls until `predicate` holds for the recorded calls; fails naming `what` after
   * `timeoutMs`.
   */
  async waitFor(
    predicate: (calls: PhaseTwoCall[]) => boolean,
    what: string,
    timeoutMs = 5000,
  ): Promise<void> {
    const deadline = Date.now() + timeoutMs;
    while (!predicate(this.calls)) {
      if (Date.now() > deadline) {
        throw new Error(
          `${this.options.applicationId}: timed out after ${timeoutMs} ms waiting for ${what}; calls: ${this.describe()}`,
        );
      }
      await new Promise((r) => setTimeout(r, 5));
    }
  }

  /** The recorded calls in one line, for failure messages. */
  describe(): string {
    return (
      this.calls.map((c) => `${c.kind}(${c.branchId}${c.reply ? `=${c.reply}` : ''})`).join(' ') || '(none)'
    );
  }

  /** Closes the connection for good. */
  close(): void {
    this.current.close();
  }

  private defaultResource(): string {
    const r = this.options.resourceIds[0];
    if (r === undefined) throw new Error('FakeRm has no resourceId; pass one explicitly');
    return r;
  }

  /** A request on the live connection, bounded by requestTimeoutMs. */
  private async call(body: SingleMessage): Promise<SingleMessage> {
    const timeoutMs = this.options.requestTimeoutMs ?? 5000;
    let timer: NodeJS.Timeout | undefined;
    try {
      return await Promise.race([
        this.current.request(body),
        new Promise<never>((_, reject) => {
          timer = setTimeout(
            () => reject(new Error(`no answer to type ${body.typeCode} within ${timeoutMs} ms`)),
            timeoutMs,
          );
        }),
      ]);
    } finally {
      clearTimeout(timer);
    }
  }

  /** Registers the live connection as RM. */
  private async register(): Promise<void> {
    const o = this.options;
    const r = await this.call({
      typeCode: TypeCode.REG_RM,
      version: o.version ?? '2.2.0',
      applicationId: o.applicationId,
      transactionServiceGroup: o.transactionServiceGroup ?? 'default_tx_group',
      extraData: o.extraData ?? null,
      resourceIds: o.resourceIds.join(','),
    });
    if (r.typeCode !== TypeCode.REG_RM_RESULT || !r.identified) {
      throw new RegistrationRefusedError(`TC refused RM registration of ${o.applicationId}`);
    }
  }

  private attach(peer: WirePeer): void {
    const connection = this.connections++;
    peer.onRequest = (msg) => this.onRequest(msg, connection);
  }

  private async onRequest(msg: SingleMessage, connection: number): Promise<SingleMessage | undefined> {
    if (msg.typeCode === TypeCode.RM_DELETE_UNDOLOG) {
      this.undoLogDeletes.push(msg.resourceId ?? '');
      return undefined;
    }
    if (msg.typeCode !== TypeCode.BRANCH_COMMIT && msg.typeCode !== TypeCode.BRANCH_ROLLBACK)
      return undefined;
    const kind: PhaseTwoKind = msg.typeCode === TypeCode.BRANCH_COMMIT ? 'commit' : 'rollback';
    const call: PhaseTwoCall = {
      kind,
      xid: msg.xid,
      branchId: msg.branchId,
      branchType: msg.branchType,
      resourceId: msg.resourceId,
      applicationData: msg.applicationData,
      order: ++callOrder,
      connection,
      reply: null,
    };
    this.calls.push(call);
    let reply: PhaseTwoReply = this.respond[kind];
    if (this.failuresLeft[kind] > 0) {
      this.failuresLeft[kind]--;
      reply = 'retryable';
    }
    if (reply === 'never') return undefined;
    if (this.delayMs > 0) await new Promise((r) => setTimeout(r, this.delayMs));
    call.reply = reply;
    return {
      typeCode: kind === 'commit' ? TypeCode.BRANCH_COMMIT_RESULT : TypeCode.BRANCH_ROLLBACK_RESULT,
      resultCode: ResultCode.Success,
      msg: null,
      exceptionCode: 'Unknown',
      xid: msg.xid,
      branchId: msg.branchId,
      branchStatus: branchStatusFor(kind, reply),
    } as SingleMessage;
  }
}

/** The BranchStatus a Seata RM reports for each reply (TCCResourceManager's mapping). */
function branchStatusFor(kind: PhaseTwoKind, reply: Exclude<PhaseTwoReply, 'never'>): BranchStatus {
  if (kind === 'commit') {
    if (reply === 'ok') return BranchStatus.PhaseTwo_Committed;
    if (reply === 'retryable') return BranchStatus.PhaseTwo_CommitFailed_Retryable;
    return BranchStatus.PhaseTwo_CommitFailed_Unretryable;
  }
  if (reply === 'ok') return BranchStatus.PhaseTwo_Rollbacked;
  if (reply === 'retryable') return BranchStatus.PhaseTwo_RollbackFailed_Retryable;
  return BranchStatus.PhaseTwo_RollbackFailed_Unretryable;
}

function expectType<T extends SingleMessage['typeCode']>(
  msg: SingleMessage,
  typeCode: T,
): Extract<SingleMessage, { typeCode: T }> {
  if (msg.typeCode !== typeCode) throw new Error(`expected type ${typeCode}, got ${msg.typeCode}`);
  return msg as Extract<SingleMessage, { typeCode: T }>;
}
