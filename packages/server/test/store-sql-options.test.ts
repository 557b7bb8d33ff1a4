/** SQL store pieces that need no database: options, URLs, the schema text, batch planning. */
import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { ConfigError, TransactionError } from '@dtx/core';
import { BranchType } from '@dtx/protocol';
import {
  createPostgresDialect,
  DEFAULT_SQL_STORE_OPTIONS,
  type GlobalSession,
  parseSqlStoreOptions,
  type SqlDialect,
  SqlStore,
  schemaScript,
  schemaSql,
  taskLockValue,
} from '../src/index.js';
import { BatchPlanner, type Change, toChange } from '../src/store/sql/batch-plan.js';
import { connectOptions } from '../src/store/sql/sql-store.js';

function rejectsKey(fn: () => unknown, key: string, pattern?: RegExp): void {
  assert.throws(fn, (err: unknown) => {
    assert.ok(err instanceof ConfigError, String(err));
    assert.equal(err.key, key);
    if (pattern) assert.match(err.message, pattern);
    return true;
  });
}

describe('SqlStore options', () => {
  it('defaults to Seata’s table names, a pool of 8 and no schema creation', () => {
    const o = parseSqlStoreOptions();
    assert.deepEqual(o, { ...DEFAULT_SQL_STORE_OPTIONS });
    assert.equal(o.poolSize, 8);
    assert.equal(o.createSchema, false);
    assert.deepEqual(
      [o.globalTable, o.branchTable, o.lockTable, o.distributedLockTable],
      ['global_table', 'branch_table', 'lock_table', 'distributed_lock'],
    );
    assert.deepEqual(connectOptions(parseSqlStoreOptions({ dialect: 'postgres' })), {
      host: '127.0.0.1',
      port: 5432,
      user: 'postgres',
      password: '',
      database: 'seata',
      poolSize: 8,
      driver: {},
    });
    assert.equal(connectOptions(o).port, 3306);
    assert.equal(connectOptions(o).user, 'root');
  });

  it('names the bad key', () => {
    rejectsKey(() => parseSqlStoreOptions({ poolSize: 0 }), 'store.db.poolSize');
    rejectsKey(() => parseSqlStoreOptions({ dialect: 'oracle' as never }), 'store.db.dialect');
    rejectsKey(
      () => parseSqlStoreOptions({ globalTable: 'global_table; DROP TABLE x' }),
      'store.db.globalTable',
    );
    rejectsKey(() => parseSqlStoreOptions({ port: 70000 }), 'store.db.port');
    rejectsKey(() => parseSqlStoreOptions({ maxConn: 4 } as never), 'store.db.maxConn', /not an option/);
    rejectsKey(() => parseSqlStoreOptions({ url: 'jdbc:oracle:thin:@db:1521/x' }), 'store.db.url');
    rejectsKey(
      () => parseSqlStoreOptions({ dialect: 'mysql', url: 'postgres://db/x' }),
      'store.db.url',
      /postgres URL/,
    );
    assert.equal(
      parseSqlStoreOptions({ globalTable: 'seata.global_table' }).globalTable,
      'seata.global_table',
    );
  });

  it("reads Seata's JDBC store.db.url, with user and password set apart", () => {
    const mysql = connectOptions(
      parseSqlStoreOptions({
        url: 'jdbc:mysql://db.internal:3307/seata?rewriteBatchedStatements=true',
        user: 'seata',
        password: 's3cret',
      }),
    );
    assert.deepEqual(
      {
        host: mysql.host,
        port: mysql.port,
        database: mysql.database,
        user: mysql.user,
        password: mysql.password,
      },
      { host: 'db.internal', port: 3307, database: 'seata', user: 'seata', password: 's3cret' },
    );
    const pg = connectOptions(
      parseSqlStoreOptions({ dialect: 'postgres', url: 'jdbc:postgresql://[::1]/tc' }),
    );
    assert.deepEqual([pg.host, pg.port, pg.database, pg.user], ['::1', 5432, 'tc', 'postgres']);
    const withCredentials = connectOptions(
      parseSqlStoreOptions({ dialect: 'postgres', url: 'postgres://u%40x:p%3Aw@pg:6543/d' }),
    );
    assert.deepEqual(
      [withCredentials.user, withCredentials.password, withCredentials.port],
      ['u@x', 'p:w', 6543],
    );
    const override = connectOptions(
      parseSqlStoreOptions({ dialect: 'postgres', url: 'postgres://u:p@pg/d', user: 'other' }),
    );
    assert.deepEqual([override.user, override.password], ['other', 'p']);
  });

  it('fits task-lock owners into lock_value’s 20 characters, keeping them apart', () => {
    assert.equal(taskLockValue('10.0.0.7:8091'), '10.0.0.7:8091');
    const a = taskLockValue('fe80::1ff:fe23:4567:890a:8091');
    const b = taskLockValue('fe80::1ff:fe23:4567:890b:8091');
    assert.equal(a.length, 20);
    assert.notEqual(a, b);
    assert.equal(a, taskLockValue('fe80::1ff:fe23:4567:890a:8091'));
  });
});

describe('schemaSql', () => {
  it("prints Seata's four tables and seed rows for each database", () => {
    for (const dialect of ['mysql', 'postgres'] as const) {
      const sql = schemaSql(dialect);
      assert.equal(sql.filter((s) => s.startsWith('CREATE TABLE IF NOT EXISTS')).length, 4);
      assert.equal(sql.filter((s) => s.startsWith('INSERT INTO')).length, 4);
      for (const key of ['AsyncCommitting', 'RetryCommitting', 'RetryRollbacking', 'TxTimeoutCheck']) {
        assert.ok(
          sql.some((s) => s.includes(`'${key}', ' ', 0`)),
          `${dialect} seeds ${key}`,
        );
      }
      const script = schemaScript(dialect);
      assert.ok(script.endsWith(';\n'));
    }
    const mysql = schemaSql('mysql').join('\n');
    assert.match(mysql, /`status`\s+TINYINT\s+NOT NULL DEFAULT '0' COMMENT '0:locked ,1:rollbacking'/);
    assert.match(mysql, /`lock_key`\s+CHAR\(20\) NOT NULL/);
    assert.match(mysql, /DEFAULT CHARSET = utf8mb4/);
    assert.match(mysql, /ON DUPLICATE KEY UPDATE lock_key = lock_key/);
    const pg = schemaSql('postgres').join('\n');
    assert.match(pg, /gmt_create\s+TIMESTAMP\(6\)/);
    assert.match(pg, /ON CONFLICT \(lock_key\) DO NOTHING/);
    assert.match(pg, /CONSTRAINT pk_distributed_lock_table PRIMARY KEY \(lock_key\)/);
  });

  it('uses the configured table names, and unique PostgreSQL index names for them', () => {
    const tables = {
      globalTable: 'tc.g',
      branchTable: 'tc.b',
      lockTable: 'tc.l',
      distributedLockTable: 'tc.d',
    };
    const pg = schemaSql('postgres', tables).join('\n');
    assert.doesNotMatch(pg, /global_table|branch_table|lock_table|distributed_lock/);
    assert.match(pg, /CREATE INDEX IF NOT EXISTS idx_b_xid ON tc\.b \(xid\)/);
    assert.match(pg, /CREATE INDEX IF NOT EXISTS idx_l_xid ON tc\.l \(xid\)/);
    assert.match(pg, /CONSTRAINT pk_g PRIMARY KEY/);
    const mysql = schemaSql('mysql', tables).join('\n');
    assert.match(mysql, /CREATE TABLE IF NOT EXISTS `tc`\.`g`/);
    assert.throws(() => schemaSql('mysql', { globalTable: 'x`y' }));
  });
});

describe('batch planning', () => {
  let n = 1n << 62n;
  const global = (): GlobalSession => {
    n += 10n;
    return {
      xid: `h:1:${n}`,
      transactionId: n,
      status: 1,
      applicationId: null,
      transactionServiceGroup: null,
      transactionName: null,
      timeout: 1000,
      beginTime: 1,
      applicationData: null,
      active: true,
      branches: [],
    };
  };
  const branchAdd = (g: GlobalSession, k: bigint): Change =>
    toChange({
      op: 'branchAdd',
      branch: {
        branchId: g.transactionId + k,
        xid: g.xid,
        transactionId: g.transactionId,
        resourceGroupId: null,
        resourceId: 'r',
        branchType: BranchType.AT,
        status: 1,
        clientId: 'c',
        applicationData: null,
        lockKey: 'ignored:1',
        beginTime: 0,
      },
    });

  it('writes each row once: inserts carry their last update, rows that begin and end in the batch only get deleted', () => {
    const [a, b] = [global(), global()];
    const p = new BatchPlanner();
    const changes: Change[] = [
      toChange({ op: 'globalAdd', global: a }),
      toChange({ op: 'globalAdd', global: b }),
      branchAdd(a, 1n),
      branchAdd(b, 1n),
      toChange({ op: 'globalUpdate', xid: a.xid, status: 2, active: false }),
      toChange({ op: 'globalUpdate', xid: a.xid, status: 3, active: false }),
      toChange({
        op: 'branchUpdate',
        xid: a.xid,
        branchId: a.transactionId + 1n,
        status: 2,
        applicationData: 'x',
      }),
      toChange({ op: 'branchRemove', xid: b.xid, branchId: b.transactionId + 1n }),
      toChange({ op: 'globalRemove', xid: b.xid }),
    ];
    for (const c of changes) assert.equal(p.accept(c), true);
    const plan = p.plan();
    assert.deepEqual(
      plan.insertGlobals.map((g) => g.xid),
      [a.xid],
    );
    assert.deepEqual(
      plan.insertBranches.map((x) => x.branchId),
      [a.transactionId + 1n],
    );
    assert.equal(plan.insertBranches[0]?.branchType, 'AT');
    // Rows inserted in the batch take their last update into the insert: one statement per row.
    assert.equal(plan.insertGlobals[0]?.status, 3);
    assert.deepEqual([plan.insertBranches[0]?.status, plan.insertBranches[0]?.applicationData], [2, 'x']);
    assert.deepEqual(plan.updateGlobals, []);
    assert.deepEqual(plan.updateBranches, []);
    assert.deepEqual(plan.deleteBranches, [], 'covered by the delete of their global row');
    assert.deepEqual(plan.deleteGlobals, [b.xid]);
  });

  it('updates rows of earlier batches with their last values, and deletes them', () => {
    const g = global();
    const p = new BatchPlanner();
    for (const c of [
      toChange({ op: 'globalUpdate', xid: g.xid, status: 2, active: false }),
      toChange({
        op: 'branchUpdate',
        xid: g.xid,
        branchId: g.transactionId + 1n,
        status: 2,
        applicationData: null,
      }),
      toChange({ op: 'globalUpdate', xid: g.xid, status: 9, active: false }),
      toChange({
        op: 'branchUpdate',
        xid: g.xid,
        branchId: g.transactionId + 2n,
        status: 5,
        applicationData: 'y',
      }),
      toChange({ op: 'branchRemove', xid: g.xid, branchId: g.transactionId + 2n }),
    ])
      assert.equal(p.accept(c), true);
    const plan = p.plan();
    assert.deepEqual(plan.updateGlobals, [{ xid: g.xid, status: 9 }]);
    assert.deepEqual(plan.updateBranches, [
      { branchId: g.transactionId + 1n, status: 2, applicationData: null },
    ]);
    assert.deepEqual(plan.deleteBranches, [g.transactionId + 2n]);
  });

  it('starts a new batch where reordering would change the outcome', () => {
    const g = global();
    const p = new BatchPlanner();
    assert.equal(p.accept(toChange({ op: 'globalAdd', global: g })), true);
    assert.equal(p.accept(toChange({ op: 'globalRemove', xid: g.xid })), true);
    assert.equal(p.accept(toChange({ op: 'globalAdd', global: g })), false, 'an add after a remove');
    const q = new BatchPlanner();
    assert.equal(
      q.accept(
        toChange({
          op: 'branchUpdate',
          xid: g.xid,
          branchId: g.transactionId + 1n,
          status: 2,
          applicationData: null,
        }),
      ),
      true,
    );
    assert.equal(q.accept(branchAdd(g, 1n)), false, 'an add after an update of the same row');
    assert.equal(q.accept(branchAdd(g, 2n)), true);
    assert.equal(q.accept(branchAdd(g, 2n)), false, 'a second add');
  });

  it('refuses values that do not fit their columns when written, not when flushed', () => {
    const g = { ...global(), applicationId: 'x'.repeat(33) };
    assert.throws(
      () => toChange({ op: 'globalAdd', global: g }),
      (err: unknown) =>
        err instanceof TransactionError && err.code === 'FailedStore' && /application_id/.test(err.message),
    );
    assert.throws(() => toChange({ op: 'globalUpdate', xid: 'x', status: 300, active: false }), /status/);
    assert.doesNotThrow(() =>
      toChange({ op: 'globalAdd', global: { ...global(), applicationData: '😀'.repeat(2000) } }),
    );
  });
});

describe('SqlStore batches against a scripted database', () => {
  /** PostgreSQL spellings over a fake connection that fails the statements `fail` picks. */
  function scripted(fail: (sql: string, n: number) => Error | null) {
    const real = createPostgresDialect({
      host: '127.0.0.1',
      port: 1,
      user: 'x',
      password: '',
      database: 'x',
      poolSize: 1,
      driver: {},
    });
    const log: string[] = [];
    const query = async (sql: string) => {
      log.push(sql);
      const err = fail(sql, log.length);
      if (err) throw err;
      return { rows: [], affected: 1 };
    };
    const db: SqlDialect = {
      ...real,
      query,
      connect: async () => ({ query, release: () => {} }),
      end: () => real.end(),
    };
    return { db, log };
  }
  const sqlError = (code: string) => Object.assign(new Error(`sqlstate ${code}`), { code });
  const g = (): GlobalSession => ({
    xid: 'h:1:1',
    transactionId: 1n,
    status: 1,
    applicationId: null,
    transactionServiceGroup: null,
    transactionName: null,
    timeout: 1,
    beginTime: 1,
    applicationData: null,
    active: true,
    branches: [],
  });

  it('runs a batch that lost a deadlock again', async () => {
    let inserts = 0;
    const { db } = scripted((sql) =>
      sql.startsWith('INSERT') && ++inserts === 1 ? sqlError('40P01') : null,
    );
    const store = new SqlStore({ dialect: 'postgres' }, db);
    await store.open();
    await store.write({ op: 'globalAdd', global: g() }, true);
    assert.equal(inserts, 2);
    assert.deepEqual([store.stats.batches, store.stats.failedBatches], [1, 0]);
    await store.close();
  });

  it('fails a batch on any other error, and runs the next one', async () => {
    let failNext = true;
    const { db, log } = scripted((sql) => {
      if (!sql.startsWith('INSERT') && !sql.startsWith('WITH')) return null;
      const fail = failNext;
      failNext = false;
      return fail ? sqlError('53100') : null; // disk_full
    });
    const store = new SqlStore({ dialect: 'postgres' }, db);
    await store.open();
    const first = g();
    const results = await Promise.allSettled([
      store.write({ op: 'globalAdd', global: first }, true),
      store.write({ op: 'globalUpdate', xid: first.xid, status: 2, active: false }, false),
    ]);
    for (const r of results) {
      assert.equal(r.status, 'rejected');
      const err = (r as PromiseRejectedResult).reason as TransactionError;
      assert.equal(err.code, 'FailedStore');
      assert.equal((err.cause as Error).message, 'sqlstate 53100');
    }
    await store.write({ op: 'globalAdd', global: { ...g(), xid: 'h:1:2' } }, true);
    assert.deepEqual([store.stats.batches, store.stats.failedBatches], [1, 1]);
    assert.match(log.at(-1) as string, /^INSERT INTO global_table/);
    await store.close();
  });

  it('rejects writes before open() and after close()', async () => {
    const { db } = scripted(() => null);
    const store = new SqlStore({ dialect: 'postgres' }, db);
    await assert.rejects(store.write({ op: 'globalRemove', xid: 'x' }, true), /not open/);
    await store.open();
    await store.close();
    await assert.rejects(store.write({ op: 'globalRemove', xid: 'x' }, true), /closed/);
    await store.close();
  });
});
