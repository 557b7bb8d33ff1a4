/**
 * Hostile or broken peers against an in-process TC: each bad connection is closed, while a
 * registered client on another connection keeps its transaction going and the TC stays up.
 */
import assert from 'node:assert/strict';
import { describe, type TestContext, test } from 'node:test';
import { BranchType, encodeFrame, FrameType, GlobalStatus, TypeCode } from '@dtx/protocol';
import { WirePeer } from '@dtx/testing';
import { connectRm, HOST, startTc, Tm, until, within } from './helpers.js';

const S = GlobalStatus;

/** A v1 frame header with the given length fields, message type and id, then `body`. */
function rawFrame(body: Buffer, opts: { fullLength?: number; frameType?: number; id?: number } = {}): Buffer {
  const head = Buffer.alloc(16);
  head.writeUInt16BE(0xdada, 0);
  head.writeUInt8(1, 2);
  head.writeInt32BE(opts.fullLength ?? 16 + body.length, 3);
  head.writeInt16BE(16, 7);
  head.writeUInt8(opts.frameType ?? FrameType.REQUEST_SYNC, 9);
  head.writeUInt8(1, 10); // codec SEATA
  head.writeUInt8(0, 11); // no compression
  head.writeInt32BE(opts.id ?? 1, 12);
  return Buffer.concat([head, body]);
}

/** Connects a raw peer, optionally registered as TM. */
async function peer(t: TestContext, port: number, register: boolean): Promise<WirePeer> {
  const p = await within(WirePeer.connect(port, HOST), 'connect');
  t.after(() => p.close());
  if (register) assert.equal(await within(p.registerTm('bad-app'), 'RegisterTM'), true);
  return p;
}

const BAD_INPUTS: Array<[string, boolean, () => Buffer]> = [
  ['garbage bytes (an HTTP request)', false, () => Buffer.from('GET / HTTP/1.1\r\nHost: x\r\n\r\n')],
  ['a wrong magic after registering', true, () => Buffer.from('dadbdadbdadbdadbdadbdadbdadbdadb', 'hex')],
  ['an absurd frame length (2 GiB)', false, () => rawFrame(Buffer.alloc(0), { fullLength: 0x7fffffff })],
  [
    'a frame length over the 8 MiB limit',
    true,
    () => rawFrame(Buffer.alloc(0), { fullLength: 8 * 1024 * 1024 + 1 }),
  ],
  ['a frame length shorter than its header', true, () => rawFrame(Buffer.alloc(0), { fullLength: 5 })],
  [
    'an unknown type code',
    true,
    () => rawFrame(Buffer.from([0x03, 0xe7, 0, 0, 0, 0])), // typeCode 999
  ],
  [
    'a truncated GlobalBegin body',
    true,
    () => rawFrame(Buffer.from([0x00, 0x01, 0x00, 0x00])), // typeCode 1, half a timeout
  ],
];

describe('bad input', () => {
  for (const [what, register, bytes] of BAD_INPUTS) {
    test(`${what}: that connection closes, another client keeps working`, async (t) => {
      const { port } = await startTc(t);
      const good = await Tm.connect(t, port, 'good-app');
      const rm = await connectRm(t, port, 'good-rm');
      const xid = await good.begin();
      const b1 = await rm.registerBranchOk(xid, { branchType: BranchType.TCC });

      const bad = await peer(t, port, register);
      bad.writeRaw(bytes());
      await within(bad.closed, `the TC to close the connection that sent ${what}`);

      // The good client's transaction goes on, and new clients are served.
      const b2 = await rm.registerBranchOk(xid, { branchType: BranchType.TCC });
      assert.equal((await good.commit(xid)).globalStatus, S.Committed);
      assert.deepEqual(
        rm.commits.map((c) => c.branchId),
        [b1, b2],
      );
      const fresh = await Tm.connect(t, port, 'fresh-app');
      assert.equal((await fresh.rollback(await fresh.begin())).globalStatus, S.Rollbacked);
    });
  }

  test('a message the TC never accepts (BranchCommit sent to the TC) closes the connection', async (t) => {
    const { port } = await startTc(t);
    const good = await Tm.connect(t, port, 'good-app');
    const bad = await peer(t, port, true);
    bad
      .request({
        typeCode: TypeCode.BRANCH_COMMIT,
        xid: `127.0.0.1:${port}:1`,
        branchId: 1n,
        branchType: BranchType.TCC,
        resourceId: 'r',
        applicationData: null,
      })
      .catch(() => {});
    await within(bad.closed, 'close');
    assert.equal((await good.commit(await good.begin())).globalStatus, S.Committed);
  });

  test('a valid frame followed by garbage in the same write closes the connection; the TC stays up', async (t) => {
    const { port } = await startTc(t);
    const bad = await peer(t, port, true);
    const begin = encodeFrame({
      id: 41,
      frameType: FrameType.REQUEST_SYNC,
      body: { typeCode: TypeCode.GLOBAL_BEGIN, timeout: 60000, transactionName: 'x' },
    });
    // One write: a valid begin, then garbage. The begin is decoded and dispatched before the
    // garbage is seen; its answer may or may not make it out before the close.
    bad.writeRaw(Buffer.concat([begin, Buffer.from('not a frame at all')]));
    await within(bad.closed, 'close');
    const good = await Tm.connect(t, port, 'good-app');
    assert.equal(await good.status(await good.begin()), S.Begin);
  });

  test('many hostile connections at once leave the TC up', async (t) => {
    const { port, server } = await startTc(t);
    const good = await Tm.connect(t, port, 'good-app');
    const xid = await good.begin();
    const bads = await Promise.all(Array.from({ length: 20 }, (_, i) => peer(t, port, i % 2 === 0)));
    bads.forEach((b, i) => {
      b.writeRaw(i % 3 === 0 ? Buffer.alloc(64, 0xff) : rawFrame(Buffer.from([0x7f, 0x7f, 1, 2, 3])));
    });
    await within(Promise.all(bads.map((b) => b.closed)), 'every hostile connection to close');
    assert.equal(await good.status(xid), S.Begin);
    assert.equal((await good.commit(xid)).globalStatus, S.Committed);
    await until(() => server.remoting.sessions.size === 1, 'only the good session to remain');
  });
});
