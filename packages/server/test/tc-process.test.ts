/**
 * The real `dtx server` process (packages/cli/dist/main.js) with the file store: SIGKILL in the
 * middle of concurrent transactions, restart on the same port and store dir, and check that
 * every transaction whose begin was acknowledged is finished the way its acknowledged decision
 * said (commit decided: all branches committed, maybe more than once; never decided: rolled
 * back by the timeout), and that the store ends with nothing unfinished. Then SIGTERM: an
 * in-flight commit is answered before the process exits 0.
 */
import assert from 'node:assert/strict';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { describe, type TestContext, test } from 'node:test';
import { BranchType, GlobalStatus } from '@dtx/protocol';
import { FAST_RECOVERY_ENV, type FakeRm, WirePeer } from '@dtx/testing';
import {
  adminGet,
  connectRm,
  decisionOf,
  freePort,
  HOST,
  sleep,
  spawnTc,
  statusText,
  type TcProcess,
  Tm,
  until,
  within,
} from './helpers.js';

const S = GlobalStatus;

/** Global timeout of every transaction of the load: the bound on how long an undecided one lives. */
const TX_TIMEOUT_MS = 2000;
const WORKERS = 6;

/** One transaction of the load, as far as its TM and RMs were told. */
interface Tx {
  xid: string;
  /** Branches whose registration was acknowledged. */
  branches: Array<{ rm: FakeRm; branchId: bigint }>;
  decision: 'commit' | 'rollback' | 'none';
  /** The decision request was written. */
  sent: boolean;
  /** The GlobalStatus in the decision's response, if it came. */
  acked: number | null;
}

function tempDir(t: TestContext): string {
  const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'dtx-tc-process-'));
  t.after(() => fs.rmSync(dir, { recursive: true, force: true }));
  return dir;
}

/** Spawns the TC and makes sure it is gone after the test. */
async function spawn(
  t: TestContext,
  port: number,
  metricsPort: number,
  storeDir: string,
  env: Readonly<Record<string, string>> = FAST_RECOVERY_ENV,
): Promise<TcProcess> {
  const tc = await spawnTc(port, metricsPort, storeDir, env);
  t.after(() => tc.kill());
  return tc;
}

/** Runs transactions on `WORKERS` workers until `stop()` or until the connections die. */
function runLoad(tm: Tm, rms: FakeRm[], txs: Tx[]): { stop(): void; done: Promise<void> } {
  let stopped = false;
  const worker = async (): Promise<void> => {
    while (!stopped) {
      let tx: Tx;
      try {
        tx = {
          xid: await tm.begin(TX_TIMEOUT_MS, 'crash-load'),
          branches: [],
          decision: 'none',
          sent: false,
          acked: null,
        };
      } catch {
        return; // the TC is gone
      }
      txs.push(tx);
      try {
        for (const rm of rms) {
          const branchId = await rm.registerBranchOk(tx.xid, {
            branchType: BranchType.TCC,
            applicationData: `{"actionContext":{"xid":"${tx.xid}"}}`,
          });
          tx.branches.push({ rm, branchId });
        }
        const dice = Math.random();
        // One in ten is abandoned: only the timeout can end it.
        tx.decision = dice < 0.45 ? 'commit' : dice < 0.9 ? 'rollback' : 'none';
        if (tx.decision === 'none') continue;
        tx.sent = true;
        const r = tx.decision === 'commit' ? await tm.commit(tx.xid) : await tm.rollback(tx.xid);
        tx.acked = r.globalStatus;
      } catch {
        return;
      }
    }
  };
  const done = Promise.all(Array.from({ length: WORKERS }, worker)).then(() => {});
  return {
    stop() {
      stopped = true;
    },
    done,
  };
}

/** Every acknowledged transaction ended as its acknowledged decision says. */
function checkOutcome(tx: Tx, rms: FakeRm[]): void {
  // Every RM, so a branch whose registration answer was lost counts as well.
  const calls = rms.flatMap((rm) => rm.callsFor(tx.xid));
  const committed = calls.some((c) => c.kind === 'commit');
  const rolledBack = calls.some((c) => c.kind === 'rollback');
  const where = `${tx.xid} (decision ${tx.decision}, sent ${tx.sent}, acked ${tx.acked === null ? '-' : statusText(tx.acked)})`;
  assert.ok(!(committed && rolledBack), `${where}: both committed and rolled back`);
  const decided = tx.acked === null ? null : decisionOf(tx.acked);
  assert.notEqual(decided, 'other', `${where}: unexpected answer`);
  const expected = decided ?? (tx.sent ? (committed ? 'commit' : 'rollback') : 'rollback');
  for (const { rm, branchId } of tx.branches) {
    const kinds = rm
      .callsFor(tx.xid)
      .filter((c) => c.branchId === branchId)
      .map((c) => c.kind);
    assert.ok(
      kinds.length > 0 && kinds.every((k) => k === expected),
      `${where}: branch ${branchId} saw [${kinds.join(',')}], expected ${expected}`,
    );
  }
}

describe('dtx server process', () => {
  test('SIGKILL at three moments under load: every acknowledged transaction finishes as decided', async (t) => {
    const dir = tempDir(t);
    const storeDir = path.join(dir, 'sessionStore');
    const port = await freePort();
    const metricsPort = await freePort();
    let tc = await spawn(t, port, metricsPort, storeDir);
    const rmA = await connectRm(t, port, 'crash-rm-a', { resourceIds: ['crash-action-a'] });
    const rmB = await connectRm(t, port, 'crash-rm-b', { resourceIds: ['crash-action-b'] });
    // Answers take a moment, so phase two is often in flight when the kill comes.
    rmA.delayMs = 3;
    rmB.delayMs = 3;
    const windows: Array<[number, number]> = [
      [80, 200],
      [300, 500],
      [600, 900],
    ];
    let inDoubt = 0;
    let total = 0;
    for (const [round, [from, to]] of windows.entries()) {
      const tm = await Tm.connect(t, port, `crash-tm-${round}`);
      const txs: Tx[] = [];
      const load = runLoad(tm, [rmA, rmB], txs);
      await sleep(from + Math.random() * (to - from));
      await tc.kill();
      load.stop();
      await within(load.done, 'the load workers to stop after the kill', 15_000);
      assert.ok(txs.length > 0, `round ${round}: no transaction began`);
      total += txs.length;
      const open = txs.filter((x) => x.acked === null);
      inDoubt += open.length;
      t.diagnostic(
        `round ${round}: ${txs.length} begun, ${txs.length - open.length} decided and acknowledged, ` +
          `${open.filter((x) => x.sent).length} decision in flight, ${open.filter((x) => !x.sent).length} undecided`,
      );

      tc = await spawn(t, port, metricsPort, storeDir);
      await within(Promise.all([rmA.reconnect(), rmB.reconnect()]), 'the RMs to reconnect');
      const checker = await Tm.connect(t, port, `crash-check-${round}`);
      for (const tx of txs) await checker.waitForStatus(tx.xid, S.Finished, TX_TIMEOUT_MS + 8000);
      await until(
        async () => ((await adminGet(metricsPort, '/transactions')) as unknown[]).length === 0,
        `round ${round}: the store to hold no unfinished transaction`,
        8000,
      );
      for (const tx of txs) checkOutcome(tx, [rmA, rmB]);
      tm.close();
      checker.close();
    }
    // The kills must have caught transactions in the middle, or the test proved little.
    assert.ok(inDoubt > 0, `no transaction was in flight at any kill (of ${total})`);

    tc.child.kill('SIGTERM');
    assert.equal(await within(tc.exited, 'exit after SIGTERM', 15_000), 0, tc.output());
  });

  test('SIGTERM: an in-flight commit is answered before the process exits 0', async (t) => {
    const dir = tempDir(t);
    const storeDir = path.join(dir, 'sessionStore');
    const port = await freePort();
    const metricsPort = await freePort();
    const tc = await spawn(t, port, metricsPort, storeDir, {
      ...FAST_RECOVERY_ENV,
      DTX_TRANSPORT_RPCTCREQUESTTIMEOUT: '5000',
    });
    const tm = await Tm.connect(t, port);
    const rm = await connectRm(t, port, 'term-rm', { resourceIds: ['term-action'] });
    const xid = await tm.begin();
    const b1 = await rm.registerBranchOk(xid, { branchType: BranchType.TCC });
    const b2 = await rm.registerBranchOk(xid, { branchType: BranchType.TCC });
    rm.delayMs = 300;
    const commit = tm.commit(xid);
    await rm.waitFor((c) => c.length === 1, 'phase two to start');
    tc.child.kill('SIGTERM');

    const r = await commit;
    assert.equal(r.globalStatus, S.Committed, statusText(r.globalStatus));
    assert.deepEqual(
      rm.commits.map((c) => [c.branchId, c.reply]),
      [
        [b1, 'ok'],
        [b2, 'ok'],
      ],
    );
    assert.equal(await within(tc.exited, 'exit after SIGTERM', 15_000), 0, tc.output());
    await assert.rejects(WirePeer.connect(port, HOST), 'the port is closed after exit');

    // The commit was flushed before exit: a restart finds nothing unfinished.
    const again = await spawn(t, port, metricsPort, storeDir);
    assert.deepEqual(await adminGet(metricsPort, '/transactions'), []);
    const checker = await Tm.connect(t, port);
    assert.equal(await checker.status(xid), S.Finished);
    checker.close();
    again.child.kill('SIGTERM');
    assert.equal(await within(again.exited, 'exit after SIGTERM', 15_000), 0);
  });
});
