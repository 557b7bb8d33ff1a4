/**
 * Redis key names shared by the Redis session store and the Redis lock manager, and the Lua
 * script wrapper both use. Key names are Seata's (RedisTransactionStoreManager, RedisLocker,
 * RedisKeyConstants) so an operator who knows Seata's Redis mode finds the same keys.
 */
import { createHash } from 'node:crypto';

/** Key name prefixes; the store's `keyPrefix` option goes in front of each. */
export const RedisKey = {
  /** Hash of one global session: `SEATA_GLOBAL_<xid>`. Seata keys it by transactionId; dtx by XID. */
  GLOBAL: 'SEATA_GLOBAL_',
  /** Hash of one branch session: `SEATA_BRANCH_<branchId>`. */
  BRANCH: 'SEATA_BRANCH_',
  /** List of a global session's branch ids in registration order: `SEATA_BRANCHES_<xid>`. */
  BRANCHES: 'SEATA_BRANCHES_',
  /** Sorted set of the XIDs in one global status, scored by beginTime: `SEATA_STATUS_<code>`. */
  STATUS: 'SEATA_STATUS_',
  /** Hash of one row lock: `SEATA_ROW_LOCK_<resourceId^^^table^^^pk>`. */
  ROW_LOCK: 'SEATA_ROW_LOCK_',
  /** Hash of a transaction's row keys by branch id: `SEATA_GLOBAL_LOCK<xid>` (no `_` in Seata either). */
  GLOBAL_LOCK: 'SEATA_GLOBAL_LOCK',
} as const;

/**
 * Lua helpers every script starts with. `P` is the key prefix, always passed as ARGV[1]: the
 * scripts build most of their keys themselves (branch keys come out of the branches list), so
 * the store runs on standalone or Sentinel Redis, not on Redis Cluster (Seata's Redis mode has
 * the same limit).
 */
export const LUA_KEYS = `
local P = ARGV[1]
local function gkey(xid) return P .. '${RedisKey.GLOBAL}' .. xid end
local function bkey(id) return P .. '${RedisKey.BRANCH}' .. id end
local function lkey(xid) return P .. '${RedisKey.BRANCHES}' .. xid end
local function skey(status) return P .. '${RedisKey.STATUS}' .. status end
local function rkey(rowKey) return P .. '${RedisKey.ROW_LOCK}' .. rowKey end
local function xkey(xid) return P .. '${RedisKey.GLOBAL_LOCK}' .. xid end
`;

/** A Lua script and its SHA1, run with EVALSHA and loaded again after NOSCRIPT. */
export interface RedisScript {
  /** For error messages. */
  readonly name: string;
  readonly source: string;
  readonly sha: string;
}

/** Wraps a script body (LUA_KEYS is put in front of it). */
export function redisScript(name: string, body: string): RedisScript {
  const source = `${LUA_KEYS}\n${body}`;
  return { name, source, sha: createHash('sha1').update(source).digest('hex') };
}

/** Runs scripts: implemented by RedisStore over its connection, used by RedisLockManager. */
export interface RedisScriptRunner {
  /** The `keyPrefix` option: the scripts' ARGV[1]. */
  readonly keyPrefix: string;
  /** EVALSHA (SCRIPT LOAD and once more on NOSCRIPT); failures reject with TransactionError('FailedStore'). */
  runScript(script: RedisScript, keys: readonly string[], args: readonly string[]): Promise<unknown>;
}
