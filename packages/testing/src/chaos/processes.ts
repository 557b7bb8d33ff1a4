/**
 * The chaos run's child processes: each one started from a fixed command line (so a restart is
 * the same process again), its output appended to a log file, the line that says it is ready
 * awaited, and a registry that SIGKILLs every survivor when the run ends, however it ends.
 */
import { type ChildProcess, spawn } from 'node:child_process';
import fs from 'node:fs';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { DTX_CLI } from '../tc-process.js';

export { freePort } from '../free-port.js';

/** The built `dtx` CLI. */
export const CLI = DTX_CLI;

const live = new Set<ChildProcess>();

/** SIGKILLs every child still running (synchronous, so it also works from an 'exit' handler). */
export function killAllChildren(): void {
  for (const c of live) if (c.exitCode === null && c.signalCode === null) c.kill('SIGKILL');
}

/** The `node` arguments that run the sibling module `name` of this file (source through tsx, or built JS). */
export function nodeArgsFor(name: string): string[] {
  const self = fileURLToPath(import.meta.url);
  const ext = path.extname(self);
  const file = path.join(path.dirname(self), `${name}${ext}`);
  return ext === '.ts' ? ['--import', 'tsx', file] : [file];
}

/** A restartable child process. */
export class Proc {
  private child: ChildProcess | null = null;
  private exitedPromise: Promise<void> = Promise.resolve();
  private tail: string[] = [];
  /** Times it was started. */
  starts = 0;
  /** Set while it is meant to be down (killed by a fault, not yet restarted). */
  down = false;
  /** Set while SIGSTOPped. */
  stopped = false;

  constructor(
    readonly name: string,
    private readonly args: () => string[],
    private readonly logFile: string,
    private readonly ready: RegExp,
    private readonly onLine: (line: string) => void = () => {},
  ) {}

  /** The pid while running. */
  get pid(): number | null {
    return this.alive ? (this.child?.pid ?? null) : null;
  }

  get alive(): boolean {
    return this.child !== null && this.child.exitCode === null && this.child.signalCode === null;
  }

  /** The last lines it printed, for error messages. */
  lastLines(): string {
    return this.tail.join('\n');
  }

  /** Starts it and waits for its ready line. */
  async start(timeoutMs = 20_000): Promise<void> {
    if (this.alive) throw new Error(`${this.name} is already running`);
    this.starts++;
    const log = (text: string | Buffer) => fs.appendFileSync(this.logFile, text);
    log(`---- start #${this.starts} at ${new Date().toISOString()}\n`);
    const child = spawn(process.execPath, this.args(), { stdio: ['ignore', 'pipe', 'pipe'] });
    this.child = child;
    live.add(child);
    this.exitedPromise = new Promise((resolve) =>
      child.once('exit', (code, signal) => {
        live.delete(child);
        log(`---- exit ${code ?? signal} at ${new Date().toISOString()}\n`);
        resolve();
      }),
    );
    let readyResolve: () => void = () => {};
    const isReady = new Promise<void>((resolve) => {
      readyResolve = resolve;
    });
    let pending = '';
    const onData = (chunk: Buffer) => {
      log(chunk);
      pending += chunk.toString();
      const lines = pending.split('\n');
      pending = lines.pop() ?? '';
      for (const line of lines) {
        this.tail.push(line);
        if (this.tail.length > 30) this.tail.shift();
        if (this.ready.test(line)) readyResolve();
        this.onLine(line);
      }
    };
    child.stdout?.on('data', onData);
    child.stderr?.on('data', onData);
    let timer: NodeJS.Timeout | undefined;
    try {
      await Promise.race([
        isReady,
        this.exitedPromise.then(() => {
          throw new Error(`${this.name} exited before it was ready:\n${this.lastLines()}`);
        }),
        new Promise((_, reject) => {
          timer = setTimeout(
            () => reject(new Error(`${this.name} not ready within ${timeoutMs} ms:\n${this.lastLines()}`)),
            timeoutMs,
          );
        }),
      ]);
    } catch (err) {
      child.kill('SIGKILL');
      await this.exitedPromise;
      throw err;
    } finally {
      clearTimeout(timer);
    }
    this.down = false;
    this.stopped = false;
  }

  /** Sends `signal` and waits for the exit (SIGKILL after `graceMs` for a gentler signal). */
  async kill(signal: NodeJS.Signals = 'SIGKILL', graceMs = 10_000): Promise<void> {
    const child = this.child;
    if (!child || !this.alive) return;
    if (this.stopped) child.kill('SIGCONT');
    child.kill(signal);
    if (signal !== 'SIGKILL') {
      const t = setTimeout(() => child.kill('SIGKILL'), graceMs);
      await this.exitedPromise;
      clearTimeout(t);
    }
    await this.exitedPromise;
    this.stopped = false;
  }

  /** Resolves when the current incarnation has exited. */
  exited(): Promise<void> {
    return this.exitedPromise;
  }

  /** SIGSTOP (true) or SIGCONT (false). */
  pause(on: boolean): void {
    if (!this.alive || !this.child) return;
    this.child.kill(on ? 'SIGSTOP' : 'SIGCONT');
    this.stopped = on;
  }
}
