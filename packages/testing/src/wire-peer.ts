/**
 * A bare protocol peer: one TCP connection speaking Seata RPC v1 with nothing but the codec.
 * It is the building block of the load generator and of the fake RM: no dtx remoting or client
 * code, so what it measures or provokes is the TC's behaviour alone.
 */
import net from 'node:net';
import {
  encodeFrame,
  FrameDecoder,
  FrameType,
  type RpcMessage,
  type SingleMessage,
  TypeCode,
} from '@dtx/protocol';

/** Answers a request the TC sent (BranchCommit, BranchRollback, UndoLogDelete). */
export type WireRequestHandler = (
  msg: SingleMessage,
  rpc: RpcMessage,
) => SingleMessage | undefined | Promise<SingleMessage | undefined>;

/** One raw connection with request futures and coalesced writes. */
export class WirePeer {
  private readonly decoder = new FrameDecoder();
  private readonly pending = new Map<number, { resolve(m: SingleMessage): void; reject(e: Error): void }>();
  private counter = 0;
  private out: Buffer[] = [];
  private scheduled = false;
  private closedError: Error | null = null;
  /** Frames received, by frame type, for tests. */
  readonly received: RpcMessage[] = [];
  /** Keep received frames (tests) or not (load). */
  record = false;
  /** Answers TC -> client requests; unanswered SYNC requests get no reply. */
  onRequest: WireRequestHandler | null = null;
  /** Set when the TC closed the connection. */
  readonly closed: Promise<Error | null>;

  private constructor(readonly socket: net.Socket) {
    let markClosed: (e: Error | null) => void = () => {};
    this.closed = new Promise((resolve) => {
      markClosed = resolve;
    });
    socket.setNoDelay(true);
    socket.on('data', (chunk: Buffer) => {
      let frames: RpcMessage[];
      try {
        frames = this.decoder.push(chunk);
      } catch (err) {
        socket.destroy(err as Error);
        return;
      }
      for (const f of frames) this.onFrame(f);
    });
    socket.on('error', (err) => {
      this.closedError ??= err;
    });
    socket.on('close', () => {
      const err = this.closedError ?? new Error('connection closed');
      this.closedError = err;
      for (const p of this.pending.values()) p.reject(err);
      this.pending.clear();
      markClosed(err);
    });
  }

  /** Connects to `host:port`. */
  static connect(port: number, host = '127.0.0.1'): Promise<WirePeer> {
    return new Promise((resolve, reject) => {
      const socket = net.connect({ port, host }, () => {
        socket.off('error', reject);
        resolve(new WirePeer(socket));
      });
      socket.once('error', reject);
    });
  }

  private onFrame(f: RpcMessage): void {
    if (this.record) this.received.push(f);
    if (f.frameType === FrameType.RESPONSE && f.body) {
      if (f.body.typeCode === TypeCode.SEATA_MERGE_RESULT || f.body.typeCode === TypeCode.BATCH_RESULT_MSG)
        return;
      const p = this.pending.get(f.id);
      if (p) {
        this.pending.delete(f.id);
        p.resolve(f.body as SingleMessage);
      }
      return;
    }
    if (f.frameType === FrameType.HEARTBEAT_REQUEST) {
      this.write({ id: f.id, frameType: FrameType.HEARTBEAT_RESPONSE, body: null });
      return;
    }
    if ((f.frameType === FrameType.REQUEST_SYNC || f.frameType === FrameType.REQUEST_ONEWAY) && f.body) {
      const handler = this.onRequest;
      if (!handler) return;
      const sync = f.frameType === FrameType.REQUEST_SYNC;
      Promise.resolve(handler(f.body as SingleMessage, f)).then(
        (reply) => {
          if (reply && sync && !this.closedError)
            this.write({ id: f.id, frameType: FrameType.RESPONSE, body: reply });
        },
        () => {},
      );
    }
  }

  /** Queues a frame; frames queued in one turn leave in one write. */
  write(rpc: RpcMessage): void {
    this.out.push(encodeFrame(rpc));
    if (!this.scheduled) {
      this.scheduled = true;
      setImmediate(() => {
        this.scheduled = false;
        const data = this.out.length === 1 ? (this.out[0] as Buffer) : Buffer.concat(this.out);
        this.out = [];
        if (!this.socket.destroyed) this.socket.write(data);
      });
    }
  }

  /** Writes raw bytes (for hostile-peer tests). */
  writeRaw(bytes: Buffer): void {
    this.socket.write(bytes);
  }

  /** Sends a SYNC request and waits for its response. */
  request(body: SingleMessage, frameType: FrameType = FrameType.REQUEST_SYNC): Promise<SingleMessage> {
    if (this.closedError) return Promise.reject(this.closedError);
    this.counter = (this.counter + 1) & 0x7fffffff || 1;
    const id = this.counter;
    const p = new Promise<SingleMessage>((resolve, reject) => this.pending.set(id, { resolve, reject }));
    this.write({ id, frameType, body });
    return p;
  }

  /** Registers as TM. */
  async registerTm(
    applicationId: string,
    group = 'default_tx_group',
    version = '2.2.0',
    extraData?: string,
  ): Promise<boolean> {
    const r = await this.request({
      typeCode: TypeCode.REG_CLT,
      version,
      applicationId,
      transactionServiceGroup: group,
      extraData: extraData ?? `vgroup=${group}\nip=127.0.0.1\n`,
    });
    return r.typeCode === TypeCode.REG_CLT_RESULT && r.identified;
  }

  /** Registers as RM for `resourceIds`. */
  async registerRm(
    applicationId: string,
    resourceIds: string[],
    group = 'default_tx_group',
    version = '2.2.0',
  ): Promise<boolean> {
    const r = await this.request({
      typeCode: TypeCode.REG_RM,
      version,
      applicationId,
      transactionServiceGroup: group,
      extraData: null,
      resourceIds: resourceIds.join(','),
    });
    return r.typeCode === TypeCode.REG_RM_RESULT && r.identified;
  }

  /** Closes the connection. */
  close(): void {
    this.socket.destroy();
  }
}
