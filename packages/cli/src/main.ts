#!/usr/bin/env -S node --max-semi-space-size=8 --heap-growing-percent=100
import type { TcServer } from '@dtx/server';
/**
 * Entry point of the `dtx` binary: parses the command line, runs the command, and turns
 * SIGTERM/SIGINT into a graceful TC shutdown (drain in-flight requests, flush the log).
 */
import { CommanderError } from 'commander';
import { buildProgram } from './commands.js';

let server: TcServer | null = null;
let stopping = false;

async function shutdown(signal: string): Promise<void> {
  if (stopping) return;
  stopping = true;
  if (!server) process.exit(0);
  process.stderr.write(`dtx: ${signal} received, draining\n`);
  const force = setTimeout(() => process.exit(1), 30_000);
  force.unref();
  await server.stop();
  process.exit(0);
}
process.on('SIGTERM', () => void shutdown('SIGTERM'));
process.on('SIGINT', () => void shutdown('SIGINT'));

const program = buildProgram({
  out: (t) => process.stdout.write(`${t}\n`),
  err: (t) => process.stderr.write(`${t}\n`),
  env: process.env,
  onServer: (s) => {
    server = s;
  },
});

try {
  await program.parseAsync(process.argv);
} catch (err) {
  if (err instanceof CommanderError) process.exit(err.exitCode);
  const e = err as Error & { code?: string };
  process.stderr.write(`dtx: ${e.message}\n`);
  process.exit(2);
}
