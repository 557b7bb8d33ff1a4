/**
 * Codec throughput: encode and decode of a BranchRegisterRequest frame and of a MergedWarpMessage
 * holding 16 of them, in messages per second (single thread, no I/O).
 */
import {
  BranchType,
  decodeFrame,
  encodeFrame,
  FrameDecoder,
  FrameType,
  type RpcMessage,
  type SingleMessage,
  TypeCode,
} from '@dtx/protocol';
import { fmt, row } from './stats.ts';

const register: SingleMessage = {
  typeCode: TypeCode.BRANCH_REGISTER,
  xid: '127.0.0.1:8091:2612341069705662465',
  branchType: BranchType.TCC,
  resourceId: 'tcc-demo-action',
  lockKey: null,
  applicationData: '{"actionContext":{"amount":100,"action-start-time":1795234823076,"useTCCFence":true}}',
};
const single: RpcMessage = { id: 5, frameType: FrameType.REQUEST_SYNC, body: register };
const merged: RpcMessage = {
  id: 6,
  frameType: FrameType.REQUEST_ONEWAY,
  body: {
    typeCode: TypeCode.SEATA_MERGE,
    msgs: Array.from({ length: 16 }, () => register),
    msgIds: Array.from({ length: 16 }, (_, i) => i + 100),
  },
};

function measure(name: string, messagesPerOp: number, op: () => void, ms = 1500): string[] {
  for (let i = 0; i < 2000; i++) op(); // warm up
  let ops = 0;
  const start = process.hrtime.bigint();
  const deadline = start + BigInt(ms) * 1_000_000n;
  let now = start;
  while (now < deadline) {
    for (let i = 0; i < 500; i++) op();
    ops += 500;
    now = process.hrtime.bigint();
  }
  const seconds = Number(now - start) / 1e9;
  return [name, fmt((ops * messagesPerOp) / seconds), fmt((seconds * 1e9) / ops, 0)];
}

export function runCodecBench(): void {
  const singleBytes = encodeFrame(single);
  const mergedBytes = encodeFrame(merged);
  const decoder = new FrameDecoder();
  const widths = [36, 16, 14];
  console.log(
    `\n## codec (frame sizes: BranchRegisterRequest ${singleBytes.length} B, merged x16 ${mergedBytes.length} B)`,
  );
  console.log(row(['operation', 'messages/s', 'ns/frame'], widths));
  const results = [
    measure('encode BranchRegisterRequest', 1, () => encodeFrame(single)),
    measure('decode BranchRegisterRequest', 1, () => decodeFrame(singleBytes)),
    measure('stream-decode BranchRegisterRequest', 1, () => decoder.push(singleBytes)),
    measure('encode merged x16', 16, () => encodeFrame(merged)),
    measure('decode merged x16', 16, () => decodeFrame(mergedBytes)),
  ];
  for (const r of results) console.log(row(r, widths));
}

if (import.meta.url === `file://${process.argv[1]}`) runCodecBench();
