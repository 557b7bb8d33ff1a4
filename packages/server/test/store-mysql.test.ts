/**
 * SqlStore and SqlLockManager on MySQL or MariaDB. The service comes from MYSQL_HOST, MYSQL_PORT,
 * MYSQL_USER, MYSQL_PASSWORD and MYSQL_DATABASE (defaults 127.0.0.1:3306, root, no password,
 * test). The file works in its own database, dropped at the end, so it can run beside other test
 * files. An unreachable server skips the file, or fails it when CI=true.
 */
import assert from 'node:assert/strict';
import { randomBytes } from 'node:crypto';
import { createMysqlDialect } from '../src/index.js';
import { describeSqlStoreCases } from './sql-store-cases.js';

const env = process.env;
const HOST = env.MYSQL_HOST ?? '127.0.0.1';
const PORT = Number(env.MYSQL_PORT ?? 3306);
const USER = env.MYSQL_USER ?? 'root';
const PASSWORD = env.MYSQL_PASSWORD ?? '';
const HOME_DATABASE = env.MYSQL_DATABASE ?? 'test';
/** This file's own database. */
const DATABASE = `dtx_t_${randomBytes(5).toString('hex')}`;

function admin(database: string) {
  return createMysqlDialect({
    host: HOST,
    port: PORT,
    user: USER,
    password: PASSWORD,
    database,
    poolSize: 2,
    driver: { connectTimeout: 3000 },
  });
}

async function probe(): Promise<string | null> {
  const db = admin(HOME_DATABASE);
  try {
    await db.query('SELECT 1');
    return null;
  } catch (err) {
    return (err as Error).message;
  } finally {
    await db.end().catch(() => {});
  }
}

const failure = await probe();
const skip =
  failure !== null
    ? `MySQL/MariaDB is not reachable at ${USER}@${HOST}:${PORT}/${HOME_DATABASE} (${failure}); set MYSQL_HOST, MYSQL_PORT, MYSQL_USER, MYSQL_PASSWORD, MYSQL_DATABASE`
    : false;

describeSqlStoreCases(
  {
    name: 'mysql',
    label: 'MySQL',
    skip,
    connection: {
      host: HOST,
      port: PORT,
      user: USER,
      password: PASSWORD,
      database: DATABASE,
    },
    connectTimeout: (ms) => ({ connectTimeout: ms }),
    jdbcUrl: 'jdbc:mysql://db',
    nowMicros: 'now(6)',
    renameTable: (from, to) => `RENAME TABLE ${from} TO ${to}`,
    count: async (db, table) => Number((await db.query(`SELECT count(*) AS n FROM ${table}`)).rows[0]?.n),
    async checkCatalog(db) {
      const { rows } = await db.query(
        `SELECT TABLE_NAME AS t, COLUMN_NAME AS c, DATA_TYPE AS type, CHARACTER_MAXIMUM_LENGTH AS len,
              DATETIME_PRECISION AS fsp, IS_NULLABLE AS nullable, COLUMN_DEFAULT AS dflt
         FROM information_schema.COLUMNS WHERE TABLE_SCHEMA = ? ORDER BY TABLE_NAME, ORDINAL_POSITION`,
        [DATABASE],
      );
      const cols = (table: string) =>
        rows
          .filter((r) => r.t === table)
          .map(
            (r) =>
              `${r.c} ${r.type}${r.len ? `(${r.len})` : ''}${r.type === 'datetime' ? `(${r.fsp})` : ''}${r.nullable === 'NO' ? ' not null' : ''}`,
          );
      assert.deepEqual(cols('global_table'), [
        'xid varchar(128) not null',
        'transaction_id bigint',
        'status tinyint not null',
        'application_id varchar(32)',
        'transaction_service_group varchar(32)',
        'transaction_name varchar(128)',
        'timeout int',
        'begin_time bigint',
        'application_data varchar(2000)',
        'gmt_create datetime(0)',
        'gmt_modified datetime(0)',
      ]);
      assert.deepEqual(cols('branch_table'), [
        'branch_id bigint not null',
        'xid varchar(128) not null',
        'transaction_id bigint',
        'resource_group_id varchar(32)',
        'resource_id varchar(256)',
        'branch_type varchar(8)',
        'status tinyint',
        'client_id varchar(64)',
        'application_data varchar(2000)',
        'gmt_create datetime(6)',
        'gmt_modified datetime(6)',
      ]);
      assert.deepEqual(cols('lock_table'), [
        'row_key varchar(128) not null',
        'xid varchar(128)',
        'transaction_id bigint',
        'branch_id bigint not null',
        'resource_id varchar(256)',
        'table_name varchar(32)',
        'pk varchar(36)',
        'status tinyint not null',
        'gmt_create datetime(0)',
        'gmt_modified datetime(0)',
      ]);
      assert.deepEqual(cols('distributed_lock'), [
        'lock_key char(20) not null',
        'lock_value varchar(20) not null',
        'expire bigint',
      ]);
      const idx = await db.query(
        `SELECT TABLE_NAME AS t, INDEX_NAME AS i, GROUP_CONCAT(COLUMN_NAME ORDER BY SEQ_IN_INDEX) AS cols
         FROM information_schema.STATISTICS WHERE TABLE_SCHEMA = ? GROUP BY TABLE_NAME, INDEX_NAME ORDER BY TABLE_NAME, INDEX_NAME`,
        [DATABASE],
      );
      assert.deepEqual(
        idx.rows.map((r) => `${r.t}.${r.i}(${r.cols})`),
        [
          'branch_table.idx_xid(xid)',
          'branch_table.PRIMARY(branch_id)',
          'distributed_lock.PRIMARY(lock_key)',
          'global_table.idx_status_gmt_modified(status,gmt_modified)',
          'global_table.idx_transaction_id(transaction_id)',
          'global_table.PRIMARY(xid)',
          'lock_table.idx_branch_id(branch_id)',
          'lock_table.idx_status(status)',
          'lock_table.idx_xid(xid)',
          'lock_table.PRIMARY(row_key)',
        ],
      );
      const charset = await db.query(
        `SELECT DISTINCT CCSA.CHARACTER_SET_NAME AS cs FROM information_schema.TABLES T
         JOIN information_schema.COLLATION_CHARACTER_SET_APPLICABILITY CCSA ON CCSA.COLLATION_NAME = T.TABLE_COLLATION
        WHERE T.TABLE_SCHEMA = ?`,
        [DATABASE],
      );
      assert.deepEqual(
        charset.rows.map((r) => r.cs),
        ['utf8mb4'],
      );
    },
  },
  () => {
    const home = admin(HOME_DATABASE);
    const db = admin(DATABASE);
    return {
      db,
      async create() {
        await home.query(`CREATE DATABASE ${DATABASE} CHARACTER SET utf8mb4`);
      },
      async dispose() {
        await db.end();
        await home.query(`DROP DATABASE IF EXISTS ${DATABASE}`).catch(() => {});
        await home.end();
      },
      async killConnections(s) {
        // Every connection of the store's pool (poolSize 4): hold them all to learn their ids.
        const held = await Promise.all(Array.from({ length: 4 }, () => s.db.connect()));
        const ids = await Promise.all(
          held.map(async (c) => Number((await c.query('SELECT CONNECTION_ID() AS id')).rows[0]?.id)),
        );
        for (const c of held) c.release();
        let killed = 0;
        for (const id of ids) {
          await home.query(`KILL ${id}`);
          killed++;
        }
        return killed;
      },
    };
  },
);
