import { runLoad } from '@dtx/testing';
for (const c of [16, 64]) {
const r = await runLoad({ port: Number(process.argv[2]), concurrency: c, branches: 2, durationMs: 3000 });
console.log(c, Math.round(r.tps), r.p50Ms.toFixed(2), r.p99Ms.toFixed(2));
}
