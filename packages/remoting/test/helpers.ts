/**
 * Shared pieces of the remoting suite: raw peers that speak real Seata frames on real sockets
 * (STYLE rule 10), servers and clients with short timers that are torn down after each test,
 * message builders, bounded waits, and the live Java capture from seata-vectors.txt. Not a test
 * file.
 */
import assert from 'node:assert/strict';
import { readFileSync } from 'node:fs';
import net from 'node:net';
import { performance } from 'node:perf_hooks';
import type { TestContext } from 'node:test';
import { ConnectionError } from '@dtx/core';
import {
  encodeFrame,
  FrameDecoder,
  FrameType,
  type GlobalBeginRequest,
  type GlobalBeginResponse,
  type Message,
  type ProtocolError,
  ResultCode,
  type RpcMessage,
  type SingleMessage,
  TypeCode,
} from '@dtx/protocol';
import { boundedWaits, sleep } from '@dtx/testing';
import { VECTORS_PATH } from '../../protocol/test/vectors.js';
import {
  Client,
  type ClientListener,
  type ClientOptions,
  Server,
  type ServerOptions,
  type Session,
  type SessionListener,
} from '../src/index.js';

export { freePort, sleep } from '@dtx/testing';

/** Every test binds here; nothing leaves loopback. */
export const HOST = '127.0.0.1';
/** Upper bound of any single wait, so a broken layer fails the test instead of hanging it. */
export const WAIT_MS = 4000;

// -------------------------------------------------------------------------------------------
// waiting

/** `until` and `within` of @dtx/testing, bounded by WAIT_MS unless told otherwise (polling every 5 ms). */
export const { until, within } = boundedWaits(WAIT_MS, 5);

/**
 * Attaches to `promise` at once, so its rejection is never unhandled, and resolves with the
 * ConnectionError with `code` it must fail with (within WAIT_MS).
 */
export function failsWith(promise: Promise<unknown>, code = 'CONNECTION_CLOSED'): Promise<ConnectionError> {
  return within(
    promise.then(
      () => assert.fail(`expected ConnectionError ${code}`),
      (err: unknown) => {
        assert.ok(err instanceof ConnectionError, `expected ConnectionError ${code}, got ${String(err)}`);
        assert.equal(err.code, code);
        return err;
      },
    ),
    `ConnectionError ${code}`,
  );
}

/** A promise with its resolve function outside, for handlers that wait for the test. */
export interface Gate {
  promise: Promise<void>;
  open(): void;
}

/** A closed gate; `open()` releases everyone awaiting `promise`. */
export function gate(): Gate {
  let open!: () => void;
  const promise = new Promise<void>((resolve) => {
    open = resolve;
  });
  return { promise, open };
}

/** Milliseconds since `start` (a `performance.now()` reading). */
export function since(start: number): number {
  return performance.now() - start;
}

/** Timers may fire this much before their nominal time as measured by `performance.now()`. */
export const TIMER_SLACK_MS = 5;

// -------------------------------------------------------------------------------------------
// messages

/** A GlobalBeginRequest whose transactionName tags it. */
export function begin(name: string): GlobalBeginRequest {
  return { typeCode: TypeCode.GLOBAL_BEGIN, timeout: 60000, transactionName: name };
}

/** A successful GlobalBeginResponse whose xid tags it. */
export function beginResult(xid: string): GlobalBeginResponse {
  return {
    typeCode: TypeCode.GLOBAL_BEGIN_RESULT,
    resultCode: ResultCode.Success,
    msg: null,
    exceptionCode: 'Unknown',
    xid,
    extraData: null,
  };
}

/** The tag of a GlobalBeginRequest. */
export function nameOf(msg: Message | null): string {
  assert.ok(
    msg && msg.typeCode === TypeCode.GLOBAL_BEGIN,
    `expected a GlobalBeginRequest, got ${msg?.typeCode}`,
  );
  return msg.transactionName ?? '';
}

/** The tag of a GlobalBeginResponse. */
export function xidOf(msg: Message | null): string {
  assert.ok(
    msg && msg.typeCode === TypeCode.GLOBAL_BEGIN_RESULT,
    `expected a GlobalBeginResponse, got ${msg?.typeCode}`,
  );
  return msg.xid ?? '';
}

/** The handler most tests use: a GlobalBegin named `n` is answered with xid `<prefix>n`. */
export function echo(prefix = ''): NonNullable<SessionListener['onMessage']> {
  return (_session, msg) =>
    msg.typeCode === TypeCode.GLOBAL_BEGIN ? beginResult(`${prefix}${msg.transactionName}`) : undefined;
}

/** A SYNC request frame. */
export function syncFrame(id: number, body: SingleMessage): Buffer {
  return encodeFrame({ id, frameType: FrameType.REQUEST_SYNC, body });
}

// -------------------------------------------------------------------------------------------
// raw peers

/**
 * One end of a TCP connection driven by the test: it decodes what it reads into frames (and
 * keeps the decoding error if the bytes are not frames), counts 'data' chunks, records how the
 * socket ended, and sends whatever bytes or frames the test gives it.
 */
export class RawPeer {
  readonly frames: RpcMessage[] = [];
  /** 'data' events seen; one per TCP read. */
  chunks = 0;
  bytes = 0;
  closed = false;
  ended = false;
  error: NodeJS.ErrnoException | null = null;
  decodeError: ProtocolError | null = null;
  /** Runs for every decoded frame, after it is recorded (to answer it, say). */
  onFrame: ((rpc: RpcMessage, peer: RawPeer) => void) | null = null;
  private readonly decoder = new FrameDecoder();

  constructor(readonly socket: net.Socket) {
    socket.on('data', (chunk: Buffer) => {
      this.chunks++;
      this.bytes += chunk.length;
      if (this.decodeError) return;
      let frames: RpcMessage[];
      try {
        frames = this.decoder.push(chunk);
      } catch (err) {
        this.decodeError = err as ProtocolError;
        return;
      }
      for (const f of frames) {
        this.frames.push(f);
        this.onFrame?.(f, this);
      }
    });
    socket.on('end', () => {
      this.ended = true;
    });
    socket.on('error', (err) => {
      this.error = err;
    });
    socket.on('close', () => {
      this.closed = true;
    });
  }

  /** Encodes and writes one frame. */
  send(rpc: RpcMessage): void {
    this.socket.write(encodeFrame(rpc));
  }

  /** Writes raw bytes. */
  write(bytes: Buffer): void {
    this.socket.write(bytes);
  }

  /** Frames of `frameType` received so far. */
  framesOf(frameType: number): RpcMessage[] {
    return this.frames.filter((f) => f.frameType === frameType);
  }

  /** Resolves with the first frame at index `from` or later that matches `predicate`. */
  async frame(predicate: (f: RpcMessage) => boolean, what: string, from = 0): Promise<RpcMessage> {
    let found: RpcMessage | undefined;
    await until(() => {
      found = this.frames.slice(from).find(predicate);
      return found !== undefined;
    }, `${what} (have ${this.frames.length} frames)`);
    return found as RpcMessage;
  }

  /** Resolves once `n` frames in all have been decoded. */
  waitFrames(n: number, what = `${n} frames`): Promise<void> {
    return until(() => this.frames.length >= n, `${what} (have ${this.frames.length})`);
  }

  /** Resolves once the socket has closed. */
  waitClose(timeoutMs = WAIT_MS): Promise<void> {
    return until(() => this.closed, 'the raw socket to close', timeoutMs);
  }

  /** Sends a PING and resolves once its PONG is back: everything written before it has been read. */
  async roundTrip(id: number): Promise<RpcMessage> {
    const from = this.frames.length;
    this.send({ id, frameType: FrameType.HEARTBEAT_REQUEST, body: null });
    return this.frame((f) => f.frameType === FrameType.HEARTBEAT_RESPONSE && f.id === id, `PONG ${id}`, from);
  }

  destroy(): void {
    this.socket.destroy();
  }
}

/** Answers like a minimal TC: PONG for PING, a GlobalBeginResponse for every begin, merged or not. */
export function answerLikeTc(rpc: RpcMessage, peer: RawPeer): void {
  const body = rpc.body;
  if (rpc.frameType === FrameType.HEARTBEAT_REQUEST) {
    peer.send({ id: rpc.id, frameType: FrameType.HEARTBEAT_RESPONSE, body: null });
  } else if (rpc.frameType === FrameType.REQUEST_SYNC && body?.typeCode === TypeCode.GLOBAL_BEGIN) {
    peer.send({ id: rpc.id, frameType: FrameType.RESPONSE, body: beginResult(body.transactionName ?? '') });
  } else if (body?.typeCode === TypeCode.SEATA_MERGE) {
    const msgs = body.msgs.map((m) => beginResult(nameOf(m)));
    peer.send({
      id: rpc.id,
      frameType: FrameType.RESPONSE,
      body: { typeCode: TypeCode.SEATA_MERGE_RESULT, msgs },
    });
  }
}

/** A raw client connected to `port`, destroyed after the test. */
export async function connectRaw(t: TestContext, port: number): Promise<RawPeer> {
  const socket = net.connect({ host: HOST, port });
  t.after(() => socket.destroy());
  const peer = new RawPeer(socket);
  await within(
    new Promise<void>((resolve, reject) => {
      socket.once('connect', resolve);
      socket.once('error', reject);
    }),
    `a raw connection to ${port}`,
  );
  return peer;
}

/** A listening socket that wraps every accepted connection in a RawPeer. */
export interface RawServer {
  port: number;
  /** `127.0.0.1:<port>`, for a client's address list. */
  address: string;
  peers: RawPeer[];
  /** Resolves with the `index`th accepted peer (from 0). */
  peer(index?: number): Promise<RawPeer>;
  /** Stops listening and destroys every accepted socket. */
  close(): Promise<void>;
}

/** A raw server on a free port; `onPeer` sets each peer up (its onFrame, a pause). Closed after the test. */
export async function rawServer(t: TestContext, onPeer?: (peer: RawPeer) => void): Promise<RawServer> {
  const peers: RawPeer[] = [];
  const server = net.createServer((socket) => {
    const peer = new RawPeer(socket);
    peers.push(peer);
    onPeer?.(peer);
  });
  await new Promise<void>((resolve) => server.listen(0, HOST, resolve));
  const port = (server.address() as net.AddressInfo).port;
  let closing: Promise<void> | undefined;
  const close = () => {
    closing ??= new Promise<void>((resolve) => {
      server.close(() => resolve());
      for (const p of peers) p.destroy();
    });
    return closing;
  };
  t.after(close);
  return {
    port,
    address: `${HOST}:${port}`,
    peers,
    async peer(index = 0) {
      await until(() => peers.length > index, `raw connection #${index} on ${port}`);
      return peers[index] as RawPeer;
    },
    close,
  };
}

// -------------------------------------------------------------------------------------------
// endpoints

/** Server options with short timers for tests. */
export const TEST_SERVER_OPTIONS: Partial<ServerOptions> = {
  host: HOST,
  port: 0,
  cronPeriodMs: 50,
  drainTimeoutMs: 500,
};

/** Client options with short timers for tests. */
export const TEST_CLIENT_OPTIONS: Partial<ClientOptions> = {
  cronPeriodMs: 20,
  dialTimeoutMs: 1000,
  requestTimeoutMs: 2000,
  reconnectInitialMs: 20,
  reconnectMaxMs: 200,
};

/** A listening Server, closed after the test; `address` is `127.0.0.1:<port>`. */
export async function startServer(
  t: TestContext,
  listener: SessionListener,
  options: Partial<ServerOptions> = {},
): Promise<{ server: Server; port: number; address: string }> {
  const server = new Server({ ...TEST_SERVER_OPTIONS, ...options }, listener);
  t.after(() => server.close());
  const { port } = await listenRetrying(server);
  return { server, port, address: `${HOST}:${port}` };
}

/**
 * A server whose handlers never answer (until the test ends), or, with `hangOn`, only for
 * requests of that name (the others are answered with their name), and a client session to it
 * (by default with reconnect off): for tests of timeouts and of what open requests see when the
 * server closes.
 */
export async function hangingServer(
  t: TestContext,
  options: { hangOn?: string; client?: Partial<ClientOptions> } = {},
): Promise<{
  server: Server;
  session: Session;
  client: Client;
  started: () => number;
}> {
  const never = gate();
  t.after(() => never.open());
  let started = 0;
  const { server, address } = await startServer(
    t,
    {
      onMessage: async (_s, msg) => {
        started++;
        if (options.hangOn === undefined || nameOf(msg) === options.hangOn) await never.promise;
        return beginResult(nameOf(msg));
      },
    },
    { drainTimeoutMs: 100 },
  );
  const client = startClient(
    t,
    [address],
    {},
    options.client ?? { reconnect: false, requestTimeoutMs: 5000 },
  );
  const session = await readySession(client);
  return { server, session, client, started: () => started };
}

/**
 * `server.listen()`, retried for a moment on EADDRINUSE: a test that restarts a server on a
 * fixed port may find a client's outgoing socket briefly holding it.
 */
export async function listenRetrying(server: Server): Promise<{ host: string; port: number }> {
  for (let attempt = 0; ; attempt++) {
    try {
      return await server.listen();
    } catch (err) {
      if ((err as NodeJS.ErrnoException).code !== 'EADDRINUSE' || attempt >= 40) throw err;
      await sleep(25);
    }
  }
}

/** A started Client to `addresses`, closed after the test. */
export function startClient(
  t: TestContext,
  addresses: string[],
  listener: ClientListener = {},
  options: Partial<ClientOptions> = {},
): Client {
  const client = new Client({ ...TEST_CLIENT_OPTIONS, ...options, addresses }, listener);
  t.after(() => client.close());
  client.start();
  return client;
}

/** The one ready session of `client`, waiting for it if needed. */
export async function readySession(client: Client): Promise<Session> {
  await client.waitReady(WAIT_MS);
  const session = client.readySessions()[0];
  assert.ok(session);
  return session;
}

/** The socket under a session (private; tests look at its paused state and count its writes). */
export function socketOf(session: Session): net.Socket {
  return (session as unknown as { socket: net.Socket }).socket;
}

/** The only session a server has, once it has exactly one. */
export async function onlySession(server: Server): Promise<Session> {
  await until(() => server.sessions.size === 1, 'the server to have one session');
  return [...server.sessions][0] as Session;
}

// -------------------------------------------------------------------------------------------
// the live Java capture

/**
 * The bytes of one frame of the live transcript between a real Java 2.2.0 client and TC in
 * seata-vectors.txt: the `hex:` line under `[<conn> <direction>] id=<id> type=<type>`.
 */
export function capturedFrame(conn: string, direction: 'C->S' | 'S->C', id: number, type: number): Buffer {
  const lines = readFileSync(VECTORS_PATH, 'utf8').split('\n');
  const head = `[${conn} ${direction}] id=${id} type=${type} `;
  const at = lines.findIndex((l) => l.startsWith(head));
  assert.ok(at >= 0, `no "${head}" line in ${VECTORS_PATH}`);
  const hex = /^\s+hex: ([0-9a-f]+)$/.exec(lines[at + 1] ?? '');
  assert.ok(hex?.[1], `no hex line after "${head}" in ${VECTORS_PATH}`);
  return Buffer.from(hex[1], 'hex');
}
