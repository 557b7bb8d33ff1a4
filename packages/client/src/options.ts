/**
 * Client options with Seata's key names, from an object, a YAML file or DTX_* environment
 * variables (through @dtx/core's ConfigSource).
 */
import {
  bool,
  ConfigError,
  ConfigSource,
  DEFAULT_TX_SERVICE_GROUP,
  integerIn,
  type Logger,
  noopLogger,
  oneOf,
  parseOptions,
  positiveMs,
  resolveTcAddresses,
  str,
} from '@dtx/core';

/** Everything a dtx client process is configured with. */
export interface DtxClientOptions {
  /** This application's id (`applicationId`); required. */
  applicationId: string;
  /** @default 'default_tx_group' (`seata.tx-service-group`) */
  txServiceGroup: string;
  /** TC addresses `host:port`; normally resolved from `service.vgroupMapping` and `service.<cluster>.grouplist`. */
  grouplist: string[];
  /** The Seata version announced at registration (selects the peer's numbering on the TC). @default '2.2.0' */
  version: string;
  /** `client.tm.commitRetryCount` @default 5 */
  commitRetryCount: number;
  /** `client.tm.rollbackRetryCount` @default 5 */
  rollbackRetryCount: number;
  /** `client.tm.defaultGlobalTransactionTimeout` @default 60000 */
  defaultGlobalTransactionTimeout: number;
  /** `transport.rpcTmRequestTimeout` @default 30000 */
  tmRequestTimeoutMs: number;
  /** `transport.rpcRmRequestTimeout` @default 15000 */
  rmRequestTimeoutMs: number;
  /** `transport.enableTmClientBatchSendRequest` @default false */
  tmBatch: boolean;
  /** `transport.enableRmClientBatchSendRequest` @default true */
  rmBatch: boolean;
  /** `client.loadBalance.type` @default 'XID' */
  loadBalance: 'XID' | 'RoundRobin' | 'Random';
  /** Registration access key (`ak`), when the TC checks auth. @default null */
  accessKey: string | null;
  /** Secret for the registration digest. @default null */
  secretKey: string | null;
  /** The ip announced at registration. @default the first external IPv4 */
  ip: string | null;
  /** @default noopLogger */
  logger: Logger;
}

/** Defaults of DtxClientOptions. */
export const DEFAULT_CLIENT_OPTIONS: Readonly<DtxClientOptions> = Object.freeze({
  applicationId: '',
  txServiceGroup: DEFAULT_TX_SERVICE_GROUP,
  grouplist: [],
  version: '2.2.0',
  commitRetryCount: 5,
  rollbackRetryCount: 5,
  defaultGlobalTransactionTimeout: 60000,
  tmRequestTimeoutMs: 30000,
  rmRequestTimeoutMs: 15000,
  tmBatch: false,
  rmBatch: true,
  loadBalance: 'XID' as const,
  accessKey: null,
  secretKey: null,
  ip: null,
  logger: noopLogger,
});

const nullableString = (v: unknown, key: string): string | null => {
  if (v === null) return null;
  if (typeof v !== 'string') throw new ConfigError(key, `${key} must be a string or null`);
  return v;
};

/** Merges and validates client options, naming the bad key (`client.<key>`). */
export function parseClientOptions(input: Partial<DtxClientOptions>): DtxClientOptions {
  const o = parseOptions(
    DEFAULT_CLIENT_OPTIONS,
    input,
    {
      applicationId: str(),
      txServiceGroup: str(),
      grouplist: (v: unknown, key: string) => {
        if (!Array.isArray(v) || v.some((a) => typeof a !== 'string'))
          throw new ConfigError(key, `${key} must be a list of host:port`);
        return v as string[];
      },
      version: str(),
      commitRetryCount: integerIn(0, 1000),
      rollbackRetryCount: integerIn(0, 1000),
      defaultGlobalTransactionTimeout: positiveMs(),
      tmRequestTimeoutMs: positiveMs(),
      rmRequestTimeoutMs: positiveMs(),
      tmBatch: bool(),
      rmBatch: bool(),
      loadBalance: oneOf('XID', 'RoundRobin', 'Random'),
      accessKey: nullableString,
      secretKey: nullableString,
      ip: nullableString,
      logger: (v: unknown) => v as Logger,
    },
    'client',
  );
  if (!o.applicationId) throw new ConfigError('client.applicationId', 'applicationId is required');
  if (o.grouplist.length === 0) {
    throw new ConfigError(
      `service.vgroupMapping.${o.txServiceGroup}`,
      'no TC address: set grouplist, or service.vgroupMapping.<group> and service.<cluster>.grouplist',
    );
  }
  return o;
}

/**
 * Reads client options from configuration with Seata's keys: `applicationId`, `txServiceGroup`,
 * `service.vgroupMapping.<group>`, `service.<cluster>.grouplist`, `client.tm.*`, `transport.*`.
 */
export function clientOptionsFromConfig(
  source: { object?: Record<string, unknown>; file?: string; env?: Record<string, string | undefined> },
  overrides: Partial<DtxClientOptions> = {},
): DtxClientOptions {
  const config = new ConfigSource({
    ...(source.object ? { object: source.object } : {}),
    ...(source.file ? { file: source.file } : {}),
    ...(source.env ? { env: source.env as Record<string, string> } : {}),
  });
  const txServiceGroup =
    overrides.txServiceGroup ?? config.getString('txServiceGroup', DEFAULT_TX_SERVICE_GROUP);
  const addresses = resolveTcAddresses(config, txServiceGroup).map((a) =>
    a.host.includes(':') ? `[${a.host}]:${a.port}` : `${a.host}:${a.port}`,
  );
  return parseClientOptions({
    applicationId: config.getString('applicationId', ''),
    txServiceGroup,
    grouplist: addresses,
    commitRetryCount: config.getInteger('client.tm.commitRetryCount', 5),
    rollbackRetryCount: config.getInteger('client.tm.rollbackRetryCount', 5),
    defaultGlobalTransactionTimeout: config.getDuration('client.tm.defaultGlobalTransactionTimeout', 60000),
    tmRequestTimeoutMs: config.getDuration('transport.rpcTmRequestTimeout', 30000),
    rmRequestTimeoutMs: config.getDuration('transport.rpcRmRequestTimeout', 15000),
    tmBatch: config.getBoolean('transport.enableTmClientBatchSendRequest', false),
    rmBatch: config.getBoolean(
      'transport.enableRmClientBatchSendRequest',
      config.getBoolean('transport.enableClientBatchSendRequest', true),
    ),
    loadBalance: config.getString('client.loadBalance.type', 'XID') as DtxClientOptions['loadBalance'],
    ...overrides,
  });
}
