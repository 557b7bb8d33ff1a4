/**
 * The session log's writer thread. The file store's main thread copies encoded records into a
 * shared ring and moves `HEAD`; this thread writes everything between `TAIL` and `HEAD` at its
 * place in the segment in one write (O_DSYNC when the store syncs), moves `TAIL`, tells the main
 * thread, and at once takes whatever arrived meanwhile. The disk is never idle waiting for the
 * main thread's event loop to come round: a busy main thread delays the replies, not the next
 * write. Everything it reads from the control block was stored before the `HEAD` that announced
 * the bytes, so the atomics order it.
 */
import fs from 'node:fs';
import { parentPort, workerData } from 'node:worker_threads';
import { LogSlot, type LogWriterData, WriterSlot } from './log-ring.js';

const { ring, control } = workerData as LogWriterData;
const bytes = Buffer.from(ring);
const size = BigInt(ring.byteLength);
const big = new BigInt64Array(control, 0, LogSlot.Count);
const i32 = new Int32Array(control, LogSlot.Count * 8, WriterSlot.Count);
const port = parentPort as NonNullable<typeof parentPort>;

function writeRange(fd: number, tail: bigint, head: bigint, position: number): void {
  const from = Number(tail % size);
  const length = Number(head - tail);
  let parts =
    from + length <= bytes.length
      ? [bytes.subarray(from, from + length)]
      : [bytes.subarray(from), bytes.subarray(0, from + length - bytes.length)];
  let at = position;
  for (;;) {
    let written = fs.writevSync(fd, parts, at);
    at += written;
    const rest: typeof parts = [];
    for (const p of parts) {
      if (written >= p.length) written -= p.length;
      else {
        rest.push(p.subarray(written));
        written = 0;
      }
    }
    if (rest.length === 0) return;
    parts = rest;
  }
}

for (;;) {
  const wake = Atomics.load(i32, WriterSlot.Wake);
  const head = Atomics.load(big, LogSlot.Head);
  const tail = Atomics.load(big, LogSlot.Tail);
  if (head === tail) {
    if (Atomics.load(i32, WriterSlot.Stop) === 1) break;
    Atomics.wait(i32, WriterSlot.Wake, wake);
    continue;
  }
  const fd = Atomics.load(i32, WriterSlot.Fd);
  const position = Number(
    Atomics.load(big, LogSlot.SegmentPosition) + (tail - Atomics.load(big, LogSlot.SegmentLog)),
  );
  try {
    writeRange(fd, tail, head, position);
  } catch (err) {
    port.postMessage({ error: (err as Error).message, code: (err as NodeJS.ErrnoException).code ?? null });
    break;
  }
  Atomics.store(big, LogSlot.Tail, head);
  port.postMessage(null);
}
