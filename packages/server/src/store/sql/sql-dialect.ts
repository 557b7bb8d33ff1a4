/**
 * The small seam between the SQL store (and the SQL lock manager) and a database driver: a pool
 * that runs parameterised statements, hands out connections for transactions, and knows the few
 * spellings that differ between PostgreSQL and MySQL/MariaDB. `postgres-dialect.ts` (pg) and
 * `mysql-dialect.ts` (mysql2) implement it; nothing else imports a driver.
 */

/** The databases the SQL store speaks (MariaDB uses 'mysql'). */
export type SqlDialectName = 'postgres' | 'mysql';

/** A value bound to a placeholder. 63-bit ids travel as bigint, never as number. */
export type SqlValue = string | number | bigint | null;

/** One result row, by column name. */
export type SqlRow = Record<string, unknown>;

/** What a statement returned. */
export interface SqlResult {
  /** Rows of a SELECT (empty otherwise). */
  rows: SqlRow[];
  /** Rows matched by an UPDATE or DELETE, rows written by an INSERT. */
  affected: number;
  /** A multi-statement script (MySQL): `affected` of each of its statements, in order. */
  statements?: number[];
}

/** Runs statements. */
export interface SqlClient {
  query(sql: string, params?: readonly SqlValue[]): Promise<SqlResult>;
}

/** One pooled connection, held for a transaction. */
export interface SqlConnection extends SqlClient {
  /** Returns the connection to the pool; `broken` destroys it instead (after a network error). */
  release(broken?: boolean): void;
}

/** How a failed statement failed, where the caller reacts differently. */
export type SqlErrorKind = 'duplicate' | 'deadlock' | 'missingTable' | 'other';

/** A driver pool plus the dialect's spellings. */
export interface SqlDialect extends SqlClient {
  readonly name: SqlDialectName;
  /** Most placeholders one statement may carry (both protocols count them in 16 bits). */
  readonly maxParams: number;
  /** Takes a connection from the pool. */
  connect(): Promise<SqlConnection>;
  /** Closes every connection. */
  end(): Promise<void>;
  /**
   * The n-th placeholder (1-based), cast to `type` where the dialect cannot infer it (PostgreSQL
   * inside CASE and VALUES lists).
   */
  param(n: number, type?: 'bigint' | 'smallint' | 'varchar'): string;
  /** A checked table name, quoted as the dialect's Seata scripts quote it. */
  table(name: string): string;
  /** Starts a transaction on `conn`; `readCommitted` asks for READ COMMITTED isolation. */
  begin(conn: SqlConnection, readCommitted: boolean): Promise<void>;
  /** The tail of an INSERT that updates `columns` of an existing row with key `key`, or keeps it when `columns` is empty. */
  onConflict(key: string, columns: readonly string[]): string;
  /** The current time, for gmt_create/gmt_modified; `fsp` is the column's fractional digits. */
  now(fsp: 0 | 6): string;
  /** Milliseconds since the epoch of a DATETIME/TIMESTAMP column, as the session time zone wrote it. */
  epochMs(column: string): string;
  /**
   * One round trip for data-modifying statements that touch disjoint rows, atomically:
   * PostgreSQL makes them one statement of CTEs; MySQL one multi-statement script inside START
   * TRANSACTION … COMMIT, which needs a ROLLBACK on the same connection when it fails
   * (`explicit`). `changed` tells which of the `keyed` statements (conditional UPDATEs) changed
   * a row, from the script's result.
   */
  combine(
    statements: readonly string[],
    keyed?: ReadonlySet<number>,
  ): { sql: string; explicit: boolean; changed(result: SqlResult): Set<number> };
  /** Classifies a driver error. */
  classify(err: unknown): SqlErrorKind;
}

/** Where to connect. */
export interface SqlConnectOptions {
  host: string;
  port: number;
  user: string;
  password: string;
  database: string;
  poolSize: number;
  /** Passed to the driver's pool unchanged (ssl, connectTimeout, pg's `options`, …). */
  driver: Readonly<Record<string, unknown>>;
}

/** Table and index names: letters, digits and `_`, optionally schema-qualified (`public.global_table`). */
export const TABLE_NAME_PATTERN = /^[A-Za-z_][A-Za-z0-9_]*(\.[A-Za-z_][A-Za-z0-9_]*)?$/;

/** Throws unless `name` is a plain (optionally schema-qualified) identifier. */
export function checkTableName(name: string): string {
  if (!TABLE_NAME_PATTERN.test(name)) throw new Error(`"${name}" is not a plain table name`);
  return name;
}
