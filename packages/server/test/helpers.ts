/**
 * Shared pieces of the TC integration suites: an in-process TcServer with short timers and a
 * file store in a temp dir, a real `dtx server` child process, a TM that speaks the raw
 * protocol (WirePeer), and bounded waits. Not a test file.
 */
import assert from 'node:assert/strict';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import type { TestContext } from 'node:test';
import { parseXid, splitId } from '@dtx/core';
import {
  GlobalStatus,
  ResultCode,
  type SingleMessage,
  type TransactionExceptionCode,
  TypeCode,
} from '@dtx/protocol';
import {
  boundedWaits,
  type DtxServerProcess,
  FakeRm,
  type FakeRmOptions,
  spawnDtxServer,
  WirePeer,
} from '@dtx/testing';
import { TcServer, type TcServerOptions } from '../src/index.js';

export { freePort, sleep } from '@dtx/testing';

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

/** `until` and `within` of @dtx/testing, bounded by WAIT_MS unless told otherwise (polling every 5 ms). */
export const { until, within } = boundedWaits(WAIT_MS, 5);

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

/** The worker id of the IdWorker that drew `xid`'s transaction id. */
export function workerIdOf(xid: string): number {
  return splitId(parseXid(xid).transactionId).workerId;
}

/** Begins a transaction on the TC at `port` (a TM of its own) and returns its worker id. */
export async function workerOfNextBegin(t: TestContext, port: number): Promise<number> {
  return workerIdOf(await (await Tm.connect(t, port)).begin());
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

/** A `dtx server` child process with the file store in `storeDir`. */
export interface TcProcess extends DtxServerProcess {
  storeDir: string;
}

/**
 * Spawns `node packages/cli/dist/main.js server` on `port` with the file store in `storeDir`
 * and waits (up to 2 × WAIT_MS) for its "listening" line. `env` adds DTX_* settings (recovery
 * periods and such). The caller kills it (`tc.kill()`: SIGKILL, then waits until it is gone).
 */
export async function spawnTc(
  port: number,
  metricsPort: number,
  storeDir: string,
  env: Readonly<Record<string, string>> = {},
): Promise<TcProcess> {
  const tc = await spawnDtxServer({
    host: HOST,
    port,
    metricsPort,
    args: ['--store-dir', storeDir],
    env,
    startTimeoutMs: WAIT_MS * 2,
  });
  return Object.assign(tc, { storeDir });
}

/** GET on the TC's admin HTTP port; returns the parsed JSON body. */
export async function adminGet(metricsPort: number, route: string): Promise<unknown> {
  const res = await within(fetch(`http://${HOST}:${metricsPort}${route}`), `GET ${route}`);
  assert.equal(res.status, 200, `GET ${route} answered ${res.status}`);
  return res.json();
}

/** GlobalStatus answers to a commit that mean the commit was decided (possibly still running). */
export const COMMIT_DECIDED: number[] = [S.Committed, S.CommitRetrying, S.Committing, S.AsyncCommitting];
/** GlobalStatus answers that mean a rollback was decided (by the TM or the timeout check). */
export const ROLLBACK_DECIDED: number[] = [
  S.Rollbacked,
  S.RollbackRetrying,
  S.Rollbacking,
  S.TimeoutRollbacking,
  S.TimeoutRollbackRetrying,
  S.TimeoutRollbacked,
];

/** Which decision a GlobalStatus answer reports: 'other' for a status that is neither. */
export function decisionOf(status: number): 'commit' | 'rollback' | 'other' {
  if (COMMIT_DECIDED.includes(status)) return 'commit';
  if (ROLLBACK_DECIDED.includes(status)) return 'rollback';
  return 'other';
}
