/**
 * A client of a three-TC cluster keeps one session per TC and routes each request by
 * `client.loadBalance.type`: XID sends a request carrying an XID to the TC its prefix names and
 * falls back to any ready TC when that one is unknown or gone; RoundRobin and Random spread
 * requests without an XID over all of them.
 */
import assert from 'node:assert/strict';
import { describe, it, type TestContext } from 'node:test';
import type { Server } from '../src/index.js';
import { begin, echo, startClient, startServer, until, xidOf } from './helpers.js';

/** Three servers whose answers name them: `s1-…`, `s2-…`, `s3-…`. */
async function cluster(t: TestContext): Promise<Array<{ server: Server; port: number; address: string }>> {
  return Promise.all([1, 2, 3].map((i) => startServer(t, { onMessage: echo(`s${i}:`) })));
}

/** Which server answered a begin: the prefix of the xid. */
function answeredBy(xid: string): string {
  return xid.slice(0, xid.indexOf(':'));
}

/** How many of `xids` each server answered. */
function tally(xids: string[]): Record<string, number> {
  const out: Record<string, number> = {};
  for (const x of xids) out[answeredBy(x)] = (out[answeredBy(x)] ?? 0) + 1;
  return out;
}

describe('XID load balance', () => {
  it('sends a request carrying an XID to the TC the XID names, with one session per TC', async (t) => {
    const servers = await cluster(t);
    const client = startClient(
      t,
      servers.map((s) => s.address),
    );
    await client.waitReady(3000, 3);
    const [, s2, s3] = servers as [unknown, { port: number; server: Server }, { port: number }];

    const viaS2 = await Promise.all(
      Array.from({ length: 10 }, (_, i) =>
        client.request(begin(`x${i}`), { xid: `127.0.0.1:${s2.port}:${123 + i}` }),
      ),
    );
    assert.deepEqual(tally(viaS2.map((r) => xidOf(r))), { s2: 10 });
    const viaS3 = await client.request(begin('y'), { xid: `127.0.0.1:${s3.port}:9854250467598337` });
    assert.equal(answeredBy(xidOf(viaS3)), 's3');

    for (const { server } of servers) assert.equal(server.sessions.size, 1, 'one session per TC address');
  });

  it('falls back to a ready TC when the XID names an unknown TC or one that is down', async (t) => {
    const servers = await cluster(t);
    const client = startClient(
      t,
      servers.map((s) => s.address),
      {},
      { reconnectInitialMs: 10_000 },
    );
    await client.waitReady(3000, 3);

    const unknown = await Promise.all(
      Array.from({ length: 12 }, () => client.request(begin('u'), { xid: '127.0.0.1:1:5' })),
    );
    for (const r of unknown) assert.match(xidOf(r), /^s[123]:u$/);

    const s2 = servers[1] as { server: Server; port: number };
    await s2.server.close();
    await until(() => client.readySessions().length === 2, 'the client to drop the session to s2');
    const rerouted = await Promise.all(
      Array.from({ length: 12 }, () => client.request(begin('r'), { xid: `127.0.0.1:${s2.port}:77` })),
    );
    for (const r of rerouted) assert.match(xidOf(r), /^s[13]:r$/);
  });
});

describe('balancing without an XID', () => {
  it('RoundRobin spreads requests evenly over all three TCs', async (t) => {
    const servers = await cluster(t);
    const client = startClient(
      t,
      servers.map((s) => s.address),
      {},
      { loadBalance: 'RoundRobin' },
    );
    await client.waitReady(3000, 3);
    const xids: string[] = [];
    for (let i = 0; i < 30; i++) xids.push(xidOf(await client.request(begin(`${i}`))));
    assert.deepEqual(tally(xids), { s1: 10, s2: 10, s3: 10 });
  });

  it('the default XID balancer with no XID and Random both reach every TC', async (t) => {
    const servers = await cluster(t);
    for (const loadBalance of ['XID', 'Random'] as const) {
      const client = startClient(
        t,
        servers.map((s) => s.address),
        {},
        { loadBalance },
      );
      await client.waitReady(3000, 3);
      // P(some TC gets none of 90 uniform picks) = 3 × (2/3)^90 ≈ 4e-16.
      const xids = await Promise.all(Array.from({ length: 90 }, (_, i) => client.request(begin(`${i}`))));
      const counts = tally(xids.map((r) => xidOf(r)));
      assert.deepEqual(
        Object.keys(counts).sort(),
        ['s1', 's2', 's3'],
        `${loadBalance}: ${JSON.stringify(counts)}`,
      );
      await client.close();
    }
  });
});
