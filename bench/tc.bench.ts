/**
 * Global transactions per second through `dtx server` (a separate process), driven by the
 * wire-level load generator of @dtx/testing: 2-branch TCC transactions at concurrency 1, 16,
 * 64 and 256, and 1/4/8 branches at 64. Stores: file (durable before replying), PostgreSQL and
 * MariaDB (each in a database of its own, created here with `dtx server schema --apply`; set
 * BENCH_DB=0 to skip them). Prints tx/s, p50/p99 and the TC's peak RSS.
 *
 * For a quicker look at one figure: BENCH_STORES=file,postgres,mysql picks stores,
 * BENCH_CASES=64x2,16x2 picks rows (concurrency x branches) and BENCH_REPEAT=5 runs each row five
 * times and adds the medians (the c=16 target: BENCH_STORES=file BENCH_CASES=16x2 BENCH_REPEAT=5).
 *
 * Each file-store run is followed by a run of the floor (floor.ts) at the same concurrency and
 * branches: a protocol-free pair with the same round trips, connections and durable waits. The
 * machine's speed changes from hour to hour on this VM; the floor measured in the same minute
 * shows how much of a figure is the machine's. BENCH_FLOOR=0 leaves it out.
 */
import { execFileSync } from 'node:child_process';
import { runLoad } from '@dtx/testing';
import { runFloor } from './floor.ts';
import { describeStalls, fmt, machineStalls, quantile, row } from './stats.ts';
import { startTc } from './tc-process.ts';

const DURATION_MS = Number(process.env.BENCH_MS ?? 3000);
const STORES = (process.env.BENCH_STORES ?? 'file,postgres,mysql').split(',');
/** Runs per row; above 1, each row is followed by the medians (p99 on this VM moves run to run). */
const REPEAT = Number(process.env.BENCH_REPEAT ?? 1);
if (!Number.isInteger(REPEAT) || REPEAT < 1)
  throw new Error(`BENCH_REPEAT is a count of runs, got ${REPEAT}`);
const cases: Array<[number, number]> = process.env.BENCH_CASES
  ? process.env.BENCH_CASES.split(',').map((c) => {
      const [concurrency, branches] = c.split('x').map(Number);
      if (!Number.isInteger(concurrency) || !Number.isInteger(branches))
        throw new Error(`BENCH_CASES entries look like 64x2, got ${c}`);
      return [concurrency as number, branches as number];
    })
  : [
      [1, 2],
      [16, 2],
      [64, 2],
      [256, 2],
      [64, 1],
      [64, 4],
      [64, 8],
    ];

async function runStore(label: string, flags: string[], floor = false): Promise<void> {
  console.log(`\n## TC, ${label} store (${DURATION_MS} ms per row, load generator in a second process)`);
  const widths = [12, 9, 12, 10, 10, 12, ...(floor ? [12, 14, 12] : [])];
  console.log(
    row(
      [
        'concurrency',
        'branches',
        'tx/s',
        'p50 ms',
        'p99 ms',
        'TC RSS MB',
        ...(floor ? ['floor tx/s', 'floor p99 ms', 'p99/floor'] : []),
      ],
      widths,
    ),
  );
  const tc = await startTc(flags);
  try {
    for (const [concurrency, branches] of cases) {
      const runs: Array<{ tps: number; p50: number; p99: number; floorTps: number; floorP99: number }> = [];
      for (let i = 0; i < REPEAT; i++) {
        let peak = 0;
        const sampler = setInterval(() => {
          peak = Math.max(peak, tc.rss());
        }, 100);
        const r = await runLoad({
          port: tc.port,
          concurrency,
          branches,
          durationMs: DURATION_MS,
          warmupMs: 700,
        });
        clearInterval(sampler);
        const f = floor
          ? await runFloor({ concurrency, branches, durationMs: DURATION_MS, warmupMs: 700 })
          : { tps: Number.NaN, p99Ms: Number.NaN };
        runs.push({ tps: r.tps, p50: r.p50Ms, p99: r.p99Ms, floorTps: f.tps, floorP99: f.p99Ms });
        console.log(
          row(
            [
              concurrency,
              branches,
              fmt(r.tps),
              r.p50Ms.toFixed(2),
              r.p99Ms.toFixed(2),
              (peak / 1048576).toFixed(0),
              ...(floor ? [fmt(f.tps), f.p99Ms.toFixed(2), (r.p99Ms / f.p99Ms).toFixed(2)] : []),
            ],
            widths,
          ) + (r.failed ? `  failed=${r.failed} (${r.firstError})` : ''),
        );
      }
      if (REPEAT > 1) {
        const median = (xs: number[]) => quantile(Float64Array.from(xs).sort(), 0.5);
        console.log(
          `${row(
            [
              concurrency,
              branches,
              fmt(median(runs.map((r) => r.tps))),
              median(runs.map((r) => r.p50)).toFixed(2),
              median(runs.map((r) => r.p99)).toFixed(2),
              '',
              ...(floor
                ? [
                    fmt(median(runs.map((r) => r.floorTps))),
                    median(runs.map((r) => r.floorP99)).toFixed(2),
                    median(runs.map((r) => r.p99 / r.floorP99)).toFixed(2),
                  ]
                : []),
            ],
            widths,
          )}  median of ${REPEAT} runs`,
        );
      }
    }
  } finally {
    await tc.stop();
  }
}

function createDatabase(kind: 'postgres' | 'mysql'): string | null {
  const name = `dtx_bench_${process.pid}`;
  const cli = new URL('../packages/cli/dist/main.js', import.meta.url).pathname;
  try {
    if (kind === 'postgres') {
      const host = process.env.PGHOST ?? '127.0.0.1';
      const port = process.env.PGPORT ?? '5432';
      execFileSync(
        'psql',
        [
          '-h',
          host,
          '-p',
          port,
          '-U',
          'postgres',
          '-d',
          'postgres',
          '-qc',
          `DROP DATABASE IF EXISTS ${name}`,
          '-c',
          `CREATE DATABASE ${name}`,
        ],
        { stdio: 'ignore' },
      );
      const url = `postgres://postgres@${host}:${port}/${name}`;
      execFileSync(
        process.execPath,
        [cli, 'server', 'schema', '--db', 'postgres', '--apply', '--db-url', url],
        { stdio: 'ignore' },
      );
      return url;
    }
    const host = process.env.MYSQL_HOST ?? '127.0.0.1';
    const port = process.env.MYSQL_PORT ?? '3306';
    execFileSync(
      'mysql',
      [
        '-h',
        host,
        '-P',
        port,
        '-u',
        'root',
        '-e',
        `DROP DATABASE IF EXISTS ${name}; CREATE DATABASE ${name}`,
      ],
      { stdio: 'ignore' },
    );
    const url = `mysql://root@${host}:${port}/${name}`;
    execFileSync(process.execPath, [cli, 'server', 'schema', '--db', 'mysql', '--apply', '--db-url', url], {
      stdio: 'ignore',
    });
    return url;
  } catch (err) {
    console.log(`\n## TC, ${kind} store: skipped (${(err as Error).message.split('\n')[0]})`);
    return null;
  }
}

function dropDatabase(kind: 'postgres' | 'mysql'): void {
  const name = `dtx_bench_${process.pid}`;
  try {
    if (kind === 'postgres')
      execFileSync(
        'psql',
        [
          '-h',
          process.env.PGHOST ?? '127.0.0.1',
          '-U',
          'postgres',
          '-d',
          'postgres',
          '-qc',
          `DROP DATABASE IF EXISTS ${name}`,
        ],
        { stdio: 'ignore' },
      );
    else
      execFileSync(
        'mysql',
        ['-h', process.env.MYSQL_HOST ?? '127.0.0.1', '-u', 'root', '-e', `DROP DATABASE IF EXISTS ${name}`],
        { stdio: 'ignore' },
      );
  } catch {
    // best effort
  }
}

// Tail latency on a VM follows how often its vCPUs are taken away; say how often that was.
console.log(`\n${describeStalls(machineStalls())}`);
if (STORES.includes('file')) await runStore('file', [], process.env.BENCH_FLOOR !== '0');
if (process.env.BENCH_DB !== '0') {
  for (const kind of (['postgres', 'mysql'] as const).filter((k) => STORES.includes(k))) {
    const url = createDatabase(kind);
    if (!url) continue;
    try {
      await runStore(kind === 'postgres' ? 'PostgreSQL' : 'MariaDB', [
        '--store',
        'db',
        '--db-type',
        kind === 'postgres' ? 'postgresql' : 'mysql',
        '--db-url',
        url,
      ]);
    } finally {
      dropDatabase(kind);
    }
  }
}
