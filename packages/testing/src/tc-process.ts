/**
 * A real `dtx server` (the built CLI, packages/cli/dist/main.js) as a child process, for tests
 * and benchmarks that need a TC in another process: to SIGKILL it mid-transaction, restart it on
 * the same store, run several on one database, or measure it. The caller picks the ports
 * (`freePort`) and the store arguments; this module spawns, waits for the "listening" line,
 * keeps the output for failure messages and stops or kills the process.
 */
import assert from 'node:assert/strict';
import { type ChildProcess, spawn } from 'node:child_process';
import fs from 'node:fs';
import { fileURLToPath } from 'node:url';
import { within } from './waits.js';

/** Path of the `dtx` CLI of this checkout; `npx tsc -b` builds it. */
export const DTX_CLI = fileURLToPath(new URL('../../cli/dist/main.js', import.meta.url));

/**
 * DTX_* environment keys that make a child TC quick to recover: every recovery task each 100 ms
 * and a 1 s branch request (phase two) timeout.
 */
export const FAST_RECOVERY_ENV: Readonly<Record<string, string>> = {
  DTX_SERVER_RECOVERY_COMMITTINGRETRYPERIOD: '100',
  DTX_SERVER_RECOVERY_ROLLBACKINGRETRYPERIOD: '100',
  DTX_SERVER_RECOVERY_ASYNCCOMMITTINGRETRYPERIOD: '100',
  DTX_SERVER_RECOVERY_TIMEOUTRETRYPERIOD: '100',
  DTX_TRANSPORT_RPCTCREQUESTTIMEOUT: '1000',
};

/** How to start a `dtx server` process. */
export interface DtxServerOptions {
  /** `--port`: the TC's RPC port. */
  port: number;
  /** `--metrics-port`: the admin HTTP port (metrics, `/transactions`). */
  metricsPort: number;
  /** `--host`: the bind address. @default '127.0.0.1' */
  host?: string;
  /**
   * Further arguments, after the ones above: the store (`--store-dir <dir>`, or `--store db
   * --db-type … --db-url …`), `--config`, `--worker-id`. @default []
   */
  args?: readonly string[];
  /** Variables added to this process's environment (DTX_* settings). @default {} */
  env?: Readonly<Record<string, string>>;
  /** `--log-level`. @default 'warn' */
  logLevel?: string;
  /** Names the process in failure messages. @default 'dtx server' */
  name?: string;
  /** Bound of the wait for the "listening" line. @default 10000 */
  startTimeoutMs?: number;
  /**
   * 'pipe': stderr is kept in `output()` with stdout; 'inherit': it goes to this process's
   * stderr (benchmarks, where a warning should be seen). @default 'pipe'
   */
  stderr?: 'pipe' | 'inherit';
}

/** A `dtx server` child process that has said it is listening. */
export interface DtxServerProcess {
  child: ChildProcess;
  host: string;
  port: number;
  metricsPort: number;
  /** `<host>:<port>`, for a client's grouplist; also the prefix of the XIDs it begins. */
  address: string;
  /** Its stdout (and stderr, when piped) so far, for failure messages. */
  output(): string;
  /** Resolves with the exit code, or the signal name, once the process has exited. */
  exited: Promise<number | string>;
  /** True until the process exits. */
  readonly alive: boolean;
  /** SIGKILLs the process if it still runs and waits (at most `timeoutMs`, default 5000) until it is gone. */
  kill(timeoutMs?: number): Promise<void>;
  /**
   * SIGTERMs the process if it still runs (a graceful stop), SIGKILLs it if it has not exited
   * after `graceMs` (default 5000), and waits until it is gone.
   */
  stop(graceMs?: number): Promise<void>;
}

/**
 * Node flags the `dtx` executable runs with (its shebang, and `npm start`):
 * - 8 MB semi-spaces instead of 16: the TC's garbage dies young, so a smaller young generation
 *   costs no throughput and keeps ≈15–20 MB of RSS;
 * - an old generation allowed to grow to twice its live size before a full collection, instead
 *   of V8's up to four times: what a slow store keeps alive across two scavenges is promoted
 *   and dies soon after, and letting it pile up cost 35–40 MB of RSS with the MariaDB store.
 */
export const TC_NODE_FLAGS: readonly string[] = ['--max-semi-space-size=8', '--heap-growing-percent=100'];

/**
 * Spawns `node packages/cli/dist/main.js server --host <host> --port <port> --metrics-port
 * <metricsPort> --log-level <logLevel> ...args` and resolves once its output says "listening".
 * Fails, SIGKILLing the process, if it exits first or is not listening within `startTimeoutMs`.
 * The caller stops it (`stop()`, `kill()`), typically in a `t.after` hook.
 */
export async function spawnDtxServer(options: DtxServerOptions): Promise<DtxServerProcess> {
  const { port, metricsPort, host = '127.0.0.1', name = 'dtx server' } = options;
  assert.ok(fs.existsSync(DTX_CLI), `${DTX_CLI} is missing: run "npx tsc -b" first`);
  const child = spawn(
    process.execPath,
    [
      ...TC_NODE_FLAGS,
      DTX_CLI,
      'server',
      '--host',
      host,
      '--port',
      String(port),
      '--metrics-port',
      String(metricsPort),
      '--log-level',
      options.logLevel ?? 'warn',
      ...(options.args ?? []),
    ],
    {
      stdio: ['ignore', 'pipe', options.stderr ?? 'pipe'],
      env: { ...process.env, ...options.env },
    },
  );
  let out = '';
  let listening!: () => void;
  const started = new Promise<void>((resolve) => {
    listening = resolve;
  });
  const collect = (d: Buffer) => {
    out += d;
    if (out.includes('listening')) listening();
  };
  child.stdout?.on('data', collect);
  child.stderr?.on('data', collect);
  let alive = true;
  const exited = new Promise<number | string>((resolve) => {
    child.once('exit', (code, signal) => {
      alive = false;
      resolve(code ?? signal ?? -1);
    });
  });
  const running = () => child.exitCode === null && child.signalCode === null;
  try {
    await within(
      Promise.race([started, exited.then((code) => assert.fail(`${name} exited with ${code}: ${out}`))]),
      `${name} to listen`,
      options.startTimeoutMs ?? 10_000,
    );
  } catch (err) {
    if (running()) child.kill('SIGKILL');
    await exited;
    throw err;
  }
  return {
    child,
    host,
    port,
    metricsPort,
    address: `${host}:${port}`,
    output: () => out,
    exited,
    get alive() {
      return alive;
    },
    async kill(timeoutMs = 5000) {
      if (running()) child.kill('SIGKILL');
      await within(exited, `${name} to exit after SIGKILL`, timeoutMs);
    },
    async stop(graceMs = 5000) {
      if (!running()) return;
      child.kill('SIGTERM');
      const killer = setTimeout(() => child.kill('SIGKILL'), graceMs);
      await exited;
      clearTimeout(killer);
    },
  };
}
