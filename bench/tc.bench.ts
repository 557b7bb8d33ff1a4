/**
 * Global transactions per second through `dtx server` (a separate process), driven by the
 * wire-level load generator of @dtx/testing: 2-branch TCC transactions at concurrency 1, 16,
 * 64 and 256, and 1/4/8 branches at 64. Stores: file (fsync before replying), and PostgreSQL /
 * MariaDB when BENCH_DB=1 and they are reachable. Prints tx/s, p50/p99 and the TC's peak RSS.
 */
import { runLoad } from '@dtx/testing';
import { fmt, row } from './stats.ts';
import { startTc } from './tc-process.ts';

const DURATION_MS = Number(process.env.BENCH_MS ?? 3000);

async function runStore(label: string, flags: string[]): Promise<void> {
  console.log(`\n## TC, ${label} store (${DURATION_MS} ms per row, load generator in a second process)`);
  const widths = [12, 9, 12, 10, 10, 12];
  console.log(row(['concurrency', 'branches', 'tx/s', 'p50 ms', 'p99 ms', 'TC RSS MB'], widths));
  const tc = await startTc(flags);
  try {
    const cases: Array<[number, number]> = [
      [1, 2],
      [16, 2],
      [64, 2],
      [256, 2],
      [64, 1],
      [64, 4],
      [64, 8],
    ];
    for (const [concurrency, branches] of cases) {
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
      console.log(
        row(
          [
            concurrency,
            branches,
            fmt(r.tps),
            r.p50Ms.toFixed(2),
            r.p99Ms.toFixed(2),
            (peak / 1048576).toFixed(0),
          ],
          widths,
        ) + (r.failed ? `  failed=${r.failed} (${r.firstError})` : ''),
      );
    }
  } finally {
    await tc.stop();
  }
}

await runStore('file', []);
