/**
 * FenceDatabase adapters for a pg Pool and a mysql2/promise Pool, taken structurally so that
 * neither driver is a hard dependency.
 */
import type { FenceDatabase, SqlRunner } from './tcc-fence.js';

/** The part of a pg PoolClient the fence uses. */
export interface PgFenceClient {
  query(
    sql: string,
    params?: unknown[],
  ): Promise<{ rows: Array<Record<string, unknown>>; rowCount: number | null }>;
  release(err?: Error | boolean): void;
}
/** The part of a pg Pool the fence uses. */
export interface PgFencePool<C extends PgFenceClient = PgFenceClient> {
  connect(): Promise<C>;
  query(
    sql: string,
    params?: unknown[],
  ): Promise<{ rows: Array<Record<string, unknown>>; rowCount: number | null }>;
}

/** The fence's database over a pg Pool; business code gets the PoolClient in the transaction. */
export function pgFenceDatabase<C extends PgFenceClient>(pool: PgFencePool<C>): FenceDatabase<C> {
  return {
    dialect: 'postgres',
    async transaction(fn) {
      const client = await pool.connect();
      const sql: SqlRunner = async (text, params) => {
        const r = await client.query(text, params);
        return { rows: r.rows, affected: r.rowCount ?? 0 };
      };
      try {
        await client.query('BEGIN');
        const result = await fn(client, sql);
        await client.query('COMMIT');
        client.release();
        return result;
      } catch (err) {
        await client.query('ROLLBACK').catch(() => {});
        client.release();
        throw err;
      }
    },
    async run(text, params) {
      const r = await pool.query(text, params);
      return { rows: r.rows, affected: r.rowCount ?? 0 };
    },
    isDuplicateKey(err) {
      return (err as { code?: string }).code === '23505';
    },
  };
}

/** The part of a mysql2/promise PoolConnection the fence uses. */
export interface MysqlFenceConnection {
  query(sql: string, params?: unknown[]): Promise<[unknown, unknown]>;
  beginTransaction(): Promise<unknown>;
  commit(): Promise<unknown>;
  rollback(): Promise<unknown>;
  release(): void;
}
/** The part of a mysql2/promise Pool the fence uses. */
export interface MysqlFencePool<C extends MysqlFenceConnection = MysqlFenceConnection> {
  getConnection(): Promise<C>;
  query(sql: string, params?: unknown[]): Promise<[unknown, unknown]>;
}

function mysqlResult(result: unknown): { rows: Array<Record<string, unknown>>; affected: number } {
  if (Array.isArray(result))
    return { rows: result as Array<Record<string, unknown>>, affected: result.length };
  return { rows: [], affected: Number((result as { affectedRows?: number }).affectedRows ?? 0) };
}

/** The fence's database over a mysql2/promise Pool; business code gets the PoolConnection. */
export function mysqlFenceDatabase<C extends MysqlFenceConnection>(
  pool: MysqlFencePool<C>,
): FenceDatabase<C> {
  return {
    dialect: 'mysql',
    async transaction(fn) {
      const conn = await pool.getConnection();
      const sql: SqlRunner = async (text, params) => mysqlResult((await conn.query(text, params))[0]);
      try {
        await conn.beginTransaction();
        const result = await fn(conn, sql);
        await conn.commit();
        return result;
      } catch (err) {
        await conn.rollback().catch(() => {});
        throw err;
      } finally {
        conn.release();
      }
    },
    async run(text, params) {
      return mysqlResult((await pool.query(text, params))[0]);
    },
    isDuplicateKey(err) {
      return (
        (err as { code?: string; errno?: number }).code === 'ER_DUP_ENTRY' ||
        (err as { errno?: number }).errno === 1062
      );
    },
  };
}
