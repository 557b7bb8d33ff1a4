/**
 * A fenced TCC participant (freeze quota, PostgreSQL) talking to a real `dtx server` child
 * process THROUGH a FaultProxy, while the initiator talks to the TC directly, as two services
 * would. Network and timing faults push the protocol off its normal path:
 *
 * - the TC's cancel arrives before the try (the global transaction times out while the try is
 *   held): an empty rollback, then the late try is refused; hanging prevented.
 * - the connection is cut after the RM received BranchCommit, before its answer reached the TC:
 *   the TC delivers the commit again and the confirm is applied once.
 * - the participant is restarted between its try and the confirm: the TC's retry reaches the
 *   new DtxClient of the same application, which confirms once.
 *
 * After each, the participant's database (quota and fence rows) is checked.
 */
import assert from 'node:assert/strict';
import { randomBytes } from 'node:crypto';
import diagnostics from 'node:diagnostics_channel';
import { after, before, describe, it, type TestContext } from 'node:test';
import { Channels, FenceError } from '@dtx/core';
import { FaultProxy } from '@dtx/testing';
import type pg from 'pg';
import {
  type DtxClient,
  defineTccAction,
  type FenceAlert,
  type FenceDatabase,
  FenceStatus,
  getXid,
  pgFenceDatabase,
  TccFence,
} from '../src/index.js';
import {
  gate,
  HOST,
  type PgScratch,
  pgScratch,
  spawnTc,
  startClient,
  type TcProcess,
  unavailable,
  until,
  within,
} from './helpers.js';

const scratch = await pgScratch();
after(async () => {
  if (typeof scratch !== 'string') await scratch.drop();
});

interface FreezeArgs {
  account: string;
  amount: number;
}

/** Phase-two runs the RM reported on the diagnostics channel, by XID. */
const phaseTwo: Array<{ xid: string; commit: boolean; ok: boolean }> = [];
const onPhaseTwo = (m: unknown) => phaseTwo.push(m as { xid: string; commit: boolean; ok: boolean });
diagnostics.subscribe(Channels.RM_PHASE_TWO, onPhaseTwo);
after(() => diagnostics.unsubscribe(Channels.RM_PHASE_TWO, onPhaseTwo));

/** A fence database whose first transaction (the try's) waits for `held` before it begins. */
function holdFirstTransaction(
  db: FenceDatabase<pg.PoolClient>,
  held: Promise<void>,
): FenceDatabase<pg.PoolClient> {
  let first = true;
  return {
    dialect: db.dialect,
    run: db.run,
    isDuplicateKey: db.isDuplicateKey,
    async transaction(fn) {
      if (first) {
        first = false;
        await held;
      }
      return db.transaction(fn);
    },
  };
}

describe('a participant behind a FaultProxy, a real dtx server', {
  skip: typeof scratch === 'string' ? unavailable(scratch) : false,
}, () => {
  let s: PgScratch;
  before(async () => {
    s = scratch as PgScratch;
    await s.pool.query(
      'CREATE TABLE quota (id VARCHAR(64) PRIMARY KEY, available INT NOT NULL, frozen INT NOT NULL, used INT NOT NULL)',
    );
    await new TccFence(pgFenceDatabase(s.pool), { cleanIntervalMs: 0 }).ensureTable();
  });

  async function account(): Promise<string> {
    const id = `acct-${randomBytes(4).toString('hex')}`;
    await s.pool.query('INSERT INTO quota VALUES ($1, 100, 0, 0)', [id]);
    return id;
  }

  async function quota(id: string) {
    const { rows } = await s.pool.query('SELECT available, frozen, used FROM quota WHERE id = $1', [id]);
    return rows[0] as { available: number; frozen: number; used: number };
  }

  async function fenceStatuses(xid: string): Promise<number[]> {
    const { rows } = await s.pool.query<{ status: number }>(
      'SELECT status FROM tcc_fence_log WHERE xid = $1 ORDER BY branch_id',
      [xid],
    );
    return rows.map((r) => r.status);
  }

  /** A quota participant: a DtxClient at `address` with the fenced freeze-quota action. */
  async function participant(
    t: TestContext,
    address: string,
    applicationId: string,
    options: { db?: FenceDatabase<pg.PoolClient>; onConfirm?: () => void } = {},
  ) {
    const fence = new TccFence(options.db ?? pgFenceDatabase<pg.PoolClient>(s.pool), { cleanIntervalMs: 0 });
    t.after(() => fence.close());
    const alerts: FenceAlert[] = [];
    fence.on('alert', (a) => alerts.push(a));
    const calls = { try: 0, confirm: 0, cancel: 0 };
    let freeze!: (args: FreezeArgs) => Promise<void>;
    const client: DtxClient = await startClient(
      t,
      address,
      { applicationId, rmRequestTimeoutMs: 3000, tmRequestTimeoutMs: 3000 },
      (c) => {
        freeze = defineTccAction<FreezeArgs, void, pg.PoolClient>(c, {
          name: 'freeze-quota',
          fence,
          async try(ctx) {
            calls.try++;
            const r = await ctx.tx.query(
              'UPDATE quota SET available = available - $2, frozen = frozen + $2 WHERE id = $1 AND available >= $2',
              [ctx.args.account, ctx.args.amount],
            );
            if (r.rowCount !== 1) throw new Error('insufficient quota');
          },
          async confirm(ctx) {
            calls.confirm++;
            await ctx.tx.query('UPDATE quota SET frozen = frozen - $2, used = used + $2 WHERE id = $1', [
              ctx.actionContext.account,
              ctx.actionContext.amount,
            ]);
            options.onConfirm?.();
            return true;
          },
          async cancel(ctx) {
            calls.cancel++;
            await ctx.tx.query(
              'UPDATE quota SET frozen = frozen - $2, available = available + $2 WHERE id = $1',
              [ctx.actionContext.account, ctx.actionContext.amount],
            );
            return true;
          },
        });
      },
    );
    return { client, freeze, calls, alerts };
  }

  /** The TC, a proxy in front of it for the participant, and a directly connected initiator. */
  async function world(
    t: TestContext,
    name: string,
  ): Promise<{ tc: TcProcess; proxy: FaultProxy; initiator: DtxClient }> {
    const tc = await spawnTc(t);
    const proxy = await FaultProxy.start({ target: { host: HOST, port: tc.port } });
    t.after(() => proxy.close());
    const initiator = await startClient(t, tc.address, { applicationId: `initiator-${name}` });
    return { tc, proxy, initiator };
  }

  const gone = (tc: TcProcess, xid: string) =>
    until(async () => (await tc.transaction(xid)) === null, `the TC to finish ${xid}`);

  it('cancel before try: an empty rollback, then the late try is refused (no hanging)', async (t) => {
    const { tc, proxy, initiator } = await world(t, 'hanging');
    const hold = gate();
    const p = await participant(t, proxy.address, 'quota-hanging', {
      db: holdFirstTransaction(pgFenceDatabase(s.pool), hold.promise),
    });
    const acct = await account();
    let xid = '';
    const outcome = initiator
      .globalTransaction(
        async () => {
          xid = getXid() as string;
          await p.freeze({ account: acct, amount: 10 });
        },
        { timeout: 2000 },
      )
      .then(
        () => 'committed',
        (err: unknown) => err,
      );
    // The branch is registered and its try is held; the TC times the transaction out and its
    // cancel reaches the participant first.
    await until(
      () => p.alerts.some((a) => a.kind === 'EMPTY_ROLLBACK'),
      'the TC cancel to arrive before the try',
    );
    assert.deepEqual(await fenceStatuses(xid), [FenceStatus.SUSPENDED]);
    hold.open();
    const err = await within(outcome, 'the global transaction to settle');
    assert.ok(
      err instanceof FenceError && err.code === 'FENCE_TRY_REFUSED',
      `the try is refused, got ${String(err)}`,
    );
    assert.deepEqual(p.calls, { try: 0, confirm: 0, cancel: 0 }, 'neither the try nor the cancel body ran');
    assert.deepEqual(await quota(acct), { available: 100, frozen: 0, used: 0 });
    assert.deepEqual(await fenceStatuses(xid), [FenceStatus.SUSPENDED]);
    assert.deepEqual(
      p.alerts.map((a) => a.kind),
      ['EMPTY_ROLLBACK', 'TRY_REFUSED'],
    );
    await gone(tc, xid);
  });

  it('phase two repeated: the answer to BranchCommit is lost, the TC retries, confirm applies once', async (t) => {
    const { tc, proxy, initiator } = await world(t, 'repeat');
    let cut = false;
    const p = await participant(t, proxy.address, 'quota-repeat', {
      // The RM has received BranchCommit: hold everything it sends from now on.
      onConfirm: () => {
        if (!cut) proxy.hang('upstream');
      },
    });
    const acct = await account();
    let xid = '';
    const committed = initiator.globalTransaction(async () => {
      xid = getXid() as string;
      await p.freeze({ account: acct, amount: 10 });
    });
    // The confirm committed locally; its answer sits in the proxy. Cut the connection.
    await until(async () => (await fenceStatuses(xid))[0] === FenceStatus.COMMITTED, 'the confirm to commit');
    cut = true;
    proxy.resetAll();
    proxy.resume('upstream');
    await within(committed, 'the initiator commit');
    await gone(tc, xid);
    const deliveries = phaseTwo.filter((e) => e.xid === xid && e.commit);
    assert.ok(deliveries.length >= 2, `BranchCommit delivered ${deliveries.length} times`);
    assert.ok(deliveries.every((e) => e.ok));
    assert.deepEqual(p.calls, { try: 1, confirm: 1, cancel: 0 }, 'the confirm body ran once');
    assert.deepEqual(await quota(acct), { available: 90, frozen: 0, used: 10 });
    assert.deepEqual(await fenceStatuses(xid), [FenceStatus.COMMITTED]);
  });

  it('participant restarted between try and confirm: the new DtxClient confirms, once', async (t) => {
    const { tc, proxy, initiator } = await world(t, 'restart');
    const first = await participant(t, proxy.address, 'quota-restart');
    const acct = await account();
    let xid = '';
    const committed = initiator
      .globalTransaction(async () => {
        xid = getXid() as string;
        await first.freeze({ account: acct, amount: 10 });
        // From here the TC's BranchCommit to this participant is held in the proxy.
        proxy.hang('downstream');
      })
      .then(
        () => 'committed',
        (err: unknown) => err,
      );
    await until(async () => {
      const tx = await tc.transaction(xid);
      return tx?.status === 'Committing' || tx?.status === 'CommitRetrying';
    }, 'the TC to decide the commit');
    assert.deepEqual(await quota(acct), { available: 90, frozen: 10, used: 0 }, 'tried, not confirmed');

    // The participant goes away with the BranchCommit undelivered.
    await within(first.client.close(), 'the first participant to close');
    proxy.resume('downstream');
    assert.equal(await within(committed, 'the initiator commit'), 'committed');
    assert.deepEqual(await fenceStatuses(xid), [FenceStatus.TRIED]);

    // The same application starts again, with the same action definitions.
    const second = await participant(t, proxy.address, 'quota-restart');
    await gone(tc, xid);
    assert.deepEqual(first.calls, { try: 1, confirm: 0, cancel: 0 });
    assert.deepEqual(second.calls, { try: 0, confirm: 1, cancel: 0 });
    assert.deepEqual(await quota(acct), { available: 90, frozen: 0, used: 10 });
    assert.deepEqual(await fenceStatuses(xid), [FenceStatus.COMMITTED]);
  });
});
