/**
 * The shared stores the high-availability suite (ha.test.ts) runs its TC cluster on, each in a
 * space of its own, read directly by the test: PostgreSQL (Seata's tables in a throwaway
 * database) and Redis (Seata's keys in a database index of its own). Not a test file.
 *
 * PostgreSQL comes from PGHOST, PGPORT, PGUSER, PGPASSWORD (default postgres@127.0.0.1:5432);
 * Redis from REDIS_URL (default redis://127.0.0.1:6379), as in store-redis.test.ts.
 */
import { randomBytes } from 'node:crypto';
import { createClient } from 'redis';
import { createPostgresDialect, RecoveryTask, RedisKey, type SqlDialect } from '../src/index.js';
import { runCli } from './ha-helpers.js';

/** A task lock as the store holds it (Seata's distributed_lock row). */
export interface TaskLockRow {
  /** The task name: `lock_key`. */
  key: string;
  /** The TC holding it, `ip:port`: `lock_value`. */
  owner: string;
  /** When it lapses unless renewed, ms since the epoch: `expire`. */
  expire: number;
}

/** A stored global session, as global_table shows it. */
export interface GlobalRow {
  xid: string;
  status: number;
  beginTime: number;
}

/** The shared store under the cluster, as the test sets it up, reads it and takes it down. */
export interface HaStore {
  /** Names the store in titles and messages: 'PostgreSQL', 'Redis'. */
  readonly name: string;
  /** Null when the store's server answers, else why not (with its address). */
  unreachable(): Promise<string | null>;
  /** Makes an empty space of the store for this run; returns the `dtx server` arguments that select it. */
  create(): Promise<string[]>;
  /** The task locks held now (the PostgreSQL table keeps lapsed ones, Redis lets them expire). */
  taskLocks(): Promise<TaskLockRow[]>;
  /** The global sessions stored with one of `statuses`, oldest first. */
  globalsIn(statuses: readonly number[]): Promise<GlobalRow[]>;
  /**
   * What the store holds besides its task locks and worker-id leases, counted by kind; all zero
   * once every transaction ended well.
   */
  leftovers(): Promise<Record<string, number>>;
  /** Removes the space create() made, if it made one. The cluster must be gone first. */
  destroy(): Promise<void>;
}

// --- PostgreSQL ------------------------------------------------------------------------------

const env = process.env;
/** PostgreSQL from PGHOST, PGPORT, PGUSER, PGPASSWORD (trust auth on loopback by default). */
export const PG = {
  host: env.PGHOST ?? '127.0.0.1',
  port: Number(env.PGPORT ?? 5432),
  user: env.PGUSER ?? 'postgres',
  password: env.PGPASSWORD ?? '',
};

/** A pool on `database` (the maintenance database `postgres` for CREATE/DROP DATABASE). */
export function pgPool(database: string, poolSize = 2): SqlDialect {
  return createPostgresDialect({
    ...PG,
    database,
    poolSize,
    driver: { connectionTimeoutMillis: 3000 },
  });
}

/** Null when PostgreSQL answers, else why not. */
export async function pgUnreachable(): Promise<string | null> {
  const db = pgPool('postgres', 1);
  try {
    await db.query('SELECT 1');
    return null;
  } catch (err) {
    return `${PG.user}@${PG.host}:${PG.port}: ${(err as Error).message}`;
  } finally {
    await db.end().catch(() => {});
  }
}

/** The URL `dtx server --db-url` takes for `database`. */
export function pgUrl(database: string): string {
  const auth = PG.password
    ? `${encodeURIComponent(PG.user)}:${encodeURIComponent(PG.password)}`
    : encodeURIComponent(PG.user);
  return `postgres://${auth}@${PG.host}:${PG.port}/${database}`;
}

/** Creates an empty database `dtx_ha_<random>` and returns its name. */
export async function createDatabase(): Promise<string> {
  const name = `dtx_ha_${randomBytes(5).toString('hex')}`;
  const admin = pgPool('postgres', 1);
  try {
    await admin.query(`CREATE DATABASE ${name}`);
  } finally {
    await admin.end();
  }
  return name;
}

/** Drops `name`, closing whatever connections a killed TC left behind. */
export async function dropDatabase(name: string): Promise<void> {
  const admin = pgPool('postgres', 1);
  try {
    await admin.query(
      'SELECT pg_terminate_backend(pid) FROM pg_stat_activity WHERE datname = $1 AND pid <> pg_backend_pid()',
      [name],
    );
    await admin.query(`DROP DATABASE IF EXISTS ${name}`);
  } finally {
    await admin.end();
  }
}

/** Seata's tables in a database of their own (`store.mode: db`), applied by `dtx server schema`. */
export function postgresStore(): HaStore {
  let database: string | null = null;
  let pool: SqlDialect | null = null;
  const db = () => {
    if (!pool) throw new Error('the PostgreSQL store is not created');
    return pool;
  };
  return {
    name: 'PostgreSQL',
    unreachable: pgUnreachable,
    async create() {
      database = await createDatabase();
      await runCli(['server', 'schema', '--db', 'postgres', '--apply', '--db-url', pgUrl(database)]);
      pool = pgPool(database, 2);
      return ['--store', 'db', '--db-type', 'postgres', '--db-url', pgUrl(database)];
    },
    async taskLocks() {
      const { rows } = await db().query('SELECT lock_key, lock_value, expire FROM distributed_lock');
      return rows.map((r) => ({
        key: String(r.lock_key).trim(),
        owner: String(r.lock_value).trim(),
        expire: Number(r.expire),
      }));
    },
    async globalsIn(statuses) {
      const { rows } = await db().query(
        `SELECT xid, status, begin_time FROM global_table WHERE status IN (${statuses.join(', ')}) ORDER BY begin_time`,
      );
      return rows.map((r) => ({
        xid: String(r.xid),
        status: Number(r.status),
        beginTime: Number(r.begin_time),
      }));
    },
    async leftovers() {
      const { rows } = await db().query(
        'SELECT (SELECT count(*) FROM global_table) AS globals, (SELECT count(*) FROM branch_table) AS branches',
      );
      const r = rows[0] as { globals: unknown; branches: unknown };
      return { global_table: Number(r.globals), branch_table: Number(r.branches) };
    },
    async destroy() {
      await pool?.end().catch(() => {});
      pool = null;
      if (database) await dropDatabase(database);
      database = null;
    },
  };
}

// --- Redis -----------------------------------------------------------------------------------

/** Redis from REDIS_URL, as store-redis.test.ts takes it. */
export const REDIS_URL = env.REDIS_URL ?? 'redis://127.0.0.1:6379';

/**
 * Marks a database index as taken by one run. `dtx server` takes no key prefix (only
 * store.redis.url), so a run has a database index of its own: the first one found empty.
 */
const CLAIM_KEY = 'dtx-ha-test-claim';
/** Claims the selected database if it is empty. KEYS[1]: the claim key; ARGV[1]: the run's token. */
const CLAIM_SCRIPT = `
if redis.call('DBSIZE') == 0 then
  redis.call('SET', KEYS[1], ARGV[1])
  return 1
end
return 0
`;
/** The task names the TCs lock (Seata's RedisDistributedLocker keys them by name alone). */
const TASK_NAMES: readonly string[] = Object.values(RecoveryTask);
/** The worker-id leases a TC without server.workerId takes in the store (tc-server.ts). */
const WORKER_LEASE = /^dtx-worker-\d+$/;

/** REDIS_URL with database index `index` and without its password (for messages when `redact`). */
function redisUrl(index: number | null, redact = false): string {
  const u = new URL(REDIS_URL);
  if (index !== null) u.pathname = `/${index}`;
  if (redact && u.password) u.password = '***';
  return u.toString();
}

/** A client that fails at once rather than reconnecting, on database `index` (default: the URL's). */
function newRedisClient(index: number | null) {
  const client = createClient({
    url: redisUrl(index),
    socket: { connectTimeout: 3000, reconnectStrategy: false },
  });
  client.on('error', () => {}); // a failed command or connect rejects its own promise
  return client;
}

type RedisClient = ReturnType<typeof newRedisClient>;

/** A connected newRedisClient. */
async function redisConnect(index: number | null = null): Promise<RedisClient> {
  const client = newRedisClient(index);
  await client.connect();
  return client;
}

/** Every key of the selected database matching `match`. */
async function scanKeys(client: RedisClient, match = '*'): Promise<string[]> {
  const out: string[] = [];
  let cursor = '0';
  do {
    const [next, keys] = (await client.sendCommand(['SCAN', cursor, 'MATCH', match, 'COUNT', '1000'])) as [
      string,
      string[],
    ];
    cursor = String(next);
    out.push(...keys.map(String));
  } while (cursor !== '0');
  return out;
}

/** Escapes SCAN MATCH glob characters. */
function globEscape(text: string): string {
  return text.replace(/[\\*?[\]]/g, (c) => `\\${c}`);
}

/**
 * Seata's Redis keys (store.mode redis) in a database index of this run's own: the first of
 * 1..15 found empty, claimed atomically, flushed at the end (index 0 is left to other tests).
 */
export function redisStore(): HaStore {
  let index: number | null = null;
  let client: RedisClient | null = null;
  const token = `${process.pid}-${randomBytes(6).toString('hex')}`;
  const redis = () => {
    if (!client) throw new Error('the Redis store is not created');
    return client;
  };
  /** The global session hashes, as the store recognises them (SEATA_GLOBAL_LOCK<xid> hashes match the glob too). */
  const globals = async (): Promise<GlobalRow[]> => {
    const c = redis();
    const keys = await scanKeys(c, `${globEscape(RedisKey.GLOBAL)}*`);
    const rows = await Promise.all(
      keys.map(async (key) => {
        const [xid, status, beginTime] = (await c.sendCommand([
          'HMGET',
          key,
          'xid',
          'status',
          'beginTime',
        ])) as [string | null, string | null, string | null];
        if (xid === null || xid !== key.slice(RedisKey.GLOBAL.length)) return null;
        return { xid, status: Number(status), beginTime: Number(beginTime) };
      }),
    );
    return rows.filter((r) => r !== null);
  };
  return {
    name: 'Redis',
    async unreachable() {
      let c: RedisClient | null = null;
      try {
        c = await redisConnect();
        await c.sendCommand(['PING']);
        return null;
      } catch (err) {
        return `${redisUrl(null, true)}: ${(err as Error).message}`;
      } finally {
        c?.destroy();
      }
    },
    async create() {
      const c = await redisConnect();
      client = c;
      for (let i = 1; i < 16; i++) {
        try {
          await c.select(i);
        } catch {
          break; // past the server's `databases`
        }
        if (Number(await c.sendCommand(['EVAL', CLAIM_SCRIPT, '1', CLAIM_KEY, token])) === 1) {
          index = i;
          return ['--store', 'redis', '--redis-url', redisUrl(i)];
        }
      }
      throw new Error(
        `no empty database index among 1..15 at ${redisUrl(null, true)}: the test needs one (redis-cli -n <index> FLUSHDB frees one)`,
      );
    },
    async taskLocks() {
      const c = redis();
      const out: TaskLockRow[] = [];
      for (const key of TASK_NAMES) {
        // Owner and time to live read in one step; the expiry is reckoned from before the read,
        // so it is never later than the one Redis keeps.
        const now = Date.now();
        const [value, pttl] = await c.multi().get(key).pTTL(key).exec();
        const ttl = Number(pttl);
        if (value === null || ttl === -2) continue; // free, or lapsed
        const owner = String(value);
        // The store sets every task lock with PX: one without an expiry would never be freed.
        if (ttl === -1) throw new Error(`task lock ${key} (${owner}) has no expiry`);
        out.push({ key, owner, expire: now + ttl });
      }
      return out;
    },
    async globalsIn(statuses) {
      return (await globals())
        .filter((g) => statuses.includes(g.status))
        .sort((a, b) => a.beginTime - b.beginTime || (a.xid < b.xid ? -1 : 1));
    },
    async leftovers() {
      const c = redis();
      // Longest prefix first: SEATA_GLOBAL_LOCK before SEATA_GLOBAL_, SEATA_BRANCHES_ before SEATA_BRANCH_.
      const kinds = [
        RedisKey.GLOBAL_LOCK,
        RedisKey.GLOBAL,
        RedisKey.BRANCHES,
        RedisKey.BRANCH,
        RedisKey.STATUS,
        RedisKey.ROW_LOCK,
      ].sort((a, b) => b.length - a.length);
      const counts: Record<string, number> = { other: 0 };
      for (const k of kinds) counts[`${k}*`] = 0;
      for (const key of await scanKeys(c)) {
        if (key === CLAIM_KEY || TASK_NAMES.includes(key) || WORKER_LEASE.test(key)) continue;
        const kind = kinds.find((k) => key.startsWith(k));
        // A status set counts its members: each is a transaction the recovery tasks would read.
        const n = kind === RedisKey.STATUS ? Number(await c.sendCommand(['ZCARD', key])) : 1;
        counts[kind === undefined ? 'other' : `${kind}*`] += n;
      }
      return counts;
    },
    async destroy() {
      const c = client;
      client = null;
      if (!c) return;
      try {
        // Flush only while the claim is still ours: the database is this run's alone.
        if (index !== null && (await c.get(CLAIM_KEY)) === token) await c.flushDb();
      } finally {
        index = null;
        c.destroy();
      }
    },
  };
}
