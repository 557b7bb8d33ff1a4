import assert from 'node:assert/strict';
import { randomBytes } from 'node:crypto';
import net, { type Server, type Socket } from 'node:net';
import { performance } from 'node:perf_hooks';
import { type TestContext, test } from 'node:test';
import { setTimeout as sleep } from 'node:timers/promises';
import { FaultProxy } from '../src/fault-proxy.js';

const HOST = '127.0.0.1';
/** Upper bound on any single wait, so a broken proxy fails the test instead of hanging CI. */
const WAIT_MS = 3000;
/** How long to watch for bytes that must not arrive. */
const QUIET_MS = 150;

/** Polls `condition` until it holds; fails after `timeoutMs`. */
async function until(condition: () => boolean, what: string, timeoutMs = WAIT_MS): Promise<void> {
  const deadline = performance.now() + timeoutMs;
  while (!condition()) {
    if (performance.now() > deadline) assert.fail(`timed out after ${timeoutMs} ms waiting for ${what}`);
    await sleep(2);
  }
}

/** One end of a TCP connection that records what it reads and how it ended. */
class Peer {
  private readonly chunks: Buffer[] = [];
  private bytes = 0;
  error: NodeJS.ErrnoException | undefined;
  closed = false;

  constructor(readonly socket: Socket) {
    socket.on('data', (chunk: Buffer) => {
      this.chunks.push(chunk);
      this.bytes += chunk.length;
    });
    socket.on('error', (err) => {
      this.error = err;
    });
    socket.on('close', () => {
      this.closed = true;
    });
  }

  /** Everything read so far. */
  get received(): Buffer {
    return Buffer.concat(this.chunks);
  }

  waitForBytes(n: number): Promise<void> {
    return until(() => this.bytes >= n, `${n} bytes (have ${this.bytes})`);
  }

  waitForClose(): Promise<void> {
    return until(() => this.closed, 'the socket to close');
  }
}

/** A TCP echo server on 127.0.0.1 that also keeps a {@link Peer} per accepted connection. */
async function startEcho(t: TestContext): Promise<{ server: Server; port: number; peers: Peer[] }> {
  const peers: Peer[] = [];
  const server = net.createServer((socket) => {
    peers.push(new Peer(socket));
    socket.pipe(socket);
  });
  await new Promise<void>((resolve) => server.listen(0, HOST, resolve));
  t.after(() => {
    for (const peer of peers) peer.socket.destroy();
    server.close();
  });
  return { server, port: (server.address() as net.AddressInfo).port, peers };
}

/** An echo server with a proxy in front of it, both torn down after the test. */
async function setup(t: TestContext) {
  const echo = await startEcho(t);
  const proxy = await FaultProxy.start({ target: { host: HOST, port: echo.port } });
  t.after(() => proxy.close());
  return { echo, proxy };
}

/** Dials `port` and waits for the connection (or its failure), with a bounded wait. */
async function dial(t: TestContext, port: number): Promise<Peer> {
  const peer = new Peer(net.connect(port, HOST));
  t.after(() => peer.socket.destroy());
  await until(() => !peer.socket.connecting || peer.closed, 'the dial to finish');
  return peer;
}

test('forwards 4 MiB both ways intact and counts the bytes', async (t) => {
  const { echo, proxy } = await setup(t);
  assert.equal(proxy.host, HOST);
  assert.equal(proxy.address, `${HOST}:${proxy.port}`);
  const client = await dial(t, proxy.port);
  await proxy.waitForConnections(1, WAIT_MS);
  const data = randomBytes(4 * 1024 * 1024);
  client.socket.end(data);
  await client.waitForClose();
  assert.equal(client.error, undefined);
  assert.ok(client.received.equals(data), 'echo differs from what was sent');
  assert.ok(echo.peers[0]!.received.equals(data), 'target received different bytes');
  assert.deepEqual(proxy.bytesForwarded, { upstream: data.length, downstream: data.length });
  await proxy.waitForConnections(0, WAIT_MS);
});

test('setDelay holds every chunk at least the delay, in order', async (t) => {
  const { proxy } = await setup(t);
  const client = await dial(t, proxy.port);
  const delayMs = 100;

  proxy.setDelay(delayMs);
  let start = performance.now();
  client.socket.write('a');
  await client.waitForBytes(1);
  assert.ok(performance.now() - start >= 2 * delayMs, 'a round trip pays the delay both ways');

  proxy.setDelay(delayMs, 'upstream');
  proxy.setDelay(0, 'downstream');
  start = performance.now();
  for (const part of ['b', 'c', 'd']) client.socket.write(part);
  await client.waitForBytes(4);
  assert.ok(performance.now() - start >= delayMs);
  assert.equal(client.received.toString(), 'abcd');
});

test('cutAfter downstream delivers exactly N bytes counted from the call, then closes', async (t) => {
  const { echo, proxy } = await setup(t);
  const client = await dial(t, proxy.port);
  client.socket.write(Buffer.alloc(100, 1));
  await client.waitForBytes(100); // bytes before the call do not count

  proxy.cutAfter(300, 'downstream');
  // One 1000-byte write comes back in chunks that straddle the cut.
  client.socket.write(Buffer.alloc(1000, 2));
  await client.waitForClose();
  assert.equal(client.received.length, 400);
  assert.ok(client.received.subarray(100).equals(Buffer.alloc(300, 2)));
  await echo.peers[0]!.waitForClose();
  await proxy.waitForConnections(0, WAIT_MS);
});

test('cutAfter upstream delivers exactly N bytes to the target, also on new connections', async (t) => {
  const { echo, proxy } = await setup(t);
  proxy.cutAfter(300, 'upstream'); // armed before the connection exists
  const client = await dial(t, proxy.port);
  client.socket.write(Buffer.alloc(1000, 3));
  await client.waitForClose();
  await until(() => echo.peers.length === 1, 'the target to accept');
  const target = echo.peers[0]!;
  await target.waitForClose();
  assert.ok(target.received.equals(Buffer.alloc(300, 3)), `target got ${target.received.length} bytes`);
  assert.ok(client.received.length <= 300);
  assert.equal(proxy.bytesForwarded.upstream, 300);
});

test('cutAfter flushes the whole prefix to a slow reader before closing', async (t) => {
  const { echo, proxy } = await setup(t);
  const client = await dial(t, proxy.port);
  const data = randomBytes(16 * 1024 * 1024);
  const cut = 8 * 1024 * 1024; // more than loopback kernel buffers hold for a reader that does not read

  client.socket.pause();
  proxy.hang('downstream'); // the proxy reads the whole echo into its queue
  client.socket.write(data);
  await until(() => echo.peers[0]?.socket.bytesWritten === data.length, 'the target to echo everything');
  await sleep(50); // let the proxy read what is still in flight on loopback
  proxy.cutAfter(cut, 'downstream');
  proxy.resume('downstream');
  assert.equal(proxy.bytesForwarded.downstream, cut);

  client.socket.resume();
  await client.waitForClose();
  assert.equal(client.error, undefined);
  assert.ok(client.received.equals(data.subarray(0, cut)), `client got ${client.received.length} bytes`);
});

test('cutAfter both cuts at whichever direction spends its budget first', async (t) => {
  const { proxy } = await setup(t);
  const client = await dial(t, proxy.port);
  proxy.cutAfter(5);
  client.socket.write('abc'); // 3 of 5 up, 3 of 5 down
  await client.waitForBytes(3);
  client.socket.write('defg'); // the upstream budget runs out after 'de'
  await client.waitForClose();
  assert.ok(client.received.length <= 5);
  assert.equal(proxy.bytesForwarded.upstream, 5);
});

test('hang holds bytes with the socket open; resume delivers them', async (t) => {
  const { echo, proxy } = await setup(t);
  const client = await dial(t, proxy.port);
  await proxy.waitForConnections(1, WAIT_MS);

  proxy.hang();
  client.socket.write('ping');
  await sleep(QUIET_MS);
  assert.equal(client.received.length, 0);
  assert.equal(echo.peers[0]?.received.length ?? 0, 0);
  assert.equal(client.closed, false);
  assert.equal(proxy.connections, 1);

  proxy.resume();
  await client.waitForBytes(4);
  assert.equal(client.received.toString(), 'ping');
});

test('hang downstream lets requests through but holds the responses', async (t) => {
  const { echo, proxy } = await setup(t);
  const client = await dial(t, proxy.port);
  proxy.hang('downstream');
  client.socket.write('ping');
  await until(() => echo.peers[0]?.received.length === 4, 'the target to read the request');
  await sleep(QUIET_MS);
  assert.equal(client.received.length, 0);
  proxy.resume('downstream');
  await client.waitForBytes(4);
  assert.equal(client.received.toString(), 'ping');
});

test('resetAll gives the client ECONNRESET', async (t) => {
  const { echo, proxy } = await setup(t);
  const client = await dial(t, proxy.port);
  client.socket.write('x');
  await client.waitForBytes(1);

  proxy.resetAll();
  await client.waitForClose();
  assert.equal(client.error?.code, 'ECONNRESET');
  await echo.peers[0]!.waitForClose();
  assert.equal(echo.peers[0]!.error?.code, 'ECONNRESET');
  await proxy.waitForConnections(0, WAIT_MS);
});

test('refuse resets new connections while existing ones keep working', async (t) => {
  const { proxy } = await setup(t);
  const existing = await dial(t, proxy.port);
  await proxy.waitForConnections(1, WAIT_MS);

  proxy.refuse(true);
  const refused = await dial(t, proxy.port);
  await refused.waitForClose();
  assert.equal(refused.error?.code, 'ECONNRESET');
  assert.equal(proxy.connections, 1);
  existing.socket.write('still here');
  await existing.waitForBytes(10);
  assert.equal(existing.received.toString(), 'still here');

  proxy.refuse(false);
  const later = await dial(t, proxy.port);
  later.socket.write('ok');
  await later.waitForBytes(2);
  assert.equal(later.received.toString(), 'ok');
});

test('drop discards bytes for good; clearFaults forwards again', async (t) => {
  const { echo, proxy } = await setup(t);
  const client = await dial(t, proxy.port);
  await proxy.waitForConnections(1, WAIT_MS);

  proxy.drop('upstream');
  client.socket.write('lost');
  await sleep(QUIET_MS);
  assert.equal(echo.peers[0]?.received.length ?? 0, 0);

  proxy.clearFaults();
  client.socket.write('kept');
  await client.waitForBytes(4);
  await sleep(QUIET_MS); // nothing of 'lost' trails behind
  assert.equal(client.received.toString(), 'kept');
  assert.equal(echo.peers[0]!.received.toString(), 'kept');
  assert.equal(proxy.bytesForwarded.upstream, 4);
});

test('a target that refuses closes the client without crashing the proxy', async (t) => {
  const closed = net.createServer();
  await new Promise<void>((resolve) => closed.listen(0, HOST, resolve));
  const deadPort = (closed.address() as net.AddressInfo).port;
  await new Promise<void>((resolve) => closed.close(() => resolve()));

  const proxy = await FaultProxy.start({ target: { host: HOST, port: deadPort } });
  t.after(() => proxy.close());
  const client = await dial(t, proxy.port);
  await client.waitForClose();
  await proxy.waitForConnections(0, WAIT_MS);
});

test('waitForConnections rejects after its timeout', async (t) => {
  const { proxy } = await setup(t);
  await assert.rejects(proxy.waitForConnections(1, 50), /timed out after 50 ms/);
});

test('close is idempotent, ends live connections and frees the port', async (t) => {
  const { proxy } = await setup(t);
  const client = await dial(t, proxy.port);
  await proxy.waitForConnections(1, WAIT_MS);
  const { port } = proxy;

  await Promise.all([proxy.close(), proxy.close()]);
  await proxy.close();
  await client.waitForClose();
  assert.equal(proxy.port, port);

  const late = await dial(t, port);
  await late.waitForClose();
  assert.equal(late.error?.code, 'ECONNREFUSED');

  const again = net.createServer();
  await new Promise<void>((resolve, reject) => {
    again.once('error', reject);
    again.listen(port, HOST, resolve);
  });
  await new Promise<void>((resolve) => again.close(() => resolve()));
});
