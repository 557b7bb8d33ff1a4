/**
 * The dialing side: reconnect with backoff after the server goes away, the onConnect step
 * (registration) on every new session, dial failures (refused, reset, timed out), waitReady's
 * NOT_CONNECTED report, and close() ending the reconnect loop.
 */
import assert from 'node:assert/strict';
import net from 'node:net';
import { performance } from 'node:perf_hooks';
import { describe, it } from 'node:test';
import { ConfigError, ConnectionError } from '@dtx/core';
import { FaultProxy } from '../../testing/src/index.js';
import { Client, Server, type Session } from '../src/index.js';
import {
  begin,
  echo,
  failsWith,
  freePort,
  HOST,
  listenRetrying,
  since,
  sleep,
  startClient,
  startServer,
  TEST_CLIENT_OPTIONS,
  TEST_SERVER_OPTIONS,
  TIMER_SLACK_MS,
  until,
  xidOf,
} from './helpers.js';

describe('reconnect', () => {
  it('reconnects after the server restarts on the same port, running onConnect again', async (t) => {
    const connects: Session[] = [];
    const { server: first, port, address } = await startServer(t, { onMessage: echo('first-') });
    const client = startClient(t, [address], {
      onConnect: async (session) => {
        connects.push(session);
        // Registration: a request on the new session before it carries traffic.
        assert.equal(
          xidOf(await session.request(begin('register'))),
          `${connects.length === 1 ? 'first' : 'second'}-register`,
        );
      },
    });
    await client.waitReady();
    assert.equal(xidOf(await client.request(begin('a'))), 'first-a');

    await first.close();
    await until(() => client.readySessions().length === 0, 'the client to lose its session');
    // Nothing listens for a while: the client keeps trying.
    await until(() => (client.status()[0]?.attempts ?? 0) >= 2, 'reconnect attempts');
    assert.match(client.status()[0]?.lastError ?? '', /CONNECTION_REFUSED/);

    const second = new Server({ ...TEST_SERVER_OPTIONS, port }, { onMessage: echo('second-') });
    t.after(() => second.close());
    await listenRetrying(second);
    await client.waitReady(3000);
    assert.equal(xidOf(await client.request(begin('b'))), 'second-b');
    assert.equal(connects.length, 2);
    assert.notStrictEqual(connects[1], connects[0]);
    assert.equal(client.status()[0]?.attempts, 0, 'a ready session resets the backoff');
    assert.equal(second.sessions.size, 1);
  });

  it('closes the session and retries with growing backoff when onConnect throws', async (t) => {
    const serverCloses: Array<Error | null> = [];
    const { address } = await startServer(t, { onMessage: echo(), onClose: (_s, r) => serverCloses.push(r) });
    const calls: Array<{ at: number; attempts: number; lastError: string | null }> = [];
    const FAILURES = 5;
    const client = startClient(
      t,
      [address],
      {
        onConnect: async () => {
          const s = client.status()[0];
          calls.push({ at: performance.now(), attempts: s?.attempts ?? -1, lastError: s?.lastError ?? null });
          if (calls.length <= FAILURES) throw new Error(`registration refused #${calls.length}`);
        },
      },
      { reconnectInitialMs: 20, reconnectMaxMs: 10_000 },
    );
    await client.waitReady(5000);

    assert.equal(calls.length, FAILURES + 1);
    assert.deepEqual(
      calls.map((c) => c.attempts),
      [0, 1, 2, 3, 4, 5],
    );
    for (let i = 1; i < calls.length; i++) {
      assert.equal(calls[i]?.lastError, `registration refused #${i}`);
      // Attempt i waited at least half of 20 ms × 2^(i-1) (the jitter takes off up to half).
      const gap = (calls[i]?.at ?? 0) - (calls[i - 1]?.at ?? 0);
      const floor = (20 * 2 ** (i - 1)) / 2;
      assert.ok(gap >= floor - TIMER_SLACK_MS, `gap ${i}: ${gap} ms < ${floor} ms`);
    }
    await until(() => serverCloses.length === FAILURES, 'the server to see each refused session close');
    assert.equal(client.status()[0]?.attempts, 0);
    assert.equal(xidOf(await client.request(begin('in'))), 'in');
  });

  it('recovers once a proxy that resets every new connection stops doing so', async (t) => {
    const { port } = await startServer(t, { onMessage: echo() });
    const proxy = await FaultProxy.start({ target: { host: HOST, port } });
    t.after(() => proxy.close());
    proxy.refuse(true);
    const client = startClient(t, [proxy.address], {
      onConnect: async (session) => {
        await session.request(begin('register'));
      },
    });

    await until(() => (client.status()[0]?.attempts ?? 0) >= 3, 'three failed attempts');
    assert.deepEqual(client.readySessions(), []);
    assert.match(client.status()[0]?.lastError ?? '', /CONNECTION_CLOSED|ECONNRESET/);

    proxy.refuse(false);
    await client.waitReady(3000);
    assert.equal(xidOf(await client.request(begin('through'))), 'through');
  });
});

describe('dial failures', () => {
  it('fails a dial with DIAL_TIMEOUT when the TLS handshake never completes', async (t) => {
    // A plain TCP server that accepts and never answers: the TCP connect succeeds, the TLS
    // 'secureConnect' never comes.
    const accepted: net.Socket[] = [];
    let serverSideClosed = 0;
    const silent = net.createServer((s) => {
      accepted.push(s);
      s.on('error', () => {});
      s.on('close', () => serverSideClosed++);
      s.resume(); // read (and ignore) the ClientHello, so the client's FIN is seen
    });
    await new Promise<void>((resolve) => silent.listen(0, HOST, resolve));
    t.after(() => {
      for (const s of accepted) s.destroy();
      silent.close();
    });
    const address = `${HOST}:${(silent.address() as net.AddressInfo).port}`;
    const client = new Client({ ...TEST_CLIENT_OPTIONS, addresses: [address], dialTimeoutMs: 200, tls: {} });
    t.after(() => client.close());

    const start = performance.now();
    await failsWith(client.connectSocket(address), 'DIAL_TIMEOUT');
    assert.ok(since(start) >= 200 - TIMER_SLACK_MS);
    // The abandoned socket is closed, not leaked.
    await until(() => accepted.length === 1 && serverSideClosed === 1, 'the server side to see the close');

    // The same through the state machine: waitReady names the address and the reason.
    client.start();
    await until(() => /DIAL_TIMEOUT/.test(client.status()[0]?.lastError ?? ''), 'a timed-out attempt');
    const err = await failsWith(client.waitReady(50), 'NOT_CONNECTED');
    assert.match(err.message, new RegExp(`${address}.*DIAL_TIMEOUT`));
  });

  it('refuses a connection to itself with SELF_CONNECT (TCP simultaneous open)', async (t) => {
    // Dialing a port nobody listens on from that same port makes Linux connect the socket to
    // itself: the case Getty checks for, forced here with localPort.
    const port = await freePort();
    const address = `${HOST}:${port}`;
    const client = new Client({
      ...TEST_CLIENT_OPTIONS,
      addresses: [address],
      localAddress: HOST,
      localPort: port,
    });
    t.after(() => client.close());
    await failsWith(client.connectSocket(address), 'SELF_CONNECT');
    // The socket is closed: the port is free again for a listener.
    const probe = net.createServer();
    await new Promise<void>((resolve, reject) => {
      probe.once('error', reject);
      probe.listen(port, HOST, resolve);
    });
    probe.close();
  });

  it('names localAddress and localPort in a ConfigError when they are not an address or a port', () => {
    assert.throws(
      () => new Client({ ...TEST_CLIENT_OPTIONS, addresses: [`${HOST}:1`], localAddress: 'not-an-ip' }),
      (err: Error) => err instanceof ConfigError && /client\.localAddress/.test(err.message),
    );
    assert.throws(
      () => new Client({ ...TEST_CLIENT_OPTIONS, addresses: [`${HOST}:1`], localPort: 70000 }),
      (err: Error) => err instanceof ConfigError && /client\.localPort/.test(err.message),
    );
  });

  it('waitReady fails with NOT_CONNECTED naming every address when nothing listens', async (t) => {
    const addresses = [`${HOST}:${await freePort()}`, `${HOST}:${await freePort()}`];
    const client = startClient(t, addresses);
    const start = performance.now();
    const err = await failsWith(client.waitReady(300), 'NOT_CONNECTED');
    assert.ok(since(start) >= 300 - TIMER_SLACK_MS);
    for (const a of addresses) assert.match(err.message, new RegExp(`${a}: \\w+ \\(CONNECTION_REFUSED`));
    // A request with no session waits the same way and fails the same way.
    await failsWith(client.request(begin('x'), { timeoutMs: 100 }), 'NOT_CONNECTED');
  });

  it('reports a refused dial as CONNECTION_REFUSED', async (t) => {
    const address = `${HOST}:${await freePort()}`;
    const client = new Client({ ...TEST_CLIENT_OPTIONS, addresses: [address] });
    t.after(() => client.close());
    await failsWith(client.connectSocket(address), 'CONNECTION_REFUSED');
  });
});

describe('close', () => {
  it('client.close() stops reconnecting', async (t) => {
    const port = await freePort();
    const client = startClient(t, [`${HOST}:${port}`], {}, { reconnectInitialMs: 20, reconnectMaxMs: 40 });
    await until(() => (client.status()[0]?.attempts ?? 0) >= 2, 'reconnect attempts');
    await client.close();
    assert.deepEqual(
      client.status().map((s) => s.state),
      ['closed'],
    );
    await client.close(); // idempotent
    assert.throws(() => client.start(), ConnectionError);
    await failsWith(client.waitReady(1000), 'NOT_CONNECTED');

    // Something listens there now; a client still trying would show up within a few backoffs.
    let connections = 0;
    const listener = net.createServer((s) => {
      connections++;
      s.destroy();
    });
    await new Promise<void>((resolve, reject) => {
      listener.once('error', reject);
      listener.listen(port, HOST, resolve);
    });
    t.after(() => listener.close());
    await sleep(300);
    assert.equal(connections, 0);
  });

  it('client.close() closes its ready sessions', async (t) => {
    const serverCloses: Array<Error | null> = [];
    const { server, address } = await startServer(t, {
      onMessage: echo(),
      onClose: (_s, r) => serverCloses.push(r),
    });
    const client = startClient(t, [address]);
    await client.waitReady();
    const [session] = client.readySessions();
    await until(() => server.sessions.size === 1, 'the server session');
    await client.close();
    assert.equal(session?.isOpen, false);
    await until(() => server.sessions.size === 0, 'the server to see the close');
    assert.deepEqual(serverCloses, [null], 'an orderly close');
  });
});
