/**
 * Heartbeats and idle checks (seata-reference 1.7): a client session PINGs after writeIdleMs of
 * silence, the server answers each PING with a PONG echoing its id and compressor, and either
 * side closes a session it has read nothing from for readIdleMs.
 */
import assert from 'node:assert/strict';
import { performance } from 'node:perf_hooks';
import { describe, it } from 'node:test';
import { TimeoutError } from '@dtx/core';
import { Compressor, FrameType } from '@dtx/protocol';
import type { Session } from '../src/index.js';
import {
  begin,
  connectRaw,
  echo,
  rawServer,
  readySession,
  since,
  sleep,
  startClient,
  startServer,
  TIMER_SLACK_MS,
  until,
  xidOf,
} from './helpers.js';

describe('PING', () => {
  it('a client session sends PING after writeIdleMs without writing', async (t) => {
    let acceptedAt = 0;
    const peer = await rawServer(t, () => {
      acceptedAt = performance.now();
    });
    startClient(t, [peer.address], {}, { writeIdleMs: 100, cronPeriodMs: 20 });
    const raw = await peer.peer();

    const first = await raw.frame((f) => f.frameType === FrameType.HEARTBEAT_REQUEST, 'a PING');
    assert.ok(since(acceptedAt) >= 100 - TIMER_SLACK_MS, `PING after ${since(acceptedAt)} ms`);
    assert.equal(first.body, null);
    assert.ok(first.id > 0 && first.id <= 0x7fffffff);
    // With nothing else written, PINGs keep coming, each with a fresh id.
    await until(() => raw.framesOf(FrameType.HEARTBEAT_REQUEST).length >= 3, 'three PINGs');
    const ids = raw.framesOf(FrameType.HEARTBEAT_REQUEST).map((f) => f.id);
    assert.equal(new Set(ids).size, ids.length);
    assert.deepEqual(
      raw.frames.filter((f) => f.frameType !== FrameType.HEARTBEAT_REQUEST),
      [],
    );
  });

  it('sends no PING when heartbeat is off', async (t) => {
    const peer = await rawServer(t);
    const client = startClient(
      t,
      [peer.address],
      {},
      { writeIdleMs: 50, cronPeriodMs: 10, heartbeat: false },
    );
    await readySession(client);
    const raw = await peer.peer();
    await sleep(300);
    assert.deepEqual(raw.frames, []);
  });

  it('the server answers PING with PONG echoing the id and compressor', async (t) => {
    const { port } = await startServer(t, {});
    const raw = await connectRaw(t, port);

    raw.send({ id: 77, frameType: FrameType.HEARTBEAT_REQUEST, body: null });
    const pong = await raw.frame((f) => f.frameType === FrameType.HEARTBEAT_RESPONSE, 'a PONG');
    assert.equal(pong.id, 77);
    assert.equal(pong.body, null);
    assert.equal(pong.compressor, Compressor.NONE);

    raw.send({
      id: 0x7fffffff,
      frameType: FrameType.HEARTBEAT_REQUEST,
      compressor: Compressor.GZIP,
      body: null,
    });
    const pong2 = await raw.frame((f) => f.id === 0x7fffffff, 'the second PONG');
    assert.equal(pong2.frameType, FrameType.HEARTBEAT_RESPONSE);
    assert.equal(pong2.compressor, Compressor.GZIP);
    assert.equal(raw.frames.length, 2);
  });
});

describe('read idle', () => {
  it('the server closes a client that sends nothing for readIdleMs, not one that keeps pinging', async (t) => {
    const closes: Array<{ session: Session; reason: Error | null }> = [];
    const { port } = await startServer(
      t,
      { onClose: (session, reason) => closes.push({ session, reason }) },
      { readIdleMs: 300, cronPeriodMs: 50 },
    );
    const start = performance.now();
    const silent = await connectRaw(t, port);
    const silentPort = silent.socket.localPort;
    const chatty = await connectRaw(t, port);
    let pingId = 1;
    const pinger = setInterval(
      () => chatty.send({ id: pingId++, frameType: FrameType.HEARTBEAT_REQUEST, body: null }),
      50,
    );
    t.after(() => clearInterval(pinger));

    await silent.waitClose();
    assert.ok(since(start) >= 300 - TIMER_SLACK_MS, `closed after ${since(start)} ms`);
    await until(() => closes.length === 1, 'the server to report the close');
    assert.ok(closes[0]?.reason instanceof TimeoutError, String(closes[0]?.reason));
    assert.equal(closes[0]?.session.remoteAddress, `127.0.0.1:${silentPort}`);

    // The one that kept reading-side traffic going outlives several idle periods.
    await sleep(400);
    assert.equal(chatty.closed, false);
    assert.ok(chatty.framesOf(FrameType.HEARTBEAT_RESPONSE).length > 5);
    assert.equal(closes.length, 1);
  });

  it('a client closes a session whose server never answers its PINGs', async (t) => {
    const peer = await rawServer(t); // reads and swallows everything
    const closes: Array<Error | null> = [];
    const start = performance.now();
    const client = startClient(
      t,
      [peer.address],
      { onClose: (_s, reason) => closes.push(reason) },
      { writeIdleMs: 100, readIdleMs: 300, cronPeriodMs: 20, reconnect: false },
    );
    const session = await readySession(client);
    const raw = await peer.peer();

    await raw.waitClose();
    assert.ok(since(start) >= 300 - TIMER_SLACK_MS, `closed after ${since(start)} ms`);
    assert.ok(raw.framesOf(FrameType.HEARTBEAT_REQUEST).length >= 1, 'PINGs came before the close');
    await until(() => closes.length === 1, 'the client to report the close');
    assert.ok(closes[0] instanceof TimeoutError, String(closes[0]));
    assert.equal(session.isOpen, false);
    assert.deepEqual(client.readySessions(), []);
  });

  it('heartbeats keep a quiet client session to a real server open past readIdleMs', async (t) => {
    const closes: string[] = [];
    const { address } = await startServer(
      t,
      { onMessage: echo(), onClose: () => closes.push('server') },
      { readIdleMs: 300, cronPeriodMs: 20 },
    );
    const client = startClient(
      t,
      [address],
      { onClose: () => closes.push('client') },
      { writeIdleMs: 80, readIdleMs: 300, cronPeriodMs: 20 },
    );
    const session = await readySession(client);
    await sleep(1000);
    assert.deepEqual(closes, []);
    assert.ok(session.isOpen);
    assert.strictEqual(client.readySessions()[0], session);
    assert.equal(xidOf(await client.request(begin('still-here'))), 'still-here');
  });
});
