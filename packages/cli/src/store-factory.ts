/**
 * Builds the store `store.mode` names: the file store is built by TcServer itself; `db` gives a
 * SqlStore (MySQL/MariaDB or PostgreSQL, Seata's tables) with its lock_table lock manager;
 * `redis` gives a RedisStore with Redis row locks.
 */
import type { ConfigSource } from '@dtx/core';
import {
  applySchema,
  createSqlDialect,
  type LockManager,
  parseRedisStoreOptions,
  parseSqlStoreOptions,
  RedisLockManager,
  RedisStore,
  SqlLockManager,
  SqlStore,
  type StoreSettings,
  schemaScript,
  type TransactionStore,
} from '@dtx/server';

function sqlOptions(
  settings: Pick<StoreSettings, 'dbType' | 'url' | 'user' | 'password' | 'maxConn' | 'tables'>,
) {
  return parseSqlStoreOptions({
    dialect: settings.dbType ?? 'mysql',
    url: settings.url,
    user: settings.user,
    password: settings.password,
    poolSize: settings.maxConn,
    ...settings.tables,
  });
}

/** A store and the lock manager that goes with it, or null for the file store. */
export async function createStoreFromSettings(
  settings: StoreSettings,
): Promise<{ store: TransactionStore; locks: LockManager } | null> {
  if (settings.mode === 'file') return null;
  if (settings.mode === 'db') {
    const store = new SqlStore(sqlOptions(settings));
    return { store, locks: new SqlLockManager(store) };
  }
  const store = new RedisStore(parseRedisStoreOptions({ url: settings.redisUrl }));
  return { store, locks: new RedisLockManager(store) };
}

/** The DDL for `dtx server schema` (printed), or applies it to `url` and says so. */
export async function schemaFor(
  db: 'mysql' | 'postgres',
  url: string | null,
  config: ConfigSource,
): Promise<string> {
  const tables = {
    globalTable: config.getString('store.db.globalTable', 'global_table'),
    branchTable: config.getString('store.db.branchTable', 'branch_table'),
    lockTable: config.getString('store.db.lockTable', 'lock_table'),
    distributedLockTable: config.getString('store.db.distributedLockTable', 'distributed_lock'),
  };
  if (!url) return schemaScript(db, tables);
  const options = sqlOptions({
    dbType: db,
    url,
    user: config.getString('store.db.user') ?? null,
    password: config.getString('store.db.password') ?? null,
    maxConn: 1,
    tables,
  });
  const dialect = createSqlDialect(options);
  try {
    await applySchema(dialect, tables);
  } finally {
    await dialect.end();
  }
  return `applied the ${db} schema (${Object.values(tables).join(', ')}) to ${url.replace(/\/\/[^@/]*@/, '//***@')}`;
}
