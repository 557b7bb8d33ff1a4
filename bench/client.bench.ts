/**
 * End-to-end TCC transactions per second through @dtx/client against `dtx server` (a separate
 * process, file store): an initiator DtxClient runs globalTransaction over two participants,
 * each its own DtxClient with one TCC action (begin, 2 branch registers and tries, commit, 2
 * confirms). Two participant variants: no fence (the SDK's own cost), and the fence on
 * PostgreSQL (try and confirm each one local transaction; no business SQL besides the fence
 * row). Beside them, in the same run and against the same TC, the wire-level load generator
 * (runLoad, branches 2) that answers phase two at once: the difference is the SDK's overhead.
 * Concurrency 1, 16, 64; prints tx/s and p50/p99 of one transaction.
 */
import { randomBytes } from 'node:crypto';
import { performance } from 'node:perf_hooks';
import {
  DtxClient,
  defineTccAction,
  pgFenceDatabase,
  setDefaultClient,
  type TccAction,
  TccFence,
} from '@dtx/client';
import { runLoad } from '@dtx/testing';
import pg from 'pg';
import { fmt, Latencies, row } from './stats.ts';
import { startTc } from './tc-process.ts';

const DURATION_MS = Number(process.env.BENCH_MS ?? 3000);
const WARMUP_MS = 700;
const CONCURRENCY = [1, 16, 64];

const PG = {
  host: process.env.PGHOST ?? '127.0.0.1',
  port: Number(process.env.PGPORT ?? 5432),
  user: process.env.PGUSER ?? 'postgres',
  password: process.env.PGPASSWORD ?? '',
  database: process.env.PGDATABASE ?? 'test',
};

interface Result {
  tps: number;
  p50Ms: number;
  p99Ms: number;
  failed: number;
}

/** Runs `tx` from `concurrency` workers for DURATION_MS after a warm-up. */
async function drive(concurrency: number, tx: () => Promise<unknown>): Promise<Result> {
  const latencies = new Latencies();
  let measuring = false;
  let stop = false;
  let done = 0;
  let failed = 0;
  const worker = async () => {
    while (!stop) {
      const t0 = performance.now();
      try {
        await tx();
        if (measuring) {
          latencies.add((performance.now() - t0) * 1000);
          done++;
        }
      } catch {
        if (measuring) failed++;
      }
    }
  };
  const workers = Array.from({ length: concurrency }, worker);
  await new Promise((r) => setTimeout(r, WARMUP_MS));
  measuring = true;
  const started = performance.now();
  await new Promise((r) => setTimeout(r, DURATION_MS));
  measuring = false;
  const seconds = (performance.now() - started) / 1000;
  stop = true;
  await Promise.all(workers);
  const s = latencies.summary();
  return { tps: done / seconds, p50Ms: s.p50 / 1000, p99Ms: s.p99 / 1000, failed };
}

/** Two participants with one action each, on clients of their own. */
async function participants(
  address: string,
  label: string,
  fences: [TccFence<pg.PoolClient>, TccFence<pg.PoolClient>] | null,
): Promise<{ actions: Array<TccAction<{ n: number }, void>>; clients: DtxClient[] }> {
  const clients: DtxClient[] = [];
  const actions: Array<TccAction<{ n: number }, void>> = [];
  for (const i of [0, 1]) {
    const client = new DtxClient({ applicationId: `bench-${label}-p${i}`, grouplist: [address] });
    const fence = fences?.[i];
    actions.push(
      defineTccAction<{ n: number }, void, pg.PoolClient>(client, {
        name: `bench-${label}-action-${i}`,
        ...(fence ? { fence } : {}),
        try: () => {},
        confirm: () => true,
        cancel: () => true,
      }),
    );
    await client.start();
    clients.push(client);
  }
  return { actions, clients };
}

const widths = [28, 12, 10, 10, 10, 10];
const print = (variant: string, c: number, r: Result, base?: Result) =>
  console.log(
    row(
      [
        variant,
        c,
        fmt(r.tps),
        r.p50Ms.toFixed(2),
        r.p99Ms.toFixed(2),
        base ? `${((r.tps / base.tps) * 100).toFixed(0)}%` : '',
      ],
      widths,
    ) + (r.failed ? `  failed=${r.failed}` : ''),
  );

console.log(
  `\n## @dtx/client: 2-participant TCC transactions end to end, dtx server with the file store (${DURATION_MS} ms per row)`,
);
console.log(row(['variant', 'concurrency', 'tx/s', 'p50 ms', 'p99 ms', 'of wire'], widths));

const tc = await startTc();
const closers: Array<() => Promise<unknown>> = [];
try {
  const address = `127.0.0.1:${tc.port}`;
  const initiator = new DtxClient({ applicationId: 'bench-initiator', grouplist: [address] });
  await initiator.start();
  closers.push(() => initiator.close());
  setDefaultClient(initiator);

  const plain = await participants(address, 'plain', null);
  closers.push(() => Promise.all(plain.clients.map((c) => c.close())));

  // The fence variant needs PostgreSQL; without it the row is left out.
  let fenced: Awaited<ReturnType<typeof participants>> | null = null;
  const schema = `dtx_bench_client_${randomBytes(3).toString('hex')}`;
  const admin = new pg.Pool({ ...PG, max: 1, connectionTimeoutMillis: 3000 });
  try {
    await admin.query(`CREATE SCHEMA ${schema}`);
    closers.push(async () => {
      await admin.query(`DROP SCHEMA IF EXISTS ${schema} CASCADE`);
      await admin.end();
    });
    const pools = [0, 1].map(() => new pg.Pool({ ...PG, max: 24, options: `-c search_path=${schema}` }));
    closers.push(() => Promise.all(pools.map((p) => p.end())));
    const fences = pools.map(
      (pool, i) =>
        new TccFence(pgFenceDatabase<pg.PoolClient>(pool), {
          tableName: `tcc_fence_log_p${i}`,
          cleanIntervalMs: 0,
        }),
    ) as [TccFence<pg.PoolClient>, TccFence<pg.PoolClient>];
    for (const f of fences) await f.ensureTable();
    fenced = await participants(address, 'fenced', fences);
    closers.push(() => Promise.all((fenced as NonNullable<typeof fenced>).clients.map((c) => c.close())));
  } catch (err) {
    await admin.end().catch(() => {});
    console.log(
      `(no fenced rows: PostgreSQL at ${PG.host}:${PG.port} is not usable: ${(err as Error).message})`,
    );
  }

  const transaction = (actions: Array<TccAction<{ n: number }, void>>) => () =>
    initiator.globalTransaction(async () => {
      await actions[0]?.({ n: 1 });
      await actions[1]?.({ n: 2 });
    });

  for (const c of CONCURRENCY) {
    const w = await runLoad({
      port: tc.port,
      concurrency: c,
      branches: 2,
      durationMs: DURATION_MS,
      warmupMs: WARMUP_MS,
    });
    const wire: Result = { tps: w.tps, p50Ms: w.p50Ms, p99Ms: w.p99Ms, failed: w.failed };
    print('wire (runLoad, branches 2)', c, wire);
    print('SDK, no fence', c, await drive(c, transaction(plain.actions)), wire);
    if (fenced) print('SDK, fence on PostgreSQL', c, await drive(c, transaction(fenced.actions)), wire);
  }
} finally {
  for (const close of closers.reverse()) await close().catch(() => {});
  await tc.stop();
}
