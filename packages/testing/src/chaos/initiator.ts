/**
 * The chaos run's initiator: starts transfers between the two banks at a steady rate, each a
 * global transaction that calls the debit service, then the credit service, over HTTP with the
 * TX_XID header. Some fail on purpose in one try. Every transfer is journaled (appended
 * synchronously, so a SIGKILL loses nothing written) before it starts and when it ends; a killed
 * initiator leaves intents without outcomes.
 *
 * Run as `node initiator.js '<InitiatorConfig JSON>'`. Prints `READY`; on SIGTERM it starts no
 * more transfers, lets those in flight end, and exits 0.
 */
import fs from 'node:fs';
import { DtxClient, xidHeaders } from '@dtx/client';
import { createConsoleLogger, TransactionError } from '@dtx/core';
import { GlobalStatus } from '@dtx/protocol';
import type { BankName, InitiatorConfig, JournalLine, Outcome, Side, TransferIntent } from './bank-schema.js';
import { ACCOUNTS } from './bank-schema.js';
import { Rng } from './rng.js';

const config = JSON.parse(process.argv[2] ?? '{}') as InitiatorConfig;
const logger = createConsoleLogger('error', process.stderr, { app: 'initiator' });
const rng = new Rng(config.seed * 1000 + config.incarnation);
const journal = fs.openSync(config.journal, 'a');

function write(line: JournalLine): void {
  fs.writeSync(journal, `${JSON.stringify(line)}\n`);
}

const client = new DtxClient({
  applicationId: 'chaos-initiator',
  grouplist: config.grouplist,
  tmRequestTimeoutMs: config.tmRequestTimeoutMs,
  rmRequestTimeoutMs: config.tmRequestTimeoutMs,
  // One attempt more than the default is no help under a cut: the outcome is then unknown anyway.
  commitRetryCount: 2,
  rollbackRetryCount: 2,
  ip: '127.0.0.1',
  logger,
});
await client.start(15_000);

/** Statuses in a commit's answer that mean the TC rolled the transaction back. */
const ROLLED_BACK = new Set<number>([
  GlobalStatus.Rollbacking,
  GlobalStatus.RollbackRetrying,
  GlobalStatus.Rollbacked,
  GlobalStatus.RollbackFailed,
  GlobalStatus.TimeoutRollbacking,
  GlobalStatus.TimeoutRollbackRetrying,
  GlobalStatus.TimeoutRollbacked,
  GlobalStatus.TimeoutRollbackFailed,
  GlobalStatus.RollbackRetryTimeout,
]);

async function call(
  bank: BankName,
  side: Side,
  body: Record<string, unknown>,
  timeoutMs = config.callTimeoutMs,
): Promise<void> {
  const res = await fetch(`${config.banks[bank]}/try/${side}`, {
    method: 'POST',
    headers: { 'content-type': 'application/json', ...xidHeaders() },
    body: JSON.stringify(body),
    signal: AbortSignal.timeout(timeoutMs),
  });
  const answer = (await res.json()) as { ok: boolean; error?: string };
  if (!answer.ok) throw new Error(`bank ${bank} ${side}: ${answer.error ?? res.status}`);
}

let seq = 0;

async function transfer(): Promise<Outcome> {
  const from: BankName = rng.next() < 0.5 ? 'a' : 'b';
  const to: BankName = from === 'a' ? 'b' : 'a';
  const failing = rng.next() < config.failRate;
  const intent: TransferIntent = {
    kind: 'intent',
    id: `t${config.incarnation}-${++seq}`,
    from,
    to,
    fromAccount: 1 + rng.int(ACCOUNTS),
    toAccount: 1 + rng.int(ACCOUNTS),
    amount: 1 + rng.int(500),
    fail: failing ? (rng.next() < 0.5 ? 'debit' : 'credit') : null,
    impatientMs: rng.next() < config.impatientRate ? 1 + rng.int(40) : null,
    at: Date.now(),
  };
  write(intent);
  let xid: string | null = null;
  let commitSent = false;
  const started = Date.now();
  let outcome: Outcome;
  let error: string | null = null;
  try {
    await client.globalTransaction(
      async () => {
        await call(from, 'debit', {
          transferId: intent.id,
          account: intent.fromAccount,
          amount: intent.amount,
          fail: intent.fail === 'debit',
        });
        await call(
          to,
          'credit',
          {
            transferId: intent.id,
            account: intent.toAccount,
            amount: intent.amount,
            fail: intent.fail === 'credit',
          },
          intent.impatientMs ?? config.callTimeoutMs,
        );
      },
      {
        name: 'chaos-transfer',
        timeout: config.txTimeoutMs,
        hooks: {
          afterBegin: (x) => {
            xid = x;
          },
          beforeCommit: () => {
            commitSent = true;
          },
        },
      },
    );
    outcome = 'committed';
  } catch (err) {
    error = (err as Error).message;
    // Before the commit request nothing can have committed; after it, only an answer that the
    // TC rolled back is definite (a lost answer, or "Finished" on a retry, may hide a commit).
    const status = err instanceof TransactionError ? err.globalStatus : undefined;
    outcome = !commitSent || (status !== undefined && ROLLED_BACK.has(status)) ? 'failed' : 'unknown';
  }
  write({ kind: 'outcome', id: intent.id, xid, outcome, error, ms: Date.now() - started, at: Date.now() });
  return outcome;
}

// ---- the steady rate

let inFlight = 0;
let stopping = false;
const idle: Array<() => void> = [];
const interval = 1000 / config.rate;
let next = Date.now();

function tick(): void {
  if (stopping) return;
  const now = Date.now();
  // Catch up at most a second's worth after a stall (a hang of this process's peers).
  if (next < now - 1000) next = now - 1000;
  while (next <= now) {
    next += interval;
    if (inFlight >= config.concurrency) continue; // at capacity: this slot is skipped, not queued
    inFlight++;
    void transfer()
      .catch((err) => logger.error({ err }, 'transfer crashed'))
      .finally(() => {
        inFlight--;
        if (inFlight === 0) for (const w of idle.splice(0)) w();
      });
  }
  setTimeout(tick, Math.max(1, next - Date.now()));
}

process.once('SIGTERM', () => {
  stopping = true;
  const done = inFlight === 0 ? Promise.resolve() : new Promise<void>((resolve) => idle.push(resolve));
  void done
    .then(() => client.close())
    .finally(() => {
      fs.closeSync(journal);
      process.exit(0);
    });
});
process.stdout.write('READY\n');
tick();
