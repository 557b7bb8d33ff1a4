/**
 * @dtx/core: errors and their codes, IdWorker and XID, configuration and options, and the
 * Logger, Metrics and diagnostics-channel seams every other dtx package builds on.
 */
export {
  ErrorCode,
  type ConnectionErrorCode,
  type DtxErrorOptions,
  type TransactionErrorOptions,
  DtxError,
  TransactionError,
  ConfigError,
  TimeoutError,
  ConnectionError,
  BackPressureError,
  LimitError,
  XidError,
} from './errors.js';
export { ID_EPOCH_MS, type IdWorkerOptions, type IdParts, IdWorker, splitId, defaultWorkerId } from './id-worker.js';
export { type ParsedXid, buildXid, parseXid, xidAddress } from './xid.js';
export { KNOWN_CONFIG_KEYS } from './config-keys.js';
export { type ConfigSourceInput, ConfigSource } from './config.js';
export {
  type TcAddress,
  DEFAULT_TX_SERVICE_GROUP,
  DEFAULT_CLUSTER,
  resolveTcAddresses,
  parseHostPort,
} from './address.js';
export {
  type Validator,
  type Validators,
  parseOptions,
  integerIn,
  positiveMs,
  oneOf,
  bool,
  str,
} from './options.js';
export { type LogFn, type Logger, type LogDestination, LogLevel, noopLogger, createConsoleLogger } from './logger.js';
export {
  type Labels,
  type Counter,
  type Gauge,
  type Histogram,
  type Metrics,
  type MetricsSnapshot,
  type MemoryMetrics,
  DEFAULT_BUCKETS,
  noopMetrics,
  createMemoryMetrics,
} from './metrics.js';
export { Channels, type ChannelName, hasSubscribers, publish } from './diagnostics.js';
