/**
 * AT row locks in Redis, shared by every TC on the same Redis (Seata's RedisLocker layout):
 *
 *   SEATA_ROW_LOCK_<rowKey>   hash: xid, transactionId, branchId, resourceId, tableName, pk, rowKey, status
 *   SEATA_GLOBAL_LOCK<xid>    hash: branchId → JSON array of the row keys that branch took
 *
 * Each call is one Lua script, so a branch takes all of its rows or none of them, and two TCs
 * acquiring overlapping rows at the same moment cannot both succeed. Seata joins the per-branch
 * row keys with ';', which a resourceId (a JDBC URL) may contain; dtx stores a JSON array.
 */
import type { BranchSession, GlobalSession } from '../session/global-session.js';
import {
  RedisKey,
  type RedisScript,
  type RedisScriptRunner,
  redisScript,
} from '../store/redis/redis-script.js';
import type { LockManager } from './lock-manager.js';
import { collectRowLocks } from './row-lock.js';

/**
 * KEYS: the row locks, then the transaction's index. ARGV: prefix, xid, transactionId, branchId,
 * resourceId, then tableName, pk, rowKey per row. A row held by the same XID is not taken again
 * (MemoryLockManager does the same); rows this branch takes are added to its index entry.
 */
const ACQUIRE = redisScript(
  'lockAcquire',
  `
local rows = #KEYS - 1
for i = 1, rows do
  local holder = redis.call('HGET', KEYS[i], 'xid')
  if holder and holder ~= ARGV[2] then return 0 end
end
local taken = {}
for i = 1, rows do
  if redis.call('EXISTS', KEYS[i]) == 0 then
    local at = 5 + (i - 1) * 3
    redis.call('HSET', KEYS[i], 'xid', ARGV[2], 'transactionId', ARGV[3], 'branchId', ARGV[4],
      'resourceId', ARGV[5], 'tableName', ARGV[at + 1], 'pk', ARGV[at + 2], 'rowKey', ARGV[at + 3], 'status', '0')
    taken[#taken + 1] = ARGV[at + 3]
  end
end
if #taken > 0 then
  local index = KEYS[rows + 1]
  local before = redis.call('HGET', index, ARGV[4])
  if before then
    for _, rowKey in ipairs(cjson.decode(before)) do taken[#taken + 1] = rowKey end
  end
  redis.call('HSET', index, ARGV[4], cjson.encode(taken))
end
return 1
`,
);

/**
 * KEYS: the transaction's index, then the row locks named by the branch's lockKey. ARGV: prefix,
 * xid, branchId. Deletes the rows this branch holds: those in its index entry and those its
 * lockKey names (in case the index entry is missing).
 */
const RELEASE = redisScript(
  'lockRelease',
  `
local keys = {}
local entry = redis.call('HGET', KEYS[1], ARGV[3])
if entry then
  for _, rowKey in ipairs(cjson.decode(entry)) do keys[#keys + 1] = rkey(rowKey) end
end
for i = 2, #KEYS do keys[#keys + 1] = KEYS[i] end
for _, key in ipairs(keys) do
  local held = redis.call('HMGET', key, 'xid', 'branchId')
  if held[1] == ARGV[2] and held[2] == ARGV[3] then redis.call('DEL', key) end
end
redis.call('HDEL', KEYS[1], ARGV[3])
return 1
`,
);

/**
 * KEYS: the transaction's index, then the row locks named by its branches' lockKeys. ARGV:
 * prefix, xid. Deletes every row the transaction holds, and the index.
 */
const RELEASE_GLOBAL = redisScript(
  'lockReleaseGlobal',
  `
local keys = {}
for _, entry in ipairs(redis.call('HVALS', KEYS[1])) do
  for _, rowKey in ipairs(cjson.decode(entry)) do keys[#keys + 1] = rkey(rowKey) end
end
for i = 2, #KEYS do keys[#keys + 1] = KEYS[i] end
for _, key in ipairs(keys) do
  if redis.call('HGET', key, 'xid') == ARGV[2] then redis.call('DEL', key) end
end
redis.call('DEL', KEYS[1])
return 1
`,
);

/** KEYS: row locks. ARGV: prefix, xid ('' for none). 1 when no other XID holds any of them. */
const LOCKABLE = redisScript(
  'lockable',
  `
for i = 1, #KEYS do
  local holder = redis.call('HGET', KEYS[i], 'xid')
  if holder and holder ~= ARGV[2] then return 0 end
end
return 1
`,
);

/** Row locks in Redis; see the file comment. Runs its scripts over a RedisStore's connection. */
export class RedisLockManager implements LockManager {
  /** @param redis the RedisStore (opened by the server) whose connection and key prefix are used. */
  constructor(private readonly redis: RedisScriptRunner) {}

  private rowKey(rowKey: string): string {
    return `${this.redis.keyPrefix}${RedisKey.ROW_LOCK}${rowKey}`;
  }

  private indexKey(xid: string): string {
    return `${this.redis.keyPrefix}${RedisKey.GLOBAL_LOCK}${xid}`;
  }

  private run(script: RedisScript, keys: string[], args: string[]): Promise<unknown> {
    return this.redis.runScript(script, keys, args);
  }

  async acquire(branch: BranchSession): Promise<boolean> {
    const rows = collectRowLocks(
      branch.lockKey,
      branch.resourceId,
      branch.xid,
      branch.transactionId,
      branch.branchId,
    );
    if (rows.length === 0) return true;
    const args = [branch.xid, branch.transactionId.toString(), branch.branchId.toString(), branch.resourceId];
    for (const row of rows) args.push(row.tableName, row.pk, row.rowKey);
    const keys = rows.map((row) => this.rowKey(row.rowKey));
    keys.push(this.indexKey(branch.xid));
    return Number(await this.run(ACQUIRE, keys, args)) === 1;
  }

  async release(branch: BranchSession): Promise<void> {
    const rows = collectRowLocks(
      branch.lockKey,
      branch.resourceId,
      branch.xid,
      branch.transactionId,
      branch.branchId,
    );
    const keys = [this.indexKey(branch.xid), ...rows.map((row) => this.rowKey(row.rowKey))];
    await this.run(RELEASE, keys, [branch.xid, branch.branchId.toString()]);
  }

  async releaseGlobal(global: GlobalSession): Promise<void> {
    const keys = [this.indexKey(global.xid)];
    for (const b of global.branches) {
      for (const row of collectRowLocks(b.lockKey, b.resourceId, global.xid, b.transactionId, b.branchId)) {
        keys.push(this.rowKey(row.rowKey));
      }
    }
    await this.run(RELEASE_GLOBAL, keys, [global.xid]);
  }

  async isLockable(xid: string | null, resourceId: string, lockKey: string): Promise<boolean> {
    const rows = collectRowLocks(lockKey, resourceId, xid ?? '', 0n, 0n);
    if (rows.length === 0) return true;
    return (
      Number(
        await this.run(
          LOCKABLE,
          rows.map((row) => this.rowKey(row.rowKey)),
          [xid ?? ''],
        ),
      ) === 1
    );
  }
}
