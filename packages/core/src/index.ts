/**
 * @dtx/core: errors and their codes, IdWorker and XID, configuration and options, and the
 * Logger, Metrics and diagnostics-channel seams every other dtx package builds on.
 */

export {
  DEFAULT_CLUSTER,
  DEFAULT_TX_SERVICE_GROUP,
  parseHostPort,
  resolveTcAddresses,
  type TcAddress,
} from './address.js';
export { ConfigSource, type ConfigSourceInput } from './config.js';
export { KNOWN_CONFIG_KEYS } from './config-keys.js';
export { type ChannelName, Channels, channelOf, hasSubscribers, publish } from './diagnostics.js';
export {
  BackPressureError,
  ConfigError,
  ConnectionError,
  type ConnectionErrorCode,
  DtxError,
  type DtxErrorOptions,
  ErrorCode,
  FenceError,
  type FenceErrorCode,
  LimitError,
  TimeoutError,
  TransactionError,
  type TransactionErrorOptions,
  XidError,
} from './errors.js';
export {
  defaultWorkerId,
  ID_EPOCH_MS,
  type IdParts,
  IdWorker,
  type IdWorkerOptions,
  splitId,
} from './id-worker.js';
export {
  createConsoleLogger,
  type LogDestination,
  type LogFn,
  type Logger,
  LogLevel,
  noopLogger,
} from './logger.js';
export {
  type Counter,
  createMemoryMetrics,
  DEFAULT_BUCKETS,
  type Gauge,
  type Histogram,
  type Labels,
  type MemoryMetrics,
  type Metrics,
  type MetricsSnapshot,
  noopMetrics,
} from './metrics.js';
export {
  bool,
  integerIn,
  oneOf,
  parseOptions,
  positiveMs,
  str,
  type Validator,
  type Validators,
} from './options.js';
export { buildXid, type ParsedXid, parseXid, xidAddress } from './xid.js';
