/**
 * The main thread's side of the session log's writer thread (log-writer.ts): a ring of shared
 * memory the records are copied into, and a control block of positions counted in log bytes
 * since the store opened. The main thread moves `HEAD` and sets the segment; the writer moves
 * `TAIL`. Bytes between `TAIL` and `HEAD` belong to the writer until `TAIL` passes them.
 */
import { Worker } from 'node:worker_threads';

/** Slots of the control block's int64 part. */
export const LogSlot = {
  /** Log bytes copied into the ring. */
  Head: 0,
  /** Log bytes written (and synced, when the store syncs). */
  Tail: 1,
  /** The log offset at which the current segment's writes start… */
  SegmentLog: 2,
  /** …and the file position that offset goes to. */
  SegmentPosition: 3,
  Count: 4,
} as const;

/** Slots of the control block's int32 part. */
export const WriterSlot = {
  /** Bumped to wake a waiting writer. */
  Wake: 0,
  /** 1: the writer exits at its next look. */
  Stop: 1,
  /** The descriptor the writer writes with (O_DSYNC when the store syncs). */
  Fd: 2,
  Count: 3,
} as const;

/** What the writer thread is started with. */
export interface LogWriterData {
  ring: SharedArrayBuffer;
  control: SharedArrayBuffer;
}

/** A message from the writer: null after each write, or the error that stopped it. */
export type LogWriterMessage = null | { error: string; code: string | null };

/** The ring and the writer thread that empties it. */
export class LogRing {
  private readonly bytes: Buffer;
  private readonly big: BigInt64Array;
  private readonly i32: Int32Array;
  private readonly worker: Worker;
  private head = 0;
  private tail = 0;
  /** The current segment, as last set: log offset `segmentLog` goes to file position `segmentPosition`. */
  private segmentLog = 0;
  private segmentPosition = 0;
  private referenced = true;
  private stopping = false;
  private readonly exited: Promise<void>;

  private constructor(
    readonly size: number,
    onWritten: () => void,
    onError: (err: Error) => void,
  ) {
    const ring = new SharedArrayBuffer(size);
    const control = new SharedArrayBuffer(LogSlot.Count * 8 + WriterSlot.Count * 4);
    this.bytes = Buffer.from(ring);
    this.big = new BigInt64Array(control, 0, LogSlot.Count);
    this.i32 = new Int32Array(control, LogSlot.Count * 8, WriterSlot.Count);
    // Run from the TypeScript sources (tests under tsx), the thread still takes the compiled
    // file: Node 20 does not pass tsx's loader on to worker threads. `npm test` builds first.
    const file = import.meta.url.endsWith('.ts')
      ? '../../../dist/store/file/log-writer.js'
      : './log-writer.js';
    const data: LogWriterData = { ring, control };
    this.worker = new Worker(new URL(file, import.meta.url), {
      workerData: data,
      // It allocates next to nothing: a small heap keeps the thread's resident memory small.
      resourceLimits: { maxYoungGenerationSizeMb: 1, maxOldGenerationSizeMb: 8 },
    });
    this.worker.on('message', (m: LogWriterMessage) => {
      if (m === null) {
        this.tail = Number(Atomics.load(this.big, LogSlot.Tail));
        onWritten();
      } else {
        const err = new Error(m.error) as NodeJS.ErrnoException;
        if (m.code) err.code = m.code;
        onError(err);
      }
    });
    this.worker.on('error', onError);
    this.exited = new Promise((resolve) =>
      this.worker.once('exit', () => {
        if (!this.stopping) onError(new Error('the session log writer thread exited'));
        resolve();
      }),
    );
  }

  /** Starts the writer thread with a ring of `size` bytes. */
  static async start(size: number, onWritten: () => void, onError: (err: Error) => void): Promise<LogRing> {
    let failed: (err: Error) => void = () => {};
    const ring = new LogRing(size, onWritten, (err) => {
      failed(err);
      onError(err);
    });
    await new Promise<void>((resolve, reject) => {
      failed = reject;
      ring.worker.once('online', () => resolve());
    });
    failed = () => {};
    ring.idle();
    return ring;
  }

  /** Log bytes copied in so far. */
  get copied(): number {
    return this.head;
  }

  /** Log bytes written (and synced) so far, as of the writer's last message. */
  get written(): number {
    return this.tail;
  }

  /** True when the writer holds nothing: every byte copied in has been written. */
  get drained(): boolean {
    return this.head === this.tail;
  }

  /**
   * Points the writer at a segment: the log offset `copied` goes to `position` of `fd`. Only
   * while drained (the writer looks at these only after a new `HEAD`).
   */
  setSegment(fd: number, position: number): void {
    if (!this.drained) throw new Error('the session log writer is still writing');
    Atomics.store(this.i32, WriterSlot.Fd, fd);
    Atomics.store(this.big, LogSlot.SegmentLog, BigInt(this.head));
    Atomics.store(this.big, LogSlot.SegmentPosition, BigInt(position));
    this.segmentLog = this.head;
    this.segmentPosition = position;
  }

  /** The file position in the current segment where `more` bytes pushed after those copied so far would end. */
  filePosition(more = 0): number {
    return this.segmentPosition + (this.head - this.segmentLog) + more;
  }

  /**
   * Copies as much of `src[from, to)` as the ring has room for, hands it to the writer and
   * returns how many bytes it took.
   */
  push(src: Buffer, from: number, to: number): number {
    const n = Math.min(to - from, this.size - (this.head - this.tail));
    if (n <= 0) return 0;
    const at = this.head % this.size;
    const first = Math.min(n, this.size - at);
    src.copy(this.bytes, at, from, from + first);
    if (first < n) src.copy(this.bytes, 0, from + first, from + n);
    this.head += n;
    if (!this.referenced) {
      this.worker.ref();
      this.referenced = true;
    }
    Atomics.store(this.big, LogSlot.Head, BigInt(this.head));
    Atomics.add(this.i32, WriterSlot.Wake, 1);
    Atomics.notify(this.i32, WriterSlot.Wake);
    return n;
  }

  /** Lets the process exit while nothing is being written. */
  idle(): void {
    if (this.referenced && this.drained) {
      this.worker.unref();
      this.referenced = false;
    }
  }

  /** Stops the writer thread (after what it holds is written) and waits for it to exit. */
  async stop(): Promise<void> {
    this.stopping = true;
    this.worker.ref(); // its exit is awaited
    Atomics.store(this.i32, WriterSlot.Stop, 1);
    Atomics.add(this.i32, WriterSlot.Wake, 1);
    Atomics.notify(this.i32, WriterSlot.Wake);
    await this.exited;
  }
}
