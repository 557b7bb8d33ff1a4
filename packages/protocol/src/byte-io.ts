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
const INT64_MIN = -(2n ** 63n);
const INT64_MAX = 2n ** 63n - 1n;

/** Node's own one-step string copies (what `buf.write` and `buf.toString` call after their checks). */
interface NodeBufferCopies {
  utf8Write(s: string, offset: number): number;
  latin1Slice(start: number, end: number): string;
}

// int64 fields go through a DataView: one builtin call and one bigint, where Buffer's
// readBigInt64BE/writeBigInt64BE build the value from several intermediate bigints (3-5x slower).
// The view of the last ArrayBuffer seen is kept: frames of one socket read share it.
let viewedBuffer: ArrayBufferLike | null = null;
let view: DataView | null = null;

function viewOf(buf: Buffer): DataView {
  if (buf.buffer !== viewedBuffer || view === null) {
    viewedBuffer = buf.buffer;
    view = new DataView(buf.buffer);
  }
  return view;
}

/** Reads primitives from `buf[start, end)`. */
export class ByteReader {
  offset: number;
  end: number;

  constructor(
    public buf: Buffer,
    start = 0,
    end = buf.length,
  ) {
    this.offset = start;
    this.end = end;
  }

  /** Points the reader at another range, so one reader can serve many frames. */
  reset(buf: Buffer, start: number, end: number): void {
    this.buf = buf;
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

  // Bounds are checked by need(); the bytes are then read directly, without Buffer's own checks.

  i16(field: string): number {
    this.need(2, field);
    const b = this.buf;
    const o = this.offset;
    this.offset = o + 2;
    return (((b[o] as number) << 24) | ((b[o + 1] as number) << 16)) >> 16;
  }

  u16(field: string): number {
    this.need(2, field);
    const b = this.buf;
    const o = this.offset;
    this.offset = o + 2;
    return ((b[o] as number) << 8) | (b[o + 1] as number);
  }

  i32(field: string): number {
    this.need(4, field);
    const b = this.buf;
    const o = this.offset;
    this.offset = o + 4;
    return (
      ((b[o] as number) << 24) |
      ((b[o + 1] as number) << 16) |
      ((b[o + 2] as number) << 8) |
      (b[o + 3] as number)
    );
  }

  i64(field: string): bigint {
    this.need(8, field);
    const v = viewOf(this.buf).getBigInt64(this.buf.byteOffset + this.offset);
    this.offset += 8;
    return v;
  }

  f64(field: string): number {
    this.need(8, field);
    const v = viewOf(this.buf).getFloat64(this.buf.byteOffset + this.offset);
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
      if (i === end) return (buf as unknown as NodeBufferCopies).latin1Slice(start, end);
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

/** Stores the low 16 bits of `v` big-endian at `buf[at]`; the caller has checked range and room. */
export function put16(buf: Buffer, at: number, v: number): void {
  buf[at] = (v >>> 8) & 0xff;
  buf[at + 1] = v & 0xff;
}

/** Stores `v` as a big-endian 32-bit value at `buf[at]`; the caller has checked range and room. */
export function put32(buf: Buffer, at: number, v: number): void {
  buf[at] = (v >>> 24) & 0xff;
  buf[at + 1] = (v >>> 16) & 0xff;
  buf[at + 2] = (v >>> 8) & 0xff;
  buf[at + 3] = v & 0xff;
}

/** Appends primitives to a growing buffer. */
export class ByteWriter {
  buf: Buffer;
  offset = 0;

  constructor(initial = 256) {
    this.buf = Buffer.allocUnsafe(initial);
  }

  /** Makes room for `n` more bytes at `offset` (a writer made with 0 bytes starts at 256). */
  ensure(n: number): void {
    if (this.offset + n <= this.buf.length) return;
    let size = Math.max(this.buf.length * 2, 256);
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
    put16(this.buf, this.offset, v);
    this.offset += 2;
  }

  i16(v: number): void {
    checkRange(v, -0x8000, 0x7fff, 'int16');
    this.ensure(2);
    put16(this.buf, this.offset, v);
    this.offset += 2;
  }

  i32(v: number): void {
    checkRange(v, -0x80000000, 0x7fffffff, 'int32');
    this.ensure(4);
    put32(this.buf, this.offset, v);
    this.offset += 4;
  }

  i64(v: bigint): void {
    if (typeof v !== 'bigint' || v < INT64_MIN || v > INT64_MAX) {
      throw new ProtocolError('INVALID_MESSAGE', `${String(v)} does not fit an int64 field`, {
        value: String(v),
      });
    }
    this.ensure(8);
    viewOf(this.buf).setBigInt64(this.buf.byteOffset + this.offset, v);
    this.offset += 8;
  }

  f64(v: number): void {
    this.ensure(8);
    viewOf(this.buf).setFloat64(this.buf.byteOffset + this.offset, v);
    this.offset += 8;
  }

  bytes(b: Buffer): void {
    this.ensure(b.length);
    b.copy(this.buf, this.offset);
    this.offset += b.length;
  }

  /** Writes a UTF-8 string's bytes at the current offset, returning how many were written. */
  private utf8(s: string, maxBytes: number, field: string): number {
    // One pass when the worst case (3 bytes per UTF-16 unit) fits: write and count. Otherwise
    // count first, so a string near the end of the buffer does not double it for nothing.
    if (this.offset + s.length * 3 > this.buf.length) this.ensure(Buffer.byteLength(s, 'utf8'));
    const byteLength = (this.buf as unknown as NodeBufferCopies).utf8Write(s, this.offset);
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
    this.ensure(2);
    const at = this.offset;
    this.offset += 2;
    const n = this.utf8(s, INT16_MAX, field);
    put16(this.buf, at, n);
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
    this.ensure(4);
    const at = this.offset;
    this.offset += 4;
    const n = this.utf8(s, INT32_MAX, field);
    put32(this.buf, at, n);
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
