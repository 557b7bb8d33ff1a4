/**
 * The floor under the file store's figures: a protocol-free server and client that make the
 * same demands on the machine as one N-branch TCC transaction through `dtx server`, and nothing
 * else. Per transaction: begin on a TM connection, N branch registers on RM connections (taken
 * in turn, as the load generator does), commit on the TM connection; the server answers begin,
 * each register and the commit decision only after a group-committed O_DSYNC write of a record
 * for it (one write in flight, on libuv's pool), then sends one phase-two request per branch on
 * its RM connection and answers the commit once every branch has replied. Frames are 16 bytes
 * with no codec, no sessions, no ids beyond a counter: what is left is the round trips, the
 * wakeups and the disk, run in the same minute on the same vCPUs as the TC's row it sits beside.
 *
 * Run from the TC benchmark (runFloor); the server half is this file forked with `floor-server`.
 */
import { fork } from 'node:child_process';
import fs from 'node:fs';
import net from 'node:net';
import os from 'node:os';
import path from 'node:path';
import { quantile } from './stats.ts';

const FRAME = 16;
const RECORD = 160; // about a dtx store record of a branch register
const LOG_BYTES = 64 * 1024 * 1024; // preallocated and reused, as the file store's segments are
const T = { BEGIN: 1, REGISTER: 2, COMMIT: 3, PHASE_TWO: 4, PHASE_TWO_DONE: 5, REPLY: 100 } as const;

/** What runFloor measured. */
export interface FloorResult {
  tps: number;
  p50Ms: number;
  p99Ms: number;
}

/** A framed connection: `send` queues a frame, frames queued in one turn leave in one write. */
function framed(socket: net.Socket, onFrame: (type: number, id: number) => void) {
  socket.setNoDelay(true);
  let rest: Buffer | null = null;
  socket.on('data', (chunk: Buffer) => {
    const data = rest ? Buffer.concat([rest, chunk]) : chunk;
    let at = 0;
    for (; data.length - at >= FRAME; at += FRAME) onFrame(data[at] as number, data.readUInt32LE(at + 4));
    rest = at === data.length ? null : data.subarray(at);
  });
  socket.on('error', () => {});
  let out: Buffer[] = [];
  let scheduled = false;
  return (type: number, id: number): void => {
    const f = Buffer.alloc(FRAME);
    f[0] = type;
    f.writeUInt32LE(id, 4);
    out.push(f);
    if (scheduled) return;
    scheduled = true;
    setImmediate(() => {
      scheduled = false;
      socket.write(out.length === 1 ? (out[0] as Buffer) : Buffer.concat(out));
      out = [];
    });
  };
}

function serve(): void {
  const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'dtx-floor-'));
  const file = path.join(dir, 'log');
  const fd = fs.openSync(file, fs.constants.O_CREAT | fs.constants.O_RDWR | fs.constants.O_DSYNC, 0o600);
  // Zeroed and synced up front, so a durable write allocates no blocks and changes no size.
  fs.writeSync(fd, Buffer.alloc(LOG_BYTES), 0, LOG_BYTES, 0);
  fs.fsyncSync(fd);
  let position = 0;
  let records: Buffer[] = [];
  let waiting: Array<() => void> = [];
  let writing = false;
  let scheduled = false;
  const flush = (): void => {
    scheduled = false;
    if (writing || records.length === 0) return;
    writing = true;
    const batch = Buffer.concat(records);
    const done = waiting;
    records = [];
    waiting = [];
    if (position + batch.length > LOG_BYTES) position = 0;
    fs.write(fd, batch, 0, batch.length, position, (err) => {
      if (err) throw err;
      writing = false;
      for (const f of done) f();
      flush();
    });
    position += batch.length;
  };
  const durably = (then: () => void): void => {
    records.push(Buffer.alloc(RECORD, 1));
    waiting.push(then);
    if (!scheduled) {
      scheduled = true;
      setImmediate(flush);
    }
  };
  type Send = (type: number, id: number) => void;
  const tmOf = new Map<number, Send>();
  const rmsOf = new Map<number, Send[]>();
  const outstanding = new Map<number, number>();
  net
    .createServer((socket) => {
      const send: Send = framed(socket, (type, id) => {
        if (type === T.PHASE_TWO_DONE) {
          const left = (outstanding.get(id) as number) - 1;
          if (left > 0) outstanding.set(id, left);
          else {
            outstanding.delete(id);
            (tmOf.get(id) as Send)(T.COMMIT + T.REPLY, id);
            tmOf.delete(id);
          }
          return;
        }
        if (type === T.BEGIN) tmOf.set(id, send);
        if (type === T.REGISTER) rmsOf.set(id, [...(rmsOf.get(id) ?? []), send]);
        durably(() => {
          if (type !== T.COMMIT) return send(type + T.REPLY, id);
          const rms = rmsOf.get(id) ?? [];
          rmsOf.delete(id);
          outstanding.set(id, rms.length);
          for (const rm of rms) rm(T.PHASE_TWO, id);
        });
      });
    })
    .listen(0, '127.0.0.1', function (this: net.Server) {
      (process.send as (m: unknown) => void)((this.address() as net.AddressInfo).port);
    });
  process.on('disconnect', () => {
    fs.rmSync(dir, { recursive: true, force: true });
    process.exit(0);
  });
}

/** Runs the floor at `concurrency` with `branches` branches for `durationMs` after a warm-up. */
export async function runFloor(options: {
  concurrency: number;
  branches: number;
  durationMs: number;
  warmupMs?: number;
}): Promise<FloorResult> {
  const server = fork(new URL(import.meta.url).pathname, ['floor-server'], { stdio: 'inherit' });
  try {
    const port = await new Promise<number>((resolve, reject) => {
      server.once('message', (m) => resolve(m as number));
      server.once('exit', (code) => reject(new Error(`floor server exited with ${code}`)));
    });
    const waiters = new Map<number, { resolve(): void; reject(err: Error): void }>();
    const sockets: net.Socket[] = [];
    let failure: Error | null = null;
    let measuring = false;
    let stop = false;
    let broke: (err: Error) => void = () => {};
    const broken = new Promise<never>((_, reject) => {
      broke = reject;
    });
    broken.catch(() => {});
    const fail = (err: Error) => {
      failure ??= err;
      broke(err);
      for (const w of waiters.values()) w.reject(err);
      waiters.clear();
    };
    const connect = async () => {
      const socket = net.connect(port, '127.0.0.1');
      await new Promise((resolve) => socket.once('connect', resolve));
      sockets.push(socket);
      socket.once('close', () => {
        if (!stop) fail(new Error('the floor server closed a connection'));
      });
      const send = framed(socket, (type, id) => {
        if (type === T.PHASE_TWO) return send(T.PHASE_TWO_DONE, id);
        const w = waiters.get(id);
        waiters.delete(id);
        w?.resolve();
      });
      return (type: number, id: number) =>
        new Promise<void>((resolve, reject) => {
          if (failure) return reject(failure);
          waiters.set(id, { resolve, reject });
          send(type, id);
        });
    };
    const tm = await connect();
    const rms = await Promise.all(Array.from({ length: Math.max(2, options.branches) }, connect));
    const latencies: number[] = [];
    let seconds = 0;
    let next = 1;
    let rmTurn = 0;
    const worker = async () => {
      try {
        while (!stop && !failure) {
          const id = next++;
          const t0 = performance.now();
          await tm(T.BEGIN, id);
          for (let b = 0; b < options.branches; b++)
            await (rms[rmTurn++ % rms.length] as typeof tm)(T.REGISTER, id);
          await tm(T.COMMIT, id);
          if (measuring) latencies.push(performance.now() - t0);
        }
      } catch (err) {
        fail(err as Error);
      }
    };
    const sleep = (ms: number) => Promise.race([new Promise((r) => setTimeout(r, ms)), broken]);
    const workers = Array.from({ length: options.concurrency }, worker);
    try {
      await sleep(options.warmupMs ?? 700);
      measuring = true;
      const start = performance.now();
      await sleep(options.durationMs);
      measuring = false;
      seconds = (performance.now() - start) / 1000;
    } finally {
      stop = true;
      await Promise.all(workers);
      for (const s of sockets) s.destroy();
    }
    const sorted = Float64Array.from(latencies).sort();
    return { tps: latencies.length / seconds, p50Ms: quantile(sorted, 0.5), p99Ms: quantile(sorted, 0.99) };
  } finally {
    const running = server.exitCode === null && server.signalCode === null;
    const exited = new Promise((resolve) => (running ? server.once('exit', resolve) : resolve(null)));
    if (server.connected) server.disconnect();
    await exited;
  }
}

if (process.argv[2] === 'floor-server') serve();
