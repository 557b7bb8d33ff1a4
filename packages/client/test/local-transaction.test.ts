/**
 * The initiator's own database transaction bound to the global one (`local:`), on PostgreSQL
 * with pgLocalTransaction and on MariaDB with mysqlLocalTransaction: the local insert becomes
 * visible only when the global transaction commits; fn throwing rolls both back; a global
 * timeout before the local commit rolls the local insert back. One body, run against each.
 */
import assert from 'node:assert/strict';
import { after, before, describe, it, type TestContext } from 'node:test';
import { TransactionError } from '@dtx/core';
import type mysql from 'mysql2/promise';
import type pg from 'pg';
import {
  type DtxClient,
  defineTccAction,
  GlobalTransaction,
  getXid,
  type LocalTransaction,
  mysqlLocalTransaction,
  pgLocalTransaction,
} from '../src/index.js';
import {
  type MysqlScratch,
  mysqlScratch,
  type PgScratch,
  pgScratch,
  sleep,
  startClient,
  startTc,
  unavailable,
  until,
} from './helpers.js';

/** What the shared body needs from one database. */
interface LocalDb<H> {
  local: LocalTransaction<H>;
  /** Inserts an order row through the local transaction's handle. */
  insert(handle: H, id: string, xid: string): Promise<void>;
  /** The order ids visible from outside the transaction. */
  committedIds(): Promise<string[]>;
}

const pgPending = await pgScratch();
const mysqlPending = await mysqlScratch();
after(async () => {
  if (typeof pgPending !== 'string') await pgPending.drop();
  if (typeof mysqlPending !== 'string') await mysqlPending.drop();
});

function localTransactionSuite<H>(label: string, skip: string | false, open: () => Promise<LocalDb<H>>) {
  describe(`globalTransaction with local: ${label}`, { skip }, () => {
    let db: LocalDb<H>;
    before(async () => {
      db = await open();
    });

    async function setup(t: TestContext, name: string) {
      const tc = await startTc(t);
      const client = await startClient(t, tc.address, { applicationId: `local-${label}-${name}` });
      const seen = { try: 0, confirm: 0, cancel: 0 };
      const action = defineTccAction<null, void>(client, {
        name: `local-${name}`,
        try: () => {
          seen.try++;
        },
        confirm: () => {
          seen.confirm++;
          return true;
        },
        cancel: () => {
          seen.cancel++;
          return true;
        },
      });
      return { client, action, seen };
    }

    function run<T>(client: DtxClient, fn: (h: H) => Promise<T>, timeout?: number): Promise<T> {
      return client.globalTransaction(fn, { local: db.local, ...(timeout ? { timeout } : {}) });
    }

    it('the local insert becomes visible only when the global transaction commits', async (t) => {
      const { client, action, seen } = await setup(t, 'commit');
      let visibleInside: string[] = [];
      await run(client, async (h) => {
        await db.insert(h, 'order-commit', getXid() as string);
        await action(null);
        visibleInside = await db.committedIds();
      });
      assert.ok(!visibleInside.includes('order-commit'), 'not visible before the commit');
      assert.ok((await db.committedIds()).includes('order-commit'), 'visible after the commit');
      assert.deepEqual(seen, { try: 1, confirm: 1, cancel: 0 });
    });

    it('fn throwing rolls back both the local insert and the global transaction', async (t) => {
      const { client, action, seen } = await setup(t, 'throw');
      await assert.rejects(
        run(client, async (h) => {
          await db.insert(h, 'order-throw', getXid() as string);
          await action(null);
          throw new Error('declined');
        }),
        /declined/,
      );
      assert.ok(!(await db.committedIds()).includes('order-throw'));
      assert.deepEqual(seen, { try: 1, confirm: 0, cancel: 1 });
    });

    it('a global timeout before the local commit rolls the local insert back', async (t) => {
      const { client, action, seen } = await setup(t, 'timeout');
      const err = await run(
        client,
        async (h) => {
          await db.insert(h, 'order-timeout', getXid() as string);
          await action(null);
          await sleep(2500);
        },
        1000,
      ).then(
        () => assert.fail('a timed-out transaction resolved'),
        (e: unknown) => e,
      );
      assert.ok(err instanceof TransactionError, String(err));
      assert.ok(
        err.code === 'TransactionTimeout' || err.code === 'GlobalTransactionNotActive',
        `${err.code}: ${err.message}`,
      );
      assert.ok(!(await db.committedIds()).includes('order-timeout'));
      await until(() => seen.cancel === 1, 'the branch to be cancelled');
      assert.equal(seen.confirm, 0);
    });

    it('a global transaction the TC ended early (forced back) is refused before the local commit', async (t) => {
      const { client, seen, action } = await setup(t, 'ended');
      await assert.rejects(
        run(client, async (h) => {
          await db.insert(h, 'order-ended', getXid() as string);
          await action(null);
          // Another handle on the same XID ends it, as an operator's rollback would.
          const other = new GlobalTransaction(client);
          other.xid = getXid();
          await other.rollback();
        }),
        (err: unknown) => err instanceof TransactionError && err.code === 'GlobalTransactionNotActive',
      );
      assert.ok(!(await db.committedIds()).includes('order-ended'));
      assert.equal(seen.cancel, 1);
    });
  });
}

localTransactionSuite<pg.PoolClient>(
  'pgLocalTransaction',
  typeof pgPending === 'string' ? unavailable(pgPending) : false,
  async () => {
    const s = pgPending as PgScratch;
    await s.pool.query('CREATE TABLE orders (id VARCHAR(64) PRIMARY KEY, xid VARCHAR(128) NOT NULL)');
    return {
      local: pgLocalTransaction(s.pool),
      async insert(client, id, xid) {
        await client.query('INSERT INTO orders (id, xid) VALUES ($1, $2)', [id, xid]);
      },
      async committedIds() {
        return (await s.pool.query<{ id: string }>('SELECT id FROM orders ORDER BY id')).rows.map(
          (r) => r.id,
        );
      },
    };
  },
);

localTransactionSuite<mysql.PoolConnection>(
  'mysqlLocalTransaction',
  typeof mysqlPending === 'string' ? unavailable(mysqlPending) : false,
  async () => {
    const s = mysqlPending as MysqlScratch;
    await s.pool.query(
      'CREATE TABLE orders (id VARCHAR(64) PRIMARY KEY, xid VARCHAR(128) NOT NULL) ENGINE=InnoDB',
    );
    return {
      local: mysqlLocalTransaction(s.pool),
      async insert(conn, id, xid) {
        await conn.query('INSERT INTO orders (id, xid) VALUES (?, ?)', [id, xid]);
      },
      async committedIds() {
        const [rows] = await s.pool.query('SELECT id FROM orders ORDER BY id');
        return (rows as Array<{ id: string }>).map((r) => r.id);
      },
    };
  },
);
