/**
 * Maps configuration with Seata's key names (from a YAML file, flags and DTX_* environment
 * variables, merged by @dtx/core's ConfigSource) onto TcServerOptions, validating each value
 * and naming the key in any error.
 */
import { ConfigError, type ConfigSource, KNOWN_CONFIG_KEYS } from '@dtx/core';
import type { StoreMode, TcServerOptions } from './tc-server.js';

/** Keys dtx's TC reads besides Seata's own. */
export const DTX_SERVER_KEYS = [
  'server.host',
  'server.advertisedHost',
  'server.workerId',
  'server.maxConnections',
  'server.maxOpenTransactionsPerClient',
  'server.maxInflightRequestsPerSession',
  'server.handlerConcurrencyPerSession',
  'server.auth.accessKey',
  'server.auth.secretKey',
  'store.file.sync',
  'store.file.compactThreshold',
  'store.redis.url',
  'metrics.enabled',
  'metrics.exporterPrometheusPort',
  'log.level',
] as const;

/** Every key `dtx server` understands (for the env mapping and unknown-key warnings). */
export const SERVER_CONFIG_KEYS: readonly string[] = [...KNOWN_CONFIG_KEYS, ...DTX_SERVER_KEYS];

/** The settings of the store chosen by `store.mode`, for the factory that builds it. */
export interface StoreSettings {
  mode: StoreMode;
  dbType: 'mysql' | 'postgres' | null;
  url: string | null;
  user: string | null;
  password: string | null;
  maxConn: number;
  tables: { globalTable: string; branchTable: string; lockTable: string; distributedLockTable: string };
  redisUrl: string;
}

function int(config: ConfigSource, key: string, min: number, max: number, fallback: number): number {
  const v = config.getInteger(key, fallback);
  if (v < min || v > max) throw new ConfigError(key, `${key} must be between ${min} and ${max}, got ${v}`);
  return v;
}

/** Reads TcServerOptions (minus logger, metrics and store instances) from configuration. */
export function tcServerOptionsFromConfig(config: ConfigSource): {
  options: Partial<TcServerOptions>;
  store: StoreSettings;
  logLevel: string;
} {
  const mode = config.getString('store.mode', 'file');
  if (mode !== 'file' && mode !== 'db' && mode !== 'redis') {
    throw new ConfigError('store.mode', `store.mode must be file, db or redis, got "${mode}"`);
  }
  const dbTypeRaw = config.getString('store.db.dbType', mode === 'db' ? '' : 'mysql').toLowerCase();
  let dbType: StoreSettings['dbType'] = null;
  if (mode === 'db') {
    if (dbTypeRaw === 'mysql' || dbTypeRaw === 'mariadb') dbType = 'mysql';
    else if (dbTypeRaw === 'postgresql' || dbTypeRaw === 'postgres') dbType = 'postgres';
    else
      throw new ConfigError(
        'store.db.dbType',
        `store.db.dbType must be mysql or postgresql when store.mode is db, got "${dbTypeRaw}"`,
      );
  }
  const workerId = config.has('server.workerId') ? int(config, 'server.workerId', 0, 1023, 0) : null;
  const secretKey = config.getString('server.auth.secretKey') ?? null;
  const options: Partial<TcServerOptions> = {
    host: config.getString('server.host', '127.0.0.1'),
    port: int(config, 'server.servicePort', 0, 65535, 8091),
    advertisedHost: config.getString('server.advertisedHost') ?? null,
    workerId,
    storeMode: mode,
    file: {
      dir: config.getString('store.file.dir', './sessionStore'),
      sync: config.getBoolean('store.file.sync', true),
      compactThresholdBytes: int(config, 'store.file.compactThreshold', 65536, 2 ** 40, 32 * 1024 * 1024),
    },
    coordinator: {
      maxCommitRetryTimeout: config.getDuration('server.maxCommitRetryTimeout', -1),
      maxRollbackRetryTimeout: config.getDuration('server.maxRollbackRetryTimeout', -1),
      rollbackRetryTimeoutUnlockEnable: config.getBoolean('server.rollbackRetryTimeoutUnlockEnable', false),
      applicationDataLimitCheck: config.getBoolean('server.applicationDataLimitCheck', false),
      applicationDataLimit: int(config, 'server.applicationDataLimit', 1, 2 ** 31 - 1, 64000),
      branchRequestTimeoutMs: config.getDuration('transport.rpcTcRequestTimeout', 15000),
      maxOpenTransactionsPerClient: int(
        config,
        'server.maxOpenTransactionsPerClient',
        1,
        2 ** 31 - 1,
        100000,
      ),
      auth: {
        enabled: secretKey !== null && config.getBoolean('server.enableCheckAuth', true),
        accessKey: config.getString('server.auth.accessKey') ?? null,
        secretKey,
        maxClockSkewMs: 5 * 60_000,
      },
    },
    recovery: {
      committingRetryPeriodMs: config.getDuration('server.recovery.committingRetryPeriod', 1000),
      rollbackingRetryPeriodMs: config.getDuration('server.recovery.rollbackingRetryPeriod', 1000),
      asyncCommittingRetryPeriodMs: config.getDuration('server.recovery.asyncCommittingRetryPeriod', 1000),
      timeoutRetryPeriodMs: config.getDuration('server.recovery.timeoutRetryPeriod', 1000),
      retryDeadThresholdMs: config.getDuration('server.retryDeadThreshold', 130000),
      distributedLockExpireTimeMs: config.getDuration('server.distributedLockExpireTime', 10000),
      undoLogSaveDays: int(config, 'server.undo.logSaveDays', 1, 36500, 7),
      undoLogDeletePeriodMs: config.getDuration('server.undo.logDeletePeriod', 86_400_000),
    },
    remoting: {
      maxConnections: int(config, 'server.maxConnections', 1, 10_000_000, 10000),
      // Requests a session may have queued for a handler before the TC stops reading it: TCP
      // back-pressure on that client alone, so a flooding peer cannot grow the TC's memory.
      handlerQueueHighWaterMark: int(config, 'server.maxInflightRequestsPerSession', 1, 10_000_000, 4096),
      handlerConcurrency: int(config, 'server.handlerConcurrencyPerSession', 1, 1_000_000, 256),
      batchResponses: config.getBoolean('transport.enableTcServerBatchSendResponse', false),
      heartbeat: config.getBoolean('transport.heartbeat', true),
    },
    metricsEnabled: config.getBoolean('metrics.enabled', true),
    metricsPort: int(config, 'metrics.exporterPrometheusPort', 0, 65535, 9898),
  };
  for (const [key, value] of Object.entries(options.recovery ?? {})) {
    if (typeof value === 'number' && value <= 0) {
      throw new ConfigError(`server.recovery.${key}`, `${key} must be positive, got ${value}`);
    }
  }
  const store: StoreSettings = {
    mode,
    dbType,
    url: config.getString('store.db.url') ?? null,
    user: config.getString('store.db.user') ?? null,
    password: config.getString('store.db.password') ?? null,
    maxConn: int(config, 'store.db.maxConn', 1, 1000, 8),
    tables: {
      globalTable: config.getString('store.db.globalTable', 'global_table'),
      branchTable: config.getString('store.db.branchTable', 'branch_table'),
      lockTable: config.getString('store.db.lockTable', 'lock_table'),
      distributedLockTable: config.getString('store.db.distributedLockTable', 'distributed_lock'),
    },
    redisUrl:
      config.getString('store.redis.url') ??
      `redis://${config.getString('store.redis.single.host', '127.0.0.1')}:${int(config, 'store.redis.single.port', 1, 65535, 6379)}`,
  };
  if (mode === 'db' && !store.url)
    throw new ConfigError('store.db.url', 'store.db.url is required when store.mode is db');
  return { options, store, logLevel: config.getString('log.level', 'info') };
}
