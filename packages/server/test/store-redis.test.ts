/**
 * RedisStore and RedisLockManager against a real Redis (REDIS_URL, default redis://127.0.0.1:6379).
 * Every run uses its own key prefix (`dtx_t_<random>:`) and deletes its keys at the end, so runs
 * can share one Redis in parallel. Without a reachable Redis the suite is skipped, or fails when
 * CI=true.
 */
import assert from 'node:assert/strict';
import { randomBytes } from 'node:crypto';
import net from 'node:net';
import { after, before, describe, test } from 'node:test';
import { setTimeout as sleep } from 'node:timers/promises';
import { ConfigError, TransactionError } from '@dtx/core';
import { BranchType, GlobalStatus } from '@dtx/protocol';
import { describeStoreConformance, FaultProxy } from '@dtx/testing';
import { createClient } from 'redis';
import { MemoryLockManager } from '../src/lock/lock-manager.js';
import { RedisLockManager } from '../src/lock/redis-lock-manager.js';
import type { BranchSession, GlobalSession } from '../src/session/global-session.js';
import {
  DEFAULT_REDIS_STORE_OPTIONS,
  parseRedisStoreOptions,
  RedisStore,
  type RedisStoreOptions,
} from '../src/store/redis/redis-store.js';
import { applyOp } from '../src/store/session-codec.js';
import type { StoreOp } from '../src/store/transaction-store.js';
import { startTc, Tm, until, workerIdOf, workerOfNextBegin } from './helpers.js';

const REDIS_URL = process.env.REDIS_URL ?? 'redis://127.0.0.1:6379';
const RUN_PREFIX = `dtx_t_${randomBytes(6).toString('hex')}:`;
const S = GlobalStatus;

/** Resolves to null when a TCP connection to the Redis address opens, else the reason. */
function probe(url: string): Promise<string | null> {
  const u = new URL(url);
  return new Promise((resolve) => {
    const socket = net.connect({ host: u.hostname || '127.0.0.1', port: Number(u.port || 6379) });
    const done = (reason: string | null) => {
      socket.destroy();
      resolve(reason);
    };
    socket.setTimeout(1000, () => done('connect timed out after 1000 ms'));
    socket.once('connect', () => done(null));
    socket.once('error', (err) => done(err.message));
  });
}

const unreachable = await probe(REDIS_URL);

// --- fixtures --------------------------------------------------------------------------------

let prefixes = 0;
/** A fresh key space inside this run's prefix. */
function newPrefix(): string {
  return `${RUN_PREFIX}${++prefixes}:`;
}

const open: RedisStore[] = [];
function newStore(keyPrefix: string, options: Partial<RedisStoreOptions> = {}): RedisStore {
  const store = new RedisStore({ url: REDIS_URL, keyPrefix, ...options });
  open.push(store);
  return store;
}

async function opened(keyPrefix: string, options: Partial<RedisStoreOptions> = {}): Promise<RedisStore> {
  const store = newStore(keyPrefix, options);
  await store.open();
  return store;
}

// Ids above 2^53: a number anywhere on the way would corrupt them.
let nextId = 9_007_199_254_740_993n;
function id(): bigint {
  return nextId++;
}

function global(overrides: Partial<GlobalSession> = {}): GlobalSession {
  const transactionId = id();
  return {
    xid: `10.0.0.1:8091:${transactionId}`,
    transactionId,
    status: S.Begin,
    applicationId: 'order-service',
    transactionServiceGroup: 'default_tx_group',
    transactionName: 'placeOrder',
    timeout: 60_000,
    beginTime: 1_700_000_000_000,
    applicationData: null,
    active: true,
    branches: [],
    ...overrides,
  };
}

function branch(g: GlobalSession, overrides: Partial<BranchSession> = {}): BranchSession {
  return {
    branchId: id(),
    xid: g.xid,
    transactionId: g.transactionId,
    resourceGroupId: 'default_tx_group',
    resourceId: 'jdbc:mysql://db:3306/orders',
    branchType: BranchType.AT,
    status: 1,
    clientId: 'order-service:10.0.0.2:51000',
    applicationData: null,
    lockKey: 'orders:1',
    beginTime: 1_700_000_000_100,
    ...overrides,
  };
}

function byBeginTime(sessions: Iterable<GlobalSession>): GlobalSession[] {
  return [...sessions].sort((a, b) => a.beginTime - b.beginTime || (a.xid < b.xid ? -1 : 1));
}

async function rejectsWithFailedStore(p: Promise<unknown>, what: string): Promise<TransactionError> {
  try {
    await p;
  } catch (err) {
    assert.ok(err instanceof TransactionError, `${what}: expected a TransactionError, got ${String(err)}`);
    assert.equal(err.code, 'FailedStore', what);
    return err;
  }
  assert.fail(`${what}: expected a rejection`);
}

/** Deterministic PRNG (mulberry32), so a failing random sequence can be replayed. */
function prng(seed: number): () => number {
  let a = seed >>> 0;
  return () => {
    a = (a + 0x6d2b79f5) >>> 0;
    let t = a;
    t = Math.imul(t ^ (t >>> 15), t | 1);
    t ^= t + Math.imul(t ^ (t >>> 7), t | 61);
    return ((t ^ (t >>> 14)) >>> 0) / 4294967296;
  };
}

// --- the suites ------------------------------------------------------------------------------

if (unreachable !== null) {
  const message = `Redis is unreachable at ${REDIS_URL} (${unreachable}); set REDIS_URL or start Redis`;
  if (process.env.CI === 'true') {
    test('Redis store needs a reachable Redis', () => assert.fail(message));
  } else {
    test('Redis store', { skip: message }, () => {});
  }
} else {
  const raw = createClient({ url: REDIS_URL });
  raw.on('error', () => {});

  /** Every key of a prefix. */
  async function keysOf(prefix: string): Promise<string[]> {
    const out: string[] = [];
    let cursor = '0';
    do {
      const [next, keys] = (await raw.sendCommand([
        'SCAN',
        cursor,
        'MATCH',
        `${prefix}*`,
        'COUNT',
        '1000',
      ])) as [string, string[]];
      cursor = String(next);
      out.push(...keys.map(String));
    } while (cursor !== '0');
    return out;
  }

  before(async () => {
    await raw.connect();
  });

  after(async () => {
    for (const store of open) await store.close().catch(() => {});
    const keys = await keysOf(RUN_PREFIX);
    for (let i = 0; i < keys.length; i += 500) await raw.sendCommand(['DEL', ...keys.slice(i, i + 500)]);
    assert.deepEqual(await keysOf(RUN_PREFIX), [], 'test keys left behind');
    await raw.close();
  });

  describeStoreConformance('RedisStore', async () => {
    const keyPrefix = newPrefix();
    const instances: RedisStore[] = [];
    const make = () => {
      const store = newStore(keyPrefix);
      instances.push(store);
      return store;
    };
    return {
      store: make(),
      reopen: async () => make(),
      cleanup: async () => {
        for (const store of instances) await store.close();
        const keys = await keysOf(keyPrefix);
        if (keys.length > 0) await raw.sendCommand(['DEL', ...keys]);
      },
      sharedLocks: true,
    };
  });

  describe('RedisStore options', () => {
    test('defaults follow Seata: local Redis, no prefix (Seata key names)', () => {
      const o = parseRedisStoreOptions();
      assert.equal(o.url, 'redis://127.0.0.1:6379');
      assert.equal(o.keyPrefix, '');
      assert.equal(o.database, null);
      assert.deepEqual(o, { ...DEFAULT_REDIS_STORE_OPTIONS });
    });

    test('bad values throw ConfigError naming the key', () => {
      const cases: Array<[Partial<RedisStoreOptions>, string]> = [
        [{ url: 'http://localhost' }, 'store.redis.url'],
        [{ url: 'not a url' }, 'store.redis.url'],
        [{ database: -1 }, 'store.redis.database'],
        [{ database: 'x' as unknown as number }, 'store.redis.database'],
        [{ maxBatchOps: 0 }, 'store.redis.maxBatchOps'],
        [{ keyPrefix: 3 as unknown as string }, 'store.redis.keyPrefix'],
        [{ clientName: 'a b' }, 'store.redis.clientName'],
        [{ bogus: 1 } as unknown as Partial<RedisStoreOptions>, 'store.redis.bogus'],
      ];
      for (const [input, key] of cases) {
        assert.throws(
          () => parseRedisStoreOptions(input),
          (err) => err instanceof ConfigError && err.key === key,
          key,
        );
      }
      assert.equal(
        parseRedisStoreOptions({ connectTimeoutMs: '2s' as unknown as number }).connectTimeoutMs,
        2000,
      );
    });
  });

  describe('RedisStore', () => {
    test('is a shared store of kind redis', () => {
      const store = new RedisStore();
      assert.equal(store.kind, 'redis');
      assert.equal(store.shared, true);
    });

    test('TCs sharing it lease distinct worker ids, each held under its lease key', async (t) => {
      const p = newPrefix();
      // All listen on 127.0.0.1 with an ephemeral port: the same address-derived first choice.
      const workers: number[] = [];
      for (let i = 0; i < 3; i++) {
        const store = newStore(p);
        const tc = await startTc(t, { store, locks: new RedisLockManager(store) });
        const tm = await Tm.connect(t, tc.port);
        const xid = await tm.begin();
        workers.push(workerIdOf(xid));
      }
      assert.equal(new Set(workers).size, 3, `worker ids ${workers.join(', ')}`);
      const leased = (await keysOf(`${p}dtx-worker-`)).map((k) => k.slice(p.length)).sort();
      assert.deepEqual(leased, workers.map((w) => `dtx-worker-${w}`).sort());
    });

    test("hands a stopped TC's worker id back, so its successor on the same address takes the same id", async (t) => {
      const p = newPrefix();
      const store = newStore(p);
      const first = await startTc(t, { store, locks: new RedisLockManager(store) });
      const id = await workerOfNextBegin(t, first.port);
      await first.server.stop();
      assert.deepEqual(await keysOf(`${p}dtx-worker-`), [], 'the lease ends with the TC');
      const next = newStore(p);
      const second = await startTc(t, { store: next, locks: new RedisLockManager(next) });
      assert.equal(
        await workerOfNextBegin(t, second.port),
        id,
        'not the next id along, as with a lease still running',
      );
    });

    test('a status check (withBranches: false) reads the session without its branches', async () => {
      const a = await opened(newPrefix());
      const g = global();
      await a.write({ op: 'globalAdd', global: g }, true);
      await a.write(
        { op: 'branchAdd', branch: branch(g, { branchType: BranchType.TCC, lockKey: null }) },
        true,
      );
      await a.write({ op: 'globalUpdate', xid: g.xid, status: GlobalStatus.Committing, active: true }, true);
      const status = await a.findGlobal(g.xid, { withBranches: false });
      assert.equal(status?.status, GlobalStatus.Committing);
      assert.deepEqual(status?.branches, []);
      assert.equal((await a.findGlobal(g.xid))?.branches.length, 1, 'a full read still has them');
      assert.equal(await a.findGlobal('127.0.0.1:8091:1', { withBranches: false }), null);
      await a.close();
    });

    test('a stopping TC hands back the recovery task locks it holds', async (t) => {
      const p = newPrefix();
      const store = newStore(p);
      const tc = await startTc(t, { store, locks: new RedisLockManager(store) });
      const tasks = ['RetryCommitting', 'RetryRollbacking', 'AsyncCommitting', 'TxTimeoutCheck'];
      await until(
        async () =>
          (await keysOf(p)).filter((k) => tasks.includes(k.slice(p.length))).length === tasks.length,
        'recovery holding its four task locks',
      );
      await tc.server.stop();
      assert.deepEqual(
        (await keysOf(p)).map((k) => k.slice(p.length)).filter((k) => tasks.includes(k)),
        [],
        'no lease left for another TC to wait out',
      );
    });

    test('every change survives reopening from a new instance', async () => {
      const p = newPrefix();
      const a = await opened(p);
      const g = global({ applicationData: '', transactionName: null, applicationId: null });
      const b1 = branch(g, { lockKey: 'orders:1,2;items:7' });
      const b2 = branch(g, { branchType: BranchType.TCC, lockKey: null, resourceGroupId: null });
      const b3 = branch(g, { branchType: BranchType.SAGA, lockKey: null, applicationData: '{"k":"v"}' });
      await a.write({ op: 'globalAdd', global: g }, true);
      await a.write({ op: 'branchAdd', branch: b1 }, true);
      await a.write({ op: 'branchAdd', branch: b2 }, true);
      await a.write({ op: 'branchAdd', branch: b3 }, false);
      await a.write(
        { op: 'branchUpdate', xid: g.xid, branchId: b2.branchId, status: 2, applicationData: '{"x":1}' },
        true,
      );
      await a.write(
        { op: 'branchUpdate', xid: g.xid, branchId: b3.branchId, status: 3, applicationData: null },
        true,
      );
      await a.write({ op: 'globalUpdate', xid: g.xid, status: S.Committing, active: false }, true);
      await a.write({ op: 'branchRemove', xid: g.xid, branchId: b1.branchId }, false);
      await a.close();

      const expected: GlobalSession = {
        ...g,
        status: S.Committing,
        active: false,
        branches: [
          { ...b2, status: 2, applicationData: '{"x":1}' },
          { ...b3, status: 3, applicationData: null },
        ],
      };
      const b = newStore(p);
      assert.deepEqual(await b.open(), [expected]);
      assert.deepEqual(await b.findGlobal(g.xid), expected);
      assert.equal(await b.findGlobal('10.0.0.1:8091:404'), null);
      assert.deepEqual(await b.listGlobals({ statuses: [S.Committing] }), [expected]);
      assert.deepEqual(await b.listGlobals({ statuses: [S.Begin] }), []);

      // Seata's layout, readable with redis-cli.
      const hash = (await raw.sendCommand(['HGETALL', `${p}SEATA_GLOBAL_${g.xid}`])) as unknown;
      const h = hash instanceof Map ? Object.fromEntries(hash) : (hash as Record<string, string>);
      assert.equal(h.transactionId, g.transactionId.toString());
      assert.equal(h.status, String(S.Committing));
      assert.deepEqual(await raw.sendCommand(['LRANGE', `${p}SEATA_BRANCHES_${g.xid}`, '0', '-1']), [
        b2.branchId.toString(),
        b3.branchId.toString(),
      ]);
      assert.equal(await raw.sendCommand(['HGET', `${p}SEATA_BRANCH_${b2.branchId}`, 'branchType']), 'TCC');
      assert.equal(Number(await raw.sendCommand(['ZSCORE', `${p}SEATA_STATUS_2`, g.xid])), g.beginTime);

      await b.write({ op: 'globalRemove', xid: g.xid }, true);
      await b.close();
      const c = newStore(p);
      assert.deepEqual(await c.open(), []);
      assert.deepEqual(await keysOf(p), [], 'globalRemove leaves no hash, list, branch or status entry');
    });

    test('branches keep registration order, whatever their ids', async () => {
      const p = newPrefix();
      const a = await opened(p);
      const g = global();
      await a.write({ op: 'globalAdd', global: g }, true);
      const rnd = prng(7);
      const branches = Array.from({ length: 30 }, () =>
        branch(g, { branchId: BigInt(Math.floor(rnd() * 1e15)) + 10n ** 17n }),
      );
      await Promise.all(branches.map((b) => a.write({ op: 'branchAdd', branch: b }, true)));
      const removed = branches.splice(10, 1)[0] as BranchSession;
      await a.write({ op: 'branchRemove', xid: g.xid, branchId: removed.branchId }, true);
      const late = branch(g);
      branches.push(late);
      await a.write({ op: 'branchAdd', branch: late }, true);
      const [reopened] = await newStore(p).open();
      assert.deepEqual(
        reopened?.branches.map((b) => b.branchId),
        branches.map((b) => b.branchId),
      );
    });

    test('a globalAdd carries its branches and replaces what was stored (replay form)', async () => {
      const p = newPrefix();
      const a = await opened(p);
      const g = global();
      const old = branch(g);
      await a.write({ op: 'globalAdd', global: g }, true);
      await a.write({ op: 'branchAdd', branch: old }, true);
      const replacement: GlobalSession = { ...g, status: S.Rollbacking, active: false, branches: [] };
      replacement.branches = [branch(g), branch(g, { branchType: BranchType.XA })];
      await a.write({ op: 'globalAdd', global: replacement }, true);
      assert.deepEqual(await a.findGlobal(g.xid), replacement);
      assert.equal(await raw.sendCommand(['EXISTS', `${p}SEATA_BRANCH_${old.branchId}`]), 0);
      assert.equal(await raw.sendCommand(['ZSCORE', `${p}SEATA_STATUS_${S.Begin}`, g.xid]), null);
    });

    test('random change sequences end where applyOp ends (missing sessions, duplicates, re-adds)', async () => {
      const p = newPrefix();
      const store = await opened(p);
      const rnd = prng(2024);
      const pick = <T>(xs: readonly T[]): T => xs[Math.floor(rnd() * xs.length)] as T;
      const sessions = Array.from({ length: 8 }, (_, i) => global({ beginTime: 1_700_000_000_000 + i * 10 }));
      const branches = sessions.flatMap((g) => Array.from({ length: 4 }, () => branch(g)));
      const statuses = Object.values(S);
      const memory = new Map<string, GlobalSession>();
      const ops: StoreOp[] = [];
      for (let i = 0; i < 600; i++) {
        const g = pick(sessions);
        const b = pick(branches.filter((x) => x.xid === g.xid));
        const r = rnd();
        if (r < 0.15) ops.push({ op: 'globalAdd', global: { ...g, branches: rnd() < 0.3 ? [b] : [] } });
        else if (r < 0.3)
          ops.push({ op: 'globalUpdate', xid: g.xid, status: pick(statuses), active: rnd() < 0.5 });
        else if (r < 0.38) ops.push({ op: 'globalRemove', xid: g.xid });
        else if (r < 0.65) ops.push({ op: 'branchAdd', branch: b });
        else if (r < 0.85) {
          const applicationData = rnd() < 0.3 ? null : `data-${i}`;
          ops.push({
            op: 'branchUpdate',
            xid: g.xid,
            branchId: b.branchId,
            status: 1 + (i % 10),
            applicationData,
          });
        } else ops.push({ op: 'branchRemove', xid: g.xid, branchId: b.branchId });
      }
      // Sent in bursts without waiting in between: call order must be the order applied.
      for (let i = 0; i < ops.length; i += 37) {
        const burst = ops.slice(i, i + 37);
        for (const op of burst) applyOp(memory, structuredClone(op));
        await Promise.all(burst.map((op, j) => store.write(op, j % 2 === 0)));
        if (i % 111 === 0) {
          assert.deepEqual(
            await store.listGlobals(),
            byBeginTime(memory.values()),
            `after op ${i + burst.length}`,
          );
        }
      }
      assert.deepEqual(await newStore(p).open(), byBeginTime(memory.values()));
      for (const g of sessions) assert.deepEqual(await store.findGlobal(g.xid), memory.get(g.xid) ?? null);
    });

    test('listGlobals filters by status and beganBefore, oldest first, up to limit', async () => {
      const p = newPrefix();
      const store = await opened(p);
      const t0 = 1_700_000_000_000;
      const sessions = [
        global({ beginTime: t0 + 50, status: S.Begin }),
        global({ beginTime: t0 + 10, status: S.Committing }),
        global({ beginTime: t0 + 30, status: S.Begin }),
        global({ beginTime: t0 + 20, status: S.Rollbacking }),
        global({ beginTime: t0 + 40, status: S.Committing }),
        global({ beginTime: t0 + 60, status: S.CommitFailed }),
      ];
      for (const g of sessions) await store.write({ op: 'globalAdd', global: g }, true);
      const times = (list: GlobalSession[]) => list.map((g) => g.beginTime - t0);
      assert.deepEqual(times(await store.listGlobals()), [10, 20, 30, 40, 50, 60]);
      assert.deepEqual(times(await store.listGlobals({ statuses: [S.Begin] })), [30, 50]);
      assert.deepEqual(
        times(await store.listGlobals({ statuses: [S.Committing, S.Begin] })),
        [10, 30, 40, 50],
      );
      assert.deepEqual(times(await store.listGlobals({ statuses: [S.Begin, S.Begin] })), [30, 50]);
      assert.deepEqual(
        times(await store.listGlobals({ statuses: [S.Committing, S.Begin], limit: 3 })),
        [10, 30, 40],
      );
      assert.deepEqual(times(await store.listGlobals({ beganBefore: t0 + 40 })), [10, 20, 30]);
      assert.deepEqual(times(await store.listGlobals({ statuses: [S.Begin], beganBefore: t0 + 30 })), []);
      assert.deepEqual(await store.listGlobals({ statuses: [] }), []);
      assert.deepEqual(await store.listGlobals({ limit: 0 }), []);
      await store.write(
        { op: 'globalUpdate', xid: sessions[0]!.xid, status: S.Committing, active: false },
        false,
      );
      assert.deepEqual(times(await store.listGlobals({ statuses: [S.Committing] })), [10, 40, 50]);
      assert.deepEqual(times(await store.listGlobals({ statuses: [S.Begin] })), [30]);
    });

    test('status moves are atomic: a listing never returns a session with a stale status', async () => {
      const p = newPrefix();
      const writer = await opened(p);
      const reader = await opened(p);
      const sessions = Array.from({ length: 60 }, (_, i) => global({ beginTime: 1_700_000_000_000 + i }));
      await Promise.all(sessions.map((g) => writer.write({ op: 'globalAdd', global: g }, true)));
      let stop = false;
      const flips = (async () => {
        let n = 0;
        while (!stop) {
          const status = n % 2 === 0 ? S.Committing : S.Begin;
          await Promise.all(
            sessions.map((g) =>
              writer.write({ op: 'globalUpdate', xid: g.xid, status, active: true }, false),
            ),
          );
          n++;
        }
        return n;
      })();
      let listings = 0;
      const deadline = Date.now() + 400;
      while (Date.now() < deadline) {
        for (const status of [S.Begin, S.Committing]) {
          const listed = await reader.listGlobals({ statuses: [status] });
          for (const g of listed) assert.equal(g.status, status, `${g.xid} listed under ${status}`);
          listings++;
        }
        // Each session is in exactly one status set at every instant.
        const both = await reader.listGlobals({ statuses: [S.Begin, S.Committing] });
        assert.equal(both.length, sessions.length);
      }
      stop = true;
      const rounds = await flips;
      assert.ok(rounds > 2 && listings > 2, `rounds ${rounds}, listings ${listings}`);
      const begin = Number(await raw.sendCommand(['ZCARD', `${p}SEATA_STATUS_${S.Begin}`]));
      const committing = Number(await raw.sendCommand(['ZCARD', `${p}SEATA_STATUS_${S.Committing}`]));
      assert.equal(begin + committing, sessions.length);
    });

    test('pipelines: 1000 concurrent transactions go out in a few round trips, in call order', async () => {
      const p = newPrefix();
      const store = await opened(p, { maxBatchOps: 512 });
      const writes: Array<Promise<unknown>> = [];
      const kept: GlobalSession[] = [];
      for (let i = 0; i < 1000; i++) {
        const g = global({ beginTime: 1_700_000_000_000 + i });
        const b1 = branch(g);
        const b2 = branch(g, { branchType: BranchType.TCC });
        // No await between the changes of one transaction: only call order keeps them valid.
        writes.push(store.write({ op: 'globalAdd', global: g }, true));
        writes.push(store.write({ op: 'branchAdd', branch: b1 }, true));
        writes.push(store.write({ op: 'branchAdd', branch: b2 }, true));
        writes.push(
          store.write({ op: 'globalUpdate', xid: g.xid, status: S.Committing, active: false }, true),
        );
        writes.push(store.write({ op: 'branchRemove', xid: g.xid, branchId: b1.branchId }, false));
        if (i % 2 === 0) {
          writes.push(store.write({ op: 'branchRemove', xid: g.xid, branchId: b2.branchId }, false));
          writes.push(store.write({ op: 'globalRemove', xid: g.xid }, false));
        } else {
          kept.push({ ...g, status: S.Committing, active: false, branches: [b2] });
        }
      }
      const before = store.stats.batches;
      await Promise.all(writes);
      const batches = store.stats.batches - before;
      assert.ok(batches >= Math.ceil(writes.length / 512), `maxBatchOps respected (${batches} batches)`);
      assert.ok(batches <= writes.length / 100, `${writes.length} changes took ${batches} round trips`);
      assert.deepEqual(await newStore(p).open(), kept);
    });

    test('reads see the changes queued before them (read your writes)', async () => {
      const store = await opened(newPrefix());
      const g = global();
      void store.write({ op: 'globalAdd', global: g }, false);
      void store.write({ op: 'globalUpdate', xid: g.xid, status: S.Rollbacking, active: false }, false);
      assert.equal((await store.findGlobal(g.xid))?.status, S.Rollbacking);
      void store.write({ op: 'globalRemove', xid: g.xid }, false);
      assert.deepEqual(await store.listGlobals(), []);
    });

    test('close() sends what is queued first', async () => {
      const p = newPrefix();
      const store = await opened(p);
      const g = global();
      const pending = store.write({ op: 'globalAdd', global: g }, false);
      await store.close();
      await pending;
      assert.deepEqual(await newStore(p).open(), [g]);
      await rejectsWithFailedStore(
        store.write({ op: 'globalRemove', xid: g.xid }, true),
        'write after close',
      );
    });

    test('task lock: held by one owner, renewed by it, taken by another once expired', async () => {
      const p = newPrefix();
      const a = await opened(p);
      const b = await opened(p);
      assert.equal(await a.acquireTaskLock('RetryCommitting', 'tc-a:8091', 10_000), true);
      assert.equal(await b.acquireTaskLock('RetryCommitting', 'tc-b:8091', 10_000), false);
      assert.equal(
        await b.acquireTaskLock('RetryRollbacking', 'tc-b:8091', 10_000),
        true,
        'locks are per task',
      );
      // Seata's RedisDistributedLocker key: the task name itself.
      assert.equal(await raw.sendCommand(['GET', `${p}RetryCommitting`]), 'tc-a:8091');

      // At least 150 ms either side of every expiry, so a slow machine does not flip the outcome.
      assert.equal(await a.acquireTaskLock('TxTimeoutCheck', 'tc-a:8091', 400), true);
      await sleep(200);
      assert.equal(await a.acquireTaskLock('TxTimeoutCheck', 'tc-a:8091', 400), true, 'renewed by its owner');
      await sleep(250);
      assert.equal(
        await b.acquireTaskLock('TxTimeoutCheck', 'tc-b:8091', 400),
        false,
        'the renewal moved the expiry',
      );
      await sleep(300);
      assert.equal(
        await b.acquireTaskLock('TxTimeoutCheck', 'tc-b:8091', 10_000),
        true,
        'taken once expired',
      );
      assert.equal(await a.acquireTaskLock('TxTimeoutCheck', 'tc-a:8091', 10_000), false);
    });

    test('a change Redis refuses rejects alone with FailedStore; the rest of its batch applies', async () => {
      const p = newPrefix();
      const store = await opened(p);
      const bad = global();
      const good = global();
      await store.write({ op: 'globalAdd', global: bad }, true);
      await raw.sendCommand(['SET', `${p}SEATA_BRANCHES_${bad.xid}`, 'not a list']);
      const refused = store.write({ op: 'branchAdd', branch: branch(bad) }, true);
      const accepted = store.write({ op: 'globalAdd', global: good }, true);
      const err = await rejectsWithFailedStore(refused, 'branchAdd onto a string key');
      assert.match(err.message, /WRONGTYPE/);
      await accepted;
      assert.deepEqual(await store.findGlobal(good.xid), good);
      assert.ok(store.stats.failedOps >= 1);
    });

    test('after the script cache is flushed, changes and reads load the scripts again', async () => {
      const p = newPrefix();
      const store = await opened(p);
      await raw.sendCommand(['SCRIPT', 'FLUSH']);
      const g = global();
      await Promise.all([
        store.write({ op: 'globalAdd', global: g }, true),
        store.write({ op: 'branchAdd', branch: branch(g) }, true),
      ]);
      assert.equal((await store.findGlobal(g.xid))?.branches.length, 1);
      await raw.sendCommand(['SCRIPT', 'FLUSH']);
      assert.equal((await store.listGlobals()).length, 1);
      // stats.scriptLoads is not asserted: a parallel run may load the scripts again first.
    });

    test('a lost connection rejects changes with FailedStore, then the store reconnects', async (t) => {
      const target = new URL(REDIS_URL);
      const proxy = await FaultProxy.start({
        target: { host: target.hostname || '127.0.0.1', port: Number(target.port || 6379) },
      });
      t.after(() => proxy.close());
      const viaProxy = new URL(REDIS_URL);
      viaProxy.hostname = proxy.host;
      viaProxy.port = String(proxy.port);
      const p = newPrefix();
      const store = await opened(p, { url: viaProxy.toString() });
      const first = global();
      await store.write({ op: 'globalAdd', global: first }, true);

      // A batch on the wire when the connection dies: rejected (Redis may or may not have run it).
      proxy.hang('downstream');
      const inFlight = store.write({ op: 'globalAdd', global: global() }, true);
      await sleep(50);
      proxy.refuse(true);
      proxy.resetAll();
      await rejectsWithFailedStore(inFlight, 'a change in flight when the connection was reset');
      // While Redis cannot be reached, changes fail fast instead of waiting.
      const started = Date.now();
      await rejectsWithFailedStore(store.write({ op: 'globalAdd', global: global() }, true), 'while offline');
      await rejectsWithFailedStore(store.findGlobal(first.xid), 'a read while offline');
      assert.ok(Date.now() - started < 1000, 'offline failures are immediate');

      proxy.clearFaults();
      // Back once a change and a read both go through (node-redis may refuse commands for a
      // moment around the reconnect handshake).
      const later = global();
      const deadline = Date.now() + 5000;
      for (;;) {
        try {
          await store.write({ op: 'globalAdd', global: later }, true);
          await store.findGlobal(later.xid);
          break;
        } catch (err) {
          assert.ok(err instanceof TransactionError && err.code === 'FailedStore', String(err));
          if (Date.now() > deadline) throw err;
          await sleep(20);
        }
      }
      assert.deepEqual(await store.findGlobal(first.xid), first);
      assert.deepEqual(await store.findGlobal(later.xid), later);
    });

    test('close() during a reconnect leaves no connection open (node-redis race)', async () => {
      const p = newPrefix();
      for (let i = 0; i < 5; i++) {
        const name = `dtx-test-${randomBytes(4).toString('hex')}`;
        const store = await opened(p, { clientName: name });
        const connections = async () =>
          String(await raw.sendCommand(['CLIENT', 'LIST']))
            .split('\n')
            .filter((l) => l.includes(` name=${name} `));
        const line = (await connections())[0] as string;
        await raw.sendCommand(['CLIENT', 'KILL', 'ID', /id=(\d+)/.exec(line)?.[1] as string]);
        const write = store.write({ op: 'globalRemove', xid: 'x' }, true).catch(() => undefined);
        await store.close();
        await write;
        await sleep(100);
        assert.deepEqual(await connections(), [], `round ${i}`);
      }
    });

    test('an unreachable Redis fails open() with FailedStore naming the address; unopened stores refuse', async () => {
      const store = new RedisStore({ url: 'redis://127.0.0.1:1', connectTimeoutMs: 1000 });
      const err = await rejectsWithFailedStore(store.open(), 'open');
      assert.match(err.message, /127\.0\.0\.1:1/);
      await rejectsWithFailedStore(store.write({ op: 'globalRemove', xid: 'x' }, true), 'write');
      await rejectsWithFailedStore(store.findGlobal('x'), 'findGlobal');
      await rejectsWithFailedStore(store.listGlobals(), 'listGlobals');
      await rejectsWithFailedStore(store.acquireTaskLock('t', 'o', 1000), 'acquireTaskLock');
      await store.close();
    });

    test('the password is not repeated in errors', async () => {
      const store = new RedisStore({ url: 'redis://user:s3cret@127.0.0.1:1', connectTimeoutMs: 1000 });
      const err = await rejectsWithFailedStore(store.open(), 'open');
      assert.doesNotMatch(err.message, /s3cret/);
    });
  });

  describe('RedisLockManager', () => {
    function atBranch(
      xid: string,
      lockKey: string | null,
      resourceId = 'jdbc:mysql://db/orders',
    ): BranchSession {
      const g = global({ xid });
      return branch(g, { lockKey, resourceId });
    }

    async function managers(): Promise<{ p: string; one: RedisLockManager; two: RedisLockManager }> {
      const p = newPrefix();
      const [a, b] = await Promise.all([opened(p), opened(p)]);
      return { p, one: new RedisLockManager(a), two: new RedisLockManager(b) };
    }

    test('a row held by another transaction refuses the whole branch (all or none)', async () => {
      const { p, one, two } = await managers();
      const a1 = atBranch('xid-a', 'orders:1,2');
      const b1 = atBranch('xid-b', 'orders:2,3;items:9');
      assert.equal(await one.acquire(a1), true);
      assert.equal(await two.acquire(b1), false);
      assert.equal(
        await two.isLockable('xid-b', a1.resourceId, 'orders:3;items:9'),
        true,
        'nothing of b1 was taken',
      );
      assert.equal(await two.isLockable(null, a1.resourceId, 'orders:1'), false);
      assert.equal(await two.isLockable('xid-a', a1.resourceId, 'orders:1,2'), true);
      assert.equal(
        await two.isLockable('xid-b', 'jdbc:mysql://other/orders', 'orders:1'),
        true,
        'per resource',
      );
      assert.equal(await one.acquire(atBranch('xid-b', null)), true, 'no rows, no lock');
      const row = (await raw.sendCommand([
        'HGETALL',
        `${p}SEATA_ROW_LOCK_${a1.resourceId}^^^orders^^^1`,
      ])) as unknown;
      const h = row instanceof Map ? Object.fromEntries(row) : (row as Record<string, string>);
      assert.equal(h.xid, 'xid-a');
      assert.equal(h.branchId, a1.branchId.toString());
      assert.equal(h.pk, '1');
    });

    test('the same transaction re-acquires; release by branch and by transaction', async () => {
      const { p, one, two } = await managers();
      const a1 = atBranch('xid-a', 'orders:1,2');
      const a2 = atBranch('xid-a', 'orders:2,4');
      assert.equal(await one.acquire(a1), true);
      assert.equal(await two.acquire(a2), true, 'rows of the same XID do not conflict');
      assert.equal(await one.acquire(a2), true, 'acquiring twice is harmless');
      await two.release(a1);
      // orders:2 was taken by a1, so it goes with a1 (as in MemoryLockManager); a2 keeps orders:4.
      assert.equal(await one.isLockable('xid-b', a1.resourceId, 'orders:1'), true);
      assert.equal(await one.isLockable('xid-b', a1.resourceId, 'orders:2'), true);
      assert.equal(await one.isLockable('xid-b', a1.resourceId, 'orders:4'), false);
      const g = global({ xid: 'xid-a' });
      g.branches = [a2];
      await one.releaseGlobal(g);
      assert.equal(await one.isLockable('xid-b', a1.resourceId, 'orders:1,2,4'), true);
      assert.deepEqual(await keysOf(`${p}SEATA_`), [], 'no row lock or index left');
    });

    test('releaseGlobal frees rows whose branch is no longer listed (the index remembers them)', async () => {
      const { p, one } = await managers();
      const a1 = atBranch('xid-a', 'orders:1');
      const a2 = atBranch('xid-a', 'orders:2');
      await one.acquire(a1);
      await one.acquire(a2);
      await one.releaseGlobal(global({ xid: 'xid-a' }));
      assert.deepEqual(await keysOf(`${p}SEATA_`), []);
    });

    test('row keys with separators and unicode in resourceId and pk', async () => {
      const { p, one, two } = await managers();
      const resourceId = 'jdbc:sqlserver://db;databaseName=orders';
      const a1 = atBranch('xid-a', 'dbo.orders:k"1\\x,ü/2', resourceId);
      assert.equal(await one.acquire(a1), true);
      assert.equal(await two.isLockable('xid-b', resourceId, 'dbo.orders:ü/2'), false);
      await two.release(a1);
      assert.equal(await two.isLockable('xid-b', resourceId, 'dbo.orders:k"1\\x,ü/2'), true);
      assert.deepEqual(await keysOf(`${p}SEATA_`), []);
    });

    test('overlapping acquires from two TCs at once: exactly one wins', async () => {
      const { one, two } = await managers();
      const rnd = prng(99);
      for (let round = 0; round < 100; round++) {
        const rows = (n: number) => Array.from({ length: n }, () => Math.floor(rnd() * 6)).join(',');
        const shared = Math.floor(rnd() * 6);
        const x = atBranch(`xid-x-${round}`, `t:${rows(3)},${shared}`);
        const y = atBranch(`xid-y-${round}`, `t:${shared},${rows(3)}`);
        const [gotX, gotY] = await Promise.all([one.acquire(x), two.acquire(y)]);
        assert.equal(
          Number(gotX) + Number(gotY),
          1,
          `round ${round}: exactly one of two overlapping branches`,
        );
        await Promise.all([one.release(x), two.release(y)]);
      }
    });

    test('behaves like MemoryLockManager over random sequences', async () => {
      const { one, two } = await managers();
      const memory = new MemoryLockManager();
      const rnd = prng(5);
      const xids = ['xid-1', 'xid-2', 'xid-3'];
      const held = new Map<string, BranchSession[]>(xids.map((x) => [x, []]));
      for (let step = 0; step < 400; step++) {
        const xid = xids[Math.floor(rnd() * xids.length)] as string;
        const lockKey = `t:${Math.floor(rnd() * 8)},${Math.floor(rnd() * 8)};u:${Math.floor(rnd() * 3)}`;
        const redis = rnd() < 0.5 ? one : two;
        const r = rnd();
        if (r < 0.45) {
          const b = atBranch(xid, lockKey);
          const got = await redis.acquire(b);
          assert.equal(got, await memory.acquire(b), `step ${step}: acquire`);
          if (got) held.get(xid)?.push(b);
        } else if (r < 0.65) {
          const branches = held.get(xid) ?? [];
          const b = branches.splice(Math.floor(rnd() * branches.length), 1)[0];
          if (b) {
            await redis.release(b);
            await memory.release(b);
          }
        } else if (r < 0.75) {
          const g = global({ xid });
          g.branches = held.get(xid) ?? [];
          await redis.releaseGlobal(g);
          await memory.releaseGlobal(g);
          held.set(xid, []);
        } else {
          const asker = rnd() < 0.2 ? null : xid;
          const resourceId = 'jdbc:mysql://db/orders';
          assert.equal(
            await redis.isLockable(asker, resourceId, lockKey),
            await memory.isLockable(asker, resourceId, lockKey),
            `step ${step}: isLockable`,
          );
        }
      }
    });
  });
}
