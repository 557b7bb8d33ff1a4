/**
 * The DB-mode session store (Seata's `store.mode=db`, DataBaseTransactionStoreManager) over
 * PostgreSQL or MySQL/MariaDB, in Seata's own tables (see schema.ts), shared by every TC that
 * points at the same database.
 *
 * Writes are batched across transactions, as the file store group-commits: write() queues the
 * operation; one flusher at a time takes everything queued (up to batchSize) and applies it
 * atomically with multi-row statements: multi-row INSERTs, CASE-batched UPDATEs holding each
 * row's last values, DELETE … IN (…) (see batch-plan.ts for why applying inserts, updates and
 * deletes apart is the same as applying the operations in order). The statements of a batch
 * touch disjoint rows, so they travel in one round trip: one statement of CTEs on PostgreSQL, a
 * START TRANSACTION … COMMIT script on MySQL. Every operation's promise settles after its
 * batch's commit, durable or not. While a batch is in flight new operations queue for the next,
 * so under load one round trip carries the writes of many transactions. Batches are strictly
 * ordered; one flusher is the simple way to keep them so.
 *
 * A failed batch rejects each of its operations with FailedStore and the next batch runs as
 * usual: a database blip fails the requests it touched, not the TC. A value too long for its
 * column is refused at write(), alone, so it cannot fail the batch it would have joined. A
 * commit whose outcome the connection lost is reported as failed although it may have landed;
 * the coordinator's replays are idempotent and recovery finishes what remains.
 *
 * Seata's branch_table has no lock_key or begin_time column: a branch read back has lockKey null
 * (its row locks live in lock_table, see SqlLockManager) and beginTime = its row's gmt_create.
 * `active` is not a column either; it reads back as `status === Begin`.
 */
import { createHash } from 'node:crypto';
import {
  bool,
  Channels,
  ConfigError,
  integerIn,
  oneOf,
  parseOptions,
  publish,
  str,
  TransactionError,
  type Validator,
} from '@dtx/core';
import { BranchType, GlobalStatus } from '@dtx/protocol';
import type { BranchSession, GlobalSession } from '../../session/global-session.js';
import { getOrCreate } from '../../util/maps.js';
import type { FindOptions, SessionQuery, StoreOp, TransactionStore } from '../transaction-store.js';
import { type BatchPlan, BatchPlanner, type Change, toChange } from './batch-plan.js';
import { createMysqlDialect } from './mysql-dialect.js';
import { createPostgresDialect } from './postgres-dialect.js';
import { applySchema, DEFAULT_SQL_TABLE_NAMES, missingTables, type SqlTableNames } from './schema.js';
import {
  type SqlConnection,
  type SqlConnectOptions,
  type SqlDialect,
  type SqlDialectName,
  type SqlResult,
  type SqlRow,
  type SqlValue,
  TABLE_NAME_PATTERN,
} from './sql-dialect.js';

/** SQL store options (Seata's `store.db.*` keys where they exist). */
export interface SqlStoreOptions extends SqlTableNames {
  /** `store.db.dbType`: 'mysql' (MySQL and MariaDB) or 'postgres'. @default 'mysql' */
  dialect: SqlDialectName;
  /**
   * Seata's `store.db.url`: `jdbc:mysql://host:3306/seata?…`, `jdbc:postgresql://host:5432/seata`,
   * or `mysql://user:pw@host/db`, `postgres://…`. When set, host, port and database come from it,
   * and user and password too unless set here; its query parameters are ignored (driver settings
   * go in `driver`). @default null
   */
  url: string | null;
  /** @default '127.0.0.1' */
  host: string;
  /** null: 5432 for postgres, 3306 for mysql. @default null */
  port: number | null;
  /** `store.db.user`; null: the URL's, else 'postgres' for postgres, 'root' for mysql. @default null */
  user: string | null;
  /** `store.db.password`; null: the URL's, else none. @default null */
  password: string | null;
  /** @default 'seata' */
  database: string;
  /** Pooled connections (`store.db.maxConn`); the flusher uses one, reads and locks the rest. @default 8 */
  poolSize: number;
  /** Most operations applied in one SQL transaction; the rest wait for the next. @default 1000 */
  batchSize: number;
  /** Create missing tables (and seed rows) on open. Off in production: run `dtx server schema`. @default false */
  createSchema: boolean;
  /** Passed unchanged to pg's Pool or mysql2's createPool (ssl, connectTimeout, pg `options`, …). @default {} */
  driver: Record<string, unknown>;
}

/** Defaults of SqlStoreOptions. */
export const DEFAULT_SQL_STORE_OPTIONS: Readonly<SqlStoreOptions> = Object.freeze({
  dialect: 'mysql',
  url: null,
  host: '127.0.0.1',
  port: null,
  user: null,
  password: null,
  database: 'seata',
  poolSize: 8,
  batchSize: 1000,
  createSchema: false,
  driver: {},
  ...DEFAULT_SQL_TABLE_NAMES,
});

function nullable<V>(inner: Validator<V>): Validator<V | null> {
  return (value, key) => (value === null ? null : inner(value, key));
}

const tableName: Validator<string> = (value, key) => {
  if (typeof value !== 'string' || !TABLE_NAME_PATTERN.test(value)) {
    throw new ConfigError(
      key,
      `${key} must be a table name (letters, digits, _; optionally schema.table), got ${JSON.stringify(value)}`,
    );
  }
  return value;
};

const plainObject: Validator<Record<string, unknown>> = (value, key) => {
  if (typeof value !== 'object' || value === null || Array.isArray(value))
    throw new ConfigError(key, `${key} must be an object`);
  return value as Record<string, unknown>;
};

/** Merges and checks SQL store options; a bad value throws ConfigError naming `store.db.<key>`. */
export function parseSqlStoreOptions(input?: Partial<SqlStoreOptions>, prefix = 'store.db'): SqlStoreOptions {
  const o = parseOptions(
    DEFAULT_SQL_STORE_OPTIONS as SqlStoreOptions,
    input,
    {
      dialect: oneOf('mysql', 'postgres'),
      url: nullable(str()),
      host: str(),
      port: nullable(integerIn(1, 65535)),
      user: nullable(str()),
      password: nullable((value, key) => {
        if (typeof value !== 'string') throw new ConfigError(key, `${key} must be a string`);
        return value;
      }),
      database: str(),
      poolSize: integerIn(1, 1000),
      batchSize: integerIn(1, 100_000),
      createSchema: bool(),
      driver: plainObject,
      globalTable: tableName,
      branchTable: tableName,
      lockTable: tableName,
      distributedLockTable: tableName,
    },
    prefix,
  );
  connectOptions(o, prefix);
  return o;
}

const URL_DIALECTS: Readonly<Record<string, SqlDialectName>> = {
  'mysql:': 'mysql',
  'mariadb:': 'mysql',
  'postgres:': 'postgres',
  'postgresql:': 'postgres',
};

/** Where to connect: the URL's parts, overridden by explicit user/password, then defaults. */
export function connectOptions(o: SqlStoreOptions, prefix = 'store.db'): SqlConnectOptions {
  let host = o.host;
  let port = o.port;
  let database = o.database;
  let user: string | null = null;
  let password: string | null = null;
  if (o.url !== null) {
    const key = `${prefix}.url`;
    let url: URL;
    try {
      url = new URL(o.url.replace(/^jdbc:/i, ''));
    } catch {
      throw new ConfigError(
        key,
        `${key} is not a database URL (jdbc:mysql://host:3306/db, postgres://host/db, …)`,
      );
    }
    const dialect = URL_DIALECTS[url.protocol.toLowerCase()];
    if (dialect === undefined)
      throw new ConfigError(key, `${key} must be a mysql: or postgresql: URL, got ${url.protocol}`);
    if (dialect !== o.dialect)
      throw new ConfigError(key, `${key} is a ${dialect} URL but ${prefix}.dialect is ${o.dialect}`);
    if (url.hostname !== '') host = url.hostname.replace(/^\[(.*)\]$/, '$1');
    if (url.port !== '') port = Number(url.port);
    const path = decodeURIComponent(url.pathname.replace(/^\//, ''));
    if (path !== '') database = path;
    if (url.username !== '') user = decodeURIComponent(url.username);
    if (url.password !== '') password = decodeURIComponent(url.password);
  }
  return {
    host,
    port: port ?? (o.dialect === 'postgres' ? 5432 : 3306),
    user: o.user ?? user ?? (o.dialect === 'postgres' ? 'postgres' : 'root'),
    password: o.password ?? password ?? '',
    database,
    poolSize: o.poolSize,
    driver: o.driver,
  };
}

/** Opens the driver pool the options describe. */
export function createSqlDialect(o: SqlStoreOptions): SqlDialect {
  const connect = connectOptions(o);
  return o.dialect === 'postgres' ? createPostgresDialect(connect) : createMysqlDialect(connect);
}

/** Attempts at a batch that lost a deadlock. */
const DEADLOCK_RETRIES = 3;

/** Batched point reads in flight at once (see SqlStore.startReads). */
const READ_BATCHES = 2;

/** Rows per multi-row statement, at most. */
const ROWS_PER_STATEMENT = 1000;

const GLOBAL_COLUMNS = [
  'xid',
  'transaction_id',
  'status',
  'application_id',
  'transaction_service_group',
  'transaction_name',
  'timeout',
  'begin_time',
  'application_data',
] as const;

const BRANCH_COLUMNS = [
  'branch_id',
  'xid',
  'transaction_id',
  'resource_group_id',
  'resource_id',
  'branch_type',
  'status',
  'client_id',
  'application_data',
] as const;

/** distributed_lock.lock_value is VARCHAR(20) and lock_key CHAR(20) in Seata's schema. */
const LOCK_VALUE_MAX = 20;

interface PendingRead {
  xid: string;
  withBranches: boolean;
  resolve(g: GlobalSession | null): void;
  reject(err: Error): void;
}

interface Pending {
  change: Change;
  resolve(applied: boolean): void;
  reject(err: Error): void;
}

/** One statement of a batch, rendered with the placeholders of the statement it joins. */
interface Part {
  /** Placeholders it takes. */
  params: number;
  /** A compare-and-set of this global row: whether it changed the row is reported back. */
  cas?: string;
  render(p: Params): string;
}

/** Placeholder numbering for one statement. */
class Params {
  readonly values: SqlValue[] = [];
  constructor(private readonly db: SqlDialect) {}
  add(value: SqlValue, type?: 'bigint' | 'smallint' | 'varchar'): string {
    this.values.push(value);
    return this.db.param(this.values.length, type);
  }
}

function chunks<T>(items: readonly T[], size: number): T[][] {
  const out: T[][] = [];
  for (let i = 0; i < items.length; i += size) out.push(items.slice(i, i + size));
  return out;
}

function storeError(message: string, cause?: unknown): TransactionError {
  return new TransactionError('FailedStore', message, cause === undefined ? {} : { cause });
}

const BRANCH_TYPES = BranchType as Readonly<Record<string, BranchSession['branchType']>>;

function str0(v: unknown): string | null {
  return v === null || v === undefined ? null : String(v);
}

/**
 * Seata's distributed_lock.lock_value holds 20 characters; Seata writes `ip:port` there. A longer
 * owner (an IPv6 or host name address) is kept readable and unique: its head plus a hash.
 */
export function taskLockValue(owner: string): string {
  if (owner.length <= LOCK_VALUE_MAX) return owner;
  return `${owner.slice(0, 11)}~${createHash('sha1').update(owner).digest('hex').slice(0, 8)}`;
}

/** The SQL session store. */
export class SqlStore implements TransactionStore {
  readonly kind: SqlDialectName;
  readonly shared = true;
  readonly options: SqlStoreOptions;
  /** The pool, shared with SqlLockManager. */
  readonly db: SqlDialect;
  /** Batches, operations and SQL round trips of batches, for metrics and tests. */
  readonly stats = { batches: 0, ops: 0, roundTrips: 0, failedBatches: 0 };
  private readonly t: Record<keyof SqlTableNames, string>;
  private queue: Pending[] = [];
  private flushing = false;
  private scheduled = false;
  /** Operations queued and operations settled so far: reads wait for the writes before them. */
  private enqueued = 0;
  private settled = 0;
  private barriers: Array<{ at: number; resolve(): void }> = [];
  private reads: PendingRead[] = [];
  private readsInFlight = 0;
  private readScheduled = false;
  private state: 'new' | 'open' | 'closing' | 'closed' = 'new';
  private closing: Promise<void> | null = null;

  /** `db` replaces the pool the options describe (tests, or a pool shared with other code). */
  constructor(options: Partial<SqlStoreOptions> = {}, db?: SqlDialect) {
    this.options = parseSqlStoreOptions(options);
    this.kind = this.options.dialect;
    this.db = db ?? createSqlDialect(this.options);
    const o = this.options;
    this.t = {
      globalTable: this.db.table(o.globalTable),
      branchTable: this.db.table(o.branchTable),
      lockTable: this.db.table(o.lockTable),
      distributedLockTable: this.db.table(o.distributedLockTable),
    };
  }

  private where(): string {
    const c = connectOptions(this.options);
    return `${this.kind} at ${c.host}:${c.port}/${c.database}`;
  }

  async open(): Promise<GlobalSession[]> {
    if (this.state !== 'new') throw storeError(`the ${this.kind} store was already opened`);
    const tables = {
      globalTable: this.options.globalTable,
      branchTable: this.options.branchTable,
      lockTable: this.options.lockTable,
      distributedLockTable: this.options.distributedLockTable,
    };
    try {
      if (this.options.createSchema) await applySchema(this.db, tables);
      const missing = await missingTables(this.db, tables);
      if (missing.length > 0) {
        const [key, name] = missing[0] as [string, string];
        throw new ConfigError(
          key,
          `table ${name} does not exist in ${this.where()}${
            missing.length > 1
              ? ` (nor ${missing
                  .slice(1)
                  .map((m) => m[1])
                  .join(', ')})`
              : ''
          }; create the tables with \`dtx server schema --db ${this.kind}\` or set createSchema`,
        );
      }
      const globals = await this.selectGlobals('', [], null);
      await this.attachBranches(globals, null);
      this.state = 'open';
      return globals;
    } catch (err) {
      if (err instanceof ConfigError || err instanceof TransactionError) throw err;
      throw storeError(`cannot open the ${this.where()} store: ${(err as Error).message}`, err);
    }
  }

  write(op: StoreOp, _durable: boolean): Promise<boolean> {
    if (this.state !== 'open')
      return Promise.reject(
        storeError(`the ${this.kind} store is ${this.state === 'new' ? 'not open' : 'closed'}`),
      );
    let change: Change;
    try {
      // Copied now, as the file store serialises its record now: the session object changes on.
      change = toChange(op);
    } catch (err) {
      return Promise.reject(err);
    }
    return new Promise<boolean>((resolve, reject) => {
      this.queue.push({ change, resolve, reject });
      this.enqueued++;
      if (!this.flushing && !this.scheduled) {
        this.scheduled = true;
        // Operations written in this event-loop turn join the first batch.
        setImmediate(() => void this.flush());
      }
    });
  }

  private async flush(): Promise<void> {
    this.scheduled = false;
    if (this.flushing) return;
    this.flushing = true;
    try {
      while (this.queue.length > 0) {
        const planner = new BatchPlanner();
        let n = 0;
        while (
          n < this.queue.length &&
          n < this.options.batchSize &&
          planner.accept((this.queue[n] as Pending).change)
        )
          n++;
        const batch = this.queue.splice(0, n);
        const started = performance.now();
        let error: Error | null = null;
        try {
          const plan = planner.plan();
          let applied: Set<string>;
          for (let attempt = 1; ; attempt++) {
            try {
              applied = await this.applyPlan(plan);
              break;
            } catch (err) {
              // The batch was rolled back as a whole: after a deadlock (another TC writing the
              // same rows) it is safe, and usually successful, to run it again.
              if (attempt >= DEADLOCK_RETRIES || this.db.classify(err) !== 'deadlock') throw err;
            }
          }
          this.stats.batches++;
          this.stats.ops += batch.length;
          for (const { change, resolve } of batch)
            resolve(change.op !== 'globalUpdate' || change.expect === null || applied.has(change.xid));
        } catch (err) {
          this.stats.failedBatches++;
          const failure = storeError(
            `${this.kind} batch of ${batch.length} operations failed: ${(err as Error).message}`,
            err,
          );
          for (const p of batch) p.reject(failure);
          error = failure;
        }
        publish(Channels.STORE_WRITE, () => ({
          store: this.kind,
          ops: batch.length,
          durationMs: performance.now() - started,
          error,
        }));
        this.settled += batch.length;
        this.releaseBarriers();
      }
    } finally {
      this.flushing = false;
    }
  }

  private releaseBarriers(): void {
    if (this.barriers.length === 0) return;
    const waiting: typeof this.barriers = [];
    for (const b of this.barriers) {
      if (b.at <= this.settled) b.resolve();
      else waiting.push(b);
    }
    this.barriers = waiting;
  }

  /** Resolves once every operation queued before the call has settled. */
  private drained(): Promise<void> {
    const at = this.enqueued;
    if (this.settled >= at) return Promise.resolve();
    return new Promise((resolve) => this.barriers.push({ at, resolve }));
  }

  /**
   * The statements of a batch (inserts, updates, deletes), each rendered later with the
   * placeholders of the statement or script it ends up in.
   */
  private parts(plan: BatchPlan): Part[] {
    const out: Part[] = [];
    const db = this.db;
    const t = this.t;
    const perRow = (cols: number) => Math.min(ROWS_PER_STATEMENT, Math.floor(db.maxParams / cols));

    for (const rows of chunks(plan.insertGlobals, perRow(GLOBAL_COLUMNS.length))) {
      // An existing row (the same globalAdd replayed) takes the new values, as applyOp does.
      const update = [...GLOBAL_COLUMNS.filter((c) => c !== 'xid'), 'gmt_modified'];
      out.push({
        params: rows.length * GLOBAL_COLUMNS.length,
        render: (p) =>
          `INSERT INTO ${t.globalTable} (${GLOBAL_COLUMNS.join(', ')}, gmt_create, gmt_modified) VALUES ${rows
            .map(
              (g) =>
                `(${p.add(g.xid)}, ${p.add(g.transactionId)}, ${p.add(g.status)}, ${p.add(g.applicationId)}, ${p.add(g.transactionServiceGroup)}, ${p.add(g.transactionName)}, ${p.add(g.timeout)}, ${p.add(g.beginTime)}, ${p.add(g.applicationData)}, ${db.now(0)}, ${db.now(0)})`,
            )
            .join(', ')} ${db.onConflict('xid', update)}`,
      });
    }
    for (const rows of chunks(plan.insertBranches, perRow(BRANCH_COLUMNS.length))) {
      // A branch already stored is kept, as applyOp ignores a second branchAdd.
      out.push({
        params: rows.length * BRANCH_COLUMNS.length,
        render: (p) =>
          `INSERT INTO ${t.branchTable} (${BRANCH_COLUMNS.join(', ')}, gmt_create, gmt_modified) VALUES ${rows
            .map(
              (b) =>
                `(${p.add(b.branchId)}, ${p.add(b.xid)}, ${p.add(b.transactionId)}, ${p.add(b.resourceGroupId)}, ${p.add(b.resourceId)}, ${p.add(b.branchType)}, ${p.add(b.status)}, ${p.add(b.clientId)}, ${p.add(b.applicationData)}, ${db.now(6)}, ${db.now(6)})`,
            )
            .join(', ')} ${db.onConflict('branch_id', [])}`,
      });
    }
    for (const rows of chunks(plan.updateGlobals, perRow(3))) {
      out.push({
        params: rows.length * 3,
        render: (p) => {
          const cases = rows
            .map((u) => `WHEN ${p.add(u.xid, 'varchar')} THEN ${p.add(u.status, 'smallint')}`)
            .join(' ');
          const keys = rows.map((u) => p.add(u.xid)).join(', ');
          return `UPDATE ${t.globalTable} SET status = CASE xid ${cases} END, gmt_modified = ${db.now(0)} WHERE xid IN (${keys})`;
        },
      });
    }
    for (const u of plan.casGlobals) {
      out.push({
        params: 3,
        cas: u.xid,
        render: (p) =>
          `UPDATE ${t.globalTable} SET status = ${p.add(u.status)}, gmt_modified = ${db.now(0)} WHERE xid = ${p.add(u.xid)} AND status = ${p.add(u.expect)}`,
      });
    }
    for (const rows of chunks(plan.updateBranches, perRow(5))) {
      out.push({
        params: rows.length * 5,
        render: (p) => {
          const statuses = rows
            .map((u) => `WHEN ${p.add(u.branchId, 'bigint')} THEN ${p.add(u.status, 'smallint')}`)
            .join(' ');
          const data = rows
            .map((u) => `WHEN ${p.add(u.branchId, 'bigint')} THEN ${p.add(u.applicationData, 'varchar')}`)
            .join(' ');
          const keys = rows.map((u) => p.add(u.branchId)).join(', ');
          return `UPDATE ${t.branchTable} SET status = CASE branch_id ${statuses} END, application_data = CASE branch_id ${data} END, gmt_modified = ${db.now(6)} WHERE branch_id IN (${keys})`;
        },
      });
    }
    // Branch rows go by id, and with their global row by xid: one statement while both fit.
    const delBranches = chunks(plan.deleteBranches, perRow(1));
    const delGlobals = chunks(plan.deleteGlobals, perRow(1));
    for (let i = 0; i < Math.max(delBranches.length, delGlobals.length); i++) {
      const ids = delBranches[i] ?? [];
      const xids = delGlobals[i] ?? [];
      out.push({
        params: ids.length + xids.length,
        render: (p) => {
          const conds: string[] = [];
          if (ids.length > 0) conds.push(`branch_id IN (${ids.map((b) => p.add(b)).join(', ')})`);
          if (xids.length > 0) conds.push(`xid IN (${xids.map((x) => p.add(x)).join(', ')})`);
          return `DELETE FROM ${t.branchTable} WHERE ${conds.join(' OR ')}`;
        },
      });
    }
    for (const xids of delGlobals) {
      out.push({
        params: xids.length,
        render: (p) => `DELETE FROM ${t.globalTable} WHERE xid IN (${xids.map((x) => p.add(x)).join(', ')})`,
      });
    }
    return out;
  }

  /**
   * Runs a batch atomically in as few round trips as the dialect allows: one statement alone
   * (autocommit), else every statement in one round trip (see SqlDialect.combine), else (more
   * placeholders than one statement may carry) BEGIN, each statement, COMMIT. Returns the xids
   * whose compare-and-set changed their row.
   */
  private async applyPlan(plan: BatchPlan): Promise<Set<string>> {
    const parts = this.parts(plan);
    const applied = new Set<string>();
    if (parts.length === 0) return applied;
    const db = this.db;
    if (parts.reduce((n, part) => n + part.params, 0) <= db.maxParams) {
      const p = new Params(db);
      const sqls = parts.map((part) => part.render(p));
      this.stats.roundTrips++;
      if (sqls.length === 1) {
        const r = await db.query(sqls[0] as string, p.values);
        const only = parts[0] as Part;
        if (only.cas !== undefined && r.affected > 0) applied.add(only.cas);
        return applied;
      }
      const keyed = new Set<number>();
      parts.forEach((part, i) => {
        if (part.cas !== undefined) keyed.add(i);
      });
      const script = db.combine(sqls, keyed);
      let result: SqlResult;
      if (!script.explicit) {
        result = await db.query(script.sql, p.values);
      } else {
        result = await this.inTransaction((conn) => conn.query(script.sql, p.values));
      }
      for (const i of script.changed(result)) applied.add((parts[i] as Part).cas as string);
      return applied;
    }
    await this.inTransaction(async (conn) => {
      await db.begin(conn, false);
      for (const part of parts) {
        const p = new Params(db);
        this.stats.roundTrips++;
        const r = await conn.query(part.render(p), p.values);
        if (part.cas !== undefined && r.affected > 0) applied.add(part.cas);
      }
      this.stats.roundTrips += 2;
      await conn.query('COMMIT');
    });
    return applied;
  }

  /** Runs `fn` on a pooled connection; a failure rolls back (and drops a connection that cannot). */
  private async inTransaction<T>(fn: (conn: SqlConnection) => Promise<T>): Promise<T> {
    const conn = await this.db.connect();
    let broken = false;
    try {
      return await fn(conn);
    } catch (err) {
      broken = !(await rollback(conn));
      throw err;
    } finally {
      conn.release(broken);
    }
  }

  // -------------------------------------------------------------------------------------------
  // reads

  private async selectGlobals(
    where: string,
    params: SqlValue[],
    limit: number | null,
  ): Promise<GlobalSession[]> {
    const sql = `SELECT ${GLOBAL_COLUMNS.join(', ')} FROM ${this.t.globalTable}${where} ORDER BY begin_time, xid${limit === null ? '' : ` LIMIT ${limit}`}`;
    const { rows } = await this.db.query(sql, params);
    return rows.map(toGlobal);
  }

  /** Loads the branches of `globals` (all branch rows when `xids` is null), oldest first. */
  private async attachBranches(globals: GlobalSession[], xids: string[] | null): Promise<void> {
    if (globals.length === 0) return;
    const byXid = new Map(globals.map((g) => [g.xid, g]));
    const columns = `${BRANCH_COLUMNS.join(', ')}, ${this.db.epochMs('gmt_create')} AS created_ms`;
    const order = 'ORDER BY gmt_create, branch_id';
    const results: SqlRow[][] = [];
    if (xids === null) {
      results.push((await this.db.query(`SELECT ${columns} FROM ${this.t.branchTable} ${order}`)).rows);
    } else {
      for (const part of chunks(xids, ROWS_PER_STATEMENT)) {
        const p = new Params(this.db);
        const sql = `SELECT ${columns} FROM ${this.t.branchTable} WHERE xid IN (${part.map((x) => p.add(x)).join(', ')}) ${order}`;
        results.push((await this.db.query(sql, p.values)).rows);
      }
    }
    for (const rows of results) {
      for (const r of rows) {
        // Rows of a global row that no longer exists are left over; they are not a session.
        const g = byXid.get(String(r.xid));
        if (g) g.branches.push(toBranch(r, g.beginTime));
      }
    }
  }

  async findGlobal(xid: string, options: FindOptions = {}): Promise<GlobalSession | null> {
    if (options.waitForWrites !== false) await this.drained();
    return new Promise<GlobalSession | null>((resolve, reject) => {
      this.reads.push({ xid, withBranches: options.withBranches !== false, resolve, reject });
      this.startReads();
    });
  }

  /**
   * Point reads are batched as writes are: lookups asked for while READ_BATCHES reads are in
   * flight wait and go out together, one `xid IN (…)` statement for the global rows and one
   * for the branch rows of those that want them, from two pooled connections at once. Each
   * lookup's statement starts after it was asked for, so it sees everything committed before,
   * as a read of its own would; under load one statement serves many requests instead of one
   * round trip and one query plan each.
   */
  private startReads(): void {
    if (this.readScheduled || this.readsInFlight >= READ_BATCHES || this.reads.length === 0) return;
    this.readScheduled = true;
    // Lookups asked for in this event-loop turn join the same statement.
    setImmediate(() => {
      this.readScheduled = false;
      while (this.readsInFlight < READ_BATCHES && this.reads.length > 0) {
        const batch = this.reads.splice(0, ROWS_PER_STATEMENT);
        this.readsInFlight++;
        this.readBatch(batch)
          .catch((err: unknown) => {
            const failure = storeError(`${this.kind} read failed: ${(err as Error).message}`, err);
            for (const r of batch) r.reject(failure);
          })
          .finally(() => {
            this.readsInFlight--;
            this.startReads();
          });
      }
    });
  }

  private async readBatch(batch: PendingRead[]): Promise<void> {
    const xids = [...new Set(batch.map((r) => r.xid))];
    const branchXids = [...new Set(batch.filter((r) => r.withBranches).map((r) => r.xid))];
    const pg = new Params(this.db);
    const globalsSql = ` WHERE xid IN (${xids.map((x) => pg.add(x)).join(', ')})`;
    let branchRows: Promise<SqlRow[]> = Promise.resolve([]);
    if (branchXids.length > 0) {
      const pb = new Params(this.db);
      const columns = `${BRANCH_COLUMNS.join(', ')}, ${this.db.epochMs('gmt_create')} AS created_ms`;
      const sql = `SELECT ${columns} FROM ${this.t.branchTable} WHERE xid IN (${branchXids.map((x) => pb.add(x)).join(', ')}) ORDER BY gmt_create, branch_id`;
      branchRows = this.db.query(sql, pb.values).then((r) => r.rows);
    }
    const [globalRows, rows] = await Promise.all([
      this.db.query(`SELECT ${GLOBAL_COLUMNS.join(', ')} FROM ${this.t.globalTable}${globalsSql}`, pg.values),
      branchRows,
    ]);
    const byXid = new Map<string, SqlRow>();
    for (const r of globalRows.rows) byXid.set(String(r.xid), r);
    const branchesOf = new Map<string, SqlRow[]>();
    for (const r of rows) getOrCreate(branchesOf, String(r.xid), (): SqlRow[] => []).push(r);
    // Every caller gets its own objects: the coordinator changes the sessions it is handed.
    for (const read of batch) {
      const row = byXid.get(read.xid);
      if (!row) {
        read.resolve(null);
        continue;
      }
      try {
        const g = toGlobal(row);
        if (read.withBranches)
          for (const r of branchesOf.get(read.xid) ?? []) g.branches.push(toBranch(r, g.beginTime));
        read.resolve(g);
      } catch (err) {
        read.reject(err as Error); // a row this TC cannot read fails its own lookup only
      }
    }
  }

  async listGlobals(query: SessionQuery = {}): Promise<GlobalSession[]> {
    await this.drained();
    if (query.statuses && query.statuses.length === 0) return [];
    const limit = query.limit ?? 1000;
    if (!Number.isInteger(limit) || limit < 0)
      throw storeError(`listGlobals limit must be a whole number, got ${limit}`);
    if (limit === 0) return [];
    const p = new Params(this.db);
    const conds: string[] = [];
    if (query.statuses) conds.push(`status IN (${query.statuses.map((s) => p.add(s)).join(', ')})`);
    if (query.beganBefore !== undefined) conds.push(`begin_time < ${p.add(query.beganBefore)}`);
    const where = conds.length > 0 ? ` WHERE ${conds.join(' AND ')}` : '';
    const globals = await this.selectGlobals(where, p.values, limit);
    await this.attachBranches(
      globals,
      globals.map((g) => g.xid),
    );
    return globals;
  }

  /**
   * Seata's distributed_lock (DataBaseDistributedLocker): `owner` gets `name` when the row's lease
   * has expired or is already its own, in one conditional UPDATE, and holds it until now + ttlMs
   * (this TC's clock, as Seata uses the TC's). A missing row is seeded first.
   */
  async acquireTaskLock(name: string, owner: string, ttlMs: number): Promise<boolean> {
    if (name.length === 0 || name.length > LOCK_VALUE_MAX)
      throw storeError(`task lock name "${name}" must have 1..${LOCK_VALUE_MAX} characters`);
    const value = taskLockValue(owner);
    const table = this.t.distributedLockTable;
    const take = async () => {
      const now = Date.now();
      const p = new Params(this.db);
      const sql = `UPDATE ${table} SET lock_value = ${p.add(value)}, expire = ${p.add(now + ttlMs)} WHERE lock_key = ${p.add(name)} AND (expire IS NULL OR expire < ${p.add(now)} OR lock_value = ${p.add(value)})`;
      return (await this.db.query(sql, p.values)).affected > 0;
    };
    try {
      if (await take()) return true;
      const p = new Params(this.db);
      const exists = await this.db.query(
        `SELECT lock_key FROM ${table} WHERE lock_key = ${p.add(name)}`,
        p.values,
      );
      if (exists.rows.length > 0) return false;
      const s = new Params(this.db);
      await this.db.query(
        `INSERT INTO ${table} (lock_key, lock_value, expire) VALUES (${s.add(name)}, ' ', 0) ${this.db.onConflict('lock_key', [])}`,
        s.values,
      );
      return await take();
    } catch (err) {
      throw storeError(`task lock ${name}: ${(err as Error).message}`, err);
    }
  }

  /** Ends `owner`'s lease on `name` (expire 0, as a free seed row has) if it still holds it. */
  async releaseTaskLock(name: string, owner: string): Promise<void> {
    const p = new Params(this.db);
    try {
      await this.db.query(
        `UPDATE ${this.t.distributedLockTable} SET expire = 0 WHERE lock_key = ${p.add(name)} AND lock_value = ${p.add(taskLockValue(owner))}`,
        p.values,
      );
    } catch (err) {
      throw storeError(`task lock ${name}: ${(err as Error).message}`, err);
    }
  }

  /** Waits for every queued operation, then closes the pool. */
  close(): Promise<void> {
    if (this.closing) return this.closing;
    const wasOpen = this.state === 'open';
    this.state = 'closing';
    this.closing = (async () => {
      if (wasOpen) await this.drained();
      this.state = 'closed';
      await this.db.end();
    })();
    return this.closing;
  }
}

/** Rolls back; false when the connection is unusable. */
async function rollback(conn: SqlConnection): Promise<boolean> {
  try {
    await conn.query('ROLLBACK');
    return true;
  } catch {
    return false;
  }
}

function toGlobal(r: SqlRow): GlobalSession {
  const status = Number(r.status);
  return {
    xid: String(r.xid),
    transactionId:
      r.transaction_id === null || r.transaction_id === undefined ? 0n : BigInt(String(r.transaction_id)),
    status,
    applicationId: str0(r.application_id),
    transactionServiceGroup: str0(r.transaction_service_group),
    transactionName: str0(r.transaction_name),
    timeout: Number(r.timeout ?? 0),
    beginTime: Number(r.begin_time ?? 0),
    applicationData: str0(r.application_data),
    active: status === GlobalStatus.Begin,
    branches: [],
  };
}

function toBranch(r: SqlRow, fallbackTime: number): BranchSession {
  const typeName = String(r.branch_type);
  const branchType = Object.hasOwn(BRANCH_TYPES, typeName) ? BRANCH_TYPES[typeName] : undefined;
  if (branchType === undefined)
    throw storeError(
      `branch ${String(r.branch_id)} of ${String(r.xid)} has unknown branch_type "${typeName}"`,
    );
  return {
    branchId: BigInt(String(r.branch_id)),
    xid: String(r.xid),
    transactionId:
      r.transaction_id === null || r.transaction_id === undefined ? 0n : BigInt(String(r.transaction_id)),
    resourceGroupId: str0(r.resource_group_id),
    resourceId: String(r.resource_id ?? ''),
    branchType,
    status: Number(r.status ?? 0),
    clientId: String(r.client_id ?? ''),
    applicationData: str0(r.application_data),
    lockKey: null,
    beginTime: r.created_ms === null || r.created_ms === undefined ? fallbackTime : Number(r.created_ms),
  };
}
