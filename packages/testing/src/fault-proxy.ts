import net, { type Server, type Socket } from 'node:net';
import { performance } from 'node:perf_hooks';

/** A direction of travel through the proxy: 'upstream' is client → target, 'downstream' target → client. */
export type Direction = 'upstream' | 'downstream';

/** The direction(s) a fault applies to. */
export type FaultDirection = Direction | 'both';

/** Options of {@link FaultProxy.start}. */
export interface FaultProxyOptions {
  /** Where every accepted connection is forwarded to. */
  target: { host: string; port: number };
  /**
   * Address to listen on.
   * @default '127.0.0.1'
   */
  host?: string;
  /**
   * Port to listen on; 0 picks a free ephemeral port.
   * @default 0
   */
  port?: number;
}

/** What a direction does with the bytes it reads: pass them on, hold them, or throw them away. */
type Mode = 'forward' | 'hang' | 'drop';

/** Faults and counters of one direction, shared by the proxy and every live connection. */
interface DirectionState {
  mode: Mode;
  delayMs: number;
  /** Cut budget given to connections accepted from now on; undefined when no cut is armed. */
  cutAfter: number | undefined;
  forwarded: number;
}

const DIRECTIONS: readonly Direction[] = ['upstream', 'downstream'];

function directionsOf(direction: FaultDirection): readonly Direction[] {
  if (direction === 'both') return DIRECTIONS;
  if (direction === 'upstream' || direction === 'downstream') return [direction];
  throw new TypeError(`direction must be 'upstream', 'downstream' or 'both', got ${String(direction)}`);
}

/**
 * A TCP proxy that forwards each accepted connection to a target over its own upstream
 * connection, with switchable network faults for tests (STYLE rule 10). Every fault applies to
 * live connections as well as new ones.
 *
 * @example
 * const proxy = await FaultProxy.start({ target: { host: '127.0.0.1', port: tcPort } });
 * // point the client at proxy.address, then:
 * proxy.cutAfter(10, 'downstream'); // the next response frame arrives cut mid-way
 */
export class FaultProxy {
  private readonly directions: Record<Direction, DirectionState> = {
    upstream: { mode: 'forward', delayMs: 0, cutAfter: undefined, forwarded: 0 },
    downstream: { mode: 'forward', delayMs: 0, cutAfter: undefined, forwarded: 0 },
  };
  private readonly live = new Set<Connection>();
  private readonly waiters = new Set<() => void>();
  private refusing = false;
  private closing: Promise<void> | undefined;
  /** Where the server listens; kept so the getters still answer after close. */
  private bound: net.AddressInfo | undefined;

  private constructor(
    private readonly server: Server,
    private readonly target: { host: string; port: number },
  ) {
    server.on('connection', (client) => this.accept(client));
  }

  /** Starts a proxy listening on `options.host:options.port` (default 127.0.0.1, ephemeral port). */
  static async start(options: FaultProxyOptions): Promise<FaultProxy> {
    // Half-open sockets let a FIN travel through the proxy after the data queued before it.
    const server = net.createServer({ allowHalfOpen: true });
    const proxy = new FaultProxy(server, { ...options.target });
    await new Promise<void>((resolve, reject) => {
      server.once('error', reject);
      server.listen(options.port ?? 0, options.host ?? '127.0.0.1', () => {
        server.off('error', reject);
        resolve();
      });
    });
    // An accept error (EMFILE and the like) must not crash the test process.
    server.on('error', () => {});
    proxy.bound = server.address() as net.AddressInfo;
    return proxy;
  }

  /** The port the proxy listens on. */
  get port(): number {
    return this.bound!.port;
  }

  /** The address the proxy listens on. */
  get host(): string {
    return this.bound!.address;
  }

  /** `host:port`, ready to hand to a client as its server address. */
  get address(): string {
    return `${this.host}:${this.port}`;
  }

  /** Number of live connections (a client socket with its upstream socket counts as one). */
  get connections(): number {
    return this.live.size;
  }

  /** Bytes forwarded so far in each direction, over all connections. A snapshot. */
  get bytesForwarded(): { upstream: number; downstream: number } {
    return { upstream: this.directions.upstream.forwarded, downstream: this.directions.downstream.forwarded };
  }

  /** Holds every chunk `ms` milliseconds before forwarding it, order preserved; 0 turns the delay off. */
  setDelay(ms: number, direction: FaultDirection = 'both'): void {
    if (!(Number.isFinite(ms) && ms >= 0)) throw new RangeError(`delay must be a finite ms >= 0, got ${ms}`);
    for (const d of directionsOf(direction)) this.directions[d].delayMs = ms;
    this.pumpAll();
  }

  /**
   * After exactly `bytes` more bytes have been forwarded in `direction` (counted per connection,
   * from this call for live connections and from accept for new ones), forwards the prefix of the
   * straddling chunk and closes the connection: the receiver gets the bytes and a FIN, the other
   * socket is destroyed at once. `bytes = 0` cuts live connections now and new ones on accept.
   */
  cutAfter(bytes: number, direction: FaultDirection = 'both'): void {
    if (!(Number.isInteger(bytes) && bytes >= 0))
      throw new RangeError(`bytes must be an integer >= 0, got ${bytes}`);
    for (const d of directionsOf(direction)) {
      this.directions[d].cutAfter = bytes;
      for (const conn of this.live) conn.pipes[d].armCut(bytes);
    }
  }

  /** Stops forwarding in `direction` but keeps the sockets open and the bytes (and any FIN) held. */
  hang(direction: FaultDirection = 'both'): void {
    for (const d of directionsOf(direction)) this.directions[d].mode = 'hang';
    this.pumpAll();
  }

  /**
   * Silently discards bytes in `direction`, including any held by an earlier hang or delay.
   * A FIN is not discarded but held, as under {@link hang}.
   */
  drop(direction: FaultDirection = 'both'): void {
    for (const d of directionsOf(direction)) this.directions[d].mode = 'drop';
    this.pumpAll();
  }

  /** Undoes {@link hang} and {@link drop}: forwarding restarts, beginning with anything held. */
  resume(direction: FaultDirection = 'both'): void {
    for (const d of directionsOf(direction)) this.directions[d].mode = 'forward';
    this.pumpAll();
  }

  /** Destroys every live connection with a TCP RST on both sides. */
  resetAll(): void {
    for (const conn of this.live) conn.reset();
  }

  /**
   * While on, new connections are accepted and immediately reset: the dialer's TCP handshake
   * completes, then it reads ECONNRESET. The proxy keeps listening so the port stays ours and
   * turning refusal off takes effect at once. Live connections are not touched.
   */
  refuse(on: boolean): void {
    this.refusing = on;
  }

  /** Turns every fault off: no delay, hang, drop, cut or refusal; held bytes are forwarded. */
  clearFaults(): void {
    this.refusing = false;
    for (const d of DIRECTIONS) {
      const state = this.directions[d];
      state.mode = 'forward';
      state.delayMs = 0;
      state.cutAfter = undefined;
      for (const conn of this.live) conn.pipes[d].armCut(undefined);
    }
    this.pumpAll();
  }

  /** Resolves once exactly `n` connections are live; rejects after `timeoutMs`. */
  waitForConnections(n: number, timeoutMs = 2000): Promise<void> {
    return new Promise((resolve, reject) => {
      const check = () => {
        if (this.live.size !== n) return;
        done();
        resolve();
      };
      const timer = setTimeout(() => {
        done();
        reject(
          new Error(`timed out after ${timeoutMs} ms waiting for ${n} connections, have ${this.live.size}`),
        );
      }, timeoutMs);
      const done = () => {
        clearTimeout(timer);
        this.waiters.delete(check);
      };
      this.waiters.add(check);
      check();
    });
  }

  /** Stops listening and destroys every connection. Idempotent; resolves once the port is free. */
  close(): Promise<void> {
    this.closing ??= new Promise<void>((resolve) => {
      this.server.close(() => resolve());
      for (const conn of this.live) conn.destroy();
    });
    return this.closing;
  }

  private accept(client: Socket): void {
    client.on('error', () => {});
    if (this.refusing || this.closing) {
      client.resetAndDestroy();
      return;
    }
    const upstream = net.connect({ ...this.target, allowHalfOpen: true });
    const conn = new Connection(client, upstream, this.directions, () => {
      this.live.delete(conn);
      this.notify();
    });
    this.live.add(conn);
    this.notify();
  }

  private pumpAll(): void {
    for (const conn of this.live) for (const d of DIRECTIONS) conn.pipes[d].pump();
  }

  private notify(): void {
    for (const check of this.waiters) check();
  }
}

/** One client socket, its upstream socket and the two pipes between them. */
class Connection {
  readonly pipes: Record<Direction, Pipe>;
  private cutting = false;
  private open = 2;

  constructor(
    private readonly client: Socket,
    private readonly upstream: Socket,
    states: Record<Direction, DirectionState>,
    onClosed: () => void,
  ) {
    const cut = (dst: Socket, prefix: Buffer) => this.cut(dst, prefix);
    this.pipes = {
      upstream: new Pipe(client, upstream, states.upstream, cut),
      downstream: new Pipe(upstream, client, states.downstream, cut),
    };
    for (const [socket, other] of [
      [client, upstream],
      [upstream, client],
    ] as const) {
      socket.setNoDelay(true);
      // The error destroys `socket`; its 'close' then takes the pair down.
      socket.on('error', () => {});
      socket.on('close', () => {
        // While cutting, the receiving socket is still flushing the prefix; it closes itself.
        if (!this.cutting) other.destroy();
        if (--this.open === 0) onClosed();
      });
    }
    for (const d of DIRECTIONS) {
      const budget = states[d].cutAfter;
      if (budget !== undefined) this.pipes[d].armCut(budget);
    }
  }

  /** Closes the pair after `prefix`: `dst` gets it and a FIN, the other socket goes at once. */
  private cut(dst: Socket, prefix: Buffer): void {
    if (this.cutting) return;
    this.cutting = true;
    this.stopPipes();
    (dst === this.client ? this.upstream : this.client).destroy();
    dst.end(prefix, () => dst.destroy());
  }

  /** Both sockets go with a TCP RST. */
  reset(): void {
    this.stopPipes();
    this.client.resetAndDestroy();
    this.upstream.resetAndDestroy();
  }

  destroy(): void {
    this.stopPipes();
    this.client.destroy();
    this.upstream.destroy();
  }

  private stopPipes(): void {
    for (const d of DIRECTIONS) this.pipes[d].stop();
  }
}

/** Carries bytes one way, from `src` to `dst`, applying the direction's faults. */
class Pipe {
  /** Chunks read but not yet forwarded, with the time they arrived. */
  private readonly queue: { chunk: Buffer; at: number }[] = [];
  private timer: NodeJS.Timeout | undefined;
  private srcEnded = false;
  private stopped = false;
  /** Bytes still allowed through before the cut; undefined when no cut is armed. */
  private cutBudget: number | undefined;

  constructor(
    private readonly src: Socket,
    private readonly dst: Socket,
    private readonly state: DirectionState,
    private readonly onCut: (dst: Socket, prefix: Buffer) => void,
  ) {
    src.on('data', (chunk: Buffer) => {
      if (this.stopped) return;
      this.queue.push({ chunk, at: performance.now() });
      this.pump();
    });
    src.on('end', () => {
      this.srcEnded = true;
      this.pump();
    });
    dst.on('drain', () => src.resume());
  }

  armCut(bytes: number | undefined): void {
    if (this.stopped) return;
    this.cutBudget = bytes;
    if (bytes === 0) this.onCut(this.dst, Buffer.alloc(0));
  }

  /** Forwards what the current faults allow; called on every arrival and every fault change. */
  pump(): void {
    clearTimeout(this.timer);
    this.timer = undefined;
    if (this.stopped || this.state.mode === 'hang') return;
    if (this.state.mode === 'drop') {
      this.queue.length = 0;
      return;
    }
    while (this.queue.length > 0) {
      const head = this.queue[0]!;
      // The delay is read now, not at arrival, so changing it also applies to held chunks.
      const wait = head.at + this.state.delayMs - performance.now();
      if (wait > 0) {
        this.timer = setTimeout(() => this.pump(), Math.ceil(wait));
        return;
      }
      this.queue.shift();
      this.forward(head.chunk);
      if (this.stopped) return;
    }
    if (this.srcEnded && !this.dst.writableEnded) this.dst.end();
  }

  stop(): void {
    this.stopped = true;
    this.queue.length = 0;
    clearTimeout(this.timer);
  }

  private forward(chunk: Buffer): void {
    if (this.cutBudget !== undefined && chunk.length >= this.cutBudget) {
      const prefix = chunk.subarray(0, this.cutBudget);
      this.state.forwarded += prefix.length;
      this.onCut(this.dst, prefix);
      return;
    }
    if (this.cutBudget !== undefined) this.cutBudget -= chunk.length;
    this.state.forwarded += chunk.length;
    // Backpressure: stop reading until the receiver drains.
    if (!this.dst.write(chunk)) this.src.pause();
  }
}
