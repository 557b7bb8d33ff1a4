/**
 * The Redis session store (Seata's `store.mode = redis`), shared by every TC pointed at the same
 * Redis. Layout, with Seata's key names (RedisTransactionStoreManager) behind `keyPrefix`:
 *
 *   SEATA_GLOBAL_<xid>       hash: one global session (ids as decimal strings)
 *   SEATA_BRANCH_<branchId>  hash: one branch session
 *   SEATA_BRANCHES_<xid>     list: the global's branch ids in registration order
 *   SEATA_STATUS_<code>      sorted set: the XIDs in that global status, scored by beginTime
 *   <task name>              string: a task lock's owner, with a PX expiry (RedisDistributedLocker)
 *
 * Every change is one Lua script run, so no reader ever sees half of it: a globalUpdate moves
 * the XID between status sets and rewrites the hash in one step, and a globalRemove deletes the
 * hash, the branch list, the branch hashes and the status membership together. (Redis does not
 * undo a script that fails half-way; that takes foreign data of the wrong type under our keys.)
 * Changes from all transactions are queued and sent together as one MULTI/EXEC of EVALSHA calls
 * (one round trip for many changes, applied in call order); each change's promise settles with
 * its own reply. A connection failure rejects the changes of the batch on the wire (EXEC is all
 * or nothing, so they either all ran or none did) and, while Redis is unreachable, new ones at
 * once; the store reconnects by itself and is usable again afterwards.
 *
 * Durability is the Redis server's: a change is acknowledged once Redis has applied it in
 * memory, and survives a Redis crash only as far as `appendonly yes` with `appendfsync always`
 * (on disk before the reply), `everysec` (up to about a second lost) or RDB snapshots allow. The
 * `durable` flag of `write()` cannot ask for more than the server is configured to give.
 */
import {
  ConfigError,
  integerIn,
  type Logger,
  noopLogger,
  parseOptions,
  positiveMs,
  str,
  TransactionError,
} from '@dtx/core';
import { BranchType, GlobalStatus } from '@dtx/protocol';
import type * as redisTypes from 'redis';
import { lazyRequire } from '../../util/lazy-require.js';

const redis = () => lazyRequire<typeof redisTypes>('redis');

import type { BranchSession, GlobalSession } from '../../session/global-session.js';
import type { FindOptions, SessionQuery, StoreOp, TransactionStore } from '../transaction-store.js';
import { RedisKey, type RedisScript, type RedisScriptRunner, redisScript } from './redis-script.js';

/** Redis store options (Seata's `store.redis.*`). */
export interface RedisStoreOptions {
  /**
   * `redis[s]://[[user][:password]@]host[:port][/db]`.
   * @default 'redis://127.0.0.1:6379' (Seata's store.redis.single.host / port)
   */
  url: string;
  /**
   * Database index (SELECT); null takes the one in `url`, or 0.
   * @default null (Seata's store.redis.database is 0)
   */
  database: number | null;
  /**
   * Put in front of every key. '' keeps Seata's key names; a prefix such as `dtx:` lets several
   * clusters or test runs share one database.
   * @default ''
   */
  keyPrefix: string;
  /**
   * Most changes sent in one MULTI/EXEC. Redis runs a batch without interleaving other clients,
   * so this bounds how long one batch holds the server.
   * @default 512
   */
  maxBatchOps: number;
  /** Connection timeout. @default 5000 */
  connectTimeoutMs: number;
  /** CLIENT SETNAME of the connection, to find it in CLIENT LIST. @default 'dtx-tc' */
  clientName: string;
  /** Where connection errors and reconnects are reported. @default noopLogger */
  logger: Logger;
}

/** Defaults of RedisStoreOptions. */
export const DEFAULT_REDIS_STORE_OPTIONS: Readonly<RedisStoreOptions> = Object.freeze({
  url: 'redis://127.0.0.1:6379',
  database: null,
  keyPrefix: '',
  maxBatchOps: 512,
  connectTimeoutMs: 5000,
  clientName: 'dtx-tc',
  logger: noopLogger,
});

/** Merges `input` over the defaults and validates it; throws ConfigError naming the bad key. */
export function parseRedisStoreOptions(input?: Partial<RedisStoreOptions>): RedisStoreOptions {
  return parseOptions(
    DEFAULT_REDIS_STORE_OPTIONS,
    input,
    {
      url: (value, key) => {
        const url = str()(value, key);
        let protocol: string;
        try {
          protocol = new URL(url).protocol;
        } catch {
          throw new ConfigError(
            key,
            `${key} must be a redis:// or rediss:// URL, got ${JSON.stringify(url)}`,
          );
        }
        if (protocol !== 'redis:' && protocol !== 'rediss:') {
          throw new ConfigError(
            key,
            `${key} must be a redis:// or rediss:// URL, got ${JSON.stringify(url)}`,
          );
        }
        return url;
      },
      database: (value, key) => (value === null ? null : integerIn(0, 2 ** 31 - 1)(value, key)),
      maxBatchOps: integerIn(1, 100_000),
      connectTimeoutMs: positiveMs(),
      clientName: (value, key) => {
        const name = str()(value, key);
        // CLIENT SETNAME refuses spaces and newlines.
        if (/\s/.test(name))
          throw new ConfigError(key, `${key} must not contain spaces, got ${JSON.stringify(name)}`);
        return name;
      },
      logger: (value) => value as Logger,
    },
    'store.redis',
  );
}

/** A connection as open() configures it. */
function newClient(o: RedisStoreOptions, reconnect: () => boolean) {
  return redis().createClient({
    url: o.url,
    ...(o.database === null ? {} : { database: o.database }),
    name: o.clientName,
    // Fail fast while disconnected: the coordinator turns a rejected write into an error
    // response rather than holding the request until Redis is back.
    disableOfflineQueue: true,
    socket: {
      connectTimeout: o.connectTimeoutMs,
      // The first connect fails open(); after that, reconnect with a capped backoff.
      reconnectStrategy: (retries: number, cause: Error) =>
        reconnect() ? Math.min(50 * 2 ** retries, 2000) : cause,
    },
  });
}

type Client = ReturnType<typeof newClient>;

interface QueuedOp {
  name: StoreOp['op'];
  args: string[];
  /** A compare-and-set: its script reply (1 or 0) says whether it applied. */
  conditional: boolean;
  resolve(applied: boolean): void;
  reject(err: Error): void;
  /** Already sent again once after NOSCRIPT. */
  reloaded: boolean;
}

/** Keys read per SCAN step in open(). */
const SCAN_COUNT = 1000;
/** Sessions read per script run in open(). */
const OPEN_PAGE = 200;
/** Every status code, for a listGlobals without `statuses`. */
const ALL_STATUSES: readonly number[] = Object.values(GlobalStatus);
const BRANCH_TYPE_NAMES = new Map<number, string>(
  Object.entries(BranchType).map(([name, code]) => [code, name]),
);

function storeError(message: string, cause?: unknown): TransactionError {
  return new TransactionError('FailedStore', message, cause === undefined ? {} : { cause });
}

/** The URL without its password, for messages. */
function redactUrl(url: string): string {
  try {
    const u = new URL(url);
    if (u.password) u.password = '***';
    return u.toString();
  } catch {
    return url;
  }
}

// --- Lua -------------------------------------------------------------------------------------

/**
 * Every change goes through this one script, dispatched on ARGV[2]. One script (not one per op)
 * matters for ordering: inside one MULTI either every EVALSHA finds it or none does (a SCRIPT
 * FLUSH cannot run in the middle of EXEC), so after NOSCRIPT the whole batch is sent again in
 * order. The semantics are those of applyOp in session-codec.ts: changes to a missing session
 * are ignored, a duplicate branchAdd is ignored, a globalAdd replaces what was stored.
 */
const APPLY = redisScript(
  'apply',
  `
local function removeGlobal(xid)
  local gk = gkey(xid)
  local status = redis.call('HGET', gk, 'status')
  local lk = lkey(xid)
  for _, id in ipairs(redis.call('LRANGE', lk, 0, -1)) do
    if redis.call('HGET', bkey(id), 'xid') == xid then redis.call('DEL', bkey(id)) end
  end
  redis.call('DEL', lk, gk)
  if status then redis.call('ZREM', skey(status), xid) end
end
-- ARGV[i] is a count n, followed by n field/value pairs; returns them and the index after.
local function fieldsAt(i)
  local n = tonumber(ARGV[i])
  local t = {}
  for j = 1, n * 2 do t[j] = ARGV[i + j] end
  return t, i + 1 + n * 2
end
local function addBranch(xid, id, fields)
  local bk = bkey(id)
  redis.call('DEL', bk)
  redis.call('HSET', bk, unpack(fields))
  redis.call('RPUSH', lkey(xid), id)
end

local op = ARGV[2]
if op == 'globalAdd' then
  -- xid, status, beginTime, fields, branch count, then per branch: id, fields
  local xid = ARGV[3]
  removeGlobal(xid)
  local fields, i = fieldsAt(6)
  redis.call('HSET', gkey(xid), unpack(fields))
  redis.call('ZADD', skey(ARGV[4]), ARGV[5], xid)
  local count = tonumber(ARGV[i])
  i = i + 1
  for _ = 1, count do
    local id = ARGV[i]
    local bf
    bf, i = fieldsAt(i + 1)
    addBranch(xid, id, bf)
  end
  return 1
elseif op == 'globalUpdate' then
  -- xid, status, active, expected status ('' for none: unconditional)
  local xid = ARGV[3]
  local gk = gkey(xid)
  local cur = redis.call('HMGET', gk, 'status', 'beginTime')
  if not cur[1] then return 0 end
  if ARGV[6] ~= '' and cur[1] ~= ARGV[6] then return 0 end
  if cur[1] ~= ARGV[4] then redis.call('ZREM', skey(cur[1]), xid) end
  redis.call('HSET', gk, 'status', ARGV[4], 'active', ARGV[5])
  redis.call('ZADD', skey(ARGV[4]), cur[2], xid)
  return 1
elseif op == 'globalRemove' then
  removeGlobal(ARGV[3])
  return 1
elseif op == 'branchAdd' then
  -- xid, branchId, fields
  local xid, id = ARGV[3], ARGV[4]
  if redis.call('EXISTS', gkey(xid)) == 0 then return 0 end
  if redis.call('HGET', bkey(id), 'xid') == xid then return 0 end
  local fields = fieldsAt(5)
  addBranch(xid, id, fields)
  return 1
elseif op == 'branchUpdate' then
  -- xid, branchId, status, '1' + applicationData | '0' (null)
  local bk = bkey(ARGV[4])
  if redis.call('HGET', bk, 'xid') ~= ARGV[3] then return 0 end
  redis.call('HSET', bk, 'status', ARGV[5])
  if ARGV[6] == '1' then
    redis.call('HSET', bk, 'applicationData', ARGV[7])
  else
    redis.call('HDEL', bk, 'applicationData')
  end
  return 1
elseif op == 'branchRemove' then
  -- xid, branchId
  local xid, id = ARGV[3], ARGV[4]
  redis.call('LREM', lkey(xid), 0, id)
  if redis.call('HGET', bkey(id), 'xid') == xid then redis.call('DEL', bkey(id)) end
  return 1
end
return redis.error_reply('ERR unknown store op ' .. tostring(op))
`,
);

/**
 * Reads one session with its branches: { global hash, { branch hash, ... } } or false; with
 * `noBranches` the list stays empty (a status check).
 */
const LOAD_SESSION = `
local function loadSession(xid, noBranches)
  local g = redis.call('HGETALL', gkey(xid))
  if #g == 0 then return false end
  local branches = {}
  if noBranches then return { g, branches } end
  for _, id in ipairs(redis.call('LRANGE', lkey(xid), 0, -1)) do
    local b = redis.call('HGETALL', bkey(id))
    if #b > 0 then branches[#branches + 1] = b end
  end
  return { g, branches }
end
`;

/**
 * ARGV: prefix, 'branches' or 'status', xid... → one session or false per XID, read in one atomic
 * step ('status': without branches).
 */
const FIND = redisScript(
  'find',
  `${LOAD_SESSION}
local out = {}
local noBranches = ARGV[2] == 'status'
for i = 3, #ARGV do out[#out + 1] = loadSession(ARGV[i], noBranches) end
return out
`,
);

/**
 * ARGV: prefix, beganBefore ('+inf' or ms), limit, status... → sessions oldest first. One atomic
 * read, so a session is returned with the status it is listed under (never a stale one).
 */
const LIST = redisScript(
  'list',
  `${LOAD_SESSION}
local max = ARGV[2] == '+inf' and '+inf' or ('(' .. ARGV[2])
local limit = tonumber(ARGV[3])
local found = {}
for i = 4, #ARGV do
  local r = redis.call('ZRANGEBYSCORE', skey(ARGV[i]), '-inf', max, 'WITHSCORES', 'LIMIT', 0, limit)
  for j = 1, #r, 2 do found[#found + 1] = { r[j], tonumber(r[j + 1]) } end
end
table.sort(found, function(a, b)
  if a[2] ~= b[2] then return a[2] < b[2] end
  return a[1] < b[1]
end)
local out = {}
for k = 1, math.min(#found, limit) do
  local s = loadSession(found[k][1])
  if s then out[#out + 1] = s end
end
return out
`,
);

/**
 * Seata's distributed_lock semantics: take the lock when it is free (or expired) or already
 * ours (then the expiry is renewed). ARGV: prefix, owner, ttl ms. KEYS[1]: the lock.
 */
const TASK_LOCK = redisScript(
  'taskLock',
  `
local owner = redis.call('GET', KEYS[1])
if owner == false or owner == ARGV[2] then
  redis.call('SET', KEYS[1], ARGV[2], 'PX', ARGV[3])
  return 1
end
return 0
`,
);

/** Deletes the lock if ARGV[2] (after the prefix) still owns it. KEYS[1]: the lock. */
const TASK_UNLOCK = redisScript(
  'taskUnlock',
  `
if redis.call('GET', KEYS[1]) == ARGV[2] then
  redis.call('DEL', KEYS[1])
end
return 0
`,
);

const SCRIPTS = [APPLY, FIND, LIST, TASK_LOCK, TASK_UNLOCK];

// --- hash forms ------------------------------------------------------------------------------

/** Field/value pairs, null fields left out. */
function fields(entries: Array<[string, string | number | null]>): string[] {
  const out: string[] = [String(0)];
  let n = 0;
  for (const [name, value] of entries) {
    if (value === null) continue;
    out.push(name, String(value));
    n++;
  }
  out[0] = String(n);
  return out;
}

function globalFields(g: GlobalSession): string[] {
  return fields([
    ['xid', g.xid],
    ['transactionId', g.transactionId.toString()],
    ['status', g.status],
    ['applicationId', g.applicationId],
    ['transactionServiceGroup', g.transactionServiceGroup],
    ['transactionName', g.transactionName],
    ['timeout', g.timeout],
    ['beginTime', g.beginTime],
    ['applicationData', g.applicationData],
    ['active', g.active ? 'true' : 'false'],
  ]);
}

function branchFields(b: BranchSession): string[] {
  return fields([
    ['branchId', b.branchId.toString()],
    ['xid', b.xid],
    ['transactionId', b.transactionId.toString()],
    ['resourceGroupId', b.resourceGroupId],
    ['resourceId', b.resourceId],
    // By name, as in Seata's branch_table and BranchTransactionDO.
    ['branchType', BRANCH_TYPE_NAMES.get(b.branchType) ?? b.branchType],
    ['status', b.status],
    ['clientId', b.clientId],
    ['applicationData', b.applicationData],
    ['lockKey', b.lockKey],
    ['beginTime', b.beginTime],
  ]);
}

/** The APPLY arguments of one change (after the prefix). */
function opArgs(op: StoreOp): string[] {
  switch (op.op) {
    case 'globalAdd': {
      const g = op.global;
      const args = ['globalAdd', g.xid, String(g.status), String(g.beginTime), ...globalFields(g)];
      args.push(String(g.branches.length));
      for (const b of g.branches) args.push(b.branchId.toString(), ...branchFields({ ...b, xid: g.xid }));
      return args;
    }
    case 'globalUpdate':
      return [
        'globalUpdate',
        op.xid,
        String(op.status),
        op.active ? 'true' : 'false',
        op.expect === undefined ? '' : String(op.expect),
      ];
    case 'globalRemove':
      return ['globalRemove', op.xid];
    case 'branchAdd':
      return ['branchAdd', op.branch.xid, op.branch.branchId.toString(), ...branchFields(op.branch)];
    case 'branchUpdate':
      return op.applicationData === null
        ? ['branchUpdate', op.xid, op.branchId.toString(), String(op.status), '0']
        : ['branchUpdate', op.xid, op.branchId.toString(), String(op.status), '1', op.applicationData];
    case 'branchRemove':
      return ['branchRemove', op.xid, op.branchId.toString()];
  }
}

function toHash(flat: unknown): Map<string, string> {
  if (!Array.isArray(flat)) throw new Error('expected a hash');
  const m = new Map<string, string>();
  for (let i = 0; i + 1 < flat.length; i += 2) m.set(String(flat[i]), String(flat[i + 1]));
  return m;
}

function need(h: Map<string, string>, field: string): string {
  const v = h.get(field);
  if (v === undefined) throw new Error(`field ${field} is missing`);
  return v;
}

function branchFromHash(h: Map<string, string>): BranchSession {
  const type = need(h, 'branchType');
  const code = (BranchType as Record<string, BranchType>)[type];
  return {
    branchId: BigInt(need(h, 'branchId')),
    xid: need(h, 'xid'),
    transactionId: BigInt(need(h, 'transactionId')),
    resourceGroupId: h.get('resourceGroupId') ?? null,
    resourceId: need(h, 'resourceId'),
    branchType: code ?? (Number(type) as BranchType),
    status: Number(need(h, 'status')),
    clientId: need(h, 'clientId'),
    applicationData: h.get('applicationData') ?? null,
    lockKey: h.get('lockKey') ?? null,
    beginTime: Number(need(h, 'beginTime')),
  };
}

/** Parses a loadSession reply: { global hash, { branch hash, ... } }. */
function sessionFromReply(reply: unknown): GlobalSession {
  if (!Array.isArray(reply) || reply.length !== 2 || !Array.isArray(reply[1]))
    throw new Error('malformed session');
  const h = toHash(reply[0]);
  return {
    xid: need(h, 'xid'),
    transactionId: BigInt(need(h, 'transactionId')),
    status: Number(need(h, 'status')),
    applicationId: h.get('applicationId') ?? null,
    transactionServiceGroup: h.get('transactionServiceGroup') ?? null,
    transactionName: h.get('transactionName') ?? null,
    timeout: Number(need(h, 'timeout')),
    beginTime: Number(need(h, 'beginTime')),
    applicationData: h.get('applicationData') ?? null,
    active: h.get('active') === 'true',
    branches: (reply[1] as unknown[]).map((b) => branchFromHash(toHash(b))),
  };
}

/** Escapes SCAN MATCH glob characters. */
function globEscape(text: string): string {
  return text.replace(/[\\*?[\]]/g, (c) => `\\${c}`);
}

// --- the store -------------------------------------------------------------------------------

/** Sessions in Redis; see the file comment for the layout, atomicity and durability. */
export class RedisStore implements TransactionStore, RedisScriptRunner {
  readonly kind = 'redis';
  readonly shared = true;
  readonly options: RedisStoreOptions;
  private client: Client | null = null;
  private closing = false;
  private queue: QueuedOp[] = [];
  private flushing = false;
  private scheduled = false;
  /** Settles after the last queued change has settled: reads wait for it (read your writes). */
  private tail: Promise<void> = Promise.resolve();
  /** Round trips and changes written, for metrics and tests. */
  readonly stats = { batches: 0, ops: 0, failedOps: 0, scriptLoads: 0 };

  constructor(options: Partial<RedisStoreOptions> = {}) {
    this.options = parseRedisStoreOptions(options);
  }

  /** The `keyPrefix` option. */
  get keyPrefix(): string {
    return this.options.keyPrefix;
  }

  /** Connects, loads the scripts and returns every stored session, oldest first. */
  async open(): Promise<GlobalSession[]> {
    if (this.client) throw storeError('redis store is already open');
    const o = this.options;
    let connected = false;
    const client = newClient(o, () => connected);
    client.on('error', (err: Error) => {
      if (connected) o.logger.warn({ err, url: redactUrl(o.url) }, 'redis store connection error');
    });
    client.on('ready', () => {
      if (connected) o.logger.info({ url: redactUrl(o.url) }, 'redis store reconnected');
    });
    try {
      await client.connect();
      connected = true;
      await Promise.all(SCRIPTS.map((s) => client.sendCommand(['SCRIPT', 'LOAD', s.source])));
    } catch (err) {
      try {
        client.destroy();
      } catch {
        // Already closed by the failed connect.
      }
      throw storeError(`cannot connect to Redis at ${redactUrl(o.url)}: ${(err as Error).message}`, err);
    }
    this.client = client;
    this.closing = false;
    try {
      return await this.readAll();
    } catch (err) {
      this.client = null;
      client.destroy();
      throw err;
    }
  }

  /** Every stored session: SCAN for global hashes (keeps up with concurrent writers), then read them. */
  private async readAll(): Promise<GlobalSession[]> {
    const client = this.connected();
    const prefix = `${this.options.keyPrefix}${RedisKey.GLOBAL}`;
    const match = `${globEscape(prefix)}*`;
    const xids = new Set<string>();
    let cursor = '0';
    try {
      do {
        const reply = (await client.sendCommand([
          'SCAN',
          cursor,
          'MATCH',
          match,
          'COUNT',
          String(SCAN_COUNT),
        ])) as [string, string[]];
        cursor = String(reply[0]);
        for (const key of reply[1]) xids.add(String(key).slice(prefix.length));
      } while (cursor !== '0');
    } catch (err) {
      throw storeError(`cannot list sessions: ${(err as Error).message}`, err);
    }
    const out: GlobalSession[] = [];
    const all = [...xids];
    for (let i = 0; i < all.length; i += OPEN_PAGE) {
      const page = all.slice(i, i + OPEN_PAGE);
      const replies = (await this.runScript(FIND, [], ['branches', ...page])) as unknown[];
      replies.forEach((r, j) => {
        // SEATA_GLOBAL_LOCK<xid> hashes match the pattern too; only real sessions carry their xid.
        if (
          Array.isArray(r) &&
          Array.isArray(r[0]) &&
          r[0].includes('xid') &&
          toHash(r[0]).get('xid') === page[j]
        ) {
          out.push(this.parse(r));
        }
      });
    }
    return out.sort((a, b) => a.beginTime - b.beginTime || (a.xid < b.xid ? -1 : a.xid > b.xid ? 1 : 0));
  }

  write(op: StoreOp, _durable: boolean): Promise<boolean> {
    if (!this.client || this.closing) return Promise.reject(storeError('redis store is not open'));
    let args: string[];
    try {
      args = opArgs(op);
    } catch (err) {
      return Promise.reject(storeError(`cannot encode ${op.op}: ${(err as Error).message}`, err));
    }
    const conditional = op.op === 'globalUpdate' && op.expect !== undefined;
    const p = new Promise<boolean>((resolve, reject) => {
      this.queue.push({ name: op.op, args, conditional, resolve, reject, reloaded: false });
    });
    this.tail = p.then(
      () => undefined,
      () => undefined,
    );
    if (!this.flushing && !this.scheduled) {
      this.scheduled = true;
      // Changes made in the same event-loop turn, and while a batch is on the wire, go together.
      setImmediate(() => {
        this.scheduled = false;
        void this.flush();
      });
    }
    return p;
  }

  private async flush(): Promise<void> {
    if (this.flushing) return;
    this.flushing = true;
    try {
      while (this.queue.length > 0) {
        const batch = this.queue.splice(0, this.options.maxBatchOps);
        try {
          await this.sendBatch(batch);
        } catch (err) {
          // Unexpected (a malformed reply): fail what is unsettled and keep the queue moving.
          const e = storeError(`redis write failed: ${(err as Error).message}`, err);
          for (const op of batch) op.reject(e);
        }
      }
    } finally {
      this.flushing = false;
    }
  }

  /** One MULTI/EXEC of EVALSHA calls; settles each change with its own reply. */
  private async sendBatch(batch: QueuedOp[]): Promise<void> {
    const client = this.client;
    if (!client) {
      const err = storeError('redis store is closed');
      for (const op of batch) op.reject(err);
      return;
    }
    this.stats.batches++;
    let replies: unknown[];
    try {
      const multi = client.multi();
      for (const op of batch)
        multi.addCommand(['EVALSHA', APPLY.sha, '0', this.options.keyPrefix, ...op.args]);
      replies = (await multi.exec()) as unknown[];
      if (!Array.isArray(replies) || replies.length !== batch.length)
        throw new Error('EXEC reply does not match the batch');
    } catch (err) {
      if (err instanceof redis().MultiErrorReply) {
        replies = err.replies as unknown[];
      } else {
        // Connection lost, client offline: the batch may or may not have run (EXEC is all or
        // nothing); every change in it is reported as failed.
        const e = storeError(`redis write of ${batch.length} changes failed: ${(err as Error).message}`, err);
        this.stats.failedOps += batch.length;
        for (const op of batch) op.reject(e);
        return;
      }
    }
    const again: QueuedOp[] = [];
    batch.forEach((op, i) => {
      const reply = replies[i];
      if (!(reply instanceof redis().ErrorReply)) {
        this.stats.ops++;
        op.resolve(!op.conditional || Number(reply) === 1);
      } else if (reply.message.startsWith('NOSCRIPT') && !op.reloaded) {
        op.reloaded = true;
        again.push(op);
      } else {
        this.stats.failedOps++;
        op.reject(storeError(`redis refused ${op.name}: ${reply.message}`, reply));
      }
    });
    if (again.length === 0) return;
    // Redis restarted or its script cache was flushed: load the script and send these changes
    // again, ahead of everything queued after them.
    try {
      await client.sendCommand(['SCRIPT', 'LOAD', APPLY.source]);
      this.stats.scriptLoads++;
      this.queue.unshift(...again);
    } catch (err) {
      const e = storeError(`cannot load the store script: ${(err as Error).message}`, err);
      this.stats.failedOps += again.length;
      for (const op of again) op.reject(e);
    }
  }

  async findGlobal(xid: string, options: FindOptions = {}): Promise<GlobalSession | null> {
    if (options.waitForWrites !== false) await this.tail;
    const [reply] = (await this.runScript(
      FIND,
      [],
      [options.withBranches === false ? 'status' : 'branches', xid],
    )) as unknown[];
    return reply === null || reply === undefined ? null : this.parse(reply);
  }

  async listGlobals(query: SessionQuery = {}): Promise<GlobalSession[]> {
    const limit = query.limit ?? 1000;
    const statuses = [...new Set(query.statuses ?? ALL_STATUSES)];
    if (limit <= 0 || statuses.length === 0) return [];
    await this.tail;
    const before = query.beganBefore === undefined ? '+inf' : String(query.beganBefore);
    const replies = (await this.runScript(
      LIST,
      [],
      [before, String(limit), ...statuses.map(String)],
    )) as unknown[];
    return replies.map((r) => this.parse(r));
  }

  /** Seata's RedisDistributedLocker key (the task name itself), with `keyPrefix` in front. */
  async acquireTaskLock(name: string, owner: string, ttlMs: number): Promise<boolean> {
    const ttl = String(Math.max(1, Math.ceil(ttlMs)));
    const reply = await this.runScript(TASK_LOCK, [`${this.options.keyPrefix}${name}`], [owner, ttl]);
    return Number(reply) === 1;
  }

  async releaseTaskLock(name: string, owner: string): Promise<void> {
    await this.runScript(TASK_UNLOCK, [`${this.options.keyPrefix}${name}`], [owner]);
  }

  /** Sends what is queued, waits for the replies, then closes the connection. */
  async close(): Promise<void> {
    const client = this.client;
    if (!client) return;
    this.closing = true;
    await this.tail;
    this.client = null;
    // node-redis lets a reconnect that is mid-handshake when close() is called finish and stay
    // open (6.3.1); end such a connection as soon as it is ready.
    client.on('ready', () => client.destroy());
    try {
      await client.close();
    } catch {
      client.destroy();
    }
  }

  async runScript(script: RedisScript, keys: readonly string[], args: readonly string[]): Promise<unknown> {
    const client = this.connected();
    const argv = [String(keys.length), ...keys, this.options.keyPrefix, ...args];
    try {
      try {
        return await client.sendCommand(['EVALSHA', script.sha, ...argv]);
      } catch (err) {
        if (!(err instanceof redis().ErrorReply) || !err.message.startsWith('NOSCRIPT')) throw err;
        await client.sendCommand(['SCRIPT', 'LOAD', script.source]);
        this.stats.scriptLoads++;
        return await client.sendCommand(['EVALSHA', script.sha, ...argv]);
      }
    } catch (err) {
      throw storeError(`redis ${script.name} failed: ${(err as Error).message}`, err);
    }
  }

  private connected(): Client {
    if (!this.client) throw storeError('redis store is not open');
    return this.client;
  }

  private parse(reply: unknown): GlobalSession {
    try {
      return sessionFromReply(reply);
    } catch (err) {
      throw storeError(`unreadable session in Redis: ${(err as Error).message}`, err);
    }
  }
}
