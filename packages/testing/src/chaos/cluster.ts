/**
 * One variant's processes: the TC(s) (file variant: one `dtx server` on the file store; ha
 * variant: three on one PostgreSQL store), a FaultProxy in front of each TC for the two bank
 * services, the banks, and the initiator (which talks to the TCs directly). Every process keeps
 * its ports across restarts.
 */
import fs from 'node:fs';
import path from 'node:path';
import { FaultProxy } from '../fault-proxy.js';
import { BANKS, type BankName, type DbParams, type InitiatorConfig } from './bank-schema.js';
import { pgUrl, type RunDatabases } from './databases.js';
import { CLI, freePort, nodeArgsFor, Proc } from './processes.js';

/** Which TC setup a variant runs. */
export type Variant = 'file' | 'ha';

/** Timing and load settings shared by the processes of a variant. */
export interface ClusterSettings {
  variant: Variant;
  /** The variant's working directory (logs, file store, journal). */
  dir: string;
  seed: number;
  rate: number;
  concurrency: number;
  txTimeoutMs: number;
  /** transport.rpcTcRequestTimeout: how long the TC waits for a phase-two answer. */
  rpcTcRequestTimeoutMs: number;
  maxConnections: number;
  maxOpenTransactionsPerClient: number;
  failRate: number;
  impatientRate: number;
}

/** One `dtx server`. */
export interface TcNode {
  index: number;
  port: number;
  metricsPort: number;
  proc: Proc;
  proxy: FaultProxy;
}

/** A bank service. */
export interface BankNode {
  bank: BankName;
  url: string;
  proc: Proc;
}

/** The TC configuration (Seata keys) every TC of the variant reads. */
function tcConfig(s: ClusterSettings): string {
  return [
    'server.recovery.committingRetryPeriod: 200',
    'server.recovery.rollbackingRetryPeriod: 200',
    'server.recovery.asyncCommittingRetryPeriod: 200',
    'server.recovery.timeoutRetryPeriod: 200',
    // Above the global timeout: a decision taken just before it must not look dead while its
    // own TC still runs the first phase two.
    `server.retryDeadThreshold: ${s.txTimeoutMs * 3}`,
    'server.distributedLockExpireTime: 2000',
    `transport.rpcTcRequestTimeout: ${s.rpcTcRequestTimeoutMs}`,
    `server.maxConnections: ${s.maxConnections}`,
    `server.maxOpenTransactionsPerClient: ${s.maxOpenTransactionsPerClient}`,
    // Three TCs share one PostgreSQL with the banks and whatever else runs: a small pool each.
    'store.db.maxConn: 4',
    '',
  ].join('\n');
}

/** Starts and stops one variant's processes. */
export class ChaosCluster {
  readonly tcs: TcNode[] = [];
  readonly banks = {} as Record<BankName, BankNode>;
  initiator!: Proc;
  readonly journal: string;
  /** `ANOMALY` lines the banks printed. */
  readonly anomalies: string[] = [];
  private incarnation = 0;

  constructor(
    readonly s: ClusterSettings,
    private readonly dbs: RunDatabases,
    private readonly bankDbs: Record<BankName, DbParams>,
  ) {
    this.journal = path.join(s.dir, 'journal.jsonl');
  }

  /** Starts the TCs, the proxies, the banks and the initiator. */
  async start(): Promise<void> {
    const s = this.s;
    const config = path.join(s.dir, 'tc.yaml');
    fs.writeFileSync(config, tcConfig(s));
    const count = s.variant === 'ha' ? 3 : 1;
    let storeArgs: (i: number) => string[];
    if (s.variant === 'ha') {
      const store = await this.dbs.create('postgres', `${s.variant}_tc`);
      await runCli(['server', 'schema', '--db', 'postgres', '--apply', '--db-url', pgUrl(store)]);
      storeArgs = (i) => [
        '--store',
        'db',
        '--db-type',
        'postgres',
        '--db-url',
        pgUrl(store),
        '--worker-id',
        `${i + 1}`,
      ];
    } else {
      storeArgs = () => ['--store-dir', path.join(s.dir, 'sessionStore')];
    }
    for (let i = 0; i < count; i++) {
      const port = await freePort();
      const metricsPort = await freePort();
      const args = [
        CLI,
        'server',
        '--host',
        '127.0.0.1',
        '--port',
        `${port}`,
        '--metrics-port',
        `${metricsPort}`,
        '--config',
        config,
        '--log-level',
        'warn',
        ...storeArgs(i),
      ];
      const proc = new Proc(`tc${i}`, () => args, path.join(s.dir, `tc${i}.log`), /listening/);
      const proxy = await FaultProxy.start({ target: { host: '127.0.0.1', port } });
      this.tcs.push({ index: i, port, metricsPort, proc, proxy });
    }
    await Promise.all(this.tcs.map((tc) => tc.proc.start()));

    for (const bank of BANKS) {
      const httpPort = await freePort();
      const arg = JSON.stringify({
        bank,
        db: this.bankDbs[bank],
        grouplist: this.tcs.map((tc) => tc.proxy.address),
        httpPort,
        rmRequestTimeoutMs: s.rpcTcRequestTimeoutMs + 1000,
      });
      const proc = new Proc(
        `bank-${bank}`,
        () => [...nodeArgsFor('bank-service'), arg],
        path.join(s.dir, `bank-${bank}.log`),
        /^READY/,
        (line) => {
          if (line.startsWith('ANOMALY')) this.anomalies.push(line);
        },
      );
      this.banks[bank] = { bank, url: `http://127.0.0.1:${httpPort}`, proc };
    }
    await Promise.all(BANKS.map((b) => this.banks[b].proc.start()));

    this.initiator = new Proc(
      'initiator',
      () => [...nodeArgsFor('initiator'), JSON.stringify(this.initiatorConfig())],
      path.join(s.dir, 'initiator.log'),
      /^READY/,
    );
  }

  private initiatorConfig(): InitiatorConfig {
    const s = this.s;
    return {
      grouplist: this.tcs.map((tc) => `127.0.0.1:${tc.port}`),
      banks: { a: this.banks.a.url, b: this.banks.b.url },
      journal: this.journal,
      rate: s.rate,
      concurrency: s.concurrency,
      txTimeoutMs: s.txTimeoutMs,
      callTimeoutMs: s.rpcTcRequestTimeoutMs + 1500,
      tmRequestTimeoutMs: s.rpcTcRequestTimeoutMs * 2 + 2000,
      failRate: s.failRate,
      impatientRate: s.impatientRate,
      seed: s.seed,
      incarnation: ++this.incarnation,
    };
  }

  /** Starts (or restarts) the initiator: a new incarnation, so its transfer ids are new. */
  startInitiator(): Promise<void> {
    return this.initiator.start();
  }

  /** Every process that should be running is running and not stopped. */
  async heal(): Promise<void> {
    for (const tc of this.tcs) tc.proxy.clearFaults();
    const procs = [...this.tcs.map((tc) => tc.proc), ...BANKS.map((b) => this.banks[b].proc)];
    for (const p of procs) if (p.stopped) p.pause(false);
    for (const p of procs) if (!p.alive) await p.start();
  }

  /** Kills everything and closes the proxies. */
  async stop(): Promise<void> {
    const procs = [
      this.initiator,
      ...BANKS.map((b) => this.banks[b]?.proc),
      ...this.tcs.map((tc) => tc.proc),
    ];
    await Promise.all(procs.filter((p) => p).map((p) => p.kill('SIGKILL')));
    await Promise.all(this.tcs.map((tc) => tc.proxy.close()));
  }
}

/** Runs the `dtx` CLI to completion; throws with its output unless it exits 0. */
export async function runCli(args: string[]): Promise<string> {
  const { spawn } = await import('node:child_process');
  return new Promise((resolve, reject) => {
    const child = spawn(process.execPath, [CLI, ...args], { stdio: ['ignore', 'pipe', 'pipe'] });
    let out = '';
    child.stdout.on('data', (d) => {
      out += d;
    });
    child.stderr.on('data', (d) => {
      out += d;
    });
    const timer = setTimeout(() => child.kill('SIGKILL'), 30_000);
    child.once('exit', (code) => {
      clearTimeout(timer);
      if (code === 0) resolve(out);
      else reject(new Error(`dtx ${args.slice(0, 2).join(' ')} exited with ${code}: ${out}`));
    });
  });
}
