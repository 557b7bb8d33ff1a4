/**
 * Global timeouts against an in-process TC (DefaultCoordinator.timeoutCheck and DefaultCore's
 * timed-out commit): a transaction past its timeout is rolled back by the TC on its own, and a
 * commit that comes too late is never reported as Committed.
 */
import assert from 'node:assert/strict';
import { describe, test } from 'node:test';
import { BranchType, GlobalStatus } from '@dtx/protocol';
import { connectRm, sleep, startTc, statusText, Tm } from './helpers.js';

const S = GlobalStatus;

/** What a TM may hear when it commits too late: the rollback in some stage, or gone. */
const LATE_COMMIT_ANSWERS: number[] = [
  S.TimeoutRollbacking,
  S.TimeoutRollbackRetrying,
  S.TimeoutRollbacked,
  S.Finished,
];

describe('timeout', () => {
  test('the TC rolls back a transaction past its timeout by itself', async (t) => {
    const { port, server } = await startTc(t);
    const tm = await Tm.connect(t, port);
    const rm = await connectRm(t, port, 'rm-a');
    const xid = await tm.begin(1000);
    const b1 = await rm.registerBranchOk(xid, { branchType: BranchType.TCC });
    const b2 = await rm.registerBranchOk(xid, { branchType: BranchType.TCC });
    await rm.waitFor((c) => c.length === 2, 'the timeout rollback');
    assert.deepEqual(
      rm.rollbacks.map((c) => c.branchId),
      [b2, b1],
    );
    assert.ok(rm.rollbacks.every((c) => c.xid === xid));
    await tm.waitForStatus(xid, S.Finished);
    assert.equal(await server.store.findGlobal(xid), null);
    assert.equal(rm.commits.length, 0);

    const late = await tm.commit(xid);
    assert.ok(LATE_COMMIT_ANSWERS.includes(late.globalStatus), statusText(late.globalStatus));
    assert.equal(rm.commits.length, 0);
  });

  test('a transaction within its timeout is left alone', async (t) => {
    const { port } = await startTc(t);
    const tm = await Tm.connect(t, port);
    const rm = await connectRm(t, port, 'rm-a');
    const xid = await tm.begin(60000);
    await rm.registerBranchOk(xid, { branchType: BranchType.TCC });
    await sleep(300); // six timeout-check periods
    assert.equal(await tm.status(xid), S.Begin);
    assert.equal(rm.calls.length, 0);
    assert.equal((await tm.commit(xid)).globalStatus, S.Committed);
  });

  test('a commit after the timeout (before the timeout check) answers TimeoutRollbacking and rolls back', async (t) => {
    // The periodic check is far away, so it is the commit that finds the timeout.
    const { port } = await startTc(t, { recovery: { timeoutRetryPeriodMs: 60_000 } });
    const tm = await Tm.connect(t, port);
    const rm = await connectRm(t, port, 'rm-a');
    const xid = await tm.begin(1000);
    const b1 = await rm.registerBranchOk(xid, { branchType: BranchType.TCC });
    await sleep(1100);
    assert.equal(await tm.status(xid), S.Begin, 'the timeout check must not have run');
    const r = await tm.commit(xid);
    assert.equal(r.globalStatus, S.TimeoutRollbacking, statusText(r.globalStatus));
    await tm.waitForStatus(xid, S.Finished);
    assert.deepEqual(
      rm.rollbacks.map((c) => c.branchId),
      [b1],
    );
    assert.equal(rm.commits.length, 0);
  });

  test('a timeout rollback that keeps failing shows TimeoutRollbackRetrying, and a commit then is refused', async (t) => {
    const { port, server } = await startTc(t);
    const tm = await Tm.connect(t, port);
    const rm = await connectRm(t, port, 'rm-a');
    rm.respond.rollback = 'retryable';
    const xid = await tm.begin(1000);
    await rm.registerBranchOk(xid, { branchType: BranchType.TCC });
    await rm.waitFor((c) => c.length >= 2, 'repeated timeout rollbacks');
    assert.equal(await tm.status(xid), S.TimeoutRollbackRetrying);
    assert.equal((await server.store.findGlobal(xid))?.status, S.TimeoutRollbackRetrying);
    const r = await tm.commit(xid);
    assert.equal(r.globalStatus, S.TimeoutRollbackRetrying, statusText(r.globalStatus));
    const rb = await tm.rollback(xid);
    assert.equal(rb.globalStatus, S.TimeoutRollbackRetrying, statusText(rb.globalStatus));
    rm.respond.rollback = 'ok';
    await tm.waitForStatus(xid, S.Finished);
    assert.equal(rm.commits.length, 0);
  });

  test('a timed-out transaction whose rollback fails for good ends TimeoutRollbackFailed', async (t) => {
    const { port, server } = await startTc(t);
    const tm = await Tm.connect(t, port);
    const rm = await connectRm(t, port, 'rm-a');
    rm.respond.rollback = 'unretryable';
    const xid = await tm.begin(1000);
    await rm.registerBranchOk(xid, { branchType: BranchType.TCC });
    await rm.waitFor((c) => c.length === 1 && c[0]?.reply !== null, 'the timeout rollback');
    await tm.waitForStatus(xid, S.TimeoutRollbackFailed);
    assert.equal((await server.store.findGlobal(xid))?.status, S.TimeoutRollbackFailed);
  });

  test('an RM that is away when the timeout fires gets the rollback after it reconnects', async (t) => {
    const { port } = await startTc(t);
    const tm = await Tm.connect(t, port);
    const rm = await connectRm(t, port, 'rm-a');
    const xid = await tm.begin(1000);
    const b1 = await rm.registerBranchOk(xid, { branchType: BranchType.TCC });
    await rm.dropConnection();
    await tm.waitForStatus(xid, S.TimeoutRollbackRetrying);
    await rm.reconnect();
    await tm.waitForStatus(xid, S.Finished);
    assert.deepEqual(
      rm.rollbacks.map((c) => [c.branchId, c.connection]),
      [[b1, 1]],
    );
  });
});
