/**
 * Merged messages (seata-reference 2.6). Client side: with batchRequests, the requests of one
 * turn leave as one MergedWarpMessage (ONEWAY, type 59, a fresh outer id, msgIds inside) and are
 * resolved from a MergeResultMessage by position or from BatchResultMessages by msgId. Server
 * side: a merged request is answered with one MergeResultMessage under the outer id in order,
 * or, when batchResponses is on and the peer registered 1.5.0 or later, with
 * BatchResultMessages carrying the msgIds and the request's head map.
 */
import assert from 'node:assert/strict';
import { describe, it, type TestContext } from 'node:test';
import { FrameType, type HeadMap, type RpcMessage, TypeCode } from '@dtx/protocol';
import {
  answerLikeTc,
  begin,
  beginResult,
  capturedFrame,
  connectRaw,
  echo,
  nameOf,
  rawServer,
  readySession,
  sleep,
  startClient,
  startServer,
  until,
  xidOf,
} from './helpers.js';

/** The body of a MergedWarpMessage frame, asserting that is what it is. */
function mergeOf(f: RpcMessage) {
  assert.equal(f.body?.typeCode, TypeCode.SEATA_MERGE, `frame ${f.id} is not a merge`);
  return f.body as Extract<RpcMessage['body'], { typeCode: typeof TypeCode.SEATA_MERGE }>;
}

describe('client batchRequests', () => {
  it('sends the requests of one turn as one ONEWAY MergedWarpMessage and resolves them from a MergeResultMessage', async (t) => {
    const peer = await rawServer(t);
    const client = startClient(t, [peer.address], {}, { batchRequests: true });
    const session = await readySession(client);
    const raw = await peer.peer();

    const results = Promise.all(['a', 'b', 'c'].map((n) => session.request(begin(n))));
    const frame = await raw.frame((f) => f.frameType !== FrameType.HEARTBEAT_REQUEST, 'the merged request');
    assert.equal(frame.frameType, FrameType.REQUEST_ONEWAY);
    const merge = mergeOf(frame);
    assert.deepEqual(
      merge.msgs.map((m) => nameOf(m)),
      ['a', 'b', 'c'],
    );
    const ids = merge.msgIds;
    assert.ok(ids && ids.length === 3, 'msgIds present, one per message');
    assert.equal(new Set([...ids, frame.id]).size, 4, 'inner ids and the outer id are all distinct');
    for (const id of [...ids, frame.id]) assert.ok(id > 0 && id <= 0x7fffffff);
    assert.equal(session.pendingRequests, 3);

    // Positional results under the outer id, as ServerOnRequestProcessor answers.
    raw.send({
      id: frame.id,
      frameType: FrameType.RESPONSE,
      body: {
        typeCode: TypeCode.SEATA_MERGE_RESULT,
        msgs: [beginResult('A'), beginResult('B'), beginResult('C')],
      },
    });
    assert.deepEqual(
      (await results).map((r) => xidOf(r)),
      ['A', 'B', 'C'],
    );
    assert.equal(raw.frames.filter((f) => f.frameType !== FrameType.HEARTBEAT_REQUEST).length, 1);
  });

  it('resolves a merged request from BatchResultMessages split over frames, out of order, by msgId', async (t) => {
    const peer = await rawServer(t);
    const client = startClient(t, [peer.address], {}, { batchRequests: true });
    const session = await readySession(client);
    const raw = await peer.peer();

    const results = Promise.all(['a', 'b', 'c'].map((n) => session.request(begin(n))));
    const frame = await raw.frame((f) => f.frameType === FrameType.REQUEST_ONEWAY, 'the merged request');
    const [ia, ib, ic] = mergeOf(frame).msgIds as [number, number, number];
    const batch = (msgs: string[], msgIds: number[]): RpcMessage => ({
      id: frame.id,
      frameType: FrameType.RESPONSE,
      body: { typeCode: TypeCode.BATCH_RESULT_MSG, msgs: msgs.map((x) => beginResult(x)), msgIds },
    });
    raw.send(batch(['C'], [ic]));
    await until(() => session.pendingRequests === 2, 'the first batch result to resolve one request');
    raw.send(batch(['B', 'A'], [ib, ia]));
    assert.deepEqual(
      (await results).map((r) => xidOf(r)),
      ['A', 'B', 'C'],
    );
  });

  it('sends a lone request as a plain SYNC frame and caps a merge at maxBatchMessages', async (t) => {
    const peer = await rawServer(t, (p) => {
      p.onFrame = answerLikeTc;
    });
    const client = startClient(t, [peer.address], {}, { batchRequests: true, maxBatchMessages: 2 });
    const session = await readySession(client);
    const raw = await peer.peer();

    assert.equal(xidOf(await session.request(begin('alone'))), 'alone');
    assert.equal(raw.frames[0]?.frameType, FrameType.REQUEST_SYNC);
    assert.equal(nameOf(raw.frames[0]?.body ?? null), 'alone');

    const names = ['p', 'q', 'r', 's', 't'];
    const results = await Promise.all(names.map((n) => session.request(begin(n))));
    assert.deepEqual(
      results.map((r) => xidOf(r)),
      names,
    );
    const sent = raw.frames
      .slice(1)
      .map((f) =>
        f.body?.typeCode === TypeCode.SEATA_MERGE ? f.body.msgs.map((m) => nameOf(m)) : [nameOf(f.body)],
      );
    assert.deepEqual(sent, [['p', 'q'], ['r', 's'], ['t']]);
  });

  it('round-trips through a real Server, with merge results and with batch results', async (t) => {
    for (const batchResponses of [false, true]) {
      const { address } = await startServer(
        t,
        { onOpen: (s) => s.setPeerVersion('2.2.0'), onMessage: echo('tc-') },
        { batchResponses },
      );
      const client = startClient(t, [address], {}, { batchRequests: true });
      const session = await readySession(client);
      const names = Array.from({ length: 30 }, (_, i) => `m${i}`);
      const results = await Promise.all(names.map((n) => session.request(begin(n))));
      assert.deepEqual(
        results.map((r) => xidOf(r)),
        names.map((n) => `tc-${n}`),
        `batchResponses=${batchResponses}`,
      );
      assert.equal(session.pendingRequests, 0);
    }
  });
});

describe('server answers merged requests', () => {
  it('answers the Java client capture with the Java TC capture, byte for byte', async (t) => {
    // seata-vectors.txt, live transcript: a 2.2.0 RM's BranchRegister inside a MergedWarpMessage
    // (ONEWAY, outer id 3, msgIds [2]) and the 2.2.0 TC's MergeResultMessage under id 3.
    const request = capturedFrame('conn2', 'C->S', 3, 2);
    const expected = capturedFrame('conn2', 'S->C', 3, 1);
    const { port } = await startServer(t, {
      onOpen: (s) => s.setPeerVersion('2.2.0'),
      onMessage: (_s, msg) => {
        assert.equal(msg.typeCode, TypeCode.BRANCH_REGISTER);
        return {
          typeCode: TypeCode.BRANCH_REGISTER_RESULT,
          resultCode: 1,
          msg: null,
          exceptionCode: 'Unknown',
          branchId: 9854250467598338n,
        };
      },
    });
    const raw = await connectRaw(t, port);
    const received: Buffer[] = [];
    raw.socket.on('data', (chunk: Buffer) => received.push(chunk));
    raw.write(request);
    await until(() => Buffer.concat(received).length >= expected.length, 'the merge result');
    assert.equal(Buffer.concat(received).toString('hex'), expected.toString('hex'));
  });

  it('answers a merged request with one MergeResultMessage under the outer id, in request order', async (t) => {
    const delays: Record<string, number> = { a: 80, b: 0, c: 30 };
    const finished: string[] = [];
    const { port } = await startServer(t, {
      onMessage: async (_s, msg) => {
        const name = nameOf(msg);
        await sleep(delays[name] ?? 0);
        finished.push(name);
        return beginResult(name.toUpperCase());
      },
    });
    const raw = await connectRaw(t, port);
    raw.send({
      id: 40,
      frameType: FrameType.REQUEST_ONEWAY,
      body: {
        typeCode: TypeCode.SEATA_MERGE,
        msgs: [begin('a'), begin('b'), begin('c')],
        msgIds: [41, 42, 43],
      },
    });
    const res = await raw.frame((f) => f.frameType === FrameType.RESPONSE, 'the merge result');
    assert.deepEqual(finished, ['b', 'c', 'a'], 'the handlers finished out of order');
    assert.equal(res.id, 40);
    assert.equal(res.body?.typeCode, TypeCode.SEATA_MERGE_RESULT);
    assert.deepEqual(
      res.body?.msgs.map((m) => xidOf(m)),
      ['A', 'B', 'C'],
    );
    await raw.roundTrip(44);
    assert.equal(raw.frames.length, 2, 'one response frame, then the PONG');
  });

  async function batchExchange(
    t: TestContext,
    version: string,
    msgIds: number[] | null,
  ): Promise<RpcMessage[]> {
    const { port } = await startServer(
      t,
      {
        onOpen: (s) => s.setPeerVersion(version),
        onMessage: async (_s, msg) => {
          const name = nameOf(msg);
          if (name === 'slow') await sleep(50);
          return beginResult(name.toUpperCase());
        },
      },
      { batchResponses: true },
    );
    const raw = await connectRaw(t, port);
    const headMap: HeadMap = new Map([['k', 'v']]);
    raw.send({
      id: 50,
      frameType: FrameType.REQUEST_ONEWAY,
      headMap,
      body: { typeCode: TypeCode.SEATA_MERGE, msgs: [begin('slow'), begin('x'), begin('y')], msgIds },
    });
    // Three results in all, however they are framed; then a PONG fences off any stragglers.
    await until(
      () => raw.frames.reduce((n, f) => n + (f.body && 'msgs' in f.body ? f.body.msgs.length : 0), 0) >= 3,
      'three results',
    );
    await raw.roundTrip(99);
    return raw.frames.slice(0, -1);
  }

  it('answers with BatchResultMessages carrying the msgIds when batchResponses is on and the peer is 2.2.0', async (t) => {
    const frames = await batchExchange(t, '2.2.0', [51, 52, 53]);
    const byId = new Map<number, string>();
    for (const f of frames) {
      assert.equal(f.id, 50);
      assert.equal(f.frameType, FrameType.RESPONSE);
      assert.deepEqual(f.headMap, new Map([['k', 'v']]), 'the request head map is echoed');
      assert.equal(f.body?.typeCode, TypeCode.BATCH_RESULT_MSG);
      if (f.body?.typeCode !== TypeCode.BATCH_RESULT_MSG) continue;
      const { msgs, msgIds } = f.body;
      for (const [i, id] of msgIds.entries()) byId.set(id, xidOf(msgs[i] ?? null));
    }
    assert.deepEqual([...byId].sort(), [
      [51, 'SLOW'],
      [52, 'X'],
      [53, 'Y'],
    ]);
  });

  for (const [why, version, msgIds] of [
    ['the peer is 1.4.2', '1.4.2', [51, 52, 53]],
    ['the request has no msgIds (1.4.2 codec)', '2.2.0', null],
  ] as const) {
    it(`falls back to one MergeResultMessage when ${why}`, async (t) => {
      const frames = await batchExchange(t, version, msgIds === null ? null : [...msgIds]);
      assert.equal(frames.length, 1);
      assert.equal(frames[0]?.id, 50);
      assert.equal(frames[0]?.body?.typeCode, TypeCode.SEATA_MERGE_RESULT);
      assert.equal(frames[0]?.headMap, null, 'a merge result carries no head map');
      assert.deepEqual(
        frames[0]?.body?.msgs.map((m) => xidOf(m)),
        ['SLOW', 'X', 'Y'],
      );
    });
  }
});
