/**
 * Request and response on real loopback sockets: futures resolved by id, ids as Seata's
 * PositiveAtomicCounter makes them, ONEWAY requests left unanswered, merged requests split for
 * the handler, frames of one turn coalesced into one write, and futures failing by timeout or
 * with the connection. Peers that must misbehave are raw sockets speaking real frames.
 */
import assert from 'node:assert/strict';
import { spawn } from 'node:child_process';
import diagnosticsChannel from 'node:diagnostics_channel';
import { once } from 'node:events';
import { performance } from 'node:perf_hooks';
import { describe, it } from 'node:test';
import { Channels, LimitError, TimeoutError } from '@dtx/core';
import { FrameType, type RpcMessage, type SingleMessage, TypeCode } from '@dtx/protocol';
import type { Session } from '../src/index.js';
import {
  answerLikeTc,
  begin,
  beginResult,
  connectRaw,
  echo,
  failsWith,
  hangingServer,
  nameOf,
  rawServer,
  readySession,
  since,
  socketOf,
  startClient,
  startServer,
  syncFrame,
  TIMER_SLACK_MS,
  until,
  within,
  xidOf,
} from './helpers.js';

describe('request and response', () => {
  it('client.request resolves with the response the server handler returns', async (t) => {
    const seen: Array<{ msg: SingleMessage; rpc: RpcMessage }> = [];
    const { address } = await startServer(t, {
      onMessage: (s, msg, rpc) => {
        seen.push({ msg, rpc });
        return echo('tc-')(s, msg, rpc);
      },
    });
    const client = startClient(t, [address]);
    await client.waitReady();

    const res = await client.request(begin('order-1'));
    assert.equal(xidOf(res), 'tc-order-1');
    assert.equal(seen.length, 1);
    assert.deepEqual(seen[0]?.msg, begin('order-1'));
    assert.equal(seen[0]?.rpc.frameType, FrameType.REQUEST_SYNC);

    // Concurrent requests on one session each get their own response back.
    const names = Array.from({ length: 20 }, (_, i) => `tx-${i}`);
    const results = await Promise.all(names.map((n) => client.request(begin(n))));
    assert.deepEqual(
      results.map((r) => xidOf(r)),
      names.map((n) => `tc-${n}`),
    );
  });

  it('request ids are positive, 31-bit and distinct, and wrap from 0x7fffffff to 1', async (t) => {
    const peer = await rawServer(t, (p) => {
      p.onFrame = answerLikeTc;
    });
    const client = startClient(t, [peer.address]);
    const session = await readySession(client);

    await Promise.all(Array.from({ length: 50 }, (_, i) => client.request(begin(`c${i}`))));
    for (let i = 0; i < 10; i++) await client.request(begin(`s${i}`));
    const raw = await peer.peer();
    const ids = raw.framesOf(FrameType.REQUEST_SYNC).map((f) => f.id);
    assert.equal(ids.length, 60);
    for (const id of ids) assert.ok(Number.isInteger(id) && id > 0 && id <= 0x7fffffff, `bad id ${id}`);
    assert.equal(new Set(ids).size, ids.length, 'ids repeat');

    // PositiveAtomicCounter: incrementAndGet() & 0x7fffffff, skipping 0.
    (session as unknown as { counter: number }).counter = 0x7ffffffe;
    const from = raw.frames.length;
    assert.equal(xidOf(await client.request(begin('max'))), 'max');
    assert.equal(xidOf(await client.request(begin('wrapped'))), 'wrapped');
    assert.deepEqual(
      raw.frames
        .slice(from)
        .filter((f) => f.frameType === FrameType.REQUEST_SYNC)
        .map((f) => f.id),
      [0x7fffffff, 1],
    );
  });

  it('ignores responses to ids nothing waits for, including a late one after a timeout', async (t) => {
    const errors: Error[] = [];
    let holdNext = false;
    const held: RpcMessage[] = [];
    const peer = await rawServer(t, (p) => {
      p.onFrame = (rpc, raw) => {
        if (rpc.frameType !== FrameType.REQUEST_SYNC) return;
        if (holdNext) {
          holdNext = false;
          held.push(rpc);
          return;
        }
        // Unknown ids first: a plain response, a merge result, a batch result.
        raw.send({ id: rpc.id + 1000, frameType: FrameType.RESPONSE, body: beginResult('stray') });
        raw.send({
          id: rpc.id + 2000,
          frameType: FrameType.RESPONSE,
          body: { typeCode: TypeCode.SEATA_MERGE_RESULT, msgs: [beginResult('stray-merge')] },
        });
        raw.send({
          id: rpc.id + 3000,
          frameType: FrameType.RESPONSE,
          body: {
            typeCode: TypeCode.BATCH_RESULT_MSG,
            msgs: [beginResult('stray-batch')],
            msgIds: [rpc.id + 3001],
          },
        });
        answerLikeTc(rpc, raw);
      };
    });
    const client = startClient(t, [peer.address], { onError: (_s, e) => errors.push(e) });
    const session = await readySession(client);

    assert.equal(xidOf(await client.request(begin('real'))), 'real');

    holdNext = true;
    await assert.rejects(client.request(begin('late'), { timeoutMs: 100 }), TimeoutError);
    const late = held[0];
    assert.ok(late);
    const raw = await peer.peer();
    raw.send({ id: late.id, frameType: FrameType.RESPONSE, body: beginResult('late') });
    assert.equal(xidOf(await client.request(begin('after'))), 'after');

    assert.deepEqual(errors, []);
    assert.ok(session.isOpen);
    assert.equal(session.pendingRequests, 0);
    assert.strictEqual(client.readySessions()[0], session);
  });

  it('answers a ONEWAY request only when its handler returns a response (Seata answers ONEWAY registrations)', async (t) => {
    const handled: string[] = [];
    const { port } = await startServer(t, {
      onMessage: (s, msg, rpc) => {
        handled.push(`${nameOf(msg)}:${rpc.frameType}`);
        // A ONEWAY begin named 'silent' gets nothing back; every other message is answered.
        if (rpc.frameType === FrameType.REQUEST_ONEWAY && nameOf(msg) === 'silent') return undefined;
        return echo()(s, msg, rpc);
      },
    });
    const raw = await connectRaw(t, port);
    raw.send({ id: 5, frameType: FrameType.REQUEST_ONEWAY, body: begin('silent') });
    raw.write(syncFrame(6, begin('sync')));

    const res = await raw.frame((f) => f.frameType === FrameType.RESPONSE, 'a response');
    // Frames leave in the order they were queued: a response to 5 would have come first.
    assert.equal(res.id, 6);
    assert.equal(xidOf(res.body), 'sync');
    assert.deepEqual(handled, [`silent:${FrameType.REQUEST_ONEWAY}`, `sync:${FrameType.REQUEST_SYNC}`]);

    raw.send({ id: 7, frameType: FrameType.REQUEST_ONEWAY, body: begin('answered') });
    const answered = await raw.frame((f) => f.id === 7, 'the answer to a ONEWAY request');
    assert.equal(answered.frameType, FrameType.RESPONSE);
    assert.equal(xidOf(answered.body), 'answered');
    await raw.roundTrip(8);
    assert.deepEqual(
      raw.frames.map((f) => f.id),
      [6, 7, 8],
    );
  });

  it('hands the handler each message of a MergedWarpMessage on its own', async (t) => {
    const seen: SingleMessage[] = [];
    const { port } = await startServer(t, {
      onMessage: (s, msg, rpc) => {
        seen.push(msg);
        return echo()(s, msg, rpc);
      },
    });
    const raw = await connectRaw(t, port);
    raw.send({
      id: 10,
      frameType: FrameType.REQUEST_ONEWAY,
      body: {
        typeCode: TypeCode.SEATA_MERGE,
        msgs: [begin('a'), begin('b'), begin('c')],
        msgIds: [11, 12, 13],
      },
    });
    await raw.frame((f) => f.id === 10, 'the merge result');
    assert.deepEqual(seen, [begin('a'), begin('b'), begin('c')]);
  });
});

describe('limits and diagnostics', () => {
  it('fails a request past maxPendingRequests with LimitError, and accepts more once answers come', async (t) => {
    const peer = await rawServer(t);
    const client = startClient(t, [peer.address], {}, { maxPendingRequests: 2 });
    const session = await readySession(client);
    const first = session.request(begin('one'));
    const second = session.request(begin('two'));
    const err = await session.request(begin('three')).then(
      () => assert.fail('expected LimitError'),
      (e: unknown) => e,
    );
    assert.ok(err instanceof LimitError, String(err));
    assert.equal(err.limit, 'maxPendingRequests');
    assert.equal(err.value, 2);

    const raw = await peer.peer();
    await raw.waitFrames(2);
    for (const f of raw.frames) answerLikeTc(f, raw);
    assert.deepEqual([xidOf(await first), xidOf(await second)], ['one', 'two']);
    raw.onFrame = answerLikeTc;
    assert.equal(xidOf(await session.request(begin('three'))), 'three');
  });

  it('publishes each request a handler gets on dtx:remoting:request', async (t) => {
    const seen: SingleMessage[] = [];
    let port = 0;
    const listener = (m: unknown) => {
      const { session, message } = m as { session: { localAddress: string }; message: SingleMessage };
      if (session.localAddress.endsWith(`:${port}`)) seen.push(message);
    };
    diagnosticsChannel.subscribe(Channels.REMOTING_REQUEST, listener);
    t.after(() => diagnosticsChannel.unsubscribe(Channels.REMOTING_REQUEST, listener));
    const started = await startServer(t, { onMessage: echo() });
    port = started.port;
    const client = startClient(t, [started.address]);
    await client.waitReady();
    await client.request(begin('observed'));
    assert.deepEqual(seen, [begin('observed')]);
  });
});

describe('write coalescing', () => {
  it('frames queued in one turn leave in one socket write', async (t) => {
    const peer = await rawServer(t);
    const client = startClient(t, [peer.address]);
    const session = await readySession(client);
    const raw = await peer.peer();

    const socket = socketOf(session);
    const write = socket.write;
    let writes = 0;
    socket.write = function (this: typeof socket, ...args: Parameters<typeof write>) {
      writes++;
      return write.apply(this, args);
    } as typeof write;
    t.after(() => {
      socket.write = write;
    });

    const FRAMES = 50;
    const chunksBefore = raw.chunks;
    for (let i = 0; i < FRAMES; i++) session.oneway(begin(`m${i}`));
    assert.equal(writes, 0, 'nothing may be written before the turn ends');
    await raw.waitFrames(FRAMES);
    assert.equal(writes, 1);
    assert.ok(raw.chunks - chunksBefore < FRAMES, `${raw.chunks - chunksBefore} chunks for ${FRAMES} frames`);
    assert.deepEqual(
      raw.frames.map((f) => nameOf(f.body)),
      Array.from({ length: FRAMES }, (_, i) => `m${i}`),
    );
  });

  it('responses finished in one turn reach the peer in fewer chunks than frames', async (t) => {
    const { port } = await startServer(t, { onMessage: echo() });
    const raw = await connectRaw(t, port);
    const FRAMES = 50;
    raw.write(Buffer.concat(Array.from({ length: FRAMES }, (_, i) => syncFrame(i + 1, begin(`r${i}`)))));
    await raw.waitFrames(FRAMES);
    assert.ok(raw.chunks < FRAMES, `${raw.chunks} chunks for ${FRAMES} responses`);
    assert.deepEqual(
      raw.frames.map((f) => f.id).sort((a, b) => a - b),
      Array.from({ length: FRAMES }, (_, i) => i + 1),
    );
  });
});

describe('idle sessions', () => {
  it('hold no outbound buffer before their first frame, and give theirs back after a cron period without writes', async (t) => {
    const { server, address } = await startServer(t, { onMessage: echo('tc-') });
    const client = startClient(t, [address]);
    await client.waitReady();
    await until(() => server.sessions.size === 1, 'the server session');
    const [session] = [...server.sessions] as [Session];
    assert.equal(session.outboundCapacity, 0, 'nothing written yet');

    assert.equal(xidOf(await client.request(begin('a'))), 'tc-a');
    assert.ok(session.outboundCapacity > 0, 'writing took a buffer');
    await until(() => session.outboundCapacity === 0, 'buffers given back once idle');

    // The next frames allocate again and arrive whole.
    const names = Array.from({ length: 50 }, (_, i) => `after-idle-${i}`);
    const results = await Promise.all(names.map((n) => client.request(begin(n))));
    assert.deepEqual(
      results.map((r) => xidOf(r)),
      names.map((n) => `tc-${n}`),
    );
    assert.ok(session.outboundCapacity > 0);
  });
});

describe('timeouts and close', () => {
  it('fails a request whose handler never answers with TimeoutError after requestTimeoutMs', async (t) => {
    const { client, session } = await hangingServer(t, { hangOn: 'hang', client: { requestTimeoutMs: 300 } });

    let start = performance.now();
    const err = await within(
      client.request(begin('hang')).then(
        () => assert.fail('expected a timeout'),
        (e: unknown) => e,
      ),
      'the timeout',
    );
    assert.ok(err instanceof TimeoutError, String(err));
    assert.equal(err.code, 'TIMEOUT');
    assert.ok(since(start) >= 300 - TIMER_SLACK_MS, `timed out after ${since(start)} ms`);
    assert.equal(session.pendingRequests, 0);

    // A per-request timeout overrides the session's.
    start = performance.now();
    await assert.rejects(client.request(begin('hang'), { timeoutMs: 100 }), TimeoutError);
    assert.ok(since(start) >= 100 - TIMER_SLACK_MS);

    // The session survives its timeouts.
    assert.equal(xidOf(await client.request(begin('ok'))), 'ok');
  });

  it('fails every open future with CONNECTION_CLOSED when the server closes', async (t) => {
    const { server, session, client, started } = await hangingServer(t);

    const failures = [1, 2, 3].map((i) => failsWith(client.request(begin(`r${i}`))));
    await until(() => started() === 3, 'three handlers to start');
    await server.close();
    await within(Promise.all(failures), 'the requests to fail');
    assert.equal(session.pendingRequests, 0);
    assert.equal(session.isOpen, false);
    // And a new request on the dead session fails at once, the same way.
    await failsWith(session.request(begin('late')));
  });

  it('fails every open future with CONNECTION_CLOSED when the peer socket is reset', async (t) => {
    const peer = await rawServer(t);
    const client = startClient(t, [peer.address], {}, { reconnect: false, requestTimeoutMs: 5000 });
    const session = await readySession(client);
    const raw = await peer.peer();

    const failures = [1, 2, 3].map((i) => failsWith(client.request(begin(`r${i}`))));
    await raw.waitFrames(3);
    raw.socket.resetAndDestroy();
    for (const err of await within(Promise.all(failures), 'the requests to fail')) {
      assert.equal((err.cause as NodeJS.ErrnoException | undefined)?.code, 'ECONNRESET');
    }
    assert.equal(session.isOpen, false);
  });

  it('fails every open future with CONNECTION_CLOSED when the peer process dies', async (t) => {
    // A peer in another process that reads requests and never answers.
    const child = spawn(
      process.execPath,
      [
        '-e',
        `const s = require('node:net').createServer((c) => c.on('data', () => {}));
         s.listen(0, '127.0.0.1', () => console.log(s.address().port));`,
      ],
      { stdio: ['ignore', 'pipe', 'inherit'] },
    );
    t.after(() => child.kill('SIGKILL'));
    const [line] = (await within(once(child.stdout, 'data'), 'the child to listen')) as [Buffer];
    const port = Number(line.toString().trim());
    assert.ok(port > 0);

    const client = startClient(t, [`127.0.0.1:${port}`], {}, { reconnect: false, requestTimeoutMs: 5000 });
    const session = await readySession(client);
    const failures = [1, 2, 3].map((i) => failsWith(client.request(begin(`r${i}`))));
    await until(
      () => session.pendingRequests === 3 && session.outboundBytes === 0,
      'the requests to be written',
    );
    child.kill('SIGKILL');
    await within(Promise.all(failures), 'the requests to fail');
    assert.equal(session.isOpen, false);
  });
});
