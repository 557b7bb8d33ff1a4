/**
 * Handlers run off the read path: a slow handler holds up neither the other requests of its
 * session, nor heartbeats, nor other sessions; and a flood past handlerQueueHighWaterMark pauses
 * reading the socket (TCP carries the back-pressure to the peer) until the handlers catch up,
 * without losing a request.
 */
import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { FrameType } from '@dtx/protocol';
import {
  begin,
  beginResult,
  connectRaw,
  gate,
  nameOf,
  onlySession,
  sleep,
  socketOf,
  startClient,
  startServer,
  syncFrame,
  until,
  xidOf,
} from './helpers.js';

describe('slow handlers', () => {
  it('a handler that takes 1 s delays no other request, PONG or session', async (t) => {
    const events: string[] = [];
    const { port, address } = await startServer(t, {
      onMessage: async (_s, msg) => {
        const name = nameOf(msg);
        if (name === 'slow') await sleep(1000);
        return beginResult(name);
      },
    });
    // Session A: raw, so its PING goes on the same connection as the slow request.
    const a = await connectRaw(t, port);
    a.onFrame = (f) =>
      events.push(f.frameType === FrameType.HEARTBEAT_RESPONSE ? 'A:pong' : `A:${xidOf(f.body)}`);
    // Session B: a real client.
    const client = startClient(t, [address]);
    await client.waitReady();

    a.write(syncFrame(1, begin('slow')));
    a.write(syncFrame(2, begin('fast-1')));
    a.send({ id: 3, frameType: FrameType.HEARTBEAT_REQUEST, body: null });
    a.write(syncFrame(4, begin('fast-2')));
    const slowB = client.request(begin('slow')).then((r) => events.push(`B:${xidOf(r)}`));
    const fastB = client.request(begin('fast-b')).then((r) => events.push(`B:${xidOf(r)}`));
    await fastB;
    await until(() => events.length >= 4, 'the fast answers');
    assert.deepEqual(events.slice().sort(), ['A:fast-1', 'A:fast-2', 'A:pong', 'B:fast-b']);

    await slowB;
    await until(() => events.length === 6, 'the slow answers');
    assert.deepEqual(events.slice(4).sort(), ['A:slow', 'B:slow']);
  });
});

describe('handler saturation', () => {
  it('pauses reading past handlerQueueHighWaterMark and resumes when handlers finish, losing nothing', async (t) => {
    const release = gate();
    t.after(() => release.open());
    let started = 0;
    const { server, port } = await startServer(
      t,
      {
        onMessage: async (_s, msg) => {
          started++;
          await release.promise;
          return beginResult(nameOf(msg));
        },
      },
      { handlerConcurrency: 2, handlerQueueHighWaterMark: 4 },
    );
    const raw = await connectRaw(t, port);
    const session = await onlySession(server);
    const socket = socketOf(session);
    const flood = (from: number, n: number) =>
      Buffer.concat(Array.from({ length: n }, (_, i) => syncFrame(from + i, begin(`r${from + i}`))));

    raw.write(flood(1, 40));
    await until(() => socket.isPaused(), 'the session to pause reading');
    assert.equal(started, 2, 'no more than handlerConcurrency handlers run');
    assert.ok(session.activeHandlers >= 6, `${session.activeHandlers} handlers running or queued`);

    // More requests while paused wait in the socket, not in memory.
    raw.write(flood(41, 40));
    await sleep(50);
    assert.ok(socket.isPaused());
    assert.equal(started, 2);
    assert.ok(session.activeHandlers <= 40, `${session.activeHandlers} queued: read past the pause`);

    release.open();
    await raw.waitFrames(80, 'all 80 responses');
    assert.deepEqual(
      raw.frames.map((f) => f.id).sort((x, y) => x - y),
      Array.from({ length: 80 }, (_, i) => i + 1),
    );
    for (const f of raw.frames) assert.equal(xidOf(f.body), `r${f.id}`);
    assert.equal(socket.isPaused(), false);
    assert.equal(session.activeHandlers, 0);
    assert.equal(started, 80);
  });
});
