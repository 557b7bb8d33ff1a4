/**
 * Hostile peers against one `dtx server` while the legitimate workload runs:
 *
 * - garbage: connections that send random bytes (the TC must close them);
 * - absurd lengths: frames with a valid magic whose lengths are absurd (over the frame limit,
 *   a head longer than the frame), which the TC must refuse without allocating them;
 * - idle: a pool of thousands of connections that never send a byte, reopened when the TC
 *   closes them (its read-idle reaper, a restart), plus bursts past server.maxConnections whose
 *   refusals are counted;
 * - a begin flooder: registers as a TM and sends GlobalBegin without ever ending a transaction,
 *   until server.maxOpenTransactionsPerClient refuses it, and keeps pushing at a lower rate;
 * - a pipeliner: registers as a TM and writes GlobalStatus requests without ever reading an
 *   answer, so the TC's replies pile up unless it stops reading that session (its in-flight
 *   limit: handlers in flight and outbound bytes per session).
 *
 * Each loop survives the TC being killed and restarted.
 */
import { randomBytes } from 'node:crypto';
import net from 'node:net';
import { setTimeout as sleep } from 'node:timers/promises';
import { FrameType, MAGIC, MAX_FRAME_LENGTH, ResultCode, TypeCode } from '@dtx/protocol';
import { WirePeer } from '../wire-peer.js';
import type { Rng } from './rng.js';

/** What the hostile peers did and saw. */
export interface HostileCounts {
  garbageSent: number;
  garbageClosed: number;
  absurdSent: number;
  absurdClosed: number;
  idleOpened: number;
  idleClosedByServer: number;
  idleHeldMax: number;
  burstAttempts: number;
  burstRefused: number;
  floodBegins: number;
  floodRefused: number;
  /** The first refusal's message, as the TC wrote it. */
  floodRefusal: string | null;
  /** GlobalStatus requests the pipeliner got into the TC's socket without reading an answer. */
  pipelined: number;
}

/** Settings of the hostile peers. */
export interface HostileOptions {
  host: string;
  /** The TC's port (read on every dial: a restarted TC keeps it). */
  port: number;
  /** Idle connections to hold. */
  idleConnections: number;
  /** Connections a burst opens on top of the idle ones. */
  burstSize: number;
  /** Global timeout of the flooder's begins (they end by timing out). */
  floodTxTimeoutMs: number;
}

/** Runs the hostile peers until `stop()`. */
export class HostilePeers {
  readonly counts: HostileCounts = {
    garbageSent: 0,
    garbageClosed: 0,
    absurdSent: 0,
    absurdClosed: 0,
    idleOpened: 0,
    idleClosedByServer: 0,
    idleHeldMax: 0,
    burstAttempts: 0,
    burstRefused: 0,
    floodBegins: 0,
    floodRefused: 0,
    floodRefusal: null,
    pipelined: 0,
  };
  private stopping = false;
  private readonly idle = new Set<net.Socket>();
  private readonly loops: Array<Promise<void>> = [];

  constructor(
    private readonly o: HostileOptions,
    private readonly rng: Rng,
  ) {}

  start(): void {
    this.loops.push(
      this.garbageLoop(),
      this.absurdLoop(),
      this.idleLoop(),
      this.floodLoop(),
      this.pipelineLoop(),
    );
  }

  async stop(): Promise<void> {
    this.stopping = true;
    for (const s of this.idle) s.destroy();
    await Promise.all(this.loops);
    for (const s of this.idle) s.destroy();
  }

  /** Connects; null when the TC is not there (killed, or refusing). */
  private dial(): Promise<net.Socket | null> {
    return new Promise((resolve) => {
      const s = net.connect({ host: this.o.host, port: this.o.port });
      const timer = setTimeout(() => {
        s.destroy();
        resolve(null);
      }, 2000);
      s.once('connect', () => {
        clearTimeout(timer);
        s.removeAllListeners('error');
        s.on('error', () => {});
        resolve(s);
      });
      s.once('error', () => {
        clearTimeout(timer);
        resolve(null);
      });
    });
  }

  /** Writes `bytes` and resolves true if the TC closes the connection within `ms`. */
  private async sendAndExpectClose(bytes: Buffer, ms: number): Promise<boolean | null> {
    const s = await this.dial();
    if (!s) return null;
    const closed = new Promise<boolean>((resolve) => {
      const timer = setTimeout(() => resolve(false), ms);
      s.once('close', () => {
        clearTimeout(timer);
        resolve(true);
      });
    });
    s.on('data', () => {}); // an error frame, if the TC sends one
    s.write(bytes);
    const result = await closed;
    s.destroy();
    return result;
  }

  private async garbageLoop(): Promise<void> {
    while (!this.stopping) {
      // Random bytes that do not start with the magic (which would make them a frame to wait for).
      const bytes = randomBytes(64 + this.rng.int(4096));
      if (bytes.readUInt16BE(0) === MAGIC) bytes[0] = 0;
      const r = await this.sendAndExpectClose(bytes, 3000);
      if (r !== null) {
        this.counts.garbageSent++;
        if (r) this.counts.garbageClosed++;
      }
      await sleep(200 + this.rng.int(400));
    }
  }

  private async absurdLoop(): Promise<void> {
    while (!this.stopping) {
      // magic(2) version(1) fullLength(4) headLength(2) type(1) codec(1) compressor(1) id(4)
      const head = Buffer.alloc(16);
      head.writeUInt16BE(MAGIC, 0);
      head.writeUInt8(1, 2);
      const kind = this.rng.int(3);
      const full = kind === 0 ? 0x7fffffff : kind === 1 ? MAX_FRAME_LENGTH + 1 : 64;
      head.writeUInt32BE(full, 3);
      head.writeUInt16BE(kind === 2 ? 0xffff : 16, 7); // a head longer than the whole frame
      head.writeUInt8(0, 9);
      head.writeUInt8(1, 10);
      head.writeUInt8(0, 11);
      head.writeUInt32BE(this.rng.int(1 << 30), 12);
      const r = await this.sendAndExpectClose(Buffer.concat([head, randomBytes(48)]), 3000);
      if (r !== null) {
        this.counts.absurdSent++;
        if (r) this.counts.absurdClosed++;
      }
      await sleep(300 + this.rng.int(500));
    }
  }

  private async idleLoop(): Promise<void> {
    let lastBurst = Date.now();
    while (!this.stopping) {
      // Top the pool up, a few hundred at a time, so a TC restart is not met by one huge wave.
      const missing = Math.min(this.o.idleConnections - this.idle.size, 250);
      const opened = await Promise.all(Array.from({ length: Math.max(0, missing) }, () => this.dial()));
      for (const s of opened) {
        if (!s) continue;
        if (this.stopping) {
          s.destroy();
          continue;
        }
        this.counts.idleOpened++;
        this.idle.add(s);
        s.on('data', () => {});
        s.once('close', () => {
          if (this.idle.delete(s) && !this.stopping) this.counts.idleClosedByServer++;
        });
      }
      this.counts.idleHeldMax = Math.max(this.counts.idleHeldMax, this.idle.size);
      if (this.idle.size >= this.o.idleConnections * 0.95 && Date.now() - lastBurst > 10_000) {
        lastBurst = Date.now();
        await this.burst();
      }
      await sleep(500);
    }
  }

  /** Opens burstSize more connections at once; those the TC closes within a second were refused. */
  private async burst(): Promise<void> {
    const sockets = (await Promise.all(Array.from({ length: this.o.burstSize }, () => this.dial()))).filter(
      (s): s is net.Socket => s !== null,
    );
    this.counts.burstAttempts += this.o.burstSize;
    const refused = await Promise.all(
      sockets.map(
        (s) =>
          new Promise<boolean>((resolve) => {
            if (s.destroyed) return resolve(true);
            const timer = setTimeout(() => resolve(false), 1000);
            s.once('close', () => {
              clearTimeout(timer);
              resolve(true);
            });
          }),
      ),
    );
    this.counts.burstRefused += refused.filter(Boolean).length + (this.o.burstSize - sockets.length);
    for (const s of sockets) s.destroy();
  }

  private async floodLoop(): Promise<void> {
    while (!this.stopping) {
      let peer: WirePeer;
      try {
        peer = await WirePeer.connect(this.o.port, this.o.host);
        if (!(await peer.registerTm('chaos-flooder'))) throw new Error('registration refused');
      } catch {
        await sleep(1000);
        continue;
      }
      // Flat out until the first refusal, then a steady push against the limit.
      while (!this.stopping && !peer.socket.destroyed) {
        const burst = this.counts.floodRefused === 0 ? 20 : 2;
        const answers = await Promise.allSettled(
          Array.from({ length: burst }, () =>
            peer.request({
              typeCode: TypeCode.GLOBAL_BEGIN,
              timeout: this.o.floodTxTimeoutMs,
              transactionName: 'flood',
            }),
          ),
        );
        for (const a of answers) {
          if (a.status !== 'fulfilled' || a.value.typeCode !== TypeCode.GLOBAL_BEGIN_RESULT) continue;
          this.counts.floodBegins++;
          if (a.value.resultCode === ResultCode.Failed) {
            this.counts.floodRefused++;
            this.counts.floodRefusal ??= a.value.msg;
          }
        }
        await sleep(this.counts.floodRefused === 0 ? 50 : 100);
      }
      peer.close();
    }
  }

  private async pipelineLoop(): Promise<void> {
    let id = 0;
    while (!this.stopping) {
      let peer: WirePeer;
      try {
        peer = await WirePeer.connect(this.o.port, this.o.host);
        if (!(await peer.registerTm('chaos-pipeliner'))) throw new Error('registration refused');
      } catch {
        await sleep(1000);
        continue;
      }
      // Never read again: the TC's answers fill its socket, then its outbound buffer.
      peer.socket.pause();
      const until = Date.now() + 10_000;
      while (!this.stopping && !peer.socket.destroyed && Date.now() < until) {
        // Write only while the kernel takes the bytes: once the TC stops reading, so do we.
        if (peer.socket.writableLength < 1 << 20) {
          for (let i = 0; i < 500; i++) {
            id = (id + 1) & 0x7fffffff || 1;
            peer.write({
              id,
              frameType: FrameType.REQUEST_SYNC,
              body: {
                typeCode: TypeCode.GLOBAL_STATUS,
                xid: `127.0.0.1:${this.o.port}:${id}`,
                extraData: null,
              },
            });
          }
          this.counts.pipelined += 500;
        }
        await sleep(50);
      }
      peer.close();
      await sleep(2000);
    }
  }
}
