/**
 * The session log's writer thread on its own: bytes pushed into the shared ring land at their
 * place in the file (also across the ring's end and a segment switch), a push larger than the
 * room left is taken in part, and a write the file refuses comes back as an error.
 */
import assert from 'node:assert/strict';
import { randomBytes } from 'node:crypto';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { describe, test } from 'node:test';
import { FileStore } from '../src/index.js';
import { LogRing } from '../src/store/file/log-ring.js';

function tempFile(t: import('node:test').TestContext, size: number): string {
  const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'dtx-log-ring-'));
  t.after(() => fs.rmSync(dir, { recursive: true, force: true }));
  const file = path.join(dir, 'segment');
  fs.writeFileSync(file, Buffer.alloc(size));
  return file;
}

/** A ring whose writes and errors are counted; `until(n)` resolves once n bytes are written. */
async function startRing(size: number) {
  const errors: Error[] = [];
  let wake: () => void = () => {};
  const ring = await LogRing.start(
    size,
    () => wake(),
    (err) => {
      errors.push(err);
      wake();
    },
  );
  const until = async (n: number) => {
    while (ring.written < n && errors.length === 0) await new Promise<void>((r) => (wake = r));
  };
  return { ring, errors, until };
}

describe('LogRing (the session log writer thread)', () => {
  test('writes pushed bytes at their place, across the ring end and a segment switch', async (t) => {
    const fileA = tempFile(t, 64 * 1024);
    const fileB = tempFile(t, 64 * 1024);
    const fdA = fs.openSync(fileA, 'r+');
    const fdB = fs.openSync(fileB, 'r+');
    t.after(() => {
      fs.closeSync(fdA);
      fs.closeSync(fdB);
    });
    const { ring, errors, until } = await startRing(4096);
    t.after(() => ring.stop());
    ring.setSegment(fdA, 100);
    const data = randomBytes(10_000);
    // Pushes of odd sizes: later ones wrap around the 4096-byte ring's end.
    let at = 0;
    for (const n of [1000, 3000, 2500, 3500]) {
      const end = at + n;
      while (at < end) {
        at += ring.push(data, at, end);
        if (at < end) await until(ring.copied);
      }
    }
    await until(data.length);
    assert.deepEqual(errors, []);
    assert.equal(ring.drained, true);
    assert.deepEqual(fs.readFileSync(fileA).subarray(100, 100 + data.length), data);
    assert.equal(fs.readFileSync(fileA)[99], 0, 'nothing before the segment position');
    assert.equal(ring.filePosition(), 100 + data.length);
    assert.equal(ring.filePosition(5), 105 + data.length);

    ring.setSegment(fdB, 7);
    const more = randomBytes(3000);
    assert.equal(ring.push(more, 0, more.length), more.length);
    await until(data.length + more.length);
    assert.equal(ring.filePosition(), 7 + more.length);
    assert.deepEqual(fs.readFileSync(fileB).subarray(7, 7 + more.length), more);
    assert.equal(
      fs
        .readFileSync(fileA)
        .subarray(100 + data.length)
        .some((b) => b !== 0),
      false,
    );
  });

  test('takes only what fits while the writer holds the rest', async (t) => {
    const file = tempFile(t, 64 * 1024);
    const fd = fs.openSync(file, 'r+');
    t.after(() => fs.closeSync(fd));
    const { ring, until } = await startRing(4096);
    t.after(() => ring.stop());
    ring.setSegment(fd, 0);
    const data = randomBytes(9000);
    const took = ring.push(data, 0, data.length);
    assert.ok(took <= 4096, `took ${took} bytes into a 4096-byte ring`);
    assert.ok(took > 0);
    let at = took;
    while (at < data.length) {
      await until(ring.copied);
      at += ring.push(data, at, data.length);
    }
    await until(data.length);
    assert.deepEqual(fs.readFileSync(file).subarray(0, data.length), data);
  });

  test('a write the file refuses comes back as an error with its errno', async (t) => {
    const file = tempFile(t, 4096);
    const fd = fs.openSync(file, 'r'); // read-only: the writer's pwritev fails with EBADF
    t.after(() => fs.closeSync(fd));
    const { ring, errors, until } = await startRing(4096);
    ring.setSegment(fd, 0);
    ring.push(Buffer.from('record'), 0, 6);
    await until(6);
    assert.equal(errors.length >= 1, true);
    assert.equal((errors[0] as NodeJS.ErrnoException).code, 'EBADF');
    assert.equal(ring.written, 0, 'nothing counted as written');
    await ring.stop();
  });
});

describe('FileStore when its writer thread dies', () => {
  test('fails the writes it held and every later one with FailedStore', async (t) => {
    const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'dtx-log-ring-store-'));
    t.after(() => fs.rmSync(dir, { recursive: true, force: true }));
    const store = new FileStore({ dir });
    await store.open();
    const worker = (store as unknown as { ring: { worker: import('node:worker_threads').Worker } }).ring
      .worker;
    await worker.terminate();
    const late = store.write({ op: 'globalRemove', xid: '10.0.0.1:8091:1' }, true);
    await assert.rejects(late, (err: Error & { code?: string }) => {
      assert.equal(err.code, 'FailedStore');
      assert.match(err.message, /writer thread exited/);
      return true;
    });
    await store.close();
  });
});
