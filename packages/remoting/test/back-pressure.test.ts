/**
 * Outbound back-pressure against a peer that stops reading (a raw socket that pauses): sends
 * past outboundMaxBytes fail with BackPressureError instead of growing memory, the session stops
 * reading while its outbound queue is over the high-water mark, and request() waits for the
 * queue to drain before it sends.
 */
import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { setImmediate as nextTurn } from 'node:timers/promises';
import { BackPressureError } from '@dtx/core';
import { BranchType, FrameType, type SingleMessage, TypeCode } from '@dtx/protocol';
import type { Session } from '../src/index.js';
import {
  answerLikeTc,
  begin,
  rawServer,
  readySession,
  sleep,
  socketOf,
  startClient,
  until,
  xidOf,
} from './helpers.js';

/** A ONEWAY-able message of about `bytes` bytes (BranchRegister's applicationData has an int32 length). */
function bulky(bytes: number, tag: string): SingleMessage {
  return {
    typeCode: TypeCode.BRANCH_REGISTER,
    xid: tag,
    branchType: BranchType.AT,
    resourceId: 'jdbc:mysql://db/orders',
    lockKey: null,
    applicationData: 'x'.repeat(bytes),
  };
}

/** Stops giving up after this many bytes: the kernel's loopback buffers are a few MiB at most. */
const SEND_LIMIT = 64 * 1024 * 1024;

/**
 * Sends 32 KiB ONEWAY frames, one per turn so each is flushed to the socket, until a send
 * throws. Returns the error and how many frames went.
 */
async function fillUntilRefused(session: Session): Promise<{ error: unknown; sent: number }> {
  let sent = 0;
  for (let bytes = 0; bytes < SEND_LIMIT; bytes += 32 * 1024) {
    try {
      session.oneway(bulky(32 * 1024, `f${sent}`));
    } catch (error) {
      return { error, sent };
    }
    sent++;
    await nextTurn();
  }
  assert.fail(`${SEND_LIMIT} bytes were accepted without back-pressure`);
}

describe('back-pressure', () => {
  it('fails sends past outboundMaxBytes with BackPressureError while the peer does not read', async (t) => {
    const peer = await rawServer(t, (p) => p.socket.pause());
    const client = startClient(
      t,
      [peer.address],
      {},
      { outboundHighWaterMark: 64 * 1024, outboundMaxBytes: 256 * 1024, reconnect: false },
    );
    const session = await readySession(client);

    const { error, sent } = await fillUntilRefused(session);
    assert.ok(error instanceof BackPressureError, String(error));
    assert.equal(error.code, 'BACK_PRESSURE');
    assert.ok(session.outboundBytes <= 256 * 1024, `${session.outboundBytes} bytes queued`);
    assert.ok(session.isOpen, 'back-pressure does not cost the session');
    // The session stopped reading while its writes were stuck.
    assert.ok(socketOf(session).isPaused());
    // A request cannot get out either; it fails with the same kind of error once it gives up.
    await assert.rejects(session.request(begin('stuck'), { timeoutMs: 100 }), BackPressureError);

    // The peer reads again: everything accepted arrives, intact and in order, and the session
    // resumes.
    const raw = await peer.peer();
    raw.socket.resume();
    await raw.waitFrames(sent, `all ${sent} accepted frames`);
    assert.equal(raw.decodeError, null);
    assert.deepEqual(
      raw.frames.map((f) => (f.body?.typeCode === TypeCode.BRANCH_REGISTER ? f.body.xid : null)),
      Array.from({ length: sent }, (_, i) => `f${i}`),
    );
    await until(() => !socketOf(session).isPaused(), 'the session to read again');
    assert.equal(session.outboundBytes, 0);
  });

  it('request() waits for the outbound queue to drain below outboundHighWaterMark, then sends', async (t) => {
    const peer = await rawServer(t, (p) => {
      p.socket.pause();
      p.onFrame = answerLikeTc;
    });
    const client = startClient(t, [peer.address], {}, { outboundHighWaterMark: 64 * 1024, reconnect: false });
    const session = await readySession(client);

    let sent = 0;
    while (!(session.outboundBytes >= 64 * 1024 && socketOf(session).writableNeedDrain)) {
      assert.ok(sent < SEND_LIMIT / (32 * 1024), 'the outbound queue never filled');
      session.oneway(bulky(32 * 1024, `f${sent++}`));
      await nextTurn();
    }
    const response = session.request(begin('after-drain'), { timeoutMs: 3000 });
    await sleep(50);
    assert.equal(session.pendingRequests, 0, 'the request waits before it is sent');

    const raw = await peer.peer();
    raw.socket.resume();
    assert.equal(xidOf(await response), 'after-drain');
    const syncAt = raw.frames.findIndex((f) => f.frameType === FrameType.REQUEST_SYNC);
    assert.equal(syncAt, sent, 'the request left after every frame queued before it');
  });

  it('a request made in the same turn as a burst over outboundHighWaterMark is sent once the burst is written', async (t) => {
    // The burst (10 KiB) is over the high-water mark (1 KiB) but small enough for the kernel to
    // take at once, so the socket never reports 'drain'.
    const peer = await rawServer(t, (p) => {
      p.onFrame = answerLikeTc;
    });
    const client = startClient(t, [peer.address], {}, { outboundHighWaterMark: 1024, reconnect: false });
    const session = await readySession(client);

    for (let i = 0; i < 10; i++) session.oneway(bulky(1000, `b${i}`));
    assert.ok(session.outboundBytes >= 1024);
    const response = await session.request(begin('after-burst'), { timeoutMs: 1000 });
    assert.equal(xidOf(response), 'after-burst');
  });
});
