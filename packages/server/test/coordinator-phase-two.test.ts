/**
 * Phase two against an in-process TC with fake RMs on real sockets (DefaultCore.commit and
 * rollback): branch order, the result mapping, the retry loops after retryable failures, lost
 * answers and vanished RMs (found again through the channel fallback), unretryable failures
 * that stay stored, and AT's asynchronous commit.
 */
import assert from 'node:assert/strict';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { describe, type TestContext, test } from 'node:test';
import { TransactionError } from '@dtx/core';
import { BranchType, GlobalStatus, ResultCode } from '@dtx/protocol';
import type { FakeRm } from '@dtx/testing';
import { FileStore, type SessionQuery, type StoreOp, type TransactionStore } from '../src/index.js';
import { AT_RESOURCE, connectRm, sleep, startTc, statusText, type TestTcOptions, Tm } from './helpers.js';

const S = GlobalStatus;

interface World {
  tm: Tm;
  rmA: FakeRm;
  rmB: FakeRm;
  server: Awaited<ReturnType<typeof startTc>>['server'];
}

async function world(t: TestContext, options: TestTcOptions = {}): Promise<World> {
  const { port, server } = await startTc(t, options);
  const tm = await Tm.connect(t, port);
  // Distinct resources: with a shared one, the TC may hand one RM's branches to the other
  // application when the first is gone (ChannelManager.tryOtherApp), tested on its own below.
  const rmA = await connectRm(t, port, 'rm-a', { resourceIds: ['action-a'] });
  const rmB = await connectRm(t, port, 'rm-b', { resourceIds: ['action-b'] });
  return { tm, rmA, rmB, server };
}

/** Begins and registers four TCC branches, alternating A, B, A, B. */
async function fourBranches(w: World): Promise<{ xid: string; a: bigint[]; b: bigint[]; all: bigint[] }> {
  const xid = await w.tm.begin();
  const all: bigint[] = [];
  for (let i = 0; i < 4; i++) {
    const rm = i % 2 === 0 ? w.rmA : w.rmB;
    all.push(
      await rm.registerBranchOk(xid, {
        branchType: BranchType.TCC,
        applicationData: `{"actionContext":{"step":${i}}}`,
      }),
    );
  }
  return { xid, a: [all[0], all[2]] as bigint[], b: [all[1], all[3]] as bigint[], all };
}

function ids(calls: FakeRm['calls']): bigint[] {
  return calls.map((c) => c.branchId);
}

/** Branch ids of `calls` with their first occurrence only, in order. */
function firstSeen(calls: FakeRm['calls']): bigint[] {
  return [...new Set(ids(calls))];
}

describe('commit', () => {
  test('two RMs: BranchCommit in registration order per RM, Committed, then Finished', async (t) => {
    const w = await world(t);
    const { xid, a, b } = await fourBranches(w);
    const r = await w.tm.commit(xid);
    assert.equal(r.resultCode, ResultCode.Success);
    assert.equal(r.globalStatus, S.Committed, statusText(r.globalStatus));
    assert.deepEqual(ids(w.rmA.commits), a);
    assert.deepEqual(ids(w.rmB.commits), b);
    assert.equal(w.rmA.rollbacks.length + w.rmB.rollbacks.length, 0);
    for (const c of [...w.rmA.commits, ...w.rmB.commits]) {
      assert.equal(c.xid, xid);
      assert.equal(c.branchType, BranchType.TCC);
      assert.equal(c.resourceId, w.rmA.calls.includes(c) ? 'action-a' : 'action-b');
      assert.match(c.applicationData ?? '', /^\{"actionContext":\{"step":\d\}\}$/);
    }
    assert.equal(w.rmA.commits[1]?.applicationData, '{"actionContext":{"step":2}}');
    assert.equal(await w.tm.status(xid), S.Finished);
    assert.equal(await w.server.store.findGlobal(xid), null);
    // A second commit of a finished transaction is harmless.
    assert.equal((await w.tm.commit(xid)).globalStatus, S.Finished);
    assert.equal(w.rmA.commits.length, 2);
  });

  test('a transaction without branches commits at once', async (t) => {
    const w = await world(t);
    const xid = await w.tm.begin();
    assert.equal((await w.tm.commit(xid)).globalStatus, S.Committed);
    assert.equal(await w.tm.status(xid), S.Finished);
  });

  test('retryable failure: CommitRetrying, then the retry loop commits', async (t) => {
    const w = await world(t);
    const { xid, a, b } = await fourBranches(w);
    w.rmA.failTimes(2, 'commit');
    const r = await w.tm.commit(xid);
    assert.equal(r.globalStatus, S.CommitRetrying, statusText(r.globalStatus));
    assert.equal((await w.server.store.findGlobal(xid))?.status, S.CommitRetrying);
    await w.tm.waitForStatus(xid, S.Finished);
    const a1 = a[0] as bigint;
    // The failed branch was sent again until it committed; the later one only after it.
    assert.deepEqual(ids(w.rmA.commits), [a1, a1, a1, a[1] as bigint]);
    assert.deepEqual(
      w.rmA.commits.map((c) => c.reply),
      ['retryable', 'retryable', 'ok', 'ok'],
    );
    assert.deepEqual(ids(w.rmB.commits), b);
    assert.equal(w.rmA.rollbacks.length + w.rmB.rollbacks.length, 0);
    assert.equal(await w.server.store.findGlobal(xid), null);
  });

  test('unretryable failure: CommitFailed, kept in memory and in the store, not retried', async (t) => {
    const w = await world(t);
    const { xid, a } = await fourBranches(w);
    w.rmA.respond.commit = 'unretryable';
    const r = await w.tm.commit(xid);
    assert.equal(r.resultCode, ResultCode.Success);
    assert.equal(r.globalStatus, S.CommitFailed, statusText(r.globalStatus));
    const stored = await w.server.store.findGlobal(xid);
    assert.equal(stored?.status, S.CommitFailed);
    assert.equal(stored?.active, false);
    assert.ok(
      stored.branches.some((br) => br.branchId === a[0]),
      'the failed branch stays stored',
    );
    assert.equal(w.server.coordinator.sessions.get(xid)?.status, S.CommitFailed);
    assert.equal(await w.tm.status(xid), S.CommitFailed);
    // Several retry periods later nothing more was sent to the failed branch.
    const sent = w.rmA.commits.length;
    await sleep(300);
    assert.equal(w.rmA.commits.length, sent);
    assert.equal(w.rmA.callsFor(xid, 'commit')[0]?.branchId, a[0]);
    assert.equal(w.rmA.rollbacks.length + w.rmB.rollbacks.length, 0);
    // A second commit reports the failure, it does not run phase two again.
    assert.equal((await w.tm.commit(xid)).globalStatus, S.CommitFailed);
    assert.equal(w.rmA.commits.length, sent);
  });

  test('an RM that never answers is retried after the request timeout', async (t) => {
    const w = await world(t);
    const { xid, a, b } = await fourBranches(w);
    w.rmA.respond.commit = 'never';
    const r = await w.tm.commit(xid);
    assert.equal(r.globalStatus, S.CommitRetrying, statusText(r.globalStatus));
    await w.rmA.waitFor((c) => c.length >= 2, 'a retried BranchCommit');
    assert.deepEqual(firstSeen(w.rmA.commits), [a[0]], 'the second branch waits for the first');
    w.rmA.respond.commit = 'ok';
    await w.tm.waitForStatus(xid, S.Finished);
    assert.deepEqual(firstSeen(w.rmA.commits), a);
    assert.deepEqual(ids(w.rmB.commits), b);
    assert.equal(w.rmA.commits.at(-1)?.reply, 'ok');
  });

  test('a slow RM within the request timeout is simply waited for', async (t) => {
    const w = await world(t, { coordinator: { branchRequestTimeoutMs: 5000 } });
    const { xid, a } = await fourBranches(w);
    w.rmA.delayMs = 150;
    assert.equal((await w.tm.commit(xid)).globalStatus, S.Committed);
    assert.deepEqual(ids(w.rmA.commits), a);
  });

  test('an RM that vanishes and comes back as the same application gets the retry', async (t) => {
    const w = await world(t);
    const { xid, a, b } = await fourBranches(w);
    await w.rmA.dropConnection();
    const r = await w.tm.commit(xid);
    assert.equal(r.globalStatus, S.CommitRetrying, statusText(r.globalStatus));
    assert.deepEqual(ids(w.rmB.commits), b, 'the other participant is not held up');
    await sleep(150); // a few retry periods with nobody to send to
    assert.equal(w.rmA.commits.length, 0);
    assert.equal(await w.tm.status(xid), S.CommitRetrying);

    await w.rmA.reconnect();
    await w.tm.waitForStatus(xid, S.Finished);
    assert.deepEqual(ids(w.rmA.commits), a);
    assert.ok(
      w.rmA.commits.every((c) => c.connection === 1),
      'phase two went to the new connection',
    );
  });

  test('a reconnected RM (same ip, other port) is preferred to another application with the resource', async (t) => {
    const { port } = await startTc(t);
    const tm = await Tm.connect(t, port);
    // Registered first, so a lookup that skipped the same-application steps would pick it.
    const other = await connectRm(t, port, 'app-other', { resourceIds: ['shared-action'] });
    const rm = await connectRm(t, port, 'app-main', { resourceIds: ['shared-action'] });
    const xid = await tm.begin();
    const b1 = await rm.registerBranchOk(xid, { branchType: BranchType.TCC });
    await rm.reconnect();
    assert.equal((await tm.commit(xid)).globalStatus, S.Committed);
    assert.deepEqual(
      rm.commits.map((c) => [c.branchId, c.connection]),
      [[b1, 1]],
    );
    assert.equal(other.calls.length, 0);
  });

  test('with the registering application gone, another application holding the resource gets phase two', async (t) => {
    const { port } = await startTc(t);
    const tm = await Tm.connect(t, port);
    const gone = await connectRm(t, port, 'app-gone');
    const other = await connectRm(t, port, 'app-other');
    const xid = await tm.begin();
    const branchId = await gone.registerBranchOk(xid, { branchType: BranchType.TCC });
    await gone.dropConnection();
    assert.equal((await tm.commit(xid)).globalStatus, S.Committed);
    assert.deepEqual(ids(other.commits), [branchId]);
  });

  test('with two RMs of one application on one host, phase two goes to the one that registered the branch', async (t) => {
    const { port } = await startTc(t);
    const tm = await Tm.connect(t, port);
    const rm1 = await connectRm(t, port, 'same-app');
    const rm2 = await connectRm(t, port, 'same-app');
    const xid = await tm.begin();
    const b1 = await rm1.registerBranchOk(xid, { branchType: BranchType.TCC });
    const b2 = await rm2.registerBranchOk(xid, { branchType: BranchType.TCC });
    assert.equal((await tm.commit(xid)).globalStatus, S.Committed);
    assert.deepEqual(ids(rm1.commits), [b1]);
    assert.deepEqual(ids(rm2.commits), [b2]);
  });
});

describe('rollback', () => {
  test('two RMs: BranchRollback in reverse registration order per RM, Rollbacked, then Finished', async (t) => {
    const w = await world(t);
    const { xid, a, b } = await fourBranches(w);
    const r = await w.tm.rollback(xid);
    assert.equal(r.resultCode, ResultCode.Success);
    assert.equal(r.globalStatus, S.Rollbacked, statusText(r.globalStatus));
    assert.deepEqual(ids(w.rmA.rollbacks), [...a].reverse());
    assert.deepEqual(ids(w.rmB.rollbacks), [...b].reverse());
    assert.equal(w.rmA.commits.length + w.rmB.commits.length, 0);
    assert.equal(await w.tm.status(xid), S.Finished);
    assert.equal(await w.server.store.findGlobal(xid), null);
  });

  test('one RM: three branches rolled back last first', async (t) => {
    const w = await world(t);
    const xid = await w.tm.begin();
    const branches = [];
    for (let i = 0; i < 3; i++)
      branches.push(await w.rmA.registerBranchOk(xid, { branchType: BranchType.TCC }));
    assert.equal((await w.tm.rollback(xid)).globalStatus, S.Rollbacked);
    assert.deepEqual(ids(w.rmA.rollbacks), branches.reverse());
  });

  test('retryable failure: RollbackRetrying, then Rollbacked by the retry loop', async (t) => {
    const w = await world(t);
    const { xid, a, b } = await fourBranches(w);
    w.rmB.failTimes(1, 'rollback');
    const r = await w.tm.rollback(xid);
    assert.equal(r.globalStatus, S.RollbackRetrying, statusText(r.globalStatus));
    assert.equal((await w.server.store.findGlobal(xid))?.status, S.RollbackRetrying);
    await w.tm.waitForStatus(xid, S.Finished);
    assert.deepEqual(ids(w.rmA.rollbacks), [...a].reverse());
    const b4 = b[1] as bigint;
    assert.deepEqual(ids(w.rmB.rollbacks), [b4, b4, b[0] as bigint]);
    assert.equal(w.rmA.commits.length + w.rmB.commits.length, 0);
  });

  test('unretryable failure: RollbackFailed, kept stored, not retried', async (t) => {
    const w = await world(t);
    const { xid } = await fourBranches(w);
    w.rmA.respond.rollback = 'unretryable';
    const r = await w.tm.rollback(xid);
    assert.equal(r.globalStatus, S.RollbackFailed, statusText(r.globalStatus));
    assert.equal((await w.server.store.findGlobal(xid))?.status, S.RollbackFailed);
    assert.equal(await w.tm.status(xid), S.RollbackFailed);
    const sent = w.rmA.rollbacks.length;
    await sleep(300);
    assert.equal(w.rmA.rollbacks.length, sent);
  });

  test('an RM that never answers is retried; one that vanishes gets the retry after reconnecting', async (t) => {
    const w = await world(t);
    const { xid, a, b } = await fourBranches(w);
    w.rmA.respond.rollback = 'never';
    await w.rmB.dropConnection();
    const r = await w.tm.rollback(xid);
    assert.equal(r.globalStatus, S.RollbackRetrying, statusText(r.globalStatus));
    await w.rmA.waitFor((c) => c.length >= 2, 'a retried BranchRollback');
    assert.deepEqual(firstSeen(w.rmA.rollbacks), [a[1]]);
    w.rmA.respond.rollback = 'ok';
    await w.rmB.reconnect();
    await w.tm.waitForStatus(xid, S.Finished);
    assert.deepEqual(firstSeen(w.rmA.rollbacks), [...a].reverse());
    assert.deepEqual(ids(w.rmB.rollbacks), [...b].reverse());
    assert.ok(w.rmB.rollbacks.every((c) => c.connection === 1));
  });
});

describe('AT', () => {
  test('an AT-only commit answers Committed at once; branches commit asynchronously later', async (t) => {
    const { port, server } = await startTc(t);
    const tm = await Tm.connect(t, port);
    const rm = await connectRm(t, port, 'at-app', { resourceIds: [AT_RESOURCE] });
    const xid = await tm.begin();
    const b1 = await rm.registerBranchOk(xid, { branchType: BranchType.AT, lockKey: 't:1' });
    const b2 = await rm.registerBranchOk(xid, { branchType: BranchType.AT, lockKey: 't:2' });
    // The RM answers nothing yet: a synchronous phase two could only report CommitRetrying.
    rm.respond.commit = 'never';
    const r = await tm.commit(xid);
    assert.equal(r.globalStatus, S.Committed, statusText(r.globalStatus));
    assert.ok(
      rm.commits.every((c) => c.reply === null),
      'Committed came before any branch answered',
    );
    assert.equal(await tm.status(xid), S.AsyncCommitting);
    assert.equal((await server.store.findGlobal(xid))?.status, S.AsyncCommitting);
    await rm.waitFor((c) => c.length >= 2, 'async commit attempts');
    rm.respond.commit = 'ok';
    await tm.waitForStatus(xid, S.Finished);
    assert.deepEqual(firstSeen(rm.commits), [b1, b2]);
    assert.equal(rm.rollbacks.length, 0);
    assert.equal(rm.commits.at(-1)?.reply, 'ok');
  });

  test('a mixed AT + TCC transaction commits synchronously', async (t) => {
    const { port } = await startTc(t);
    const tm = await Tm.connect(t, port);
    const at = await connectRm(t, port, 'at-app', { resourceIds: [AT_RESOURCE] });
    const tcc = await connectRm(t, port, 'tcc-app');
    const xid = await tm.begin();
    await at.registerBranchOk(xid, { branchType: BranchType.AT, lockKey: 't:1' });
    await tcc.registerBranchOk(xid, { branchType: BranchType.TCC });
    tcc.respond.commit = 'retryable';
    assert.equal((await tm.commit(xid)).globalStatus, S.CommitRetrying);
    tcc.respond.commit = 'ok';
    await tm.waitForStatus(xid, S.Finished);
  });

  test('an AT rollback releases the rows only after the branches rolled back', async (t) => {
    const { port } = await startTc(t);
    const tm = await Tm.connect(t, port);
    const rm = await connectRm(t, port, 'at-app', { resourceIds: [AT_RESOURCE] });
    const tx1 = await tm.begin();
    await rm.registerBranchOk(tx1, { branchType: BranchType.AT, lockKey: 't:1' });
    rm.respond.rollback = 'retryable';
    assert.equal((await tm.rollback(tx1)).globalStatus, S.RollbackRetrying);
    // Undo has not happened: the row must stay locked.
    assert.equal((await rm.lockQuery(null, 't:1')).lockable, false);
    rm.respond.rollback = 'ok';
    await tm.waitForStatus(tx1, S.Finished);
    assert.equal((await rm.lockQuery(null, 't:1')).lockable, true);
  });
});

/** A file store whose writes fail when `failOn` says so, as a full disk would. */
class FailingStore implements TransactionStore {
  readonly kind = 'file';
  readonly shared = false;
  failOn: (op: StoreOp) => boolean = () => false;
  constructor(private readonly inner: FileStore) {}
  open() {
    return this.inner.open();
  }
  write(op: StoreOp, durable: boolean) {
    if (this.failOn(op)) return Promise.reject(new TransactionError('FailedStore', 'disk full (test)'));
    return this.inner.write(op, durable);
  }
  findGlobal(xid: string) {
    return this.inner.findGlobal(xid);
  }
  listGlobals(query?: SessionQuery) {
    return this.inner.listGlobals(query);
  }
  acquireTaskLock() {
    return Promise.resolve(true);
  }
  releaseTaskLock() {
    return Promise.resolve();
  }
  close() {
    return this.inner.close();
  }
}

describe('store failure during phase two', () => {
  test('an async commit whose end cannot be stored is logged, not an unhandled rejection', async (t) => {
    const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'dtx-failing-store-'));
    t.after(() => fs.rmSync(dir, { recursive: true, force: true }));
    const store = new FailingStore(new FileStore({ dir }));
    // Storing the CommitFailed end fails.
    store.failOn = (op) => op.op === 'globalUpdate' && op.status === S.CommitFailed;
    const unhandled: unknown[] = [];
    const onUnhandled = (reason: unknown) => unhandled.push(reason);
    process.on('unhandledRejection', onUnhandled);
    t.after(() => process.off('unhandledRejection', onUnhandled));
    const { port, server } = await startTc(t, { store });
    const tm = await Tm.connect(t, port);
    const rm = await connectRm(t, port, 'at-app', { resourceIds: [AT_RESOURCE] });
    const xid = await tm.begin();
    await rm.registerBranchOk(xid, { branchType: BranchType.AT, lockKey: 't:1' });
    // The RM fails the branch for good on the first, asynchronous attempt.
    rm.respond.commit = 'unretryable';
    assert.equal((await tm.commit(xid)).globalStatus, S.Committed);
    await rm.waitFor((c) => c.some((x) => x.reply === 'unretryable'), 'the unretryable answer');
    await sleep(100);
    assert.deepEqual(unhandled, []);
    // The TC is still serving.
    assert.equal(server.coordinator.sessions.get(xid)?.status, S.CommitFailed);
    assert.equal((await tm.rollback(await tm.begin())).globalStatus, S.Rollbacked);
  });
});
