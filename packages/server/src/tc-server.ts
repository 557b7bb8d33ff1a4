/**
 * `dtx server`: the remoting Server, the Coordinator, a store, the recovery tasks, and an HTTP
 * port for /metrics and /health, wired together and shut down in order (stop accepting, drain
 * in-flight requests, stop recovery, flush the store).
 */
import { randomBytes } from 'node:crypto';
import http from 'node:http';
import os from 'node:os';
import zlib from 'node:zlib';
import { ConfigError, IdWorker, type Logger, type Metrics, noopLogger, TransactionError } from '@dtx/core';
import { GlobalStatus } from '@dtx/protocol';
import { Server, type ServerOptions } from '@dtx/remoting';
import {
  Coordinator,
  type CoordinatorOptions,
  DEFAULT_COORDINATOR_OPTIONS,
  statusName,
} from './coordinator/coordinator.js';
import { type LockManager, MemoryLockManager } from './lock/lock-manager.js';
import { PrometheusMetrics } from './metrics/prometheus.js';
import { DEFAULT_RECOVERY_OPTIONS, Recovery, type RecoveryOptions } from './recovery/recovery.js';
import type { GlobalSession } from './session/global-session.js';
import { FileStore, type FileStoreOptions } from './store/file/file-store.js';
import type { TransactionStore } from './store/transaction-store.js';

/** Worker ids an IdWorker can have (10 bits). */
const WORKER_IDS = 1024;
/** How long a leased worker id stays taken without renewal (renewed every third of it). */
const WORKER_LEASE_MS = 30_000;

/** Which store backs the sessions (`store.mode`). */
export type StoreMode = 'file' | 'db' | 'redis';

/** Everything `dtx server` can be told. */
export interface TcServerOptions {
  /** Bind address. @default '127.0.0.1' */
  host: string;
  /** @default 8091 */
  port: number;
  /** The address put into XIDs; defaults to `host`, or the first external IPv4 when binding 0.0.0.0. */
  advertisedHost: string | null;
  /**
   * IdWorker worker id (Seata's `--serverNode`). Every TC sharing a store needs its own. When
   * null: derived from the MAC with the file store; with a shared store, leased at start from
   * the store's task locks (`dtx-worker-<n>`, renewed while the TC runs). @default null
   */
  workerId: number | null;
  /** @default 'file' */
  storeMode: StoreMode;
  /** File store settings. */
  file: Partial<FileStoreOptions>;
  /** A ready store instance (tests, embedding); overrides storeMode. */
  store: TransactionStore | null;
  /** Row locks; defaults to memory for the file store, the store's own lock table otherwise. */
  locks: LockManager | null;
  coordinator: Partial<Omit<CoordinatorOptions, 'advertisedHost' | 'advertisedPort'>>;
  recovery: Partial<RecoveryOptions>;
  /** Remoting settings (heartbeat, limits, TLS, ...). */
  remoting: Partial<Omit<ServerOptions, 'host' | 'port' | 'logger'>>;
  /** Serve /metrics and /health over HTTP. @default true */
  metricsEnabled: boolean;
  /** @default 9898 (`metrics.exporterPrometheusPort`); 0 picks a free port. */
  metricsPort: number;
  logger: Logger;
  /** A metrics sink; defaults to prom-client when metricsEnabled. */
  metrics: Metrics | null;
}

/** Defaults of TcServerOptions. */
export const DEFAULT_TC_SERVER_OPTIONS: Readonly<TcServerOptions> = Object.freeze({
  host: '127.0.0.1',
  port: 8091,
  advertisedHost: null,
  workerId: null,
  storeMode: 'file' as StoreMode,
  file: {},
  store: null,
  locks: null,
  coordinator: {},
  recovery: {},
  remoting: {},
  metricsEnabled: true,
  metricsPort: 9898,
  logger: noopLogger,
  metrics: null,
});

function externalIPv4(): string {
  for (const list of Object.values(os.networkInterfaces())) {
    for (const a of list ?? []) if (a.family === 'IPv4' && !a.internal) return a.address;
  }
  return '127.0.0.1';
}

/** A running TC. */
export class TcServer {
  readonly options: TcServerOptions;
  readonly coordinator: Coordinator;
  readonly store: TransactionStore;
  readonly recovery: Recovery;
  readonly remoting: Server;
  readonly metrics: Metrics;
  private http: http.Server | null = null;
  private started = false;
  private stopping: Promise<void> | null = null;
  private readonly logger: Logger;
  /** Shared store without server.workerId: the worker id to try leasing first. */
  private leaseFrom: number | null = null;
  private leaseTimer: NodeJS.Timeout | null = null;
  /** The worker id lock this TC holds (`name`, `owner`), released on stop. */
  private lease: { name: string; owner: string } | null = null;

  constructor(options: Partial<TcServerOptions> = {}) {
    this.options = { ...DEFAULT_TC_SERVER_OPTIONS, ...options };
    const o = this.options;
    this.logger = o.logger;
    if (o.store) this.store = o.store;
    else if (o.storeMode === 'file') this.store = new FileStore(o.file);
    else
      throw new ConfigError(
        'store.mode',
        `store.mode "${o.storeMode}" needs a store instance (see createStore)`,
      );
    this.metrics = o.metrics ?? (o.metricsEnabled ? new PrometheusMetrics() : ({} as Metrics));
    if (!o.metrics && !o.metricsEnabled) {
      this.metrics = {
        counter: () => ({ inc() {} }),
        gauge: () => ({ set() {}, inc() {}, dec() {} }),
        histogram: () => ({ observe() {} }),
      };
    }
    const advertisedHost =
      o.advertisedHost ?? (o.host === '0.0.0.0' || o.host === '::' ? externalIPv4() : o.host);
    // Branch ids are branch_table's primary key, shared by every TC on the store, and a branch
    // whose id is taken is lost. TCs on one host derive the same worker id from the MAC and draw
    // the same ids in the same millisecond. Without a configured id, a shared-store TC leases one
    // in the store at start (see leaseWorkerId), starting from a hash of its advertised address.
    const workerId = o.workerId;
    if (workerId === null && this.store.shared)
      this.leaseFrom = (zlib.crc32(advertisedHost) + o.port) % WORKER_IDS;
    this.coordinator = new Coordinator(
      { ...DEFAULT_COORDINATOR_OPTIONS, ...o.coordinator, advertisedHost, advertisedPort: o.port },
      {
        store: this.store,
        locks: o.locks ?? this.defaultLocks(),
        ids: new IdWorker(workerId === null ? {} : { workerId }),
        logger: this.logger,
        metrics: this.metrics,
      },
    );
    this.recovery = new Recovery(
      this.coordinator,
      this.store,
      { ...DEFAULT_RECOVERY_OPTIONS, ...o.recovery },
      `${advertisedHost}:${o.port}`,
      this.logger,
    );
    const coordinator = this.coordinator;
    const sessionsGauge = this.metrics.gauge('dtx_tc_sessions', 'Open client sessions');
    this.remoting = new Server(
      { ...o.remoting, host: o.host, port: o.port, logger: this.logger },
      {
        onOpen: () => sessionsGauge.inc(),
        onClose: (session) => {
          sessionsGauge.dec();
          coordinator.onSessionClose(session);
        },
        onError: (session, err) => this.logger.warn({ err, peer: session.remoteAddress }, 'session error'),
        onMessage: (session, msg) => coordinator.onMessage(session, msg),
      },
    );
  }

  /** Process-memory row locks suit only a store no other TC shares. */
  private defaultLocks(): LockManager {
    if (this.store.shared) {
      throw new ConfigError(
        'store.lock.mode',
        `a shared ${this.store.kind} store needs a shared lock manager (SqlLockManager, RedisLockManager)`,
      );
    }
    return new MemoryLockManager();
  }

  /** Opens the store, restores unfinished transactions, starts listening and recovery. */
  async start(): Promise<{ host: string; port: number; metricsPort: number | null }> {
    if (this.started) throw new Error('TC already started');
    this.started = true;
    const restored = await this.store.open();
    if (this.leaseFrom !== null) await this.leaseWorkerId(this.leaseFrom);
    // A file store's sessions live in this process; a shared store's stay in the store, where
    // recovery (under the cluster task locks) and XID-routed requests find them.
    if (!this.store.shared) this.coordinator.restore(restored);
    if (restored.length > 0)
      this.logger.info(
        { count: restored.length, shared: this.store.shared },
        'unfinished transactions in the store',
      );
    const address = await this.remoting.listen();
    if (this.options.port === 0) {
      // Ephemeral port: XIDs must carry the real one.
      (this.coordinator.options as { advertisedPort: number }).advertisedPort = address.port;
    }
    this.recovery.start();
    let metricsPort: number | null = null;
    if (this.options.metricsEnabled && this.metrics instanceof PrometheusMetrics) {
      metricsPort = await this.startHttp(this.metrics);
    }
    this.logger.info({ ...address, store: this.store.kind, metricsPort }, 'dtx TC listening');
    return { ...address, metricsPort };
  }

  /**
   * Takes a worker id no other live TC on the shared store holds: the task lock
   * `dtx-worker-<n>` (Seata's distributed_lock row, or its Redis key), trying `first`, then the
   * ids after it, and keeps the lease renewed while the TC runs. A TC that loses its lease (paused
   * for longer than the lease) says so loudly: another TC may now draw the same ids.
   */
  private async leaseWorkerId(first: number): Promise<void> {
    const owner = `${this.coordinator.options.advertisedHost}:${this.options.port}/${randomBytes(4).toString('hex')}`;
    for (let i = 0; i < WORKER_IDS; i++) {
      const id = (first + i) % WORKER_IDS;
      const name = `dtx-worker-${id}`;
      if (!(await this.store.acquireTaskLock(name, owner, WORKER_LEASE_MS))) continue;
      this.coordinator.useIdWorker(new IdWorker({ workerId: id }));
      this.lease = { name, owner };
      this.logger.info(
        { workerId: id },
        'worker id leased from the shared store (set server.workerId to fix one)',
      );
      this.leaseTimer = setInterval(() => {
        this.store.acquireTaskLock(name, owner, WORKER_LEASE_MS).then(
          (held) => {
            if (!held)
              this.logger.error(
                { workerId: id },
                'worker id lease lost to another TC: branch ids may collide; restart this TC',
              );
          },
          (err) => this.logger.warn({ err, workerId: id }, 'could not renew the worker id lease'),
        );
      }, WORKER_LEASE_MS / 3);
      this.leaseTimer.unref();
      return;
    }
    throw new ConfigError(
      'server.workerId',
      `every one of the ${WORKER_IDS} worker ids is leased by a live TC on this store; set server.workerId`,
    );
  }

  /**
   * Hands the leased worker id back once nothing more is begun here, so a TC restarted on the same
   * address takes the same id at once instead of moving to the next one for the lease's length.
   */
  private async releaseWorkerId(): Promise<void> {
    const lease = this.lease;
    if (!lease) return;
    this.lease = null;
    try {
      await this.store.releaseTaskLock(lease.name, lease.owner);
    } catch (err) {
      this.logger.warn(
        { err, lock: lease.name },
        'could not release the worker id lease; it expires on its own',
      );
    }
  }

  private startHttp(metrics: PrometheusMetrics): Promise<number> {
    const server = http.createServer((req, res) => {
      if (req.url === '/metrics') {
        metrics.text().then(
          (text) => {
            res.writeHead(200, { 'content-type': metrics.registry.contentType });
            res.end(text);
          },
          (err) => {
            res.writeHead(500);
            res.end(String(err));
          },
        );
        return;
      }
      if (req.url?.startsWith('/transactions')) {
        this.admin(req, res).catch((err) => {
          res.writeHead(
            err instanceof TransactionError && err.code === 'GlobalTransactionNotExist' ? 404 : 409,
            {
              'content-type': 'application/json',
            },
          );
          res.end(JSON.stringify({ error: (err as Error).message }));
        });
        return;
      }
      if (req.url === '/health') {
        const body = {
          status: this.stopping ? 'stopping' : 'up',
          store: this.store.kind,
          sessions: this.remoting.sessions.size,
          transactions: this.coordinator.sessions.size,
        };
        res.writeHead(this.stopping ? 503 : 200, { 'content-type': 'application/json' });
        res.end(JSON.stringify(body));
        return;
      }
      res.writeHead(404);
      res.end();
    });
    this.http = server;
    return new Promise((resolve, reject) => {
      server.once('error', reject);
      server.listen(this.options.metricsPort, this.options.host, () => {
        resolve((server.address() as { port: number }).port);
      });
    });
  }

  /**
   * The operator API behind `dtx tx`: GET /transactions[?status=Name,...], GET /transactions/<xid>,
   * POST /transactions/<xid>/retry, POST /transactions/<xid>/rollback.
   */
  private async admin(req: http.IncomingMessage, res: http.ServerResponse): Promise<void> {
    const url = new URL(req.url ?? '/', 'http://localhost');
    const parts = url.pathname.split('/').filter(Boolean).map(decodeURIComponent);
    const send = (status: number, body: unknown) => {
      res.writeHead(status, { 'content-type': 'application/json' });
      res.end(JSON.stringify(body));
    };
    if (req.method === 'GET' && parts.length === 1) {
      const names = url.searchParams.get('status');
      const statuses = names
        ? names.split(',').map((n) => {
            const code = (GlobalStatus as Record<string, number>)[n] ?? Number(n);
            if (!Number.isInteger(code))
              throw new TransactionError('GlobalTransactionStatusInvalid', `unknown status ${n}`);
            return code;
          })
        : undefined;
      const limit = Number(url.searchParams.get('limit') ?? 100);
      const list = await this.store.listGlobals({ ...(statuses ? { statuses } : {}), limit });
      return send(200, list.map(describeSession));
    }
    const xid = parts[1] as string;
    if (req.method === 'GET' && parts.length === 2) {
      const g = this.coordinator.sessions.get(xid) ?? (await this.store.findGlobal(xid));
      if (!g) return send(404, { error: `no transaction ${xid}` });
      return send(200, describeSession(g));
    }
    if (req.method === 'POST' && parts.length === 3 && (parts[2] === 'retry' || parts[2] === 'rollback')) {
      const status =
        parts[2] === 'retry'
          ? await this.coordinator.forceRetry(xid)
          : await this.coordinator.forceRollback(xid);
      return send(200, { xid, status: statusName(status) });
    }
    send(404, { error: 'no such route' });
  }

  /** Graceful stop: stop accepting, drain in-flight requests, stop recovery, flush the store. */
  stop(): Promise<void> {
    this.stopping ??= (async () => {
      this.logger.info({}, 'dtx TC stopping');
      this.recovery.stop();
      if (this.leaseTimer) clearInterval(this.leaseTimer);
      await this.remoting.close();
      this.coordinator.stop();
      await this.recovery.close();
      await this.releaseWorkerId();
      await this.store.close();
      if ('stats' in this.store)
        this.logger.info({ stats: (this.store as { stats: unknown }).stats }, 'store statistics');
      await new Promise<void>((resolve) => (this.http ? this.http.close(() => resolve()) : resolve()));
      this.logger.info({}, 'dtx TC stopped');
    })();
    return this.stopping;
  }
}

/** The JSON an operator sees for one transaction. */
export function describeSession(g: GlobalSession): Record<string, unknown> {
  return {
    xid: g.xid,
    transactionId: g.transactionId.toString(),
    status: statusName(g.status),
    applicationId: g.applicationId,
    transactionServiceGroup: g.transactionServiceGroup,
    transactionName: g.transactionName,
    timeout: g.timeout,
    beginTime: new Date(g.beginTime).toISOString(),
    branches: g.branches.map((b) => ({
      branchId: b.branchId.toString(),
      resourceId: b.resourceId,
      branchType: ['AT', 'TCC', 'SAGA', 'XA'][b.branchType] ?? String(b.branchType),
      status: b.status,
      clientId: b.clientId,
      lockKey: b.lockKey,
      applicationData: b.applicationData,
    })),
  };
}
