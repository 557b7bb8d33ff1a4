import { runLoad } from '@dtx/testing';
const r = await runLoad({ port: Number(process.argv[2]), concurrency: 64, branches: 2, durationMs: 12000, warmupMs: 200 });
console.log(Math.round(r.tps), r.p50Ms.toFixed(2), r.p99Ms.toFixed(2));
