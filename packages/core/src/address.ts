/**
 * TC address lookup for Seata's `file` registry (FileRegistryServiceImpl): the transaction
 * service group maps to a cluster, and the cluster to a list of `host:port` endpoints.
 */
import { isIPv6 } from 'node:net';
import type { ConfigSource } from './config.js';
import { ConfigError } from './errors.js';

/** One TC endpoint. */
export interface TcAddress {
  /** Host name, IPv4 address, or IPv6 address without brackets. */
  host: string;
  /** TCP port, 1..65535. */
  port: number;
}

/** Seata's default transaction service group (`seata.tx-service-group`). */
export const DEFAULT_TX_SERVICE_GROUP = 'default_tx_group';
/** The cluster DEFAULT_TX_SERVICE_GROUP maps to when no mapping is configured. */
export const DEFAULT_CLUSTER = 'default';

const HOST_NAME = /^[A-Za-z0-9](?:[A-Za-z0-9._-]*[A-Za-z0-9])?$/;

/**
 * The TC endpoints of `txServiceGroup`:
 *   cluster = `service.vgroupMapping.<txServiceGroup>` (`default_tx_group` → `default` when unset),
 *   endpoints = `service.<cluster>.grouplist`, split on ';' (Seata's separator) and ','.
 * Each endpoint is `host:port`, `[v6]:port` or a bare IPv6 address with the port after its last
 * ':'. Throws ConfigError naming the key when the mapping or grouplist is missing or malformed.
 */
export function resolveTcAddresses(config: ConfigSource, txServiceGroup: string): TcAddress[] {
  const mappingKey = `service.vgroupMapping.${txServiceGroup}`;
  // Environment variables cannot carry case (DTX_SERVICE_VGROUPMAPPING_<GROUP> sets the
  // lower-cased group), hence the second look-up, here and for the grouplist.
  let cluster = (
    config.getString(mappingKey) ?? config.getString(`service.vgroupMapping.${txServiceGroup.toLowerCase()}`)
  )?.trim();
  if (cluster === undefined && txServiceGroup === DEFAULT_TX_SERVICE_GROUP) cluster = DEFAULT_CLUSTER;
  if (cluster === undefined || cluster === '') {
    // Seata's ConfigNotFoundException text, so a Seata user recognises it.
    throw new ConfigError(mappingKey, `${mappingKey} configuration item is required`);
  }
  const listKey = `service.${cluster}.grouplist`;
  const entries =
    config.getList(listKey) ?? config.getList(`service.${cluster.toLowerCase()}.grouplist`) ?? [];
  if (entries.length === 0) {
    throw new ConfigError(
      listKey,
      `${listKey} is required: the TC addresses (host:port;host:port) of cluster ${cluster}`,
    );
  }
  return entries.map((entry) => parseHostPort(entry, listKey));
}

/**
 * `host:port`, `[v6]:port` or bare `v6:port` (port after the last ':') as a TcAddress. `key`
 * names the config key or option the text came from, for the ConfigError thrown when it is malformed.
 */
export function parseHostPort(text: string, key: string): TcAddress {
  const fail = (why: string) =>
    new ConfigError(key, `${key}: ${JSON.stringify(text)} is not host:port (${why})`, {
      details: { value: text },
    });
  const colon = text.lastIndexOf(':');
  if (colon < 0) throw fail('no port');
  const portText = text.slice(colon + 1);
  const port = /^\d{1,5}$/.test(portText) ? Number(portText) : 0;
  if (port < 1 || port > 65535) throw fail('the port must be 1..65535');
  let host = text.slice(0, colon);
  if (host.startsWith('[') && host.endsWith(']')) {
    host = host.slice(1, -1);
    if (!isIPv6(host)) throw fail('not an IPv6 address inside the brackets');
  } else if (host.includes(':')) {
    if (!isIPv6(host)) throw fail('the host is neither a name, an IPv4 address nor an IPv6 address');
  } else if (!HOST_NAME.test(host)) {
    throw fail(host === '' ? 'no host' : 'the host is not a valid name or address');
  }
  return { host, port };
}
