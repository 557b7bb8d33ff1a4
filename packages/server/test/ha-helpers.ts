/**
 * Pieces of the high-availability suite (ha.test.ts): the `dtx` CLI run to completion, `dtx
 * server` processes sharing one store (ha-stores.ts makes it), and a client that keeps one
 * connection to every TC of the cluster and routes by the XID's address, falling back to another
 * TC when the owner's connection is gone. Not a test file.
 */
import assert from 'node:assert/strict';
import { spawn } from 'node:child_process';
import fs from 'node:fs';
import { xidAddress } from '@dtx/core';
import type { SingleMessage } from '@dtx/protocol';
import { DTX_CLI, type DtxServerProcess, spawnDtxServer } from '@dtx/testing';
import { HOST, WAIT_MS, within } from './helpers.js';

/** Runs the `dtx` CLI to completion; fails with its output unless it exits 0. */
export async function runCli(args: string[], timeoutMs = WAIT_MS * 2): Promise<string> {
  assert.ok(fs.existsSync(DTX_CLI), `${DTX_CLI} is missing: run "npx tsc -b" first`);
  const child = spawn(process.execPath, [DTX_CLI, ...args], { stdio: ['ignore', 'pipe', 'pipe'] });
  let out = '';
  child.stdout.on('data', (d) => {
    out += d;
  });
  child.stderr.on('data', (d) => {
    out += d;
  });
  const code = await within(
    new Promise<number | string>((resolve) => child.once('exit', (c, s) => resolve(c ?? s ?? -1))),
    `dtx ${args.slice(0, 2).join(' ')}`,
    timeoutMs,
  ).catch((err) => {
    child.kill('SIGKILL');
    throw err;
  });
  assert.equal(code, 0, `dtx ${args.join(' ')} exited with ${code}: ${out}`);
  return out;
}

/** One `dtx server` of the cluster; `address` is the prefix of its XIDs and its task lock value. */
export interface ClusterTc extends DtxServerProcess {
  /** Its index in the cluster (0, 1, 2). */
  index: number;
}

/**
 * Spawns `dtx server` on the shared store (`storeArgs`, from HaStore.create()) with the YAML
 * `config` and a worker id of its own (TCs sharing a store must not draw the same branch ids),
 * and waits (up to 2 × WAIT_MS) for its "listening" line. The caller kills it (`tc.kill()`:
 * SIGKILL, then waits until it is gone).
 */
export async function spawnClusterTc(
  index: number,
  port: number,
  metricsPort: number,
  storeArgs: readonly string[],
  config: string,
): Promise<ClusterTc> {
  const tc = await spawnDtxServer({
    host: HOST,
    port,
    metricsPort,
    args: [...storeArgs, '--config', config, '--worker-id', String(index + 1)],
    name: `dtx server ${index}`,
    startTimeoutMs: WAIT_MS * 2,
  });
  return Object.assign(tc, { index });
}

/** A connection that can be found dead: a WirePeer or a FakeRm's. */
export interface Reachable {
  readonly open: boolean;
}

/**
 * XID load balance with the client's fallback (XIDLoadBalance, then RandomLoadBalance over the
 * rest): the TC named by the XID's `ip:port` while its connection is open, else a random TC
 * whose connection is open; null when none is.
 */
export function routeByXid<T extends Reachable>(
  xid: string | null,
  byAddress: ReadonlyMap<string, T>,
): T | null {
  const owner = xid ? byAddress.get(xidAddress(xid) ?? '') : undefined;
  if (owner?.open) return owner;
  const open = [...byAddress.values()].filter((c) => c.open);
  return open.length === 0 ? null : (open[Math.floor(Math.random() * open.length)] as T);
}

/** Thrown by `bounded` when no answer came in time. */
export class NoAnswer extends Error {
  override readonly name = 'NoAnswer';
}

/** `promise`, or NoAnswer after `ms`. */
export async function bounded<T>(promise: Promise<T>, ms: number, what: string): Promise<T> {
  let timer: NodeJS.Timeout | undefined;
  try {
    return await Promise.race([
      promise,
      new Promise<never>((_, reject) => {
        timer = setTimeout(() => reject(new NoAnswer(`no answer to ${what} within ${ms} ms`)), ms);
      }),
    ]);
  } finally {
    clearTimeout(timer);
  }
}

/** The `globalStatus` of a GlobalCommit/Rollback/Status response, or null for another type. */
export function globalStatusOf(r: SingleMessage): number | null {
  return 'globalStatus' in r && typeof r.globalStatus === 'number' ? r.globalStatus : null;
}
