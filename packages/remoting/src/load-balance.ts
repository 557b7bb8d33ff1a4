/**
 * How a client picks a TC session (Seata's LoadBalance SPI, `client.loadBalance.type`). The
 * default, XID, sends a message that carries an XID to the TC named in its prefix, and any
 * other message by the fallback rule.
 */

/** `client.loadBalance.type` values dtx implements. */
export type LoadBalanceType = 'XID' | 'RoundRobin' | 'Random';

/** Picks one of `candidates` (non-empty) for a message, optionally carrying `xid`. */
export interface LoadBalancer {
  pick<T extends { address: string }>(candidates: readonly T[], xidAddress: string | null): T;
}

/** Round robin over the candidates. */
export function roundRobin(): LoadBalancer {
  let i = 0;
  return {
    pick(candidates) {
      i = (i + 1) % 0x7fffffff;
      return candidates[i % candidates.length] as (typeof candidates)[number];
    },
  };
}

/** Uniformly random. */
export function random(): LoadBalancer {
  return {
    pick(candidates) {
      return candidates[Math.floor(Math.random() * candidates.length)] as (typeof candidates)[number];
    },
  };
}

/**
 * XIDLoadBalance: the TC whose `ip:port` prefixes the XID, when the client has a session to it;
 * otherwise `fallback` (random in Seata).
 */
export function xid(fallback: LoadBalancer = random()): LoadBalancer {
  return {
    pick(candidates, xidAddress) {
      if (xidAddress !== null) {
        for (const c of candidates) if (c.address === xidAddress) return c;
      }
      return fallback.pick(candidates, null);
    },
  };
}

/** The balancer for a `client.loadBalance.type` value. */
export function createLoadBalancer(type: LoadBalanceType): LoadBalancer {
  switch (type) {
    case 'RoundRobin':
      return roundRobin();
    case 'Random':
      return random();
    default:
      return xid();
  }
}
