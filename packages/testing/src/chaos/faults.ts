/**
 * The fault injector: at random intervals it picks a fault whose target is free and runs it to
 * the end (a killed process is restarted, a proxy fault is lifted), counting each kind.
 *
 * - tc-kill: SIGKILL a `dtx server` (file variant: the only one; ha variant: one of the two not
 *   sampled for the soak) and restart it on the same port and store.
 * - participant-kill: SIGKILL a bank service at a random moment; restart it.
 * - participant-crash-after-try: arm a bank so that it SIGKILLs itself right after its next
 *   successful try, before or after answering it: phase two finds it gone. Restart it.
 * - participant-hang: SIGSTOP a bank for longer than the TC's RPC timeout, then SIGCONT.
 * - proxy-delay: add latency to every packet between the participants and one TC.
 * - proxy-cut: cut the participants' connections to one TC a few bytes into a frame, for
 *   a moment (reconnections are cut too).
 * - proxy-hang: hold every byte between the participants and one TC for longer than the RPC
 *   timeout, then let them through.
 * - initiator-kill: SIGKILL the initiator with transfers in flight; the TC must time them out
 *   and roll them back. Restart it.
 */
import { setTimeout as sleep } from 'node:timers/promises';
import type { FaultDirection } from '../fault-proxy.js';
import { BANKS } from './bank-schema.js';
import type { ChaosCluster } from './cluster.js';
import type { Rng } from './rng.js';

/** The fault kinds. */
export const FAULT_KINDS = [
  'tc-kill',
  'participant-kill',
  'participant-crash-after-try',
  'participant-hang',
  'proxy-delay',
  'proxy-cut',
  'proxy-hang',
  'initiator-kill',
] as const;
export type FaultKind = (typeof FAULT_KINDS)[number];

/** Injects faults into one cluster until stopped. */
export class FaultInjector {
  readonly counts = Object.fromEntries(FAULT_KINDS.map((k) => [k, 0])) as Record<FaultKind, number>;
  private readonly busy = new Set<string>();
  private readonly running = new Set<Promise<void>>();
  private stopping = false;
  private loop: Promise<void> | null = null;
  /** Faults that failed to run (a restart that did not come up), as text. */
  readonly errors: string[] = [];

  constructor(
    private readonly cluster: ChaosCluster,
    private readonly rng: Rng,
    private readonly log: (line: string) => void,
  ) {}

  start(): void {
    this.loop = (async () => {
      await sleep(1000 + this.rng.int(2000));
      while (!this.stopping) {
        this.inject();
        await sleep(1200 + this.rng.int(2800));
      }
    })();
  }

  /** Stops injecting and waits for the faults in progress to finish (each heals its target). */
  async stop(): Promise<void> {
    this.stopping = true;
    await this.loop;
    await Promise.all(this.running);
  }

  /** Kinds drawn from a shuffled bag, so every kind comes up once per round, even in a short run. */
  private bag: FaultKind[] = [];

  private nextKind(): FaultKind {
    if (this.bag.length === 0) {
      this.bag = [...FAULT_KINDS];
      for (let i = this.bag.length - 1; i > 0; i--) {
        const j = this.rng.int(i + 1);
        [this.bag[i], this.bag[j]] = [this.bag[j]!, this.bag[i]!];
      }
    }
    return this.bag.pop()!;
  }

  private inject(): void {
    const kind = this.nextKind();
    const { target, fn } = this.plan(kind);
    if (this.busy.has(target)) return;
    this.busy.add(target);
    this.counts[kind]++;
    const p = fn()
      .catch((err) => {
        this.errors.push(`${kind} on ${target}: ${(err as Error).message}`);
      })
      .finally(() => {
        this.busy.delete(target);
        this.running.delete(p);
      });
    this.running.add(p);
  }

  /** What a fault of `kind` does, and the target it holds while it does it. */
  private plan(kind: FaultKind): { target: string; fn: () => Promise<void> } {
    const c = this.cluster;
    const rpc = c.s.rpcTcRequestTimeoutMs;
    const tcIndexes = c.s.variant === 'ha' ? [1, 2] : [0];
    const bank = this.rng.pick(BANKS);
    const proxy = this.rng.pick(c.tcs);
    const run = (target: string, fn: () => Promise<void>) => ({ target, fn });
    const restartDelay = () => sleep(500 + this.rng.int(2500));
    switch (kind) {
      case 'tc-kill': {
        const tc = c.tcs[this.rng.pick(tcIndexes)]!;
        // One TC down at a time: "one of three" in the ha variant.
        return run('tc', async () => {
          this.log(`fault: SIGKILL tc${tc.index}`);
          tc.proc.down = true;
          await tc.proc.kill('SIGKILL');
          await restartDelay();
          await tc.proc.start();
        });
      }
      case 'participant-kill':
        return run(`bank-${bank}`, async () => {
          const p = c.banks[bank].proc;
          this.log(`fault: SIGKILL bank ${bank}`);
          p.down = true;
          await p.kill('SIGKILL');
          await restartDelay();
          await p.start();
        });
      case 'participant-crash-after-try':
        return run(`bank-${bank}`, async () => {
          const node = c.banks[bank];
          const when = this.rng.next() < 0.5 ? 'before-reply' : 'after-reply';
          this.log(`fault: bank ${bank} SIGKILLs itself after its next try (${when})`);
          const exited = node.proc.exited();
          await fetch(`${node.url}/crash`, {
            method: 'POST',
            headers: { 'content-type': 'application/json' },
            body: JSON.stringify({ when }),
            signal: AbortSignal.timeout(2000),
          }).catch(() => {});
          const done = await Promise.race([exited.then(() => true), sleep(10_000).then(() => false)]);
          if (!done) await node.proc.kill('SIGKILL');
          await restartDelay();
          await node.proc.start();
        });
      case 'participant-hang':
        return run(`bank-${bank}`, async () => {
          const p = c.banks[bank].proc;
          const ms = rpc + 1000 + this.rng.int(2000);
          this.log(`fault: SIGSTOP bank ${bank} for ${ms} ms`);
          p.pause(true);
          await sleep(ms);
          p.pause(false);
        });
      case 'proxy-delay':
        return run(`proxy-${proxy.index}`, async () => {
          const ms = 20 + this.rng.int(400);
          this.log(`fault: proxy ${proxy.index} delays ${ms} ms`);
          proxy.proxy.setDelay(ms);
          await sleep(2000 + this.rng.int(4000));
          proxy.proxy.clearFaults();
        });
      case 'proxy-cut':
        return run(`proxy-${proxy.index}`, async () => {
          const bytes = 1 + this.rng.int(300);
          const direction = this.rng.pick<FaultDirection>(['upstream', 'downstream', 'both']);
          this.log(`fault: proxy ${proxy.index} cuts after ${bytes} bytes ${direction}`);
          proxy.proxy.cutAfter(bytes, direction);
          await sleep(200 + this.rng.int(1500));
          proxy.proxy.clearFaults();
        });
      case 'proxy-hang':
        return run(`proxy-${proxy.index}`, async () => {
          const ms = rpc + 500 + this.rng.int(2000);
          this.log(`fault: proxy ${proxy.index} hangs ${ms} ms`);
          proxy.proxy.hang();
          await sleep(ms);
          proxy.proxy.clearFaults();
        });
      case 'initiator-kill':
        return run('initiator', async () => {
          this.log('fault: SIGKILL initiator');
          await c.initiator.kill('SIGKILL');
          await sleep(200 + this.rng.int(1500));
          if (!this.stopping) await c.startInitiator();
        });
    }
  }
}
