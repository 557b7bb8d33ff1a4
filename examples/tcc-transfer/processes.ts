/**
 * The demo's child processes: start one, echo its output with a name in front, wait for the
 * line that says it is ready, and stop them all (SIGTERM, then SIGKILL) however the demo ends.
 */
import { type ChildProcess, spawn } from 'node:child_process';
import net from 'node:net';

const children: Array<{ name: string; child: ChildProcess }> = [];

/** A free TCP port on 127.0.0.1. */
export function freePort(): Promise<number> {
  return new Promise((resolve, reject) => {
    const server = net.createServer();
    server.once('error', reject);
    server.listen(0, '127.0.0.1', () => {
      const { port } = server.address() as net.AddressInfo;
      server.close(() => resolve(port));
    });
  });
}

/**
 * Runs `node <args>` with `env` added, and resolves with the first output line matching
 * `ready`; rejects if the process exits first or `timeoutMs` passes.
 */
export function startProcess(
  name: string,
  args: string[],
  env: Record<string, string>,
  ready: RegExp,
  timeoutMs = 15_000,
): Promise<RegExpMatchArray> {
  const child = spawn(process.execPath, args, {
    env: { ...process.env, ...env },
    stdio: ['pipe', 'pipe', 'pipe'],
  });
  children.push({ name, child });
  return new Promise((resolve, reject) => {
    let settled = false;
    const timer = setTimeout(
      () => finish(new Error(`${name} was not ready within ${timeoutMs} ms`)),
      timeoutMs,
    );
    const finish = (err: Error | null, match?: RegExpMatchArray) => {
      if (settled) return;
      settled = true;
      clearTimeout(timer);
      if (err) reject(err);
      else resolve(match as RegExpMatchArray);
    };
    let pending = '';
    const onData = (chunk: Buffer) => {
      pending += chunk.toString();
      const lines = pending.split('\n');
      pending = lines.pop() ?? '';
      for (const line of lines) {
        const match = ready.exec(line);
        if (match) finish(null, match);
        else if (line.trim()) console.log(`  [${name}] ${line}`);
      }
    };
    child.stdout?.on('data', onData);
    child.stderr?.on('data', onData);
    child.once('exit', (code, signal) =>
      finish(new Error(`${name} exited (${code ?? signal}) before it was ready`)),
    );
  });
}

/** Stops every child started here: SIGTERM, and SIGKILL for those still running after 3 s. */
export async function stopAll(): Promise<void> {
  await Promise.all(
    children.splice(0).map(async ({ child }) => {
      if (child.exitCode !== null || child.signalCode !== null) return;
      const exited = new Promise((resolve) => child.once('exit', resolve));
      child.kill('SIGTERM');
      const killer = setTimeout(() => child.kill('SIGKILL'), 3000);
      await exited;
      clearTimeout(killer);
    }),
  );
}
