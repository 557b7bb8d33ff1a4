/**
 * The SqlStore / SqlLockManager suite, one body run against every SQL database (STYLE rule 9):
 * the store and lock-manager conformance suites, then the cases that need a real database
 * (Seata's schema, custom table names, a missing table, an unreachable server, a failed batch,
 * dropped connections, a value too long, batching, a TcServer on top, rows a Java TC wrote, long
 * task-lock owners). What differs between databases (catalog queries, column types, JDBC URLs,
 * how to count rows, rename a table or drop connections) comes in as a SqlStoreDialect and a
 * SqlStoreTarget. Not a test file.
 */
import assert from 'node:assert/strict';
import { after, describe, it } from 'node:test';
import { ConfigError, TransactionError } from '@dtx/core';
import { BranchType, GlobalStatus } from '@dtx/protocol';
import { describeLockManagerConformance, describeStoreConformance } from '@dtx/testing';
import {
  applySchema,
  type BranchSession,
  type GlobalSession,
  type SqlDialect,
  type SqlDialectName,
  SqlLockManager,
  SqlStore,
  type SqlStoreOptions,
} from '../src/index.js';
import {
  AT_RESOURCE,
  assertTxFailure,
  connectRm,
  decisionOf,
  startTc,
  statusText,
  Tm,
  until,
  workerIdOf,
  workerOfNextBegin,
} from './helpers.js';

/** What the cases need to know about one database. */
export interface SqlStoreDialect {
  /** The store's `dialect` option: names the conformance suites and `dtx server schema --db`. */
  name: SqlDialectName;
  /** 'MySQL', 'PostgreSQL': the suite is "SqlStore on <label>", its own cases "<label> specifics". */
  label: string;
  /**
   * The skip reason when the database is not reachable, else false. With CI=true an unreachable
   * database is a failing test "<label> is reachable (required when CI=true)" instead.
   */
  skip: string | false;
  /** Where the stores connect: the file's own database, or a schema of its own (`driver`). */
  connection: Pick<SqlStoreOptions, 'host' | 'port' | 'user' | 'password' | 'database'> &
    Partial<Pick<SqlStoreOptions, 'driver'>>;
  /** Driver options that bound connecting to `ms`. */
  connectTimeout(ms: number): SqlStoreOptions['driver'];
  /** A JDBC URL without its database, as a Java RM would name resources: `jdbc:mysql://db`. */
  jdbcUrl: string;
  /** SQL for "now" with microseconds, as Seata's scripts fill branch_table.gmt_create. */
  nowMicros: string;
  /** SQL that renames table `from` to `to`. */
  renameTable(from: string, to: string): string;
  /** The number of rows in `table`. */
  count(db: SqlDialect, table: string): Promise<number>;
  /** Asserts the columns, types and indexes (and more) applySchema created, in the catalog. */
  checkCatalog(db: SqlDialect): Promise<void>;
}

/** The file's own database or schema, made when the suite starts. */
export interface SqlStoreTarget {
  /** A pool on it, with rights to create, rename and empty tables. */
  db: SqlDialect;
  /** Creates the empty database or schema (Seata's tables come after). */
  create(): Promise<void>;
  /** Drops it and ends every pool; runs after the suite. */
  dispose(): Promise<void>;
  /** Drops every connection of `store`'s pool from the server side; returns how many. */
  killConnections(store: SqlStore): Promise<number>;
}

const TABLES = ['global_table', 'branch_table', 'lock_table', 'distributed_lock'];

/**
 * Defines "SqlStore on <label>" for `dialect` (skipped with `dialect.skip`); `setup` is called
 * once, as the suite is defined (not when it is skipped), for the pool and the database or
 * schema it works in.
 */
export function describeSqlStoreCases(dialect: SqlStoreDialect, setup: () => SqlStoreTarget): void {
  const { skip } = dialect;
  if (skip && process.env.CI === 'true') {
    it(`${dialect.label} is reachable (required when CI=true)`, () => assert.fail(skip));
  }
  /** Store options on the file's own database or schema, with `over` on top. */
  const options = (over: Partial<SqlStoreOptions> = {}): Partial<SqlStoreOptions> => ({
    dialect: dialect.name,
    ...dialect.connection,
    createSchema: true,
    poolSize: 4,
    ...over,
  });

  describe(`SqlStore on ${dialect.label}`, { skip }, () => {
    const { db, create, dispose, killConnections } = setup();
    const ready = (async () => {
      await create();
      await applySchema(db);
    })();
    ready.catch(() => {}); // awaited (and reported) by every case
    /** Empties the tables and resets the task-lock seed rows. */
    const clear = async () => {
      await ready;
      for (const t of TABLES) await db.query(`DELETE FROM ${t}`);
      await applySchema(db);
    };
    after(dispose);
    const count = (table: string) => dialect.count(db, table);

    /** Stores made by a test, closed at its end. */
    const stores = () => {
      const made: SqlStore[] = [];
      return {
        make: (over: Partial<SqlStoreOptions> = {}) => {
          const s = new SqlStore(options(over));
          made.push(s);
          return s;
        },
        closeAll: async () => {
          for (const s of made) await s.close();
        },
      };
    };

    describeStoreConformance(`SqlStore (${dialect.name})`, async () => {
      await clear();
      const { make, closeAll } = stores();
      return {
        store: make(),
        reopen: async () => make(),
        cleanup: closeAll,
        sharedLocks: true,
        keepsBranchExtras: false,
      };
    });

    describeLockManagerConformance(`SqlLockManager (${dialect.name})`, async () => {
      await clear();
      const { make, closeAll } = stores();
      // Two pools: two TCs sharing lock_table.
      return { a: new SqlLockManager(make()), b: new SqlLockManager(make()), cleanup: closeAll };
    });

    describe(`${dialect.label} specifics`, () => {
      let serial = (1n << 62n) + 5n;
      const global = (over: Partial<GlobalSession> = {}): GlobalSession => {
        serial += 10n;
        return {
          xid: `10.0.0.7:8091:${serial}`,
          transactionId: serial,
          status: GlobalStatus.Begin,
          applicationId: 'app',
          transactionServiceGroup: 'default_tx_group',
          transactionName: 'tx',
          timeout: 60_000,
          beginTime: Date.now(),
          applicationData: null,
          active: true,
          branches: [],
          ...over,
        };
      };
      const branch = (g: GlobalSession, n: bigint): BranchSession => ({
        branchId: g.transactionId + n,
        xid: g.xid,
        transactionId: g.transactionId,
        resourceGroupId: null,
        resourceId: `${dialect.jdbcUrl}/orders`,
        branchType: BranchType.TCC,
        status: 1,
        clientId: 'app:10.0.0.9:1',
        applicationData: null,
        lockKey: null,
        beginTime: Date.now(),
      });

      it("creates Seata's tables, columns, indexes and seed rows, idempotently", async () => {
        await clear();
        await applySchema(db);
        await dialect.checkCatalog(db);
        const seeds = await db.query(
          'SELECT lock_key, lock_value, expire FROM distributed_lock ORDER BY lock_key',
        );
        assert.deepEqual(
          seeds.rows.map((r) => [r.lock_key, r.lock_value, String(r.expire)]),
          [
            ['AsyncCommitting', ' ', '0'],
            ['RetryCommitting', ' ', '0'],
            ['RetryRollbacking', ' ', '0'],
            ['TxTimeoutCheck', ' ', '0'],
          ],
        );
      });

      it('works with custom table names (store.db.*Table)', async () => {
        await ready;
        const { make, closeAll } = stores();
        try {
          const tables = {
            globalTable: 'g2',
            branchTable: 'b2',
            lockTable: 'l2',
            distributedLockTable: 'd2',
          };
          const s = make(tables);
          await s.open();
          const g = global();
          await s.write({ op: 'globalAdd', global: g }, true);
          await s.write({ op: 'branchAdd', branch: branch(g, 1n) }, true);
          assert.equal((await s.findGlobal(g.xid))?.branches.length, 1);
          assert.equal(await s.acquireTaskLock('RetryCommitting', 'a', 1000), true);
          const locks = new SqlLockManager(s);
          assert.equal(await locks.acquire({ ...branch(g, 2n), lockKey: 't:1' }), true);
          assert.equal(await count('l2'), 1);
          assert.equal(await count('g2'), 1);
        } finally {
          await closeAll();
        }
      });

      it('refuses to open without its tables, naming the missing table and its key', async () => {
        await ready;
        const { make, closeAll } = stores();
        try {
          const s = make({ createSchema: false, branchTable: 'no_such_branch_table' });
          await assert.rejects(s.open(), (err: unknown) => {
            assert.ok(err instanceof ConfigError);
            assert.equal(err.key, 'store.db.branchTable');
            assert.match(err.message, /no_such_branch_table/);
            assert.match(err.message, new RegExp(`dtx server schema --db ${dialect.name}`));
            return true;
          });
        } finally {
          await closeAll();
        }
      });

      it('reports an unreachable server as FailedStore naming the address', async () => {
        const s = new SqlStore(options({ port: 1, driver: dialect.connectTimeout(2000) }));
        try {
          await assert.rejects(s.open(), (err: unknown) => {
            assert.ok(err instanceof TransactionError);
            assert.equal(err.code, 'FailedStore');
            assert.match(
              err.message,
              new RegExp(`${dialect.connection.host}:1/${dialect.connection.database}`),
            );
            return true;
          });
        } finally {
          await s.close();
        }
      });

      it('fails every operation of a failed batch with FailedStore, then carries on', async () => {
        await clear();
        const { make, closeAll } = stores();
        try {
          const s = make();
          await s.open();
          await db.query(dialect.renameTable('branch_table', 'branch_table_away'));
          const g = global();
          const results = await Promise.allSettled([
            s.write({ op: 'globalAdd', global: g }, true),
            s.write({ op: 'branchAdd', branch: branch(g, 1n) }, true),
          ]);
          await db.query(dialect.renameTable('branch_table_away', 'branch_table'));
          for (const r of results) {
            assert.equal(r.status, 'rejected');
            const err = (r as PromiseRejectedResult).reason;
            assert.ok(err instanceof TransactionError);
            assert.equal(err.code, 'FailedStore');
            assert.ok(err.cause, 'the driver error is the cause');
          }
          assert.equal(await s.findGlobal(g.xid), null, 'the batch was rolled back as a whole');
          const g2 = global();
          await s.write({ op: 'globalAdd', global: g2 }, true);
          await s.write({ op: 'branchAdd', branch: branch(g2, 1n) }, true);
          assert.equal((await s.findGlobal(g2.xid))?.branches.length, 1);
          assert.equal(s.stats.failedBatches, 1);
        } finally {
          await closeAll();
        }
      });

      it('survives the server dropping its connections', async () => {
        await clear();
        const { make, closeAll } = stores();
        try {
          const s = make();
          await s.open();
          const locks = new SqlLockManager(s);
          const g = global();
          await s.write({ op: 'globalAdd', global: g }, true);
          const killed = await killConnections(s);
          assert.ok(killed > 0, 'some connections were dropped');
          // Operations in flight as the connections die may fail; the ones after must not.
          await Promise.allSettled([
            s.write({ op: 'globalUpdate', xid: g.xid, status: 2, active: false }, true),
            s.findGlobal(g.xid),
          ]);
          const g2 = global();
          await s.write({ op: 'globalAdd', global: g2 }, true);
          assert.equal((await s.findGlobal(g2.xid))?.xid, g2.xid);
          assert.equal(await locks.acquire({ ...branch(g2, 1n), lockKey: 't:1' }), true);
        } finally {
          await closeAll();
        }
      });

      it('refuses a value too long for its column alone, without failing its batch', async () => {
        await clear();
        const { make, closeAll } = stores();
        try {
          const s = make();
          await s.open();
          const ok = global({ applicationData: '😀'.repeat(2000) });
          const tooLong = global({ applicationData: 'x'.repeat(2001) });
          const [a, b] = await Promise.allSettled([
            s.write({ op: 'globalAdd', global: ok }, true),
            s.write({ op: 'globalAdd', global: tooLong }, true),
          ]);
          assert.equal(a.status, 'fulfilled');
          assert.equal(b.status, 'rejected');
          assert.match(String((b as PromiseRejectedResult).reason), /application_data has 2001 characters/);
          assert.equal((await s.findGlobal(ok.xid))?.applicationData, '😀'.repeat(2000));
        } finally {
          await closeAll();
        }
      });

      it('batches across transactions: a pipelined 2-branch transaction costs far fewer than 7 round trips', async (t) => {
        await clear();
        const { make, closeAll } = stores();
        try {
          const s = make();
          await s.open();
          const before = { ...s.stats };
          const lazy: Array<Promise<unknown>> = [];
          const tx = async () => {
            const g = global();
            const [b1, b2] = [branch(g, 1n), branch(g, 2n)];
            await s.write({ op: 'globalAdd', global: g }, true);
            await s.write({ op: 'branchAdd', branch: b1 }, true);
            await s.write({ op: 'branchAdd', branch: b2 }, true);
            await s.write(
              { op: 'globalUpdate', xid: g.xid, status: GlobalStatus.Committing, active: false },
              true,
            );
            lazy.push(s.write({ op: 'branchRemove', xid: g.xid, branchId: b1.branchId }, false));
            lazy.push(s.write({ op: 'branchRemove', xid: g.xid, branchId: b2.branchId }, false));
            lazy.push(s.write({ op: 'globalRemove', xid: g.xid }, false));
          };
          const N = 64;
          await Promise.all(Array.from({ length: N }, tx));
          await Promise.all(lazy);
          const trips = s.stats.roundTrips - before.roundTrips;
          const batches = s.stats.batches - before.batches;
          t.diagnostic(
            `${N} transactions, ${N * 7} operations: ${batches} batches, ${trips} round trips (${(trips / N).toFixed(2)} per transaction)`,
          );
          assert.ok(trips / N < 3.5, `${(trips / N).toFixed(2)} round trips per transaction`);
          assert.deepEqual(await s.listGlobals(), []);
          assert.equal(await count('branch_table'), 0);
        } finally {
          await closeAll();
        }
      });

      it('commits a batch too large for one statement as one transaction', async () => {
        await clear();
        const { make, closeAll } = stores();
        try {
          const s = make({ batchSize: 20_000 });
          await s.open();
          // 8000 rows of 9 placeholders: more than one statement may carry.
          const all = Array.from({ length: 8000 }, () => global());
          await Promise.all(all.map((g) => s.write({ op: 'globalAdd', global: g }, false)));
          assert.equal(s.stats.batches, 1);
          assert.equal(s.stats.roundTrips, 10, 'BEGIN, 8 inserts of 1000 rows, COMMIT');
          assert.equal(await count('global_table'), 8000);
        } finally {
          await closeAll();
        }
      });

      it('backs a TcServer: AT row locks in lock_table, commit, and a restart that keeps an open transaction', async (t) => {
        await clear();
        const tc = async () => {
          const store = new SqlStore(options());
          return startTc(t, { store, locks: new SqlLockManager(store) });
        };
        const first = await tc();
        const tm = await Tm.connect(t, first.port);
        const rm = await connectRm(t, first.port, 'at-app', { resourceIds: [AT_RESOURCE] });
        const tx1 = await tm.begin();
        await rm.registerBranchOk(tx1, { branchType: BranchType.AT, lockKey: 'order_tbl:1,2' });
        assert.equal(await count('lock_table'), 2);
        const tx2 = await tm.begin();
        assertTxFailure(
          await rm.registerBranch(tx2, { branchType: BranchType.AT, lockKey: 'order_tbl:2' }),
          'LockKeyConflict',
        );
        assert.equal((await tm.commit(tx1)).globalStatus, GlobalStatus.Committed);
        await tm.waitForStatus(tx1, GlobalStatus.Finished);
        await until(async () => (await count('lock_table')) === 0, 'the rows of tx1 released');
        await rm.registerBranchOk(tx2, { branchType: BranchType.AT, lockKey: 'order_tbl:2' });
        // A graceful stop flushes the store; the next TC finds tx2 open, with its branch and lock.
        tm.close();
        rm.close();
        await first.server.stop();
        const second = await tc();
        const tm2 = await Tm.connect(t, second.port);
        assert.equal(await tm2.status(tx2), GlobalStatus.Begin);
        const restored = await second.server.store.findGlobal(tx2);
        assert.equal(restored?.branches.length, 1);
        assert.equal(await count('lock_table'), 1);
        const rm2 = await connectRm(t, second.port, 'at-app', { resourceIds: [AT_RESOURCE] });
        assert.equal((await tm2.rollback(tx2)).globalStatus, GlobalStatus.Rollbacked);
        assert.equal(rm2.rollbacks.length, 1);
        await until(
          async () => (await count('global_table')) === 0 && (await count('lock_table')) === 0,
          'tx2 removed with its rows',
        );
      });

      it('gives TCs sharing the store distinct worker ids, leased in distributed_lock', async (t) => {
        await clear();
        // Both listen on 127.0.0.1 with an ephemeral port: the same address-derived first choice.
        const tcs = [];
        for (let i = 0; i < 3; i++) {
          const store = new SqlStore(options());
          tcs.push(await startTc(t, { store, locks: new SqlLockManager(store) }));
        }
        const workers = [];
        for (const tc of tcs) {
          const tm = await Tm.connect(t, tc.port);
          const xid = await tm.begin();
          workers.push(workerIdOf(xid));
        }
        assert.equal(new Set(workers).size, 3, `worker ids ${workers.join(', ')}`);
        const { rows } = await db.query(
          "SELECT lock_key FROM distributed_lock WHERE lock_key LIKE 'dtx-worker-%' AND expire > 0",
        );
        assert.deepEqual(
          rows.map((r) => String(r.lock_key).trim()).sort(),
          workers.map((w) => `dtx-worker-${w}`).sort(),
        );
      });

      it("hands a stopped TC's worker id back, so its successor on the same address takes the same id", async (t) => {
        await clear();
        const store = new SqlStore(options());
        const first = await startTc(t, { store, locks: new SqlLockManager(store) });
        const id = await workerOfNextBegin(t, first.port);
        await first.server.stop();
        const { rows } = await db.query(
          `SELECT expire FROM distributed_lock WHERE lock_key = 'dtx-worker-${id}'`,
        );
        assert.equal(Number(rows[0]?.expire), 0, 'the lease ends with the TC');
        const next = new SqlStore(options());
        const second = await startTc(t, { store: next, locks: new SqlLockManager(next) });
        assert.equal(
          await workerOfNextBegin(t, second.port),
          id,
          'not the next id along, as with a lease still running',
        );
      });

      it('a stopping TC hands back the recovery task locks it holds', async (t) => {
        await clear();
        const store = new SqlStore(options());
        const tc = await startTc(t, { store, locks: new SqlLockManager(store) });
        const held = async () =>
          (
            await db.query(
              "SELECT lock_key FROM distributed_lock WHERE lock_key NOT LIKE 'dtx-worker-%' AND expire > 0",
            )
          ).rows.map((r) => String(r.lock_key).trim());
        await until(async () => (await held()).length >= 4, 'recovery holding its four task locks');
        await tc.server.stop();
        assert.deepEqual(await held(), [], 'no lease left for another TC to wait out');
      });

      it('two TCs on one store: a commit on one and a rollback on the other decide each transaction once', async (t) => {
        await clear();
        const tc = async () => {
          const store = new SqlStore(options());
          return startTc(t, { store, locks: new SqlLockManager(store) });
        };
        const [a, b] = [await tc(), await tc()];
        const [tmA, tmB] = [await Tm.connect(t, a.port), await Tm.connect(t, b.port)];
        // The same participant application on both TCs, so either can drive its phase two.
        const [rmA, rmB] = [await connectRm(t, a.port, 'race-app'), await connectRm(t, b.port, 'race-app')];
        const xids: string[] = [];
        const branches = new Map<string, bigint>();
        for (let i = 0; i < 30; i++) {
          const xid = await tmA.begin();
          xids.push(xid);
          branches.set(xid, await rmA.registerBranchOk(xid, { branchType: BranchType.TCC }));
        }
        const answers = await Promise.all(
          xids.map(async (xid) => {
            const [c, r] = await Promise.all([tmA.commit(xid), tmB.rollback(xid)]);
            return { xid, commit: c.globalStatus, rollback: r.globalStatus };
          }),
        );
        await until(async () => (await count('global_table')) === 0, 'every transaction finished');
        for (const { xid, commit, rollback } of answers) {
          const id = branches.get(xid);
          const calls = [...rmA.calls, ...rmB.calls].filter((c) => c.branchId === id);
          const commits = calls.filter((c) => c.kind === 'commit').length;
          const rollbacks = calls.length - commits;
          assert.ok(commits + rollbacks > 0, `${xid}: no phase two at all`);
          assert.ok(
            commits === 0 || rollbacks === 0,
            `${xid}: its branch was both committed and rolled back`,
          );
          const decided = commits > 0 ? 'commit' : 'rollback';
          // The losing request answers the winner's status (or Finished once it is gone).
          for (const answered of [commit, rollback]) {
            const s = decisionOf(answered);
            if (s !== 'other')
              assert.equal(s, decided, `${xid}: answered ${statusText(answered)}, decided ${decided}`);
            else assert.equal(answered, GlobalStatus.Finished);
          }
        }
      });

      it('reads rows written the way a Java Seata TC writes them', async () => {
        await clear();
        const { make, closeAll } = stores();
        try {
          await db.query(
            `INSERT INTO global_table (xid, transaction_id, status, application_id, transaction_service_group, transaction_name, timeout, begin_time, application_data, gmt_create, gmt_modified)
             VALUES ('192.168.1.5:8091:9223372036854775807', 9223372036854775807, 4, 'seata-app', 'my_group', 'java-tx', 60000, 1700000000000, NULL, now(), now())`,
          );
          await db.query(
            `INSERT INTO branch_table (branch_id, xid, transaction_id, resource_group_id, resource_id, branch_type, status, client_id, application_data, gmt_create, gmt_modified)
             VALUES (9223372036854775806, '192.168.1.5:8091:9223372036854775807', 9223372036854775807, NULL, '${dialect.jdbcUrl}/db', 'SAGA', 2, 'seata-app:192.168.1.9:40000', '{"k":1}', ${dialect.nowMicros}, ${dialect.nowMicros})`,
          );
          const s = make();
          const [g] = await s.open();
          assert.equal(g?.transactionId, 9223372036854775807n);
          assert.equal(g?.status, GlobalStatus.Rollbacking);
          assert.equal(g?.active, false);
          assert.equal(g?.branches[0]?.branchId, 9223372036854775806n);
          assert.equal(g?.branches[0]?.branchType, BranchType.SAGA);
          assert.ok(
            Math.abs((g?.branches[0]?.beginTime ?? 0) - Date.now()) < 60_000,
            'beginTime from gmt_create',
          );
        } finally {
          await closeAll();
        }
      });

      it('keeps task-lock owners longer than lock_value apart', async () => {
        await clear();
        const { make, closeAll } = stores();
        try {
          const a = make();
          const b = make();
          await a.open();
          await b.open();
          const ownerA = 'fe80::1ff:fe23:4567:890a:8091';
          const ownerB = 'fe80::1ff:fe23:4567:890b:8091';
          assert.equal(await a.acquireTaskLock('TxTimeoutCheck', ownerA, 5000), true);
          assert.equal(await b.acquireTaskLock('TxTimeoutCheck', ownerB, 5000), false);
          assert.equal(
            await a.acquireTaskLock('TxTimeoutCheck', ownerA, 5000),
            true,
            'renewal by the same long owner',
          );
          const { rows } = await db.query(
            "SELECT lock_value FROM distributed_lock WHERE lock_key = 'TxTimeoutCheck'",
          );
          assert.ok(String(rows[0]?.lock_value).length <= 20);
        } finally {
          await closeAll();
        }
      });
    });
  });
}
