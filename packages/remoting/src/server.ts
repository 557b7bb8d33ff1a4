/**
 * The accepting endpoint: a TCP or TLS listener that turns each connection into a Session,
 * limits how many there are, runs the cron that closes idle sessions, and closes gracefully
 * (stop accepting, let handlers finish and replies leave, then close).
 */
import net from 'node:net';
import tls from 'node:tls';
import { ConfigError, integerIn, LimitError, parseOptions, positiveMs } from '@dtx/core';
import { DEFAULT_SESSION_OPTIONS, SESSION_OPTION_VALIDATORS, type SessionOptions } from './options.js';
import { Session, type SessionListener } from './session.js';

/** Server options: the session options plus the listener's own. */
export interface ServerOptions extends SessionOptions {
  /** @default '127.0.0.1' */
  host: string;
  /** 0 picks a free port. @default 8091 (SERVICE_DEFAULT_PORT) */
  port: number;
  /** TLS settings (key, cert, ...); plain TCP when null. @default null */
  tls: tls.TlsOptions | null;
  /**
   * Open sessions at most; further connections are closed at once.
   * @default 10000
   */
  maxConnections: number;
  /**
   * How long `close()` waits for handlers and writes before it destroys sessions.
   * @default 10000
   */
  drainTimeoutMs: number;
  /** @default 1000 */
  cronPeriodMs: number;
}

/** Defaults of ServerOptions. */
export const DEFAULT_SERVER_OPTIONS: Readonly<ServerOptions> = Object.freeze({
  ...DEFAULT_SESSION_OPTIONS,
  host: '127.0.0.1',
  port: 8091,
  tls: null,
  maxConnections: 10000,
  drainTimeoutMs: 10000,
  cronPeriodMs: 1000,
});

/** Merges and validates server options, naming the bad key. */
export function parseServerOptions(input?: Partial<ServerOptions>): ServerOptions {
  return parseOptions(
    DEFAULT_SERVER_OPTIONS,
    input,
    {
      ...SESSION_OPTION_VALIDATORS,
      host: (v: unknown, key: string) => {
        if (typeof v !== 'string' || v.length === 0)
          throw new ConfigError(key, `${key} must be a host name or address`);
        return v;
      },
      port: integerIn(0, 65535),
      tls: (v: unknown) => v as tls.TlsOptions | null,
      maxConnections: integerIn(1, 10_000_000),
      drainTimeoutMs: positiveMs(),
      cronPeriodMs: positiveMs(),
    },
    'server',
  );
}

/** A listening endpoint. */
export class Server {
  readonly options: ServerOptions;
  private readonly server: net.Server;
  private readonly sessionSet = new Set<Session>();
  private cron: NodeJS.Timeout | null = null;
  private closing: Promise<void> | null = null;
  private emptyWaiters: Array<() => void> = [];
  /** Connections refused because maxConnections was reached. */
  refusedConnections = 0;

  constructor(
    options: Partial<ServerOptions>,
    private readonly listener: SessionListener,
  ) {
    this.options = parseServerOptions(options);
    const onSocket = (socket: net.Socket) => this.accept(socket);
    this.server = this.options.tls
      ? tls.createServer(this.options.tls, onSocket)
      : net.createServer(onSocket);
    this.server.on('tlsClientError', (err: Error, socket: net.Socket) => {
      this.options.logger.warn({ err, remote: socket.remoteAddress }, 'TLS handshake failed');
      socket.destroy();
    });
  }

  /** Open sessions. */
  get sessions(): ReadonlySet<Session> {
    return this.sessionSet;
  }

  /** Starts listening; resolves with the bound address. */
  listen(): Promise<{ host: string; port: number }> {
    return new Promise((resolve, reject) => {
      const onError = (err: Error) => reject(err);
      this.server.once('error', onError);
      this.server.listen({ host: this.options.host, port: this.options.port }, () => {
        this.server.off('error', onError);
        this.server.on('error', (err) => this.options.logger.error({ err }, 'server socket error'));
        const cronPeriod = this.options.cronPeriodMs;
        this.cron = setInterval(() => this.tick(), cronPeriod);
        this.cron.unref();
        resolve(this.address());
      });
    });
  }

  /** The bound address. */
  address(): { host: string; port: number } {
    const a = this.server.address() as net.AddressInfo;
    return { host: a.address, port: a.port };
  }

  private accept(socket: net.Socket): void {
    socket.on('error', () => {}); // errors surface through the session's close reason
    if (this.closing) {
      socket.destroy();
      return;
    }
    if (this.sessionSet.size >= this.options.maxConnections) {
      this.refusedConnections++;
      this.options.logger.warn(
        {
          err: new LimitError('server.maxConnections', this.options.maxConnections),
          remote: socket.remoteAddress,
        },
        'connection refused: too many sessions',
      );
      socket.destroy();
      return;
    }
    socket.setNoDelay(true);
    socket.setKeepAlive(true, 30000);
    const session = new Session(
      socket,
      'server',
      this.options,
      {
        ...this.listener,
        onClose: (s, reason) => {
          this.sessionSet.delete(s);
          this.listener.onClose?.(s, reason);
          if (this.sessionSet.size === 0) {
            const waiters = this.emptyWaiters;
            this.emptyWaiters = [];
            for (const w of waiters) w();
          }
        },
      },
      {
        remote: `${socket.remoteAddress}:${socket.remotePort}`,
        local: `${socket.localAddress}:${socket.localPort}`,
      },
    );
    this.sessionSet.add(session);
    session.start();
  }

  private tick(): void {
    const now = Date.now();
    for (const s of this.sessionSet) s.tick(now);
  }

  /**
   * Graceful close: stop accepting, wait (up to drainTimeoutMs) for every session's handlers to
   * finish and replies to be written, then close the sessions. Idempotent.
   */
  close(): Promise<void> {
    this.closing ??= (async () => {
      const stopped = new Promise<void>((resolve) => this.server.close(() => resolve()));
      const sessions = [...this.sessionSet];
      let timer: NodeJS.Timeout | undefined;
      const timeout = new Promise<void>((resolve) => {
        timer = setTimeout(resolve, this.options.drainTimeoutMs);
      });
      await Promise.race([Promise.all(sessions.map((s) => s.drain())), timeout]);
      clearTimeout(timer);
      for (const s of sessions) s.close();
      if (this.cron) clearInterval(this.cron);
      await stopped;
      // net.Server's 'close' can come before the sockets' own 'close' events, which is when the
      // sessions leave `sessions` and report onClose: wait for those too.
      if (this.sessionSet.size > 0) await new Promise<void>((resolve) => this.emptyWaiters.push(resolve));
    })();
    return this.closing;
  }
}
