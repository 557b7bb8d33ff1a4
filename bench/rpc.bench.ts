/**
 * RPC round trips over loopback between two processes: @dtx/remoting request/response with 1,
 * 64 and 512 requests in flight on one session and on 8 sessions, and beside it, in the same
 * run, a raw framed TCP echo of the same frame size (the physical limit). Reports round trips
 * per second, p50/p99 latency, and the ratio to the echo.
 */
import { type ChildProcess, spawn } from 'node:child_process';
import net from 'node:net';
import { BranchType, encodeFrame, FrameType, type SingleMessage, TypeCode } from '@dtx/protocol';
import { Client } from '@dtx/remoting';
import { fmt, Latencies, row } from './stats.ts';

const DURATION_MS = Number(process.env.BENCH_MS ?? 3000);
const request: SingleMessage = {
  typeCode: TypeCode.BRANCH_REGISTER,
  xid: '127.0.0.1:8091:2612341069705662465',
  branchType: BranchType.TCC,
  resourceId: 'tcc-demo-action',
  lockKey: null,
  applicationData: '{"actionContext":{"amount":100}}',
};
const frame = encodeFrame({ id: 1, frameType: FrameType.REQUEST_SYNC, body: request });

async function startServer(mode: 'dtx' | 'echo'): Promise<{ child: ChildProcess; port: number }> {
  const child = spawn(
    process.execPath,
    ['--import', 'tsx', new URL('./rpc-server.ts', import.meta.url).pathname, mode],
    {
      stdio: ['ignore', 'pipe', 'inherit'],
    },
  );
  const port = await new Promise<number>((resolve, reject) => {
    let out = '';
    child.stdout?.on('data', (d) => {
      out += d;
      const m = /PORT (\d+)/.exec(out);
      if (m) resolve(Number(m[1]));
    });
    child.once('exit', (code) => reject(new Error(`bench server exited with ${code}`)));
  });
  return { child, port };
}

interface Result {
  rps: number;
  p50: number;
  p99: number;
}

async function runDtx(port: number, inFlight: number, sessions: number): Promise<Result> {
  const clients = Array.from({ length: sessions }, () => new Client({ addresses: [`127.0.0.1:${port}`] }));
  for (const c of clients) c.start();
  await Promise.all(clients.map((c) => c.waitReady(5000)));
  const lat = new Latencies();
  let done = 0;
  let stop = false;
  const worker = async (client: Client) => {
    while (!stop) {
      const t0 = process.hrtime.bigint();
      await client.request(request);
      lat.add(Number(process.hrtime.bigint() - t0) / 1000);
      done++;
    }
  };
  // warm-up
  const warm = setTimeout(() => {}, 0);
  clearTimeout(warm);
  const start = Date.now();
  const workers = Array.from({ length: inFlight }, (_, i) => worker(clients[i % sessions] as Client));
  await new Promise((r) => setTimeout(r, DURATION_MS));
  stop = true;
  const elapsed = (Date.now() - start) / 1000;
  await Promise.all(workers);
  for (const c of clients) await c.close();
  const s = lat.summary();
  return { rps: done / elapsed, p50: s.p50, p99: s.p99 };
}

async function runEcho(port: number, inFlight: number, sessions: number): Promise<Result> {
  const lat = new Latencies();
  let done = 0;
  let stop = false;
  const conns = await Promise.all(
    Array.from(
      { length: sessions },
      () =>
        new Promise<net.Socket>((resolve) => {
          const s = net.connect(port, '127.0.0.1', () => resolve(s));
          s.setNoDelay(true);
        }),
    ),
  );
  const start = Date.now();
  const finished = conns.map((socket, idx) => {
    const mine = Math.floor(inFlight / sessions) + (idx < inFlight % sessions ? 1 : 0);
    const sent: bigint[] = [];
    let pending = Buffer.alloc(0);
    return new Promise<void>((resolve) => {
      if (mine === 0) return resolve();
      socket.on('data', (chunk: Buffer) => {
        pending = pending.length ? Buffer.concat([pending, chunk]) : chunk;
        let n = 0;
        let off = 0;
        while (pending.length - off >= frame.length) {
          off += frame.length;
          n++;
        }
        pending = pending.subarray(off);
        const now = process.hrtime.bigint();
        for (let i = 0; i < n; i++) {
          lat.add(Number(now - (sent.shift() as bigint)) / 1000);
          done++;
        }
        if (stop) {
          if (sent.length === 0) resolve();
          return;
        }
        // Coalesce: one write for every reply this read completed.
        const out: Buffer[] = [];
        for (let i = 0; i < n; i++) {
          out.push(frame);
          sent.push(now);
        }
        socket.write(out.length === 1 ? frame : Buffer.concat(out));
      });
      const t = process.hrtime.bigint();
      const first: Buffer[] = [];
      for (let i = 0; i < mine; i++) {
        first.push(frame);
        sent.push(t);
      }
      socket.write(Buffer.concat(first));
    });
  });
  await new Promise((r) => setTimeout(r, DURATION_MS));
  stop = true;
  const elapsed = (Date.now() - start) / 1000;
  await Promise.race([Promise.all(finished), new Promise((r) => setTimeout(r, 2000))]);
  for (const c of conns) c.destroy();
  const s = lat.summary();
  return { rps: done / elapsed, p50: s.p50, p99: s.p99 };
}

export async function runRpcBench(): Promise<void> {
  console.log(`\n## RPC over loopback, 2 processes (frame ${frame.length} B, ${DURATION_MS} ms per row)`);
  const widths = [10, 9, 13, 10, 10, 13, 10, 10, 8];
  console.log(
    row(
      ['in flight', 'sessions', 'dtx rt/s', 'p50 us', 'p99 us', 'echo rt/s', 'p50 us', 'p99 us', 'ratio'],
      widths,
    ),
  );
  const dtx = await startServer('dtx');
  const echo = await startServer('echo');
  try {
    await runDtx(dtx.port, 64, 1); // warm both sides' JIT
    await runEcho(echo.port, 64, 1);
    for (const sessions of [1, 8]) {
      for (const inFlight of [1, 64, 512]) {
        const d = await runDtx(dtx.port, inFlight, sessions);
        const e = await runEcho(echo.port, inFlight, sessions);
        console.log(
          row(
            [
              inFlight,
              sessions,
              fmt(d.rps),
              fmt(d.p50),
              fmt(d.p99),
              fmt(e.rps),
              fmt(e.p50),
              fmt(e.p99),
              (d.rps / e.rps).toFixed(2),
            ],
            widths,
          ),
        );
      }
    }
  } finally {
    dtx.child.kill('SIGTERM');
    echo.child.kill('SIGTERM');
  }
}

if (import.meta.url === `file://${process.argv[1]}`) await runRpcBench();
