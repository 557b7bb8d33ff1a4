/**
 * Starts `dtx server` (the real CLI) as a child process on a free port, for the benchmarks and
 * integration tests, and samples its RSS.
 */
import { type ChildProcess, spawn } from 'node:child_process';
import fs from 'node:fs';
import net from 'node:net';
import os from 'node:os';
import path from 'node:path';

/** A running TC child process. */
export interface TcProcess {
  child: ChildProcess;
  port: number;
  metricsPort: number;
  dir: string;
  /** Resident set size of the TC in bytes (from /proc). */
  rss(): number;
  stop(): Promise<void>;
}

async function freePort(): Promise<number> {
  return new Promise((resolve) => {
    const s = net.createServer();
    s.listen(0, '127.0.0.1', () => {
      const p = (s.address() as net.AddressInfo).port;
      s.close(() => resolve(p));
    });
  });
}

/** Launches the CLI's `dtx server` with extra flags. */
export async function startTc(extra: string[] = [], env: Record<string, string> = {}): Promise<TcProcess> {
  const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'dtx-bench-'));
  const port = await freePort();
  const metricsPort = await freePort();
  const main = new URL('../packages/cli/dist/main.js', import.meta.url).pathname;
  const child = spawn(
    process.execPath,
    [
      main,
      'server',
      '--port',
      String(port),
      '--metrics-port',
      String(metricsPort),
      '--store-dir',
      path.join(dir, 'sessionStore'),
      '--log-level',
      'warn',
      ...extra,
    ],
    { stdio: ['ignore', 'pipe', 'inherit'], env: { ...process.env, ...env } },
  );
  await new Promise<void>((resolve, reject) => {
    let out = '';
    child.stdout?.on('data', (d) => {
      out += d;
      if (out.includes('listening')) resolve();
    });
    child.once('exit', (code) => reject(new Error(`dtx server exited with ${code}: ${out}`)));
  });
  return {
    child,
    port,
    metricsPort,
    dir,
    rss() {
      try {
        const status = fs.readFileSync(`/proc/${child.pid}/status`, 'utf8');
        const m = /VmRSS:\s+(\d+) kB/.exec(status);
        return m ? Number(m[1]) * 1024 : 0;
      } catch {
        return 0;
      }
    },
    async stop() {
      if (child.exitCode === null) {
        const exited = new Promise((r) => child.once('exit', r));
        child.kill('SIGTERM');
        await exited;
      }
      fs.rmSync(dir, { recursive: true, force: true });
    },
  };
}
