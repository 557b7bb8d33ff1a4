/**
 * Shared pieces of the TC integration suites: an in-process TcServer with short timers and a
 * file store in a temp dir, a real `dtx server` child process, a TM that speaks the raw
 * protocol (WirePeer), and bounded waits. Not a test file.
 */
import assert from 'node:assert/strict';
import { type ChildProcess, spawn } from 'node:child_process';
import fs from 'node:fs';
import net from 'node:net';
import os from 'node:os';
import path from 'node:path';
import type { TestContext } from 'node:test';
import { setTimeout as sleep } from 'node:timers/promises';
import { fileURLToPath } from 'node:url';
import {
  GlobalStatus,
  ResultCode,
  type SingleMessage,
  type TransactionExceptionCode,
  TypeCode,
} from '@dtx/protocol';
import { FakeRm, type FakeRmOptions, WirePeer } from '@dtx/testing';
import { TcServer, type TcServerOptions } from '../src/index.js';

export { sleep };

/** Every test binds here; nothing leaves loopback. */
export const HOST = '127.0.0.1';
/** Upper bound of any single wait, so a broken TC fails the test instead of hanging it. */
export const WAIT_MS = 5000;
/** The TCC action every fake RM registers unless told otherwise. */
export const TCC_ACTION = 'tcc-demo-action';
/** An AT resource id (a JDBC URL without its query, as DataSourceProxy builds it). */
export const AT_RESOURCE = 'jdbc:mysql://127.0.0.1:3306/demo';

const S = GlobalStatus;

// -------------------------------------------------------------------------------------------
// waiting

/** Polls `condition` until it holds; fails naming `what` after `timeoutMs`. */
export async function until(
  condition: () => boolean | Promise<boolean>,
  what: string,
  timeoutMs = WAIT_MS,
): Promise<void> {
  const deadline = Date.now() + timeoutMs;
  while (!(await condition())) {
    if (Date.now() > deadline) assert.fail(`timed out after ${timeoutMs} ms waiting for ${what}`);
    await sleep(5);
  }
}

/** `promise`, or a failure naming `what` if it has not settled within `timeoutMs`. */
export async function within<T>(promise: Promise<T>, what: string, timeoutMs = WAIT_MS): Promise<T> {
  let timer: NodeJS.Timeout | undefined;
  const timeout = new Promise<never>((_, reject) => {
    timer = setTimeout(
      () => reject(new Error(`timed out after ${timeoutMs} ms waiting for ${what}`)),
      timeoutMs,
    );
  });
  try {
    return await Promise.race([promise, timeout]);
  } finally {
    clearTimeout(timer);
  }
}

/** The GlobalStatus name of a code, for assertion messages. */
export function statusText(code: number): string {
  return Object.entries(S).find(([, v]) => v === code)?.[0] ?? String(code);
}

// -------------------------------------------------------------------------------------------
// an in-process TC

/** A started in-process TC and its temp dir. */
export interface TestTc {
  server: TcServer;
  port: number;
  dir: string;
}

/** Options the suites change, merged onto the test defaults. */
export type TestTcOptions = Partial<Omit<TcServerOptions, 'coordinator' | 'recovery'>> & {
  coordinator?: Partial<TcServerOptions['coordinator']>;
  recovery?: Partial<TcServerOptions['recovery']>;
};

/**
 * Starts a TcServer on an ephemeral port with the file store in a fresh temp dir, recovery
 * tasks every 50 ms and a 300 ms branch request timeout; stopped and removed after the test.
 */
export async function startTc(t: TestContext, options: TestTcOptions = {}): Promise<TestTc> {
  const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'dtx-tc-test-'));
  const server = new TcServer({
    host: HOST,
    port: 0,
    metricsEnabled: false,
    ...options,
    file: { dir: path.join(dir, 'sessionStore'), ...options.file },
    coordinator: { branchRequestTimeoutMs: 300, ...options.coordinator },
    recovery: {
      committingRetryPeriodMs: 50,
      rollbackingRetryPeriodMs: 50,
      asyncCommittingRetryPeriodMs: 50,
      timeoutRetryPeriodMs: 50,
      undoLogDeleteDelayMs: 3_600_000,
      ...options.recovery,
    },
    remoting: { drainTimeoutMs: 1000, ...options.remoting },
  });
  const { port } = await server.start();
  t.after(async () => {
    await within(server.stop(), 'TC stop');
    fs.rmSync(dir, { recursive: true, force: true });
  });
  return { server, port, dir };
}

// -------------------------------------------------------------------------------------------
// peers

/** A TM on a raw connection: every call is bounded by WAIT_MS. */
export class Tm {
  private constructor(readonly peer: WirePeer) {}

  /** Connects and registers as TM `applicationId`; closed after the test. */
  static async connect(t: TestContext | null, port: number, applicationId = 'demo-app'): Promise<Tm> {
    const peer = await within(WirePeer.connect(port, HOST), 'TM connect');
    t?.after(() => peer.close());
    const identified = await within(peer.registerTm(applicationId), 'RegisterTM');
    assert.equal(identified, true, 'TM registration refused');
    return new Tm(peer);
  }

  /** Sends any request and waits for its response. */
  request(body: SingleMessage, what = `type ${body.typeCode}`): Promise<SingleMessage> {
    return within(this.peer.request(body), what);
  }

  /** GlobalBegin; returns the response. */
  async beginResponse(timeout = 60000, name = 'demo-tx') {
    const r = await this.request(
      { typeCode: TypeCode.GLOBAL_BEGIN, timeout, transactionName: name },
      'GlobalBegin',
    );
    assert.equal(r.typeCode, TypeCode.GLOBAL_BEGIN_RESULT);
    return r as Extract<SingleMessage, { typeCode: typeof TypeCode.GLOBAL_BEGIN_RESULT }>;
  }

  /** GlobalBegin that must succeed; returns the XID. */
  async begin(timeout = 60000, name = 'demo-tx'): Promise<string> {
    const r = await this.beginResponse(timeout, name);
    assert.equal(r.resultCode, ResultCode.Success, `begin failed: ${r.msg}`);
    assert.ok(r.xid, 'begin returned no xid');
    return r.xid;
  }

  /** GlobalCommit; returns the response. */
  async commit(xid: string) {
    return this.globalEnd(TypeCode.GLOBAL_COMMIT, xid);
  }

  /** GlobalRollback; returns the response. */
  async rollback(xid: string) {
    return this.globalEnd(TypeCode.GLOBAL_ROLLBACK, xid);
  }

  /** GlobalStatus; returns the status code. */
  async status(xid: string): Promise<number> {
    const r = await this.globalEnd(TypeCode.GLOBAL_STATUS, xid);
    assert.equal(r.resultCode, ResultCode.Success, `status failed: ${r.msg}`);
    return r.globalStatus;
  }

  /** Waits until GlobalStatus answers `expected` (Finished by default). */
  async waitForStatus(xid: string, expected: number = S.Finished, timeoutMs = WAIT_MS): Promise<void> {
    let last = -1;
    await until(
      async () => {
        last = await this.status(xid);
        return last === expected;
      },
      `${xid} to reach ${statusText(expected)} (last ${statusText(last)})`,
      timeoutMs,
    );
  }

  private async globalEnd(
    typeCode: typeof TypeCode.GLOBAL_COMMIT | typeof TypeCode.GLOBAL_ROLLBACK | typeof TypeCode.GLOBAL_STATUS,
    xid: string,
  ) {
    const r = await this.request({ typeCode, xid, extraData: null }, `global request ${typeCode}`);
    assert.ok('globalStatus' in r, `unexpected response type ${r.typeCode}`);
    return r as Extract<SingleMessage, { typeCode: 8 | 10 | 16 }>;
  }

  /** Closes the connection. */
  close(): void {
    this.peer.close();
  }
}

/** A FakeRm for `resourceIds` (default: the TCC demo action); closed after the test. */
export async function connectRm(
  t: TestContext | null,
  port: number,
  applicationId: string,
  options: Partial<FakeRmOptions> = {},
): Promise<FakeRm> {
  const rm = await within(
    FakeRm.connect({ port, host: HOST, applicationId, resourceIds: [TCC_ACTION], ...options }),
    `RM ${applicationId} registration`,
  );
  t?.after(() => rm.close());
  return rm;
}

/** Asserts a failed transaction response with `code` and Seata's `TransactionException[...]` msg. */
export function assertTxFailure(
  r: SingleMessage,
  code: TransactionExceptionCode | TransactionExceptionCode[],
) {
  assert.ok('resultCode' in r && 'exceptionCode' in r, `response type ${r.typeCode} has no result`);
  assert.equal(r.resultCode, ResultCode.Failed, 'expected a Failed result');
  const codes = Array.isArray(code) ? code : [code];
  assert.ok(
    codes.includes(r.exceptionCode),
    `exception code ${r.exceptionCode}, expected ${codes.join('|')}`,
  );
  assert.match(r.msg ?? '', /^TransactionException\[.*\]$/s);
}

// -------------------------------------------------------------------------------------------
// a real `dtx server` process

const CLI = fileURLToPath(new URL('../../cli/dist/main.js', import.meta.url));

/** A free TCP port on HOST (closed again before it is returned). */
export function freePort(): Promise<number> {
  return new Promise((resolve, reject) => {
    const s = net.createServer();
    s.once('error', reject);
    s.listen(0, HOST, () => {
      const p = (s.address() as net.AddressInfo).port;
      s.close(() => resolve(p));
    });
  });
}

/** A `dtx server` child process. */
export interface TcProcess {
  child: ChildProcess;
  port: number;
  metricsPort: number;
  storeDir: string;
  /** stdout and stderr so far, for failure messages. */
  output(): string;
  /** Resolves with the exit code (or signal name) once the process has exited. */
  exited: Promise<number | string>;
}

/**
 * Spawns `node packages/cli/dist/main.js server` on `port` with the file store in `storeDir`
 * and waits for its "listening" line. `env` adds DTX_* settings (recovery periods and such).
 */
export async function spawnTc(
  port: number,
  metricsPort: number,
  storeDir: string,
  env: Record<string, string> = {},
): Promise<TcProcess> {
  assert.ok(fs.existsSync(CLI), `${CLI} is missing: run "npx tsc -b" first`);
  const child = spawn(
    process.execPath,
    [
      CLI,
      'server',
      '--host',
      HOST,
      '--port',
      String(port),
      '--metrics-port',
      String(metricsPort),
      '--store-dir',
      storeDir,
      '--log-level',
      'warn',
    ],
    { stdio: ['ignore', 'pipe', 'pipe'], env: { ...process.env, ...env } },
  );
  let out = '';
  child.stdout?.on('data', (d) => {
    out += d;
  });
  child.stderr?.on('data', (d) => {
    out += d;
  });
  const exited = new Promise<number | string>((resolve) => {
    child.once('exit', (code, signal) => resolve(code ?? signal ?? -1));
  });
  await within(
    Promise.race([
      until(() => out.includes('listening'), 'the TC to listen', WAIT_MS * 2),
      exited.then((code) => assert.fail(`dtx server exited with ${code}: ${out}`)),
    ]),
    'dtx server start',
    WAIT_MS * 2,
  );
  return { child, port, metricsPort, storeDir, output: () => out, exited };
}

/** SIGKILLs a TC process and waits for it to be gone. */
export async function killTc(tc: TcProcess): Promise<void> {
  if (tc.child.exitCode === null && tc.child.signalCode === null) tc.child.kill('SIGKILL');
  await within(tc.exited, 'the killed TC to exit');
}

/** GET on the TC's admin HTTP port; returns the parsed JSON body. */
export async function adminGet(metricsPort: number, route: string): Promise<unknown> {
  const res = await within(fetch(`http://${HOST}:${metricsPort}${route}`), `GET ${route}`);
  assert.equal(res.status, 200, `GET ${route} answered ${res.status}`);
  return res.json();
}
