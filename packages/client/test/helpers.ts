/**
 * Shared pieces of the client suites: an in-process TcServer and a real `dtx server` child
 * process with short recovery timers, DtxClients that are closed after the test, a logger that
 * records, bounded waits, and a PostgreSQL schema / MariaDB database of the file's own. Not a
 * test file.
 *
 * Databases come from the environment with localhost defaults: PGHOST, PGPORT, PGUSER,
 * PGPASSWORD, PGDATABASE (127.0.0.1:5432, postgres, test) and MYSQL_HOST, MYSQL_PORT,
 * MYSQL_USER, MYSQL_PASSWORD, MYSQL_DATABASE (127.0.0.1:3306, root, no password, test). An
 * unreachable database skips the tests that need it, or fails them when CI=true.
 */
import assert from 'node:assert/strict';
import { randomBytes } from 'node:crypto';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { it, type TestContext } from 'node:test';
import type { Logger } from '@dtx/core';
import { GlobalStatus } from '@dtx/protocol';
import { TcServer, type TcServerOptions } from '@dtx/server';
import {
  boundedWaits,
  type DtxServerProcess,
  FAST_RECOVERY_ENV,
  freePort,
  spawnDtxServer,
} from '@dtx/testing';
import mysql from 'mysql2/promise';
import pg from 'pg';
import { DtxClient, type DtxClientOptions } from '../src/index.js';

export { freePort, sleep } from '@dtx/testing';

/** Every test binds here; nothing leaves loopback. */
export const HOST = '127.0.0.1';
/** Upper bound of any single wait, so a broken client fails the test instead of hanging it. */
export const WAIT_MS = 10_000;

// -------------------------------------------------------------------------------------------
// waiting

/** `until` and `within` of @dtx/testing, bounded by WAIT_MS unless told otherwise (polling every 10 ms). */
export const { until, within } = boundedWaits(WAIT_MS, 10);

/** The GlobalStatus name of a code, for assertion messages. */
export function statusText(code: number): string {
  return Object.entries(GlobalStatus).find(([, v]) => v === code)?.[0] ?? String(code);
}

/** A promise with its resolve function, for holding a step until the test releases it. */
export function gate(): { promise: Promise<void>; open(): void } {
  let open!: () => void;
  const promise = new Promise<void>((resolve) => {
    open = resolve;
  });
  return { promise, open };
}

// -------------------------------------------------------------------------------------------
// logging

/** One line a RecordingLogger received. */
export interface LogRecord {
  level: 'trace' | 'debug' | 'info' | 'warn' | 'error' | 'fatal';
  msg: string;
  obj: Record<string, unknown>;
}

/** A Logger that keeps every line, for assertions on warnings. */
export interface RecordingLogger extends Logger {
  records: LogRecord[];
}

/** A logger that records; set DTX_TEST_LOG=1 to print the lines too. */
export function recordingLogger(records: LogRecord[] = []): RecordingLogger {
  const make =
    (level: LogRecord['level']) =>
    (a: object | string, b?: string): void => {
      const rec: LogRecord =
        typeof a === 'string'
          ? { level, msg: a, obj: {} }
          : { level, msg: b ?? '', obj: a as Record<string, unknown> };
      records.push(rec);
      if (process.env.DTX_TEST_LOG) console.error(level, rec.msg, rec.obj);
    };
  const logger: RecordingLogger = {
    records,
    trace: make('trace'),
    debug: make('debug'),
    info: make('info'),
    warn: make('warn'),
    error: make('error'),
    fatal: make('fatal'),
    child: () => logger,
  };
  return logger;
}

// -------------------------------------------------------------------------------------------
// an in-process TC

/** A started in-process TC. */
export interface TestTc {
  server: TcServer;
  port: number;
  /** `127.0.0.1:port`, for a client's grouplist. */
  address: string;
  /** The file store's directory. */
  dir: string;
}

/** Test settings of an in-process TC: recovery every 50 ms, a 1 s branch request timeout. */
export function tcOptions(dir: string, port = 0): Partial<TcServerOptions> {
  return {
    host: HOST,
    port,
    metricsEnabled: false,
    file: { dir: path.join(dir, 'sessionStore') },
    coordinator: { branchRequestTimeoutMs: 1000 },
    recovery: {
      committingRetryPeriodMs: 50,
      rollbackingRetryPeriodMs: 50,
      asyncCommittingRetryPeriodMs: 50,
      timeoutRetryPeriodMs: 50,
      undoLogDeleteDelayMs: 3_600_000,
    },
    remoting: { drainTimeoutMs: 1000 },
  };
}

/** Starts a TcServer on an ephemeral port with the file store in a temp dir; stopped after the test. */
export async function startTc(t: TestContext): Promise<TestTc> {
  const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'dtx-client-test-'));
  const server = new TcServer(tcOptions(dir));
  const { port } = await server.start();
  t.after(async () => {
    await within(server.stop(), 'TC stop');
    fs.rmSync(dir, { recursive: true, force: true });
  });
  return { server, port, address: `${HOST}:${port}`, dir };
}

// -------------------------------------------------------------------------------------------
// a `dtx server` child process

/** A `dtx server` child process. */
export interface TcProcess extends DtxServerProcess {
  /** GET on the admin HTTP port: the transaction as JSON, or null once the TC no longer holds it. */
  transaction(xid: string): Promise<{ status: string; branches: Array<Record<string, unknown>> } | null>;
}

/**
 * Spawns `node packages/cli/dist/main.js server` with the file store in a temp dir and waits
 * (up to WAIT_MS) for its "listening" line; SIGTERMed (SIGKILLed if it lingers) and removed
 * after the test.
 */
export async function spawnTc(
  t: TestContext,
  env: Readonly<Record<string, string>> = FAST_RECOVERY_ENV,
): Promise<TcProcess> {
  const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'dtx-client-tc-'));
  let tc: DtxServerProcess | undefined;
  t.after(async () => {
    await tc?.stop(5000);
    fs.rmSync(dir, { recursive: true, force: true });
  });
  tc = await spawnDtxServer({
    host: HOST,
    port: await freePort(),
    metricsPort: await freePort(),
    args: ['--store-dir', path.join(dir, 'sessionStore')],
    env,
    startTimeoutMs: WAIT_MS,
  });
  const { metricsPort } = tc;
  return Object.assign(tc, {
    async transaction(xid: string) {
      const res = await within(
        fetch(`http://${HOST}:${metricsPort}/transactions/${encodeURIComponent(xid)}`),
        `GET /transactions/${xid}`,
      );
      if (res.status === 404) {
        await res.body?.cancel();
        return null;
      }
      assert.equal(res.status, 200, `GET /transactions/${xid} answered ${res.status}`);
      return (await res.json()) as { status: string; branches: Array<Record<string, unknown>> };
    },
  });
}

// -------------------------------------------------------------------------------------------
// clients

/** Starts a DtxClient against `address` (closed after the test) with bounded request timeouts. */
export async function startClient(
  t: TestContext,
  address: string,
  options: Partial<DtxClientOptions> = {},
  beforeStart: (client: DtxClient) => void = () => {},
): Promise<DtxClient> {
  const client = new DtxClient({
    applicationId: 'client-test',
    grouplist: [address],
    tmRequestTimeoutMs: 5000,
    rmRequestTimeoutMs: 5000,
    ...options,
  });
  t.after(() => within(client.close(), 'client close'));
  beforeStart(client);
  await within(client.start(), 'client start');
  return client;
}

// -------------------------------------------------------------------------------------------
// databases

/** Registers a failing test naming the missing service when CI=true; returns the skip reason. */
export function unavailable(reason: string): string {
  if (process.env.CI === 'true')
    it(`${reason.split(' is ')[0]} is reachable (required when CI=true)`, () => assert.fail(reason));
  return reason;
}

/** A fresh name for this file's schema or database. */
export function scratchName(): string {
  return `dtx_c_${randomBytes(5).toString('hex')}`;
}

/** PostgreSQL settings from the environment. */
export const PG = {
  host: process.env.PGHOST ?? '127.0.0.1',
  port: Number(process.env.PGPORT ?? 5432),
  user: process.env.PGUSER ?? 'postgres',
  password: process.env.PGPASSWORD ?? '',
  database: process.env.PGDATABASE ?? 'test',
};

/** A schema of this file's own on PostgreSQL, with a pool whose search_path is that schema. */
export interface PgScratch {
  schema: string;
  /** A pool on the schema (search_path). */
  pool: pg.Pool;
  /** Another pool on the schema; `extraOptions` are appended to the `options` startup parameter. */
  newPool(extraOptions?: string, max?: number): pg.Pool;
  /** Drops the schema and ends every pool. */
  drop(): Promise<void>;
}

/** Creates a scratch schema, or returns why PostgreSQL is not usable. */
export async function pgScratch(): Promise<PgScratch | string> {
  const admin = new pg.Pool({ ...PG, max: 1, connectionTimeoutMillis: 3000 });
  admin.on('error', () => {});
  try {
    await admin.query('SELECT 1');
  } catch (err) {
    await admin.end().catch(() => {});
    return `PostgreSQL is not reachable at ${PG.user}@${PG.host}:${PG.port}/${PG.database} (${(err as Error).message}); set PGHOST, PGPORT, PGUSER, PGPASSWORD, PGDATABASE`;
  }
  const schema = scratchName();
  await admin.query(`CREATE SCHEMA ${schema}`);
  const pools: pg.Pool[] = [];
  const newPool = (extraOptions = '', max = 8) => {
    const pool = new pg.Pool({
      ...PG,
      max,
      connectionTimeoutMillis: 5000,
      options: `-c search_path=${schema} ${extraOptions}`.trim(),
    });
    pool.on('error', () => {});
    pools.push(pool);
    return pool;
  };
  const pool = newPool();
  return {
    schema,
    pool,
    newPool,
    async drop() {
      await Promise.all(pools.map((p) => p.end().catch(() => {})));
      await admin.query(`DROP SCHEMA IF EXISTS ${schema} CASCADE`).catch(() => {});
      await admin.end().catch(() => {});
    },
  };
}

/** MariaDB / MySQL settings from the environment. */
export const MYSQL = {
  host: process.env.MYSQL_HOST ?? '127.0.0.1',
  port: Number(process.env.MYSQL_PORT ?? 3306),
  user: process.env.MYSQL_USER ?? 'root',
  password: process.env.MYSQL_PASSWORD ?? '',
  database: process.env.MYSQL_DATABASE ?? 'test',
};

/** A database of this file's own on MariaDB / MySQL. */
export interface MysqlScratch {
  database: string;
  pool: mysql.Pool;
  /** Another pool on the database; `init` runs on every new connection. */
  newPool(init?: string, max?: number): mysql.Pool;
  drop(): Promise<void>;
}

/** Creates a scratch database, or returns why MariaDB is not usable. */
export async function mysqlScratch(): Promise<MysqlScratch | string> {
  let admin: mysql.Connection;
  try {
    admin = await mysql.createConnection({ ...MYSQL, connectTimeout: 3000 });
  } catch (err) {
    return `MariaDB is not reachable at ${MYSQL.user}@${MYSQL.host}:${MYSQL.port}/${MYSQL.database} (${(err as Error).message}); set MYSQL_HOST, MYSQL_PORT, MYSQL_USER, MYSQL_PASSWORD, MYSQL_DATABASE`;
  }
  admin.on('error', () => {});
  const database = scratchName();
  await admin.query(`CREATE DATABASE ${database}`);
  const pools: mysql.Pool[] = [];
  const newPool = (init?: string, max = 8) => {
    const pool = mysql.createPool({
      ...MYSQL,
      database,
      connectionLimit: max,
      connectTimeout: 5000,
      // BIGINT ids (branch ids are 63-bit) read back exactly, as strings.
      supportBigNumbers: true,
      bigNumberStrings: true,
    });
    if (init) {
      // The core pool hands out callback connections; run the statement before first use.
      (
        pool as unknown as { pool: { on(e: string, f: (c: { query(s: string): void }) => void): void } }
      ).pool.on('connection', (conn) => conn.query(init));
    }
    pools.push(pool);
    return pool;
  };
  const pool = newPool();
  return {
    database,
    pool,
    newPool,
    async drop() {
      await Promise.all(pools.map((p) => p.end().catch(() => {})));
      await admin.query(`DROP DATABASE IF EXISTS ${database}`).catch(() => {});
      await admin.end().catch(() => {});
    },
  };
}
