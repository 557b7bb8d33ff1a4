import assert from 'node:assert/strict';
import { spawn } from 'node:child_process';
import fs from 'node:fs/promises';
import os from 'node:os';
import path from 'node:path';
import { describe, it } from 'node:test';
import { fileURLToPath, pathToFileURL } from 'node:url';
import { BranchType, GlobalStatus } from '@dtx/protocol';
import { describeLockManagerConformance, describeStoreConformance } from '@dtx/testing';
import { FileStore, type GlobalSession, MemoryLockManager } from '../src/index.js';

const REPO = fileURLToPath(new URL('../../..', import.meta.url));
const SRC_INDEX = pathToFileURL(fileURLToPath(new URL('../src/index.ts', import.meta.url))).href;

async function tempDir(): Promise<string> {
  return fs.mkdtemp(path.join(os.tmpdir(), 'dtx-file-store-'));
}

// With the default ring every batch fits; with the smallest one the records wrap around its end
// and batches are handed to the writer thread in parts as it frees room.
for (const ringBytes of [1024 * 1024, 4096]) {
  describeStoreConformance(`FileStore (${ringBytes}-byte ring)`, async () => {
    const dir = await tempDir();
    const opened: FileStore[] = [];
    const make = () => {
      const s = new FileStore({ dir, ringBytes });
      opened.push(s);
      return s;
    };
    return {
      store: make(),
      reopen: async () => make(),
      cleanup: async () => {
        for (const s of opened) await s.close();
        await fs.rm(dir, { recursive: true, force: true });
      },
      sharedLocks: false,
    };
  });
}

// The file store's companion: row locks in memory (one TC, so both managers are the same one).
describeLockManagerConformance('MemoryLockManager', async () => {
  const locks = new MemoryLockManager();
  return { a: locks, b: locks, cleanup: async () => {} };
});

let serial = 1n << 62n;
function session(i: number): GlobalSession {
  serial += 1n;
  return {
    xid: `10.0.0.7:8091:${serial}`,
    transactionId: serial,
    status: GlobalStatus.Begin,
    applicationId: 'app',
    transactionServiceGroup: 'default_tx_group',
    transactionName: `tx-${i}`,
    timeout: 60_000,
    beginTime: 1_700_000_000_000 + i,
    applicationData: null,
    active: true,
    branches: [],
  };
}

/** The bytes of the log directory's files, by name. */
async function snapshot(dir: string): Promise<Map<string, Buffer>> {
  const out = new Map<string, Buffer>();
  for (const f of await fs.readdir(dir))
    if (/^dtx-session-\d+\.log$/.test(f)) out.set(f, await fs.readFile(path.join(dir, f)));
  return out;
}

/** Writes `globals` durably into a fresh store over `dir` and closes it. */
async function writeAll(dir: string, globals: GlobalSession[]): Promise<void> {
  const store = new FileStore({ dir });
  await store.open();
  for (const g of globals) await store.write({ op: 'globalAdd', global: g }, true);
  await store.close();
}

async function xidsIn(dir: string): Promise<string[]> {
  const store = new FileStore({ dir });
  const xids = (await store.open()).map((g) => g.xid).sort();
  await store.close();
  return xids;
}

describe('FileStore crash recovery', () => {
  // The log format is the file store's own business (append-only or preallocated in place), so
  // the torn record is located by comparing the log before and after writing it.
  const tears: Array<
    [string, (before: Buffer, after: Buffer, from: number, to: number) => Buffer | 'truncate']
  > = [
    [
      'the last record half written',
      (before, after, from, to) => {
        const torn = Buffer.from(after);
        before.copy(
          torn,
          from + Math.floor((to - from) / 2),
          from + Math.floor((to - from) / 2),
          Math.min(to, before.length),
        );
        if (before.length < after.length) return torn.subarray(0, from + Math.floor((to - from) / 2));
        return torn;
      },
    ],
    [
      'garbage in place of the last record',
      (_before, after, from, to) => {
        const torn = Buffer.from(after);
        for (let i = from; i < to; i++) torn[i] = (i * 131 + 7) & 0xff;
        return torn;
      },
    ],
    ['the file cut inside the last record', () => 'truncate'],
  ];

  for (const [name, tear] of tears) {
    it(`recovers every record before ${name}, and appends after it`, async () => {
      const dir = await tempDir();
      try {
        const kept = Array.from({ length: 20 }, (_, i) => session(i));
        const torn = session(20);
        await writeAll(dir, kept);
        const before = await snapshot(dir);
        await writeAll(dir, [torn]);
        const after = await snapshot(dir);
        assert.deepEqual([...after.keys()], [...before.keys()], 'no compaction between the snapshots');
        const [file, a] = [...after][0] as [string, Buffer];
        const b = before.get(file) as Buffer;
        let from = 0;
        while (from < a.length && from < b.length && a[from] === b[from]) from++;
        let to = a.length;
        if (a.length === b.length) while (to > from && a[to - 1] === b[to - 1]) to--;
        assert.ok(to > from, 'the last record changed the log');
        const image = tear(b, a, from, to);
        if (image === 'truncate') await fs.truncate(path.join(dir, file), from + Math.floor((to - from) / 2));
        else await fs.writeFile(path.join(dir, file), image);

        assert.deepEqual(
          await xidsIn(dir),
          kept.map((g) => g.xid).sort(),
          'everything before the torn record',
        );
        // The torn bytes are cut off or overwritten: a later record is read back, the torn one never.
        const late = session(21);
        await writeAll(dir, [late]);
        assert.deepEqual(await xidsIn(dir), [...kept, late].map((g) => g.xid).sort());
      } finally {
        await fs.rm(dir, { recursive: true, force: true });
      }
    });
  }

  it('ignores garbage appended after the last record', async () => {
    const dir = await tempDir();
    try {
      const kept = Array.from({ length: 5 }, (_, i) => session(i));
      await writeAll(dir, kept);
      const [file] = [...(await snapshot(dir)).keys()] as [string];
      await fs.appendFile(path.join(dir, file), Buffer.from([0, 0, 0, 40, 0xde, 0xad, 0xbe, 0xef, 1, 2, 3]));
      assert.deepEqual(await xidsIn(dir), kept.map((g) => g.xid).sort());
      const late = session(6);
      await writeAll(dir, [late]);
      assert.deepEqual(await xidsIn(dir), [...kept, late].map((g) => g.xid).sort());
    } finally {
      await fs.rm(dir, { recursive: true, force: true });
    }
  });

  it('compacts a log past its threshold into a smaller one with the same state', async () => {
    const dir = await tempDir();
    try {
      const store = new FileStore({ dir, compactThresholdBytes: 16 * 1024 });
      await store.open();
      const live: GlobalSession[] = [];
      let payloadBytes = 0;
      const write = async (op: Parameters<FileStore['write']>[0], durable: boolean) => {
        payloadBytes += JSON.stringify(op, (_k, v) => (typeof v === 'bigint' ? v.toString() : v)).length;
        const p = store.write(op, durable);
        if (durable) await p;
      };
      for (let i = 0; i < 1000; i++) {
        const g = session(i);
        const branch = {
          branchId: g.transactionId + 1000n,
          xid: g.xid,
          transactionId: g.transactionId,
          resourceGroupId: null,
          resourceId: 'jdbc:mysql://db/orders',
          branchType: BranchType.AT,
          status: 1,
          clientId: 'app:10.0.0.9:1',
          applicationData: null,
          lockKey: `t:${i}`,
          beginTime: g.beginTime,
        };
        await write({ op: 'globalAdd', global: g }, true);
        await write({ op: 'branchAdd', branch }, true);
        if (i % 20 === 0) {
          live.push({ ...g, branches: [branch] });
        } else {
          await write({ op: 'branchRemove', xid: g.xid, branchId: branch.branchId }, false);
          await write({ op: 'globalRemove', xid: g.xid }, true);
        }
      }
      await store.close();
      assert.ok(store.stats.compactions > 0, 'compacted at least once');
      let onDisk = 0;
      for (const f of await fs.readdir(dir)) onDisk += (await fs.stat(path.join(dir, f))).size;
      assert.ok(
        onDisk < payloadBytes / 2,
        `${onDisk} bytes on disk after writing ${payloadBytes} bytes of records`,
      );
      const again = new FileStore({ dir });
      const loaded = await again.open();
      await again.close();
      const byXid = (list: GlobalSession[]) => [...list].sort((a, b) => (a.xid < b.xid ? -1 : 1));
      assert.deepStrictEqual(byXid(loaded), byXid(live));
    } finally {
      await fs.rm(dir, { recursive: true, force: true });
    }
  });

  it('compacts on demand while writes keep coming, losing none of them', async () => {
    const dir = await tempDir();
    try {
      const store = new FileStore({ dir, ringBytes: 4096 });
      await store.open();
      const first = Array.from({ length: 200 }, (_, i) => session(i));
      const second = Array.from({ length: 200 }, (_, i) => session(1000 + i));
      const writes = first.map((g) => store.write({ op: 'globalAdd', global: g }, true));
      const compacting = store.compactNow();
      // Queued while the compaction waits for the writer thread to drain.
      writes.push(...second.map((g) => store.write({ op: 'globalAdd', global: g }, true)));
      await compacting;
      await Promise.all(writes);
      assert.equal(store.stats.compactions, 1);
      const late = session(5000);
      await store.write({ op: 'globalAdd', global: late }, true);
      await store.close();
      assert.deepEqual(await xidsIn(dir), [...first, ...second, late].map((g) => g.xid).sort());
      assert.deepEqual([...(await snapshot(dir)).keys()], ['dtx-session-2.log']);
    } finally {
      await fs.rm(dir, { recursive: true, force: true });
    }
  });

  it('keeps every acknowledged durable write of a process killed with SIGKILL', async () => {
    const dir = await tempDir();
    try {
      const child = path.join(dir, 'writer.mts');
      // Writes with up to 8 writes in flight (so group commit is exercised) and prints each
      // index once its durable write has resolved.
      await fs.writeFile(
        child,
        `
import { FileStore } from ${JSON.stringify(SRC_INDEX)};
const store = new FileStore({ dir: ${JSON.stringify(path.join(dir, 'log'))} });
await store.open();
let next = 0;
async function worker() {
  for (;;) {
    const i = next++;
    const id = (1n << 62n) + BigInt(i);
    await store.write({ op: 'globalAdd', global: {
      xid: '10.0.0.7:8091:' + id, transactionId: id, status: 1, applicationId: 'a',
      transactionServiceGroup: 'g', transactionName: 'n', timeout: 60000, beginTime: i,
      applicationData: null, active: true, branches: [] } }, true);
    process.stdout.write(i + '\\n');
  }
}
for (let w = 0; w < 8; w++) void worker();
`,
      );
      const proc = spawn(process.execPath, ['--import', 'tsx', child], {
        cwd: REPO,
        stdio: ['ignore', 'pipe', 'pipe'],
      });
      let out = '';
      let err = '';
      proc.stderr.on('data', (d: Buffer) => {
        err += d.toString();
      });
      const exited = new Promise<NodeJS.Signals | null>((resolve) =>
        proc.on('exit', (_code, signal) => resolve(signal)),
      );
      await new Promise<void>((resolve, reject) => {
        const timer = setTimeout(
          () => reject(new Error(`writer printed too little in 20 s: ${err}`)),
          20_000,
        );
        proc.stdout.on('data', (d: Buffer) => {
          out += d.toString();
          if (out.split('\n').length > 300) {
            clearTimeout(timer);
            resolve();
          }
        });
      });
      proc.kill('SIGKILL');
      assert.equal(await exited, 'SIGKILL');
      // Only complete lines were acknowledged.
      const acked = out
        .split('\n')
        .slice(0, -1)
        .map((l) => Number(l));
      assert.ok(acked.length >= 300);
      const store = new FileStore({ dir: path.join(dir, 'log') });
      const present = new Set((await store.open()).map((g) => g.beginTime));
      await store.close();
      const lost = acked.filter((i) => !present.has(i));
      assert.deepEqual(lost, [], `${lost.length} of ${acked.length} acknowledged writes lost`);
    } finally {
      await fs.rm(dir, { recursive: true, force: true });
    }
  });
});
