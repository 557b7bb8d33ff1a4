/**
 * PostgreSQL through node-postgres' Pool. Table names stay unquoted, as in Seata's
 * `script/server/db/postgresql.sql`, so PostgreSQL folds them to lower case exactly as it does for
 * a Java TC sharing the schema.
 */
import type pgTypes from 'pg';
import { lazyRequire } from '../../util/lazy-require.js';
import {
  checkTableName,
  type SqlConnection,
  type SqlConnectOptions,
  type SqlDialect,
  type SqlErrorKind,
} from './sql-dialect.js';

/** SQLSTATEs the store and the lock manager react to. */
const PG_ERRORS: Readonly<Record<string, SqlErrorKind>> = {
  '23505': 'duplicate', // unique_violation
  '40P01': 'deadlock', // deadlock_detected
  '55P03': 'deadlock', // lock_not_available
  '42P01': 'missingTable', // undefined_table
};

/** Opens a node-postgres pool (no connection is made until the first statement). */
export function createPostgresDialect(o: SqlConnectOptions): SqlDialect {
  const pg = lazyRequire<typeof pgTypes>('pg');
  const pool = new pg.Pool({
    host: o.host,
    port: o.port,
    user: o.user,
    password: o.password,
    database: o.database,
    max: o.poolSize,
    ...o.driver,
  });
  // An idle connection died (server restart, failover): the pool has dropped it and the next
  // statement dials a new one. Without a listener the 'error' event would kill the TC.
  pool.on('error', () => {});
  const ignore = () => {};

  return {
    name: 'postgres',
    maxParams: 65535,
    async query(sql, params = []) {
      const r = await pool.query(sql, params as unknown[]);
      return { rows: r.rows, affected: r.rowCount ?? 0 };
    },
    async connect(): Promise<SqlConnection> {
      const client = await pool.connect();
      // A checked-out client that loses its socket between statements emits 'error'.
      client.on('error', ignore);
      let released = false;
      return {
        async query(sql, params = []) {
          const r = await client.query(sql, params as unknown[]);
          return { rows: r.rows, affected: r.rowCount ?? 0 };
        },
        release(broken = false) {
          if (released) return;
          released = true;
          client.removeListener('error', ignore);
          client.release(broken ? true : undefined);
        },
      };
    },
    end: () => pool.end(),
    param: (n, type) => (type === undefined ? `$${n}` : `$${n}::${type}`),
    table: (name) => checkTableName(name),
    async begin(conn, readCommitted) {
      await conn.query(readCommitted ? 'BEGIN ISOLATION LEVEL READ COMMITTED' : 'BEGIN');
    },
    onConflict(key, columns) {
      if (columns.length === 0) return `ON CONFLICT (${key}) DO NOTHING`;
      return `ON CONFLICT (${key}) DO UPDATE SET ${columns.map((c) => `${c} = EXCLUDED.${c}`).join(', ')}`;
    },
    // now() is the transaction's start: every row of one batch gets the same time.
    now: () => 'now()',
    // TIMESTAMP has no zone: it was written in the session's TimeZone, and the cast reads it back in it.
    epochMs: (column) => `floor(extract(epoch from ${column}::timestamptz) * 1000)`,
    // The parts of a WITH share one snapshot and run in no fixed order: fine for disjoint rows.
    // A keyed (conditional) UPDATE returns its index when it changes its row; under READ
    // COMMITTED an UPDATE that finds its row changed by a transaction committed since the
    // snapshot re-checks its WHERE against the new version, so the condition holds on what is
    // actually overwritten.
    combine: (statements, keyed = new Set()) => {
      const parts = statements.map((s, i) => `w${i} AS (${keyed.has(i) ? `${s} RETURNING ${i} AS k` : s})`);
      const tail =
        keyed.size === 0 ? 'SELECT 1' : [...keyed].map((i) => `SELECT k FROM w${i}`).join(' UNION ALL ');
      return {
        sql: `WITH ${parts.join(', ')} ${tail}`,
        explicit: false,
        changed: (r) => new Set(keyed.size === 0 ? [] : r.rows.map((row) => Number(row.k))),
      };
    },
    classify(err) {
      const code = (err as { code?: unknown } | null)?.code;
      return (typeof code === 'string' && PG_ERRORS[code]) || 'other';
    },
  };
}
