/**
 * The dialing endpoint: keeps one session to every TC address of its cluster (as Seata's
 * clients do), dials with a timeout, refuses a connection to itself, reconnects with
 * exponential backoff, runs an `onConnect` step (registration) before a session carries
 * traffic, and routes each request by the load-balance rule.
 */
import net from 'node:net';
import tls from 'node:tls';
import {
  bool,
  ConfigError,
  ConnectionError,
  integerIn,
  oneOf,
  parseHostPort,
  parseOptions,
  positiveMs,
  TimeoutError,
  xidAddress,
} from '@dtx/core';
import type { SingleMessage } from '@dtx/protocol';
import { createLoadBalancer, type LoadBalancer, type LoadBalanceType } from './load-balance.js';
import { DEFAULT_SESSION_OPTIONS, SESSION_OPTION_VALIDATORS, type SessionOptions } from './options.js';
import { type RequestOptions, type ResponseCallback, Session, type SessionListener } from './session.js';

/** Client options: the session options plus dialing and routing. */
export interface ClientOptions extends SessionOptions {
  /** TC addresses, `host:port` (from `service.<cluster>.grouplist`). */
  addresses: string[];
  /** @default 'XID' (`client.loadBalance.type`) */
  loadBalance: LoadBalanceType;
  /** @default 3000 */
  dialTimeoutMs: number;
  /** First reconnect delay; doubles up to reconnectMaxMs. @default 100 */
  reconnectInitialMs: number;
  /** @default 10000 (Seata's reconnect timer period) */
  reconnectMaxMs: number;
  /** Keep reconnecting after a session is lost. @default true */
  reconnect: boolean;
  /** TLS client settings; plain TCP when null. @default null */
  tls: tls.ConnectionOptions | null;
  /** @default 1000 */
  cronPeriodMs: number;
  /** Local address outgoing connections bind to (a multi-homed host); the system's choice when null. @default null */
  localAddress: string | null;
  /**
   * Local port outgoing connections bind to (a firewall that expects one); ephemeral when null.
   * Only one connection at a time can hold it. @default null
   */
  localPort: number | null;
}

/** Defaults of ClientOptions. */
export const DEFAULT_CLIENT_OPTIONS: Readonly<ClientOptions> = Object.freeze({
  ...DEFAULT_SESSION_OPTIONS,
  addresses: [],
  loadBalance: 'XID' as LoadBalanceType,
  dialTimeoutMs: 3000,
  reconnectInitialMs: 100,
  reconnectMaxMs: 10000,
  reconnect: true,
  tls: null,
  cronPeriodMs: 1000,
  localAddress: null,
  localPort: null,
});

/** Merges and validates client options, naming the bad key. */
export function parseClientOptions(input?: Partial<ClientOptions>): ClientOptions {
  return parseOptions(
    DEFAULT_CLIENT_OPTIONS,
    input,
    {
      ...SESSION_OPTION_VALIDATORS,
      addresses: (v: unknown, key: string) => {
        if (!Array.isArray(v) || v.length === 0)
          throw new ConfigError(key, `${key} needs at least one TC address`);
        return v.map((a, i) => {
          parseHostPort(String(a), `${key}[${i}]`);
          return String(a);
        });
      },
      loadBalance: oneOf('XID', 'RoundRobin', 'Random'),
      dialTimeoutMs: positiveMs(),
      reconnectInitialMs: positiveMs(),
      reconnectMaxMs: positiveMs(),
      reconnect: bool(),
      tls: (v: unknown) => v as tls.ConnectionOptions | null,
      cronPeriodMs: positiveMs(),
      maxBatchMessages: integerIn(1, 0x7fff),
      localAddress: (v: unknown, key: string) => {
        if (v !== null && (typeof v !== 'string' || net.isIP(v) === 0))
          throw new ConfigError(key, `${key} must be an IP address or null, got ${JSON.stringify(v)}`);
        return v as string | null;
      },
      localPort: (v: unknown, key: string) => (v === null ? null : integerIn(1, 65535)(v, key)),
    },
    'client',
  );
}

/** What the client tells its owner, besides the per-session listener. */
export interface ClientListener extends SessionListener {
  /**
   * Runs on every new session before it carries traffic (TM/RM registration). A throw closes
   * the session and schedules a reconnect.
   */
  onConnect?(session: Session): Promise<void>;
}

function withTimeout(p: Promise<void>, ms: number, address: string): Promise<void> {
  let timer: NodeJS.Timeout | undefined;
  const timeout = new Promise<void>((_, reject) => {
    timer = setTimeout(
      () => reject(new TimeoutError(`onConnect for ${address} did not finish within ${ms} ms`)),
      ms,
    );
  });
  return Promise.race([p, timeout]).finally(() => clearTimeout(timer));
}

type State = 'idle' | 'dialing' | 'handshaking' | 'ready' | 'backoff' | 'closed';

/** The state machine for one TC address. */
class Connector {
  state: State = 'idle';
  session: Session | null = null;
  attempts = 0;
  lastError: Error | null = null;
  private timer: NodeJS.Timeout | null = null;

  constructor(
    readonly address: string,
    private readonly client: Client,
  ) {}

  start(): void {
    if (this.state === 'idle' || this.state === 'backoff') void this.dial();
  }

  private async dial(): Promise<void> {
    this.state = 'dialing';
    const c = this.client;
    let socket: net.Socket;
    try {
      socket = await c.connectSocket(this.address);
    } catch (err) {
      this.fail(err as Error);
      return;
    }
    if (this.state !== 'dialing') {
      socket.destroy();
      return;
    }
    const session = new Session(socket, 'client', c.options, c.sessionListener(this), {
      remote: this.address,
      local: `${socket.localAddress}:${socket.localPort}`,
    });
    this.session = session;
    this.state = 'handshaking';
    session.start();
    try {
      // A registration that never answers must not leave the address stuck in handshaking.
      if (c.listener.onConnect)
        await withTimeout(c.listener.onConnect(session), c.options.requestTimeoutMs, this.address);
    } catch (err) {
      session.close(err as Error);
      return; // onClose schedules the retry
    }
    if (!session.isOpen || this.state !== 'handshaking') return;
    this.state = 'ready';
    this.attempts = 0;
    this.lastError = null;
    c.onReady(this);
  }

  private fail(err: Error): void {
    this.lastError = err;
    this.session = null;
    if (this.state === 'closed') return;
    if (!this.client.options.reconnect) {
      this.state = 'idle';
      return;
    }
    this.state = 'backoff';
    const { reconnectInitialMs, reconnectMaxMs } = this.client.options;
    const base = Math.min(reconnectMaxMs, reconnectInitialMs * 2 ** Math.min(this.attempts, 20));
    this.attempts++;
    // Jitter keeps a fleet of clients from reconnecting in lockstep after a TC restart.
    const delay = Math.round(base / 2 + Math.random() * (base / 2));
    this.timer = setTimeout(() => this.start(), delay);
    this.timer.unref();
  }

  onSessionClose(session: Session, reason: Error | null): void {
    if (session !== this.session) return;
    this.client.invalidate();
    this.fail(reason ?? new ConnectionError('CONNECTION_CLOSED', `session to ${this.address} closed`));
  }

  close(): void {
    this.state = 'closed';
    if (this.timer) clearTimeout(this.timer);
    this.session?.close();
    this.session = null;
  }
}

/** A connection to a TC cluster. */
export class Client {
  readonly options: ClientOptions;
  private readonly connectors = new Map<string, Connector>();
  private readonly balancer: LoadBalancer;
  private readyWaiters: Array<() => void> = [];
  /** Ready sessions with their addresses, rebuilt when a connector changes state. */
  private candidates: Array<{ address: string; session: Session }> | null = null;
  private cron: NodeJS.Timeout | null = null;
  private closed = false;

  constructor(
    options: Partial<ClientOptions>,
    readonly listener: ClientListener = {},
  ) {
    this.options = parseClientOptions(options);
    this.balancer = createLoadBalancer(this.options.loadBalance);
    for (const a of this.options.addresses) this.connectors.set(a, new Connector(a, this));
  }

  /** Dials every address; does not wait (see `waitReady`). */
  start(): void {
    if (this.closed) throw new ConnectionError('CONNECTION_CLOSED', 'client is closed');
    for (const c of this.connectors.values()) c.start();
    if (!this.cron) {
      this.cron = setInterval(() => {
        const now = Date.now();
        for (const c of this.connectors.values()) c.session?.tick(now);
      }, this.options.cronPeriodMs);
      this.cron.unref();
    }
  }

  /** Sessions that finished their onConnect step. */
  readySessions(): Session[] {
    const out: Session[] = [];
    for (const c of this.connectors.values())
      if (c.state === 'ready' && c.session?.isOpen) out.push(c.session);
    return out;
  }

  /** The ready session to `address`, if any. */
  sessionFor(address: string): Session | null {
    const c = this.connectors.get(address);
    return c?.state === 'ready' && c.session?.isOpen ? c.session : null;
  }

  /** Each address's state, for health checks and tests. */
  status(): Array<{ address: string; state: State; attempts: number; lastError: string | null }> {
    return [...this.connectors.values()].map((c) => ({
      address: c.address,
      state: c.state,
      attempts: c.attempts,
      lastError: c.lastError?.message ?? null,
    }));
  }

  /** Resolves when at least `count` sessions are ready, or fails after `timeoutMs`. */
  async waitReady(timeoutMs = this.options.dialTimeoutMs, count = 1): Promise<void> {
    const deadline = Date.now() + timeoutMs;
    while (this.readySessions().length < count) {
      const left = deadline - Date.now();
      if (left <= 0 || this.closed) {
        const errors = this.status()
          .map((s) => `${s.address}: ${s.state}${s.lastError ? ` (${s.lastError})` : ''}`)
          .join('; ');
        throw new ConnectionError('NOT_CONNECTED', `no TC session ready within ${timeoutMs} ms: ${errors}`);
      }
      await new Promise<void>((resolve) => {
        const t = setTimeout(resolve, left);
        this.readyWaiters.push(() => {
          clearTimeout(t);
          resolve();
        });
      });
    }
  }

  /** Picks the session for a message: by XID when it has one, else by the balance rule. */
  pick(xid: string | null): Session | null {
    let candidates = this.candidates;
    let stale = candidates === null;
    if (candidates !== null) for (const c of candidates) if (!c.session.isOpen) stale = true;
    if (candidates === null || stale) {
      candidates = this.readySessions().map((session) => ({ address: session.remoteAddress, session }));
      this.candidates = candidates;
    }
    if (candidates.length === 0) return null;
    if (candidates.length === 1) return (candidates[0] as { session: Session }).session;
    return this.balancer.pick(candidates, xid ? xidAddress(xid) : null).session;
  }

  /** @internal Forgets the cached list of ready sessions (a connector changed state). */
  invalidate(): void {
    this.candidates = null;
  }

  /**
   * Sends a request to the chosen TC and resolves with its response. Waits up to the request
   * timeout for a session when none is ready.
   */
  request(
    msg: SingleMessage,
    options: RequestOptions & { xid?: string | null } = {},
  ): Promise<SingleMessage> {
    // Not an async function: with a session ready (the common case) this is one promise.
    const session = this.pick(options.xid ?? null);
    if (session) return session.request(msg, options);
    return this.waitReady(options.timeoutMs ?? this.options.requestTimeoutMs).then(() =>
      this.pickReady(options.xid ?? null).request(msg, options),
    );
  }

  /**
   * `request` without a promise (see Session.call): the callback gets the response or the
   * error. With no session ready it waits for one, as `request` does.
   */
  call(
    msg: SingleMessage,
    callback: ResponseCallback,
    options: RequestOptions & { xid?: string | null } = {},
  ): void {
    const session = this.pick(options.xid ?? null);
    if (session) {
      session.call(msg, callback, options);
      return;
    }
    this.waitReady(options.timeoutMs ?? this.options.requestTimeoutMs)
      .then(() => this.pickReady(options.xid ?? null))
      .then(
        (ready) => ready.call(msg, callback, options),
        (err: Error) => callback(err, null),
      );
  }

  /** A session after waitReady; one may have closed again in between. */
  private pickReady(xid: string | null): Session {
    const session = this.pick(xid);
    if (!session)
      throw new ConnectionError('NOT_CONNECTED', 'the ready TC session closed before the request was sent');
    return session;
  }

  /** Dials one address: a timeout, TLS when configured, and Getty's self-connect check. */
  connectSocket(address: string): Promise<net.Socket> {
    const { host, port } = parseHostPort(address, 'address');
    const timeoutMs = this.options.dialTimeoutMs;
    return new Promise((resolve, reject) => {
      const tlsOptions = this.options.tls;
      const local: { localAddress?: string; localPort?: number } = {};
      if (this.options.localAddress !== null) local.localAddress = this.options.localAddress;
      if (this.options.localPort !== null) local.localPort = this.options.localPort;
      const socket = tlsOptions
        ? tls.connect({
            ...tlsOptions,
            ...local,
            host,
            port,
            servername: tlsOptions.servername ?? (net.isIP(host) ? undefined : host),
          })
        : net.connect({ host, port, ...local });
      const connectEvent = tlsOptions ? 'secureConnect' : 'connect';
      const timer = setTimeout(() => {
        socket.destroy();
        reject(new ConnectionError('DIAL_TIMEOUT', `dialing ${address} timed out after ${timeoutMs} ms`));
      }, timeoutMs);
      socket.once('error', (err) => {
        clearTimeout(timer);
        socket.destroy();
        const code =
          (err as NodeJS.ErrnoException).code === 'ECONNREFUSED' ? 'CONNECTION_REFUSED' : 'CONNECTION_CLOSED';
        reject(new ConnectionError(code, `dialing ${address} failed: ${err.message}`, { cause: err }));
      });
      socket.once(connectEvent, () => {
        clearTimeout(timer);
        socket.removeAllListeners('error');
        socket.on('error', () => {}); // later errors close the session; they are reported there
        if (socket.localPort === socket.remotePort && socket.localAddress === socket.remoteAddress) {
          // A dial to an ephemeral port on this host can connect to itself (TCP simultaneous open).
          socket.destroy();
          reject(new ConnectionError('SELF_CONNECT', `dialing ${address} connected to itself`));
          return;
        }
        socket.setNoDelay(true);
        socket.setKeepAlive(true, 30000);
        resolve(socket);
      });
    });
  }

  /** @internal The listener given to each session of `connector`. */
  sessionListener(connector: Connector): SessionListener {
    const l = this.listener;
    return {
      onOpen: (s) => l.onOpen?.(s),
      onError: (s, e) => l.onError?.(s, e),
      onCron: (s) => l.onCron?.(s),
      onMessage: l.onMessage ? (s, m, r) => l.onMessage?.(s, m, r) : undefined,
      onClose: (s, reason) => {
        connector.onSessionClose(s, reason);
        l.onClose?.(s, reason);
      },
    };
  }

  /** @internal */
  onReady(_connector: Connector): void {
    this.candidates = null;
    const waiters = this.readyWaiters;
    this.readyWaiters = [];
    for (const w of waiters) w();
  }

  /** Closes every session and stops reconnecting. Idempotent. */
  async close(): Promise<void> {
    if (this.closed) return;
    this.closed = true;
    if (this.cron) clearInterval(this.cron);
    const sessions = [...this.connectors.values()]
      .map((c) => c.session)
      .filter((s): s is Session => s !== null);
    await Promise.all(sessions.map((s) => s.drain()));
    for (const c of this.connectors.values()) c.close();
    this.onReady(null as unknown as Connector);
  }
}
