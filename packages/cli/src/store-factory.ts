/**
 * Builds the store `store.mode` names. The file store is built by TcServer itself; db and redis
 * stores come from @dtx/server's SQL and Redis implementations.
 */
import type { ConfigSource } from '@dtx/core';
import type { LockManager, StoreSettings, TransactionStore } from '@dtx/server';

/** A store and the lock manager that goes with it, or null for the file store. */
export async function createStoreFromSettings(
  settings: StoreSettings,
): Promise<{ store: TransactionStore; locks: LockManager } | null> {
  if (settings.mode === 'file') return null;
  throw new Error(`store.mode ${settings.mode} is not available in this build`);
}

/** The DDL for `dtx server schema`, or the result of applying it. */
export async function schemaFor(
  db: 'mysql' | 'postgres',
  url: string | null,
  _config: ConfigSource,
): Promise<string> {
  throw new Error(`schema for ${db} ${url ?? ''} is not available in this build`);
}
