/**
 * A peer that breaks the protocol loses its session and nothing else: a raw client sends bytes
 * that are not Seata frames, the server closes that socket, reports a ProtocolError with the
 * right code to onError (and on the dtx:remoting:protocol-error channel), and keeps serving a
 * well-behaved client on the same server before and after.
 */
import assert from 'node:assert/strict';
import diagnosticsChannel from 'node:diagnostics_channel';
import { after, before, describe, it, type TestContext } from 'node:test';
import { Channels, TimeoutError } from '@dtx/core';
import { encodeFrame, FrameType, ProtocolError, TypeCode } from '@dtx/protocol';
import { Client, Server, type Session } from '../src/index.js';
import {
  begin,
  beginResult,
  connectRaw,
  echo,
  HOST,
  syncFrame,
  TEST_CLIENT_OPTIONS,
  until,
  xidOf,
} from './helpers.js';

/** A valid SYNC GlobalBegin frame to spoil. */
function goodFrame(): Buffer {
  return syncFrame(1, begin('spoiled'));
}

function patched(edit: (b: Buffer) => void): Buffer {
  const b = goodFrame();
  edit(b);
  return b;
}

const CASES: Array<{ name: string; bytes: Buffer; code: string; details?: Record<string, unknown> }> = [
  {
    name: 'garbage bytes (an HTTP request)',
    bytes: Buffer.from('GET / HTTP/1.1\r\nHost: tc\r\n\r\n'),
    code: 'BAD_MAGIC',
    details: { offset: 0, byte: 0x47 },
  },
  {
    name: 'a frame with a bad magic',
    bytes: patched((b) => {
      b[1] = 0xdb;
    }),
    code: 'BAD_MAGIC',
    details: { offset: 1, byte: 0xdb },
  },
  {
    name: 'a frame of protocol version 2',
    bytes: patched((b) => {
      b[2] = 2;
    }),
    code: 'UNSUPPORTED_VERSION',
  },
  {
    name: 'an absurd length (0x7fffffff)',
    // Only the header: the decoder must refuse on the length field, not wait for 2 GiB.
    bytes: patched((b) => b.writeInt32BE(0x7fffffff, 3)).subarray(0, 16),
    code: 'FRAME_TOO_LARGE',
    details: { fullLength: 0x7fffffff, maxFrameLength: 8 * 1024 * 1024 },
  },
  {
    name: 'an unknown frame type',
    bytes: patched((b) => {
      b[9] = 7;
    }),
    code: 'UNKNOWN_FRAME_TYPE',
  },
  {
    name: 'an unknown type code',
    bytes: patched((b) => b.writeInt16BE(999, 16)),
    code: 'UNKNOWN_TYPE_CODE',
    details: { typeCode: 999 },
  },
];

describe('bad input from a raw client', () => {
  let server: Server;
  let port: number;
  let client: Client;
  let goodSession: Session;
  const errors: Array<{ session: Session; err: Error }> = [];
  const closes: Array<{ session: Session; reason: Error | null }> = [];
  const handledTypes: number[] = [];

  before(async () => {
    server = new Server(
      { host: HOST, port: 0, cronPeriodMs: 50, readIdleMs: 400, drainTimeoutMs: 200 },
      {
        onMessage: (s, msg, rpc) => {
          handledTypes.push(msg.typeCode);
          return echo()(s, msg, rpc);
        },
        onError: (session, err) => errors.push({ session, err }),
        onClose: (session, reason) => closes.push({ session, reason }),
      },
    );
    ({ port } = await server.listen());
    // The well-behaved neighbour: PINGs every 100 ms keep it past the server's read idle.
    client = new Client({ ...TEST_CLIENT_OPTIONS, addresses: [`${HOST}:${port}`], writeIdleMs: 100 });
    client.start();
    await client.waitReady();
    goodSession = client.readySessions()[0] as Session;
  });

  after(async () => {
    await client.close();
    await server.close();
  });

  /** The neighbour still works on the very session it had from the start. */
  async function neighbourWorks(tag: string): Promise<void> {
    assert.equal(xidOf(await client.request(begin(tag))), tag);
    assert.strictEqual(client.readySessions()[0], goodSession);
  }

  /** Sends `bytes` from a fresh raw client; resolves with its server-side session once it closed. */
  async function sendBad(t: TestContext, bytes: Buffer): Promise<Session> {
    const raw = await connectRaw(t, port);
    const remote = `127.0.0.1:${raw.socket.localPort}`;
    raw.write(bytes);
    await raw.waitClose();
    await until(
      () => closes.some((c) => c.session.remoteAddress === remote),
      'the server to close the session',
    );
    return closes.find((c) => c.session.remoteAddress === remote)?.session as Session;
  }

  for (const c of CASES) {
    it(`closes the session on ${c.name} with ProtocolError ${c.code}`, async (t) => {
      await neighbourWorks(`before-${c.code}`);
      const errorsBefore = errors.length;

      const session = await sendBad(t, c.bytes);

      const reported = errors.slice(errorsBefore);
      assert.equal(reported.length, 1, `one error reported, got ${reported.map((r) => r.err.message)}`);
      const { session: where, err } = reported[0] as { session: Session; err: Error };
      assert.strictEqual(where, session, 'reported against the bad session');
      assert.ok(err instanceof ProtocolError, String(err));
      assert.equal(err.code, c.code);
      if (c.details) for (const [k, v] of Object.entries(c.details)) assert.equal(err.details[k], v, k);
      assert.strictEqual(
        closes.find((x) => x.session === session)?.reason,
        err,
        'the close reason is the error',
      );
      assert.equal(server.sessions.has(session), false);

      await neighbourWorks(`after-${c.code}`);
      assert.equal(server.sessions.size, 1);
    });
  }

  it('publishes the ProtocolError on dtx:remoting:protocol-error', async (t) => {
    const published: Array<{ session: Session; error: Error }> = [];
    const listener = (message: unknown) => published.push(message as { session: Session; error: Error });
    diagnosticsChannel.subscribe(Channels.REMOTING_PROTOCOL_ERROR, listener);
    t.after(() => diagnosticsChannel.unsubscribe(Channels.REMOTING_PROTOCOL_ERROR, listener));

    const session = await sendBad(t, Buffer.from('\x00\x01garbage'));
    assert.equal(published.length, 1);
    assert.strictEqual(published[0]?.session, session);
    const error = published[0]?.error;
    assert.ok(error instanceof ProtocolError);
    assert.equal(error.code, 'BAD_MAGIC');
  });

  it('closes a session whose frame stops mid-way by read idle, reporting no ProtocolError', async (t) => {
    await neighbourWorks('before-cut');
    const errorsBefore = errors.length;
    const frame = goodFrame();
    const session = await sendBad(t, frame.subarray(0, 20)); // header and a little body, then silence
    assert.equal(errors.length, errorsBefore, 'no error: the bytes so far were valid');
    const reason = closes.find((x) => x.session === session)?.reason;
    assert.ok(reason instanceof TimeoutError, String(reason));
    await neighbourWorks('after-cut');
  });

  it('reports a MergeResultMessage sent as a request as UNEXPECTED_MESSAGE and hands it to no handler', async (t) => {
    const raw = await connectRaw(t, port);
    const errorsBefore = errors.length;
    raw.write(
      encodeFrame({
        id: 3,
        frameType: FrameType.REQUEST_SYNC,
        body: { typeCode: TypeCode.SEATA_MERGE_RESULT, msgs: [beginResult('x')] },
      }),
    );
    await until(() => errors.length > errorsBefore, 'the error report');
    const err = errors[errorsBefore]?.err;
    assert.ok(err instanceof ProtocolError);
    assert.equal(err.code, 'UNEXPECTED_MESSAGE');
    // The framing is intact, so the session stays usable.
    await raw.roundTrip(4);
    assert.deepEqual(
      raw.frames.map((f) => f.frameType),
      [FrameType.HEARTBEAT_RESPONSE],
    );
    assert.equal(handledTypes.includes(TypeCode.SEATA_MERGE_RESULT), false);
    assert.equal(handledTypes.includes(TypeCode.GLOBAL_BEGIN_RESULT), false);
  });
});
