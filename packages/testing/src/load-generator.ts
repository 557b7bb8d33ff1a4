/**
 * A wire-level load generator for any Seata-compatible TC: N-branch TCC transactions at a
 * chosen concurrency. TM and RMs are bare WirePeers: begin on the TM connection, one branch
 * register per branch on an RM connection, commit on the TM connection; the RMs answer every
 * BranchCommit/BranchRollback at once. Latency is begin-to-commit-response of each transaction.
 */
import {
  BranchStatus,
  BranchType,
  GlobalStatus,
  ResultCode,
  type SingleMessage,
  TypeCode,
} from '@dtx/protocol';
import { WirePeer } from './wire-peer.js';

/** What to run. */
export interface LoadOptions {
  port: number;
  host?: string;
  /** Transactions in flight. */
  concurrency: number;
  /** Branches per transaction. */
  branches: number;
  /** How long to run, after a warm-up. */
  durationMs: number;
  /** @default 500 */
  warmupMs?: number;
  /** RM connections (each its own participant). @default max(2, branches) */
  rmConnections?: number;
  /** TM connections. @default 1 */
  tmConnections?: number;
  /** Roll back this fraction of transactions instead of committing. @default 0 */
  rollbackRatio?: number;
  /** Global timeout sent with begin. @default 60000 */
  timeoutMs?: number;
}

/** What happened. */
export interface LoadResult {
  concurrency: number;
  branches: number;
  committed: number;
  rolledBack: number;
  failed: number;
  seconds: number;
  tps: number;
  p50Ms: number;
  p99Ms: number;
  phaseTwoRequests: number;
  firstError: string | null;
}

const RESOURCE = 'dtx-load-action';

function quantile(sorted: Float64Array, q: number): number {
  if (sorted.length === 0) return Number.NaN;
  return sorted[Math.min(sorted.length - 1, Math.max(0, Math.ceil(q * sorted.length) - 1))] as number;
}

/** Runs the load and returns its figures. */
export async function runLoad(options: LoadOptions): Promise<LoadResult> {
  const host = options.host ?? '127.0.0.1';
  const rmCount = options.rmConnections ?? Math.max(2, options.branches);
  const tmCount = options.tmConnections ?? 1;
  const tms = await Promise.all(Array.from({ length: tmCount }, () => WirePeer.connect(options.port, host)));
  const rms = await Promise.all(Array.from({ length: rmCount }, () => WirePeer.connect(options.port, host)));
  let phaseTwoRequests = 0;
  for (const rm of rms) {
    rm.onRequest = (msg) => {
      if (msg.typeCode !== TypeCode.BRANCH_COMMIT && msg.typeCode !== TypeCode.BRANCH_ROLLBACK)
        return undefined;
      phaseTwoRequests++;
      const commit = msg.typeCode === TypeCode.BRANCH_COMMIT;
      return {
        typeCode: commit ? TypeCode.BRANCH_COMMIT_RESULT : TypeCode.BRANCH_ROLLBACK_RESULT,
        resultCode: ResultCode.Success,
        msg: null,
        exceptionCode: 'Unknown',
        xid: msg.xid,
        branchId: msg.branchId,
        branchStatus: commit ? BranchStatus.PhaseTwo_Committed : BranchStatus.PhaseTwo_Rollbacked,
      } as SingleMessage;
    };
  }
  for (const [i, tm] of tms.entries()) {
    if (!(await tm.registerTm(`load-tm-${i}`))) throw new Error('TM registration refused');
  }
  for (const [i, rm] of rms.entries()) {
    if (!(await rm.registerRm(`load-rm-${i}`, [RESOURCE]))) throw new Error('RM registration refused');
  }

  const latencies = new Float64Array(4_000_000);
  let n = 0;
  let committed = 0;
  let rolledBack = 0;
  let failed = 0;
  let firstError: string | null = null;
  let measuring = false;
  let stop = false;
  let rmTurn = 0;
  const rollbackRatio = options.rollbackRatio ?? 0;

  const one = async (tm: WirePeer): Promise<void> => {
    const t0 = performance.now();
    const begin = await tm.request({
      typeCode: TypeCode.GLOBAL_BEGIN,
      timeout: options.timeoutMs ?? 60000,
      transactionName: 'load',
    });
    if (
      begin.typeCode !== TypeCode.GLOBAL_BEGIN_RESULT ||
      begin.resultCode !== ResultCode.Success ||
      !begin.xid
    ) {
      throw new Error(`begin failed: ${JSON.stringify(begin)}`);
    }
    const xid = begin.xid;
    for (let b = 0; b < options.branches; b++) {
      // Branches of one transaction register one after another, as a TCC initiator calls its participants.
      const rm = rms[rmTurn++ % rms.length] as WirePeer;
      const r = await rm.request({
        typeCode: TypeCode.BRANCH_REGISTER,
        xid,
        branchType: BranchType.TCC,
        resourceId: RESOURCE,
        lockKey: null,
        applicationData: '{"actionContext":{"amount":1}}',
      });
      if (r.typeCode !== TypeCode.BRANCH_REGISTER_RESULT || r.resultCode !== ResultCode.Success) {
        throw new Error(`branch register failed: ${'msg' in r ? r.msg : r.typeCode}`);
      }
    }
    const rollback = rollbackRatio > 0 && Math.random() < rollbackRatio;
    const end = await tm.request({
      typeCode: rollback ? TypeCode.GLOBAL_ROLLBACK : TypeCode.GLOBAL_COMMIT,
      xid,
      extraData: null,
    });
    const status = 'globalStatus' in end ? end.globalStatus : -1;
    const expected = rollback ? GlobalStatus.Rollbacked : GlobalStatus.Committed;
    if (status !== expected) throw new Error(`${rollback ? 'rollback' : 'commit'} ended ${status}`);
    if (measuring) {
      if (n < latencies.length) latencies[n++] = performance.now() - t0;
      if (rollback) rolledBack++;
      else committed++;
    }
  };

  const worker = async (w: number) => {
    const tm = tms[w % tms.length] as WirePeer;
    while (!stop) {
      try {
        await one(tm);
      } catch (err) {
        if (measuring) failed++;
        firstError ??= (err as Error).message;
        if (failed > 1000) return;
      }
    }
  };
  const workers = Array.from({ length: options.concurrency }, (_, w) => worker(w));
  await new Promise((r) => setTimeout(r, options.warmupMs ?? 500));
  measuring = true;
  const start = performance.now();
  await new Promise((r) => setTimeout(r, options.durationMs));
  measuring = false;
  const seconds = (performance.now() - start) / 1000;
  stop = true;
  await Promise.race([Promise.all(workers), new Promise((r) => setTimeout(r, 5000))]);
  for (const p of [...tms, ...rms]) p.close();
  const sorted = latencies.slice(0, n).sort();
  return {
    concurrency: options.concurrency,
    branches: options.branches,
    committed,
    rolledBack,
    failed,
    seconds,
    tps: (committed + rolledBack) / seconds,
    p50Ms: quantile(sorted, 0.5),
    p99Ms: quantile(sorted, 0.99),
    phaseTwoRequests,
    firstError,
  };
}
