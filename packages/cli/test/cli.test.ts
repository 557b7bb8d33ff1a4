/**
 * The `dtx` command as a user runs it: a real `dtx server` process, configuration errors that
 * name their key, the operator commands against a stuck transaction, and SIGTERM.
 */
import assert from 'node:assert/strict';
import { execFile } from 'node:child_process';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { describe, test } from 'node:test';
import { promisify } from 'node:util';
import { BranchType, GlobalStatus, ResultCode, TypeCode } from '@dtx/protocol';
import { FakeRm, WirePeer } from '@dtx/testing';
import { freePort, spawnTc, until } from '../../server/test/helpers.js';

const CLI = path.resolve(import.meta.dirname, '../dist/main.js');
const run = promisify(execFile);

async function dtx(
  args: string[],
  env: Record<string, string> = {},
): Promise<{ code: number; stdout: string; stderr: string }> {
  try {
    const r = await run(process.execPath, [CLI, ...args], {
      env: { ...process.env, ...env },
      timeout: 20_000,
    });
    return { code: 0, stdout: r.stdout, stderr: r.stderr };
  } catch (err) {
    const e = err as { code?: number; stdout?: string; stderr?: string };
    return { code: typeof e.code === 'number' ? e.code : -1, stdout: e.stdout ?? '', stderr: e.stderr ?? '' };
  }
}

function tempDir(t: import('node:test').TestContext): string {
  const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'dtx-cli-'));
  t.after(() => fs.rmSync(dir, { recursive: true, force: true }));
  return dir;
}

describe('dtx server configuration errors', () => {
  test('an environment variable with a bad value is refused, naming the key', async () => {
    const r = await dtx(['server', '--no-metrics'], { DTX_SERVER_SERVICEPORT: 'not-a-port' });
    assert.equal(r.code, 2);
    assert.match(r.stderr, /server\.servicePort/);
  });

  test('a YAML file with a bad value is refused, naming the key path', async (t) => {
    const file = path.join(tempDir(t), 'dtx.yaml');
    fs.writeFileSync(file, 'store:\n  mode: floppy\n');
    const r = await dtx(['server', '--no-metrics', '--config', file]);
    assert.equal(r.code, 2);
    assert.match(r.stderr, /store\.mode/);
    assert.match(r.stderr, /floppy/);
  });

  test('db mode without a URL names store.db.url', async () => {
    const r = await dtx(['server', '--no-metrics', '--store', 'db', '--db-type', 'postgresql']);
    assert.equal(r.code, 2);
    assert.match(r.stderr, /store\.db\.url/);
  });

  test("schema prints Seata's tables for both databases", async () => {
    for (const db of ['mysql', 'postgres']) {
      const r = await dtx(['server', 'schema', '--db', db]);
      assert.equal(r.code, 0, r.stderr);
      for (const table of ['global_table', 'branch_table', 'lock_table', 'distributed_lock']) {
        assert.match(r.stdout, new RegExp(`CREATE TABLE IF NOT EXISTS \`?${table}\`?`), `${db}: ${table}`);
      }
      assert.match(r.stdout, /RetryCommitting/);
    }
  });
});

describe('dtx tx against a running TC', () => {
  test('lists, shows and retries a transaction whose commit failed for good', async (t) => {
    const port = await freePort();
    const metricsPort = await freePort();
    const tc = await spawnTc(port, metricsPort, path.join(tempDir(t), 'store'));
    t.after(() => tc.kill());
    const admin = ['--admin', `http://127.0.0.1:${metricsPort}`];

    const empty = await dtx(['tx', 'list', ...admin]);
    assert.equal(empty.code, 0, empty.stderr);
    assert.match(empty.stdout, /no transactions/);

    const rm = await FakeRm.connect({ port, applicationId: 'cli-rm', resourceIds: ['cli-action'] });
    t.after(() => rm.close());
    const tm = await WirePeer.connect(port);
    t.after(() => tm.close());
    assert.ok(await tm.registerTm('cli-tm'));
    const begin = await tm.request({
      typeCode: TypeCode.GLOBAL_BEGIN,
      timeout: 60000,
      transactionName: 'cli-tx',
    });
    assert.equal(begin.typeCode, TypeCode.GLOBAL_BEGIN_RESULT);
    const xid = (begin as { xid: string }).xid;
    await rm.registerBranchOk(xid, {
      branchType: BranchType.TCC,
      resourceId: 'cli-action',
      applicationData: '{"actionContext":{}}',
    });
    rm.respond.commit = 'unretryable';
    const commit = await tm.request({ typeCode: TypeCode.GLOBAL_COMMIT, xid, extraData: null });
    assert.equal((commit as { resultCode: number }).resultCode, ResultCode.Success);
    assert.equal((commit as { globalStatus: number }).globalStatus, GlobalStatus.CommitFailed);

    const listed = await dtx(['tx', 'list', '--status', 'CommitFailed', ...admin]);
    assert.equal(listed.code, 0, listed.stderr);
    assert.match(listed.stdout, new RegExp(`${xid.replaceAll('.', '\\.')}\\s+CommitFailed`));
    const shown = await dtx(['tx', 'show', xid, ...admin]);
    const json = JSON.parse(shown.stdout) as { status: string; branches: Array<{ resourceId: string }> };
    assert.equal(json.status, 'CommitFailed');
    assert.equal(json.branches[0]?.resourceId, 'cli-action');

    // The operator fixes the participant and forces another attempt.
    rm.respond.commit = 'ok';
    const retried = await dtx(['tx', 'retry', xid, ...admin]);
    assert.equal(retried.code, 0, retried.stderr);
    assert.match(retried.stdout, /Committed/);
    assert.ok(rm.calls.filter((c) => c.xid === xid && c.kind === 'commit').length >= 2);
    const after = await dtx(['tx', 'list', ...admin]);
    assert.match(after.stdout, /no transactions/);

    const missing = await dtx(['tx', 'show', '127.0.0.1:1:1', ...admin]);
    assert.equal(missing.code, 2);
    assert.match(missing.stderr, /no transaction/);
  });

  test('SIGTERM drains and exits 0, and the TC restarts on the same store', async (t) => {
    const dir = path.join(tempDir(t), 'store');
    const port = await freePort();
    const tc = await spawnTc(port, await freePort(), dir);
    tc.child.kill('SIGTERM');
    assert.equal(await tc.exited, 0);
    const again = await spawnTc(port, await freePort(), dir);
    t.after(() => again.kill());
    const peer = await WirePeer.connect(port);
    t.after(() => peer.close());
    await until(async () => peer.registerTm('after-restart'), 'registration after restart');
  });
});

describe('the node flags the TC runs with', () => {
  test('the dtx shebang, npm start and spawnDtxServer pass the same flags', async () => {
    const { TC_NODE_FLAGS } = await import('@dtx/testing');
    const shebang = fs.readFileSync(CLI, 'utf8').split('\n')[0] ?? '';
    assert.equal(shebang, `#!/usr/bin/env -S node ${TC_NODE_FLAGS.join(' ')}`);
    const root = JSON.parse(
      fs.readFileSync(path.resolve(import.meta.dirname, '../../../package.json'), 'utf8'),
    );
    assert.match(
      root.scripts.start,
      new RegExp(` node ${TC_NODE_FLAGS.join(' ')} packages/cli/dist/main\\.js server$`),
    );
  });
});
