/**
 * dtx's proof under faults: a money-conservation chaos run.
 *
 *   node --import tsx packages/testing/src/chaos/run.ts [--duration 600] [--variant file|ha|both]
 *        [--seed N] [--quiet-timeout 120] [--rate 25] [--report out.json]
 *
 * Two bank services (PostgreSQL, MariaDB) with fenced TCC actions, an initiator running random
 * transfers between them at a steady rate, hostile peers against the TC, and faults injected at
 * random (see faults.ts). `--duration` is the whole run's workload time, split between the
 * variants. After the workload, the faults stop and the run waits (bounded) for quiescence, then
 * checks the invariants (invariants.ts), prints its figures and exits 1 on any violation (2 on a
 * setup failure, 3 when PostgreSQL or MariaDB is unreachable).
 *
 * Every child process is SIGKILLed and every database dropped on the way out, also on failure
 * and on SIGINT/SIGTERM.
 */
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { setTimeout as sleep } from 'node:timers/promises';
import { parseArgs } from 'node:util';
import { BANKS, type BankName, type DbParams } from './bank-schema.js';
import { ChaosCluster, type Variant } from './cluster.js';
import { type Db, databasesUnreachable, RunDatabases } from './databases.js';
import { FaultInjector, type FaultKind } from './faults.js';
import { type HostileCounts, HostilePeers } from './hostile-peers.js';
import { type CheckResult, checkInvariants, openBankDbs, waitForQuiet } from './invariants.js';
import { killAllChildren } from './processes.js';
import { Rng } from './rng.js';

const { values: args } = parseArgs({
  options: {
    duration: { type: 'string', default: '600' },
    variant: { type: 'string', default: 'both' },
    seed: { type: 'string' },
    'quiet-timeout': { type: 'string', default: '120' },
    rate: { type: 'string', default: '25' },
    concurrency: { type: 'string', default: '8' },
    idle: { type: 'string', default: '2000' },
    report: { type: 'string' },
    keep: { type: 'boolean', default: false },
  },
});

const durationS = Number(args.duration);
const variants: Variant[] =
  args.variant === 'both'
    ? ['file', 'ha']
    : args.variant === 'file' || args.variant === 'ha'
      ? [args.variant]
      : [];
if (!(durationS > 0) || variants.length === 0) {
  process.stderr.write(
    'usage: run.ts [--duration <s>] [--variant file|ha|both] [--seed N] [--quiet-timeout <s>]\n',
  );
  process.exit(2);
}
const seed = args.seed !== undefined ? Number(args.seed) : Math.floor(Math.random() * 1e9);
const quietTimeoutMs = Number(args['quiet-timeout']) * 1000;
const idleConnections = Number(args.idle);

function log(line: string): void {
  process.stdout.write(`[chaos ${new Date().toISOString().slice(11, 23)}] ${line}\n`);
}

// ---- cleanup, however the run ends

const runDir = fs.mkdtempSync(path.join(os.tmpdir(), 'dtx-chaos-'));
const dbs = new RunDatabases(process.env);
const keepDatabases = args.keep;
let cleaning: Promise<void> | null = null;

function cleanup(): Promise<void> {
  cleaning ??= (async () => {
    killAllChildren();
    // --keep keeps the databases too; a failure keeps only the logs.
    if (keepDatabases) log(`databases kept: ${dbs.names().join(', ')}`);
    else await dbs.dropAll();
    if (!args.keep) fs.rmSync(runDir, { recursive: true, force: true });
  })();
  return cleaning;
}
process.on('exit', killAllChildren);
for (const signal of ['SIGINT', 'SIGTERM'] as const) {
  process.once(signal, () => {
    log(`${signal}: cleaning up`);
    void cleanup().finally(() => process.exit(130));
  });
}

// ---- memory of the soaked TC

interface MemorySample {
  t: number;
  rssMb: number;
  heapMb: number | null;
}

function rssMb(pid: number): number | null {
  try {
    const m = /VmRSS:\s+(\d+) kB/.exec(fs.readFileSync(`/proc/${pid}/status`, 'utf8'));
    return m ? Number(m[1]) / 1024 : null;
  } catch {
    return null;
  }
}

async function heapMb(metricsPort: number): Promise<number | null> {
  try {
    const res = await fetch(`http://127.0.0.1:${metricsPort}/metrics`, { signal: AbortSignal.timeout(2000) });
    const m = /^nodejs_heap_size_used_bytes\s+([\d.e+]+)/m.exec(await res.text());
    return m ? Number(m[1]) / 2 ** 20 : null;
  } catch {
    return null;
  }
}

/** Samples tc0 (never killed in the ha variant) every 2 s; a restart starts a new series. */
function sampleMemory(cluster: ChaosCluster): { series: MemorySample[][]; stop(): void } {
  const series: MemorySample[][] = [];
  let lastPid: number | null = null;
  const start = Date.now();
  const timer = setInterval(() => {
    const tc = cluster.tcs[0]!;
    const pid = tc.proc.pid;
    if (pid === null) return;
    const rss = rssMb(pid);
    if (rss === null) return;
    void heapMb(tc.metricsPort).then((heap) => {
      if (pid !== lastPid) {
        series.push([]);
        lastPid = pid;
      }
      series[series.length - 1]!.push({ t: (Date.now() - start) / 1000, rssMb: rss, heapMb: heap });
    });
  }, 2000);
  return { series, stop: () => clearInterval(timer) };
}

function memorySummary(series: MemorySample[][]): Record<string, unknown> {
  // The longest uninterrupted series is the soak: a restarted TC starts small again.
  const longest = [...series].sort((a, b) => b.length - a.length)[0] ?? [];
  const stat = (xs: number[]) =>
    xs.length === 0
      ? null
      : {
          first: round(xs[0]!),
          min: round(Math.min(...xs)),
          max: round(Math.max(...xs)),
          last: round(xs[xs.length - 1]!),
        };
  const half = longest.slice(Math.floor(longest.length / 2));
  // Mean of each quarter of the series: flat memory shows as four similar figures.
  const quarters = (pick: (s: MemorySample) => number | null) =>
    [0, 1, 2, 3].map((q) => {
      const part = longest
        .slice(Math.floor((q * longest.length) / 4), Math.floor(((q + 1) * longest.length) / 4))
        .flatMap((s) => {
          const x = pick(s);
          return x === null ? [] : [x];
        });
      return part.length ? round(part.reduce((a, b) => a + b, 0) / part.length) : null;
    });
  return {
    incarnations: series.length,
    samples: longest.length,
    seconds: longest.length ? round(longest[longest.length - 1]!.t - longest[0]!.t) : 0,
    rssMb: stat(longest.map((s) => s.rssMb)),
    heapMb: stat(longest.flatMap((s) => (s.heapMb === null ? [] : [s.heapMb]))),
    // Flat memory: the second half's heap range, against the first half's peak.
    secondHalfHeapMb: stat(half.flatMap((s) => (s.heapMb === null ? [] : [s.heapMb]))),
    rssMbByQuarter: quarters((s) => s.rssMb),
    heapMbByQuarter: quarters((s) => s.heapMb),
  };
}

function round(x: number): number {
  return Math.round(x * 10) / 10;
}

// ---- one variant

interface VariantReport {
  variant: Variant;
  seconds: number;
  result: CheckResult;
  faults: Record<FaultKind, number>;
  faultErrors: string[];
  hostile: HostileCounts;
  memory: Record<string, unknown>;
  logs: string;
}

async function runVariant(
  variant: Variant,
  seconds: number,
  bankDbs: Record<BankName, DbParams>,
  rng: Rng,
): Promise<VariantReport> {
  const dir = path.join(runDir, variant);
  fs.mkdirSync(dir, { recursive: true });
  log(`variant ${variant}: ${seconds} s of workload, logs in ${dir}`);
  const cluster = new ChaosCluster(
    {
      variant,
      dir,
      seed: rng.int(1e9),
      rate: Number(args.rate),
      concurrency: Number(args.concurrency),
      txTimeoutMs: 4000,
      rpcTcRequestTimeoutMs: 2000,
      maxConnections: idleConnections + 64,
      maxOpenTransactionsPerClient: 200,
      failRate: 0.1,
      impatientRate: 0.05,
    },
    dbs,
    bankDbs,
  );
  const bank = openBankDbs(bankDbs);
  try {
    return await workload(cluster, bank, seconds, rng);
  } finally {
    await cluster.stop();
    await Promise.all(BANKS.map((b) => bank[b].end().catch(() => {})));
  }
}

async function workload(
  cluster: ChaosCluster,
  bank: Record<BankName, Db>,
  seconds: number,
  rng: Rng,
): Promise<VariantReport> {
  await cluster.start();
  const memory = sampleMemory(cluster);
  const hostile = new HostilePeers(
    {
      host: '127.0.0.1',
      port: cluster.tcs[0]!.port,
      idleConnections,
      burstSize: 150,
      floodTxTimeoutMs: 5000,
    },
    new Rng(rng.int(1e9)),
  );
  const faults = new FaultInjector(cluster, new Rng(rng.int(1e9)), log);
  try {
    await cluster.startInitiator();
    hostile.start();
    faults.start();
    return await measure(cluster, bank, seconds, memory, hostile, faults);
  } finally {
    memory.stop();
    await faults.stop();
    await hostile.stop();
  }
}

async function measure(
  cluster: ChaosCluster,
  bank: Record<BankName, Db>,
  seconds: number,
  memory: { series: MemorySample[][]; stop(): void },
  hostile: HostilePeers,
  faults: FaultInjector,
): Promise<VariantReport> {
  const started = Date.now();
  while (Date.now() - started < seconds * 1000) {
    await sleep(Math.min(10_000, seconds * 1000 - (Date.now() - started)));
    log(
      `  ${Math.round((Date.now() - started) / 1000)} s: faults ${JSON.stringify(faults.counts)}, idle held ${hostile.counts.idleHeldMax}, flood refused ${hostile.counts.floodRefused}`,
    );
  }

  log('stopping the faults and the workload');
  await faults.stop();
  await cluster.heal();
  await hostile.stop();
  if (cluster.initiator.alive) await cluster.initiator.kill('SIGTERM', 30_000);
  const quiesceMs = await waitForQuiet(cluster, bank, quietTimeoutMs, log);
  log(quiesceMs === null ? 'did not quiesce' : `quiet after ${quiesceMs} ms`);
  memory.stop();
  const result = await checkInvariants(cluster, bank, quiesceMs);
  const report: VariantReport = {
    variant: cluster.s.variant,
    seconds,
    result,
    faults: { ...faults.counts },
    faultErrors: faults.errors,
    hostile: { ...hostile.counts },
    memory: memorySummary(memory.series),
    logs: '',
  };
  if (hostile.counts.floodRefusal) log(`flooder refused: ${hostile.counts.floodRefusal}`);
  if (hostile.counts.floodRefused === 0) result.violations.push('the begin flooder was never refused');
  for (const e of faults.errors) result.violations.push(`fault did not complete: ${e}`);
  report.logs = cluster.s.dir;
  return report;
}

function printReport(r: VariantReport): void {
  const x = r.result;
  const lines = [
    `==== chaos report: ${r.variant} variant, ${r.seconds} s of workload`,
    `transfers: attempted ${x.attempted}, committed ${x.committed}, rolled back ${x.failed}, unknown ${x.unknown} (initiator killed: ${x.noOutcome}; applied ${x.unknownApplied}, not applied ${x.unknownNotApplied})`,
    `money: ${x.totalMoney} of ${x.expectedMoney}; fence rows by status ${JSON.stringify(x.fenceRows)}`,
    `faults: ${Object.entries(r.faults)
      .map(([k, n]) => `${k} ${n}`)
      .join(', ')}`,
    `hostile: garbage ${r.hostile.garbageClosed}/${r.hostile.garbageSent} closed, absurd lengths ${r.hostile.absurdClosed}/${r.hostile.absurdSent} closed, idle held max ${r.hostile.idleHeldMax} (opened ${r.hostile.idleOpened}, closed by TC ${r.hostile.idleClosedByServer}), over-limit burst refused ${r.hostile.burstRefused}/${r.hostile.burstAttempts}, flood begins ${r.hostile.floodBegins} refused ${r.hostile.floodRefused}, pipelined unread requests ${r.hostile.pipelined}`,
    `time to quiesce: ${x.quiesceMs === null ? 'did not quiesce' : `${x.quiesceMs} ms`}`,
    `tc0 memory: ${JSON.stringify(r.memory)}`,
    x.violations.length === 0 ? 'invariants: all hold' : `VIOLATIONS (${x.violations.length}):`,
    ...x.violations.map((v) => `  - ${v}`),
  ];
  process.stdout.write(`${lines.join('\n')}\n`);
}

// ---- main

async function main(): Promise<number> {
  const unreachable = await databasesUnreachable(process.env);
  if (unreachable) {
    process.stderr.write(`chaos: databases unreachable: ${unreachable}\n`);
    return 3;
  }
  log(`seed ${seed}, duration ${durationS} s, variants ${variants.join(', ')}, run dir ${runDir}`);
  const rng = new Rng(seed);
  const reports: VariantReport[] = [];
  for (const variant of variants) {
    const bankDbs = {} as Record<BankName, DbParams>;
    for (const b of BANKS) bankDbs[b] = await dbs.createBank(b, variant);
    reports.push(await runVariant(variant, Math.round(durationS / variants.length), bankDbs, rng));
  }
  for (const r of reports) printReport(r);
  if (args.report) fs.writeFileSync(args.report, JSON.stringify({ seed, reports }, null, 2));
  const failed = reports.some((r) => r.result.violations.length > 0);
  log(failed ? `FAILED (seed ${seed})` : `passed (seed ${seed})`);
  if (failed) args.keep = true;
  return failed ? 1 : 0;
}

let code: number;
try {
  code = await main();
} catch (err) {
  process.stderr.write(`chaos: ${(err as Error).stack ?? err}\n`);
  args.keep = true;
  code = 2;
}
await cleanup();
if (args.keep) log(`logs kept in ${runDir}`);
process.exit(code);
