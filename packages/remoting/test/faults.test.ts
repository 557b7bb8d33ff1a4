/**
 * A client and a server with the @dtx/testing FaultProxy between them: a connection cut in the
 * middle of a frame, either way, fails the open futures with ConnectionError and the client
 * reconnects; added delay only slows things down; a reset of every connection is recovered
 * from; a hung link times requests out without costing the session.
 */
import assert from 'node:assert/strict';
import { performance } from 'node:perf_hooks';
import { describe, it, type TestContext } from 'node:test';
import { TimeoutError } from '@dtx/core';
import { FaultProxy } from '../../testing/src/index.js';
import type { Client, Server } from '../src/index.js';
import {
  begin,
  beginResult,
  failsWith,
  gate,
  HOST,
  nameOf,
  readySession,
  since,
  startClient,
  startServer,
  until,
  xidOf,
} from './helpers.js';

/** Server ← proxy ← client. A begin named `hold` waits for `held` to open. */
async function setup(
  t: TestContext,
): Promise<{ server: Server; proxy: FaultProxy; client: Client; held: ReturnType<typeof gate> }> {
  const held = gate();
  t.after(() => held.open());
  const { server, port } = await startServer(t, {
    onMessage: async (_s, msg) => {
      if (nameOf(msg) === 'hold') await held.promise;
      return beginResult(nameOf(msg));
    },
  });
  const proxy = await FaultProxy.start({ target: { host: HOST, port } });
  t.after(() => proxy.close());
  const client = startClient(t, [proxy.address]);
  await client.waitReady();
  return { server, proxy, client, held };
}

describe('fault proxy between client and server', () => {
  for (const direction of ['downstream', 'upstream'] as const) {
    it(`a connection cut mid-frame (${direction}) fails the futures; the client reconnects`, async (t) => {
      const { proxy, client, server } = await setup(t);
      const before = client.readySessions()[0];
      assert.equal(xidOf(await client.request(begin('warm-up'))), 'warm-up');

      // The next frame in `direction` gets through for 10 of its bytes, then the connection ends.
      proxy.cutAfter(10, direction);
      await Promise.all([failsWith(client.request(begin('hold'))), failsWith(client.request(begin('cut')))]);
      proxy.clearFaults();
      assert.equal(before?.isOpen, false);

      await client.waitReady(3000);
      assert.notStrictEqual(client.readySessions()[0], before);
      assert.equal(xidOf(await client.request(begin('again'))), 'again');
      await until(() => server.sessions.size === 1, 'the server to drop the cut session');
    });
  }

  it('added delay slows requests down but they complete', async (t) => {
    const { proxy, client } = await setup(t);
    proxy.setDelay(60);
    const start = performance.now();
    const results = await Promise.all(['a', 'b', 'c'].map((n) => client.request(begin(n))));
    assert.deepEqual(
      results.map((r) => xidOf(r)),
      ['a', 'b', 'c'],
    );
    assert.ok(since(start) >= 2 * 60 - 10, `a round trip through 2 × 60 ms took ${since(start)} ms`);
  });

  it('after resetAll, in-flight futures fail and the client reconnects', async (t) => {
    const { proxy, client } = await setup(t);
    const before = await readySession(client);
    const inFlight = client.request(begin('hold'));
    await proxy.waitForConnections(1);
    await until(
      () => before.pendingRequests === 1 && before.outboundBytes === 0,
      'the request to be written',
    );
    proxy.resetAll();
    const err = await failsWith(inFlight);
    assert.equal((err.cause as NodeJS.ErrnoException | undefined)?.code, 'ECONNRESET');

    await client.waitReady(3000);
    assert.notStrictEqual(client.readySessions()[0], before);
    assert.equal(xidOf(await client.request(begin('after-reset'))), 'after-reset');
  });

  it('a hung link times requests out; once it resumes the same session works and the late answer is dropped', async (t) => {
    const { proxy, client } = await setup(t);
    const session = await readySession(client);
    proxy.hang('downstream');
    await assert.rejects(client.request(begin('late'), { timeoutMs: 150 }), TimeoutError);
    proxy.resume('downstream');
    assert.equal(xidOf(await client.request(begin('resumed'))), 'resumed');
    assert.strictEqual(client.readySessions()[0], session);
    assert.equal(session.pendingRequests, 0);
  });
});
