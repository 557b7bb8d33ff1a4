/**
 * Every way a frame or body can be wrong gives a ProtocolError with the right code and details
 * that name the bad value, from decodeFrame and from FrameDecoder alike. Inputs are real Seata
 * frames from seata-vectors.txt with bytes changed by hand.
 */
import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import zlib from 'node:zlib';
import {
  BranchType,
  Compressor,
  decodeBody,
  decodeFrame,
  encodeBody,
  encodeFrame,
  FrameDecoder,
  type FrameOptions,
  FrameType,
  isCompressorSupported,
  MAX_FRAME_LENGTH,
  ProtocolError,
  ResultCode,
  type RpcMessage,
  TypeCode,
} from '../src/index.js';
import { expectProtocolError, rawFrame } from './helpers.js';
import { hexBytes, loadVectors } from './vectors.js';

const { vectors } = loadVectors();

/** A fresh copy of a named vector's bytes. */
function vec(title: string): Buffer {
  const v = vectors.find((x) => x.title === title);
  assert.ok(v, `no vector "${title}"`);
  return Buffer.from(v.bytes);
}

/** Sets fullLength to the buffer's length, after a test changed the body's size. */
function fixLength(b: Buffer): Buffer {
  b.writeInt32BE(b.length, 3);
  return b;
}

/**
 * Checks both decoders reject `frame` with `code`: decodeFrame, FrameDecoder in one push and
 * one byte at a time. Returns decodeFrame's error for detail checks; the streaming errors must
 * carry the same code and details.
 */
function rejects(frame: Buffer, code: string, options: FrameOptions = {}): ProtocolError {
  const err = expectProtocolError(() => decodeFrame(frame, options), code);
  const whole = expectProtocolError(() => new FrameDecoder(options).push(frame), code);
  assert.deepStrictEqual(whole.details, err.details);
  const decoder = new FrameDecoder(options);
  const bytewise = expectProtocolError(() => {
    for (let i = 0; i < frame.length; i++) decoder.push(frame.subarray(i, i + 1));
  }, code);
  assert.deepStrictEqual(bytewise.details, err.details);
  return err;
}

/** Feeds `bytes` one at a time and returns the index of the byte whose push threw, and the error. */
function rejectAt(
  bytes: Buffer,
  code: string,
  options: FrameOptions = {},
): { at: number; err: ProtocolError } {
  const decoder = new FrameDecoder(options);
  for (let i = 0; i < bytes.length; i++) {
    try {
      assert.deepStrictEqual(decoder.push(bytes.subarray(i, i + 1)), []);
    } catch (err) {
      if (!(err instanceof ProtocolError)) throw err;
      assert.equal(err.code, code, err.message);
      return { at: i, err };
    }
  }
  assert.fail(`no ${code} after ${bytes.length} bytes`);
}

describe('frame header', () => {
  it('wrong first magic byte: rejected on the first byte', () => {
    const { at, err } = rejectAt(Buffer.from([0x16, 0x03, 0x01, 0x00, 0x00]), 'BAD_MAGIC');
    assert.equal(at, 0);
    assert.deepStrictEqual(err.details, { offset: 0, byte: 0x16 });
    const f = vec('GlobalBeginRequest');
    f[0] = 0x47; // 'G' of an HTTP GET
    assert.deepStrictEqual(rejects(f, 'BAD_MAGIC').details, { offset: 0, byte: 0x47 });
  });

  it('wrong second magic byte: rejected on the second byte', () => {
    const { at, err } = rejectAt(Buffer.from([0xda, 0xdb, 0x01, 0x00]), 'BAD_MAGIC');
    assert.equal(at, 1);
    assert.deepStrictEqual(err.details, { offset: 1, byte: 0xdb });
  });

  it('unknown version: rejected on the third byte', () => {
    for (const version of [0, 2, 0xff]) {
      const f = vec('GlobalBeginRequest');
      f[2] = version;
      assert.deepStrictEqual(rejects(f, 'UNSUPPORTED_VERSION').details, { version });
      assert.equal(rejectAt(f, 'UNSUPPORTED_VERSION').at, 2);
    }
  });

  it('fullLength below the 16-byte header', () => {
    for (const fullLength of [0, 15, -1, -0x80000000]) {
      const f = vec('HeartbeatMessage.PING');
      f.writeInt32BE(fullLength, 3);
      const { at, err } = rejectAt(f, 'BAD_LENGTH');
      assert.equal(at, 6, 'rejected as soon as the length field is complete');
      assert.deepStrictEqual(err.details, { fullLength });
      expectProtocolError(() => decodeFrame(f), 'BAD_LENGTH');
    }
  });

  it('fullLength over the 8 MiB limit: rejected after 7 bytes, before the rest arrives', () => {
    const head = hexBytes('da da 01 00 80 00 01');
    assert.equal(head.readInt32BE(3), MAX_FRAME_LENGTH + 1);
    const decoder = new FrameDecoder();
    assert.deepStrictEqual(decoder.push(head.subarray(0, 6)), []);
    const err = expectProtocolError(() => decoder.push(head.subarray(6)), 'FRAME_TOO_LARGE');
    assert.deepStrictEqual(err.details, {
      fullLength: MAX_FRAME_LENGTH + 1,
      maxFrameLength: MAX_FRAME_LENGTH,
    });
    expectProtocolError(() => new FrameDecoder().push(hexBytes('da da 01 7f ff ff ff')), 'FRAME_TOO_LARGE');
    // Exactly the limit is allowed: the decoder waits for more.
    const atLimit = new FrameDecoder();
    assert.deepStrictEqual(atLimit.push(hexBytes('da da 01 00 80 00 00 00 10 00 01 00 00 00 00 01')), []);
    assert.equal(atLimit.bufferedBytes, 16);
  });

  it('a custom maxFrameLength: a frame one byte over is refused after 7 bytes, one at the limit passes', () => {
    const f = vec('GlobalBeginRequest'); // 31 bytes
    assert.deepStrictEqual(decodeFrame(f, { maxFrameLength: 31 }).id, 4);
    assert.equal(new FrameDecoder({ maxFrameLength: 31 }).push(f).length, 1);
    const { at, err } = rejectAt(f, 'FRAME_TOO_LARGE', { maxFrameLength: 30 });
    assert.equal(at, 6);
    assert.deepStrictEqual(err.details, { fullLength: 31, maxFrameLength: 30 });
    expectProtocolError(() => decodeFrame(f, { maxFrameLength: 30 }), 'FRAME_TOO_LARGE');
    // setOptions cannot lift the limit the decoder was made with.
    const decoder = new FrameDecoder({ maxFrameLength: 30 });
    decoder.setOptions({ maxFrameLength: 1 << 20 });
    expectProtocolError(() => decoder.push(f), 'FRAME_TOO_LARGE');
  });

  it('does not reserve memory for a claimed length, only for bytes that arrived', () => {
    // A 2 GiB claim under a limit that allows it: the decoder must just wait, holding what came.
    const decoder = new FrameDecoder({ maxFrameLength: 0x7fffffff });
    const before = process.memoryUsage().arrayBuffers;
    assert.deepStrictEqual(decoder.push(hexBytes('da da 01 7f ff ff ff 00 10 00 01 00 00 00 00 01')), []);
    for (let i = 0; i < 100; i++) assert.deepStrictEqual(decoder.push(Buffer.alloc(100, 0x41)), []);
    assert.equal(decoder.bufferedBytes, 16 + 100 * 100);
    const grown = process.memoryUsage().arrayBuffers - before;
    assert.ok(grown < 64 * 1024 * 1024, `decoder grew array buffers by ${grown} bytes`);
  });

  it('headLength below 16 or beyond fullLength', () => {
    for (const headLength of [0, 15, -1, 32, 0x7fff]) {
      const f = vec('GlobalBeginRequest'); // fullLength 31
      f.writeInt16BE(headLength, 7);
      assert.deepStrictEqual(rejects(f, 'BAD_LENGTH').details, { headLength, fullLength: 31 });
    }
  });

  it('decodeFrame: fullLength that disagrees with the buffer', () => {
    const f = vec('GlobalBeginRequest');
    const longer = Buffer.concat([f, Buffer.from([0])]);
    assert.deepStrictEqual(expectProtocolError(() => decodeFrame(longer), 'BAD_LENGTH').details, {
      fullLength: 31,
      length: 32,
    });
    const shorter = f.subarray(0, 30);
    assert.deepStrictEqual(expectProtocolError(() => decodeFrame(shorter), 'BAD_LENGTH').details, {
      fullLength: 31,
      length: 30,
    });
    // Not even a header.
    for (const n of [0, 3, 7, 15]) {
      const err = expectProtocolError(() => decodeFrame(f.subarray(0, n)), 'TRUNCATED');
      assert.deepStrictEqual(err.details, { field: 'header', length: n });
    }
    // FrameDecoder simply waits for the rest of a short frame.
    const decoder = new FrameDecoder();
    assert.deepStrictEqual(decoder.push(shorter), []);
    assert.equal(decoder.push(f.subarray(30)).length, 1);
  });

  it('unknown frame type byte', () => {
    for (const frameType of [5, 6, 0x80, 0xff]) {
      const f = vec('GlobalBeginRequest');
      f[9] = frameType;
      assert.deepStrictEqual(rejects(f, 'UNKNOWN_FRAME_TYPE').details, { frameType, id: 4 });
    }
  });

  it('unsupported codec byte (hessian 0x16, protobuf, kryo, jackson, unknown)', () => {
    for (const codec of [0x16, 0x02, 0x04, 0x32, 0x00, 0xff]) {
      const f = vec('GlobalBeginRequest');
      f[10] = codec;
      const err = rejects(f, 'UNSUPPORTED_CODEC');
      assert.deepStrictEqual(err.details, { codec, id: 4 });
      if (codec === 0x16) assert.match(err.message, /HESSIAN/);
    }
  });

  it('unknown compressor byte', () => {
    for (const compressor of [8, 0x40, 0xff]) {
      const f = vec('GlobalBeginRequest');
      f[11] = compressor;
      assert.deepStrictEqual(rejects(f, 'UNSUPPORTED_COMPRESSOR').details, { compressor, id: 4 });
    }
  });

  it('known compressors Node cannot run: SEVENZ, BZIP2, LZ4 (and ZSTD where missing)', () => {
    const unsupported: number[] = [Compressor.SEVENZ, Compressor.BZIP2, Compressor.LZ4];
    if (!isCompressorSupported(Compressor.ZSTD)) unsupported.push(Compressor.ZSTD);
    for (const compressor of unsupported) {
      const f = vec('GlobalBeginRequest');
      f[11] = compressor;
      const err = rejects(f, 'UNSUPPORTED_COMPRESSOR');
      assert.equal(err.details.compressor, compressor);
      assert.equal(isCompressorSupported(compressor), false);
    }
  });
});

describe('head map', () => {
  // The {k=v} vector: head map at 16..21 = 00 01 6b 00 01 76, headLength 22.
  it('a key without its value', () => {
    const f = vec('GlobalBeginRequest with headMap {k=v}');
    f.writeInt16BE(19, 7); // head map = 00 01 6b only
    const err = rejects(f, 'BAD_HEAD_MAP');
    assert.equal(err.details.field, 'headMap.value');
  });

  it('a string length running past the head map', () => {
    const f = vec('GlobalBeginRequest with headMap {k=v}');
    f.writeInt16BE(9, 19); // value length 9 in a 6-byte head map
    const err = rejects(f, 'BAD_HEAD_MAP');
    assert.equal(err.details.field, 'headMap.value');
    assert.equal(err.details.needed, 9);
  });

  it('a negative length other than -1 (null)', () => {
    const f = vec('GlobalBeginRequest with headMap {k=v}');
    f.writeInt16BE(-2, 16);
    assert.deepStrictEqual(rejects(f, 'BAD_HEAD_MAP').details, { field: 'headMap.key', length: -2 });
  });

  it('a null key (-1) is skipped, as HeadMapSerializer skips null keys on encode', () => {
    const f = rawFrame(
      { frameType: FrameType.HEARTBEAT_REQUEST, headMap: hexBytes('ff ff 00 01 76 00 01 6b 00 01 76') },
      Buffer.alloc(0),
    );
    assert.deepStrictEqual(decodeFrame(f).headMap, new Map([['k', 'v']]));
    const nullBoth = rawFrame(
      { frameType: FrameType.HEARTBEAT_REQUEST, headMap: hexBytes('ff ff ff ff') },
      Buffer.alloc(0),
    );
    assert.deepStrictEqual(decodeFrame(nullBoth).headMap, new Map());
  });

  it('-1 is a null value and 0 an empty string, as HeadMapSerializer writes them', () => {
    const f = rawFrame(
      { frameType: FrameType.HEARTBEAT_REQUEST, headMap: hexBytes('00 01 6b ff ff 00 00 00 00') },
      Buffer.alloc(0),
    );
    assert.deepStrictEqual(
      decodeFrame(f).headMap,
      new Map([
        ['k', null],
        ['', ''],
      ]),
    );
  });
});

describe('body', () => {
  it('a field running past the end names the field (TRUNCATED)', () => {
    // GlobalBeginRequest body: 00 01 | 00 00 ea 60 | 00 07 "demo-tx"; cut 3 bytes of the name.
    const f = fixLength(vec('GlobalBeginRequest').subarray(0, 28));
    assert.deepStrictEqual(rejects(f, 'TRUNCATED').details, {
      field: 'transactionName',
      needed: 7,
      remaining: 4,
      offset: 24,
    });
    // BranchRegisterResponse: cut inside the int64 branchId.
    const r = fixLength(vec('BranchRegisterResponse').subarray(0, 24));
    const err = rejects(r, 'TRUNCATED');
    assert.equal(err.details.field, 'branchId');
    assert.equal(err.details.needed, 8);
    // No room for the type code.
    const t = fixLength(vec('GlobalBeginRequest').subarray(0, 17));
    assert.equal(rejects(t, 'TRUNCATED').details.field, 'body');
  });

  it('unknown type code (UNKNOWN_TYPE_CODE), including HEARTBEAT_MSG which is never serialized', () => {
    for (const typeCode of [0, 19, 20, 23, 120, 122, 0x7fff, -1]) {
      const f = vec('GlobalBeginRequest');
      f.writeInt16BE(typeCode, 16);
      assert.deepStrictEqual(rejects(f, 'UNKNOWN_TYPE_CODE').details, { typeCode });
    }
  });

  it('invalid UTF-8 in a string (INVALID_UTF8)', () => {
    // xid of GlobalCommitRequest starts at 20; put a lone continuation byte, then an encoded surrogate.
    for (const bad of [[0x80], [0xff], [0xed, 0xa0, 0x80], [0xc0, 0xaf]]) {
      const f = vec('GlobalCommitRequest');
      Buffer.from(bad).copy(f, 25);
      const err = rejects(f, 'INVALID_UTF8');
      assert.deepStrictEqual(err.details, { field: 'xid', offset: 20, length: 34 });
    }
    // In an s32 field too.
    const f = vec('BranchRegisterRequest');
    f[f.length - 1] = 0xfe;
    assert.equal(rejects(f, 'INVALID_UTF8').details.field, 'applicationData');
  });

  it('an enum byte with no meaning (INVALID_ENUM)', () => {
    // BranchRegisterRequest: branchType at 54.
    const b = vec('BranchRegisterRequest');
    b[54] = 9;
    assert.deepStrictEqual(rejects(b, 'INVALID_ENUM').details, { field: 'branchType', value: 9 });
    // GlobalCommitResponse: resultCode at 18, globalStatus at 20.
    const r = vec('GlobalCommitResponse');
    r[18] = 2;
    assert.deepStrictEqual(rejects(r, 'INVALID_ENUM').details, { field: 'resultCode', value: 2 });
    const g = vec('GlobalCommitResponse');
    g[20] = 18;
    assert.deepStrictEqual(rejects(g, 'INVALID_ENUM').details, { field: 'globalStatus', value: 18 });
    // BranchCommitResponse: branchStatus is the last byte.
    const s = vec('BranchCommitResponse');
    s[s.length - 1] = 14;
    assert.deepStrictEqual(rejects(s, 'INVALID_ENUM').details, { field: 'branchStatus', value: 14 });
    // GlobalReportRequest: -1 is null, other negatives are not statuses.
    const report = hexBytes('00 11 00 01 78 00 00 80');
    assert.deepStrictEqual(expectProtocolError(() => decodeBody(report), 'INVALID_ENUM').details, {
      field: 'globalStatus',
      value: -128,
    });
    assert.equal(
      (decodeBody(hexBytes('00 11 00 01 78 00 00 ff')) as { globalStatus: unknown }).globalStatus,
      null,
    );
  });

  it('a nested merge (UNEXPECTED_MESSAGE)', () => {
    // MergedWarpMessage holding a MergeResultMessage holding nothing.
    const body = hexBytes('00 3b 00 00 00 0a 00 01 00 3c 00 00 00 02 00 00');
    const err = rejects(rawFrame({ frameType: FrameType.REQUEST_ONEWAY }, body), 'UNEXPECTED_MESSAGE');
    assert.deepStrictEqual(err.details, { typeCode: TypeCode.SEATA_MERGE_RESULT });
    // A merge inside a batch result.
    const batch = hexBytes('00 79 00 00 00 0e 00 01 00 3b 00 00 00 02 00 00 00 00 00 01');
    assert.deepStrictEqual(expectProtocolError(() => decodeBody(batch), 'UNEXPECTED_MESSAGE').details, {
      typeCode: TypeCode.SEATA_MERGE,
    });
  });

  it('a merge nested 100000 deep is refused at the first level, without a stack overflow', () => {
    // Built from the inside out in one buffer: each level is typeCode 59, contentLength, count 1.
    const leaf = hexBytes('00 01 00 00 ea 60 00 04 74 65 73 74');
    const depth = 100_000;
    const body = Buffer.alloc(depth * 8 + leaf.length);
    leaf.copy(body, depth * 8);
    for (let level = depth - 1; level >= 0; level--) {
      const at = level * 8;
      body.writeInt16BE(TypeCode.SEATA_MERGE, at);
      body.writeInt32BE(body.length - at - 6, at + 2);
      body.writeInt16BE(1, at + 6);
    }
    const f = rawFrame({ frameType: FrameType.REQUEST_ONEWAY }, body);
    const err = expectProtocolError(() => decodeFrame(f), 'UNEXPECTED_MESSAGE');
    assert.deepStrictEqual(err.details, { typeCode: TypeCode.SEATA_MERGE });
    expectProtocolError(() => new FrameDecoder().push(f), 'UNEXPECTED_MESSAGE');
  });

  it('merged contentLength larger than the body, or too small (BAD_LENGTH)', () => {
    // The Java merged vector: contentLength at 18 is 0x41 = 65, exactly the bytes after it.
    const f = vec('MergedWarpMessage[GlobalBegin,GlobalCommit]');
    f.writeInt32BE(66, 18);
    assert.deepStrictEqual(rejects(f, 'BAD_LENGTH').details, { contentLength: 66, remaining: 65 });
    for (const contentLength of [0, 1, -1, 0x7fffffff]) {
      const g = vec('MergedWarpMessage[GlobalBegin,GlobalCommit]');
      g.writeInt32BE(contentLength, 18);
      assert.deepStrictEqual(rejects(g, 'BAD_LENGTH').details, { contentLength, remaining: 65 });
    }
    // A count that cannot fit, and a negative count.
    const c = vec('MergedWarpMessage[GlobalBegin,GlobalCommit]');
    c.writeInt16BE(40, 22);
    assert.deepStrictEqual(rejects(c, 'BAD_LENGTH').details, { count: 40, remaining: 63 });
    const n = vec('MergedWarpMessage[GlobalBegin,GlobalCommit]');
    n.writeInt16BE(-1, 22);
    assert.deepStrictEqual(rejects(n, 'BAD_LENGTH').details, { count: -1 });
  });

  it('msgIds cut short inside a merge (TRUNCATED msgId)', () => {
    // Drop the last msgId but keep contentLength consistent: 2 messages, 1 id.
    const f = vec('MergedWarpMessage[GlobalBegin,GlobalCommit]').subarray(0, 83);
    f.writeInt32BE(61, 18);
    assert.equal(rejects(fixLength(Buffer.from(f)), 'TRUNCATED').details.field, 'msgId');
  });
});

describe('compressed bodies that do not inflate (DECOMPRESS_FAILED)', () => {
  const garbage = hexBytes('00 01 02 03 04 05 06 07 08 09');
  for (const [name, compressor] of [
    ['GZIP', Compressor.GZIP],
    ['ZIP', Compressor.ZIP],
    ['DEFLATER', Compressor.DEFLATER],
  ] as const) {
    it(name, () => {
      const err = rejects(rawFrame({ compressor }, garbage), 'DECOMPRESS_FAILED');
      assert.equal(err.details.compressor, compressor);
    });
  }

  it('truncated but well-started streams', () => {
    const body = encodeBody({
      typeCode: TypeCode.GLOBAL_BEGIN,
      timeout: 1,
      transactionName: 'x'.repeat(200),
    });
    const gz = zlib.gzipSync(body);
    rejects(rawFrame({ compressor: Compressor.GZIP }, gz.subarray(0, gz.length - 10)), 'DECOMPRESS_FAILED');
    const df = zlib.deflateSync(body);
    rejects(
      rawFrame({ compressor: Compressor.DEFLATER }, df.subarray(0, df.length - 6)),
      'DECOMPRESS_FAILED',
    );
  });

  it('a ZIP entry whose CRC does not match', () => {
    const good = encodeFrame({
      id: 1,
      frameType: FrameType.REQUEST_SYNC,
      compressor: Compressor.ZIP,
      body: { typeCode: TypeCode.GLOBAL_BEGIN, timeout: 1, transactionName: 'abc' },
    });
    good[16 + 14] = (good[16 + 14] as number) ^ 0xff; // first byte of the local header's CRC-32
    assert.match(rejects(good, 'DECOMPRESS_FAILED').message, /CRC/);
  });
});

describe('the decoder after an error', () => {
  it('is poisoned: every later push throws the same error', () => {
    const decoder = new FrameDecoder();
    const good = vec('GlobalBeginRequest');
    assert.equal(decoder.push(good).length, 1);
    const bad = vec('GlobalBeginRequest');
    bad[9] = 7;
    const first = expectProtocolError(() => decoder.push(bad), 'UNKNOWN_FRAME_TYPE');
    assert.equal(decoder.error, first);
    for (const next of [good, Buffer.alloc(0), Buffer.from([0xda])]) {
      assert.throws(
        () => decoder.push(next),
        (err: unknown) => err === first,
      );
    }
    assert.equal(decoder.bufferedBytes, 0, 'the buffered bytes were dropped');
  });

  it('frames completed before the bad one in the same chunk are lost with it (the connection is dead)', () => {
    const bad = vec('GlobalBeginRequest');
    bad[0] = 0;
    const decoder = new FrameDecoder();
    expectProtocolError(() => decoder.push(Buffer.concat([vec('GlobalBeginRequest'), bad])), 'BAD_MAGIC');
  });
});

describe('encode side', () => {
  const begin = (transactionName: string): RpcMessage => ({
    id: 1,
    frameType: FrameType.REQUEST_SYNC,
    body: { typeCode: TypeCode.GLOBAL_BEGIN, timeout: 60000, transactionName },
  });

  it('a string over 32767 UTF-8 bytes in an int16-length field (INVALID_MESSAGE)', () => {
    assert.equal(encodeFrame(begin('a'.repeat(32767))).length, 16 + 8 + 32767);
    const err = expectProtocolError(() => encodeFrame(begin('a'.repeat(32768))), 'INVALID_MESSAGE');
    assert.deepStrictEqual(err.details, { field: 'transactionName', byteLength: 32768, maxBytes: 32767 });
    // Bytes count, not characters: 16384 two-byte characters.
    const wide = expectProtocolError(() => encodeFrame(begin('é'.repeat(16384))), 'INVALID_MESSAGE');
    assert.equal(wide.details.byteLength, 32768);
    // Head map strings have the same limit.
    expectProtocolError(
      () => encodeFrame({ ...begin('x'), headMap: new Map([['k', 'v'.repeat(40000)]]) }),
      'INVALID_MESSAGE',
    );
    expectProtocolError(
      () => encodeBody({ typeCode: TypeCode.GLOBAL_COMMIT, xid: 'x'.repeat(40000), extraData: null }),
      'INVALID_MESSAGE',
    );
  });

  it('a failure msg over 32767 bytes is cut on a character boundary, as Seata truncates it', () => {
    const body = encodeBody({
      typeCode: TypeCode.BRANCH_STATUS_REPORT_RESULT,
      resultCode: ResultCode.Failed,
      msg: 'é'.repeat(20000),
      exceptionCode: 'IO',
    });
    // 00 0e | 00 | len | msg | 03
    assert.equal(body.readInt16BE(3), 32766);
    assert.equal(body.length, 2 + 1 + 2 + 32766 + 1);
    assert.equal(body.subarray(5, 5 + 32766).toString('utf8'), 'é'.repeat(16383));
    assert.equal(body[body.length - 1], 3);
  });

  it('an unsupported compressor (UNSUPPORTED_COMPRESSOR)', () => {
    for (const compressor of [Compressor.LZ4, Compressor.BZIP2, Compressor.SEVENZ, 99]) {
      const err = expectProtocolError(
        () => encodeFrame({ ...begin('x'), compressor }),
        'UNSUPPORTED_COMPRESSOR',
      );
      assert.equal(err.details.compressor, compressor);
    }
  });

  it('other messages that cannot be encoded', () => {
    expectProtocolError(() => encodeFrame({ ...begin('x'), codec: 0x16 }), 'UNSUPPORTED_CODEC');
    expectProtocolError(() => encodeFrame({ ...begin('x'), frameType: 9 as never }), 'UNKNOWN_FRAME_TYPE');
    expectProtocolError(
      () => encodeFrame({ id: 1, frameType: FrameType.REQUEST_SYNC, body: null }),
      'INVALID_MESSAGE',
    );
    expectProtocolError(() => encodeFrame(begin('x'.repeat(100)), { maxFrameLength: 64 }), 'FRAME_TOO_LARGE');
    expectProtocolError(
      () =>
        encodeBody({
          typeCode: TypeCode.BRANCH_REGISTER,
          xid: 'x',
          branchType: 7 as BranchType,
          resourceId: null,
          lockKey: null,
          applicationData: null,
        }),
      'INVALID_MESSAGE',
    );
    expectProtocolError(() => encodeBody({ typeCode: TypeCode.HEARTBEAT_MSG } as never), 'INVALID_MESSAGE');
    expectProtocolError(
      () =>
        encodeBody({
          typeCode: TypeCode.SEATA_MERGE,
          msgs: [{ typeCode: TypeCode.SEATA_MERGE_RESULT, msgs: [] } as never],
          msgIds: null,
        }),
      'UNEXPECTED_MESSAGE',
    );
    expectProtocolError(
      () =>
        encodeBody({
          typeCode: TypeCode.SEATA_MERGE,
          msgs: [{ typeCode: TypeCode.GLOBAL_BEGIN, timeout: 1, transactionName: null }],
          msgIds: [1, 2],
        }),
      'INVALID_MESSAGE',
    );
    expectProtocolError(
      () => encodeBody({ typeCode: TypeCode.BATCH_RESULT_MSG, msgs: [], msgIds: [5] }),
      'INVALID_MESSAGE',
    );
  });

  it('a heartbeat never carries a body, even when given one', () => {
    const f = encodeFrame({
      id: 3,
      frameType: FrameType.HEARTBEAT_REQUEST,
      body: { typeCode: TypeCode.GLOBAL_BEGIN, timeout: 1, transactionName: 'x' },
    });
    assert.equal(f.toString('hex'), vec('HeartbeatMessage.PING').toString('hex'));
  });

  it('branch type constants used above are the wire ordinals', () => {
    assert.equal(BranchType.TCC, 1);
  });
});
