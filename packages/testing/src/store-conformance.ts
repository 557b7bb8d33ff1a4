/**
 * The session store conformance suite (STYLE rule 9; MQTT.js `test/node/abstract_store.ts`):
 * one set of node:test cases that every TransactionStore of @dtx/server must pass (file, MySQL,
 * PostgreSQL, Redis).
 *
 *   describeStoreConformance('FileStore', async () => {
 *     const dir = await mkdtemp(...);
 *     return { store: new FileStore({ dir }), reopen: async () => new FileStore({ dir }), cleanup: ... };
 *   });
 *
 * The store and its sessions are @dtx/server's own types (TransactionStore, StoreOp,
 * GlobalSession, BranchSession, LockManager); the expected state comes from the suite's own model
 * of the operations, not from the server's code.
 *
 * The suite keeps `active === (status === Begin)` in everything it writes: Seata's global_table
 * has no `active` column, so SQL stores derive it on load.
 */
import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { setTimeout as sleep, setImmediate as yieldTurn } from 'node:timers/promises';
import { BranchStatus, BranchType, GlobalStatus } from '@dtx/protocol';
import type { BranchSession, GlobalSession, LockManager, StoreOp, TransactionStore } from '@dtx/server';

/** What the factory hands each case: an empty store, not yet opened. */
export interface StoreFixture {
  /** A new store over empty storage; the suite calls open(). */
  store: TransactionStore;
  /** A new instance over the same storage, not yet opened (a restart, or another TC). */
  reopen: () => Promise<TransactionStore>;
  /** Closes every instance still open and removes the storage. Called once per case. */
  cleanup: () => Promise<void>;
  /**
   * acquireTaskLock excludes other owners until the lease expires (db and redis stores). False
   * for single-process stores, whose task lock always says yes. @default store.shared
   */
  sharedLocks?: boolean;
  /**
   * The store keeps a branch's lockKey and beginTime. False for stores in Seata's branch_table,
   * which has neither column: lockKey reads back null (the row locks live in lock_table) and
   * beginTime is the row's creation time. @default true
   */
  keepsBranchExtras?: boolean;
}

const S = GlobalStatus;
const B = BranchStatus;

/** How far a derived branch beginTime (the row's creation time) may be from the written one. */
const BEGIN_TIME_TOLERANCE_MS = 5 * 60_000;

/** Above 2^53: a store that passes ids through `number` fails every case. */
const ID_BASE = (1n << 62n) + 987_654_321n;

/** Ids and XIDs unique within a run. */
class Ids {
  private next = ID_BASE;
  id(): bigint {
    this.next += 7n;
    return this.next;
  }
}

function newGlobal(ids: Ids, over: Partial<GlobalSession> = {}): GlobalSession {
  const transactionId = over.transactionId ?? ids.id();
  const status = over.status ?? S.Begin;
  return {
    xid: `10.0.0.7:8091:${transactionId}`,
    transactionId,
    status,
    applicationId: 'order-svc',
    transactionServiceGroup: 'default_tx_group',
    transactionName: 'placeOrder(Order)',
    timeout: 60_000,
    beginTime: Date.now(),
    applicationData: null,
    active: status === S.Begin,
    branches: [],
    ...over,
  };
}

function newBranch(ids: Ids, g: GlobalSession, over: Partial<BranchSession> = {}): BranchSession {
  return {
    branchId: ids.id(),
    xid: g.xid,
    transactionId: g.transactionId,
    resourceGroupId: g.transactionServiceGroup,
    resourceId: 'jdbc:mysql://db:3306/orders',
    branchType: BranchType.AT,
    status: B.Registered,
    clientId: 'order-svc:10.0.0.9:52344',
    applicationData: null,
    lockKey: null,
    beginTime: Date.now(),
    ...over,
  };
}

/** The suite's own model of what a store holds after a sequence of operations. */
function applyModel(model: Map<string, GlobalSession>, op: StoreOp): void {
  switch (op.op) {
    case 'globalAdd':
      model.set(op.global.xid, structuredClone(op.global));
      return;
    case 'globalUpdate': {
      const g = model.get(op.xid);
      if (g) Object.assign(g, { status: op.status, active: op.active });
      return;
    }
    case 'globalRemove':
      model.delete(op.xid);
      return;
    case 'branchAdd': {
      const g = model.get(op.branch.xid);
      if (g && !g.branches.some((b) => b.branchId === op.branch.branchId))
        g.branches.push(structuredClone(op.branch));
      return;
    }
    case 'branchUpdate': {
      const b = model.get(op.xid)?.branches.find((x) => x.branchId === op.branchId);
      if (b) Object.assign(b, { status: op.status, applicationData: op.applicationData });
      return;
    }
    case 'branchRemove': {
      const g = model.get(op.xid);
      if (g) g.branches = g.branches.filter((b) => b.branchId !== op.branchId);
      return;
    }
  }
}

/** A session as compared: the fields a store of this kind keeps. */
function canonical(g: GlobalSession, expected: GlobalSession | undefined, fx: StoreFixture): GlobalSession {
  const keepsExtras = fx.keepsBranchExtras ?? true;
  return {
    ...g,
    branches: g.branches.map((b, i) => {
      if (keepsExtras) return { ...b };
      const want = expected?.branches[i];
      const near = want !== undefined && Math.abs(b.beginTime - want.beginTime) <= BEGIN_TIME_TOLERANCE_MS;
      assert.ok(
        Number.isSafeInteger(b.beginTime),
        `branch ${b.branchId} beginTime ${b.beginTime} is not a time`,
      );
      return { ...b, lockKey: null, beginTime: near ? (want as BranchSession).beginTime : b.beginTime };
    }),
  };
}

/** Asserts that `actual` holds exactly the sessions of `expected`, whatever their order. */
function assertSessions(
  actual: GlobalSession[],
  expected: Iterable<GlobalSession>,
  fx: StoreFixture,
  what: string,
): void {
  const want = new Map([...expected].map((g) => [g.xid, g]));
  const got = new Map(actual.map((g) => [g.xid, g]));
  assert.equal(got.size, actual.length, `${what}: a session is listed twice`);
  const missing = [...want.keys()].filter((x) => !got.has(x));
  const extra = [...got.keys()].filter((x) => !want.has(x));
  assert.deepEqual(
    { missing: missing.slice(0, 5), extra: extra.slice(0, 5) },
    { missing: [], extra: [] },
    `${what}: sessions differ`,
  );
  for (const [xid, g] of got) {
    const w = want.get(xid) as GlobalSession;
    assert.deepStrictEqual(canonical(g, w, fx), canonical(w, w, fx), `${what}: session ${xid}`);
  }
}

/** One session, compared like assertSessions. */
function assertSession(
  actual: GlobalSession | null,
  expected: GlobalSession,
  fx: StoreFixture,
  what: string,
): void {
  assert.ok(actual, `${what}: ${expected.xid} not found`);
  assert.deepStrictEqual(canonical(actual, expected, fx), canonical(expected, expected, fx), what);
}

/** Closes `store` and opens a new instance over the same storage; returns it and what it loaded. */
async function restart(
  fx: StoreFixture,
  store: TransactionStore,
): Promise<{ store: TransactionStore; sessions: GlobalSession[] }> {
  await store.close();
  const next = await fx.reopen();
  return { store: next, sessions: await next.open() };
}

/** A small deterministic PRNG, so a failing interleaving can be replayed. */
function prng(seed: number): () => number {
  let s = seed >>> 0;
  return () => {
    s = (Math.imul(s, 1_664_525) + 1_013_904_223) >>> 0;
    return s / 2 ** 32;
  };
}

/**
 * Registers the conformance cases under `describe(name)`. `factory` is called once per case and
 * must hand out a store over empty storage.
 */
export function describeStoreConformance(name: string, factory: () => Promise<StoreFixture>): void {
  /** Runs `body` with a fresh fixture and always cleans up. */
  const withStore =
    (body: (fx: StoreFixture, store: TransactionStore, ids: Ids) => Promise<void>) => async () => {
      const fx = await factory();
      try {
        await body(fx, fx.store, new Ids());
      } finally {
        await fx.cleanup();
      }
    };

  describe(`${name}: TransactionStore conformance`, () => {
    it(
      'opens empty storage with no sessions',
      withStore(async (_fx, store) => {
        assert.deepEqual(await store.open(), []);
        assert.deepEqual(await store.listGlobals(), []);
        await store.close();
      }),
    );

    it(
      'keeps a durable globalAdd across a restart, every field and 63-bit ids intact',
      withStore(async (fx, store, ids) => {
        await store.open();
        const g = newGlobal(ids, {
          transactionId: (1n << 62n) + 2n ** 53n + 1n,
          applicationData: '{"note":"grüße"}',
          beginTime: 1_700_000_000_123,
          timeout: 2_147_483_647,
        });
        g.xid = `10.0.0.7:8091:${g.transactionId}`;
        const nulls = newGlobal(ids, {
          applicationId: null,
          transactionServiceGroup: null,
          transactionName: null,
        });
        await store.write({ op: 'globalAdd', global: g }, true);
        await store.write({ op: 'globalAdd', global: nulls }, true);
        const { store: again, sessions } = await restart(fx, store);
        assertSessions(sessions, [g, nulls], fx, 'after reopen');
        assert.equal(typeof sessions.find((s) => s.xid === g.xid)?.transactionId, 'bigint');
        assert.equal(sessions.find((s) => s.xid === g.xid)?.transactionId, (1n << 62n) + 2n ** 53n + 1n);
        await again.close();
      }),
    );

    it(
      'applies a conditional status change only from the expected status, each settled on its own',
      withStore(async (fx, store, ids) => {
        await store.open();
        const [g1, g2, g3] = [newGlobal(ids), newGlobal(ids), newGlobal(ids)];
        for (const g of [g1, g2, g3]) await store.write({ op: 'globalAdd', global: g }, true);
        const cas = (xid: string, status: number, expect: number) =>
          store.write({ op: 'globalUpdate', xid, status, active: false, expect }, true);
        // Written in one turn, so batching stores put them in one batch.
        const results = await Promise.all([
          cas(g1.xid, S.Committing, S.Begin),
          cas(g2.xid, S.Committing, S.Rollbacking), // g2 is Begin: refused
          cas('10.0.0.1:8091:42', S.Committing, S.Begin), // no such session: refused
          cas(g3.xid, S.Committing, S.Begin), // two decisions race: the first one wins
          cas(g3.xid, S.Rollbacking, S.Begin),
          store.write({ op: 'branchAdd', branch: newBranch(ids, g2) }, true),
        ]);
        assert.deepEqual(results.slice(0, 5), [true, false, false, true, false]);
        // A CAS from the status it now has applies; an unconditional update still always does.
        assert.equal(await cas(g1.xid, S.CommitRetrying, S.Committing), true);
        await store.write({ op: 'globalUpdate', xid: g2.xid, status: S.Rollbacking, active: false }, true);
        const { store: again, sessions } = await restart(fx, store);
        const status = (xid: string) => sessions.find((g) => g.xid === xid)?.status;
        assert.equal(status(g1.xid), S.CommitRetrying);
        assert.equal(status(g2.xid), S.Rollbacking);
        assert.equal(status(g3.xid), S.Committing);
        assert.equal(sessions.find((g) => g.xid === g2.xid)?.branches.length, 1);
        await again.close();
      }),
    );

    it(
      'lets exactly one of two store instances (two TCs) decide a transaction',
      withStore(async (fx, store, ids) => {
        await store.open();
        if (!store.shared) {
          await store.close();
          return; // one TC owns a file store: its coordinator decides in memory
        }
        const other = await fx.reopen();
        await other.open();
        const gs = Array.from({ length: 20 }, () => newGlobal(ids));
        for (const g of gs) await store.write({ op: 'globalAdd', global: g }, true);
        const outcomes = await Promise.all(
          gs.map(async (g) => {
            const [a, b] = await Promise.all([
              store.write(
                { op: 'globalUpdate', xid: g.xid, status: S.Committing, active: false, expect: S.Begin },
                true,
              ),
              other.write(
                {
                  op: 'globalUpdate',
                  xid: g.xid,
                  status: S.TimeoutRollbacking,
                  active: false,
                  expect: S.Begin,
                },
                true,
              ),
            ]);
            const stored = (await store.findGlobal(g.xid))?.status;
            return { a, b, stored };
          }),
        );
        for (const o of outcomes) {
          assert.equal(Number(o.a) + Number(o.b), 1, 'exactly one decision applies');
          assert.equal(o.stored, o.a ? S.Committing : S.TimeoutRollbacking);
        }
        await other.close();
        await store.close();
      }),
    );

    it(
      'keeps three branches in registration order with every field',
      withStore(async (fx, store, ids) => {
        await store.open();
        const g = newGlobal(ids);
        await store.write({ op: 'globalAdd', global: g }, true);
        const branches = [
          newBranch(ids, g, {
            branchType: BranchType.AT,
            lockKey: 'order_tbl:1,2;stock_tbl:42',
            applicationData: '{"autoCommit":false,"skipCheckLock":true,"ключ":"値 ✓ 😀"}',
          }),
          newBranch(ids, g, {
            branchType: BranchType.TCC,
            resourceGroupId: null,
            // Quotes, backslashes and SQL in the data: stored as text, never run as SQL.
            applicationData: String.raw`{"q":"it's \"x\" \\ C:\tmp","sql":"'); DROP TABLE branch_table; --"}`,
          }),
          newBranch(ids, g, {
            branchType: BranchType.XA,
            resourceId: 'jdbc:postgresql://pg:5432/pay',
            status: B.PhaseOne_Done,
          }),
        ];
        for (const b of branches) await store.write({ op: 'branchAdd', branch: b }, true);
        const { store: again, sessions } = await restart(fx, store);
        assertSessions(sessions, [{ ...g, branches }], fx, 'after reopen');
        assert.deepEqual(
          sessions[0]?.branches.map((b) => b.branchId),
          branches.map((b) => b.branchId),
          'registration order',
        );
        await again.close();
      }),
    );

    it(
      'keeps a branchUpdate of status and applicationData',
      withStore(async (fx, store, ids) => {
        await store.open();
        const g = newGlobal(ids);
        const b1 = newBranch(ids, g, { branchType: BranchType.TCC, applicationData: '{"a":1}' });
        const b2 = newBranch(ids, g, { branchType: BranchType.TCC, applicationData: '{"b":2}' });
        await store.write({ op: 'globalAdd', global: g }, true);
        await store.write({ op: 'branchAdd', branch: b1 }, true);
        await store.write({ op: 'branchAdd', branch: b2 }, true);
        await store.write(
          {
            op: 'branchUpdate',
            xid: g.xid,
            branchId: b1.branchId,
            status: B.PhaseOne_Done,
            applicationData: '{"a":"ü→2"}',
          },
          true,
        );
        await store.write(
          {
            op: 'branchUpdate',
            xid: g.xid,
            branchId: b2.branchId,
            status: B.PhaseOne_Failed,
            applicationData: null,
          },
          true,
        );
        const { store: again, sessions } = await restart(fx, store);
        const want = {
          ...g,
          branches: [
            { ...b1, status: B.PhaseOne_Done, applicationData: '{"a":"ü→2"}' },
            { ...b2, status: B.PhaseOne_Failed, applicationData: null },
          ],
        };
        assertSessions(sessions, [want], fx, 'after reopen');
        await again.close();
      }),
    );

    it(
      'keeps a globalUpdate of status and active',
      withStore(async (fx, store, ids) => {
        await store.open();
        const g1 = newGlobal(ids);
        const g2 = newGlobal(ids);
        await store.write({ op: 'globalAdd', global: g1 }, true);
        await store.write({ op: 'globalAdd', global: g2 }, true);
        await store.write({ op: 'globalUpdate', xid: g1.xid, status: S.Committing, active: false }, true);
        await store.write({ op: 'globalUpdate', xid: g2.xid, status: S.Rollbacking, active: false }, true);
        await store.write({ op: 'globalUpdate', xid: g2.xid, status: S.RollbackFailed, active: false }, true);
        const { store: again, sessions } = await restart(fx, store);
        assertSessions(
          sessions,
          [
            { ...g1, status: S.Committing, active: false },
            { ...g2, status: S.RollbackFailed, active: false },
          ],
          fx,
          'after reopen',
        );
        await again.close();
      }),
    );

    it(
      'forgets removed branches and removed sessions (with their branches)',
      withStore(async (fx, store, ids) => {
        await store.open();
        const g1 = newGlobal(ids);
        const g2 = newGlobal(ids, { transactionName: '$Saga_order' });
        const [a, b] = [newBranch(ids, g1), newBranch(ids, g1)] as [BranchSession, BranchSession];
        const c = newBranch(ids, g2, { branchType: BranchType.SAGA });
        await store.write({ op: 'globalAdd', global: g1 }, true);
        await store.write({ op: 'globalAdd', global: g2 }, true);
        for (const x of [a, b, c]) await store.write({ op: 'branchAdd', branch: x }, true);
        await store.write({ op: 'branchRemove', xid: g1.xid, branchId: a.branchId }, true);
        // A saga ends with its branch still attached: removing the session removes the branch.
        await store.write({ op: 'globalRemove', xid: g2.xid }, true);
        const { store: again, sessions } = await restart(fx, store);
        assertSessions(sessions, [{ ...g1, branches: [b] }], fx, 'after reopen');
        assert.equal(await again.findGlobal(g2.xid), null);
        await again.close();
      }),
    );

    it(
      'applies non-durable writes in call order, and close() flushes them',
      withStore(async (fx, store, ids) => {
        await store.open();
        const model = new Map<string, GlobalSession>();
        const settled: Array<Promise<unknown>> = [];
        const write = (op: StoreOp) => {
          applyModel(model, op);
          settled.push(store.write(op, false));
        };
        const g = newGlobal(ids);
        const gone = newGlobal(ids);
        const [b1, b2, b3] = [newBranch(ids, g), newBranch(ids, g), newBranch(ids, g)];
        write({ op: 'globalAdd', global: g });
        write({ op: 'globalAdd', global: gone });
        for (const b of [b1, b2, b3] as BranchSession[]) write({ op: 'branchAdd', branch: b });
        write({ op: 'branchAdd', branch: newBranch(ids, gone) });
        write({
          op: 'branchUpdate',
          xid: g.xid,
          branchId: (b1 as BranchSession).branchId,
          status: B.PhaseOne_Done,
          applicationData: 'first',
        });
        write({ op: 'globalUpdate', xid: g.xid, status: S.Committing, active: false });
        write({
          op: 'branchUpdate',
          xid: g.xid,
          branchId: (b1 as BranchSession).branchId,
          status: B.PhaseTwo_CommitFailed_Retryable,
          applicationData: 'second',
        });
        write({ op: 'branchRemove', xid: g.xid, branchId: (b2 as BranchSession).branchId });
        write({ op: 'globalUpdate', xid: g.xid, status: S.CommitRetrying, active: false });
        write({ op: 'globalRemove', xid: gone.xid });
        const closed = store.close();
        await Promise.all(settled);
        await closed;
        const again = await fx.reopen();
        assertSessions(await again.open(), model.values(), fx, 'after close and reopen');
        await again.close();
      }),
    );

    it(
      'reopens 1000 interleaved concurrent transactions to the exact expected state',
      withStore(async (fx, store, ids) => {
        await store.open();
        const random = prng(0x5eed);
        const model = new Map<string, GlobalSession>();
        const lazy: Array<Promise<unknown>> = [];
        const run = async (i: number) => {
          const pick = random();
          const g = newGlobal(ids, { beginTime: 1_700_000_000_000 + i, transactionName: `tx-${i}` });
          const b1 = newBranch(ids, g, {
            branchType: i % 2 === 0 ? BranchType.AT : BranchType.TCC,
            lockKey: i % 2 === 0 ? `t:${i}` : null,
          });
          const b2 = newBranch(ids, g, { branchType: BranchType.TCC, applicationData: `{"i":${i}}` });
          // The coordinator's sequences: durable writes awaited in turn, the rest fired and forgotten.
          const step = async (op: StoreOp, durable: boolean) => {
            applyModel(model, op);
            const p = store.write(op, durable);
            if (durable) await p;
            else lazy.push(p);
            if (random() < 0.3) await yieldTurn();
          };
          await step({ op: 'globalAdd', global: g }, true);
          await step({ op: 'branchAdd', branch: b1 }, true);
          if (pick < 0.1) {
            // reported phase one, left open
            await step(
              {
                op: 'branchUpdate',
                xid: g.xid,
                branchId: b1.branchId,
                status: B.PhaseOne_Done,
                applicationData: `{"r":${i}}`,
              },
              true,
            );
            return;
          }
          await step({ op: 'branchAdd', branch: b2 }, true);
          if (pick < 0.3) return; // still in Begin
          if (pick < 0.7) {
            // committed and removed
            await step({ op: 'globalUpdate', xid: g.xid, status: S.Committing, active: false }, true);
            await step({ op: 'branchRemove', xid: g.xid, branchId: b1.branchId }, false);
            await step({ op: 'branchRemove', xid: g.xid, branchId: b2.branchId }, false);
            await step({ op: 'globalRemove', xid: g.xid }, false);
          } else if (pick < 0.85) {
            // rollback failed for good: stays with its status
            await step({ op: 'globalUpdate', xid: g.xid, status: S.Rollbacking, active: false }, true);
            await step({ op: 'branchRemove', xid: g.xid, branchId: b2.branchId }, false);
            await step({ op: 'globalUpdate', xid: g.xid, status: S.RollbackFailed, active: false }, true);
          } else {
            // async commit under way
            await step({ op: 'globalUpdate', xid: g.xid, status: S.AsyncCommitting, active: false }, true);
            await step({ op: 'branchRemove', xid: g.xid, branchId: b1.branchId }, false);
          }
        };
        await Promise.all(Array.from({ length: 1000 }, (_, i) => run(i)));
        await Promise.all(lazy);
        assert.ok(model.size > 450 && model.size < 750, `the mix left ${model.size} sessions`);
        const { store: again, sessions } = await restart(fx, store);
        assertSessions(sessions, model.values(), fx, 'after reopen');
        await again.close();
      }),
    );

    it(
      'lists sessions by statuses and beganBefore, oldest first, up to limit, with branches',
      withStore(async (_fx, store, ids) => {
        await store.open();
        const spec: Array<[number, number]> = [
          [5000, S.Begin],
          [1000, S.Committing],
          [3000, S.Begin],
          [2000, S.AsyncCommitting],
          [4000, S.CommitFailed],
          [6000, S.Committing],
        ];
        const all = spec.map(([t, status]) => {
          const g = newGlobal(ids, { beginTime: 1_700_000_000_000 + t, status, active: status === S.Begin });
          g.branches = [newBranch(ids, g)];
          return g;
        });
        for (const g of all) {
          await store.write({ op: 'globalAdd', global: { ...g, branches: [] } }, true);
          await store.write({ op: 'branchAdd', branch: g.branches[0] as BranchSession }, true);
        }
        const times = (list: GlobalSession[]) => list.map((g) => g.beginTime - 1_700_000_000_000);
        assert.deepEqual(times(await store.listGlobals()), [1000, 2000, 3000, 4000, 5000, 6000]);
        assert.deepEqual(
          times(await store.listGlobals({ statuses: [S.Begin, S.Committing] })),
          [1000, 3000, 5000, 6000],
        );
        assert.deepEqual(
          times(await store.listGlobals({ beganBefore: 1_700_000_004_000 })),
          [1000, 2000, 3000],
        );
        assert.deepEqual(
          times(await store.listGlobals({ statuses: [S.Committing], beganBefore: 1_700_000_006_000 })),
          [1000],
        );
        assert.deepEqual(times(await store.listGlobals({ limit: 2 })), [1000, 2000]);
        assert.deepEqual(
          times(await store.listGlobals({ statuses: [S.Begin, S.CommitFailed], limit: 2 })),
          [3000, 4000],
        );
        assert.deepEqual(await store.listGlobals({ statuses: [S.Rollbacking] }), []);
        const listed = await store.listGlobals({ statuses: [S.AsyncCommitting] });
        assert.equal(listed.length, 1);
        assert.deepEqual(
          listed[0]?.branches.map((b) => b.branchId),
          all[3]?.branches.map((b) => b.branchId),
        );
        await store.close();
      }),
    );

    it(
      'finds a session with its branches, sees writes made before the read, and returns null for a missing xid',
      withStore(async (fx, store, ids) => {
        await store.open();
        assert.equal(await store.findGlobal('10.0.0.7:8091:1'), null);
        const g = newGlobal(ids);
        const b = newBranch(ids, g, { applicationData: '{"x":"✓"}' });
        // Not awaited: a read issued after a write sees it.
        void store.write({ op: 'globalAdd', global: g }, false);
        void store.write({ op: 'branchAdd', branch: b }, false);
        assertSession(await store.findGlobal(g.xid), { ...g, branches: [b] }, fx, 'findGlobal after write');
        void store.write({ op: 'globalRemove', xid: g.xid }, false);
        assert.equal(await store.findGlobal(g.xid), null);
        await store.close();
      }),
    );

    it(
      'grants task locks as Seata distributed_lock does (or always, for a single-process store)',
      withStore(async (fx, store) => {
        await store.open();
        const shared = fx.sharedLocks ?? store.shared;
        const ttl = 400;
        if (!shared) {
          assert.equal(await store.acquireTaskLock('RetryCommitting', 'tc-a:8091', ttl), true);
          assert.equal(await store.acquireTaskLock('RetryCommitting', 'tc-b:8091', ttl), true);
          await store.releaseTaskLock('RetryCommitting', 'tc-b:8091');
          await store.close();
          return;
        }
        const other = await fx.reopen();
        await other.open();
        assert.equal(
          await store.acquireTaskLock('RetryCommitting', 'tc-a:8091', ttl),
          true,
          'A takes a free lock',
        );
        assert.equal(
          await other.acquireTaskLock('RetryCommitting', 'tc-b:8091', ttl),
          false,
          "B is refused during A's lease",
        );
        assert.equal(
          await other.acquireTaskLock('AsyncCommitting', 'tc-b:8091', ttl),
          true,
          'locks are per task',
        );
        await sleep(ttl / 2);
        assert.equal(
          await store.acquireTaskLock('RetryCommitting', 'tc-a:8091', ttl),
          true,
          'A renews its own lease',
        );
        await sleep(ttl / 2 + 50);
        assert.equal(
          await other.acquireTaskLock('RetryCommitting', 'tc-b:8091', ttl),
          false,
          "the renewal extended A's lease",
        );
        await sleep(ttl + 100);
        assert.equal(
          await other.acquireTaskLock('RetryCommitting', 'tc-b:8091', ttl),
          true,
          'B takes it after expiry',
        );
        assert.equal(
          await store.acquireTaskLock('RetryCommitting', 'tc-a:8091', ttl),
          false,
          'A is now refused',
        );
        await other.releaseTaskLock('RetryCommitting', 'tc-a:8091');
        assert.equal(
          await store.acquireTaskLock('RetryCommitting', 'tc-a:8091', ttl),
          false,
          'a release by another owner leaves the lock held',
        );
        await other.releaseTaskLock('RetryCommitting', 'tc-b:8091');
        assert.equal(
          await store.acquireTaskLock('RetryCommitting', 'tc-a:8091', ttl),
          true,
          "A takes it at once after B's release, long before B's lease would run out",
        );
        // Not one of Seata's four seed rows: the row is created on first use.
        assert.equal(await store.acquireTaskLock('UndologDelete', 'tc-a:8091', ttl), true);
        assert.equal(await other.acquireTaskLock('UndologDelete', 'tc-b:8091', ttl), false);
        await other.close();
        await store.close();
      }),
    );

    it(
      'lets two instances on shared storage update the same sessions at once (shared stores)',
      withStore(async (fx, store, ids) => {
        await store.open();
        if (!store.shared) {
          await store.close();
          return;
        }
        const other = await fx.reopen();
        await other.open();
        const globals = Array.from({ length: 200 }, () =>
          newGlobal(ids, { status: S.Committing, active: false }),
        );
        await Promise.all(globals.map((g) => store.write({ op: 'globalAdd', global: g }, true)));
        const random = prng(7);
        const shuffled = () => [...globals].sort(() => random() - 0.5);
        // Two TCs' recovery driving the same sessions: neither may fail (deadlocks included).
        for (let round = 0; round < 5; round++) {
          await Promise.all([
            ...shuffled().map((g) =>
              store.write({ op: 'globalUpdate', xid: g.xid, status: S.CommitRetrying, active: false }, true),
            ),
            ...shuffled().map((g) =>
              other.write({ op: 'globalUpdate', xid: g.xid, status: S.CommitRetrying, active: false }, true),
            ),
          ]);
        }
        await other.close();
        const { store: again, sessions } = await restart(fx, store);
        assertSessions(
          sessions,
          globals.map((g) => ({ ...g, status: S.CommitRetrying })),
          fx,
          'after both wrote',
        );
        await again.close();
      }),
    );

    it(
      'keeps every durable-acknowledged write when the process dies without close()',
      withStore(async (fx, store, ids) => {
        await store.open();
        const model = new Map<string, GlobalSession>();
        const acked: Array<Promise<unknown>> = [];
        for (let i = 0; i < 50; i++) {
          const g = newGlobal(ids, { beginTime: 1_700_000_000_000 + i });
          const ops: StoreOp[] = [
            { op: 'globalAdd', global: g },
            { op: 'branchAdd', branch: newBranch(ids, g) },
          ];
          if (i % 3 === 0) ops.push({ op: 'globalUpdate', xid: g.xid, status: S.Committing, active: false });
          for (const op of ops) {
            applyModel(model, op);
            acked.push(store.write(op, true));
          }
        }
        await Promise.all(acked);
        // No close(): a new instance over the same storage, as after a crash.
        const after = await fx.reopen();
        assertSessions(await after.open(), model.values(), fx, 'after the crash');
        await after.close();
      }),
    );
  });
}

/** Two lock managers over the same lock storage (two TCs; the same instance twice for memory locks). */
export interface LockFixture {
  a: LockManager;
  b: LockManager;
  /** Releases the managers' resources and empties the lock storage. */
  cleanup: () => Promise<void>;
}

/**
 * The row-lock conformance cases (memory, lock_table, Redis): all-or-nothing acquisition, locks
 * of one global transaction never conflicting with each other, release by branch and by global,
 * the lock query, and two managers racing for overlapping rows.
 */
export function describeLockManagerConformance(name: string, factory: () => Promise<LockFixture>): void {
  const withLocks = (body: (fx: LockFixture, ids: Ids) => Promise<void>) => async () => {
    const fx = await factory();
    try {
      await body(fx, new Ids());
    } finally {
      await fx.cleanup();
    }
  };
  const RES = 'jdbc:mysql://db:3306/orders';
  const branchOf = (ids: Ids, g: GlobalSession, lockKey: string | null) => {
    const b = newBranch(ids, g, { lockKey, resourceId: RES });
    g.branches.push(b);
    return b;
  };

  describe(`${name}: LockManager conformance`, () => {
    it(
      'takes free rows, and refuses a branch of another transaction all-or-nothing',
      withLocks(async ({ a, b }, ids) => {
        const g1 = newGlobal(ids);
        const g2 = newGlobal(ids);
        assert.equal(await a.acquire(branchOf(ids, g1, 'order_tbl:1,2;stock_tbl:7')), true);
        assert.equal(
          await b.acquire(branchOf(ids, g2, 'order_tbl:3;stock_tbl:7')),
          false,
          'stock_tbl:7 is held',
        );
        assert.equal(
          await b.isLockable(null, RES, 'order_tbl:3'),
          true,
          'nothing of the refused branch was taken',
        );
        assert.equal(await b.acquire(branchOf(ids, g2, 'order_tbl:3')), true);
        assert.equal(await a.acquire(branchOf(ids, newGlobal(ids), 'order_tbl:3')), false);
        assert.equal(await a.acquire(branchOf(ids, g1, null)), true, 'no lockKey, nothing to lock');
      }),
    );

    it(
      "never lets a transaction's own rows conflict, and releases rows by the branch that took them",
      withLocks(async ({ a, b }, ids) => {
        const g = newGlobal(ids);
        const first = branchOf(ids, g, 'order_tbl:1,2');
        const second = branchOf(ids, g, 'order_tbl:2,3');
        assert.equal(await a.acquire(first), true);
        assert.equal(await b.acquire(second), true, 'order_tbl:2 belongs to the same transaction');
        assert.equal(await a.isLockable(g.xid, RES, 'order_tbl:1,2,3'), true);
        assert.equal(await a.isLockable('10.0.0.7:8091:1', RES, 'order_tbl:2'), false);
        await b.release(second);
        assert.equal(
          await a.isLockable(null, RES, 'order_tbl:3'),
          true,
          "the second branch's own row is free",
        );
        assert.equal(
          await a.isLockable(null, RES, 'order_tbl:2'),
          false,
          'order_tbl:2 stays with the first branch',
        );
        await a.release(first);
        assert.equal(await a.isLockable(null, RES, 'order_tbl:1,2,3'), true);
      }),
    );

    it(
      'releases every row of a global transaction at once',
      withLocks(async ({ a, b }, ids) => {
        const g = newGlobal(ids);
        assert.equal(await a.acquire(branchOf(ids, g, 'order_tbl:1;stock_tbl:1')), true);
        assert.equal(await a.acquire(branchOf(ids, g, 'account_tbl:9')), true);
        const other = newGlobal(ids);
        assert.equal(await b.acquire(branchOf(ids, other, 'account_tbl:10')), true);
        await b.releaseGlobal(g);
        assert.equal(await a.isLockable(null, RES, 'order_tbl:1;stock_tbl:1;account_tbl:9'), true);
        assert.equal(
          await a.isLockable(null, RES, 'account_tbl:10'),
          false,
          'other transactions keep theirs',
        );
        assert.equal(await a.isLockable(other.xid, RES, 'account_tbl:10'), true);
      }),
    );

    it(
      'keys rows by resource, table and primary key',
      withLocks(async ({ a, b }, ids) => {
        assert.equal(await a.acquire(branchOf(ids, newGlobal(ids), 'order_tbl:1')), true);
        const elsewhere = newGlobal(ids);
        const b2 = newBranch(ids, elsewhere, {
          lockKey: 'order_tbl:1',
          resourceId: 'jdbc:mysql://db2:3306/orders',
        });
        assert.equal(await b.acquire(b2), true, 'the same table and pk in another resource');
        assert.equal(
          await b.acquire(branchOf(ids, newGlobal(ids), 'stock_tbl:1')),
          true,
          'the same pk in another table',
        );
        assert.equal(await b.isLockable(null, RES, ''), true, 'an empty lockKey locks nothing');
      }),
    );

    it(
      'takes and releases a branch of 300 rows',
      withLocks(async ({ a, b }, ids) => {
        const g = newGlobal(ids);
        const pks = Array.from({ length: 300 }, (_, i) => i + 1);
        const big = branchOf(ids, g, `order_tbl:${pks.join(',')}`);
        assert.equal(await a.acquire(big), true);
        assert.equal(await b.isLockable(null, RES, 'order_tbl:150'), false);
        assert.equal(await b.acquire(branchOf(ids, newGlobal(ids), 'order_tbl:300,301')), false);
        await a.release(big);
        assert.equal(await b.isLockable(null, RES, `order_tbl:${pks.join(',')}`), true);
      }),
    );

    it(
      'lets exactly one of two managers win overlapping rows acquired at the same moment',
      withLocks(async ({ a, b }, ids) => {
        for (let round = 0; round < 25; round++) {
          const base = round * 10;
          const g1 = newGlobal(ids);
          const g2 = newGlobal(ids);
          const rows = (from: number, to: number) =>
            `order_tbl:${Array.from({ length: to - from + 1 }, (_, i) => base + from + i).join(',')}`;
          // Overlapping in the middle, listed in opposite orders.
          const x = branchOf(ids, g1, rows(1, 6));
          const y = branchOf(
            ids,
            g2,
            `order_tbl:${Array.from({ length: 6 }, (_, i) => base + 9 - i).join(',')}`,
          );
          const [wx, wy] = await Promise.all([a.acquire(x), b.acquire(y)]);
          assert.equal(Number(wx) + Number(wy), 1, `round ${round}: exactly one wins (${wx}, ${wy})`);
          const winner = wx ? g1 : g2;
          assert.equal(await a.isLockable(winner.xid, RES, wx ? rows(1, 6) : rows(4, 9)), true);
          assert.equal(
            await a.isLockable(null, RES, wx ? rows(7, 9) : rows(1, 3)),
            true,
            "the loser's rows stayed free",
          );
          await a.releaseGlobal(g1);
          await b.releaseGlobal(g2);
        }
      }),
    );
  });
}
