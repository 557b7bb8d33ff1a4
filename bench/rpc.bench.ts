/**
 * RPC round trips over loopback between two processes: @dtx/remoting request/response with 1,
 * 64 and 512 requests in flight on one session and on 8 sessions, through both request APIs
 * (`request()`, a promise per request, and `call()`, a callback), and beside them, in the same
 * run, a raw framed TCP echo of the same frame size (the physical limit). Reports round trips
 * per second, p50/p99 latency, and the ratios to the echo. `BENCH_CASES=512x1,64x8` picks rows.
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

/** `promise`: `await client.request()`; `callback`: `client.call()` (no promise per request). */
type Api = 'promise' | 'callback';

async function runDtx(port: number, inFlight: number, sessions: number, api: Api): Promise<Result> {
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
  const callbackWorker = (client: Client) =>
    new Promise<void>((resolve, reject) => {
      let t0 = process.hrtime.bigint();
      const next = (err: Error | null): void => {
        if (err) {
          reject(err);
          return;
        }
        lat.add(Number(process.hrtime.bigint() - t0) / 1000);
        done++;
        if (stop) {
          resolve();
          return;
        }
        t0 = process.hrtime.bigint();
        client.call(request, next);
      };
      client.call(request, next);
    });
  const start = Date.now();
  const workers = Array.from({ length: inFlight }, (_, i) =>
    (api === 'promise' ? worker : callbackWorker)(clients[i % sessions] as Client),
  );
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
    // Like a real client: every request gets its own id and send time, every reply is cut out
    // of the stream by its length and matched by its id.
    const sentAt = new Map<number, bigint>();
    let nextId = 1;
    let pending: Buffer = Buffer.alloc(0);
    const request = (): Buffer => {
      const f = Buffer.from(frame);
      const id = nextId++;
      f.writeInt32BE(id, 12);
      sentAt.set(id, process.hrtime.bigint());
      return f;
    };
    return new Promise<void>((resolve) => {
      if (mine === 0) return resolve();
      socket.on('data', (chunk: Buffer) => {
        pending = pending.length ? Buffer.concat([pending, chunk]) : chunk;
        const now = process.hrtime.bigint();
        const out: Buffer[] = [];
        let at = 0;
        while (pending.length - at >= 16) {
          const len = pending.readInt32BE(at + 3);
          if (pending.length - at < len) break;
          const id = pending.readInt32BE(at + 12);
          at += len;
          const t = sentAt.get(id);
          if (t === undefined) continue;
          sentAt.delete(id);
          lat.add(Number(now - t) / 1000);
          done++;
          if (!stop) out.push(request());
        }
        pending = pending.subarray(at);
        if (out.length > 0) socket.write(out.length === 1 ? (out[0] as Buffer) : Buffer.concat(out));
        else if (stop && sentAt.size === 0) resolve();
      });
      socket.write(Buffer.concat(Array.from({ length: mine }, request)));
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
  const widths = [10, 9, 13, 8, 8, 13, 8, 8, 13, 8, 8, 8, 8];
  console.log(
    row(
      [
        'in flight',
        'sessions',
        'promise rt/s',
        'p50 us',
        'p99 us',
        'callback rt/s',
        'p50 us',
        'p99 us',
        'echo rt/s',
        'p50 us',
        'p99 us',
        'ratio',
        'ratio cb',
      ],
      widths,
    ),
  );
  const cases = (process.env.BENCH_CASES ?? '1x1,64x1,512x1,1x8,64x8,512x8').split(',').map((c) => {
    const [inFlight, sessions] = c.split('x').map(Number);
    return { inFlight: inFlight as number, sessions: sessions as number };
  });
  const dtx = await startServer('dtx');
  const echo = await startServer('echo');
  try {
    await runDtx(dtx.port, 64, 1, 'promise'); // warm both sides' JIT
    await runDtx(dtx.port, 64, 1, 'callback');
    await runEcho(echo.port, 64, 1);
    for (const { inFlight, sessions } of cases) {
      const d = await runDtx(dtx.port, inFlight, sessions, 'promise');
      const c = await runDtx(dtx.port, inFlight, sessions, 'callback');
      const e = await runEcho(echo.port, inFlight, sessions);
      console.log(
        row(
          [
            inFlight,
            sessions,
            fmt(d.rps),
            fmt(d.p50),
            fmt(d.p99),
            fmt(c.rps),
            fmt(c.p50),
            fmt(c.p99),
            fmt(e.rps),
            fmt(e.p50),
            fmt(e.p99),
            (d.rps / e.rps).toFixed(2),
            (c.rps / e.rps).toFixed(2),
          ],
          widths,
        ),
      );
    }
  } finally {
    dtx.child.kill('SIGTERM');
    echo.child.kill('SIGTERM');
  }
}

if (import.meta.url === `file://${process.argv[1]}`) await runRpcBench();
