/**
 * The TCC fence suite, one body run against every FenceDatabase (STYLE rule 9): a fenced
 * "freeze quota for a loan" action whose try, confirm and cancel run their business SQL on the
 * fence's transaction handle, driven end to end through an in-process TC, plus the fence's
 * phase-two methods called directly where the protocol has to be pushed off its normal path
 * (phase two delivered twice, a cancel with no try, a confirm and a cancel racing). Every test
 * checks the business table and the fence table afterwards. Not a test file.
 */
import assert from 'node:assert/strict';
import { randomBytes } from 'node:crypto';
import { after, before, describe, it, type TestContext } from 'node:test';
import { FenceError } from '@dtx/core';
import { BranchStatus, BranchType, GlobalStatus, ResultCode, TypeCode } from '@dtx/protocol';
import {
  type DtxClient,
  defineTccAction,
  type FenceAlert,
  type FenceDatabase,
  FenceStatus,
  GlobalTransaction,
  getXid,
  TccFence,
} from '../src/index.js';
import { recordingLogger, sleep, startClient, startTc, statusText, until, within } from './helpers.js';

const S = GlobalStatus;

/** One database under the suite. */
export interface FenceBackend<Tx> {
  /** 'PostgreSQL', 'MariaDB'. */
  label: string;
  /** The fence's database on this file's schema. */
  db: FenceDatabase<Tx>;
  /** A fence database whose sessions run their clock in UTC-12, whatever this process's zone. */
  skewedDb: FenceDatabase<Tx>;
  /** Runs business SQL (`?` placeholders) on a fence transaction handle; returns the affected rows. */
  exec(tx: Tx, sql: string, params: unknown[]): Promise<number>;
  /** Runs SQL (`?` placeholders) outside any transaction; returns the rows. */
  query(sql: string, params?: unknown[]): Promise<Array<Record<string, unknown>>>;
  /** DDL of the business table `quota (id, available, frozen, used)`. */
  quotaDdl: string;
  /** SQL for "now minus `hours` hours" in the database's own clock. */
  hoursAgo(hours: number): string;
  /** Drops the schema or database. */
  drop(): Promise<void>;
}

interface Quota {
  available: number;
  frozen: number;
  used: number;
}

interface FreezeArgs {
  account: string;
  amount: number;
}

/** Defines the suite for `backend` (or skips it with `skip`, the reason). */
export function fenceSuite<Tx>(
  label: string,
  skip: string | false,
  open: () => Promise<FenceBackend<Tx>>,
): void {
  describe(`TCC fence on ${label}`, { skip }, () => {
    let b: FenceBackend<Tx>;
    let n = 0;

    before(async () => {
      b = await open();
      await b.query(b.quotaDdl);
      await new TccFence(b.db, { cleanIntervalMs: 0 }).ensureTable();
    });
    after(() => b?.drop());

    /** A fresh account with 100 available. */
    async function account(): Promise<string> {
      const id = `acct-${++n}-${randomBytes(3).toString('hex')}`;
      await b.query('INSERT INTO quota (id, available, frozen, used) VALUES (?, 100, 0, 0)', [id]);
      return id;
    }

    async function quota(id: string): Promise<Quota> {
      const [row] = await b.query('SELECT available, frozen, used FROM quota WHERE id = ?', [id]);
      assert.ok(row, `no quota row ${id}`);
      return { available: Number(row.available), frozen: Number(row.frozen), used: Number(row.used) };
    }

    /** Fence rows of `xid`: branch id and status. */
    async function fenceRows(
      xid: string,
    ): Promise<Array<{ branchId: string; status: number; actionName: string }>> {
      const rows = await b.query(
        'SELECT branch_id, status, action_name FROM tcc_fence_log WHERE xid = ? ORDER BY branch_id',
        [xid],
      );
      return rows.map((r) => ({
        branchId: String(r.branch_id),
        status: Number(r.status),
        actionName: String(r.action_name),
      }));
    }

    /** The business SQL of each phase, counting its calls. */
    function business() {
      const calls = { try: 0, confirm: 0, cancel: 0 };
      return {
        calls,
        tryBody:
          (args: FreezeArgs, delayMs = 0) =>
          async (tx: Tx) => {
            calls.try++;
            const n = await b.exec(
              tx,
              'UPDATE quota SET available = available - ?, frozen = frozen + ? WHERE id = ? AND available >= ?',
              [args.amount, args.amount, args.account, args.amount],
            );
            if (n !== 1) throw new Error(`insufficient quota on ${args.account}`);
            if (delayMs) await sleep(delayMs);
          },
        confirmBody:
          (args: FreezeArgs, delayMs = 0) =>
          async (tx: Tx) => {
            calls.confirm++;
            await b.exec(tx, 'UPDATE quota SET frozen = frozen - ?, used = used + ? WHERE id = ?', [
              args.amount,
              args.amount,
              args.account,
            ]);
            if (delayMs) await sleep(delayMs);
            return true;
          },
        cancelBody:
          (args: FreezeArgs, delayMs = 0) =>
          async (tx: Tx) => {
            calls.cancel++;
            await b.exec(tx, 'UPDATE quota SET frozen = frozen - ?, available = available + ? WHERE id = ?', [
              args.amount,
              args.amount,
              args.account,
            ]);
            if (delayMs) await sleep(delayMs);
            return true;
          },
      };
    }

    /** A TC, a client, a fence that records its alerts, and the fenced freeze-quota action. */
    async function setup(t: TestContext, name: string) {
      const tc = await startTc(t);
      const logger = recordingLogger();
      const client: DtxClient = await startClient(t, tc.address, {
        applicationId: `fence-${label}-${name}`,
        logger,
      });
      const fence = new TccFence(b.db, { cleanIntervalMs: 0, logger });
      t.after(() => fence.close());
      const alerts: FenceAlert[] = [];
      fence.on('alert', (a) => alerts.push(a));
      const biz = business();
      const branches: Array<{ xid: string; branchId: bigint }> = [];
      const actionName = `freeze-quota-${name}`;
      const freeze = defineTccAction<FreezeArgs, void, Tx>(client, {
        name: actionName,
        fence,
        async try(ctx) {
          branches.push({ xid: ctx.xid as string, branchId: ctx.branchId as bigint });
          await biz.tryBody(ctx.args)(ctx.tx);
        },
        confirm: (ctx) => biz.confirmBody(ctx.actionContext as unknown as FreezeArgs)(ctx.tx),
        cancel: (ctx) => biz.cancelBody(ctx.actionContext as unknown as FreezeArgs)(ctx.tx),
      });
      return { tc, client, fence, alerts, logger, freeze, actionName, branches, ...biz };
    }

    it('commit: confirm runs once, on the fence transaction', async (t) => {
      const s = await setup(t, 'commit');
      const acct = await account();
      let xid = '';
      await s.client.globalTransaction(async () => {
        xid = getXid() as string;
        await s.freeze({ account: acct, amount: 10 });
      });
      await until(
        async () => (await fenceRows(xid))[0]?.status === FenceStatus.COMMITTED,
        'the COMMITTED row',
      );
      assert.deepEqual(await quota(acct), { available: 90, frozen: 0, used: 10 });
      assert.deepEqual(s.calls, { try: 1, confirm: 1, cancel: 0 });
      const rows = await fenceRows(xid);
      assert.equal(rows.length, 1);
      assert.equal(rows[0]?.branchId, s.branches[0]?.branchId.toString());
      assert.equal(rows[0]?.actionName, s.actionName);
      assert.deepEqual(s.alerts, []);
    });

    it('rollback: cancel runs once and restores the quota', async (t) => {
      const s = await setup(t, 'rollback');
      const acct = await account();
      let xid = '';
      await assert.rejects(
        s.client.globalTransaction(async () => {
          xid = getXid() as string;
          await s.freeze({ account: acct, amount: 30 });
          assert.deepEqual(
            await quota(acct),
            { available: 70, frozen: 30, used: 0 },
            'try committed locally',
          );
          throw new Error('the loan was refused');
        }),
        /the loan was refused/,
      );
      await until(
        async () => (await fenceRows(xid))[0]?.status === FenceStatus.ROLLBACKED,
        'the ROLLBACKED row',
      );
      assert.deepEqual(await quota(acct), { available: 100, frozen: 0, used: 0 });
      assert.deepEqual(s.calls, { try: 1, confirm: 0, cancel: 1 });
    });

    it('a try that fails leaves no TRIED row; the TC cancel becomes an empty rollback (SUSPENDED)', async (t) => {
      const s = await setup(t, 'try-fails');
      const acct = await account();
      let xid = '';
      await assert.rejects(
        s.client.globalTransaction(async () => {
          xid = getXid() as string;
          await s.freeze({ account: acct, amount: 500 });
        }),
        /insufficient quota/,
      );
      await until(
        async () => (await fenceRows(xid))[0]?.status === FenceStatus.SUSPENDED,
        'the SUSPENDED row',
      );
      assert.deepEqual(await quota(acct), { available: 100, frozen: 0, used: 0 });
      assert.deepEqual(s.calls, { try: 1, confirm: 0, cancel: 0 }, 'cancel is not called without a try');
      assert.deepEqual(
        s.alerts.map((a) => a.kind),
        ['EMPTY_ROLLBACK'],
      );
    });

    it('confirm delivered twice: the second returns true without running confirm again', async (t) => {
      const s = await setup(t, 'confirm-twice');
      const acct = await account();
      const args = { account: acct, amount: 10 };
      let xid = '';
      await s.client.globalTransaction(async () => {
        xid = getXid() as string;
        await s.freeze(args);
      });
      await until(
        async () => (await fenceRows(xid))[0]?.status === FenceStatus.COMMITTED,
        'the COMMITTED row',
      );
      const branchId = s.branches[0]?.branchId as bigint;
      assert.equal(await s.fence.commit(xid, branchId, s.actionName, s.confirmBody(args)), true);
      assert.equal(await s.fence.commit(xid, branchId, s.actionName, s.confirmBody(args)), true);
      assert.deepEqual(s.calls, { try: 1, confirm: 1, cancel: 0 });
      assert.deepEqual(await quota(acct), { available: 90, frozen: 0, used: 10 });
      // A cancel arriving after the commit loses and changes nothing.
      assert.equal(await s.fence.rollback(xid, branchId, s.actionName, s.cancelBody(args)), false);
      assert.equal(s.calls.cancel, 0);
      assert.deepEqual(await quota(acct), { available: 90, frozen: 0, used: 10 });
      assert.equal((await fenceRows(xid))[0]?.status, FenceStatus.COMMITTED);
    });

    it('cancel delivered twice: the second returns true without running cancel again', async (t) => {
      const s = await setup(t, 'cancel-twice');
      const acct = await account();
      const args = { account: acct, amount: 25 };
      let xid = '';
      await assert.rejects(
        s.client.globalTransaction(async () => {
          xid = getXid() as string;
          await s.freeze(args);
          throw new Error('abort');
        }),
      );
      await until(
        async () => (await fenceRows(xid))[0]?.status === FenceStatus.ROLLBACKED,
        'the ROLLBACKED row',
      );
      const branchId = s.branches[0]?.branchId as bigint;
      assert.equal(await s.fence.rollback(xid, branchId, s.actionName, s.cancelBody(args)), true);
      assert.equal(await s.fence.rollback(xid, branchId, s.actionName, s.cancelBody(args)), true);
      assert.deepEqual(s.calls, { try: 1, confirm: 0, cancel: 1 });
      assert.deepEqual(await quota(acct), { available: 100, frozen: 0, used: 0 });
      // A confirm arriving after the rollback loses.
      assert.equal(await s.fence.commit(xid, branchId, s.actionName, s.confirmBody(args)), false);
      assert.equal(s.calls.confirm, 0);
      assert.deepEqual(await quota(acct), { available: 100, frozen: 0, used: 0 });
    });

    it('cancel without try: recorded SUSPENDED, cancel not called, EMPTY_ROLLBACK alert', async (t) => {
      const s = await setup(t, 'empty-rollback');
      const acct = await account();
      const xid = `127.0.0.1:8091:${Date.now()}${n}`;
      const branchId = 9_000_000_000_000_000_001n;
      assert.equal(
        await s.fence.rollback(xid, branchId, s.actionName, s.cancelBody({ account: acct, amount: 5 })),
        true,
      );
      assert.deepEqual(await fenceRows(xid), [
        { branchId: branchId.toString(), status: FenceStatus.SUSPENDED, actionName: s.actionName },
      ]);
      assert.equal(s.calls.cancel, 0);
      assert.deepEqual(await quota(acct), { available: 100, frozen: 0, used: 0 });
      assert.equal(s.alerts.length, 1);
      assert.equal(s.alerts[0]?.kind, 'EMPTY_ROLLBACK');
      assert.equal(s.alerts[0]?.xid, xid);
      assert.equal(s.alerts[0]?.branchId, branchId);
      // Repeated: idempotent, and no second empty-rollback alert.
      assert.equal(
        await s.fence.rollback(xid, branchId, s.actionName, s.cancelBody({ account: acct, amount: 5 })),
        true,
      );
      assert.equal(s.calls.cancel, 0);
      assert.equal(s.alerts.length, 1);
    });

    it('try after its cancel (hanging): refused with FENCE_TRY_REFUSED, business code not run', async (t) => {
      const s = await setup(t, 'hanging');
      const acct = await account();
      const args = { account: acct, amount: 5 };
      const xid = `127.0.0.1:8091:${Date.now()}${n}`;
      const branchId = 42n;
      assert.equal(await s.fence.rollback(xid, branchId, s.actionName, s.cancelBody(args)), true);
      await assert.rejects(
        s.fence.prepare(xid, branchId, s.actionName, s.tryBody(args)),
        (err: unknown) =>
          err instanceof FenceError &&
          err.code === 'FENCE_TRY_REFUSED' &&
          err.xid === xid &&
          err.branchId === branchId,
      );
      assert.deepEqual(s.calls, { try: 0, confirm: 0, cancel: 0 });
      assert.deepEqual(await quota(acct), { available: 100, frozen: 0, used: 0 });
      assert.deepEqual(await fenceRows(xid), [
        { branchId: '42', status: FenceStatus.SUSPENDED, actionName: s.actionName },
      ]);
      assert.deepEqual(
        s.alerts.map((a) => a.kind),
        ['EMPTY_ROLLBACK', 'TRY_REFUSED'],
      );
    });

    it('a repeated try of the same branch is refused and its business code runs once', async (t) => {
      const s = await setup(t, 'repeat-try');
      const acct = await account();
      const args = { account: acct, amount: 5 };
      const xid = `127.0.0.1:8091:${Date.now()}${n}`;
      await s.fence.prepare(xid, 7n, s.actionName, s.tryBody(args));
      await assert.rejects(s.fence.prepare(xid, 7n, s.actionName, s.tryBody(args)), {
        code: 'FENCE_TRY_REFUSED',
      });
      assert.equal(s.calls.try, 1);
      assert.deepEqual(await quota(acct), { available: 95, frozen: 5, used: 0 });
      assert.equal((await fenceRows(xid))[0]?.status, FenceStatus.TRIED);
    });

    it('confirm and cancel racing for one branch: exactly one wins, the DB shows only its effect', async (t) => {
      const s = await setup(t, 'race');
      for (let round = 0; round < 6; round++) {
        const acct = await account();
        const args = { account: acct, amount: 10 };
        const xid = `127.0.0.1:8091:${Date.now()}${round}`;
        const branchId = BigInt(round + 1);
        await s.fence.prepare(xid, branchId, s.actionName, s.tryBody(args));
        const before = { ...s.calls };
        // Both bodies hold the row lock for a while, so the other call really waits on it.
        const commit = () => s.fence.commit(xid, branchId, s.actionName, s.confirmBody(args, 50));
        const rollback = () => s.fence.rollback(xid, branchId, s.actionName, s.cancelBody(args, 50));
        const [c, r] =
          round % 2 === 0
            ? await within(Promise.all([commit(), rollback()]), 'the race')
            : await within(
                Promise.all([rollback(), commit()]).then(([x, y]) => [y, x] as const),
                'the race',
              );
        assert.notEqual(c, r, `round ${round}: exactly one of commit (${c}) and rollback (${r}) wins`);
        const confirmRan = s.calls.confirm - before.confirm;
        const cancelRan = s.calls.cancel - before.cancel;
        const rows = await fenceRows(xid);
        if (c) {
          assert.deepEqual([confirmRan, cancelRan], [1, 0]);
          assert.deepEqual(await quota(acct), { available: 90, frozen: 0, used: 10 });
          assert.equal(rows[0]?.status, FenceStatus.COMMITTED);
        } else {
          assert.deepEqual([confirmRan, cancelRan], [0, 1]);
          assert.deepEqual(await quota(acct), { available: 100, frozen: 0, used: 0 });
          assert.equal(rows[0]?.status, FenceStatus.ROLLBACKED);
        }
      }
      assert.ok(
        s.alerts.every((a) => a.kind === 'LOST_RACE'),
        s.alerts.map((a) => a.kind).join(),
      );
      assert.equal(s.alerts.length, 6, 'each loser raises one LOST_RACE alert');
    });

    it('confirm without try (empty commit): FENCE_EMPTY_COMMIT and an alert, nothing written', async (t) => {
      const s = await setup(t, 'empty-commit');
      const acct = await account();
      const xid = `127.0.0.1:8091:${Date.now()}${n}`;
      await assert.rejects(
        s.fence.commit(xid, 5n, s.actionName, s.confirmBody({ account: acct, amount: 5 })),
        (err: unknown) =>
          err instanceof FenceError && err.code === 'FENCE_EMPTY_COMMIT' && err.branchId === 5n,
      );
      assert.equal(s.calls.confirm, 0);
      assert.deepEqual(await fenceRows(xid), []);
      assert.deepEqual(await quota(acct), { available: 100, frozen: 0, used: 0 });
      assert.deepEqual(
        s.alerts.map((a) => [a.kind, a.xid]),
        [['EMPTY_COMMIT', xid]],
      );
    });

    it('empty commit through the TC: never reported as committed; the branch stays in retry until its try exists', async (t) => {
      const s = await setup(t, 'empty-commit-tc');
      const acct = await account();
      const args = { account: acct, amount: 15 };
      const tx = new GlobalTransaction(s.client);
      const xid = await tx.begin(30_000, 'empty-commit');
      // A branch registered as the fenced action would, but whose try never ran here.
      const reg = await s.client.rmRequest(
        {
          typeCode: TypeCode.BRANCH_REGISTER,
          xid,
          branchType: BranchType.TCC,
          resourceId: s.actionName,
          lockKey: null,
          applicationData: JSON.stringify({ actionContext: { ...args, useTCCFence: true } }),
        },
        xid,
      );
      assert.ok(reg.typeCode === TypeCode.BRANCH_REGISTER_RESULT && reg.resultCode === ResultCode.Success);
      const branchId = reg.branchId;
      const status = await within(tx.commit(), 'the commit');
      assert.notEqual(status, S.Committed, `the TC answered ${statusText(status)}`);
      assert.equal(status, S.CommitRetrying);
      await until(
        () => s.alerts.filter((a) => a.kind === 'EMPTY_COMMIT').length >= 3,
        'the TC to retry the commit',
      );
      assert.equal(await tx.getStatus(), S.CommitRetrying);
      const held = s.tc.server.coordinator.sessions.get(xid);
      assert.equal(held?.branches[0]?.status !== BranchStatus.PhaseTwo_Committed, true);
      assert.equal(s.calls.confirm, 0);
      assert.deepEqual(await fenceRows(xid), []);
      assert.deepEqual(await quota(acct), { available: 100, frozen: 0, used: 0 });
      assert.ok(
        s.logger.records.some((r) => r.level === 'error' && r.msg === 'phase two failed'),
        'the RM logs the refused phase two',
      );

      // The try turns up after all: the next retry confirms it, once.
      await s.fence.prepare(xid, branchId, s.actionName, s.tryBody(args));
      await until(async () => (await tx.getStatus()) === S.Finished, 'the TC to finish the commit');
      assert.equal(s.calls.confirm, 1);
      assert.deepEqual(await quota(acct), { available: 85, frozen: 0, used: 15 });
      assert.equal((await fenceRows(xid))[0]?.status, FenceStatus.COMMITTED);
    });

    it('cleanup() deletes finished rows older than the period and keeps TRIED and recent rows', async (t) => {
      const xid = `127.0.0.1:8091:cleanup${Date.now()}`;
      const insert = (branch: number, status: number, ago: number) =>
        b.query(
          `INSERT INTO tcc_fence_log (xid, branch_id, action_name, status, gmt_create, gmt_modified) VALUES (?, ?, 'cleanup', ?, ${b.hoursAgo(ago)}, ${b.hoursAgo(ago)})`,
          [xid, branch, status],
        );
      await insert(1, FenceStatus.COMMITTED, 2);
      await insert(2, FenceStatus.ROLLBACKED, 2);
      await insert(3, FenceStatus.SUSPENDED, 2);
      await insert(4, FenceStatus.TRIED, 2);
      await insert(5, FenceStatus.COMMITTED, 0);
      await insert(6, FenceStatus.SUSPENDED, 0);
      const fence = new TccFence(b.db, { cleanIntervalMs: 0, cleanPeriodMs: 3_600_000 });
      t.after(() => fence.close());
      const deleted = await fence.cleanup();
      assert.ok(deleted >= 3, `deleted ${deleted}`);
      assert.deepEqual(
        (await fenceRows(xid)).map((r) => [r.branchId, r.status]),
        [
          ['4', FenceStatus.TRIED],
          ['5', FenceStatus.COMMITTED],
          ['6', FenceStatus.SUSPENDED],
        ],
      );
    });

    it('cleanup() measures age on the database clock, whatever the session time zone', async (t) => {
      const fence = new TccFence(b.skewedDb, { cleanIntervalMs: 0, cleanPeriodMs: 3_600_000 });
      t.after(() => fence.close());
      const xid = `127.0.0.1:8091:skew${Date.now()}`;
      // Written by the fence itself through a session whose clock reads UTC-12: an empty
      // rollback (a SUSPENDED row that must keep blocking a late try) and a finished branch.
      assert.equal(await fence.rollback(xid, 1n, 'skew', async () => true), true);
      await fence.prepare(xid, 2n, 'skew', async () => {});
      assert.equal(await fence.commit(xid, 2n, 'skew', async () => true), true);
      await b.skewedDb.run(
        `INSERT INTO tcc_fence_log (xid, branch_id, action_name, status, gmt_create, gmt_modified) VALUES (${b.db.dialect === 'postgres' ? '$1, 3' : '?, 3'}, 'skew', 2, ${b.hoursAgo(2)}, ${b.hoursAgo(2)})`,
        [xid],
      );
      await fence.cleanup();
      assert.deepEqual(
        (await fenceRows(xid)).map((r) => [r.branchId, r.status]),
        [
          ['1', FenceStatus.SUSPENDED],
          ['2', FenceStatus.COMMITTED],
        ],
        'fresh rows stay, the two-hour-old one goes',
      );
    });

    it('an action called outside a global transaction runs try alone, on a fence transaction, with a warning', async (t) => {
      const s = await setup(t, 'no-tx');
      const acct = await account();
      const before = await b.query('SELECT COUNT(*) AS n FROM tcc_fence_log');
      await s.freeze({ account: acct, amount: 10 });
      assert.deepEqual(s.calls, { try: 1, confirm: 0, cancel: 0 });
      assert.deepEqual(await quota(acct), { available: 90, frozen: 10, used: 0 });
      const afterRows = await b.query('SELECT COUNT(*) AS n FROM tcc_fence_log');
      assert.equal(Number(afterRows[0]?.n), Number(before[0]?.n), 'no fence row without a branch');
      const warning = s.logger.records.find(
        (r) => r.level === 'warn' && /outside a global transaction/.test(r.msg),
      );
      assert.ok(warning, 'a warning names the situation');
      assert.equal(warning.obj.action, s.actionName);
      // A try that fails outside a transaction rolls its own local transaction back.
      await assert.rejects(s.freeze({ account: acct, amount: 1000 }), /insufficient quota/);
      assert.deepEqual(await quota(acct), { available: 90, frozen: 10, used: 0 });
    });
  });
}
