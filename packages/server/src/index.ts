/**
 * @dtx/server: the transaction coordinator. `TcServer` wires the remoting server, the
 * coordinator, a session store and the recovery tasks; the pieces are exported for embedding
 * and for the conformance suites.
 */
export { TcServer, type TcServerOptions, type StoreMode, DEFAULT_TC_SERVER_OPTIONS } from './tc-server.js';
export {
  Coordinator,
  type CoordinatorOptions,
  type CoordinatorDeps,
  DEFAULT_COORDINATOR_OPTIONS,
  COMPAT_VERSION,
  statusName,
} from './coordinator/coordinator.js';
export { ChannelManager, type RpcContext, parseClientId, parseExtraData } from './coordinator/rpc-context.js';
export { Recovery, RecoveryTask, type RecoveryOptions, DEFAULT_RECOVERY_OPTIONS } from './recovery/recovery.js';
export {
  type GlobalSession,
  type BranchSession,
  isEndStatus,
  isTimedOut,
  canBeCommittedAsync,
} from './session/global-session.js';
export type { TransactionStore, StoreOp, SessionQuery } from './store/transaction-store.js';
export { FileStore, type FileStoreOptions, DEFAULT_FILE_STORE_OPTIONS } from './store/file/file-store.js';
export { type LockManager, MemoryLockManager } from './lock/lock-manager.js';
export { type RowLock, LOCK_SPLIT, parseLockKey, collectRowLocks } from './lock/row-lock.js';
export { PrometheusMetrics } from './metrics/prometheus.js';
