/**
 * Adapters that let `globalTransaction` drive the initiator's own local transaction on a pg
 * pool or a mysql2 pool (seadt's "transaction localisation"). They take the pools structurally,
 * so pg and mysql2 stay optional peer dependencies.
 */

/** Begin, commit and roll back one local transaction, handing `fn` the handle it runs SQL on. */
export interface LocalTransaction<H> {
  begin(): Promise<H>;
  commit(handle: H): Promise<void>;
  rollback(handle: H): Promise<void>;
}

/** The part of a pg Pool this adapter uses. */
export interface PgPoolLike<C extends PgClientLike = PgClientLike> {
  connect(): Promise<C>;
}
/** The part of a pg PoolClient this adapter uses. */
export interface PgClientLike {
  query(sql: string, params?: unknown[]): Promise<unknown>;
  release(err?: Error | boolean): void;
}

/** A local transaction on a pg Pool: the handle is the PoolClient in BEGIN. */
export function pgLocalTransaction<C extends PgClientLike>(pool: PgPoolLike<C>): LocalTransaction<C> {
  return {
    async begin() {
      const client = await pool.connect();
      try {
        await client.query('BEGIN');
      } catch (err) {
        client.release(err as Error);
        throw err;
      }
      return client;
    },
    async commit(client) {
      try {
        await client.query('COMMIT');
        client.release();
      } catch (err) {
        client.release(err as Error);
        throw err;
      }
    },
    async rollback(client) {
      try {
        await client.query('ROLLBACK');
        client.release();
      } catch (err) {
        client.release(err as Error);
        throw err;
      }
    },
  };
}

/** The part of a mysql2/promise Pool this adapter uses. */
export interface MysqlPoolLike<C extends MysqlConnectionLike = MysqlConnectionLike> {
  getConnection(): Promise<C>;
}
/** The part of a mysql2/promise PoolConnection this adapter uses. */
export interface MysqlConnectionLike {
  beginTransaction(): Promise<unknown>;
  commit(): Promise<unknown>;
  rollback(): Promise<unknown>;
  release(): void;
}

/** A local transaction on a mysql2/promise Pool: the handle is the connection in a transaction. */
export function mysqlLocalTransaction<C extends MysqlConnectionLike>(
  pool: MysqlPoolLike<C>,
): LocalTransaction<C> {
  return {
    async begin() {
      const conn = await pool.getConnection();
      try {
        await conn.beginTransaction();
      } catch (err) {
        conn.release();
        throw err;
      }
      return conn;
    },
    async commit(conn) {
      try {
        await conn.commit();
      } finally {
        conn.release();
      }
    },
    async rollback(conn) {
      try {
        await conn.rollback();
      } finally {
        conn.release();
      }
    },
  };
}
