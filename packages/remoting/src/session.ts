/**
 * One connection to a peer, after Getty's session: it frames the byte stream, answers
 * heartbeats on the read path, matches responses to request futures, hands requests to a
 * bounded dispatcher, and coalesces every frame written in one event-loop turn into one
 * socket write. It knows nothing of `node:net`: it is given a Duplex stream.
 */
import type { Duplex } from 'node:stream';
import {
  BackPressureError,
  Channels,
  ConnectionError,
  channelOf,
  LimitError,
  publish,
  TimeoutError,
} from '@dtx/core';
import {
  ByteWriter,
  dialectForVersion,
  encodeFrameInto,
  FrameDecoder,
  FrameType,
  isVersionAtLeast,
  ProtocolError,
  type RpcMessage,
  type SingleMessage,
  TypeCode,
} from '@dtx/protocol';
import { Dispatcher } from './dispatcher.js';
import type { SessionOptions } from './options.js';
import { PendingTable } from './pending-table.js';

/** What a session reports to its owner. All optional; the Getty EventListener. */
export interface SessionListener {
  /** The session is ready for traffic (for clients: before registration). */
  onOpen?(session: Session): void;
  /** The session closed; `reason` is null for an orderly close. Fires once. */
  onClose?(session: Session, reason: Error | null): void;
  /** Something went wrong on the session (a bad frame, a handler that threw). */
  onError?(session: Session, err: Error): void;
  /** Called on every cron tick of the owning endpoint (once a second). */
  onCron?(session: Session): void;
  /**
   * A request arrived (merged messages are already split). Return the response for a SYNC
   * request; for a ONEWAY request the return value is ignored.
   */
  onMessage?(
    session: Session,
    msg: SingleMessage,
    rpc: RpcMessage,
  ): Promise<SingleMessage | undefined> | SingleMessage | undefined;
}

/** Which side opened the connection. */
export type SessionRole = 'client' | 'server';

/** Called once with the response, or with the error that ended the wait. */
export type ResponseCallback = (err: Error | null, response: SingleMessage | null) => void;

/**
 * One request waiting for its response: either a promise's resolving functions or a callback.
 * A class, so every entry has one shape.
 */
class Pending {
  /** The request id, once sent. */
  id = 0;
  constructor(
    readonly resolve: ((msg: SingleMessage) => void) | null,
    readonly reject: ((err: Error) => void) | null,
    readonly callback: ResponseCallback | null,
    readonly deadline: number,
    readonly typeCode: number,
    readonly timeoutMs: number,
  ) {}
}

// `new Promise` with a shared executor: the resolving functions are parked here for the caller
// to pick up, so a request allocates no executor closure.
let parkedResolve: ((msg: SingleMessage) => void) | null = null;
let parkedReject: ((err: Error) => void) | null = null;
function park(resolve: (msg: SingleMessage) => void, reject: (err: Error) => void): void {
  parkedResolve = resolve;
  parkedReject = reject;
}

/** Hands `err` to a callback on the next tick (a callback is never called from inside call()). */
function failLater(callback: ResponseCallback, err: unknown): void {
  process.nextTick(callback, err instanceof Error ? err : new Error(String(err)), null);
}

/** Scratch frame for outgoing requests: encoded at once and never kept, so one object serves all. */
const REQUEST_FRAME: RpcMessage = { id: 0, frameType: FrameType.REQUEST_SYNC, body: null };

/** Queued bytes past which a send flushes at once instead of waiting for the end of the turn. */
const EAGER_FLUSH_BYTES = 16 * 1024;

/**
 * First size of a session's outbound buffer. It grows while a turn queues more (to just past
 * EAGER_FLUSH_BYTES on a busy session), so an idle session of a TC with thousands of them
 * holds little.
 */
const OUT_BUFFER_BYTES = 2 * 1024;

/** An empty writer: what an idle session holds until it next writes. */
const idleWriter = () => new ByteWriter(0);

/** Written buffers up to this size are kept for reuse (a busy session's grown buffers). */
const REUSE_MAX_BYTES = 64 * 1024;

/** How often request deadlines are checked (Seata scans every 3 s; a finer tick keeps short timeouts honest). */
const TIMEOUT_TICK_MS = 20;

/** Per-frame channels, tested before a payload is built (nothing allocated when nobody listens). */
const REQUEST_CHANNEL = channelOf(Channels.REMOTING_REQUEST);
const RESPONSE_CHANNEL = channelOf(Channels.REMOTING_RESPONSE);

/** Outbound buffers kept for reuse once the socket has written them. */
const SPARE_WRITERS = 2;

interface Queued {
  id: number;
  msg: SingleMessage;
}

let nextSessionId = 1;

/** Per-request options. */
export interface RequestOptions {
  /** @default the session's requestTimeoutMs */
  timeoutMs?: number;
}

/** One framed connection. */
export class Session {
  /** Process-unique session number, for logs. */
  readonly sessionId = nextSessionId++;
  /** `ip:port` of the peer. */
  readonly remoteAddress: string;
  /** `ip:port` of this end. */
  readonly localAddress: string;
  /** Free slot for the layer above (the TC's RpcContext, the client's registration state). */
  context: unknown = undefined;

  private readonly decoder: FrameDecoder;
  private readonly dispatcher: Dispatcher;
  private readonly pending = new PendingTable<Pending>();
  /** Ids by timeout value, in the order their deadlines fall. */
  private readonly deadlines = new Map<number, { ids: number[]; head: number }>();
  private timeoutTimer: NodeJS.Timeout | null = null;
  /** Outer id of a MergedWarpMessage -> the ids of the requests inside, in order. */
  private readonly merged = new Map<number, number[]>();
  /**
   * Frames of this turn, encoded back to back; handed to the socket whole at flush. Empty (no
   * memory) until the session first writes, and again once it has been idle for a while.
   */
  private out = idleWriter();
  /** Buffers handed to the socket, oldest first; each comes back when its write completes. */
  private readonly writing: ByteWriter[] = [];
  private readonly spare: ByteWriter[] = [];
  private outBytes = 0;
  private flushScheduled = false;
  /** Writes handed to the socket since the last cron tick. */
  private flushesSinceTick = 0;
  private batch: Queued[] = [];
  private batchScheduled = false;
  private counter = 0;
  private closed = false;
  private closeReason: Error | null = null;
  private readPaused = { handlers: false, outbound: false };
  private drainWaiters: Array<() => void> = [];
  private version: string | null = null;
  lastReadAt = Date.now();
  lastWriteAt = Date.now();

  constructor(
    private readonly socket: Duplex,
    readonly role: SessionRole,
    private readonly options: SessionOptions,
    private readonly listener: SessionListener,
    addresses: { remote: string; local: string },
  ) {
    this.remoteAddress = addresses.remote;
    this.localAddress = addresses.local;
    this.decoder = new FrameDecoder({ maxFrameLength: options.maxFrameLength });
    this.codecOptions = { maxFrameLength: options.maxFrameLength };
    this.dispatcher = new Dispatcher({
      concurrency: options.handlerConcurrency,
      highWaterMark: options.handlerQueueHighWaterMark,
      onSaturated: (saturated) => this.pauseReading('handlers', saturated),
      onError: (err) => this.reportError(err instanceof Error ? err : new Error(String(err))),
    });
    socket.on('data', (chunk: Buffer) => this.onData(chunk));
    socket.on('drain', () => this.onDrain());
    socket.on('error', (err: Error) => {
      if (!this.closed) this.closeReason ??= err;
    });
    socket.on('close', () => this.onSocketClose());
    socket.on('end', () => {
      // The peer finished writing; Seata peers never half-close, so treat it as a close.
      this.close();
    });
  }

  /** The version string the peer registered with, if known. */
  get peerVersion(): string | null {
    return this.version;
  }

  /** True until the session has closed or started closing. */
  get isOpen(): boolean {
    return !this.closed;
  }

  /** Requests waiting for their response. */
  get pendingRequests(): number {
    return this.pending.size;
  }

  /** Handlers running or queued. */
  get activeHandlers(): number {
    return this.dispatcher.running + this.dispatcher.queued;
  }

  /** Bytes written but not yet handed to the kernel. */
  get outboundBytes(): number {
    return this.outBytes + this.socket.writableLength;
  }

  /** Bytes of outbound buffers the session holds, used or kept for reuse. */
  get outboundCapacity(): number {
    let bytes = this.out.buf.length;
    for (const w of this.spare) bytes += w.buf.length;
    for (const w of this.writing) bytes += w.buf.length;
    return bytes;
  }

  /**
   * Records the peer's Seata version: it selects the TransactionExceptionCode numbering
   * (1.x vs 2.x) and whether batch results may be used (1.5.0+).
   */
  setPeerVersion(version: string | null): void {
    this.version = version;
    const exceptionCodes = dialectForVersion(version);
    this.decoder.setOptions({ exceptionCodes });
    this.codecOptions = { maxFrameLength: this.options.maxFrameLength, exceptionCodes };
  }

  private codecOptions: { maxFrameLength: number; exceptionCodes?: 'v1' | 'v2' };

  // -------------------------------------------------------------------------------------------
  // writing

  /** Encodes and queues one frame; frames queued in the same turn leave in one write. */
  send(rpc: RpcMessage): void {
    if (this.closed) {
      throw new ConnectionError('CONNECTION_CLOSED', `session to ${this.remoteAddress} is closed`, {
        cause: this.closeReason ?? undefined,
      });
    }
    const length = encodeFrameInto(this.out, rpc, this.codecOptions);
    const outbound = this.outBytes + this.socket.writableLength;
    if (outbound + length > this.options.outboundMaxBytes) {
      this.out.offset -= length;
      throw new BackPressureError(
        `outbound queue to ${this.remoteAddress} holds ${outbound} bytes, over the ${this.options.outboundMaxBytes}-byte limit`,
        { details: { outbound, limit: this.options.outboundMaxBytes } },
      );
    }
    this.outBytes += length;
    if (this.outBytes >= EAGER_FLUSH_BYTES) {
      // A large turn goes out in pieces: the peer starts on the first while this side is still
      // producing the rest, instead of both sides taking turns with one big convoy of frames.
      this.flush();
    } else if (!this.flushScheduled) {
      this.flushScheduled = true;
      setImmediate(() => this.flush());
    }
  }

  private flush(): void {
    this.flushScheduled = false;
    if (this.outBytes === 0 || this.closed) return;
    // The socket keeps the written bytes until they reach the kernel: the next frames go into
    // another buffer (no allocation per frame, no copy to join them), and a buffer is reused
    // once its write has completed (write callbacks come in order).
    const data = this.out.result();
    this.writing.push(this.out);
    this.out = this.spare.pop() ?? new ByteWriter(OUT_BUFFER_BYTES);
    this.outBytes = 0;
    this.flushesSinceTick++;
    this.lastWriteAt = Date.now();
    const ok = this.socket.write(data, this.afterWrite);
    if (!ok && this.socket.writableLength >= this.options.outboundHighWaterMark) {
      this.pauseReading('outbound', true);
    }
  }

  /**
   * Runs once a write has reached the kernel. 'drain' alone is not enough: it only follows a
   * write that filled the socket's own buffer, so a queue over a smaller outboundHighWaterMark
   * (or written at once) would leave request() waiting for a 'drain' that never comes.
   */
  private readonly afterWrite = (): void => {
    const done = this.writing.shift();
    if (done && done.buf.length <= REUSE_MAX_BYTES && this.spare.length < SPARE_WRITERS) {
      done.offset = 0;
      this.spare.push(done);
    }
    this.onDrain();
  };

  private onDrain(): void {
    if (this.socket.writableLength < this.options.outboundHighWaterMark) {
      this.pauseReading('outbound', false);
      const waiters = this.drainWaiters;
      this.drainWaiters = [];
      for (const w of waiters) w();
    }
  }

  private pauseReading(cause: 'handlers' | 'outbound', paused: boolean): void {
    this.readPaused[cause] = paused;
    if (this.readPaused.handlers || this.readPaused.outbound) this.socket.pause();
    else if (!this.closed) this.socket.resume();
  }

  /** Sends a heartbeat PING (Seata's client does this after 5 s without writing). */
  ping(): void {
    this.send({ id: this.nextId(), frameType: FrameType.HEARTBEAT_REQUEST, body: null });
  }

  /** Next positive 31-bit request id (PositiveAtomicCounter). */
  nextId(): number {
    this.counter = (this.counter + 1) & 0x7fffffff;
    if (this.counter === 0) this.counter = 1;
    return this.counter;
  }

  /** Sends a ONEWAY request (no response expected). */
  oneway(msg: SingleMessage): void {
    this.send({ id: this.nextId(), frameType: FrameType.REQUEST_ONEWAY, body: msg });
  }

  /**
   * Sends a SYNC request and resolves with its response. Fails with TimeoutError after the
   * timeout and with ConnectionError if the session closes first.
   */
  request(msg: SingleMessage, options: RequestOptions = {}): Promise<SingleMessage> {
    const timeoutMs = options.timeoutMs ?? this.options.requestTimeoutMs;
    // Not an async function: the common case (room in the outbound queue) costs one promise.
    if (this.outboundBytes >= this.options.outboundHighWaterMark)
      return this.waitForDrain(timeoutMs).then(() => this.promiseRequest(msg, timeoutMs));
    try {
      return this.promiseRequest(msg, timeoutMs);
    } catch (err) {
      return Promise.reject(err);
    }
  }

  /**
   * `request` without a promise: `callback(null, response)` once the response is in, or
   * `callback(err, null)` on timeout, close or a refused send. Never called synchronously. For
   * callers that keep thousands of requests in flight (a promise per request is most of what a
   * round trip allocates).
   */
  call(msg: SingleMessage, callback: ResponseCallback, options: RequestOptions = {}): void {
    const timeoutMs = options.timeoutMs ?? this.options.requestTimeoutMs;
    if (this.outboundBytes >= this.options.outboundHighWaterMark) {
      this.waitForDrain(timeoutMs).then(
        () => this.callNow(msg, callback, timeoutMs),
        (err: unknown) => failLater(callback, err),
      );
      return;
    }
    this.callNow(msg, callback, timeoutMs);
  }

  private callNow(msg: SingleMessage, callback: ResponseCallback, timeoutMs: number): void {
    try {
      this.checkCanRequest();
      this.sendRequest(
        msg,
        timeoutMs,
        new Pending(null, null, callback, Date.now() + timeoutMs, msg.typeCode, timeoutMs),
      );
    } catch (err) {
      failLater(callback, err);
    }
  }

  private promiseRequest(msg: SingleMessage, timeoutMs: number): Promise<SingleMessage> {
    this.checkCanRequest();
    const promise = new Promise<SingleMessage>(park);
    const pending = new Pending(
      parkedResolve,
      parkedReject,
      null,
      Date.now() + timeoutMs,
      msg.typeCode,
      timeoutMs,
    );
    parkedResolve = null;
    parkedReject = null;
    this.sendRequest(msg, timeoutMs, pending);
    return promise;
  }

  private checkCanRequest(): void {
    if (this.closed) {
      throw new ConnectionError('CONNECTION_CLOSED', `session to ${this.remoteAddress} is closed`, {
        cause: this.closeReason ?? undefined,
      });
    }
    if (this.pending.size >= this.options.maxPendingRequests) {
      throw new LimitError(
        'maxPendingRequests',
        this.options.maxPendingRequests,
        `${this.pending.size} requests already wait on ${this.remoteAddress}`,
      );
    }
  }

  /** Registers `pending` under a fresh id and sends (or batches) the request; checkCanRequest came first. */
  private sendRequest(msg: SingleMessage, timeoutMs: number, pending: Pending): void {
    const id = this.nextId();
    pending.id = id;
    this.pending.add(pending);
    // Deadlines of one timeout value expire in the order they were set, so each value keeps a
    // FIFO of ids and the tick only looks at heads: no timer per request.
    let queue = this.deadlines.get(timeoutMs);
    if (!queue) {
      queue = { ids: [], head: 0 };
      this.deadlines.set(timeoutMs, queue);
    }
    queue.ids.push(id);
    if (!this.timeoutTimer) {
      this.timeoutTimer = setInterval(() => this.expire(), Math.min(TIMEOUT_TICK_MS, timeoutMs));
      this.timeoutTimer.unref();
    }
    if (this.options.batchRequests) {
      this.batch.push({ id, msg });
      if (this.batch.length >= this.options.maxBatchMessages) this.flushBatch();
      else if (!this.batchScheduled) {
        this.batchScheduled = true;
        setImmediate(() => this.flushBatch());
      }
    } else {
      try {
        REQUEST_FRAME.id = id;
        REQUEST_FRAME.body = msg;
        this.send(REQUEST_FRAME);
      } catch (err) {
        this.failPending(id, err as Error);
      } finally {
        REQUEST_FRAME.body = null;
      }
    }
  }

  /** A send that failed at once; the caller may still be inside call(), so a callback waits a tick. */
  private failPending(id: number, err: Error): void {
    const p = this.pending.take(id);
    if (!p) return;
    if (p.callback) process.nextTick(() => this.settle(p, err, null));
    else this.settle(p, err, null);
  }

  /** Completes one waiting request; a callback that throws is reported, not propagated. */
  private settle(p: Pending, err: Error | null, msg: SingleMessage | null): void {
    if (p.callback) {
      try {
        p.callback(err, msg);
      } catch (cbErr) {
        this.reportError(cbErr instanceof Error ? cbErr : new Error(String(cbErr)));
      }
    } else if (err) (p.reject as (err: Error) => void)(err);
    else (p.resolve as (msg: SingleMessage) => void)(msg as SingleMessage);
  }

  /** Fails every request whose deadline has passed. */
  private expire(): void {
    const now = Date.now();
    for (const [timeoutMs, queue] of this.deadlines) {
      while (queue.head < queue.ids.length) {
        const id = queue.ids[queue.head] as number;
        const p = this.pending.get(id);
        if (p && p.deadline > now && p.timeoutMs === timeoutMs) break;
        queue.head++;
        if (p && p.timeoutMs === timeoutMs) {
          this.pending.take(id);
          this.settle(
            p,
            new TimeoutError(
              `request ${id} (type ${p.typeCode}) to ${this.remoteAddress} timed out after ${timeoutMs} ms`,
              {
                details: { id, typeCode: p.typeCode, timeoutMs },
              },
            ),
            null,
          );
        }
      }
      if (queue.head === queue.ids.length) this.deadlines.delete(timeoutMs);
      else if (queue.head > 1024) {
        queue.ids.splice(0, queue.head);
        queue.head = 0;
      }
    }
    // Outer merge ids whose inner requests have all timed out would otherwise stay forever.
    for (const [outer, ids] of this.merged)
      if (!ids.some((id) => this.pending.has(id))) this.merged.delete(outer);
    if (this.pending.size === 0 && this.deadlines.size === 0 && this.timeoutTimer) {
      clearInterval(this.timeoutTimer);
      this.timeoutTimer = null;
    }
  }

  /**
   * Sends the queued requests: alone as a plain SYNC frame, several as one MergedWarpMessage
   * (ONEWAY, with a fresh outer id and the inner ids in msgIds, as Seata 1.5.0+ clients do).
   */
  private flushBatch(): void {
    this.batchScheduled = false;
    const queued = this.batch;
    this.batch = [];
    if (queued.length === 0 || this.closed) return;
    try {
      if (queued.length === 1) {
        const q = queued[0] as Queued;
        this.send({ id: q.id, frameType: FrameType.REQUEST_SYNC, body: q.msg });
        return;
      }
      const outer = this.nextId();
      const ids = queued.map((q) => q.id);
      this.merged.set(outer, ids);
      this.send({
        id: outer,
        frameType: FrameType.REQUEST_ONEWAY,
        body: { typeCode: TypeCode.SEATA_MERGE, msgs: queued.map((q) => q.msg), msgIds: ids },
      });
    } catch (err) {
      for (const q of queued) this.failPending(q.id, err as Error);
    }
  }

  private waitForDrain(timeoutMs: number): Promise<void> {
    return new Promise((resolve, reject) => {
      const timer = setTimeout(() => {
        reject(
          new BackPressureError(
            `outbound queue to ${this.remoteAddress} did not drain within ${timeoutMs} ms`,
          ),
        );
      }, timeoutMs);
      this.drainWaiters.push(() => {
        clearTimeout(timer);
        resolve();
      });
    });
  }

  // -------------------------------------------------------------------------------------------
  // reading

  private onData(chunk: Buffer): void {
    this.lastReadAt = Date.now();
    let frames: RpcMessage[];
    try {
      frames = this.decoder.push(chunk);
    } catch (err) {
      const e = err as Error;
      publish(Channels.REMOTING_PROTOCOL_ERROR, () => ({ session: this, error: e }));
      this.reportError(e);
      this.close(e);
      return;
    }
    for (const frame of frames) {
      if (this.closed) return;
      this.onFrame(frame);
    }
  }

  private onFrame(rpc: RpcMessage): void {
    switch (rpc.frameType) {
      case FrameType.HEARTBEAT_REQUEST:
        // ServerHeartbeatProcessor: PONG echoes the id, codec and compressor.
        this.send({
          id: rpc.id,
          frameType: FrameType.HEARTBEAT_RESPONSE,
          compressor: rpc.compressor,
          body: null,
        });
        return;
      case FrameType.HEARTBEAT_RESPONSE:
        return;
      case FrameType.RESPONSE:
        this.onResponse(rpc);
        return;
      default:
        this.onRequest(rpc);
    }
  }

  private onResponse(rpc: RpcMessage): void {
    const body = rpc.body;
    if (!body) return;
    if (body.typeCode === TypeCode.SEATA_MERGE_RESULT) {
      const ids = this.merged.get(rpc.id);
      if (!ids) return;
      this.merged.delete(rpc.id);
      body.msgs.forEach((m, i) => {
        const id = ids[i];
        if (id !== undefined) this.resolve(id, m);
      });
      return;
    }
    if (body.typeCode === TypeCode.BATCH_RESULT_MSG) {
      // Batch results may arrive over several frames; the outer entry goes when all are in.
      body.msgs.forEach((m, i) => {
        const id = body.msgIds[i];
        if (id !== undefined) this.resolve(id, m);
      });
      const ids = this.merged.get(rpc.id);
      if (ids?.every((id) => !this.pending.has(id))) this.merged.delete(rpc.id);
      return;
    }
    if (body.typeCode === TypeCode.SEATA_MERGE) return;
    this.resolve(rpc.id, body);
  }

  private resolve(id: number, msg: SingleMessage): void {
    const p = this.pending.take(id);
    if (!p) return; // late response after a timeout: nothing waits for it any more
    if (RESPONSE_CHANNEL.hasSubscribers) RESPONSE_CHANNEL.publish({ session: this, id, message: msg });
    this.settle(p, null, msg);
  }

  private onRequest(rpc: RpcMessage): void {
    const body = rpc.body;
    if (!body) return;
    if (body.typeCode === TypeCode.SEATA_MERGE) {
      this.onMergedRequest(rpc, body.msgs, body.msgIds);
      return;
    }
    if (body.typeCode === TypeCode.SEATA_MERGE_RESULT || body.typeCode === TypeCode.BATCH_RESULT_MSG) {
      this.reportError(
        new ProtocolError('UNEXPECTED_MESSAGE', `type ${body.typeCode} sent as a request`, { id: rpc.id }),
      );
      return;
    }
    this.dispatcher.submit(() => this.runHandler(body, rpc));
  }

  /**
   * Runs the listener for one request and sends its answer. A listener that answers at once
   * costs no promise; one that returns a promise keeps its dispatcher slot until it settles.
   */
  private runHandler(msg: SingleMessage, rpc: RpcMessage): Promise<void> | undefined {
    if (!this.listener.onMessage) return undefined;
    if (REQUEST_CHANNEL.hasSubscribers) REQUEST_CHANNEL.publish({ session: this, message: msg });
    const out = this.listener.onMessage(this, msg, rpc);
    if (out !== undefined && typeof (out as Promise<unknown>).then === 'function') {
      return (out as Promise<SingleMessage | undefined>).then((response) => this.reply(rpc, response));
    }
    this.reply(rpc, out as SingleMessage | undefined);
    return undefined;
  }

  /**
   * A handler's answer goes back whatever the frame type: Seata's TC answers a registration
   * sent ONEWAY (seata-go sends RegisterTM that way and waits for the reply).
   */
  private reply(rpc: RpcMessage, response: SingleMessage | undefined): void {
    if (response && !this.closed) {
      this.send({ id: rpc.id, frameType: FrameType.RESPONSE, compressor: rpc.compressor, body: response });
    }
  }

  private async handle(msg: SingleMessage, rpc: RpcMessage): Promise<SingleMessage | undefined> {
    if (!this.listener.onMessage) return undefined;
    if (REQUEST_CHANNEL.hasSubscribers) REQUEST_CHANNEL.publish({ session: this, message: msg });
    return this.listener.onMessage(this, msg, rpc);
  }

  /**
   * A MergedWarpMessage: every inner request is handled concurrently; the answer is one
   * MergeResultMessage in the same order under the outer id (ServerOnRequestProcessor), or,
   * for 1.5.0+ peers when enabled, BatchResultMessages carrying each result's own id.
   */
  private onMergedRequest(rpc: RpcMessage, msgs: SingleMessage[], msgIds: number[] | null): void {
    const useBatch =
      this.options.batchResponses && msgIds !== null && isVersionAtLeast(this.version, '1.5.0');
    const results: Array<SingleMessage | undefined> = new Array(msgs.length);
    let remaining = msgs.length;
    const reply = (body: RpcMessage['body']): void => {
      if (this.closed) return;
      this.send({
        id: rpc.id,
        frameType: FrameType.RESPONSE,
        compressor: rpc.compressor,
        headMap: useBatch ? rpc.headMap : null,
        body,
      });
    };
    msgs.forEach((msg, i) => {
      this.dispatcher.submit(async () => {
        let response: SingleMessage | undefined;
        try {
          response = await this.handle(msg, rpc);
        } finally {
          remaining--;
          if (useBatch) {
            if (response)
              reply({
                typeCode: TypeCode.BATCH_RESULT_MSG,
                msgs: [response],
                msgIds: [(msgIds as number[])[i] as number],
              });
          } else {
            results[i] = response;
            if (remaining === 0) {
              const complete = results.filter((r): r is SingleMessage => r !== undefined);
              // A positional result list is only meaningful when every request was answered.
              if (complete.length === msgs.length)
                reply({ typeCode: TypeCode.SEATA_MERGE_RESULT, msgs: complete });
            }
          }
        }
      });
    });
  }

  // -------------------------------------------------------------------------------------------
  // lifecycle

  /** Called by the owning endpoint's cron: idle checks, PING, then the listener's onCron. */
  tick(now: number): void {
    if (this.closed) return;
    if (now - this.lastReadAt >= this.options.readIdleMs) {
      this.close(
        new TimeoutError(`nothing read from ${this.remoteAddress} for ${now - this.lastReadAt} ms`, {
          details: { readIdleMs: this.options.readIdleMs },
        }),
      );
      return;
    }
    if (
      this.role === 'client' &&
      this.options.heartbeat &&
      now - this.lastWriteAt >= this.options.writeIdleMs
    ) {
      this.ping();
    }
    // Written nothing since the last tick: give the buffers back (the next frame allocates
    // again), so thousands of mostly idle connections, heartbeats apart, hold no outbound memory.
    if (this.flushesSinceTick === 0) this.releaseIdleBuffers();
    this.flushesSinceTick = 0;
    this.listener.onCron?.(this);
  }

  /** Drops the reusable outbound buffers of a session with nothing queued or in flight. */
  private releaseIdleBuffers(): void {
    if (this.outBytes > 0 || this.writing.length > 0) return;
    this.spare.length = 0;
    if (this.out.buf.length > 0) this.out = idleWriter();
  }

  private reportError(err: Error): void {
    try {
      this.listener.onError?.(this, err);
    } catch {
      // a listener's own failure must not take the session down with it
    }
  }

  /** Resolves once every handler has finished and the outbound queue has been written. */
  async drain(): Promise<void> {
    await this.dispatcher.whenIdle();
    if (this.flushScheduled) this.flush();
  }

  /**
   * Closes the session: with a reason, at once (pending writes are dropped); without one, after
   * writing what is queued. Open futures fail with ConnectionError. Idempotent.
   */
  close(reason: Error | null = null): void {
    if (this.closed) return;
    if (reason) this.closeReason = reason;
    if (!reason) this.flush();
    this.closed = true;
    this.dispatcher.clear();
    if (reason) this.socket.destroy();
    else this.socket.end();
    // The socket's 'close' event finishes the bookkeeping; make sure it comes.
    setTimeout(() => this.socket.destroy(), 1000).unref();
    this.failAll();
  }

  private failAll(): void {
    const err = new ConnectionError('CONNECTION_CLOSED', `session to ${this.remoteAddress} closed`, {
      cause: this.closeReason ?? undefined,
    });
    const pending = this.pending.drain();
    for (const p of pending) this.settle(p, err, null);
    this.deadlines.clear();
    if (this.timeoutTimer) {
      clearInterval(this.timeoutTimer);
      this.timeoutTimer = null;
    }
    this.merged.clear();
    this.batch = [];
    const waiters = this.drainWaiters;
    this.drainWaiters = [];
    for (const w of waiters) w();
  }

  private closeNotified = false;

  private onSocketClose(): void {
    if (!this.closed) {
      this.closed = true;
      this.dispatcher.clear();
      this.failAll();
    }
    if (this.closeNotified) return;
    this.closeNotified = true;
    publish(Channels.REMOTING_SESSION_CLOSE, () => ({ session: this, reason: this.closeReason }));
    this.listener.onClose?.(this, this.closeReason);
  }

  /** Must be called by the owner once the socket is connected. */
  start(): void {
    publish(Channels.REMOTING_SESSION_OPEN, () => ({ session: this }));
    this.listener.onOpen?.(this);
  }

  /** A short label for logs. */
  toString(): string {
    return `Session#${this.sessionId}(${this.role} ${this.localAddress} -> ${this.remoteAddress})`;
  }
}
