/**
 * Body compressors from Seata's CompressorType that Node's zlib can run: GZIP
 * (GZIPOutputStream), ZIP (a ZIP archive holding one entry named "zip", as Seata's ZipUtil
 * writes it) and DEFLATER (java.util.zip.Deflater, zlib-wrapped). ZSTD is used where the
 * running Node has it. SEVENZ, BZIP2 and LZ4 have no implementation in Node's standard library
 * and are refused with UNSUPPORTED_COMPRESSOR.
 */
import zlib from 'node:zlib';
import { Compressor, nameOf } from './constants.js';
import { ProtocolError } from './errors.js';

type ZstdZlib = {
  zstdCompressSync?: (b: Buffer) => Buffer;
  zstdDecompressSync?: (b: Buffer, o?: { maxOutputLength?: number }) => Buffer;
};
const zstd = zlib as unknown as ZstdZlib;

/** True when this process can compress and decompress with `compressor`. */
export function isCompressorSupported(compressor: number): boolean {
  switch (compressor) {
    case Compressor.NONE:
    case Compressor.GZIP:
    case Compressor.ZIP:
    case Compressor.DEFLATER:
      return true;
    case Compressor.ZSTD:
      return typeof zstd.zstdCompressSync === 'function';
    default:
      return false;
  }
}

function unsupported(compressor: number): ProtocolError {
  return new ProtocolError(
    'UNSUPPORTED_COMPRESSOR',
    `compressor ${compressor} (${nameOf(Compressor, compressor)}) is not available; use NONE, GZIP, ZIP or DEFLATER`,
    { compressor },
  );
}

/** Compresses a serialized body. */
export function compress(compressor: number, body: Buffer): Buffer {
  switch (compressor) {
    case Compressor.NONE:
      return body;
    case Compressor.GZIP:
      return zlib.gzipSync(body);
    case Compressor.DEFLATER:
      return zlib.deflateSync(body);
    case Compressor.ZIP:
      return zipOneEntry(body);
    case Compressor.ZSTD:
      if (zstd.zstdCompressSync) return zstd.zstdCompressSync(body);
      throw unsupported(compressor);
    default:
      throw unsupported(compressor);
  }
}

/** Decompresses a body, refusing to produce more than `maxOutput` bytes. */
export function decompress(compressor: number, data: Buffer, maxOutput: number): Buffer {
  if (compressor === Compressor.NONE) return data;
  if (!isCompressorSupported(compressor)) throw unsupported(compressor);
  try {
    switch (compressor) {
      case Compressor.GZIP:
        return zlib.gunzipSync(data, { maxOutputLength: maxOutput });
      case Compressor.DEFLATER:
        return zlib.inflateSync(data, { maxOutputLength: maxOutput });
      case Compressor.ZIP:
        return unzipEntries(data, maxOutput);
      default:
        return (zstd.zstdDecompressSync as NonNullable<ZstdZlib['zstdDecompressSync']>)(data, {
          maxOutputLength: maxOutput,
        });
    }
  } catch (err) {
    if (err instanceof ProtocolError) throw err;
    throw new ProtocolError(
      'DECOMPRESS_FAILED',
      `body does not inflate with ${nameOf(Compressor, compressor)}: ${(err as Error).message}`,
      { compressor, length: data.length },
      { cause: err },
    );
  }
}

// ---------------------------------------------------------------------------------------------
// The ZIP container (APPNOTE.TXT): local file header, deflated data, central directory, end
// record. Seata's ZipUtil reads every entry and concatenates their contents.

const LOCAL_SIG = 0x04034b50;
const CENTRAL_SIG = 0x02014b50;
const END_SIG = 0x06054b50;
const DESCRIPTOR_SIG = 0x08074b50;
const ENTRY_NAME = Buffer.from('zip');
const METHOD_STORED = 0;
const METHOD_DEFLATED = 8;
const FLAG_DATA_DESCRIPTOR = 0x0008;
const FLAG_UTF8 = 0x0800;

function zipOneEntry(body: Buffer): Buffer {
  const data = zlib.deflateRawSync(body);
  const crc = zlib.crc32(body);
  const local = Buffer.alloc(30);
  local.writeUInt32LE(LOCAL_SIG, 0);
  local.writeUInt16LE(20, 4); // version needed: 2.0 (deflate)
  local.writeUInt16LE(FLAG_UTF8, 6);
  local.writeUInt16LE(METHOD_DEFLATED, 8);
  local.writeUInt32LE(0x00210000, 10); // DOS time/date: 1980-01-01 00:00
  local.writeUInt32LE(crc, 14);
  local.writeUInt32LE(data.length, 18);
  local.writeUInt32LE(body.length, 22);
  local.writeUInt16LE(ENTRY_NAME.length, 26);
  local.writeUInt16LE(0, 28);
  const central = Buffer.alloc(46);
  central.writeUInt32LE(CENTRAL_SIG, 0);
  central.writeUInt16LE(20, 4);
  central.writeUInt16LE(20, 6);
  central.writeUInt16LE(FLAG_UTF8, 8);
  central.writeUInt16LE(METHOD_DEFLATED, 10);
  central.writeUInt32LE(0x00210000, 12);
  central.writeUInt32LE(crc, 16);
  central.writeUInt32LE(data.length, 20);
  central.writeUInt32LE(body.length, 24);
  central.writeUInt16LE(ENTRY_NAME.length, 28);
  // extra, comment, disk, internal attrs, external attrs, local header offset: all 0
  const centralOffset = 30 + ENTRY_NAME.length + data.length;
  const end = Buffer.alloc(22);
  end.writeUInt32LE(END_SIG, 0);
  end.writeUInt16LE(1, 8);
  end.writeUInt16LE(1, 10);
  end.writeUInt32LE(46 + ENTRY_NAME.length, 12);
  end.writeUInt32LE(centralOffset, 16);
  return Buffer.concat([local, ENTRY_NAME, data, central, ENTRY_NAME, end]);
}

function zipError(message: string, details: Record<string, unknown>): ProtocolError {
  return new ProtocolError('DECOMPRESS_FAILED', `ZIP body: ${message}`, {
    compressor: Compressor.ZIP,
    ...details,
  });
}

/** Reads local entries in order, as java.util.zip.ZipInputStream does, and concatenates them. */
function unzipEntries(data: Buffer, maxOutput: number): Buffer {
  const out: Buffer[] = [];
  let total = 0;
  let at = 0;
  while (at + 4 <= data.length && data.readUInt32LE(at) === LOCAL_SIG) {
    if (at + 30 > data.length) throw zipError('truncated local header', { offset: at });
    const flags = data.readUInt16LE(at + 6);
    const method = data.readUInt16LE(at + 8);
    const crc = data.readUInt32LE(at + 14);
    let compressedSize = data.readUInt32LE(at + 18);
    const nameLength = data.readUInt16LE(at + 26);
    const extraLength = data.readUInt16LE(at + 28);
    const start = at + 30 + nameLength + extraLength;
    if (start > data.length) throw zipError('truncated entry name', { offset: at });
    let content: Buffer;
    let next: number;
    if (method === METHOD_STORED) {
      if (start + compressedSize > data.length) throw zipError('truncated stored entry', { offset: at });
      content = data.subarray(start, start + compressedSize);
      next = start + compressedSize;
    } else if (method === METHOD_DEFLATED) {
      // With a data descriptor the sizes come after the data; inflateRaw finds the stream's end itself.
      const engine = zlib.inflateRawSync(data.subarray(start), {
        maxOutputLength: Math.max(1, maxOutput - total),
        info: true,
      }) as unknown as { buffer: Buffer; engine: { bytesWritten: number } };
      content = engine.buffer;
      const consumed = engine.engine.bytesWritten;
      if (flags & FLAG_DATA_DESCRIPTOR) {
        compressedSize = consumed;
        let d = start + consumed;
        if (d + 4 <= data.length && data.readUInt32LE(d) === DESCRIPTOR_SIG) d += 4;
        if (d + 12 > data.length) throw zipError('truncated data descriptor', { offset: d });
        if (data.readUInt32LE(d) !== zlib.crc32(content)) throw zipError('CRC mismatch', { offset: at });
        next = d + 12;
      } else {
        if (crc !== zlib.crc32(content)) throw zipError('CRC mismatch', { offset: at });
        next = start + compressedSize;
      }
    } else {
      throw zipError(`unsupported entry method ${method}`, { method });
    }
    total += content.length;
    if (total > maxOutput) throw zipError(`inflates past ${maxOutput} bytes`, { maxOutput });
    out.push(content);
    at = next;
  }
  if (out.length === 0) throw zipError('no local file entry', { length: data.length });
  return out.length === 1 ? (out[0] as Buffer) : Buffer.concat(out);
}
