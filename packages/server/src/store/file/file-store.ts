/**
 * The embedded default store: an append-only session log in `sessionStore/`.
 *
 * Each record is `u32 length | u32 crc32(payload) | payload` (payload = the record's JSON).
 * Records written in the same event-loop turn, and while the previous write is on its way to
 * disk, go out in one write and share one fdatasync (group commit). A durable write's promise
 * settles only after that fdatasync; others settle when written. On open the log is replayed up
 * to the first torn or corrupt record, which is cut off. When the log has grown past a threshold
 * it is compacted: the live sessions are written to a new file, synced and renamed into place.
 */
import fs from 'node:fs';
import path from 'node:path';
import zlib from 'node:zlib';
import { TransactionError } from '@dtx/core';
import type { GlobalSession } from '../../session/global-session.js';
import { applyOp, globalFromJson, globalToJson, opFromJson, opToJson } from '../session-codec.js';
import type { SessionQuery, StoreOp, TransactionStore } from '../transaction-store.js';

/** File store options. */
export interface FileStoreOptions {
  /** @default './sessionStore' (Seata's store.file.dir) */
  dir: string;
  /**
   * Log bytes written since the last compaction that trigger the next one.
   * @default 64 MiB
   */
  compactThresholdBytes: number;
  /**
   * fdatasync before a durable write settles. Off only for benchmarks that want to see the cost.
   * @default true
   */
  sync: boolean;
}

/** Defaults of FileStoreOptions. */
export const DEFAULT_FILE_STORE_OPTIONS: Readonly<FileStoreOptions> = Object.freeze({
  dir: './sessionStore',
  compactThresholdBytes: 64 * 1024 * 1024,
  sync: true,
});

const HEADER = 8;
const LOG_PATTERN = /^dtx-session-(\d+)\.log$/;

interface Waiter {
  resolve(): void;
  reject(err: Error): void;
}

function storeError(message: string, cause?: unknown): TransactionError {
  return new TransactionError('FailedStore', message, { cause });
}

/** Encodes one record. */
export function encodeRecord(payload: string): Buffer {
  const body = Buffer.from(payload, 'utf8');
  const out = Buffer.allocUnsafe(HEADER + body.length);
  out.writeUInt32BE(body.length, 0);
  out.writeUInt32BE(zlib.crc32(body), 4);
  body.copy(out, HEADER);
  return out;
}

/** Reads records from a log image; stops at the first incomplete or corrupt one. */
export function readRecords(data: Buffer): { ops: StoreOp[]; validLength: number } {
  const ops: StoreOp[] = [];
  let at = 0;
  while (data.length - at >= HEADER) {
    const len = data.readUInt32BE(at);
    const crc = data.readUInt32BE(at + 4);
    if (data.length - at - HEADER < len) break;
    const body = data.subarray(at + HEADER, at + HEADER + len);
    if (zlib.crc32(body) !== crc) break;
    try {
      ops.push(opFromJson(body.toString('utf8')));
    } catch {
      break;
    }
    at += HEADER + len;
  }
  return { ops, validLength: at };
}

/** The session log. */
export class FileStore implements TransactionStore {
  readonly kind = 'file';
  readonly shared = false;
  readonly options: FileStoreOptions;
  /** The store's own copy of the live sessions, for compaction and queries. */
  private readonly live = new Map<string, GlobalSession>();
  private fd: number | null = null;
  private seq = 0;
  private pending: Buffer[] = [];
  private pendingBytes = 0;
  private waiters: Waiter[] = [];
  private lazyWaiters: Waiter[] = [];
  private writing = false;
  private scheduled = false;
  private bytesSinceCompaction = 0;
  private failure: Error | null = null;
  private idleWaiters: Array<() => void> = [];
  /** fdatasync calls made, and records written: the group-commit ratio, for metrics. */
  readonly stats = { syncs: 0, records: 0, writes: 0, compactions: 0 };

  constructor(options: Partial<FileStoreOptions> = {}) {
    this.options = { ...DEFAULT_FILE_STORE_OPTIONS, ...options };
  }

  private fileName(seq: number): string {
    return path.join(this.options.dir, `dtx-session-${seq}.log`);
  }

  async open(): Promise<GlobalSession[]> {
    await fs.promises.mkdir(this.options.dir, { recursive: true });
    const files = (await fs.promises.readdir(this.options.dir))
      .map((f) => LOG_PATTERN.exec(f))
      .filter((m): m is RegExpExecArray => m !== null)
      .map((m) => Number(m[1]))
      .sort((a, b) => a - b);
    this.seq = files.at(-1) ?? 1;
    const file = this.fileName(this.seq);
    let data: Buffer = Buffer.alloc(0);
    try {
      data = await fs.promises.readFile(file);
    } catch (err) {
      if ((err as NodeJS.ErrnoException).code !== 'ENOENT') throw storeError(`cannot read ${file}`, err);
    }
    const { ops, validLength } = readRecords(data);
    for (const op of ops) applyOp(this.live, op);
    if (validLength < data.length) {
      // A torn tail from a crash mid-write: nothing after it was ever acknowledged as durable.
      await fs.promises.truncate(file, validLength);
    }
    this.fd = fs.openSync(file, 'a');
    this.bytesSinceCompaction = validLength;
    // Older files left by a compaction interrupted after its rename.
    for (const s of files) if (s < this.seq) await fs.promises.rm(this.fileName(s), { force: true });
    return [...this.live.values()].map((g) => globalFromJson(globalToJson(g)));
  }

  write(op: StoreOp, durable: boolean): Promise<void> {
    if (this.failure) return Promise.reject(this.failure);
    if (this.fd === null) return Promise.reject(storeError('file store is not open'));
    applyOp(this.live, op);
    const record = encodeRecord(opToJson(op));
    this.pending.push(record);
    this.pendingBytes += record.length;
    const p = new Promise<void>((resolve, reject) => {
      (durable ? this.waiters : this.lazyWaiters).push({ resolve, reject });
    });
    if (!this.writing && !this.scheduled) {
      this.scheduled = true;
      setImmediate(() => this.flush());
    }
    return p;
  }

  private flush(): void {
    this.scheduled = false;
    if (this.writing || this.pending.length === 0) return;
    this.writing = true;
    const data =
      this.pending.length === 1
        ? (this.pending[0] as Buffer)
        : Buffer.concat(this.pending, this.pendingBytes);
    const records = this.pending.length;
    const durable = this.waiters;
    const lazy = this.lazyWaiters;
    this.pending = [];
    this.pendingBytes = 0;
    this.waiters = [];
    this.lazyWaiters = [];
    const fd = this.fd as number;
    const fail = (err: Error) => {
      this.failure = storeError(`session log write failed: ${err.message}`, err);
      for (const w of durable) w.reject(this.failure);
      for (const w of lazy) w.reject(this.failure);
      this.writing = false;
      this.notifyIdle();
    };
    writeAll(fd, data, (err) => {
      if (err) return fail(err);
      this.stats.records += records;
      this.stats.writes++;
      this.bytesSinceCompaction += data.length;
      const done = () => {
        for (const w of durable) w.resolve();
        for (const w of lazy) w.resolve();
        this.afterFlush();
      };
      if (durable.length === 0 || !this.options.sync) return done();
      fs.fdatasync(fd, (syncErr) => {
        if (syncErr) return fail(syncErr);
        this.stats.syncs++;
        done();
      });
    });
  }

  private afterFlush(): void {
    if (this.bytesSinceCompaction >= this.options.compactThresholdBytes) {
      try {
        this.compact();
      } catch (err) {
        this.failure = storeError(`compaction failed: ${(err as Error).message}`, err);
      }
    }
    this.writing = false;
    if (this.pending.length > 0) this.flush();
    else this.notifyIdle();
  }

  /**
   * Writes the live sessions to the next log file, syncs it and the directory, then switches
   * appends to it and deletes the old one. Runs between group commits, so no write is lost.
   */
  private compact(): void {
    const next = this.seq + 1;
    const tmp = `${this.fileName(next)}.tmp`;
    const parts: Buffer[] = [];
    for (const g of this.live.values()) {
      parts.push(encodeRecord(opToJson({ op: 'globalAdd', global: g })));
    }
    const image = Buffer.concat(parts);
    const fd = fs.openSync(tmp, 'w');
    try {
      let off = 0;
      while (off < image.length) off += fs.writeSync(fd, image, off);
      fs.fdatasyncSync(fd);
    } finally {
      fs.closeSync(fd);
    }
    fs.renameSync(tmp, this.fileName(next));
    syncDir(this.options.dir);
    fs.closeSync(this.fd as number);
    const old = this.fileName(this.seq);
    this.seq = next;
    this.fd = fs.openSync(this.fileName(next), 'a');
    fs.rmSync(old, { force: true });
    this.bytesSinceCompaction = image.length;
    this.stats.compactions++;
  }

  /** Forces a compaction now (the CLI and tests use it). */
  async compactNow(): Promise<void> {
    await this.idle();
    this.writing = true;
    try {
      this.compact();
    } finally {
      this.writing = false;
      if (this.pending.length > 0) this.flush();
    }
  }

  private notifyIdle(): void {
    if (this.writing || this.pending.length > 0) return;
    const w = this.idleWaiters;
    this.idleWaiters = [];
    for (const f of w) f();
  }

  /** Resolves when everything queued has been written. */
  idle(): Promise<void> {
    if (!this.writing && this.pending.length === 0) return Promise.resolve();
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

  async close(): Promise<void> {
    if (this.fd === null) return;
    if (this.scheduled || this.pending.length > 0) {
      this.scheduled = false;
      this.flush();
    }
    await this.idle();
    if (this.options.sync) fs.fdatasyncSync(this.fd);
    fs.closeSync(this.fd);
    this.fd = null;
  }
}

function writeAll(fd: number, data: Buffer, cb: (err: Error | null) => void, offset = 0): void {
  fs.write(fd, data, offset, data.length - offset, null, (err, written) => {
    if (err) return cb(err);
    if (offset + written < data.length) return writeAll(fd, data, cb, offset + written);
    cb(null);
  });
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
