/**
 * Bounded-time fuzzing of the decoders: random bytes and mutated real frames, in random
 * chunkings. The decoders may only ever throw ProtocolError, may only return well-formed frames,
 * and every push must return promptly. Seeded: set FUZZ_SEED to replay a failure, FUZZ_MS to
 * run longer.
 */
import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import {
  Compressor,
  decodeFrame,
  encodeFrame,
  FrameDecoder,
  FrameType,
  ProtocolError,
  type RpcMessage,
  TypeCode,
} from '../src/index.js';
import { prng, randInt, randomChunks, rawFrame } from './helpers.js';
import { loadVectors } from './vectors.js';

const FUZZ_MS = Number(process.env.FUZZ_MS ?? 3000);
const SEED = process.env.FUZZ_SEED ? Number(process.env.FUZZ_SEED) >>> 0 : (Math.random() * 2 ** 32) >>> 0;
/** Generous: a push that takes this long on a few hundred bytes is looping or over-allocating. */
const SLOW_PUSH_MS = 1000;

const { vectors, transcript } = loadVectors();
const TYPE_CODES = new Set<number>(Object.values(TypeCode));

/** Valid frames to mutate: every vector, plus compressed and head-mapped re-encodings of some. */
function corpus(): Buffer[] {
  const frames = [...vectors.map((v) => v.bytes), ...transcript.map((t) => t.bytes)];
  const extra: Buffer[] = [];
  for (const bytes of frames.slice(0, 12)) {
    const m = decodeFrame(bytes);
    if (m.body === null) continue;
    for (const compressor of [Compressor.GZIP, Compressor.ZIP, Compressor.DEFLATER]) {
      extra.push(encodeFrame({ ...m, compressor }));
    }
    extra.push(
      encodeFrame({
        ...m,
        headMap: new Map([
          ['trace', 'x'],
          ['k', null],
        ]),
      }),
    );
  }
  // A deep merge nesting, built by hand, as a mutation seed for the batch paths.
  let inner = Buffer.from('00010000ea60000474657374', 'hex');
  for (let i = 0; i < 4; i++) {
    const h = Buffer.alloc(8);
    h.writeInt16BE(TypeCode.SEATA_MERGE, 0);
    h.writeInt32BE(inner.length + 2, 2);
    h.writeInt16BE(1, 6);
    inner = Buffer.concat([h, inner]);
  }
  extra.push(rawFrame({ frameType: FrameType.REQUEST_ONEWAY }, inner));
  return [...frames, ...extra];
}

const INTERESTING_32 = [
  0, 1, 2, 15, 16, 17, -1, -2, 0x7fff, 0x8000, 0xffff, 0x7fffffff, -0x80000000, 0x800000, 0x800001,
];
const INTERESTING_16 = [0, 1, 2, 15, 16, 17, -1, -2, 0x7fff, -0x8000, 0x3b, 0x3c, 0x79];
const INTERESTING_8 = [0x00, 0x01, 0x02, 0x03, 0x7f, 0x80, 0xff, 0xda, 0x16, 0x3b];

function mutate(src: Buffer, rnd: () => number): Buffer {
  let b = Buffer.from(src);
  const n = randInt(rnd, 1, 4);
  for (let i = 0; i < n; i++) {
    if (b.length === 0) b = Buffer.from([0xda]);
    const at = randInt(rnd, 0, b.length - 1);
    switch (randInt(rnd, 0, 8)) {
      case 0: // bit flip
        b[at] = (b[at] as number) ^ (1 << randInt(rnd, 0, 7));
        break;
      case 1: // truncation
        b = b.subarray(0, randInt(rnd, 0, b.length - 1));
        break;
      case 2: {
        // overwrite fullLength or headLength
        const v = INTERESTING_32[randInt(rnd, 0, INTERESTING_32.length - 1)] as number;
        if (b.length >= 7 && rnd() < 0.5) b.writeInt32BE(v | 0, 3);
        else if (b.length >= 9) b.writeInt16BE((v << 16) >> 16, 7);
        break;
      }
      case 3: {
        // overwrite an inner length field (int16 or int32) anywhere
        if (rnd() < 0.5 && at + 2 <= b.length) {
          b.writeInt16BE(INTERESTING_16[randInt(rnd, 0, INTERESTING_16.length - 1)] as number, at);
        } else if (at + 4 <= b.length) {
          b.writeInt32BE((INTERESTING_32[randInt(rnd, 0, INTERESTING_32.length - 1)] as number) | 0, at);
        }
        break;
      }
      case 4: {
        // byte insertion
        const ins = Buffer.from([randInt(rnd, 0, 255)]);
        b = Buffer.concat([b.subarray(0, at), ins, b.subarray(at)]);
        break;
      }
      case 5: // byte deletion
        b = Buffer.concat([b.subarray(0, at), b.subarray(at + 1)]);
        break;
      case 6: // interesting byte
        b[at] = INTERESTING_8[randInt(rnd, 0, INTERESTING_8.length - 1)] as number;
        break;
      case 7: {
        // an interesting int16 at a structural offset: the head map's first length, the type
        // code, or the body's first field
        const headLength = b.length >= 9 ? b.readInt16BE(7) : 16;
        const where = [16, 18, headLength, headLength + 2, headLength + 3][randInt(rnd, 0, 4)] as number;
        if (where >= 0 && where + 2 <= b.length) {
          b.writeInt16BE(INTERESTING_16[randInt(rnd, 0, INTERESTING_16.length - 1)] as number, where);
        }
        break;
      }
      default: {
        // insertion and fix-up of fullLength, so the damage reaches the body decoder
        const ins = Buffer.alloc(randInt(rnd, 1, 8));
        for (let j = 0; j < ins.length; j++) ins[j] = randInt(rnd, 0, 255);
        b = Buffer.concat([b.subarray(0, at), ins, b.subarray(at)]);
        if (b.length >= 7) b.writeInt32BE(b.length, 3);
      }
    }
  }
  return b;
}

function randomBytes(rnd: () => number): Buffer {
  const b = Buffer.alloc(randInt(rnd, 0, 96));
  for (let i = 0; i < b.length; i++) b[i] = randInt(rnd, 0, 255);
  // Half the time give it a plausible header so the fuzz reaches past the magic check.
  if (rnd() < 0.5 && b.length >= 16) {
    b.writeUInt16BE(0xdada, 0);
    b[2] = 1;
    b.writeInt32BE(b.length, 3);
    b.writeInt16BE(16, 7);
    b[9] = randInt(rnd, 0, 4);
    b[10] = 1;
    b[11] = rnd() < 0.8 ? 0 : randInt(rnd, 0, 7);
  }
  return b;
}

/** Only ProtocolErrors, and not ones that merely wrap a JavaScript error the codec let escape. */
function checkError(err: unknown, where: string): ProtocolError {
  if (!(err instanceof ProtocolError)) {
    throw new Error(`${where}: threw ${(err as Error)?.constructor?.name}: ${String(err)}`, { cause: err });
  }
  const cause = err.cause;
  if (err.code !== 'DECOMPRESS_FAILED' && cause !== undefined && !(cause instanceof ProtocolError)) {
    throw new Error(`${where}: ProtocolError wrapping ${String(cause)}`, { cause });
  }
  return err;
}

/** A returned frame must be a whole, well-typed frame that can be encoded again. */
function checkFrame(f: RpcMessage, where: string): void {
  assert.ok(Number.isInteger(f.id), `${where}: id`);
  assert.ok(Object.values(FrameType).includes(f.frameType as never), `${where}: frameType ${f.frameType}`);
  assert.equal(f.codec, 1, `${where}: codec`);
  assert.ok(f.headMap === null || f.headMap instanceof Map, `${where}: headMap`);
  const heartbeat =
    f.frameType === FrameType.HEARTBEAT_REQUEST || f.frameType === FrameType.HEARTBEAT_RESPONSE;
  if (heartbeat) assert.equal(f.body, null, `${where}: heartbeat body`);
  else {
    assert.ok(f.body && TYPE_CODES.has(f.body.typeCode), `${where}: body type code`);
    assert.notEqual(f.body.typeCode, TypeCode.HEARTBEAT_MSG);
  }
  try {
    encodeFrame(f);
  } catch (err) {
    throw new Error(`${where}: a decoded frame does not encode again: ${String(err)}`, { cause: err });
  }
}

function timed<T>(fn: () => T, where: string): T {
  const t0 = performance.now();
  let result: T;
  try {
    result = fn();
  } catch (err) {
    checkSlow(t0, where);
    throw err;
  }
  checkSlow(t0, where);
  return result;
}

function checkSlow(t0: number, where: string): void {
  const ms = performance.now() - t0;
  if (ms > SLOW_PUSH_MS) throw new Error(`${where}: took ${ms.toFixed(0)} ms`);
}

function feed(
  input: Buffer,
  rnd: () => number,
  where: string,
): { frames: number; error: ProtocolError | null } {
  const options = rnd() < 0.2 ? { maxFrameLength: randInt(rnd, 16, 512) } : {};
  const decoder = new FrameDecoder(options);
  const chunks = randomChunks(input, rnd, [1, 2, 5, 17, 64, 4096][randInt(rnd, 0, 5)] as number);
  let frames = 0;
  for (let i = 0; i < chunks.length; i++) {
    let out: RpcMessage[];
    try {
      out = timed(() => decoder.push(chunks[i] as Buffer), `${where} push ${i}`);
    } catch (err) {
      const e = checkError(err, `${where} push ${i}`);
      // Poisoned: the same error again, and the decoder reports it.
      assert.throws(
        () => decoder.push(Buffer.from([0xda])),
        (again: unknown) => again === e,
      );
      assert.equal(decoder.error, e);
      return { frames, error: e };
    }
    assert.ok(Array.isArray(out), `${where}: push returned a non-array`);
    for (const f of out) checkFrame(f, `${where} frame ${frames++}`);
  }
  return { frames, error: null };
}

describe('fuzz', () => {
  it(`only ProtocolErrors and whole frames for ${FUZZ_MS} ms (seed ${SEED})`, (t) => {
    const rnd = prng(SEED);
    const seeds = corpus();
    const deadline = performance.now() + FUZZ_MS;
    let cases = 0;
    let decoded = 0;
    let errors = 0;
    const codes = new Map<string, number>();
    try {
      while (performance.now() < deadline || cases < 200) {
        let input: Buffer;
        const kind = randInt(rnd, 0, 9);
        if (kind === 0) input = randomBytes(rnd);
        else if (kind <= 6) input = mutate(seeds[randInt(rnd, 0, seeds.length - 1)] as Buffer, rnd);
        else {
          // A stream: some valid frames, then a mutated one, then more.
          const parts: Buffer[] = [];
          for (let i = randInt(rnd, 1, 4); i > 0; i--) {
            const s = seeds[randInt(rnd, 0, seeds.length - 1)] as Buffer;
            parts.push(rnd() < 0.3 ? mutate(s, rnd) : s);
          }
          input = Buffer.concat(parts);
        }
        const where = `case ${cases}`;
        // One-shot decoder on the whole buffer.
        let whole: RpcMessage | null = null;
        try {
          whole = timed(() => decodeFrame(input), `${where} decodeFrame`);
        } catch (err) {
          checkError(err, `${where} decodeFrame`);
        }
        if (whole) checkFrame(whole, `${where} decodeFrame`);
        // Streaming decoder in a random chunking.
        const result = feed(input, rnd, where);
        decoded += result.frames;
        if (result.error) {
          errors++;
          codes.set(result.error.code, (codes.get(result.error.code) ?? 0) + 1);
        }
        cases++;
      }
    } catch (err) {
      throw new Error(`fuzz failed; replay with FUZZ_SEED=${SEED}: ${(err as Error).message}`, {
        cause: err,
      });
    }
    t.diagnostic(`seed ${SEED}: ${cases} cases, ${decoded} frames, ${errors} rejected`);
    t.diagnostic(`codes: ${[...codes].map(([c, n]) => `${c}=${n}`).join(' ')}`);
    // The fuzz must actually reach both outcomes and many error kinds.
    assert.ok(decoded > 0, 'no frame ever decoded');
    assert.ok(errors > 0, 'no input was ever rejected');
    assert.ok(codes.size >= 8, `only these error codes were reached: ${[...codes.keys()].join(', ')}`);
  });
});
