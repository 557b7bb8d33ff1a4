/**
 * A streaming decoder: feed it the bytes of a connection in any chunking and it returns each
 * frame as soon as its last byte arrives. It checks magic and version as soon as those bytes
 * are in, checks fullLength against the limit before it reserves room for a frame, and after
 * the first error it refuses all further input: a framing error leaves no way to resynchronise.
 */
import { MAX_FRAME_LENGTH } from './constants.js';
import { ProtocolError } from './errors.js';
import { checkFrameStart, decodeFrameAt, type FrameOptions, type RpcMessage } from './frame.js';

const EMPTY = Buffer.alloc(0);

/** Incremental frame decoder for one connection. Not shared between connections. */
export class FrameDecoder {
  private buf: Buffer = EMPTY;
  private owned = false;
  private start = 0;
  private end = 0;
  private failure: ProtocolError | null = null;
  private readonly max: number;

  constructor(private options: FrameOptions = {}) {
    this.max = options.maxFrameLength ?? MAX_FRAME_LENGTH;
  }

  /** Changes the codec options for frames decoded from now on (after a peer's registration, say). */
  setOptions(options: FrameOptions): void {
    this.options = { ...options, maxFrameLength: this.max };
  }

  /** Bytes received but not yet part of a whole frame. */
  get bufferedBytes(): number {
    return this.end - this.start;
  }

  /** The error that stopped this decoder, if any. */
  get error(): ProtocolError | null {
    return this.failure;
  }

  /** Appends a chunk and returns the frames it completed. Throws ProtocolError on bad input. */
  push(chunk: Buffer): RpcMessage[] {
    if (this.failure) throw this.failure;
    if (chunk.length === 0) return [];
    this.append(chunk);
    const frames: RpcMessage[] = [];
    try {
      while (this.end > this.start) {
        const available = this.end - this.start;
        const fullLength = checkFrameStart(this.buf, this.start, available, this.max);
        if (fullLength === null || available < fullLength) break;
        const frame = decodeFrameAt(this.buf, this.start, fullLength, this.options);
        this.start += fullLength;
        frames.push(frame);
      }
    } catch (err) {
      this.failure =
        err instanceof ProtocolError
          ? err
          : new ProtocolError(
              'BAD_LENGTH',
              `undecodable frame: ${(err as Error).message}`,
              {},
              { cause: err },
            );
      this.buf = EMPTY;
      this.start = this.end = 0;
      throw this.failure;
    }
    if (this.start === this.end) {
      // Everything consumed: drop the reference so a large chunk can be collected.
      this.buf = EMPTY;
      this.owned = false;
      this.start = this.end = 0;
    }
    return frames;
  }

  private append(chunk: Buffer): void {
    if (this.start === this.end) {
      // Nothing pending: decode straight from the chunk, no copy.
      this.buf = chunk;
      this.owned = false;
      this.start = 0;
      this.end = chunk.length;
      return;
    }
    const pending = this.end - this.start;
    if (this.owned && this.buf.length - this.end >= chunk.length) {
      chunk.copy(this.buf, this.end);
      this.end += chunk.length;
      return;
    }
    // Grow from what has actually arrived, never from a length field; at most the frame limit
    // plus one chunk, since a pending prefix longer than the limit has already been refused.
    const needed = pending + chunk.length;
    const size = Math.max(needed, Math.min(needed * 2, this.max + chunk.length));
    const next = Buffer.allocUnsafe(size);
    this.buf.copy(next, 0, this.start, this.end);
    chunk.copy(next, pending);
    this.buf = next;
    this.owned = true;
    this.start = 0;
    this.end = needed;
  }
}
