/**
 * High availability: three real `dtx server` processes on one shared store, one SIGKILLed under
 * load, run once per shared store: PostgreSQL (store.mode db) and Redis (store.mode redis). Two RM
 * applications and every TM keep a connection to every TC; requests follow the XID to the TC
 * that began it and fall back to another TC when that connection is gone. Afterwards every
 * transaction whose begin was acknowledged must be finished (the store holds no unfinished global
 * session; GlobalStatus on every survivor answers a final status), each XID's branches all
 * committed or all rolled back as the TM was told, undecided transactions of the dead TC rolled
 * back by a survivor's timeout check, no branch driven both ways or many times, the store left
 * with nothing but its task locks, and those held by survivors.
 *
 * PostgreSQL comes from PGHOST, PGPORT, PGUSER, PGPASSWORD (default postgres@127.0.0.1:5432);
 * the run works in a database of its own, dropped at the end. Redis comes from REDIS_URL (default
 * redis://127.0.0.1:6379); the run works in a database index of its own (the first empty one of
 * 1..15), flushed at the end. An unreachable server skips its run, or fails it when CI=true.
 */
import assert from 'node:assert/strict';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { after, describe, test } from 'node:test';
import { xidAddress } from '@dtx/core';
import { BranchType, GlobalStatus, ResultCode, type SingleMessage, TypeCode } from '@dtx/protocol';
import { FakeRm, WirePeer } from '@dtx/testing';
import {
  bounded,
  type ClusterTc,
  globalStatusOf,
  NoAnswer,
  type Reachable,
  routeByXid,
  spawnClusterTc,
} from './ha-helpers.js';
import { type GlobalRow, type HaStore, postgresStore, redisStore } from './ha-stores.js';
import { decisionOf, freePort, HOST, sleep, statusText, within } from './helpers.js';

const S = GlobalStatus;

const TC_COUNT = 3;
const WORKERS = 8;
/** Global timeout of every begin: how long an undecided transaction lives before the timeout check. */
const TX_TIMEOUT_MS = 1500;
/**
 * server.retryDeadThreshold: above the global timeout plus the lock expiry (1500 ms) plus a
 * task period, as Seata's defaults are (60 s + 10 s < 130 s). Measured from the begin, it must
 * not call a session dead while the TC that decided it or timed it out, possibly late after a
 * task-lock takeover, still runs its first phase two.
 */
const RETRY_DEAD_THRESHOLD_MS = 3500;
const LOAD_BEFORE_KILL_MS = 4000;
const LOAD_AFTER_KILL_MS = 3000;
/** How long the kill may wait for decisions in flight on the victim. */
const KILL_WINDOW_MS = 2000;
/** Bound of the wait for everything to finish after the load stops. */
const QUIESCE_MS = 60_000;
/** Bound of one TM or RM request. */
const REQUEST_MS = 5000;
/** Share of transactions the TM abandons after registering its branches (only the timeout ends them). */
const ABANDON_RATE = 0.1;
/** Share of the decided ones that commit. */
const COMMIT_RATE = 0.7;
/**
 * Phase-two calls one branch may see: the first, a repeat by the TC that took over from the
 * victim, and one more for a retry.
 */
const MAX_CALLS_PER_BRANCH = 3;

/** Two participants, each registered on every TC with the same applicationId and resourceId. */
const APPS = [
  { applicationId: 'ha-rm-a', resourceId: 'ha-action-a' },
  { applicationId: 'ha-rm-b', resourceId: 'ha-action-b' },
] as const;

/** The four task locks (the rows Seata's schema seeds in distributed_lock), in key order. */
const TASKS = ['AsyncCommitting', 'RetryCommitting', 'RetryRollbacking', 'TxTimeoutCheck'];

/** What GlobalStatus may answer once a transaction is over (successful ends leave the store). */
const FINAL: number[] = [S.Finished, S.Committed, S.Rollbacked, S.TimeoutRollbacked];
/** Statuses with work left to do; no stored global session may remain in one. */
const NOT_FINAL: number[] = [
  S.Begin,
  S.Committing,
  S.CommitRetrying,
  S.Rollbacking,
  S.RollbackRetrying,
  S.TimeoutRollbacking,
  S.TimeoutRollbackRetrying,
  S.AsyncCommitting,
];

/** One transaction as its TM and RMs were told. */
interface Tx {
  xid: string;
  /** The address in the XID: the TC that began it. */
  owner: string;
  /** Branches whose registration was acknowledged. */
  branches: Array<{ app: number; branchId: bigint }>;
  decision: 'commit' | 'rollback' | 'none';
  /** The decision request was written at least once. */
  sent: boolean;
  /** The GlobalStatus of the decision's response, if one came. */
  answer: number | null;
  /** Some request of it went to a TC other than its owner. */
  fellBack: boolean;
  /**
   * Set at the kill: the victim began it, the TM had no answer to a decision, and (if undecided)
   * no timeout rollback had reached an RM yet.
   */
  inFlightAtKill: boolean;
}

/** One BranchCommit or BranchRollback an RM received. */
interface PhaseTwo {
  xid: string;
  app: number;
  branchId: bigint;
  kind: 'commit' | 'rollback';
  /** Index of the TC that sent it. */
  tc: number;
  at: number;
}

/** A TM connection to one TC. */
class TmLink implements Reachable {
  constructor(
    readonly tc: ClusterTc,
    readonly peer: WirePeer,
  ) {}
  get open(): boolean {
    return !this.peer.socket.destroyed;
  }
}

/** An RM application's connection to one TC. */
class RmLink implements Reachable {
  constructor(
    readonly tc: ClusterTc,
    readonly rm: FakeRm,
  ) {}
  get open(): boolean {
    return !this.rm.peer.socket.destroyed;
  }
}

/** The outcome of one request sent with XID routing and fallback. */
type Sent = { ok: true; response: SingleMessage } | { ok: false };

/**
 * Sends with XID load balance; a connection that dies under the request is retried on another
 * TC (the client's fallback), a TC that stays silent is not.
 */
async function sendRouted<L extends Reachable & { tc: ClusterTc }>(
  xid: string,
  links: ReadonlyMap<string, L>,
  send: (link: L) => Promise<SingleMessage>,
  what: string,
  onFallback: () => void,
): Promise<Sent> {
  for (let attempt = 0; attempt < TC_COUNT; attempt++) {
    const link = routeByXid(xid, links);
    if (!link) return { ok: false };
    if (link.tc.address !== xidAddress(xid)) onFallback();
    try {
      return { ok: true, response: await bounded(send(link), REQUEST_MS, what) };
    } catch (err) {
      if (err instanceof NoAnswer || link.open) return { ok: false };
      // The connection died under the request: the client tries another TC.
    }
  }
  return { ok: false };
}

/** How many times each value occurs, as `value×count` text. */
function histogram(values: Iterable<string | number>): string {
  const counts = new Map<string | number, number>();
  for (const v of values) counts.set(v, (counts.get(v) ?? 0) + 1);
  return (
    [...counts.entries()]
      .sort((a, b) => (a[0] < b[0] ? -1 : 1))
      .map(([v, n]) => `${v}×${n}`)
      .join(' ') || '(none)'
  );
}

/** The scenario on one shared store: three TCs, one killed under load, everything checked after. */
function haScenario(store: HaStore): void {
  describe(`TC cluster on one ${store.name} database`, () => {
    const cluster: ClusterTc[] = [];
    const peers: Array<{ close(): void }> = [];
    let dir: string | null = null;

    after(async () => {
      for (const p of peers) p.close();
      await Promise.all(cluster.map((tc) => tc.kill().catch(() => {})));
      await store.destroy();
      if (dir) fs.rmSync(dir, { recursive: true, force: true });
    });

    test('three TCs, one SIGKILLed under load: every transaction finishes consistently on the survivors', {
      timeout: 115_000,
    }, async (t) => {
      const unreachable = await store.unreachable();
      if (unreachable) {
        if (process.env.CI === 'true') assert.fail(`${store.name} is unreachable: ${unreachable}`);
        t.skip(`${store.name} is unreachable (${unreachable})`);
        return;
      }

      // ---- the store's own space and three TCs on it
      const storeArgs = await store.create();
      dir = fs.mkdtempSync(path.join(os.tmpdir(), 'dtx-ha-'));
      const config = path.join(dir, 'ha.yaml');
      fs.writeFileSync(
        config,
        [
          'server.recovery.committingRetryPeriod: 100',
          'server.recovery.rollbackingRetryPeriod: 100',
          'server.recovery.asyncCommittingRetryPeriod: 100',
          'server.recovery.timeoutRetryPeriod: 150',
          `server.retryDeadThreshold: ${RETRY_DEAD_THRESHOLD_MS}`,
          'server.distributedLockExpireTime: 1500',
          'transport.rpcTcRequestTimeout: 1000',
          '',
        ].join('\n'),
      );
      const ports = await Promise.all(
        Array.from({ length: TC_COUNT }, async () => [await freePort(), await freePort()] as const),
      );
      cluster.push(
        ...(await Promise.all(
          ports.map(([port, metricsPort], i) => spawnClusterTc(i, port, metricsPort, storeArgs, config)),
        )),
      );

      // ---- participants: each application on every TC
      const rms: Array<Map<string, RmLink>> = [];
      const phaseTwo: PhaseTwo[] = [];
      for (const [app, { applicationId, resourceId }] of APPS.entries()) {
        const links = new Map<string, RmLink>();
        for (const tc of cluster) {
          const rm = await within(
            FakeRm.connect({
              port: tc.port,
              host: HOST,
              applicationId,
              resourceIds: [resourceId],
              requestTimeoutMs: REQUEST_MS,
            }),
            `${applicationId} registration on TC ${tc.index}`,
          );
          // Answers take a moment, so phase two is often in flight when the kill comes.
          rm.delayMs = 20;
          // Which TC sent each phase-two request, and when.
          const record = rm.peer.onRequest;
          rm.peer.onRequest = (msg, rpc) => {
            if (msg.typeCode === TypeCode.BRANCH_COMMIT || msg.typeCode === TypeCode.BRANCH_ROLLBACK) {
              phaseTwo.push({
                xid: msg.xid ?? '',
                app,
                branchId: msg.branchId,
                kind: msg.typeCode === TypeCode.BRANCH_COMMIT ? 'commit' : 'rollback',
                tc: tc.index,
                at: Date.now(),
              });
            }
            return record?.(msg, rpc);
          };
          peers.push(rm);
          links.set(tc.address, new RmLink(tc, rm));
        }
        rms.push(links);
      }

      // ---- TMs: every worker holds a connection to every TC
      const workers: Array<Map<string, TmLink>> = [];
      for (let w = 0; w < WORKERS; w++) {
        const links = new Map<string, TmLink>();
        for (const tc of cluster) {
          const peer = await within(WirePeer.connect(tc.port, HOST), `TM connect to TC ${tc.index}`);
          peers.push(peer);
          assert.equal(await within(peer.registerTm('ha-tm'), 'RegisterTM'), true);
          links.set(tc.address, new TmLink(tc, peer));
        }
        workers.push(links);
      }

      // ---- the load
      const txs: Tx[] = [];
      let stopped = false;
      let beginsRefused = 0;
      let registersRefused = 0;
      let fallbacks = 0;
      const worker = async (links: Map<string, TmLink>): Promise<void> => {
        while (!stopped) {
          const begin = routeByXid(null, links);
          if (!begin) return;
          let r: SingleMessage;
          try {
            r = await bounded(
              begin.peer.request({
                typeCode: TypeCode.GLOBAL_BEGIN,
                timeout: TX_TIMEOUT_MS,
                transactionName: 'ha-load',
              }),
              REQUEST_MS,
              'GlobalBegin',
            );
          } catch {
            continue; // not acknowledged: not a transaction the TM knows of
          }
          if (r.typeCode !== TypeCode.GLOBAL_BEGIN_RESULT || r.resultCode !== ResultCode.Success || !r.xid) {
            beginsRefused++;
            continue;
          }
          const tx: Tx = {
            xid: r.xid,
            owner: xidAddress(r.xid) ?? '?',
            branches: [],
            decision: 'none',
            sent: false,
            answer: null,
            fellBack: false,
            inFlightAtKill: false,
          };
          txs.push(tx);
          const fellBack = () => {
            tx.fellBack = true;
            fallbacks++;
          };
          let registered = true;
          for (const [app, appLinks] of rms.entries()) {
            const sent = await sendRouted(
              tx.xid,
              appLinks,
              (link) =>
                link.rm.registerBranch(tx.xid, {
                  branchType: BranchType.TCC,
                  applicationData: `{"actionContext":{"xid":"${tx.xid}"}}`,
                }),
              'BranchRegister',
              fellBack,
            );
            if (
              !sent.ok ||
              sent.response.typeCode !== TypeCode.BRANCH_REGISTER_RESULT ||
              sent.response.resultCode !== ResultCode.Success
            ) {
              registersRefused++;
              registered = false;
              break;
            }
            tx.branches.push({ app, branchId: sent.response.branchId });
          }
          // A failed registration makes the TM roll back; otherwise the dice decide, and a few
          // transactions are abandoned so that only the timeout check can end them.
          if (registered && Math.random() < ABANDON_RATE) continue;
          tx.decision = !registered || Math.random() >= COMMIT_RATE ? 'rollback' : 'commit';
          tx.sent = true;
          const typeCode = tx.decision === 'commit' ? TypeCode.GLOBAL_COMMIT : TypeCode.GLOBAL_ROLLBACK;
          const sent = await sendRouted(
            tx.xid,
            links,
            (link) => link.peer.request({ typeCode, xid: tx.xid, extraData: null }),
            tx.decision,
            fellBack,
          );
          if (sent.ok) tx.answer = globalStatusOf(sent.response);
        }
      };
      const load = Promise.all(workers.map(worker));

      await sleep(LOAD_BEFORE_KILL_MS);
      // The victim: the TC holding most task locks (so their takeover is exercised), then the
      // one with most transactions in flight.
      const lockRows = await store.taskLocks();
      const now = Date.now();
      const locksHeld = (tc: ClusterTc) =>
        lockRows.filter((r) => r.owner === tc.address && r.expire > now).length;
      const inFlight = (tc: ClusterTc) =>
        txs.filter((x) => x.owner === tc.address && x.answer === null).length;
      const victim = [...cluster].sort(
        (a, b) => locksHeld(b) - locksHeld(a) || inFlight(b) - inFlight(a),
      )[0] as ClusterTc;
      const before = lockRows.map((r) => `${r.key}=${r.owner}`);
      // Strike while the victim runs phase two of decisions whose answer has not come yet.
      const strike = Date.now() + KILL_WINDOW_MS;
      const decisionsInFlight = () =>
        txs.filter((x) => x.owner === victim.address && x.sent && x.answer === null).length;
      while (Date.now() < strike && decisionsInFlight() < 2) await sleep(1);
      const touched = new Set(phaseTwo.map((c) => c.xid));
      for (const x of txs)
        if (x.owner === victim.address && x.answer === null && (x.sent || !touched.has(x.xid)))
          x.inFlightAtKill = true;
      const killedAt = Date.now();
      await victim.kill();
      const survivors = cluster.filter((tc) => tc !== victim);
      t.diagnostic(
        `kill TC ${victim.index} (${victim.address}) after ${txs.length} begins; task locks before: ${before.join(' ')}; ` +
          `per TC begun ${cluster.map((tc) => `${tc.index}:${txs.filter((x) => x.owner === tc.address).length}`).join(' ')}`,
      );

      await sleep(LOAD_AFTER_KILL_MS);
      stopped = true;
      await within(load, 'the load workers to stop', 4 * REQUEST_MS);

      // ---- quiescence: nothing unfinished in the store, every XID final on every survivor
      const checkers = new Map<string, WirePeer>();
      for (const tc of survivors) {
        const peer = await within(WirePeer.connect(tc.port, HOST), `checker connect to TC ${tc.index}`);
        peers.push(peer);
        assert.equal(await within(peer.registerTm('ha-checker'), 'RegisterTM'), true);
        checkers.set(tc.address, peer);
      }
      const statusOn = async (peer: WirePeer, xid: string): Promise<number> => {
        const r = await bounded(
          peer.request({ typeCode: TypeCode.GLOBAL_STATUS, xid, extraData: null }),
          REQUEST_MS,
          'GlobalStatus',
        );
        return globalStatusOf(r) ?? -1;
      };
      const deadline = Date.now() + QUIESCE_MS;
      let unfinishedRows: GlobalRow[] = [];
      let notFinal: string[] = [];
      for (;;) {
        unfinishedRows = await store.globalsIn(NOT_FINAL);
        notFinal = [];
        if (unfinishedRows.length === 0) {
          for (const [address, peer] of checkers) {
            for (let i = 0; i < txs.length; i += 200) {
              const part = txs.slice(i, i + 200);
              const statuses = await Promise.all(part.map((x) => statusOn(peer, x.xid)));
              for (const [j, status] of statuses.entries()) {
                if (!FINAL.includes(status))
                  notFinal.push(`${(part[j] as Tx).xid} is ${statusText(status)} on ${address}`);
              }
            }
          }
          if (notFinal.length === 0) break;
        }
        if (Date.now() > deadline) break;
        await sleep(250);
      }
      const quiescedAfterMs = Date.now() - killedAt;

      // ---- what happened, for the log
      const calls = new Map<string, PhaseTwo[]>();
      for (const c of phaseTwo) {
        const list = calls.get(c.xid) ?? [];
        list.push(c);
        calls.set(c.xid, list);
      }
      const byBranch = new Map<string, PhaseTwo[]>();
      for (const c of phaseTwo) {
        const key = `${c.xid}/${c.app}/${c.branchId}`;
        const list = byBranch.get(key) ?? [];
        list.push(c);
        byBranch.set(key, list);
      }
      // Calls of one branch from two TCs are a takeover when the earlier TC is the victim and the
      // later call came after the kill; otherwise two live TCs drove it, which the task locks and
      // the dead-session rule must prevent. (Calls are in arrival order.)
      const handOver = (list: PhaseTwo[], legit: boolean) =>
        list.some((c, i) => {
          const prev = list[i - 1];
          if (!prev || prev.tc === c.tc) return false;
          return (prev.tc === victim.index && c.at >= killedAt) === legit;
        });
      const repeated = [...byBranch.values()].filter((list) => list.length > 1);
      const takenOver = repeated.filter((list) => handOver(list, true));
      const drivenTwice = [...byBranch].filter(([, list]) => handOver(list, false));
      const victims = txs.filter((x) => x.owner === victim.address);
      const outcome = (x: Tx) => {
        const kinds = new Set((calls.get(x.xid) ?? []).map((c) => c.kind));
        return kinds.size === 0 ? 'none' : kinds.size === 1 ? [...kinds][0] : 'mixed';
      };
      t.diagnostic(
        `${txs.length} begun (${beginsRefused} begins refused), ${victims.length} on the victim, ` +
          `${victims.filter((x) => x.inFlightAtKill).length} of them in flight at the kill ` +
          `(${victims.filter((x) => x.inFlightAtKill && !x.sent).length} undecided, ` +
          `${victims.filter((x) => x.inFlightAtKill && x.sent).length} decision sent); ${fallbacks} requests fell back`,
      );
      t.diagnostic(
        `decisions: ${histogram(txs.map((x) => x.decision))}; answers: ${histogram(
          txs.map((x) => (x.sent ? (x.answer === null ? 'no-answer' : statusText(x.answer)) : 'not-sent')),
        )}; ${registersRefused} registrations refused`,
      );
      t.diagnostic(
        `outcomes: ${histogram(txs.map(outcome))}; phase-two calls per branch: ${histogram(
          [...byBranch.values()].map((list) => list.length),
        )}; repeated ${repeated.length} (${takenOver.length} taken over from the victim), ` +
          `driven by two live TCs ${drivenTwice.length}; quiesced ${quiescedAfterMs} ms after the kill`,
      );

      // ---- (1) every acknowledged begin reached a final state
      assert.deepEqual(
        unfinishedRows.map((r) => `${r.xid} ${statusText(r.status)}`),
        [],
        `the ${store.name} store still holds unfinished transactions`,
      );
      assert.deepEqual(notFinal.slice(0, 20), [], `${notFinal.length} XIDs are not final on a survivor`);
      const left = await store.leftovers();
      assert.deepEqual(
        left,
        Object.fromEntries(Object.keys(left).map((k) => [k, 0])),
        `the ${store.name} store holds leftovers (failed ends)`,
      );

      // ---- (2) and (3): consistent per XID, and as the TM was told
      const problems: string[] = [];
      for (const x of txs) {
        const seen = calls.get(x.xid) ?? [];
        const where = `${x.xid} (decision ${x.decision}, sent ${x.sent}, answer ${x.answer === null ? '-' : statusText(x.answer)}, fell back ${x.fellBack})`;
        const kinds = new Set(seen.map((c) => c.kind));
        if (kinds.size > 1) {
          problems.push(`${where}: both committed and rolled back`);
          continue;
        }
        const told = x.answer === null || x.answer === S.Finished ? null : decisionOf(x.answer);
        if (told === 'other') {
          problems.push(`${where}: unexpected answer`);
          continue;
        }
        // Never decided: only the timeout check can have ended it, by rolling back.
        const expected = told ?? (x.sent ? ([...kinds][0] ?? null) : 'rollback');
        for (const b of x.branches) {
          const got = seen.filter((c) => c.app === b.app && c.branchId === b.branchId).map((c) => c.kind);
          if (got.length === 0 || got.some((k) => k !== expected))
            problems.push(`${where}: branch ${b.branchId} saw [${got.join(',')}], expected ${expected}`);
        }
      }
      assert.deepEqual(problems.slice(0, 20), [], `${problems.length} transactions ended wrongly`);
      // The victim's undecided transactions that only a survivor's timeout check could end.
      const orphansRolledBack = victims.filter(
        (x) =>
          !x.sent && x.branches.length > 0 && (calls.get(x.xid) ?? []).every((c) => c.tc !== victim.index),
      );
      t.diagnostic(
        `${orphansRolledBack.length} undecided transactions of the victim rolled back by survivors`,
      );
      assert.ok(
        orphansRolledBack.length > 0,
        'no undecided transaction of the victim was left to the survivors',
      );

      // ---- (4) none driven twice at once: few phase-two calls per branch; survivors hold the locks
      const busiest = [...byBranch].sort((a, b) => b[1].length - a[1].length)[0];
      const explain = ([key, list]: [string, PhaseTwo[]]) =>
        `${key}: ${list.map((c) => `${c.kind} from TC ${c.tc} at kill${c.at >= killedAt ? '+' : ''}${c.at - killedAt} ms`).join(', ')}`;
      assert.ok(
        !busiest || busiest[1].length <= MAX_CALLS_PER_BRANCH,
        `a branch saw ${busiest?.[1].length} phase-two calls: ${busiest && explain(busiest)}`,
      );
      assert.deepEqual(
        drivenTwice.slice(0, 10).map(explain),
        [],
        `${drivenTwice.length} branches driven by two live TCs`,
      );
      const owners = (await store.taskLocks())
        .filter((r) => TASKS.includes(r.key))
        .sort((a, b) => (a.key < b.key ? -1 : 1));
      const lockText = owners.map((r) => `${r.key}=${r.owner}`);
      t.diagnostic(`task locks after: ${lockText.join(' ')}`);
      assert.equal(owners.length, TASKS.length, lockText.join(' '));
      const survivorAddresses = survivors.map((tc) => tc.address);
      for (const r of owners) {
        assert.ok(survivorAddresses.includes(r.owner), `${r.key} is held by ${r.owner}, not a survivor`);
        assert.ok(r.expire > killedAt, `${r.key} was not renewed after the kill`);
      }
      for (const tc of survivors) assert.equal(tc.alive, true, `TC ${tc.index} died: ${tc.output()}`);
    });
  });
}

haScenario(postgresStore());
haScenario(redisStore());
