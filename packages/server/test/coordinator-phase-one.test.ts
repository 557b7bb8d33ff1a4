/**
 * Phase one against an in-process TC over real sockets: begin and its XID, GlobalStatus of an
 * unknown XID, branch register errors (DefaultCore.branchRegister) with Seata's
 * "TransactionException[...]" msg, AT row locks and GlobalLockQuery, a merged request as the
 * Java RM sends it, and the per-client open-transaction limit.
 */
import assert from 'node:assert/strict';
import { describe, test } from 'node:test';
import {
  BranchType,
  FrameType,
  GlobalStatus,
  ResultCode,
  type RpcMessage,
  type SingleMessage,
  TypeCode,
} from '@dtx/protocol';
import { AT_RESOURCE, assertTxFailure, connectRm, startTc, TCC_ACTION, Tm, until } from './helpers.js';

const S = GlobalStatus;

describe('begin and status', () => {
  test('begin returns an XID 127.0.0.1:<port>:<id> with distinct ids', async (t) => {
    const { port } = await startTc(t);
    const tm = await Tm.connect(t, port);
    const xids = [await tm.begin(), await tm.begin(30000, 'second')];
    for (const xid of xids) {
      const m = /^127\.0\.0\.1:(\d+):(\d+)$/.exec(xid);
      assert.ok(m, `bad xid ${xid}`);
      assert.equal(Number(m[1]), port);
      assert.ok(BigInt(m[2] as string) > 0n);
    }
    assert.notEqual(xids[0], xids[1]);
    assert.equal(await tm.status(xids[0] as string), S.Begin);
  });

  test('GlobalStatus, commit and rollback of an unknown xid answer Finished', async (t) => {
    const { port } = await startTc(t);
    const tm = await Tm.connect(t, port);
    const unknown = `127.0.0.1:${port}:123456789`;
    assert.equal(await tm.status(unknown), S.Finished);
    const c = await tm.commit(unknown);
    assert.equal(c.resultCode, ResultCode.Success);
    assert.equal(c.globalStatus, S.Finished);
    const r = await tm.rollback(unknown);
    assert.equal(r.globalStatus, S.Finished);
  });

  test('the store holds a begun transaction', async (t) => {
    const { port, server } = await startTc(t);
    const tm = await Tm.connect(t, port, 'store-app');
    const xid = await tm.begin(45000, 'stored-tx');
    const stored = await server.store.findGlobal(xid);
    assert.ok(stored);
    assert.equal(stored.status, S.Begin);
    assert.equal(stored.timeout, 45000);
    assert.equal(stored.applicationId, 'store-app');
    assert.equal(stored.transactionName, 'stored-tx');
  });
});

describe('branch register', () => {
  test('on an unknown xid fails with GlobalTransactionNotExist', async (t) => {
    const { port } = await startTc(t);
    const rm = await connectRm(t, port, 'rm-a');
    const r = await rm.registerBranch(`127.0.0.1:${port}:42`, { branchType: BranchType.TCC });
    assertTxFailure(r, 'GlobalTransactionNotExist');
    assert.equal(r.branchId, 0n);
  });

  test('after commit began fails with GlobalTransactionNotActive or StatusInvalid', async (t) => {
    // A long branch timeout, so the RM's slow answer below is never mistaken for a lost one.
    const { port } = await startTc(t, { coordinator: { branchRequestTimeoutMs: 5000 } });
    const tm = await Tm.connect(t, port);
    const rm = await connectRm(t, port, 'rm-a');
    const xid = await tm.begin();
    await rm.registerBranchOk(xid, { branchType: BranchType.TCC });
    // Phase two in flight: the RM holds its answer back.
    rm.delayMs = 200;
    const commit = tm.commit(xid);
    await rm.waitFor((c) => c.length === 1, 'the BranchCommit');
    const during = await rm.registerBranch(xid, { branchType: BranchType.TCC });
    assertTxFailure(during, ['GlobalTransactionNotActive', 'GlobalTransactionStatusInvalid']);
    assert.equal((await commit).globalStatus, S.Committed);

    // A transaction whose commit is being retried stays closed to new branches.
    const xid2 = await tm.begin();
    await rm.registerBranchOk(xid2, { branchType: BranchType.TCC });
    rm.delayMs = 0;
    rm.respond.commit = 'unretryable';
    assert.equal((await tm.commit(xid2)).globalStatus, S.CommitFailed);
    const after = await rm.registerBranch(xid2, { branchType: BranchType.TCC });
    assertTxFailure(after, ['GlobalTransactionNotActive', 'GlobalTransactionStatusInvalid']);
  });

  test('after rollback the xid is gone: GlobalTransactionNotExist', async (t) => {
    const { port } = await startTc(t);
    const tm = await Tm.connect(t, port);
    const rm = await connectRm(t, port, 'rm-a');
    const xid = await tm.begin();
    assert.equal((await tm.rollback(xid)).globalStatus, S.Rollbacked);
    assertTxFailure(
      await rm.registerBranch(xid, { branchType: BranchType.TCC }),
      'GlobalTransactionNotExist',
    );
  });

  test('applicationData over the limit fails with FailedToAddBranch when the check is on', async (t) => {
    const { port } = await startTc(t, {
      coordinator: { applicationDataLimitCheck: true, applicationDataLimit: 100 },
    });
    const tm = await Tm.connect(t, port);
    const rm = await connectRm(t, port, 'rm-a');
    const xid = await tm.begin();
    const big = await rm.registerBranch(xid, {
      branchType: BranchType.TCC,
      applicationData: 'x'.repeat(101),
    });
    assertTxFailure(big, 'FailedToAddBranch');
    await rm.registerBranchOk(xid, { branchType: BranchType.TCC, applicationData: 'x'.repeat(100) });
  });

  test('a branch report changes the stored status and applicationData; unknown branch fails', async (t) => {
    const { port, server } = await startTc(t);
    const tm = await Tm.connect(t, port);
    const rm = await connectRm(t, port, 'rm-a');
    const xid = await tm.begin();
    const branchId = await rm.registerBranchOk(xid, {
      branchType: BranchType.TCC,
      applicationData: '{"actionContext":{"a":1}}',
    });
    const ok = await rm.report(xid, branchId, {
      status: 1 /* Registered */,
      branchType: BranchType.TCC,
      applicationData: '{"actionContext":{"a":2}}',
    });
    assert.equal(ok.resultCode, ResultCode.Success);
    const stored = await server.store.findGlobal(xid);
    assert.equal(stored?.branches[0]?.applicationData, '{"actionContext":{"a":2}}');
    // Phase two carries the reported applicationData.
    assert.equal((await tm.commit(xid)).globalStatus, S.Committed);
    assert.equal(rm.commits[0]?.applicationData, '{"actionContext":{"a":2}}');

    const xid2 = await tm.begin();
    const missing = await rm.report(xid2, 1n, { status: 2, branchType: BranchType.TCC });
    assertTxFailure(missing, 'BranchTransactionNotExist');
    const noTx = await rm.report(`127.0.0.1:${port}:7`, 1n, { status: 2, branchType: BranchType.TCC });
    assertTxFailure(noTx, 'GlobalTransactionNotExist');
  });
});

describe('AT row locks', () => {
  test('overlapping lockKeys conflict until the holder ends; GlobalLockQuery follows', async (t) => {
    const { port } = await startTc(t);
    const tm = await Tm.connect(t, port);
    const rm = await connectRm(t, port, 'at-app', { resourceIds: [AT_RESOURCE] });
    const tx1 = await tm.begin();
    const tx2 = await tm.begin();
    await rm.registerBranchOk(tx1, { branchType: BranchType.AT, lockKey: 't_order:1,2;t_stock:10' });

    const conflict = await rm.registerBranch(tx2, { branchType: BranchType.AT, lockKey: 't_order:2,3' });
    assertTxFailure(conflict, 'LockKeyConflict');
    const conflict2 = await rm.registerBranch(tx2, { branchType: BranchType.AT, lockKey: 't_stock:10' });
    assertTxFailure(conflict2, 'LockKeyConflict');
    // Other rows, another table or another resource are free.
    await rm.registerBranchOk(tx2, { branchType: BranchType.AT, lockKey: 't_order:3;t_stock:11' });
    // The holder may lock its own rows again.
    await rm.registerBranchOk(tx1, { branchType: BranchType.AT, lockKey: 't_order:2' });

    assert.equal((await rm.lockQuery(tx2, 't_order:2')).lockable, false);
    assert.equal((await rm.lockQuery(null, 't_order:1')).lockable, false);
    assert.equal((await rm.lockQuery(tx1, 't_order:1,2')).lockable, true);
    assert.equal((await rm.lockQuery(tx2, 't_order:9')).lockable, true);
    assert.equal((await rm.lockQuery(tx2, 't_order:2', 'jdbc:mysql://elsewhere/db')).lockable, true);

    // tx1 rolls back: its rows are released.
    assert.equal((await tm.rollback(tx1)).globalStatus, S.Rollbacked);
    assert.equal((await rm.lockQuery(tx2, 't_order:1,2;t_stock:10')).lockable, true);
    assert.equal((await rm.lockQuery(null, 't_order:2')).lockable, true, 'tx2 holds t_order:3 only');
    assert.equal((await rm.lockQuery(null, 't_order:3')).lockable, false);
    await rm.registerBranchOk(tx2, { branchType: BranchType.AT, lockKey: 't_order:2,3' });
    assert.equal((await rm.lockQuery(null, 't_order:2')).lockable, false);

    // tx2 commits (AT: asynchronously); once it has finished, everything is free.
    assert.equal((await tm.commit(tx2)).globalStatus, S.Committed);
    await tm.waitForStatus(tx2, S.Finished);
    await until(
      async () => (await rm.lockQuery(null, 't_order:1,2,3;t_stock:10,11')).lockable,
      'the rows of tx2 to be released',
    );
    const tx3 = await tm.begin();
    await rm.registerBranchOk(tx3, { branchType: BranchType.AT, lockKey: 't_order:1,2,3;t_stock:10,11' });
  });

  test('a failed lock leaves no half-taken rows', async (t) => {
    const { port } = await startTc(t);
    const tm = await Tm.connect(t, port);
    const rm = await connectRm(t, port, 'at-app', { resourceIds: [AT_RESOURCE] });
    const tx1 = await tm.begin();
    const tx2 = await tm.begin();
    await rm.registerBranchOk(tx1, { branchType: BranchType.AT, lockKey: 't:5' });
    assertTxFailure(
      await rm.registerBranch(tx2, { branchType: BranchType.AT, lockKey: 't:4,5,6' }),
      'LockKeyConflict',
    );
    assert.equal((await rm.lockQuery(tx1, 't:4')).lockable, true);
    assert.equal((await rm.lockQuery(tx1, 't:6')).lockable, true);
    // The refused branch is not part of tx2.
    assert.equal((await tm.rollback(tx2)).globalStatus, S.Rollbacked);
    assert.equal(rm.rollbacks.length, 0);
  });
});

describe('merged request', () => {
  test('a ONEWAY MergedWarpMessage of two BranchRegisterRequests gets one MergeResultMessage in order', async (t) => {
    const { port } = await startTc(t);
    const tm = await Tm.connect(t, port);
    const rm = await connectRm(t, port, 'merge-app');
    const xid = await tm.begin();
    const applicationData = '{"actionContext":{"amount":100}}';
    const register = (x: string): SingleMessage => ({
      typeCode: TypeCode.BRANCH_REGISTER,
      xid: x,
      branchType: BranchType.TCC,
      resourceId: TCC_ACTION,
      lockKey: null,
      applicationData,
    });
    rm.peer.record = true;
    // As in the capture: outer id 3 (ONEWAY), inner msgIds after the messages. The second
    // message names an unknown xid, so the results' order shows.
    const outerId = 1000;
    rm.peer.write({
      id: outerId,
      frameType: FrameType.REQUEST_ONEWAY,
      body: {
        typeCode: TypeCode.SEATA_MERGE,
        msgs: [register(xid), register(`127.0.0.1:${port}:1`), register(xid)],
        msgIds: [1001, 1002, 1003],
      },
    });
    let reply: RpcMessage | undefined;
    await until(() => {
      reply = rm.peer.received.find((f) => f.id === outerId);
      return reply !== undefined;
    }, 'the MergeResultMessage');
    assert.ok(reply);
    assert.equal(reply.frameType, FrameType.RESPONSE);
    assert.ok(reply.body && reply.body.typeCode === TypeCode.SEATA_MERGE_RESULT, 'not a MergeResultMessage');
    const [first, second, third] = reply.body.msgs as Array<Extract<SingleMessage, { typeCode: 12 }>>;
    assert.equal(reply.body.msgs.length, 3);
    assert.ok(first && second && third);
    assert.equal(first.resultCode, ResultCode.Success);
    assertTxFailure(second, 'GlobalTransactionNotExist');
    assert.equal(third.resultCode, ResultCode.Success);
    assert.ok(third.branchId > 0n && first.branchId > 0n && third.branchId !== first.branchId);
    // No frame answers the inner ids on their own.
    await new Promise((r) => setTimeout(r, 50));
    assert.equal(
      rm.peer.received.filter((f) => f.frameType === FrameType.RESPONSE && f.id > outerId).length,
      0,
    );

    // Both branches are real: phase two reaches them in registration order.
    assert.equal((await tm.commit(xid)).globalStatus, S.Committed);
    assert.deepEqual(
      rm.commits.map((c) => c.branchId),
      [first.branchId, third.branchId],
    );
    assert.equal(rm.commits[0]?.applicationData, applicationData);
  });

  test('a merged GlobalBegin and GlobalStatus on a TM connection', async (t) => {
    const { port } = await startTc(t);
    const tm = await Tm.connect(t, port);
    tm.peer.record = true;
    tm.peer.write({
      id: 77,
      frameType: FrameType.REQUEST_ONEWAY,
      body: {
        typeCode: TypeCode.SEATA_MERGE,
        msgs: [
          { typeCode: TypeCode.GLOBAL_BEGIN, timeout: 60000, transactionName: 'merged' },
          { typeCode: TypeCode.GLOBAL_STATUS, xid: `127.0.0.1:${port}:5`, extraData: null },
        ],
        msgIds: [78, 79],
      },
    });
    await until(() => tm.peer.received.some((f) => f.id === 77), 'the MergeResultMessage');
    const body = tm.peer.received.find((f) => f.id === 77)?.body;
    assert.ok(body && body.typeCode === TypeCode.SEATA_MERGE_RESULT);
    const [begin, status] = body.msgs;
    assert.ok(begin?.typeCode === TypeCode.GLOBAL_BEGIN_RESULT && begin.resultCode === ResultCode.Success);
    assert.match(begin.xid ?? '', /^127\.0\.0\.1:\d+:\d+$/);
    assert.ok(status?.typeCode === TypeCode.GLOBAL_STATUS_RESULT);
    assert.equal(status.globalStatus, S.Finished);
  });
});

describe('maxOpenTransactionsPerClient', () => {
  test('the 4th begin over a limit of 3 fails with BeginFailed naming the limit; ending one frees a slot', async (t) => {
    const { port } = await startTc(t, { coordinator: { maxOpenTransactionsPerClient: 3 } });
    const tm = await Tm.connect(t, port);
    const rm = await connectRm(t, port, 'rm-a');
    const xids = [await tm.begin(), await tm.begin(), await tm.begin()];
    await rm.registerBranchOk(xids[0] as string, { branchType: BranchType.TCC });

    const fourth = await tm.beginResponse();
    assertTxFailure(fourth, 'BeginFailed');
    assert.match(fourth.msg ?? '', /maxOpenTransactionsPerClient/);
    assert.match(fourth.msg ?? '', /\b3\b/);
    assert.equal(fourth.xid, null);

    // The limit is per client: another TM is not affected.
    const other = await Tm.connect(t, port, 'other-app');
    await other.begin();

    // Ending one (a commit with a branch) frees a slot; so does a rollback.
    assert.equal((await tm.commit(xids[0] as string)).globalStatus, S.Committed);
    const again = await tm.begin();
    assertTxFailure(await tm.beginResponse(), 'BeginFailed');
    assert.equal((await tm.rollback(again)).globalStatus, S.Rollbacked);
    await tm.begin();
  });

  test('a transaction ended by the timeout frees its slot too', async (t) => {
    const { port } = await startTc(t, { coordinator: { maxOpenTransactionsPerClient: 1 } });
    const tm = await Tm.connect(t, port);
    await tm.begin(1000);
    assertTxFailure(await tm.beginResponse(), 'BeginFailed');
    await until(async () => (await tm.beginResponse()).resultCode === ResultCode.Success, 'a free slot');
  });
});
