/**
 * Body compression (CompressorType GZIP 1, ZIP 2, DEFLATER 6). The uncompressed bodies are the
 * real Seata bodies from seata-vectors.txt; the compressed forms are checked with Node's zlib
 * and a hand-built ZIP reader/writer, never only against our own decompressor.
 */
import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import zlib from 'node:zlib';
import {
  BranchType,
  Compressor,
  compress,
  decodeFrame,
  decompress,
  encodeFrame,
  FrameDecoder,
  FrameType,
  isCompressorSupported,
  type RpcMessage,
  TypeCode,
} from '../src/index.js';
import { expectProtocolError, rawFrame } from './helpers.js';
import { loadVectors } from './vectors.js';

const { vectors } = loadVectors();

const XID = '127.0.0.1:8091:2612341069705662465';
const BRANCH_ID = 2612341069705662467n;

/** The Java "BranchCommitRequest (TC->RM)" vector: its body is the uncompressed reference. */
const JAVA_FRAME = (vectors.find((v) => v.title === 'BranchCommitRequest (TC->RM)') ?? assert.fail()).bytes;
const JAVA_BODY = JAVA_FRAME.subarray(16);

function message(compressor: number): RpcMessage {
  return {
    id: 9,
    frameType: FrameType.REQUEST_SYNC,
    codec: 1,
    compressor,
    headMap: null,
    body: {
      typeCode: TypeCode.BRANCH_COMMIT,
      xid: XID,
      branchId: BRANCH_ID,
      branchType: BranchType.TCC,
      resourceId: 'tcc-demo-action',
      applicationData: '{"actionContext":{"amount":100}}',
    },
  };
}

/** The compressed body of an encoded frame. */
function bodyOf(frame: Buffer): Buffer {
  return frame.subarray(frame.readInt16BE(7));
}

// ---------------------------------------------------------------------------------------------
// A tiny independent ZIP writer, in the two shapes Java produces.

interface ZipEntryOptions {
  name?: string;
  /** java.util.zip.ZipOutputStream: sizes and CRC in a data descriptor after the data (flag bit 3). */
  descriptor?: boolean;
  /** Write the descriptor's optional 0x08074b50 signature (Java does). */
  descriptorSignature?: boolean;
  stored?: boolean;
}

function localEntry(content: Buffer, o: ZipEntryOptions = {}): { local: Buffer; central: Buffer } {
  const name = Buffer.from(o.name ?? 'zip');
  const data = o.stored ? content : zlib.deflateRawSync(content);
  const crc = zlib.crc32(content);
  const flags = (o.descriptor ? 0x0008 : 0) | 0x0800;
  const method = o.stored ? 0 : 8;
  const header = Buffer.alloc(30);
  header.writeUInt32LE(0x04034b50, 0);
  header.writeUInt16LE(20, 4);
  header.writeUInt16LE(flags, 6);
  header.writeUInt16LE(method, 8);
  header.writeUInt32LE(0x5a8c6f21, 10); // some DOS time
  if (!o.descriptor) {
    header.writeUInt32LE(crc, 14);
    header.writeUInt32LE(data.length, 18);
    header.writeUInt32LE(content.length, 22);
  }
  header.writeUInt16LE(name.length, 26);
  const parts = [header, name, data];
  if (o.descriptor) {
    const d = Buffer.alloc(o.descriptorSignature === false ? 12 : 16);
    let at = 0;
    if (o.descriptorSignature !== false) {
      d.writeUInt32LE(0x08074b50, 0);
      at = 4;
    }
    d.writeUInt32LE(crc, at);
    d.writeUInt32LE(data.length, at + 4);
    d.writeUInt32LE(content.length, at + 8);
    parts.push(d);
  }
  const central = Buffer.alloc(46);
  central.writeUInt32LE(0x02014b50, 0);
  central.writeUInt16LE(20, 4);
  central.writeUInt16LE(20, 6);
  central.writeUInt16LE(flags, 8);
  central.writeUInt16LE(method, 10);
  central.writeUInt32LE(crc, 16);
  central.writeUInt32LE(data.length, 20);
  central.writeUInt32LE(content.length, 24);
  central.writeUInt16LE(name.length, 28);
  return { local: Buffer.concat(parts), central: Buffer.concat([central, name]) };
}

/** Entries, then (optionally) the central directory and end record. */
function zipArchive(entries: { local: Buffer; central: Buffer }[], withDirectory: boolean): Buffer {
  const locals = Buffer.concat(entries.map((e) => e.local));
  if (!withDirectory) return locals;
  let offset = 0;
  const centrals = entries.map((e) => {
    const c = Buffer.from(e.central);
    c.writeUInt32LE(offset, 42);
    offset += e.local.length;
    return c;
  });
  const dir = Buffer.concat(centrals);
  const end = Buffer.alloc(22);
  end.writeUInt32LE(0x06054b50, 0);
  end.writeUInt16LE(entries.length, 8);
  end.writeUInt16LE(entries.length, 10);
  end.writeUInt32LE(dir.length, 12);
  end.writeUInt32LE(locals.length, 16);
  return Buffer.concat([locals, dir, end]);
}

// ---------------------------------------------------------------------------------------------

describe('compressed frames', () => {
  for (const [name, compressor] of [
    ['GZIP', Compressor.GZIP],
    ['ZIP', Compressor.ZIP],
    ['DEFLATER', Compressor.DEFLATER],
  ] as const) {
    it(`${name}: encode -> decode gives the message back, in any chunking`, () => {
      const m = message(compressor);
      const frame = encodeFrame(m);
      assert.equal(frame[11], compressor, 'compressor byte');
      assert.equal(frame.readInt32BE(3), frame.length, 'fullLength counts the compressed body');
      assert.deepStrictEqual(decodeFrame(frame), m);
      for (let at = 0; at <= frame.length; at++) {
        const decoder = new FrameDecoder();
        assert.deepStrictEqual(
          [...decoder.push(frame.subarray(0, at)), ...decoder.push(frame.subarray(at))],
          [m],
        );
      }
      // The header before the body is byte for byte the Java one, bar the lengths and compressor byte.
      const javaHead = Buffer.from(JAVA_FRAME.subarray(0, 16));
      javaHead.writeInt32BE(frame.length, 3);
      javaHead[11] = compressor;
      assert.equal(frame.subarray(0, 16).toString('hex'), javaHead.toString('hex'));
    });
  }

  it('GZIP: the body is a gzip stream of the Java body', () => {
    const body = bodyOf(encodeFrame(message(Compressor.GZIP)));
    assert.equal(body.subarray(0, 3).toString('hex'), '1f8b08');
    assert.equal(zlib.gunzipSync(body).toString('hex'), JAVA_BODY.toString('hex'));
  });

  it('DEFLATER: the body is a zlib stream (java.util.zip.Deflater) of the Java body', () => {
    const body = bodyOf(encodeFrame(message(Compressor.DEFLATER)));
    assert.equal(body[0], 0x78, 'zlib header: deflate, 32K window');
    assert.equal(((body[0] as number) * 256 + (body[1] as number)) % 31, 0, 'zlib header checksum');
    assert.equal(zlib.inflateSync(body).toString('hex'), JAVA_BODY.toString('hex'));
  });

  it('ZIP: the body is a ZIP archive with one deflated entry named "zip" (Seata ZipUtil)', () => {
    const body = bodyOf(encodeFrame(message(Compressor.ZIP)));
    assert.equal(body.subarray(0, 4).toString('hex'), '504b0304');
    const method = body.readUInt16LE(8);
    const crc = body.readUInt32LE(14);
    const compressedSize = body.readUInt32LE(18);
    const size = body.readUInt32LE(22);
    const nameLength = body.readUInt16LE(26);
    const extraLength = body.readUInt16LE(28);
    assert.equal(method, 8, 'deflated');
    assert.equal(body.subarray(30, 30 + nameLength).toString(), 'zip');
    const start = 30 + nameLength + extraLength;
    const data = body.subarray(start, start + compressedSize);
    const content = zlib.inflateRawSync(data);
    assert.equal(content.toString('hex'), JAVA_BODY.toString('hex'));
    assert.equal(size, JAVA_BODY.length);
    assert.equal(crc, zlib.crc32(JAVA_BODY));
    // A central directory and end record follow, so a strict archive reader accepts it too.
    assert.equal(body.readUInt32LE(start + compressedSize), 0x02014b50);
    assert.equal(body.readUInt32LE(body.length - 22), 0x06054b50);
  });

  it('the head map is never compressed', () => {
    const m = { ...message(Compressor.GZIP), headMap: new Map([['k', 'v']]) };
    const frame = encodeFrame(m);
    assert.equal(frame.readInt16BE(7), 22);
    assert.equal(frame.subarray(16, 22).toString('hex'), '00016b000176');
    assert.equal(frame.subarray(22, 24).toString('hex'), '1f8b');
    assert.deepStrictEqual(decodeFrame(frame), m);
  });

  it('decodes bodies compressed by zlib itself (not by our compress)', () => {
    const expected = message(Compressor.NONE).body;
    for (const [compressor, data] of [
      [Compressor.GZIP, zlib.gzipSync(JAVA_BODY, { level: 9 })],
      [Compressor.DEFLATER, zlib.deflateSync(JAVA_BODY, { level: 1 })],
    ] as const) {
      const frame = rawFrame({ id: 9, compressor }, data);
      assert.deepStrictEqual(decodeFrame(frame), { ...message(compressor), body: expected });
    }
  });

  it('ZSTD where the running Node has it', { skip: !isCompressorSupported(Compressor.ZSTD) }, () => {
    const m = message(Compressor.ZSTD);
    assert.deepStrictEqual(decodeFrame(encodeFrame(m)), m);
  });
});

describe('ZIP archives as Java writes them', () => {
  const expected = message(Compressor.ZIP);

  it('ZipOutputStream form: data descriptor (flag bit 3), zero sizes in the local header, no central directory', () => {
    // Seata's ZipUtil.compress returns the bytes before the stream is closed, so only the local
    // entry and its data descriptor are there.
    const archive = zipArchive([localEntry(JAVA_BODY, { descriptor: true })], false);
    assert.equal(archive.readUInt16LE(6) & 0x0008, 0x0008);
    assert.equal(archive.readUInt32LE(18), 0, 'compressed size deferred to the descriptor');
    assert.equal(archive.readUInt32LE(archive.length - 16), 0x08074b50);
    assert.deepStrictEqual(decodeFrame(rawFrame({ id: 9, compressor: Compressor.ZIP }, archive)), expected);
    assert.equal(decompress(Compressor.ZIP, archive, 1 << 20).toString('hex'), JAVA_BODY.toString('hex'));
  });

  it('data descriptor with the central directory after it', () => {
    const archive = zipArchive([localEntry(JAVA_BODY, { descriptor: true })], true);
    assert.deepStrictEqual(decodeFrame(rawFrame({ id: 9, compressor: Compressor.ZIP }, archive)), expected);
  });

  it('data descriptor without its optional signature', () => {
    const archive = zipArchive(
      [localEntry(JAVA_BODY, { descriptor: true, descriptorSignature: false })],
      true,
    );
    assert.deepStrictEqual(decodeFrame(rawFrame({ id: 9, compressor: Compressor.ZIP }, archive)), expected);
  });

  it('sizes in the local header, a stored entry, and several entries concatenated (ZipUtil.decompress)', () => {
    const plain = zipArchive([localEntry(JAVA_BODY)], true);
    assert.deepStrictEqual(decodeFrame(rawFrame({ id: 9, compressor: Compressor.ZIP }, plain)), expected);
    const stored = zipArchive([localEntry(JAVA_BODY, { stored: true })], true);
    assert.deepStrictEqual(decodeFrame(rawFrame({ id: 9, compressor: Compressor.ZIP }, stored)), expected);
    const half = 40;
    const split = zipArchive(
      [
        localEntry(JAVA_BODY.subarray(0, half), { descriptor: true, name: 'a' }),
        localEntry(JAVA_BODY.subarray(half), { stored: true, name: 'b' }),
      ],
      true,
    );
    assert.deepStrictEqual(decodeFrame(rawFrame({ id: 9, compressor: Compressor.ZIP }, split)), expected);
  });

  it('a data descriptor whose CRC is wrong', () => {
    const archive = zipArchive([localEntry(JAVA_BODY, { descriptor: true })], false);
    archive.writeUInt32LE((archive.readUInt32LE(archive.length - 12) ^ 1) >>> 0, archive.length - 12);
    const err = expectProtocolError(
      () => decodeFrame(rawFrame({ id: 9, compressor: Compressor.ZIP }, archive)),
      'DECOMPRESS_FAILED',
    );
    assert.match(err.message, /CRC/);
  });

  it('an archive with no local entry', () => {
    const empty = Buffer.alloc(22);
    empty.writeUInt32LE(0x06054b50, 0);
    expectProtocolError(() => decompress(Compressor.ZIP, empty, 1 << 20), 'DECOMPRESS_FAILED');
  });
});

describe('decompression limits', () => {
  const zeros = Buffer.alloc(1 << 20);

  for (const [name, compressor] of [
    ['GZIP', Compressor.GZIP],
    ['ZIP', Compressor.ZIP],
    ['DEFLATER', Compressor.DEFLATER],
  ] as const) {
    it(`${name}: 1 MiB of zeros does not inflate under a 64 KiB frame limit`, () => {
      const bomb = compress(compressor, zeros);
      assert.ok(bomb.length < 8 * 1024, `compressed to ${bomb.length} bytes`);
      const frame = rawFrame({ compressor }, bomb);
      const err = expectProtocolError(
        () => decodeFrame(frame, { maxFrameLength: 64 * 1024 }),
        'DECOMPRESS_FAILED',
      );
      assert.equal(err.details.compressor, compressor);
      expectProtocolError(
        () => new FrameDecoder({ maxFrameLength: 64 * 1024 }).push(frame),
        'DECOMPRESS_FAILED',
      );
      expectProtocolError(() => decompress(compressor, bomb, 64 * 1024), 'DECOMPRESS_FAILED');
      // Under a limit it fits, it inflates.
      assert.equal(decompress(compressor, bomb, 2 << 20).length, 1 << 20);
      assert.equal(decompress(compressor, bomb, 1 << 20).length, 1 << 20);
    });
  }

  it('a ZIP bomb spread over many entries is refused on the total', () => {
    const entries = Array.from({ length: 20 }, (_, i) =>
      localEntry(Buffer.alloc(8 * 1024), { name: `e${i}` }),
    );
    const archive = zipArchive(entries, false);
    expectProtocolError(() => decompress(Compressor.ZIP, archive, 64 * 1024), 'DECOMPRESS_FAILED');
    assert.equal(decompress(Compressor.ZIP, archive, 160 * 1024).length, 160 * 1024);
  });

  it('compress / decompress: NONE passes bytes through; unsupported ones are refused', () => {
    assert.equal(compress(Compressor.NONE, JAVA_BODY), JAVA_BODY);
    assert.equal(decompress(Compressor.NONE, JAVA_BODY, 1), JAVA_BODY);
    for (const c of [Compressor.SEVENZ, Compressor.BZIP2, Compressor.LZ4, 42]) {
      expectProtocolError(() => compress(c, JAVA_BODY), 'UNSUPPORTED_COMPRESSOR');
      expectProtocolError(() => decompress(c, JAVA_BODY, 1 << 20), 'UNSUPPORTED_COMPRESSOR');
    }
  });
});
