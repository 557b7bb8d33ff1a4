/**
 * MySQL and MariaDB through mysql2's promise pool. Statements go over the text protocol with
 * mysql2's client-side escaping: a batch's multi-row statements have a different shape every
 * time, and server-side prepared statements would cost a PREPARE round trip and a cache entry
 * per shape. bigint values are written as bare integer literals, so ids above 2^53 stay exact.
 */
import type mysqlTypes from 'mysql2/promise';
import { lazyRequire } from '../../util/lazy-require.js';
import {
  checkTableName,
  type SqlConnection,
  type SqlConnectOptions,
  type SqlDialect,
  type SqlErrorKind,
  type SqlResult,
} from './sql-dialect.js';

/** Server error numbers the store and the lock manager react to. */
const MYSQL_ERRORS: Readonly<Record<number, SqlErrorKind>> = {
  1062: 'duplicate', // ER_DUP_ENTRY
  1213: 'deadlock', // ER_LOCK_DEADLOCK
  1205: 'deadlock', // ER_LOCK_WAIT_TIMEOUT
  1146: 'missingTable', // ER_NO_SUCH_TABLE
};

type Header = { affectedRows?: number };

function isHeader(x: unknown): x is Header {
  return (
    typeof x === 'object' && x !== null && !Array.isArray(x) && x.constructor?.name === 'ResultSetHeader'
  );
}

function result(res: unknown): SqlResult {
  if (Array.isArray(res)) {
    // A multi-statement script answers one header (or row list) per statement.
    if (res.length > 0 && res.some(isHeader))
      return {
        rows: [],
        affected: 0,
        statements: res.map((r) => (isHeader(r) ? (r.affectedRows ?? 0) : 0)),
      };
    return { rows: res as Record<string, unknown>[], affected: 0 };
  }
  return { rows: [], affected: (res as Header).affectedRows ?? 0 };
}

/** Opens a mysql2 pool (no connection is made until the first statement). */
export function createMysqlDialect(o: SqlConnectOptions): SqlDialect {
  const mysql = lazyRequire<typeof mysqlTypes>('mysql2/promise');
  const pool = mysql.createPool({
    host: o.host,
    port: o.port,
    user: o.user,
    password: o.password,
    database: o.database,
    connectionLimit: o.poolSize,
    charset: 'utf8mb4',
    ...o.driver,
    // Not overridable: BIGINT and DECIMAL come back as decimal strings (ids above 2^53 must not
    // pass through number), and a batch goes out as one script (see combine), every value in it
    // escaped by mysql2.
    supportBigNumbers: true,
    bigNumberStrings: true,
    multipleStatements: true,
  });
  // mysql2 escapes quotes with backslashes; under NO_BACKSLASH_ESCAPES that escaping would be
  // wrong, so every new connection turns the mode off for its own session. The statement is
  // queued before the connection is handed out.
  pool.on('connection', (conn) => {
    (conn as unknown as { query(sql: string, cb: () => void): void }).query(
      "SET SESSION sql_mode = REPLACE(@@SESSION.sql_mode, 'NO_BACKSLASH_ESCAPES', '')",
      () => {},
    );
  });

  return {
    name: 'mysql',
    maxParams: 65535,
    async query(sql, params = []) {
      const [res] = await pool.query(sql, params as unknown[]);
      return result(res);
    },
    async connect(): Promise<SqlConnection> {
      const conn = await pool.getConnection();
      let released = false;
      return {
        async query(sql, params = []) {
          const [res] = await conn.query(sql, params as unknown[]);
          return result(res);
        },
        release(broken = false) {
          if (released) return;
          released = true;
          if (broken) conn.destroy();
          else conn.release();
        },
      };
    },
    end: () => pool.end(),
    param: () => '?',
    table: (name) =>
      checkTableName(name)
        .split('.')
        .map((part) => `\`${part}\``)
        .join('.'),
    async begin(conn, readCommitted) {
      // Applies to the next transaction only. READ COMMITTED takes no gap locks, so two lock
      // acquisitions that probe the same missing rows do not deadlock on their inserts.
      await conn.query(
        readCommitted
          ? 'SET TRANSACTION ISOLATION LEVEL READ COMMITTED; START TRANSACTION'
          : 'START TRANSACTION',
      );
    },
    onConflict(key, columns) {
      if (columns.length === 0) return `ON DUPLICATE KEY UPDATE ${key} = ${key}`;
      return `ON DUPLICATE KEY UPDATE ${columns.map((c) => `${c} = VALUES(${c})`).join(', ')}`;
    },
    now: (fsp) => (fsp === 6 ? 'NOW(6)' : 'NOW()'),
    // UNIX_TIMESTAMP reads a DATETIME in the session time zone, the one NOW() wrote it in.
    epochMs: (column) => `FLOOR(UNIX_TIMESTAMP(${column}) * 1000)`,
    // Statement i of the script is result i + 1 (after START TRANSACTION).
    combine: (statements, keyed = new Set()) => ({
      sql: ['START TRANSACTION', ...statements, 'COMMIT'].join(';\n'),
      explicit: true,
      changed: (r) => new Set([...keyed].filter((i) => (r.statements?.[i + 1] ?? 0) > 0)),
    }),
    classify(err) {
      const errno = (err as { errno?: unknown } | null)?.errno;
      return (typeof errno === 'number' && MYSQL_ERRORS[errno]) || 'other';
    },
  };
}
