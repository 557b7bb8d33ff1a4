/**
 * SqlStore and SqlLockManager on PostgreSQL. The service comes from PGHOST, PGPORT, PGUSER,
 * PGPASSWORD and PGDATABASE (defaults 127.0.0.1:5432, user postgres then root, database test).
 * The file works in its own schema, dropped at the end, so it can run beside other test files.
 * An unreachable server skips the file, or fails it when CI=true.
 */
import assert from 'node:assert/strict';
import { randomBytes } from 'node:crypto';
import { createPostgresDialect } from '../src/index.js';
import { describeSqlStoreCases } from './sql-store-cases.js';

const env = process.env;
const HOST = env.PGHOST ?? '127.0.0.1';
const PORT = Number(env.PGPORT ?? 5432);
const DATABASE = env.PGDATABASE ?? 'test';
const PASSWORD = env.PGPASSWORD ?? '';
const SCHEMA = `dtx_t_${randomBytes(5).toString('hex')}`;
/** Connections of this file's stores carry this name, so the blip test kills only them. */
const APP = `dtx-test-${SCHEMA}`;

function admin(user: string, schema: string | null) {
  return createPostgresDialect({
    host: HOST,
    port: PORT,
    user,
    password: PASSWORD,
    database: DATABASE,
    poolSize: 2,
    driver: { connectionTimeoutMillis: 3000, ...(schema ? { options: `-c search_path=${schema}` } : {}) },
  });
}

/** The first user that can connect (trust auth: PGUSER, else postgres, else root). */
async function probe(): Promise<{ user: string } | { reason: string }> {
  const reasons: string[] = [];
  for (const user of env.PGUSER ? [env.PGUSER] : ['postgres', 'root']) {
    const db = admin(user, null);
    try {
      await db.query('SELECT 1');
      return { user };
    } catch (err) {
      reasons.push(`${user}: ${(err as Error).message}`);
    } finally {
      await db.end().catch(() => {});
    }
  }
  return { reason: reasons.join('; ') };
}

const found = await probe();
const skip =
  'reason' in found
    ? `PostgreSQL is not reachable at ${HOST}:${PORT}/${DATABASE} (${found.reason}); set PGHOST, PGPORT, PGUSER, PGDATABASE`
    : false;
const USER = 'user' in found ? found.user : 'postgres';

describeSqlStoreCases(
  {
    name: 'postgres',
    label: 'PostgreSQL',
    skip,
    connection: {
      host: HOST,
      port: PORT,
      user: USER,
      password: PASSWORD,
      database: DATABASE,
      driver: { options: `-c search_path=${SCHEMA}`, application_name: APP },
    },
    connectTimeout: (ms) => ({ connectionTimeoutMillis: ms }),
    jdbcUrl: 'jdbc:postgresql://pg',
    nowMicros: 'now()',
    renameTable: (from, to) => `ALTER TABLE ${from} RENAME TO ${to}`,
    count: async (db, table) =>
      (await db.query(`SELECT count(*)::int AS n FROM ${table}`)).rows[0]?.n as number,
    async checkCatalog(db) {
      const { rows } = await db.query(
        `SELECT table_name, column_name, data_type, character_maximum_length AS len, is_nullable
         FROM information_schema.columns WHERE table_schema = $1 ORDER BY table_name, ordinal_position`,
        [SCHEMA],
      );
      const cols = (table: string) =>
        rows
          .filter((r) => r.table_name === table)
          .map(
            (r) =>
              `${r.column_name} ${r.data_type}${r.len ? `(${r.len})` : ''}${r.is_nullable === 'NO' ? ' not null' : ''}`,
          );
      const ts = 'timestamp without time zone';
      assert.deepEqual(cols('global_table'), [
        'xid character varying(128) not null',
        'transaction_id bigint',
        'status smallint not null',
        'application_id character varying(32)',
        'transaction_service_group character varying(32)',
        'transaction_name character varying(128)',
        'timeout integer',
        'begin_time bigint',
        'application_data character varying(2000)',
        `gmt_create ${ts}`,
        `gmt_modified ${ts}`,
      ]);
      assert.deepEqual(cols('branch_table'), [
        'branch_id bigint not null',
        'xid character varying(128) not null',
        'transaction_id bigint',
        'resource_group_id character varying(32)',
        'resource_id character varying(256)',
        'branch_type character varying(8)',
        'status smallint',
        'client_id character varying(64)',
        'application_data character varying(2000)',
        `gmt_create ${ts}`,
        `gmt_modified ${ts}`,
      ]);
      assert.deepEqual(cols('lock_table'), [
        'row_key character varying(128) not null',
        'xid character varying(128)',
        'transaction_id bigint',
        'branch_id bigint not null',
        'resource_id character varying(256)',
        'table_name character varying(32)',
        'pk character varying(36)',
        'status smallint not null',
        `gmt_create ${ts}`,
        `gmt_modified ${ts}`,
      ]);
      assert.deepEqual(cols('distributed_lock'), [
        'lock_key character varying(20) not null',
        'lock_value character varying(20) not null',
        'expire bigint not null',
      ]);
      const precision = await db.query(
        `SELECT table_name, datetime_precision AS p FROM information_schema.columns
        WHERE table_schema = $1 AND column_name = 'gmt_create' ORDER BY table_name`,
        [SCHEMA],
      );
      assert.deepEqual(
        precision.rows.map((r) => `${r.table_name}:${r.p}`),
        ['branch_table:6', 'global_table:0', 'lock_table:0'],
      );
      const idx = await db.query(
        'SELECT indexname, indexdef FROM pg_indexes WHERE schemaname = $1 ORDER BY indexname',
        [SCHEMA],
      );
      assert.deepEqual(
        idx.rows.map((r) => r.indexname),
        [
          'idx_branch_id',
          'idx_lock_table_xid',
          'idx_status',
          'idx_status_gmt_modified',
          'idx_transaction_id',
          'idx_xid',
          'pk_branch_table',
          'pk_distributed_lock_table',
          'pk_global_table',
          'pk_lock_table',
        ],
      );
    },
  },
  () => {
    const db = admin(USER, SCHEMA);
    return {
      db,
      async create() {
        await db.query(`CREATE SCHEMA ${SCHEMA}`);
      },
      async dispose() {
        await db.query(`DROP SCHEMA IF EXISTS ${SCHEMA} CASCADE`).catch(() => {});
        await db.end();
      },
      async killConnections() {
        const killed = await db.query(
          'SELECT pg_terminate_backend(pid) AS ok FROM pg_stat_activity WHERE application_name = $1 AND pid <> pg_backend_pid()',
          [APP],
        );
        return killed.rows.length;
      },
    };
  },
);
