/**
 * The TM through an in-process TC: globalTransaction's commit and rollback, Seata's six
 * propagation modes, the hooks and their order, a transaction the TC times out, the low-level
 * GlobalTransaction and GlobalReport. Participants are in-memory TCC actions that count their
 * calls (the database participants are in the local-transaction and fence suites).
 */
import assert from 'node:assert/strict';
import { describe, it, type TestContext } from 'node:test';
import { TransactionError } from '@dtx/core';
import { GlobalStatus } from '@dtx/protocol';
import {
  type DtxClient,
  defineTccAction,
  GlobalReport,
  GlobalTransaction,
  getXid,
  Propagation,
  registerTransactionHooks,
  runWithXid,
  type TransactionHooks,
} from '../src/index.js';
import { sleep, startClient, startTc, statusText, type TestTc, until, within } from './helpers.js';

const S = GlobalStatus;

/** A TCC action that records which XIDs its try, confirm and cancel saw. */
function recordingAction(client: DtxClient, name: string) {
  const seen = { try: [] as string[], confirm: [] as string[], cancel: [] as string[] };
  const action = defineTccAction<{ n: number }, number>(client, {
    name,
    try: (ctx) => {
      seen.try.push(ctx.xid as string);
      return ctx.args.n;
    },
    confirm: (ctx) => {
      seen.confirm.push(ctx.xid);
      return true;
    },
    cancel: (ctx) => {
      seen.cancel.push(ctx.xid);
      return true;
    },
  });
  return { action, seen };
}

async function setup(
  t: TestContext,
  name: string,
): Promise<{ tc: TestTc; client: DtxClient } & ReturnType<typeof recordingAction>> {
  const tc = await startTc(t);
  const client = await startClient(t, tc.address, { applicationId: `tm-${name}` });
  return { tc, client, ...recordingAction(client, `${name}-action`) };
}

/** What the TC says about `xid` now. */
function statusOf(client: DtxClient, xid: string): Promise<number> {
  const tx = new GlobalTransaction(client);
  tx.xid = xid;
  return tx.getStatus();
}

describe('globalTransaction', () => {
  it('commits when fn returns: its value comes back, every branch is confirmed, the TC has finished it', async (t) => {
    const { tc, client, action, seen } = await setup(t, 'commit');
    let xid = '';
    const out = await client.globalTransaction(
      async () => {
        xid = getXid() as string;
        return (await action({ n: 1 })) + (await action({ n: 2 }));
      },
      { name: 'commit-path' },
    );
    assert.equal(out, 3);
    assert.match(xid, /^127\.0\.0\.1:\d+:\d+$/);
    assert.deepEqual(seen, { try: [xid, xid], confirm: [xid, xid], cancel: [] });
    assert.equal(getXid(), null, 'no XID bound after the transaction');
    assert.equal(await statusOf(client, xid), S.Finished);
    assert.equal(tc.server.coordinator.sessions.size, 0);
  });

  it('rolls back when fn throws and rethrows the original error', async (t) => {
    const { client, action, seen } = await setup(t, 'rollback');
    const boom = new Error('business failure');
    let xid = '';
    await assert.rejects(
      client.globalTransaction(async () => {
        xid = getXid() as string;
        await action({ n: 1 });
        throw boom;
      }),
      (err: unknown) => err === boom,
    );
    assert.deepEqual(seen, { try: [xid], confirm: [], cancel: [xid] });
    assert.equal(await statusOf(client, xid), S.Finished);
  });

  it('a synchronous fn works and a synchronous throw also rolls back', async (t) => {
    const { client } = await setup(t, 'sync');
    assert.equal(await client.globalTransaction(() => 42), 42);
    await assert.rejects(
      client.globalTransaction(() => {
        throw new RangeError('sync');
      }),
      RangeError,
    );
  });

  it('a try that fails fails the transaction, which rolls the other branches back', async (t) => {
    const { client, action, seen } = await setup(t, 'try-fails');
    const failing = defineTccAction<null, void>(client, {
      name: 'try-fails-second',
      try: () => {
        throw new Error('no quota');
      },
      confirm: () => true,
      cancel: () => true,
    });
    let xid = '';
    await assert.rejects(
      client.globalTransaction(async () => {
        xid = getXid() as string;
        await action({ n: 1 });
        await failing(null);
      }),
      /no quota/,
    );
    assert.deepEqual(seen, { try: [xid], confirm: [], cancel: [xid] });
  });
});

describe('propagation', () => {
  it('REQUIRED (the default) joins the current transaction: one XID, one begin, one commit', async (t) => {
    const { client, action, seen } = await setup(t, 'required');
    const events: string[] = [];
    const hooks: TransactionHooks = {
      afterBegin: (xid) => {
        events.push(`begin ${xid}`);
      },
      afterCommit: (xid) => {
        events.push(`commit ${xid}`);
      },
    };
    let outer = '';
    let inner: string | null = null;
    await client.globalTransaction(
      async () => {
        outer = getXid() as string;
        await client.globalTransaction(
          async () => {
            inner = getXid();
            await action({ n: 1 });
          },
          { hooks, propagation: Propagation.REQUIRED },
        );
        await action({ n: 2 });
      },
      { hooks },
    );
    assert.equal(inner, outer);
    assert.deepEqual(events, [`begin ${outer}`, `commit ${outer}`]);
    assert.deepEqual(seen.confirm, [outer, outer]);
  });

  it('REQUIRED joins and an inner throw rolls back the outer transaction once it propagates', async (t) => {
    const { client, action, seen } = await setup(t, 'required-throw');
    let outer = '';
    await assert.rejects(
      client.globalTransaction(async () => {
        outer = getXid() as string;
        await action({ n: 1 });
        await client.globalTransaction(async () => {
          await action({ n: 2 });
          throw new Error('inner');
        });
      }),
      /inner/,
    );
    assert.deepEqual(seen.cancel, [outer, outer]);
    assert.deepEqual(seen.confirm, []);
  });

  it('REQUIRES_NEW suspends the outer transaction: the inner one has its own XID and ends first', async (t) => {
    const { client, action, seen } = await setup(t, 'requires-new');
    let outer = '';
    let inner = '';
    let resumed: string | null = null;
    let innerStatusBeforeOuterEnds = -1;
    await client.globalTransaction(async () => {
      outer = getXid() as string;
      await action({ n: 1 });
      await client.globalTransaction(
        async () => {
          inner = getXid() as string;
          await action({ n: 2 });
        },
        { propagation: Propagation.REQUIRES_NEW },
      );
      resumed = getXid();
      innerStatusBeforeOuterEnds = await statusOf(client, inner);
      await action({ n: 3 });
    });
    assert.notEqual(inner, outer);
    assert.equal(resumed, outer, 'the outer XID is bound again after the inner transaction');
    assert.equal(innerStatusBeforeOuterEnds, S.Finished, 'the inner transaction ended on its own');
    assert.deepEqual(seen.try, [outer, inner, outer]);
    assert.deepEqual(seen.confirm.sort(), [outer, outer, inner].sort());
  });

  it('REQUIRES_NEW: the inner rollback leaves the outer transaction free to commit', async (t) => {
    const { client, action, seen } = await setup(t, 'requires-new-rollback');
    let outer = '';
    let inner = '';
    await client.globalTransaction(async () => {
      outer = getXid() as string;
      await action({ n: 1 });
      await client
        .globalTransaction(
          async () => {
            inner = getXid() as string;
            await action({ n: 2 });
            throw new Error('inner fails');
          },
          { propagation: Propagation.REQUIRES_NEW },
        )
        .catch(() => {});
      assert.equal(getXid(), outer);
    });
    assert.deepEqual(seen.cancel, [inner]);
    assert.deepEqual(seen.confirm, [outer]);
  });

  it('NOT_SUPPORTED runs without a transaction and resumes the outer one after', async (t) => {
    const { client, action, seen } = await setup(t, 'not-supported');
    let outer = '';
    let inside: string | null = 'unset';
    await client.globalTransaction(async () => {
      outer = getXid() as string;
      await client.globalTransaction(
        async () => {
          await sleep(1);
          inside = getXid();
        },
        { propagation: Propagation.NOT_SUPPORTED },
      );
      assert.equal(getXid(), outer);
      await action({ n: 1 });
    });
    assert.equal(inside, null);
    assert.deepEqual(seen.confirm, [outer]);
  });

  it('SUPPORTS joins a transaction when there is one and runs without one otherwise', async (t) => {
    const { client } = await setup(t, 'supports');
    let began = 0;
    const hooks: TransactionHooks = {
      afterBegin: () => {
        began++;
      },
    };
    const alone = await client.globalTransaction(async () => getXid(), {
      propagation: Propagation.SUPPORTS,
      hooks,
    });
    assert.equal(alone, null);
    assert.equal(began, 0, 'SUPPORTS never begins a transaction');
    let outer = '';
    const joined = await client.globalTransaction(async () => {
      outer = getXid() as string;
      return client.globalTransaction(async () => getXid(), { propagation: Propagation.SUPPORTS });
    });
    assert.equal(joined, outer);
  });

  it('NEVER throws inside a transaction and runs without one outside', async (t) => {
    const { client } = await setup(t, 'never');
    let ran = false;
    await assert.rejects(
      client.globalTransaction(async () =>
        client.globalTransaction(
          async () => {
            ran = true;
          },
          { propagation: Propagation.NEVER },
        ),
      ),
      (err: unknown) => err instanceof TransactionError && /NEVER/.test(err.message),
    );
    assert.equal(ran, false, 'fn does not run under NEVER inside a transaction');
    assert.equal(
      await client.globalTransaction(async () => getXid(), { propagation: Propagation.NEVER }),
      null,
    );
  });

  it('MANDATORY throws outside a transaction and joins inside one', async (t) => {
    const { client } = await setup(t, 'mandatory');
    let ran = false;
    await assert.rejects(
      client.globalTransaction(
        async () => {
          ran = true;
        },
        { propagation: Propagation.MANDATORY },
      ),
      (err: unknown) => err instanceof TransactionError && err.code === 'GlobalTransactionNotExist',
    );
    assert.equal(ran, false);
    let outer = '';
    const joined = await client.globalTransaction(async () => {
      outer = getXid() as string;
      return client.globalTransaction(async () => getXid(), { propagation: Propagation.MANDATORY });
    });
    assert.equal(joined, outer);
  });
});

describe('hooks', () => {
  it('fire in order on commit and on rollback, process-wide hooks before the transaction own', async (t) => {
    const { client } = await setup(t, 'hooks');
    const events: string[] = [];
    const recorder = (who: string): TransactionHooks => ({
      beforeBegin: () => {
        events.push(`${who} beforeBegin`);
      },
      afterBegin: (xid) => {
        events.push(`${who} afterBegin ${xid === getXid() || xid.length > 0}`);
      },
      beforeCommit: async () => {
        await sleep(1); // async hooks are awaited in order
        events.push(`${who} beforeCommit`);
      },
      afterCommit: (_xid, status) => {
        events.push(`${who} afterCommit ${statusText(status)}`);
      },
      beforeRollback: () => {
        events.push(`${who} beforeRollback`);
      },
      afterRollback: (_xid, status) => {
        events.push(`${who} afterRollback ${statusText(status)}`);
      },
      afterCompletion: (_xid, status) => {
        events.push(`${who} afterCompletion ${statusText(status)}`);
      },
    });
    const unregister = registerTransactionHooks(recorder('global'));
    t.after(unregister);

    await client.globalTransaction(
      async () => {
        events.push('fn');
      },
      { hooks: recorder('own') },
    );
    assert.deepEqual(events, [
      'global beforeBegin',
      'own beforeBegin',
      'global afterBegin true',
      'own afterBegin true',
      'fn',
      'global beforeCommit',
      'own beforeCommit',
      'global afterCommit Committed',
      'own afterCommit Committed',
      'global afterCompletion Committed',
      'own afterCompletion Committed',
    ]);

    events.length = 0;
    await assert.rejects(
      client.globalTransaction(
        async () => {
          events.push('fn');
          throw new Error('x');
        },
        { hooks: recorder('own') },
      ),
    );
    assert.deepEqual(events, [
      'global beforeBegin',
      'own beforeBegin',
      'global afterBegin true',
      'own afterBegin true',
      'fn',
      'global beforeRollback',
      'own beforeRollback',
      'global afterRollback Rollbacked',
      'own afterRollback Rollbacked',
      'global afterCompletion Rollbacked',
      'own afterCompletion Rollbacked',
    ]);

    unregister();
    events.length = 0;
    await client.globalTransaction(async () => {}, { hooks: recorder('own') });
    assert.ok(
      events.every((e) => e.startsWith('own ')),
      `unregistered hooks stay silent: ${events.join(', ')}`,
    );
  });
});

describe('a transaction the TC times out', () => {
  it('is reported as rolled back, never committed, and its TCC branches are cancelled', async (t) => {
    const { tc, client, action, seen } = await setup(t, 'timeout');
    const completion: number[] = [];
    let committedHook = false;
    let xid = '';
    const err = await within(
      client
        .globalTransaction(
          async () => {
            xid = getXid() as string;
            await action({ n: 1 });
            await sleep(2500);
            return 'fn finished';
          },
          {
            timeout: 1000,
            hooks: {
              afterCommit: () => {
                committedHook = true;
              },
              afterCompletion: (_x, status) => {
                completion.push(status);
              },
            },
          },
        )
        .then(
          (value) => assert.fail(`a timed-out transaction resolved with ${String(value)}`),
          (e: unknown) => e,
        ),
      'the timed-out transaction to settle',
    );
    assert.ok(err instanceof TransactionError, `a TransactionError, got ${String(err)}`);
    const rolledBack = [S.TimeoutRollbacking, S.TimeoutRollbacked, S.TimeoutRollbackRetrying, S.Rollbacked];
    assert.ok(
      err.code === 'TransactionTimeout' ||
        (err.globalStatus !== undefined && (rolledBack as number[]).includes(err.globalStatus)),
      `code TransactionTimeout or a rolled-back status, got ${err.code} / ${err.globalStatus}: ${err.message}`,
    );
    assert.equal(committedHook, false, 'afterCommit must not fire');
    assert.equal(completion.length, 1);
    assert.ok(!([S.Committed, S.Committing, S.CommitRetrying] as number[]).includes(completion[0] as number));
    await until(() => seen.cancel.length === 1, 'the branch to be cancelled');
    assert.deepEqual(seen, { try: [xid], confirm: [], cancel: [xid] });
    await until(async () => (await statusOf(client, xid)) === S.Finished, 'the TC to finish the transaction');
    assert.equal(tc.server.coordinator.sessions.size, 0);
  });

  it('one the TC ended behind the TM (an operator forced it back) is not reported as committed', async (t) => {
    const { tc, client, action, seen } = await setup(t, 'forced-back');
    let xid = '';
    let committedHook = false;
    await assert.rejects(
      client.globalTransaction(
        async () => {
          xid = getXid() as string;
          await action({ n: 1 });
          assert.equal(await tc.server.coordinator.forceRollback(xid), S.Rollbacked);
        },
        {
          hooks: {
            afterCommit: () => {
              committedHook = true;
            },
          },
        },
      ),
      (err: unknown) =>
        err instanceof TransactionError &&
        err.code === 'GlobalTransactionNotExist' &&
        err.globalStatus === S.Finished,
    );
    assert.equal(committedHook, false);
    assert.deepEqual(seen, { try: [xid], confirm: [], cancel: [xid] });
  });

  it('a branch registered after the timeout is refused and its try does not run', async (t) => {
    const { client, action, seen } = await setup(t, 'late-branch');
    await assert.rejects(
      client.globalTransaction(
        async () => {
          await sleep(600);
          await action({ n: 1 });
        },
        { timeout: 200 },
      ),
      (err: unknown) => err instanceof TransactionError,
    );
    assert.deepEqual(seen, { try: [], confirm: [], cancel: [] });
  });
});

describe('GlobalTransaction (low level)', () => {
  it('begin, getStatus, commit: Begin, then Committed, then Finished', async (t) => {
    const { client, action, seen } = await setup(t, 'low-commit');
    const tx = new GlobalTransaction(client);
    assert.equal(tx.role, 'Launcher');
    const xid = await tx.begin(10_000, 'low-level');
    assert.equal(tx.xid, xid);
    assert.equal(await tx.getStatus(), S.Begin);
    // Bind the XID as an HTTP middleware would, then call the action.
    await runWithXid(xid, () => action({ n: 1 }));
    assert.equal(await tx.commit(), S.Committed);
    assert.equal(tx.status, S.Committed);
    assert.equal(await tx.getStatus(), S.Finished);
    assert.deepEqual(seen.confirm, [xid]);
    await assert.rejects(
      tx.begin(),
      (err: unknown) => err instanceof TransactionError && err.code === 'GlobalTransactionStatusInvalid',
    );
  });

  it('begin then rollback: Rollbacked, branches cancelled', async (t) => {
    const { client, action, seen } = await setup(t, 'low-rollback');
    const tx = new GlobalTransaction(client);
    const xid = await tx.begin(10_000);
    await runWithXid(xid, () => action({ n: 1 }));
    assert.equal(await tx.rollback(), S.Rollbacked);
    assert.deepEqual(seen.cancel, [xid]);
    assert.equal(await tx.getStatus(), S.Finished);
  });

  it('a Participant joined to an XID cannot end it: its commit and rollback are no-ops', async (t) => {
    const { client } = await setup(t, 'low-participant');
    const launcher = new GlobalTransaction(client);
    const xid = await launcher.begin(10_000);
    const joined = new GlobalTransaction(client, xid);
    assert.equal(joined.role, 'Participant');
    assert.equal(await joined.begin(), xid);
    assert.equal(await joined.commit(), S.Begin);
    assert.equal(await joined.rollback(), S.Begin);
    assert.equal(await launcher.getStatus(), S.Begin, 'still open on the TC');
    assert.equal(await launcher.rollback(), S.Rollbacked);
  });

  it('a transaction that was never begun refuses commit and getStatus', async (t) => {
    const { client } = await setup(t, 'low-unbegun');
    const tx = new GlobalTransaction(client);
    await assert.rejects(
      tx.commit(),
      (err: unknown) => err instanceof TransactionError && err.code === 'GlobalTransactionNotExist',
    );
    await assert.rejects(tx.getStatus(), TransactionError);
  });

  it('commit after the timeout returns a timeout-rollback status, never Committed', async (t) => {
    const { client, action, seen } = await setup(t, 'low-timeout');
    const tx = new GlobalTransaction(client);
    const xid = await tx.begin(1000);
    await runWithXid(xid, () => action({ n: 1 }));
    await sleep(1300);
    const status = await tx.commit();
    assert.ok(
      (
        [S.TimeoutRollbacking, S.TimeoutRollbacked, S.TimeoutRollbackRetrying, S.Finished] as number[]
      ).includes(status),
      `got ${statusText(status)}`,
    );
    assert.notEqual(status, S.Committed);
    await until(() => seen.cancel.length === 1, 'the cancel');
    assert.deepEqual(seen.confirm, []);
  });
});

describe('GlobalReport', () => {
  it('reports the outcome of a transaction the caller decided itself (saga style)', async (t) => {
    const { client } = await setup(t, 'report');
    const tx = new GlobalTransaction(client);
    const xid = await tx.begin(10_000, 'saga-like');
    const report = new GlobalReport(client);
    assert.equal(await report.report(xid, S.Committed), S.Committed);
    assert.equal(await tx.getStatus(), S.Finished);

    const other = new GlobalTransaction(client);
    const xid2 = await other.begin(10_000);
    assert.equal(await report.report(xid2, S.Rollbacked), S.Rollbacked);
    assert.equal(await other.getStatus(), S.Finished);

    assert.equal(
      await report.report('127.0.0.1:1:123', S.Committed),
      S.Finished,
      'an unknown XID reads as Finished',
    );
  });
});
