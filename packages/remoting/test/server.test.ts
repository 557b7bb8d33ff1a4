/**
 * The accepting side: many sessions at once, server.sessions tracking connects and disconnects,
 * maxConnections refusing the excess, the session open/close diagnostics channels, and the
 * graceful close (stop accepting, let in-flight handlers answer, then close sessions).
 */
import assert from 'node:assert/strict';
import diagnosticsChannel from 'node:diagnostics_channel';
import net from 'node:net';
import { describe, it } from 'node:test';
import { Channels } from '@dtx/core';
import { FrameType } from '@dtx/protocol';
import { Client, type Session } from '../src/index.js';
import {
  begin,
  beginResult,
  connectRaw,
  echo,
  gate,
  HOST,
  nameOf,
  type RawPeer,
  startClient,
  startServer,
  TEST_CLIENT_OPTIONS,
  until,
  within,
  xidOf,
} from './helpers.js';

/** Generous for 200 connections on a loaded CI machine; a bound, not an expectation. */
const WAIT = 10_000;

describe('many sessions', () => {
  it('serves 200 clients at once and tracks their sessions as they come and go', async (t) => {
    let opened = 0;
    let closed = 0;
    const { server, address } = await startServer(t, {
      onMessage: echo('tc-'),
      onOpen: () => opened++,
      onClose: () => closed++,
    });
    const N = 200;
    const clients = Array.from(
      { length: N },
      () => new Client({ ...TEST_CLIENT_OPTIONS, addresses: [address] }),
    );
    t.after(() => Promise.all(clients.map((c) => c.close())));
    for (const c of clients) c.start();
    await within(Promise.all(clients.map((c) => c.waitReady(WAIT))), 'every client to connect', WAIT);
    await until(() => server.sessions.size === N, `${N} sessions (have ${server.sessions.size})`);

    const results = await Promise.all(
      clients.map(async (c, i) => {
        const out: string[] = [];
        for (let j = 0; j < 3; j++) out.push(xidOf(await c.request(begin(`${i}.${j}`))));
        return out;
      }),
    );
    for (const [i, out] of results.entries()) {
      assert.deepEqual(
        out,
        [0, 1, 2].map((j) => `tc-${i}.${j}`),
      );
    }

    await Promise.all(clients.slice(0, N / 2).map((c) => c.close()));
    await until(() => server.sessions.size === N / 2, `${N / 2} sessions (have ${server.sessions.size})`);
    await Promise.all(clients.slice(N / 2).map((c) => c.close()));
    await until(() => server.sessions.size === 0, `no sessions (have ${server.sessions.size})`);
    assert.equal(opened, N);
    await until(() => closed === N, 'every close to be reported');
  });

  it('refuses connections past maxConnections and counts them', async (t) => {
    const { server, port } = await startServer(t, {}, { maxConnections: 5 });
    const peers: RawPeer[] = [];
    for (let i = 0; i < 8; i++) {
      peers.push(await connectRaw(t, port));
      // One at a time, so which ones are over the limit is known.
      await until(
        () => server.sessions.size + server.refusedConnections === i + 1,
        `connection ${i} to be handled`,
      );
    }
    assert.equal(server.refusedConnections, 3);
    assert.equal(server.sessions.size, 5);
    for (const p of peers.slice(5)) await p.waitClose();
    for (const [i, p] of peers.slice(0, 5).entries()) {
      assert.equal(p.closed, false);
      await p.roundTrip(100 + i);
    }

    // A place freed is a place taken.
    peers[0]?.destroy();
    await until(() => server.sessions.size === 4, 'the freed place');
    const late = await connectRaw(t, port);
    await late.roundTrip(1);
    assert.equal(server.sessions.size, 5);
    assert.equal(server.refusedConnections, 3);
  });

  it('publishes session open and close on dtx:remoting:session-open / session-close', async (t) => {
    const events: string[] = [];
    let port = 0;
    // Only this test's two sessions: both have the server's port at one end.
    const ours = (s: Session) => s.localAddress.endsWith(`:${port}`) || s.remoteAddress.endsWith(`:${port}`);
    const onOpen = (m: unknown) => {
      const { session } = m as { session: Session };
      if (ours(session)) events.push(`open:${session.role}`);
    };
    const onClose = (m: unknown) => {
      const { session, reason } = m as { session: Session; reason: Error | null };
      if (ours(session)) events.push(`close:${session.role}:${reason}`);
    };
    diagnosticsChannel.subscribe(Channels.REMOTING_SESSION_OPEN, onOpen);
    diagnosticsChannel.subscribe(Channels.REMOTING_SESSION_CLOSE, onClose);
    t.after(() => {
      diagnosticsChannel.unsubscribe(Channels.REMOTING_SESSION_OPEN, onOpen);
      diagnosticsChannel.unsubscribe(Channels.REMOTING_SESSION_CLOSE, onClose);
    });
    const started = await startServer(t, {});
    port = started.port;
    const client = startClient(t, [started.address]);
    await client.waitReady();
    await until(() => events.length === 2, `two opens (have ${events})`);
    await client.close();
    await until(() => events.length === 4, 'two closes');
    assert.deepEqual(events.slice(0, 2).sort(), ['open:client', 'open:server']);
    assert.deepEqual(events.slice(2).sort(), ['close:client:null', 'close:server:null']);
  });
});

describe('graceful close', () => {
  it('stops accepting, lets an in-flight handler answer, then closes the sessions; idempotent', async (t) => {
    const release = gate();
    t.after(() => release.open());
    let slowStarted = false;
    const { server, port, address } = await startServer(
      t,
      {
        onMessage: async (_s, msg) => {
          if (nameOf(msg) === 'slow') {
            slowStarted = true;
            await release.promise;
          }
          return beginResult(nameOf(msg));
        },
      },
      { drainTimeoutMs: 5000 },
    );
    const events: string[] = [];
    const client = startClient(
      t,
      [address],
      { onClose: () => events.push('client session closed') },
      { reconnect: false },
    );
    await client.waitReady();
    const slow = client.request(begin('slow')).then((r) => {
      events.push(`response ${xidOf(r)}`);
    });
    await until(() => slowStarted, 'the slow handler to start');

    const closing = server.close();
    // New connections are refused at once.
    const refused = await new Promise<NodeJS.ErrnoException | null>((resolve) => {
      const s = net.connect({ host: HOST, port });
      s.once('connect', () => {
        s.destroy();
        resolve(null);
      });
      s.once('error', (err) => resolve(err));
    });
    assert.equal(refused?.code, 'ECONNREFUSED');
    assert.strictEqual(server.close(), closing, 'close() while closing returns the same promise');
    assert.deepEqual(events, [], 'the session waits for its handler');
    const [session] = server.sessions;
    assert.ok(session?.isOpen);

    release.open();
    await slow;
    await within(closing, 'the close');
    await until(() => events.length === 2, 'the client to see the close');
    assert.deepEqual(events, ['response slow', 'client session closed']);
    assert.equal(server.sessions.size, 0);
    assert.equal(session?.isOpen, false);
    await server.close(); // still fine afterwards
  });

  it('closes sessions after drainTimeoutMs when a handler never finishes', async (t) => {
    const never = gate();
    t.after(() => never.open());
    const { server, address } = await startServer(
      t,
      {
        onMessage: async () => {
          await never.promise;
          return undefined;
        },
      },
      { drainTimeoutMs: 150 },
    );
    const client = startClient(t, [address], {}, { reconnect: false, requestTimeoutMs: 5000 });
    await client.waitReady();
    const pending = client.request(begin('forever')).catch((e: unknown) => e);
    await until(() => [...server.sessions][0]?.activeHandlers === 1, 'the handler to start');
    const start = Date.now();
    await within(server.close(), 'the close');
    assert.ok(Date.now() - start >= 150 - 5);
    const err = await pending;
    assert.equal((err as { code?: string }).code, 'CONNECTION_CLOSED');
    assert.equal(server.sessions.size, 0);
  });

  it('a raw peer still connected when the server closes gets its socket closed', async (t) => {
    const { server, port } = await startServer(t, {});
    const raw = await connectRaw(t, port);
    await raw.roundTrip(1);
    await within(server.close(), 'the close');
    await raw.waitClose();
    assert.equal(raw.ended, true, 'an orderly FIN, not a reset');
    assert.deepEqual(
      raw.frames.map((f) => f.frameType),
      [FrameType.HEARTBEAT_RESPONSE],
    );
  });
});
