/**
 * The decorator form of a TCC action: a class whose try method carries
 * @TwoPhaseBusinessAction({ name, commitMethod, rollbackMethod }) (a TC39 method decorator, as
 * tsx compiles it), driven end to end through an in-process TC: in memory, and with the fence
 * on PostgreSQL where the business SQL runs on the fence's transaction.
 */
import assert from 'node:assert/strict';
import { after, describe, it } from 'node:test';
import type pg from 'pg';
import {
  FenceStatus,
  getXid,
  type PhaseTwoContext,
  pgFenceDatabase,
  TccFence,
  type TryContext,
  TwoPhaseBusinessAction,
} from '../src/index.js';
import { type PgScratch, pgScratch, startClient, startTc, unavailable, until } from './helpers.js';

interface Freeze {
  loanId: string;
  amount: number;
}

/** The decorated method takes the try context; callers pass the arguments (the decorator's doing). */
type Callable<A> = (args: A) => Promise<unknown>;

const scratch = await pgScratch();
after(async () => {
  if (typeof scratch !== 'string') await scratch.drop();
});

describe('@TwoPhaseBusinessAction', () => {
  it('turns a class into a TCC participant: try, then the named confirm or cancel method', async (t) => {
    const tc = await startTc(t);
    const client = await startClient(t, tc.address, { applicationId: 'decorator-app' });
    const log: string[] = [];

    class VoucherService {
      readonly prefix = 'voucher';

      @TwoPhaseBusinessAction({
        name: 'freeze-voucher',
        commitMethod: 'confirmFreeze',
        rollbackMethod: 'cancelFreeze',
        client,
      })
      async freeze(ctx: TryContext<Freeze, unknown>): Promise<string> {
        log.push(`try ${ctx.args.loanId} ${ctx.xid === getXid()}`);
        ctx.actionContext.reserved = `${this.prefix}-${ctx.args.loanId}`;
        return `frozen ${ctx.args.amount}`;
      }

      async confirmFreeze(ctx: PhaseTwoContext<unknown>): Promise<boolean> {
        log.push(`confirm ${ctx.actionContext.loanId} ${ctx.actionContext.reserved} ${this.prefix}`);
        return true;
      }

      async cancelFreeze(ctx: PhaseTwoContext<unknown>): Promise<boolean> {
        log.push(`cancel ${ctx.actionContext.loanId} ${ctx.actionContext.reserved}`);
        return true;
      }
    }

    const service = new VoucherService();
    const freeze = service.freeze.bind(service) as unknown as Callable<Freeze>;
    const out = await client.globalTransaction(() => freeze({ loanId: 'L1', amount: 3 }));
    assert.equal(out, 'frozen 3');
    await assert.rejects(
      client.globalTransaction(async () => {
        await freeze({ loanId: 'L2', amount: 4 });
        throw new Error('loan refused');
      }),
      /loan refused/,
    );
    assert.deepEqual(log, [
      'try L1 true',
      'confirm L1 voucher-L1 voucher',
      'try L2 true',
      'cancel L2 voucher-L2',
    ]);
    assert.ok(
      tc.server.coordinator.channels.all().some((c) => c.rm && c.resourceIds.has('freeze-voucher')),
      'the RM registered the decorated action',
    );
  });

  it('names the missing method when commitMethod does not exist', async (t) => {
    const tc = await startTc(t);
    const client = await startClient(t, tc.address, { applicationId: 'decorator-bad' });
    class Broken {
      @TwoPhaseBusinessAction({ name: 'broken', commitMethod: 'nope', client })
      async run(): Promise<void> {}
      async rollback(): Promise<boolean> {
        return true;
      }
    }
    assert.throws(() => new Broken(), /needs nope and rollback methods/);
  });

  it('with a fence on PostgreSQL: business SQL on the fence transaction, confirm once', {
    skip: typeof scratch === 'string' ? unavailable(scratch) : false,
  }, async (t) => {
    const s = scratch as PgScratch;
    await s.pool.query('CREATE TABLE voucher (id VARCHAR(32) PRIMARY KEY, state VARCHAR(16) NOT NULL)');
    await s.pool.query(`INSERT INTO voucher VALUES ('V1', 'free'), ('V2', 'free')`);
    const fence = new TccFence(pgFenceDatabase(s.pool), { cleanIntervalMs: 0 });
    t.after(() => fence.close());
    await fence.ensureTable();
    const tc = await startTc(t);
    const client = await startClient(t, tc.address, { applicationId: 'decorator-pg' });
    const calls = { confirm: 0, cancel: 0 };

    class Vouchers {
      @TwoPhaseBusinessAction({
        name: 'freeze-voucher-pg',
        commitMethod: 'use',
        rollbackMethod: 'release',
        client,
        fence: fence as TccFence<unknown>,
      })
      async freeze(ctx: TryContext<{ voucher: string }, pg.PoolClient>): Promise<void> {
        const r = await ctx.tx.query(`UPDATE voucher SET state = 'frozen' WHERE id = $1 AND state = 'free'`, [
          ctx.args.voucher,
        ]);
        if (r.rowCount !== 1) throw new Error(`voucher ${ctx.args.voucher} is not free`);
      }
      async use(ctx: PhaseTwoContext<pg.PoolClient>): Promise<boolean> {
        calls.confirm++;
        await ctx.tx.query(`UPDATE voucher SET state = 'used' WHERE id = $1`, [ctx.actionContext.voucher]);
        return true;
      }
      async release(ctx: PhaseTwoContext<pg.PoolClient>): Promise<boolean> {
        calls.cancel++;
        await ctx.tx.query(`UPDATE voucher SET state = 'free' WHERE id = $1`, [ctx.actionContext.voucher]);
        return true;
      }
    }
    const vouchers = new Vouchers();
    const freeze = vouchers.freeze.bind(vouchers) as unknown as Callable<{ voucher: string }>;
    let committed = '';
    await client.globalTransaction(async () => {
      committed = getXid() as string;
      await freeze({ voucher: 'V1' });
    });
    let rolledBack = '';
    await assert.rejects(
      client.globalTransaction(async () => {
        rolledBack = getXid() as string;
        await freeze({ voucher: 'V2' });
        throw new Error('no');
      }),
    );
    const state = async () =>
      Object.fromEntries(
        (
          await s.pool.query<{ id: string; state: string }>('SELECT id, state FROM voucher ORDER BY id')
        ).rows.map((r) => [r.id, r.state]),
      );
    const fenceStatus = async (xid: string) =>
      (
        await s.pool.query<{ status: number }>('SELECT status FROM tcc_fence_log WHERE xid = $1', [xid])
      ).rows.map((r) => r.status);
    await until(async () => (await fenceStatus(rolledBack))[0] === FenceStatus.ROLLBACKED, 'the rollback');
    assert.deepEqual(await state(), { V1: 'used', V2: 'free' });
    assert.deepEqual(await fenceStatus(committed), [FenceStatus.COMMITTED]);
    assert.deepEqual(calls, { confirm: 1, cancel: 1 });
  });
});
