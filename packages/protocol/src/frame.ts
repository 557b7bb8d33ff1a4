/**
 * The v1 frame (ProtocolEncoderV1 / ProtocolDecoderV1):
 *
 *   0  magic 0xdada (2)      7  headLength (2)    11 compressor (1)
 *   2  version 1 (1)         9  messageType (1)   12 requestId (4)
 *   3  fullLength (4)       10  codec (1)         16 head map, then body
 *
 * Big-endian throughout. The body is compress(int16 typeCode + fields); heartbeats have none.
 */
import { type CodecOptions, decodeBody, encodeBodyInto } from './body-codec.js';
import { ByteReader, ByteWriter, put16, put32 } from './byte-io.js';
import { compress, decompress, isCompressorSupported } from './compressor.js';
import {
  Codec,
  Compressor,
  FrameType,
  MAGIC,
  MAX_FRAME_LENGTH,
  memberSet,
  nameOf,
  PROTOCOL_VERSION,
  V1_HEAD_LENGTH,
} from './constants.js';
import { ProtocolError } from './errors.js';
import type { Message } from './messages.js';

/** Head map entries. A null value is written with length -1, as HeadMapSerializer does. */
export type HeadMap = Map<string, string | null>;

/** One frame: the RpcMessage of Seata's remoting layer. */
export interface RpcMessage {
  /** Positive 31-bit request id; a response carries its request's id. */
  id: number;
  frameType: FrameType;
  /** @default Codec.SEATA */
  codec?: number;
  /** @default Compressor.NONE */
  compressor?: number;
  headMap?: HeadMap | null;
  /** Null for heartbeats, which carry no body. */
  body: Message | null;
}

/** Options for encoding and decoding frames. */
export interface FrameOptions extends CodecOptions {
  /**
   * Largest fullLength accepted or produced.
   * @default 8 MiB (MAX_FRAME_LENGTH)
   */
  maxFrameLength?: number;
}

const FRAME_TYPES = memberSet(FrameType);
const COMPRESSORS = memberSet(Compressor);

function isHeartbeat(frameType: number): boolean {
  return frameType === FrameType.HEARTBEAT_REQUEST || frameType === FrameType.HEARTBEAT_RESPONSE;
}

/** Encodes one frame. */
export function encodeFrame(msg: RpcMessage, options: FrameOptions = {}): Buffer {
  const w = new ByteWriter(msg.body ? 256 : 32);
  encodeFrameInto(w, msg, options);
  return w.result();
}

/**
 * Encodes one frame at `w.offset`, so that many frames can share one buffer (a session's
 * outbound batch). On a throw, `w.offset` is back where it was. Returns the frame's length.
 */
export function encodeFrameInto(w: ByteWriter, msg: RpcMessage, options: FrameOptions = {}): number {
  const start = w.offset;
  try {
    return writeFrame(w, start, msg, options);
  } catch (err) {
    w.offset = start;
    throw err;
  }
}

function writeFrame(w: ByteWriter, start: number, msg: RpcMessage, options: FrameOptions): number {
  const codec = msg.codec ?? Codec.SEATA;
  const compressor = msg.compressor ?? Compressor.NONE;
  const max = options.maxFrameLength ?? MAX_FRAME_LENGTH;
  if (codec !== Codec.SEATA) {
    throw new ProtocolError(
      'UNSUPPORTED_CODEC',
      `codec ${codec} (${nameOf(Codec, codec)}) is not supported`,
      { codec },
    );
  }
  if (!FRAME_TYPES.has(msg.frameType)) {
    throw new ProtocolError('UNKNOWN_FRAME_TYPE', `frame type ${msg.frameType} is not defined`, {
      frameType: msg.frameType,
    });
  }
  const id = msg.id;
  if (!Number.isInteger(id) || id < -0x80000000 || id > 0x7fffffff) {
    throw new ProtocolError('INVALID_MESSAGE', `request id ${String(id)} does not fit an int32 field`, {
      id,
    });
  }
  if (!Number.isInteger(compressor) || compressor < 0 || compressor > 0xff) {
    throw new ProtocolError('INVALID_MESSAGE', `compressor ${String(compressor)} does not fit a byte`, {
      compressor,
    });
  }
  w.ensure(V1_HEAD_LENGTH);
  const b = w.buf;
  put16(b, start, MAGIC);
  b[start + 2] = PROTOCOL_VERSION;
  // fullLength (3..6) and headLength (7..8) are patched below
  b[start + 9] = msg.frameType;
  b[start + 10] = codec;
  b[start + 11] = compressor;
  put32(b, start + 12, id);
  w.offset = start + V1_HEAD_LENGTH;
  if (msg.headMap && msg.headMap.size > 0) {
    for (const [key, value] of msg.headMap) {
      w.s16(key, 'headMap.key');
      if (value === null) w.i16(-1);
      else w.s16(value, 'headMap.value');
    }
  }
  const headLength = w.offset - start;
  if (headLength > 0x7fff) {
    throw new ProtocolError(
      'INVALID_MESSAGE',
      `head map of ${headLength - V1_HEAD_LENGTH} bytes is too large`,
      {
        headLength,
      },
    );
  }
  if (!isHeartbeat(msg.frameType)) {
    if (!msg.body) {
      throw new ProtocolError(
        'INVALID_MESSAGE',
        `a frame of type ${nameOf(FrameType, msg.frameType)} needs a body`,
        {
          frameType: msg.frameType,
        },
      );
    }
    if (compressor === Compressor.NONE) {
      encodeBodyInto(w, msg.body, options);
    } else {
      const inner = new ByteWriter(256);
      encodeBodyInto(inner, msg.body, options);
      if (!isCompressorSupported(compressor)) compress(compressor, inner.result()); // throws the clear error
      w.bytes(compress(compressor, inner.result()));
    }
  }
  const length = w.offset - start;
  if (length > max) {
    throw new ProtocolError('FRAME_TOO_LARGE', `frame of ${length} bytes exceeds the ${max}-byte limit`, {
      fullLength: length,
      maxFrameLength: max,
    });
  }
  put32(w.buf, start + 3, length);
  put16(w.buf, start + 7, headLength);
  return length;
}

/** Reads a head map from `buf[start, end)`. */
function decodeHeadMap(buf: Buffer, start: number, end: number): HeadMap {
  const map: HeadMap = new Map();
  const r = new ByteReader(buf, start, end);
  const readString = (field: string): string | null => {
    const len = r.i16(field);
    if (len === -1) return null;
    if (len < -1)
      throw new ProtocolError('BAD_HEAD_MAP', `${field} length ${len} is invalid`, { field, length: len });
    return len === 0 ? '' : r.utf8(len, field);
  };
  try {
    while (r.remaining > 0) {
      const key = readString('headMap.key');
      const value = readString('headMap.value');
      if (key !== null) map.set(key, value);
    }
  } catch (err) {
    if (err instanceof ProtocolError && err.code === 'TRUNCATED') {
      throw new ProtocolError(
        'BAD_HEAD_MAP',
        `head map is truncated: ${err.message}`,
        { ...err.details },
        { cause: err },
      );
    }
    throw err;
  }
  return map;
}

/**
 * Validates the 16-byte header at `buf[offset]` and returns fullLength. Needs at least 7 bytes
 * for the length; checks magic and version as soon as their bytes are there.
 */
export function checkFrameStart(buf: Buffer, offset: number, available: number, max: number): number | null {
  if (available >= 1 && buf[offset] !== 0xda) {
    throw new ProtocolError('BAD_MAGIC', `bad magic byte 0x${(buf[offset] as number).toString(16)}`, {
      offset: 0,
      byte: buf[offset],
    });
  }
  if (available >= 2 && buf[offset + 1] !== 0xda) {
    throw new ProtocolError('BAD_MAGIC', `bad magic byte 0x${(buf[offset + 1] as number).toString(16)}`, {
      offset: 1,
      byte: buf[offset + 1],
    });
  }
  if (available >= 3 && buf[offset + 2] !== PROTOCOL_VERSION) {
    throw new ProtocolError(
      'UNSUPPORTED_VERSION',
      `protocol version ${buf[offset + 2]} is not supported (only 1)`,
      {
        version: buf[offset + 2],
      },
    );
  }
  if (available < 7) return null;
  const fullLength = buf.readInt32BE(offset + 3);
  if (fullLength < V1_HEAD_LENGTH) {
    throw new ProtocolError('BAD_LENGTH', `fullLength ${fullLength} is shorter than the 16-byte header`, {
      fullLength,
    });
  }
  if (fullLength > max) {
    throw new ProtocolError('FRAME_TOO_LARGE', `fullLength ${fullLength} exceeds the ${max}-byte limit`, {
      fullLength,
      maxFrameLength: max,
    });
  }
  return fullLength;
}

/**
 * Decodes one complete frame occupying exactly `buf[offset, offset + fullLength)`; the caller
 * (FrameDecoder) has already checked magic, version and fullLength.
 */
export function decodeFrameAt(
  buf: Buffer,
  offset: number,
  fullLength: number,
  options: FrameOptions = {},
): RpcMessage {
  const headLength = buf.readInt16BE(offset + 7);
  if (headLength < V1_HEAD_LENGTH || headLength > fullLength) {
    throw new ProtocolError('BAD_LENGTH', `headLength ${headLength} does not fit fullLength ${fullLength}`, {
      headLength,
      fullLength,
    });
  }
  const frameType = buf[offset + 9] as number;
  const codec = buf[offset + 10] as number;
  const compressor = buf[offset + 11] as number;
  const id =
    ((buf[offset + 12] as number) << 24) |
    ((buf[offset + 13] as number) << 16) |
    ((buf[offset + 14] as number) << 8) |
    (buf[offset + 15] as number);
  if (!FRAME_TYPES.has(frameType)) {
    throw new ProtocolError('UNKNOWN_FRAME_TYPE', `frame type ${frameType} is not defined`, {
      frameType,
      id,
    });
  }
  if (codec !== Codec.SEATA) {
    throw new ProtocolError(
      'UNSUPPORTED_CODEC',
      `codec ${codec} (${nameOf(Codec, codec)}) is not supported`,
      {
        codec,
        id,
      },
    );
  }
  if (!COMPRESSORS.has(compressor)) {
    throw new ProtocolError('UNSUPPORTED_COMPRESSOR', `compressor ${compressor} is not defined`, {
      compressor,
      id,
    });
  }
  const headMap =
    headLength > V1_HEAD_LENGTH ? decodeHeadMap(buf, offset + V1_HEAD_LENGTH, offset + headLength) : null;
  const rpc: RpcMessage = { id, frameType: frameType as FrameType, codec, compressor, headMap, body: null };
  // ProtocolDecoderV1 reads no body for heartbeats, whatever the lengths say.
  if (isHeartbeat(frameType)) return rpc;
  const bodyStart = offset + headLength;
  const bodyEnd = offset + fullLength;
  if (bodyEnd - bodyStart < 2) {
    throw new ProtocolError(
      'TRUNCATED',
      `frame ${id} of type ${frameType} has a ${bodyEnd - bodyStart}-byte body`,
      {
        field: 'body',
        id,
        bodyLength: bodyEnd - bodyStart,
      },
    );
  }
  if (compressor === Compressor.NONE) {
    rpc.body = decodeBody(buf, options, bodyStart, bodyEnd);
  } else {
    const raw = decompress(
      compressor,
      buf.subarray(bodyStart, bodyEnd),
      options.maxFrameLength ?? MAX_FRAME_LENGTH,
    );
    rpc.body = decodeBody(raw, options);
  }
  return rpc;
}

/** Decodes a buffer holding exactly one frame. */
export function decodeFrame(buf: Buffer, options: FrameOptions = {}): RpcMessage {
  const max = options.maxFrameLength ?? MAX_FRAME_LENGTH;
  const fullLength = checkFrameStart(buf, 0, buf.length, max);
  if (fullLength === null || buf.length < V1_HEAD_LENGTH) {
    throw new ProtocolError('TRUNCATED', `frame needs 16 header bytes, got ${buf.length}`, {
      field: 'header',
      length: buf.length,
    });
  }
  if (fullLength !== buf.length) {
    throw new ProtocolError(
      'BAD_LENGTH',
      `fullLength ${fullLength} disagrees with the ${buf.length} bytes given`,
      {
        fullLength,
        length: buf.length,
      },
    );
  }
  return decodeFrameAt(buf, 0, fullLength, options);
}
