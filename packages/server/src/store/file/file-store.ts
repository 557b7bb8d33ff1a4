/**
 * The embedded default store: a session log in `sessionStore/`.
 *
 * Each record is `u32 length | u32 generation | u32 crc32(generation + payload) | payload`
 * (payload = the record's binary form, see record-codec.ts; generation = the segment's number).
 * Records written in one event-loop turn are encoded into one batch and copied into a ring of
 * shared memory, from which a writer thread (log-ring.ts, log-writer.ts) writes them with one
 * O_DSYNC write at their place in a preallocated segment. While it writes, the next turns' records
 * collect in the ring, and it takes them all as soon as its write returns, without waiting for
 * this thread's event loop: group commit. A write's promise settles once the writer has written
 * and synced its record. Every batch is synced, so a record its caller does not wait for cannot
 * leave a hole that would end a replay before an acknowledged one. The segment is written in
 * place, so a durable write changes no file metadata (no journal commit for a new file size).
 * Segments are recycled: a record from an older generation marks the end of the log, so a reused
 * file needs no zero-filling. On open the log is replayed up to the first record of another
 * generation, or a torn or corrupt one. When a segment fills up, the live sessions are written to
 * the spare segment, which is renamed into place as the next generation, and the old segment
 * becomes the spare: compaction.
 */
import fs from 'node:fs';
import path from 'node:path';
import zlib from 'node:zlib';
import { TransactionError } from '@dtx/core';
import { ByteWriter } from '@dtx/protocol';
import type { GlobalSession } from '../../session/global-session.js';
import { applyOp, globalFromJson, globalToJson } from '../session-codec.js';
import type { SessionQuery, StoreOp, TransactionStore } from '../transaction-store.js';
import { LogRing } from './log-ring.js';
import { readOp, writeOp } from './record-codec.js';

/** File store options. */
export interface FileStoreOptions {
  /** @default './sessionStore' (Seata's store.file.dir) */
  dir: string;
  /**
   * Size of one log segment; when it is full the live sessions are compacted into the next.
   * @default 32 MiB
   */
  compactThresholdBytes: number;
  /**
   * Wait for the disk before a durable write settles. Off only for benchmarks that want to see the cost.
   * @default true
   */
  sync: boolean;
  /**
   * Size of the shared ring the records are copied into for the writer thread. A batch larger
   * than the room left is handed over in parts as the writer frees room.
   * @default 1 MiB
   */
  ringBytes: number;
}

/** Defaults of FileStoreOptions. */
export const DEFAULT_FILE_STORE_OPTIONS: Readonly<FileStoreOptions> = Object.freeze({
  dir: './sessionStore',
  compactThresholdBytes: 32 * 1024 * 1024,
  sync: true,
  ringBytes: 1024 * 1024,
});

const HEADER = 12;
const SPARE = 'dtx-session.spare';
const LOG_PATTERN = /^dtx-session-(\d+)\.log$/;
const MIN_SEGMENT = 64 * 1024;
const MIN_RING = 4096;
const ZERO_CHUNK = 1024 * 1024;
/** A batch buffer starts this big and is kept for the next batch unless it grew past REUSE_MAX. */
const BATCH_START = 16 * 1024;
const REUSE_MAX = 1024 * 1024;

/** A write waiting for the writer thread to pass `end` (a log offset). */
interface Waiter {
  end: number;
  resolve(value: boolean): void;
  reject(err: Error): void;
}

function storeError(message: string, cause?: unknown): TransactionError {
  return new TransactionError('FailedStore', message, { cause });
}

/**
 * Appends one record of segment `generation` to `w`. Throws (leaving `w` as it was) when the op
 * cannot be encoded.
 */
export function appendRecord(w: ByteWriter, op: StoreOp, generation: number): void {
  const at = w.offset;
  try {
    w.ensure(HEADER);
    w.offset += HEADER;
    writeOp(w, op);
  } catch (err) {
    w.offset = at;
    throw err;
  }
  const buf = w.buf;
  buf.writeUInt32BE(w.offset - at - HEADER, at);
  buf.writeUInt32BE(generation, at + 4);
  buf.writeUInt32BE(zlib.crc32(buf.subarray(at + HEADER, w.offset), generationCrc(generation)), at + 8);
}

let crcOf = -1;
let crcValue = 0;

/** The checksum of a generation's 4 bytes, where every record's checksum starts (one segment at a time). */
function generationCrc(generation: number): number {
  if (generation !== crcOf) {
    const bytes = Buffer.alloc(4);
    bytes.writeUInt32BE(generation);
    crcValue = zlib.crc32(bytes);
    crcOf = generation;
  }
  return crcValue;
}

/** One record of segment `generation`, on its own. */
export function encodeRecord(op: StoreOp, generation: number): Buffer {
  const w = new ByteWriter(256);
  appendRecord(w, op, generation);
  return w.result();
}

/**
 * Reads the records of segment `generation` from a log image; stops at a zero length (unused
 * space), a record of another generation (a recycled segment's old content), or an incomplete
 * or corrupt record.
 */
export function readRecords(data: Buffer, generation: number): { ops: StoreOp[]; validLength: number } {
  const ops: StoreOp[] = [];
  let at = 0;
  while (data.length - at >= HEADER) {
    const len = data.readUInt32BE(at);
    const gen = data.readUInt32BE(at + 4);
    const crc = data.readUInt32BE(at + 8);
    if (len === 0 || gen !== generation || data.length - at - HEADER < len) break;
    const body = data.subarray(at + HEADER, at + HEADER + len);
    if (zlib.crc32(body, generationCrc(gen)) !== crc) break;
    try {
      ops.push(readOp(data, at + HEADER, at + HEADER + len));
    } catch {
      break;
    }
    at += HEADER + len;
  }
  return { ops, validLength: at };
}

/** Writes `size` zero bytes into a new file and syncs it, so later in-place writes allocate nothing. */
async function preallocate(file: string, size: number): Promise<void> {
  const handle = await fs.promises.open(file, 'w');
  try {
    const zeros = Buffer.alloc(Math.min(ZERO_CHUNK, size));
    for (let at = 0; at < size; at += zeros.length) {
      await handle.write(zeros, 0, Math.min(zeros.length, size - at), at);
    }
    await handle.sync();
  } finally {
    await handle.close();
  }
}

function preallocateSync(file: string, size: number): void {
  const fd = fs.openSync(file, 'w');
  try {
    const zeros = Buffer.alloc(Math.min(ZERO_CHUNK, size));
    for (let at = 0; at < size; at += zeros.length)
      fs.writeSync(fd, zeros, 0, Math.min(zeros.length, size - at), at);
    fs.fsyncSync(fd);
  } finally {
    fs.closeSync(fd);
  }
}

/** The session log. */
export class FileStore implements TransactionStore {
  readonly kind = 'file';
  readonly shared = false;
  readonly options: FileStoreOptions;
  /** The store's own copy of the live sessions, for compaction and queries. */
  private readonly live = new Map<string, GlobalSession>();
  /** The current segment, plain and O_DSYNC (a write on the latter returns once on disk). */
  private fd: number | null = null;
  private fdSync: number | null = null;
  private seq = 0;
  private segmentSize: number;
  /** The spare segment, zero-filled in the background the first time: its size once ready. */
  private next: Promise<number> | null = null;
  private spareReady = 0;
  /** The writer thread and the ring it writes from. */
  private ring: LogRing | null = null;
  /** Records encoded this turn (`pendingRecords` of them); the first `pendingCopied` bytes are in the ring. */
  private pending = new ByteWriter(BATCH_START);
  private pendingRecords = 0;
  private pendingCopied = 0;
  /** Writes not settled yet, in log order, from `waitersHead` on. */
  private waiters: Waiter[] = [];
  private waitersHead = 0;
  private scheduled = false;
  private failure: Error | null = null;
  private idleWaiters: Array<() => void> = [];
  /** Synced writes (each one disk wait), records, writes and compactions: the group-commit ratio. */
  readonly stats = { syncs: 0, records: 0, writes: 0, compactions: 0 };

  constructor(options: Partial<FileStoreOptions> = {}) {
    this.options = { ...DEFAULT_FILE_STORE_OPTIONS, ...options };
    this.segmentSize = Math.max(MIN_SEGMENT, this.options.compactThresholdBytes);
  }

  private fileName(seq: number): string {
    return path.join(this.options.dir, `dtx-session-${seq}.log`);
  }

  async open(): Promise<GlobalSession[]> {
    await fs.promises.mkdir(this.options.dir, { recursive: true });
    const names = await fs.promises.readdir(this.options.dir);
    const seqs = names
      .map((f) => LOG_PATTERN.exec(f))
      .filter((m): m is RegExpExecArray => m !== null)
      .map((m) => Number(m[1]))
      .sort((a, b) => a - b);
    for (const n of names)
      if (n.endsWith('.tmp')) await fs.promises.rm(path.join(this.options.dir, n), { force: true });
    this.seq = seqs.at(-1) ?? 1;
    const file = this.fileName(this.seq);
    let data: Buffer = Buffer.alloc(0);
    try {
      data = await fs.promises.readFile(file);
    } catch (err) {
      if ((err as NodeJS.ErrnoException).code !== 'ENOENT') throw storeError(`cannot read ${file}`, err);
    }
    const { ops, validLength } = readRecords(data, this.seq);
    for (const op of ops) applyOp(this.live, op);
    if (data.length < this.segmentSize) {
      // A new store, or a log from before preallocation: lay out a full zeroed segment and rewrite the valid prefix.
      const image = data.subarray(0, validLength);
      preallocateSync(`${file}.tmp`, Math.max(this.segmentSize, image.length * 2));
      const fd = fs.openSync(`${file}.tmp`, 'r+');
      try {
        fs.writeSync(fd, image, 0, image.length, 0);
        fs.fsyncSync(fd);
      } finally {
        fs.closeSync(fd);
      }
      fs.renameSync(`${file}.tmp`, file);
      syncDir(this.options.dir);
    } else {
      // Debris after the valid prefix (a torn record, a recycled segment's old records) is
      // overwritten by the next writes; its generation or checksum stops any later replay there.
      this.segmentSize = data.length;
    }
    try {
      this.ring = await LogRing.start(
        Math.max(MIN_RING, this.options.ringBytes),
        () => this.onWritten(),
        (err) => this.onWriterError(err),
      );
    } catch (err) {
      throw storeError(`cannot start the session log writer thread: ${(err as Error).message}`, err);
    }
    this.openSegment(file);
    this.startSegment(validLength);
    // An older segment left by a compaction interrupted after its rename becomes the spare.
    for (const s of seqs.filter((x) => x < this.seq)) {
      if (s === this.seq - 1) fs.renameSync(this.fileName(s), path.join(this.options.dir, SPARE));
      else await fs.promises.rm(this.fileName(s), { force: true });
    }
    this.ensureSpare();
    return [...this.live.values()].map((g) => globalFromJson(globalToJson(g)));
  }

  private openSegment(file: string): void {
    this.fd = fs.openSync(file, 'r+');
    this.fdSync = this.options.sync ? fs.openSync(file, fs.constants.O_RDWR | fs.constants.O_DSYNC) : this.fd;
  }

  private closeSegment(): void {
    if (this.fdSync !== null && this.fdSync !== this.fd) fs.closeSync(this.fdSync);
    if (this.fd !== null) fs.closeSync(this.fd);
    this.fd = this.fdSync = null;
  }

  /**
   * Makes sure a spare segment of the current size exists, zero-filling one in the background
   * only the first time (afterwards compaction recycles the old segment).
   */
  private ensureSpare(): void {
    const spare = path.join(this.options.dir, SPARE);
    let size = 0;
    try {
      size = fs.statSync(spare).size;
    } catch {
      // none yet
    }
    if (size >= this.segmentSize) {
      this.spareReady = size;
      this.next = Promise.resolve(size);
      return;
    }
    const want = this.segmentSize;
    this.spareReady = 0;
    this.next = preallocate(`${spare}.tmp`, want)
      .then(() => {
        fs.renameSync(`${spare}.tmp`, spare);
        this.spareReady = Math.max(this.spareReady, want);
        return want;
      })
      .catch(() => 0); // no spare yet: a compaction zero-fills one itself
  }

  write(op: StoreOp, _durable: boolean): Promise<boolean> {
    if (this.failure) return Promise.reject(this.failure);
    if (this.fd === null || this.ring === null) return Promise.reject(storeError('file store is not open'));
    // A compare-and-set is checked against the live sessions, which hold every change queued
    // before it; one that does not apply is not logged, so a replay never meets it.
    if (op.op === 'globalUpdate' && op.expect !== undefined && this.live.get(op.xid)?.status !== op.expect)
      return Promise.resolve(false);
    try {
      appendRecord(this.pending, op, this.seq);
    } catch (err) {
      return Promise.reject(storeError(`cannot encode a ${op.op} record: ${(err as Error).message}`, err));
    }
    this.pendingRecords++;
    applyOp(this.live, op);
    // Every batch is synced: a record that need not wait for the disk is simply not awaited by
    // its caller, and its promise settles with its batch all the same.
    const end = this.ring.copied + this.pending.offset - this.pendingCopied;
    const p = new Promise<boolean>((resolve, reject) => {
      this.waiters.push({ end, resolve, reject });
    });
    if (!this.scheduled) {
      this.scheduled = true;
      setImmediate(this.flushNow);
    }
    return p;
  }

  private readonly flushNow = (): void => this.flush();

  /** Hands the records queued this turn to the writer thread, or compacts when the segment is full. */
  private flush(): void {
    this.scheduled = false;
    const ring = this.ring;
    if (this.failure) {
      this.rejectPending(this.failure);
      return;
    }
    const uncopied = this.pending.offset - this.pendingCopied;
    if (uncopied === 0 || ring === null) return;
    if (ring.filePosition(uncopied) > this.segmentSize) {
      // The segment is full. Once the writer has written what it holds, the snapshot of the
      // live sessions (which already include the queued changes) goes to the next segment, so
      // the queued records need no write of their own.
      if (!ring.drained) return; // retried when it has
      this.compactAndSettle();
      return;
    }
    this.pendingCopied += ring.push(this.pending.buf, this.pendingCopied, this.pending.offset);
    if (this.pendingCopied === this.pending.offset) {
      // All handed over (a full ring takes the rest after its next write).
      this.stats.records += this.pendingRecords;
      this.pendingRecords = 0;
      this.pendingCopied = 0;
      if (this.pending.buf.length > REUSE_MAX) this.pending = new ByteWriter(BATCH_START);
      else this.pending.offset = 0;
    }
  }

  /** The writer thread wrote (and synced) more: settles the waiters of what it wrote. */
  private onWritten(): void {
    const ring = this.ring;
    if (ring === null) return;
    this.stats.writes++;
    if (this.options.sync) this.stats.syncs++;
    const written = ring.written;
    const waiters = this.waiters;
    let i = this.waitersHead;
    while (i < waiters.length && (waiters[i] as Waiter).end <= written) {
      (waiters[i] as Waiter).resolve(true);
      i++;
    }
    if (i === waiters.length) {
      waiters.length = 0;
      i = 0;
    } else if (i > 1024 && i * 2 > waiters.length) {
      waiters.splice(0, i);
      i = 0;
    }
    this.waitersHead = i;
    if (this.pending.offset > this.pendingCopied) this.flush();
    else this.notifyIdle();
  }

  private onWriterError(err: Error): void {
    if (this.failure) return;
    this.failure = storeError(`session log write failed: ${err.message}`, err);
    this.rejectPending(this.failure);
  }

  /** Rejects every write not yet settled: queued, or held by the writer. */
  private rejectPending(err: Error): void {
    const waiters = this.waiters.slice(this.waitersHead);
    this.waiters = [];
    this.waitersHead = 0;
    for (const w of waiters) w.reject(err);
    this.pending.offset = 0;
    this.pendingCopied = 0;
    this.pendingRecords = 0;
    this.notifyIdle();
  }

  /** Compacts (the writer holding nothing) and settles every write: the snapshot holds them all. */
  private compactAndSettle(): void {
    try {
      this.compact();
    } catch (err) {
      this.failure = storeError(`compaction failed: ${(err as Error).message}`, err);
      this.rejectPending(this.failure);
      return;
    }
    this.stats.records += this.pendingRecords;
    const waiters = this.waiters.slice(this.waitersHead);
    this.waiters = [];
    this.waitersHead = 0;
    this.pending.offset = 0;
    this.pendingCopied = 0;
    this.pendingRecords = 0;
    for (const w of waiters) w.resolve(true);
    this.notifyIdle();
  }

  /**
   * Writes the live sessions to the start of the next segment with O_DSYNC, renames it into
   * place, syncs the directory, switches to it and deletes the old segment. Runs while the
   * writer thread holds nothing, so no write is lost; a crash at any step leaves either the old
   * or the new segment complete.
   */
  private compact(): void {
    const generation = this.seq + 1;
    const w = new ByteWriter(BATCH_START);
    for (const g of this.live.values()) appendRecord(w, { op: 'globalAdd', global: g }, generation);
    const image = w.result();
    // Keep room to grow: a live set larger than half a segment doubles the segment size.
    let nextSize = this.segmentSize;
    while (image.length * 2 > nextSize) nextSize *= 2;
    const spare = path.join(this.options.dir, SPARE);
    if (this.spareReady < nextSize) {
      preallocateSync(spare, nextSize);
      this.spareReady = nextSize;
    }
    const fd = fs.openSync(spare, fs.constants.O_RDWR | fs.constants.O_DSYNC);
    try {
      let off = 0;
      while (off < image.length) off += fs.writeSync(fd, image, off, image.length - off, off);
      // End the new generation explicitly, in case the recycled bytes after it are a zero-length gap.
      fs.writeSync(fd, Buffer.alloc(HEADER), 0, HEADER, image.length);
    } finally {
      fs.closeSync(fd);
    }
    const nextFile = this.fileName(generation);
    fs.renameSync(spare, nextFile);
    syncDir(this.options.dir);
    this.closeSegment();
    const old = this.fileName(this.seq);
    const oldSize = this.segmentSize;
    this.segmentSize = nextSize;
    this.seq = generation;
    this.openSegment(nextFile);
    this.startSegment(image.length);
    // The old segment is the next spare: no zero-filling, its records carry an older generation.
    fs.renameSync(old, spare);
    this.spareReady = oldSize;
    this.next = Promise.resolve(oldSize);
    this.stats.compactions++;
  }

  /** The log bytes handed to the writer from now on go to `position` of the current segment. */
  private startSegment(position: number): void {
    (this.ring as LogRing).setSegment(this.fdSync as number, position);
  }

  /** Forces a compaction now (the CLI and tests use it). */
  async compactNow(): Promise<void> {
    // Writes queued after the awaits go into the snapshot; only what the writer thread holds
    // must land first, so wait until it holds nothing and compact in the same turn.
    for (;;) {
      await this.idle();
      await this.next;
      if (this.failure) throw this.failure;
      if (this.ring === null) throw storeError('file store is not open');
      if (this.ring.drained) break;
    }
    this.compactAndSettle();
    if (this.failure) throw this.failure;
  }

  private get isIdle(): boolean {
    return (
      this.pending.offset === 0 && this.waitersHead === this.waiters.length && (this.ring?.drained ?? true)
    );
  }

  private notifyIdle(): void {
    if (!this.failure && !this.isIdle) return;
    this.ring?.idle();
    const w = this.idleWaiters;
    this.idleWaiters = [];
    for (const f of w) f();
  }

  /** Resolves when everything queued has been written (or the store has failed). */
  idle(): Promise<void> {
    if (this.failure || this.isIdle) return Promise.resolve();
    return new Promise((resolve) => this.idleWaiters.push(resolve));
  }

  async findGlobal(xid: string): Promise<GlobalSession | null> {
    const g = this.live.get(xid);
    return g ? globalFromJson(globalToJson(g)) : null;
  }

  async listGlobals(query: SessionQuery = {}): Promise<GlobalSession[]> {
    const out: GlobalSession[] = [];
    const limit = query.limit ?? 1000;
    for (const g of this.live.values()) {
      if (query.statuses && !query.statuses.includes(g.status)) continue;
      if (query.beganBefore !== undefined && g.beginTime >= query.beganBefore) continue;
      out.push(globalFromJson(globalToJson(g)));
    }
    out.sort((a, b) => a.beginTime - b.beginTime);
    return out.slice(0, limit);
  }

  async acquireTaskLock(): Promise<boolean> {
    return true;
  }

  async releaseTaskLock(): Promise<void> {}

  async close(): Promise<void> {
    if (this.fd === null) return;
    if (this.scheduled || this.pending.offset > 0) {
      this.scheduled = false;
      this.flush();
    }
    await this.idle();
    await this.next;
    await this.ring?.stop();
    this.ring = null;
    if (this.options.sync) fs.fdatasyncSync(this.fd);
    this.closeSegment();
  }
}

function syncDir(dir: string): void {
  try {
    const fd = fs.openSync(dir, 'r');
    try {
      fs.fsyncSync(fd);
    } finally {
      fs.closeSync(fd);
    }
  } catch {
    // Some filesystems refuse fsync on a directory; the rename is then as durable as they allow.
  }
}
