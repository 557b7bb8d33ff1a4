/**
 * Starts `dtx server` (the real CLI, through @dtx/testing's spawnDtxServer) as a child process
 * on a free port with the file store in a temp dir, for the benchmarks, and samples its RSS.
 */
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { type DtxServerProcess, freePort, spawnDtxServer } from '@dtx/testing';

/** A running TC child process. */
export interface TcProcess extends Omit<DtxServerProcess, 'stop'> {
  /** The temp dir of its file store. */
  dir: string;
  /** Resident set size of the TC in bytes (from /proc). */
  rss(): number;
  /** SIGTERMs the TC (SIGKILL after 30 s), waits until it is gone and removes its temp dir. */
  stop(): Promise<void>;
}

/** Launches the CLI's `dtx server` with extra flags; its stderr goes to this process's. */
export async function startTc(extra: string[] = [], env: Record<string, string> = {}): Promise<TcProcess> {
  const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'dtx-bench-'));
  const tc = await spawnDtxServer({
    port: await freePort(),
    metricsPort: await freePort(),
    args: ['--store-dir', path.join(dir, 'sessionStore'), ...extra],
    env,
    stderr: 'inherit',
    startTimeoutMs: 60_000,
  });
  const stop = tc.stop;
  return Object.assign(tc, {
    dir,
    rss() {
      try {
        const status = fs.readFileSync(`/proc/${tc.child.pid}/status`, 'utf8');
        const m = /VmRSS:\s+(\d+) kB/.exec(status);
        return m ? Number(m[1]) * 1024 : 0;
      } catch {
        return 0;
      }
    },
    async stop() {
      await stop(30_000);
      fs.rmSync(dir, { recursive: true, force: true });
    },
  });
}
