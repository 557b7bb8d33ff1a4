/**
 * Who is on each session (Seata's RpcContext and ChannelManager): a TM and/or RM registration
 * with its application, group, version and resources, and the index the TC uses to find an RM
 * session for phase two: resourceId -> applicationId -> ip -> port -> context.
 */
import type { Session } from '@dtx/remoting';
import { getOrCreate } from '../util/maps.js';

/** A registered peer. */
export interface RpcContext {
  session: Session;
  version: string;
  applicationId: string;
  transactionServiceGroup: string;
  ip: string;
  port: number;
  /** `applicationId:ip:port`, stored on every branch the peer registers. */
  clientId: string;
  tm: boolean;
  rm: boolean;
  resourceIds: Set<string>;
}

/** Splits a clientId `applicationId:ip:port` (the ip may be IPv6, so the port is after the last ':'). */
export function parseClientId(clientId: string): { applicationId: string; ip: string; port: number } | null {
  const first = clientId.indexOf(':');
  const last = clientId.lastIndexOf(':');
  if (first <= 0 || last <= first) return null;
  const port = Number(clientId.slice(last + 1));
  if (!Number.isInteger(port)) return null;
  return { applicationId: clientId.slice(0, first), ip: clientId.slice(first + 1, last), port };
}

/** Splits Seata's extraData (`k=v` lines, EXTRA_DATA_SPLIT_CHAR "\n", KV_CHAR "="). */
export function parseExtraData(extraData: string | null): Map<string, string> {
  const map = new Map<string, string>();
  if (!extraData) return map;
  for (const line of extraData.split('\n')) {
    const eq = line.indexOf('=');
    if (eq > 0) map.set(line.slice(0, eq), line.slice(eq + 1));
  }
  return map;
}

type PortMap = Map<number, RpcContext>;
type IpMap = Map<string, PortMap>;
type AppMap = Map<string, IpMap>;

/** The registry of peers and the phase-two channel lookup. */
export class ChannelManager {
  private readonly rmIndex = new Map<string, AppMap>();
  private readonly contexts = new Set<RpcContext>();

  /** The context of a session, if it registered. */
  contextOf(session: Session): RpcContext | null {
    return (session.context as RpcContext | undefined) ?? null;
  }

  /** True when the session registered as TM or RM. */
  isRegistered(session: Session): boolean {
    return this.contextOf(session) !== null;
  }

  /** Records a registration on `session`, merging with an earlier one (TM then RM, or more resources). */
  register(
    session: Session,
    role: 'TM' | 'RM',
    info: { version: string; applicationId: string; transactionServiceGroup: string; resourceIds?: string[] },
  ): RpcContext {
    let ctx = this.contextOf(session);
    if (!ctx) {
      const { ip, port } = splitAddress(session.remoteAddress);
      ctx = {
        session,
        version: info.version,
        applicationId: info.applicationId,
        transactionServiceGroup: info.transactionServiceGroup,
        ip,
        port,
        clientId: `${info.applicationId}:${ip}:${port}`,
        tm: false,
        rm: false,
        resourceIds: new Set(),
      };
      session.context = ctx;
      this.contexts.add(ctx);
    }
    ctx.version = info.version || ctx.version;
    if (role === 'TM') ctx.tm = true;
    else ctx.rm = true;
    for (const r of info.resourceIds ?? []) {
      if (!r) continue;
      ctx.resourceIds.add(r);
      const apps = getOrCreate(this.rmIndex, r, (): AppMap => new Map());
      const ips = getOrCreate(apps, ctx.applicationId, (): IpMap => new Map());
      const ports = getOrCreate(ips, ctx.ip, (): PortMap => new Map());
      ports.set(ctx.port, ctx);
    }
    session.setPeerVersion(ctx.version);
    return ctx;
  }

  /** Forgets a closed session. */
  unregister(session: Session): void {
    const ctx = this.contextOf(session);
    if (!ctx) return;
    this.contexts.delete(ctx);
    for (const r of ctx.resourceIds) {
      const ips: IpMap | undefined = this.rmIndex.get(r)?.get(ctx.applicationId);
      const ports: PortMap | undefined = ips?.get(ctx.ip);
      if (ports?.get(ctx.port) === ctx) ports.delete(ctx.port);
      if (ports && ports.size === 0) ips?.delete(ctx.ip);
      if (ips && ips.size === 0) this.rmIndex.get(r)?.delete(ctx.applicationId);
      if (this.rmIndex.get(r)?.size === 0) this.rmIndex.delete(r);
    }
  }

  /**
   * The RM session for phase two of a branch (ChannelManager.getChannel): the session that
   * registered it; else another port on the same ip; else another ip of the same application;
   * else, when `anyApplication`, any application holding the resource.
   */
  getChannel(resourceId: string, clientId: string, anyApplication = true): Session | null {
    const apps = this.rmIndex.get(resourceId);
    if (!apps) return null;
    const id = parseClientId(clientId);
    if (id) {
      const ips = apps.get(id.applicationId);
      if (ips) {
        const ports = ips.get(id.ip);
        const exact = ports?.get(id.port);
        if (exact?.session.isOpen) return exact.session;
        if (ports) for (const c of ports.values()) if (c.session.isOpen) return c.session;
        for (const p of ips.values()) for (const c of p.values()) if (c.session.isOpen) return c.session;
      }
    }
    if (!anyApplication) return null;
    for (const ips of apps.values())
      for (const p of ips.values()) for (const c of p.values()) if (c.session.isOpen) return c.session;
    return null;
  }

  /** Every RM context, for the undo-log delete broadcast. */
  rmContexts(): RpcContext[] {
    return [...this.contexts].filter((c) => c.rm);
  }

  /** Every registered context. */
  all(): RpcContext[] {
    return [...this.contexts];
  }
}

/** Splits `ip:port` (the ip may be IPv6). */
export function splitAddress(address: string): { ip: string; port: number } {
  const last = address.lastIndexOf(':');
  let ip = address.slice(0, last);
  if (ip.startsWith('::ffff:')) ip = ip.slice(7);
  return { ip, port: Number(address.slice(last + 1)) };
}
