/**
 * Runs message handlers off the read path with a bounded concurrency: Getty's task pool, in
 * Node terms. The read path only enqueues; at most `concurrency` handlers are in flight per
 * dispatcher, and when the queue passes its high-water mark the owner is told to stop reading
 * (back-pressure reaches the peer through TCP) until it falls to half.
 */

/** A unit of work; its promise settling frees the slot. */
export type Task = () => Promise<void> | void;

/** Options of one dispatcher. */
export interface DispatcherOptions {
  concurrency: number;
  /** Queued tasks beyond which `onSaturated(true)` fires. */
  highWaterMark: number;
  onSaturated?: (saturated: boolean) => void;
  onError?: (err: unknown) => void;
}

/** A FIFO task queue with a concurrency cap. */
export class Dispatcher {
  private readonly queue: Task[] = [];
  private head = 0;
  private active = 0;
  private saturated = false;
  private pumping = false;
  private idleWaiters: Array<() => void> = [];

  constructor(private readonly options: DispatcherOptions) {}

  /** Tasks running now. */
  get running(): number {
    return this.active;
  }

  /** Tasks waiting for a slot. */
  get queued(): number {
    return this.queue.length - this.head;
  }

  /** Enqueues a task; it starts at once if a slot is free. */
  submit(task: Task): void {
    if (this.active < this.options.concurrency && this.queued === 0) {
      this.run(task);
      return;
    }
    this.queue.push(task);
    if (!this.saturated && this.queued >= this.options.highWaterMark) {
      this.saturated = true;
      this.options.onSaturated?.(true);
    }
  }

  /** Resolves when nothing is running or queued. */
  whenIdle(): Promise<void> {
    if (this.active === 0 && this.queued === 0) return Promise.resolve();
    return new Promise((resolve) => this.idleWaiters.push(resolve));
  }

  /** Drops everything still queued (running tasks finish on their own). */
  clear(): void {
    this.queue.length = 0;
    this.head = 0;
    this.checkIdle();
  }

  private run(task: Task): void {
    this.active++;
    let result: Promise<void> | void;
    try {
      result = task();
    } catch (err) {
      this.options.onError?.(err);
      this.done();
      return;
    }
    if (result && typeof (result as Promise<void>).then === 'function') {
      (result as Promise<void>).then(
        () => this.done(),
        (err) => {
          this.options.onError?.(err);
          this.done();
        },
      );
    } else {
      this.done();
    }
  }

  private done(): void {
    this.active--;
    this.pump();
  }

  /** Starts queued tasks while slots are free; iterative, so synchronous tasks cannot recurse. */
  private pump(): void {
    if (this.pumping) return;
    this.pumping = true;
    while (this.active < this.options.concurrency && this.head < this.queue.length) {
      const next = this.queue[this.head] as Task;
      this.queue[this.head++] = undefined as unknown as Task;
      if (this.head > 1024 && this.head * 2 > this.queue.length) {
        this.queue.splice(0, this.head);
        this.head = 0;
      }
      this.run(next);
    }
    this.pumping = false;
    if (this.saturated && this.queued <= this.options.highWaterMark / 2) {
      this.saturated = false;
      this.options.onSaturated?.(false);
    }
    this.checkIdle();
  }

  private checkIdle(): void {
    if (this.active === 0 && this.queued === 0 && this.idleWaiters.length > 0) {
      const waiters = this.idleWaiters;
      this.idleWaiters = [];
      for (const w of waiters) w();
    }
  }
}
