/**
 * The callback request API (`Session.call`, `Client.call`) on real loopback sockets: responses
 * matched by id, errors (timeout, close, limits, a refused send) delivered to the callback and
 * never from inside call(), a throwing callback reported instead of breaking the read path; and
 * many turns of mixed-size frames through the reused outbound buffers arriving intact.
 */
import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { ConnectionError, LimitError, TimeoutError } from '@dtx/core';
import type { SingleMessage } from '@dtx/protocol';
import type { Client, Session } from '@dtx/remoting';
import {
  begin,
  beginResult,
  echo,
  gate,
  hangingServer,
  nameOf,
  readySession,
  startClient,
  startServer,
  until,
  within,
  xidOf,
} from './helpers.js';

/** Wraps one call() in a promise that settles with [err, response], noting whether it was synchronous. */
function callOnce(
  target: Pick<Client, 'call'> | Pick<Session, 'call'>,
  msg: SingleMessage,
  options: { timeoutMs?: number } = {},
): { done: Promise<[Error | null, SingleMessage | null]>; sync: () => boolean } {
  let returned = false;
  let calledSync = false;
  const done = new Promise<[Error | null, SingleMessage | null]>((resolve) => {
    target.call(
      msg,
      (err, res) => {
        if (!returned) calledSync = true;
        resolve([err, res]);
      },
      options,
    );
  });
  returned = true;
  return { done: within(done, 'the callback'), sync: () => calledSync };
}

describe('call(): requests with a callback', () => {
  it('delivers each response to its own callback, never synchronously', async (t) => {
    const { address } = await startServer(t, { onMessage: echo('tc-') });
    const client = startClient(t, [address]);
    await client.waitReady();

    const names = Array.from({ length: 50 }, (_, i) => `cb-${i}`);
    const calls = names.map((n) => callOnce(client, begin(n)));
    const results = await Promise.all(calls.map((c) => c.done));
    assert.deepEqual(
      results.map(([err, res]) => (err ? `error ${err.message}` : xidOf(res))),
      names.map((n) => `tc-${n}`),
    );
    assert.equal(
      calls.some((c) => c.sync()),
      false,
      'a callback ran inside call()',
    );
  });

  it('times out with TimeoutError, and the session keeps serving', async (t) => {
    const { session } = await hangingServer(t, { hangOn: 'hang', client: { requestTimeoutMs: 5000 } });

    const [err, res] = await callOnce(session, begin('hang'), { timeoutMs: 100 }).done;
    assert.ok(err instanceof TimeoutError, String(err));
    assert.equal(res, null);
    assert.equal(session.pendingRequests, 0);
    const [err2, ok] = await callOnce(session, begin('fine')).done;
    assert.equal(err2, null);
    assert.equal(xidOf(ok), 'fine');
  });

  it('fails open calls with CONNECTION_CLOSED when the session closes, and later calls asynchronously', async (t) => {
    const { server, session, started } = await hangingServer(t);

    const open = [1, 2, 3].map((i) => callOnce(session, begin(`r${i}`)).done);
    await until(() => started() === 3, 'three handlers to start');
    await server.close();
    for (const [err] of await Promise.all(open)) {
      assert.ok(err instanceof ConnectionError, String(err));
      assert.equal(err.code, 'CONNECTION_CLOSED');
    }
    const late = callOnce(session, begin('late'));
    const [err] = await late.done;
    assert.ok(err instanceof ConnectionError && err.code === 'CONNECTION_CLOSED', String(err));
    assert.equal(late.sync(), false, 'the refusal came from inside call()');
  });

  it('refuses past maxPendingRequests with LimitError, through the callback', async (t) => {
    const never = gate();
    t.after(() => never.open());
    const { address } = await startServer(t, {
      onMessage: async (_s, msg) => {
        await never.promise;
        return beginResult(nameOf(msg));
      },
    });
    const client = startClient(t, [address], {}, { maxPendingRequests: 2, requestTimeoutMs: 5000 });
    const session = await readySession(client);
    const held = [callOnce(session, begin('a')), callOnce(session, begin('b'))];
    const over = callOnce(session, begin('c'));
    const [err] = await over.done;
    assert.ok(err instanceof LimitError, String(err));
    assert.equal(over.sync(), false);
    assert.equal(session.pendingRequests, 2);
    never.open();
    for (const c of held) assert.equal((await c.done)[0], null);
  });

  it('reports a callback that throws and goes on delivering the other responses', async (t) => {
    const { address } = await startServer(t, { onMessage: echo() });
    const errors: Error[] = [];
    const client = startClient(t, [address], { onError: (_s, err) => errors.push(err) });
    const session = await readySession(client);

    const boom = new Error('callback bug');
    session.call(begin('thrower'), () => {
      throw boom;
    });
    const after = await Promise.all(['x', 'y'].map((n) => callOnce(session, begin(n)).done));
    assert.deepEqual(
      after.map(([, res]) => xidOf(res)),
      ['x', 'y'],
    );
    await until(() => errors.includes(boom), 'the callback error to be reported');
    assert.equal(session.isOpen, true);
  });
});

describe('outbound buffers across many turns', () => {
  it('keeps thousands of mixed-size frames intact while writes queue behind a peer that stopped reading', async (t) => {
    // The server takes one request at a time and stops reading while they queue, so the
    // client's writes back up in its socket (buffers the socket still holds must not be
    // reused for the next turn) until the gate opens.
    const open = gate();
    t.after(() => open.open());
    const { address } = await startServer(
      t,
      {
        onMessage: async (s, msg, rpc) => {
          await open.promise;
          return echo('r-')(s, msg, rpc);
        },
      },
      { handlerConcurrency: 1, handlerQueueHighWaterMark: 4 },
    );
    const client = startClient(t, [address], {}, { requestTimeoutMs: 20_000 });
    const session = await readySession(client);
    // Names from 1 to 3,000 bytes: turns cross the eager-flush size at varying points, and
    // buffers of different sizes are reused for later turns.
    const nameFor = (i: number): string =>
      `${i}:`.padEnd(1 + ((i * 7919) % 3000), String.fromCharCode(97 + (i % 26)));
    const pending: Array<Promise<SingleMessage>> = [];
    for (let turn = 0; turn < 40; turn++) {
      for (let i = 0; i < 100; i++) pending.push(client.request(begin(nameFor(turn * 100 + i))));
      await new Promise((r) => setImmediate(r));
    }
    await until(() => session.outboundBytes > 0, 'writes to queue in the client');
    open.open();
    const results = await within(Promise.all(pending), 'every response');
    for (const [k, res] of results.entries()) {
      if (xidOf(res) !== `r-${nameFor(k)}`)
        assert.fail(`response ${k} is corrupt: ${xidOf(res).slice(0, 40)}`);
    }
  });
});
