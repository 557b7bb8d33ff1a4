/**
 * The chaos run's databases: one PostgreSQL database for bank a, one MariaDB database for bank
 * b, and (HA variant) one PostgreSQL database for the TC cluster's store; created fresh with
 * random names and dropped at the end. Addresses come from the environment (PGHOST, PGPORT,
 * PGUSER, PGPASSWORD; MYSQL_HOST, MYSQL_PORT, MYSQL_USER, MYSQL_PASSWORD) with local defaults.
 */
import { randomBytes } from 'node:crypto';
import { fenceTableDdl } from '@dtx/client';
import mysql from 'mysql2/promise';
import pg from 'pg';
import {
  ACCOUNTS,
  BANK_DIALECT,
  type BankName,
  bankTables,
  type DbParams,
  START_BALANCE,
} from './bank-schema.js';

/** PostgreSQL's address, with the maintenance database. */
export function pgServer(env: NodeJS.ProcessEnv): DbParams {
  return {
    host: env.PGHOST ?? '127.0.0.1',
    port: Number(env.PGPORT ?? 5432),
    user: env.PGUSER ?? 'postgres',
    password: env.PGPASSWORD ?? '',
    database: 'postgres',
  };
}

/** MariaDB's (or MySQL's) address, with no database selected. */
export function mysqlServer(env: NodeJS.ProcessEnv): DbParams {
  return {
    host: env.MYSQL_HOST ?? '127.0.0.1',
    port: Number(env.MYSQL_PORT ?? 3306),
    user: env.MYSQL_USER ?? 'root',
    password: env.MYSQL_PASSWORD ?? '',
    database: '',
  };
}

/** The URL `dtx server --db-url` takes for a PostgreSQL database. */
export function pgUrl(p: DbParams): string {
  const auth = p.password
    ? `${encodeURIComponent(p.user)}:${encodeURIComponent(p.password)}`
    : encodeURIComponent(p.user);
  return `postgres://${auth}@${p.host}:${p.port}/${p.database}`;
}

/** Runs statements against one database and hands rows back. */
export interface Db {
  query(sql: string, params?: unknown[]): Promise<Array<Record<string, unknown>>>;
  end(): Promise<void>;
}

/** A small pool on `p` (`dialect` decides the driver; `?` placeholders work for both). */
export function openDb(dialect: 'postgres' | 'mysql', p: DbParams, size = 2): Db {
  if (dialect === 'postgres') {
    const pool = new pg.Pool({ ...p, max: size, connectionTimeoutMillis: 5000 });
    pool.on('error', () => {});
    return {
      async query(sql, params = []) {
        let n = 0;
        return (
          await pool.query(
            sql.replace(/\?/g, () => `$${++n}`),
            params,
          )
        ).rows;
      },
      end: () => pool.end(),
    };
  }
  const pool = mysql.createPool({
    ...p,
    ...(p.database ? {} : { database: undefined }),
    connectionLimit: size,
    connectTimeout: 5000,
    // BIGINT sums as numbers; totals stay far below 2^53.
    supportBigNumbers: true,
    bigNumberStrings: false,
  });
  return {
    async query(sql, params = []) {
      const [rows] = await pool.query(sql, params);
      return Array.isArray(rows) ? (rows as Array<Record<string, unknown>>) : [];
    },
    end: () => pool.end(),
  };
}

/** Null when both servers answer, else why not. */
export async function databasesUnreachable(env: NodeJS.ProcessEnv): Promise<string | null> {
  const problems: string[] = [];
  for (const [dialect, p] of [
    ['postgres', pgServer(env)],
    ['mysql', mysqlServer(env)],
  ] as const) {
    const db = openDb(dialect, p, 1);
    try {
      await db.query('SELECT 1');
    } catch (err) {
      problems.push(`${dialect} ${p.user}@${p.host}:${p.port}: ${(err as Error).message}`);
    } finally {
      await db.end().catch(() => {});
    }
  }
  return problems.length ? problems.join('; ') : null;
}

/** The databases one run created, for dropping. */
export class RunDatabases {
  readonly tag = randomBytes(4).toString('hex');
  private readonly created: Array<{ dialect: 'postgres' | 'mysql'; name: string }> = [];

  constructor(private readonly env: NodeJS.ProcessEnv) {}

  private server(dialect: 'postgres' | 'mysql'): DbParams {
    return dialect === 'postgres' ? pgServer(this.env) : mysqlServer(this.env);
  }

  /** Creates an empty database `dtx_chaos_<tag>_<what>` and returns its address. */
  async create(dialect: 'postgres' | 'mysql', what: string): Promise<DbParams> {
    const name = `dtx_chaos_${this.tag}_${what}`;
    const admin = openDb(dialect, this.server(dialect), 1);
    try {
      await admin.query(`CREATE DATABASE ${name}`);
    } finally {
      await admin.end();
    }
    this.created.push({ dialect, name });
    return { ...this.server(dialect), database: name };
  }

  /** Creates bank `bank`'s database (for `variant`) with its tables, the fence table and the seeded accounts. */
  async createBank(bank: BankName, variant: string): Promise<DbParams> {
    const dialect = BANK_DIALECT[bank];
    const p = await this.create(dialect, `${variant}_bank_${bank}`);
    const db = openDb(dialect, p, 1);
    try {
      for (const ddl of [...bankTables(dialect), ...fenceTableDdl(dialect)]) await db.query(ddl);
      const rows = Array.from({ length: ACCOUNTS }, (_, i) => `(${i + 1}, ${START_BALANCE}, 0, 0)`);
      await db.query(`INSERT INTO accounts (id, balance, frozen, incoming) VALUES ${rows.join(', ')}`);
    } finally {
      await db.end();
    }
    return p;
  }

  /** The databases created so far. */
  names(): string[] {
    return this.created.map((c) => `${c.dialect}:${c.name}`);
  }

  /** Drops every database created here, closing connections a killed process left behind. */
  async dropAll(): Promise<void> {
    for (const { dialect, name } of this.created.splice(0).reverse()) {
      const admin = openDb(dialect, this.server(dialect), 1);
      try {
        if (dialect === 'postgres') {
          await admin.query(
            'SELECT pg_terminate_backend(pid) FROM pg_stat_activity WHERE datname = ? AND pid <> pg_backend_pid()',
            [name],
          );
        }
        await admin.query(`DROP DATABASE IF EXISTS ${name}`);
      } catch (err) {
        process.stderr.write(`could not drop ${dialect} database ${name}: ${(err as Error).message}\n`);
      } finally {
        await admin.end().catch(() => {});
      }
    }
  }
}
