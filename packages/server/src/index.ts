/**
 * @dtx/server: the transaction coordinator. `TcServer` wires the remoting server, the
 * coordinator, a session store and the recovery tasks; the pieces are exported for embedding
 * and for the conformance suites.
 */

export {
  COMPAT_VERSION,
  Coordinator,
  type CoordinatorDeps,
  type CoordinatorOptions,
  DEFAULT_COORDINATOR_OPTIONS,
  statusName,
} from './coordinator/coordinator.js';
export { ChannelManager, parseClientId, parseExtraData, type RpcContext } from './coordinator/rpc-context.js';
export { type LockManager, MemoryLockManager } from './lock/lock-manager.js';
export { RedisLockManager } from './lock/redis-lock-manager.js';
export { collectRowLocks, LOCK_SPLIT, parseLockKey, type RowLock } from './lock/row-lock.js';
export { SqlLockManager, type SqlLockSource } from './lock/sql-lock-manager.js';
export { PrometheusMetrics } from './metrics/prometheus.js';
export {
  DEFAULT_RECOVERY_OPTIONS,
  Recovery,
  type RecoveryOptions,
  RecoveryTask,
} from './recovery/recovery.js';
export {
  DTX_SERVER_KEYS,
  SERVER_CONFIG_KEYS,
  type StoreSettings,
  tcServerOptionsFromConfig,
} from './server-config.js';
export {
  type BranchSession,
  canBeCommittedAsync,
  type GlobalSession,
  isEndStatus,
  isTimedOut,
} from './session/global-session.js';
export { DEFAULT_FILE_STORE_OPTIONS, FileStore, type FileStoreOptions } from './store/file/file-store.js';
export { RedisKey } from './store/redis/redis-script.js';
export {
  DEFAULT_REDIS_STORE_OPTIONS,
  parseRedisStoreOptions,
  RedisStore,
  type RedisStoreOptions,
} from './store/redis/redis-store.js';
export { createMysqlDialect } from './store/sql/mysql-dialect.js';
export { createPostgresDialect } from './store/sql/postgres-dialect.js';
export {
  applySchema,
  DEFAULT_SQL_TABLE_NAMES,
  DISTRIBUTED_LOCK_SEEDS,
  missingTables,
  SQL_TABLE_CONFIG_KEYS,
  type SqlTableNames,
  schemaScript,
  schemaSql,
} from './store/sql/schema.js';
export type {
  SqlClient,
  SqlConnection,
  SqlConnectOptions,
  SqlDialect,
  SqlDialectName,
  SqlErrorKind,
  SqlResult,
  SqlRow,
  SqlValue,
} from './store/sql/sql-dialect.js';
export {
  createSqlDialect,
  DEFAULT_SQL_STORE_OPTIONS,
  parseSqlStoreOptions,
  SqlStore,
  type SqlStoreOptions,
  taskLockValue,
} from './store/sql/sql-store.js';
export type { SessionQuery, StoreOp, TransactionStore } from './store/transaction-store.js';
export {
  DEFAULT_TC_SERVER_OPTIONS,
  describeSession,
  type StoreMode,
  TcServer,
  type TcServerOptions,
} from './tc-server.js';
