/**
 * Small shared test helpers: a seeded PRNG, chunkers for feeding a FrameDecoder, and an
 * assertion for ProtocolError codes. Not a test file.
 */
import assert from 'node:assert/strict';
import { FrameDecoder, type FrameOptions, ProtocolError, type RpcMessage } from '../src/index.js';

/** mulberry32: a tiny seeded PRNG, so a failing random test can be replayed from its seed. */
export function prng(seed: number): () => number {
  let a = seed >>> 0;
  return () => {
    a = (a + 0x6d2b79f5) >>> 0;
    let t = a;
    t = Math.imul(t ^ (t >>> 15), t | 1);
    t ^= t + Math.imul(t ^ (t >>> 7), t | 61);
    return ((t ^ (t >>> 14)) >>> 0) / 4294967296;
  };
}

/** A random integer in [min, max]. */
export function randInt(rnd: () => number, min: number, max: number): number {
  return min + Math.floor(rnd() * (max - min + 1));
}

/** The seed for a random test: DTX_TEST_SEED if set, else a fresh one. */
export function testSeed(): number {
  const fromEnv = process.env.DTX_TEST_SEED;
  return fromEnv ? Number(fromEnv) >>> 0 : (Math.random() * 2 ** 32) >>> 0;
}

/** Splits `buf` into consecutive pieces of random sizes in [1, maxChunk] (copies, so no aliasing). */
export function randomChunks(buf: Buffer, rnd: () => number, maxChunk: number): Buffer[] {
  const out: Buffer[] = [];
  let at = 0;
  while (at < buf.length) {
    const n = Math.min(buf.length - at, randInt(rnd, 1, maxChunk));
    out.push(Buffer.from(buf.subarray(at, at + n)));
    at += n;
  }
  return out;
}

/** Splits `buf` into pieces of exactly `size` bytes (the last may be shorter). */
export function fixedChunks(buf: Buffer, size: number): Buffer[] {
  const out: Buffer[] = [];
  for (let at = 0; at < buf.length; at += size) out.push(Buffer.from(buf.subarray(at, at + size)));
  return out;
}

/** Feeds every chunk to a fresh decoder and returns all frames, checking nothing is left over. */
export function decodeChunks(chunks: Buffer[], options?: FrameOptions): RpcMessage[] {
  const decoder = new FrameDecoder(options);
  const frames: RpcMessage[] = [];
  for (const chunk of chunks) frames.push(...decoder.push(chunk));
  assert.equal(decoder.bufferedBytes, 0, 'bytes left in the decoder after the last frame');
  return frames;
}

/** Asserts `fn` throws a ProtocolError with `code` and returns it, so details can be checked. */
export function expectProtocolError(fn: () => unknown, code: string): ProtocolError {
  let caught: unknown;
  try {
    fn();
  } catch (err) {
    caught = err;
  }
  assert.ok(caught !== undefined, `expected ProtocolError ${code}, but nothing was thrown`);
  assert.ok(
    caught instanceof ProtocolError,
    `expected ProtocolError ${code}, got ${(caught as Error)?.constructor?.name}: ${String(caught)}`,
  );
  assert.equal(caught.code, code, `expected code ${code}, got ${caught.code}: ${caught.message}`);
  assert.equal(caught.name, 'ProtocolError');
  assert.ok(caught.message.startsWith(`${code}: `), `message should start with the code: ${caught.message}`);
  return caught;
}

/** A 16-byte v1 header followed by `rest`, with fullLength and headLength filled in. */
export function rawFrame(
  fields: { frameType?: number; codec?: number; compressor?: number; id?: number; headMap?: Buffer },
  body: Buffer,
): Buffer {
  const head = fields.headMap ?? Buffer.alloc(0);
  const h = Buffer.alloc(16);
  h.writeUInt16BE(0xdada, 0);
  h[2] = 1;
  h.writeInt32BE(16 + head.length + body.length, 3);
  h.writeInt16BE(16 + head.length, 7);
  h[9] = fields.frameType ?? 0;
  h[10] = fields.codec ?? 1;
  h[11] = fields.compressor ?? 0;
  h.writeInt32BE(fields.id ?? 1, 12);
  return Buffer.concat([h, head, body]);
}
