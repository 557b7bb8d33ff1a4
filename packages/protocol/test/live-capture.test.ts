/**
 * Replays the live capture between a real Java TM/RM client and a real Java TC
 * (../shared/reference/seata-vectors.txt): each direction of each connection as one byte stream,
 * cut into chunks of several sizes.
 */
import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { encodeFrame, type RpcMessage, TypeCode } from '../src/index.js';
import { decodeChunks, fixedChunks } from './helpers.js';
import { loadVectors, type TranscriptLine } from './vectors.js';

const { transcript } = loadVectors();

/** The type code the transcript's body text names, read from the Java class name. */
const CLASS_TYPE_CODES: Record<string, number> = {
  RegisterTMRequest: TypeCode.REG_CLT,
  RegisterTMResponse: TypeCode.REG_CLT_RESULT,
  RegisterRMRequest: TypeCode.REG_RM,
  RegisterRMResponse: TypeCode.REG_RM_RESULT,
  GlobalBeginRequest: TypeCode.GLOBAL_BEGIN,
  GlobalBeginResponse: TypeCode.GLOBAL_BEGIN_RESULT,
  GlobalCommitRequest: TypeCode.GLOBAL_COMMIT,
  GlobalCommitResponse: TypeCode.GLOBAL_COMMIT_RESULT,
  GlobalRollbackRequest: TypeCode.GLOBAL_ROLLBACK,
  GlobalRollbackResponse: TypeCode.GLOBAL_ROLLBACK_RESULT,
  GlobalStatusRequest: TypeCode.GLOBAL_STATUS,
  GlobalStatusResponse: TypeCode.GLOBAL_STATUS_RESULT,
  BranchCommitRequest: TypeCode.BRANCH_COMMIT,
  BranchCommitResponse: TypeCode.BRANCH_COMMIT_RESULT,
  BranchRollbackRequest: TypeCode.BRANCH_ROLLBACK,
  BranchRollbackResponse: TypeCode.BRANCH_ROLLBACK_RESULT,
  BranchRegisterRequest: TypeCode.BRANCH_REGISTER,
  BranchRegisterResponse: TypeCode.BRANCH_REGISTER_RESULT,
};

/** `SeataMergeMessage X{...}` / `MergeResultMessage X{...}` / `X{...}` -> [outer, inner?] type codes. */
function typeCodesOf(body: string): { outer: number; inner: number[] } {
  const merge = /^(SeataMergeMessage|MergeResultMessage) (\w+)\{/.exec(body);
  if (merge) {
    const outer = merge[1] === 'SeataMergeMessage' ? TypeCode.SEATA_MERGE : TypeCode.SEATA_MERGE_RESULT;
    const inner = CLASS_TYPE_CODES[merge[2] as string];
    assert.ok(inner !== undefined, `unknown class in ${body.slice(0, 60)}`);
    return { outer, inner: [inner] };
  }
  const single = /^(\w+)\{/.exec(body);
  const code = single ? CLASS_TYPE_CODES[single[1] as string] : undefined;
  assert.ok(code !== undefined, `unknown class in ${body.slice(0, 60)}`);
  return { outer: code, inner: [] };
}

interface Stream {
  name: string;
  lines: TranscriptLine[];
  bytes: Buffer;
}

function streams(): Stream[] {
  const byKey = new Map<string, TranscriptLine[]>();
  for (const line of transcript) {
    const key = `${line.conn} ${line.direction}`;
    byKey.set(key, [...(byKey.get(key) ?? []), line]);
  }
  return [...byKey].map(([name, lines]) => ({
    name,
    lines,
    bytes: Buffer.concat(lines.map((l) => l.bytes)),
  }));
}

describe('live capture replay', () => {
  const all = streams();

  it('covers four connections in both directions', () => {
    assert.deepStrictEqual(all.map((s) => s.name).sort(), [
      'conn1 C->S',
      'conn1 S->C',
      'conn2 C->S',
      'conn2 S->C',
      'conn3 C->S',
      'conn3 S->C',
      'conn4 C->S',
      'conn4 S->C',
    ]);
    assert.equal(
      all.reduce((n, s) => n + s.lines.length, 0),
      transcript.length,
    );
  });

  for (const stream of all) {
    for (const size of [1, 7, 64, stream.bytes.length]) {
      it(`${stream.name} in ${size === stream.bytes.length ? 'one chunk' : `${size}-byte chunks`}`, () => {
        const frames = decodeChunks(fixedChunks(stream.bytes, size));
        assert.equal(frames.length, stream.lines.length, 'one frame per transcript line');
        frames.forEach((frame: RpcMessage, i) => {
          const line = stream.lines[i] as TranscriptLine;
          const where = `${stream.name} frame ${i} (transcript #${line.index})`;
          assert.equal(frame.id, line.id, `${where}: id`);
          assert.equal(frame.frameType, line.type, `${where}: messageType`);
          assert.equal(frame.codec, 1, `${where}: codec`);
          assert.equal(frame.compressor, 0, `${where}: compressor`);
          assert.equal(frame.headMap, null, `${where}: head map`);
          const { outer, inner } = typeCodesOf(line.body);
          assert.ok(frame.body, `${where}: body`);
          assert.equal(frame.body.typeCode, outer, `${where}: type code`);
          if (inner.length > 0) {
            assert.ok('msgs' in frame.body, `${where}: batch`);
            assert.deepStrictEqual(
              frame.body.msgs.map((m) => m.typeCode),
              inner,
              `${where}: inner type codes`,
            );
          }
          // Re-encoding what we decoded must give back the Java bytes.
          assert.equal(encodeFrame(frame).toString('hex'), line.hex, `${where}: re-encoded bytes`);
        });
      });
    }
  }

  it('pairs every request with a response of the same id on the reverse stream', () => {
    for (const stream of all) {
      const [conn, dir] = stream.name.split(' ') as [string, string];
      const reverse = all.find((s) => s.name === `${conn} ${dir === 'C->S' ? 'S->C' : 'C->S'}`);
      assert.ok(reverse);
      const responses = decodeChunks([reverse.bytes]).filter((f) => f.frameType === 1);
      for (const request of decodeChunks([stream.bytes]).filter(
        (f) => f.frameType === 0 || f.frameType === 2,
      )) {
        const match = responses.filter((r) => r.id === request.id);
        assert.equal(match.length, 1, `${stream.name}: one response for request id ${request.id}`);
        const req = request.body?.typeCode ?? -1;
        const res = match[0]?.body?.typeCode ?? -1;
        // A request's result type code is its own plus one, for singles and merges alike.
        assert.equal(res, req + 1, `${stream.name}: response type for request id ${request.id}`);
      }
    }
  });
});
