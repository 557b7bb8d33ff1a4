/**
 * Big-endian readers and writers for the codec's primitives. The reader checks every length
 * against the bytes actually present before it allocates or slices, and reports a TRUNCATED
 * ProtocolError naming the field otherwise.
 */
import { isUtf8 } from 'node:buffer';
import { ProtocolError } from './errors.js';

const INT16_MAX = 0x7fff;
/** Strings up to this many bytes are first scanned for pure ASCII (see ByteReader.utf8). */
const ASCII_SCAN_MAX = 256;
const INT32_MAX = 0x7fffffff;

/** Reads primitives from `buf[start, end)`. */
export class ByteReader {
  offset: number;
  readonly end: number;

  constructor(
    readonly buf: Buffer,
    start = 0,
    end = buf.length,
  ) {
    this.offset = start;
    this.end = end;
  }

  get remaining(): number {
    return this.end - this.offset;
  }

  need(n: number, field: string): void {
    if (n > this.end - this.offset) {
      throw new ProtocolError('TRUNCATED', `${field} needs ${n} bytes, ${this.end - this.offset} left`, {
        field,
        needed: n,
        remaining: this.end - this.offset,
        offset: this.offset,
      });
    }
  }

  u8(field: string): number {
    this.need(1, field);
    return this.buf[this.offset++] as number;
  }

  i8(field: string): number {
    this.need(1, field);
    return this.buf.readInt8(this.offset++);
  }

  i16(field: string): number {
    this.need(2, field);
    const v = this.buf.readInt16BE(this.offset);
    this.offset += 2;
    return v;
  }

  u16(field: string): number {
    this.need(2, field);
    const v = this.buf.readUInt16BE(this.offset);
    this.offset += 2;
    return v;
  }

  i32(field: string): number {
    this.need(4, field);
    const v = this.buf.readInt32BE(this.offset);
    this.offset += 4;
    return v;
  }

  i64(field: string): bigint {
    this.need(8, field);
    const v = this.buf.readBigInt64BE(this.offset);
    this.offset += 8;
    return v;
  }

  /** UTF-8 bytes of a length already read; validated so a bad byte is an error, not U+FFFD. */
  utf8(length: number, field: string): string {
    this.need(length, field);
    const start = this.offset;
    const end = start + length;
    this.offset = end;
    // ASCII-only strings (ids, names) are the common case: one scan, no slice, no validation.
    if (length <= ASCII_SCAN_MAX) {
      const buf = this.buf;
      let i = start;
      while (i < end && (buf[i] as number) < 0x80) i++;
      if (i === end) return buf.toString('latin1', start, end);
    }
    const bytes = this.buf.subarray(start, end);
    if (!isUtf8(bytes)) {
      throw new ProtocolError('INVALID_UTF8', `${field} is not valid UTF-8`, {
        field,
        offset: start,
        length,
      });
    }
    return bytes.toString('utf8');
  }

  /** int16-length string; a length of 0 or less reads as null, as Seata's codecs leave the field unset. */
  s16(field: string): string | null {
    const len = this.i16(field);
    return len <= 0 ? null : this.utf8(len, field);
  }

  /** int8-length string: seata-go's failure-message layout. */
  s8(field: string): string | null {
    const len = this.u8(field);
    return len === 0 ? null : this.utf8(len, field);
  }

  /** int32-length string; 0 or less reads as null. */
  s32(field: string): string | null {
    const len = this.i32(field);
    return len <= 0 ? null : this.utf8(len, field);
  }
}

function checkRange(v: number, min: number, max: number, kind: string): void {
  if (!Number.isInteger(v) || v < min || v > max) {
    throw new ProtocolError('INVALID_MESSAGE', `${String(v)} does not fit an ${kind} field`, {
      value: v,
      kind,
    });
  }
}

/** Appends primitives to a growing buffer. */
export class ByteWriter {
  buf: Buffer;
  offset = 0;

  constructor(initial = 256) {
    this.buf = Buffer.allocUnsafe(initial);
  }

  private ensure(n: number): void {
    if (this.offset + n <= this.buf.length) return;
    let size = this.buf.length * 2;
    while (size < this.offset + n) size *= 2;
    const next = Buffer.allocUnsafe(size);
    this.buf.copy(next, 0, 0, this.offset);
    this.buf = next;
  }

  u8(v: number): void {
    checkRange(v, 0, 0xff, 'byte');
    this.ensure(1);
    this.buf[this.offset++] = v;
  }

  u16(v: number): void {
    checkRange(v, 0, 0xffff, 'uint16');
    this.ensure(2);
    this.buf.writeUInt16BE(v, this.offset);
    this.offset += 2;
  }

  i16(v: number): void {
    checkRange(v, -0x8000, 0x7fff, 'int16');
    this.ensure(2);
    this.buf.writeInt16BE(v, this.offset);
    this.offset += 2;
  }

  i32(v: number): void {
    checkRange(v, -0x80000000, 0x7fffffff, 'int32');
    this.ensure(4);
    this.buf.writeInt32BE(v, this.offset);
    this.offset += 4;
  }

  i64(v: bigint): void {
    if (typeof v !== 'bigint' || v < -(2n ** 63n) || v >= 2n ** 63n) {
      throw new ProtocolError('INVALID_MESSAGE', `${String(v)} does not fit an int64 field`, {
        value: String(v),
      });
    }
    this.ensure(8);
    this.buf.writeBigInt64BE(v, this.offset);
    this.offset += 8;
  }

  bytes(b: Buffer): void {
    this.ensure(b.length);
    b.copy(this.buf, this.offset);
    this.offset += b.length;
  }

  /** Writes a UTF-8 string's bytes at the current offset, returning how many were written. */
  private utf8(s: string, maxBytes: number, field: string): number {
    // One pass: room for the worst case (3 bytes per UTF-16 unit), then write and count.
    const byteLength = Buffer.byteLength(s, 'utf8');
    this.ensure(byteLength);
    this.buf.write(s, this.offset, 'utf8');
    if (byteLength > maxBytes) {
      throw new ProtocolError(
        'INVALID_MESSAGE',
        `${field} is ${byteLength} bytes, over its ${maxBytes}-byte limit`,
        {
          field,
          byteLength,
          maxBytes,
        },
      );
    }
    this.offset += byteLength;
    return byteLength;
  }

  /** int16-length string; null and "" are both length 0, as Seata writes them. */
  s16(s: string | null | undefined, field: string): void {
    if (!s) {
      this.i16(0);
      return;
    }
    const at = this.offset;
    this.i16(0);
    const n = this.utf8(s, INT16_MAX, field);
    this.buf.writeInt16BE(n, at);
  }

  /** int8-length string (seata-go's failure message). */
  s8(s: string | null | undefined, field: string): void {
    if (!s) {
      this.u8(0);
      return;
    }
    const at = this.offset;
    this.u8(0);
    const n = this.utf8(s, 0xff, field);
    this.buf[at] = n;
  }

  /** int32-length string; null is length 0. */
  s32(s: string | null | undefined, field: string): void {
    if (!s) {
      this.i32(0);
      return;
    }
    const at = this.offset;
    this.i32(0);
    const n = this.utf8(s, INT32_MAX, field);
    this.buf.writeInt32BE(n, at);
  }

  /** A copy-free view of what was written. */
  result(): Buffer {
    return this.buf.subarray(0, this.offset);
  }
}

/**
 * Cuts `s` to at most `maxBytes` UTF-8 bytes without splitting a character. Seata truncates a
 * failure message before writing it; it counts chars, which can still overflow int16, so dtx
 * counts bytes.
 */
export function truncateUtf8(s: string, maxBytes: number): string {
  if (Buffer.byteLength(s, 'utf8') <= maxBytes) return s;
  const b = Buffer.from(s, 'utf8');
  let end = maxBytes;
  // Step back over continuation bytes (10xxxxxx) so the cut lands on a character boundary.
  while (end > 0 && ((b[end] as number) & 0xc0) === 0x80) end--;
  return b.subarray(0, end).toString('utf8');
}
