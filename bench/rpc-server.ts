/**
 * The server half of the RPC benchmark, run in its own process. `dtx` mode answers every
 * BranchRegisterRequest through @dtx/remoting; `echo` mode is the physical baseline: a raw
 * framed TCP echo that returns each complete frame, writing once per read.
 * Prints `PORT <n>` on stdout when listening.
 */
import net from 'node:net';
import { ResultCode, type SingleMessage, TypeCode } from '@dtx/protocol';
import { Server } from '@dtx/remoting';

const mode = process.argv[2] ?? 'dtx';

if (mode === 'echo') {
  // The physical baseline: every complete frame is cut out and queued on its own (what any framed
  // server must do), and everything one read completed goes back in one write.
  const server = net.createServer((socket) => {
    socket.setNoDelay(true);
    let pending: Buffer = Buffer.alloc(0);
    socket.on('data', (chunk: Buffer) => {
      pending = pending.length ? Buffer.concat([pending, chunk]) : chunk;
      const out: Buffer[] = [];
      let at = 0;
      while (pending.length - at >= 7) {
        const len = pending.readInt32BE(at + 3);
        if (pending.length - at < len) break;
        out.push(pending.subarray(at, at + len));
        at += len;
      }
      pending = pending.subarray(at);
      if (out.length > 0) socket.write(out.length === 1 ? (out[0] as Buffer) : Buffer.concat(out));
    });
    socket.on('error', () => {});
  });
  server.listen(0, '127.0.0.1', () => console.log(`PORT ${(server.address() as net.AddressInfo).port}`));
} else {
  let branchId = 1n;
  const server = new Server(
    { host: '127.0.0.1', port: 0, readIdleMs: 600_000 },
    {
      onMessage(_session, msg): SingleMessage | undefined {
        if (msg.typeCode !== TypeCode.BRANCH_REGISTER) return undefined;
        return {
          typeCode: TypeCode.BRANCH_REGISTER_RESULT,
          resultCode: ResultCode.Success,
          msg: null,
          exceptionCode: 'Unknown',
          branchId: branchId++,
        };
      },
    },
  );
  server.listen().then((a) => console.log(`PORT ${a.port}`));
}
process.on('SIGTERM', () => process.exit(0));
process.on('SIGINT', () => process.exit(0));
