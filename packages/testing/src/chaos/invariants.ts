/**
 * What must hold once the faults stop and the TCs have had a bounded quiet period to recover:
 *
 * - the money across both databases is exactly the starting total, and every account's balance
 *   is its start plus its confirmed credits minus its confirmed debits;
 * - nothing is frozen or incoming, every fence row is final (2, 3 or 4), no ledger row is
 *   still `tried`;
 * - no TC holds an unfinished global transaction;
 * - the journal agrees with the ledgers: a transfer the initiator saw committed is confirmed on
 *   both sides, one it saw fail is confirmed on neither, one whose outcome it never learnt is
 *   confirmed on both or on neither; no side ran twice, no ledger row belongs to no transfer;
 * - the banks printed no ANOMALY.
 */
import fs from 'node:fs';
import { setTimeout as sleep } from 'node:timers/promises';
import {
  ACCOUNTS,
  BANK_DIALECT,
  BANKS,
  type BankName,
  type DbParams,
  type JournalLine,
  type Outcome,
  START_BALANCE,
  type TransferIntent,
} from './bank-schema.js';
import type { ChaosCluster } from './cluster.js';
import { type Db, openDb } from './databases.js';

/** The state the quiet period waits for, and the first things the checks look at. */
interface Snapshot {
  /** Unfinished transactions each live TC reports (null when it did not answer). */
  tcOpen: Array<number | null>;
  /** A few of them, for the report. */
  tcSample: string[];
  frozen: number;
  incoming: number;
  fenceTried: number;
  ledgerTried: number;
}

/** The figures the checks produce. */
export interface CheckResult {
  violations: string[];
  quiesceMs: number | null;
  attempted: number;
  committed: number;
  failed: number;
  /** Ambiguous commit answers, and intents without an outcome (a killed initiator). */
  unknown: number;
  noOutcome: number;
  unknownApplied: number;
  unknownNotApplied: number;
  totalMoney: number;
  expectedMoney: number;
  fenceRows: Record<string, number>;
}

/** Opens one small pool per bank. */
export function openBankDbs(params: Record<BankName, DbParams>): Record<BankName, Db> {
  return { a: openDb(BANK_DIALECT.a, params.a, 2), b: openDb(BANK_DIALECT.b, params.b, 2) };
}

async function tcOpenTransactions(metricsPort: number): Promise<{ count: number; sample: string[] } | null> {
  try {
    const res = await fetch(`http://127.0.0.1:${metricsPort}/transactions?limit=1000`, {
      signal: AbortSignal.timeout(3000),
    });
    if (!res.ok) return null;
    const list = (await res.json()) as Array<{ xid: string; status: string; applicationId: string }>;
    return {
      count: list.length,
      sample: list.slice(0, 5).map((g) => `${g.xid} ${g.status} (${g.applicationId})`),
    };
  } catch {
    return null;
  }
}

async function snapshot(cluster: ChaosCluster, dbs: Record<BankName, Db>): Promise<Snapshot> {
  const s: Snapshot = { tcOpen: [], tcSample: [], frozen: 0, incoming: 0, fenceTried: 0, ledgerTried: 0 };
  for (const tc of cluster.tcs) {
    const r = await tcOpenTransactions(tc.metricsPort);
    s.tcOpen.push(r ? r.count : null);
    if (r) s.tcSample.push(...r.sample);
  }
  for (const bank of BANKS) {
    const db = dbs[bank];
    const [acc] = await db.query('SELECT SUM(frozen) AS f, SUM(incoming) AS i FROM accounts');
    s.frozen += Number(acc?.f ?? 0);
    s.incoming += Number(acc?.i ?? 0);
    const [fence] = await db.query('SELECT COUNT(*) AS n FROM tcc_fence_log WHERE status = 1');
    s.fenceTried += Number(fence?.n ?? 0);
    const [ledger] = await db.query("SELECT COUNT(*) AS n FROM ledger WHERE state = 'tried'");
    s.ledgerTried += Number(ledger?.n ?? 0);
  }
  return s;
}

function quiet(s: Snapshot): boolean {
  return (
    s.tcOpen.every((n) => n === 0) &&
    s.frozen === 0 &&
    s.incoming === 0 &&
    s.fenceTried === 0 &&
    s.ledgerTried === 0
  );
}

/** Polls until everything has settled or `timeoutMs` passes; returns how long it took, or null. */
export async function waitForQuiet(
  cluster: ChaosCluster,
  dbs: Record<BankName, Db>,
  timeoutMs: number,
  log: (line: string) => void,
): Promise<number | null> {
  const started = Date.now();
  let lastLog = 0;
  for (;;) {
    const s = await snapshot(cluster, dbs).catch((err) => {
      log(`quiet check failed: ${(err as Error).message}`);
      return null;
    });
    if (s && quiet(s)) return Date.now() - started;
    if (Date.now() - started > timeoutMs) return null;
    if (s && Date.now() - lastLog > 5000) {
      lastLog = Date.now();
      log(
        `waiting for quiet: TC open ${s.tcOpen.join('/')}, frozen ${s.frozen}, incoming ${s.incoming}, fence tried ${s.fenceTried}, ledger tried ${s.ledgerTried}`,
      );
    }
    await sleep(250);
  }
}

/** Reads the journal: intents by id, outcomes by id. */
export function readJournal(file: string): {
  intents: Map<string, TransferIntent>;
  outcomes: Map<string, Outcome>;
} {
  const intents = new Map<string, TransferIntent>();
  const outcomes = new Map<string, Outcome>();
  const text = fs.existsSync(file) ? fs.readFileSync(file, 'utf8') : '';
  for (const line of text.split('\n')) {
    if (!line.trim()) continue;
    let rec: JournalLine;
    try {
      rec = JSON.parse(line) as JournalLine;
    } catch {
      continue; // a line cut by the SIGKILL of the initiator
    }
    if (rec.kind === 'intent') intents.set(rec.id, rec);
    else outcomes.set(rec.id, rec.outcome);
  }
  return { intents, outcomes };
}

interface LedgerRow {
  bank: BankName;
  transferId: string;
  side: string;
  account: number;
  amount: number;
  state: string;
}

/** Runs every check once the run is quiet (or the quiet period ran out). */
export async function checkInvariants(
  cluster: ChaosCluster,
  dbs: Record<BankName, Db>,
  quiesceMs: number | null,
): Promise<CheckResult> {
  const violations: string[] = [];
  const v = (text: string) => {
    if (violations.length < 200) violations.push(text);
  };
  const s = await snapshot(cluster, dbs);
  if (quiesceMs === null) v('the run did not quiesce within the quiet period');
  s.tcOpen.forEach((n, i) => {
    if (n === null) v(`tc${i} did not answer GET /transactions`);
    else if (n > 0) v(`tc${i} still holds ${n} unfinished global transactions`);
  });
  if (s.tcSample.length) v(`unfinished at the TC: ${[...new Set(s.tcSample)].join('; ')}`);
  if (s.frozen !== 0) v(`${s.frozen} left frozen`);
  if (s.incoming !== 0) v(`${s.incoming} left incoming`);
  if (s.ledgerTried !== 0) v(`${s.ledgerTried} ledger rows still tried`);
  for (const bank of BANKS) {
    for (const r of await dbs[bank].query(
      "SELECT xid, branch_id, transfer_id, side FROM ledger WHERE state = 'tried' LIMIT 10",
    ))
      v(`bank ${bank}: ${r.side} of ${r.transfer_id} still tried: ${r.xid} branch ${r.branch_id}`);
  }

  // ---- money
  let totalMoney = 0;
  const balances = new Map<string, number>();
  const fenceRows: Record<string, number> = {};
  const ledger: LedgerRow[] = [];
  for (const bank of BANKS) {
    const db = dbs[bank];
    for (const r of await db.query('SELECT id, balance, frozen, incoming FROM accounts')) {
      const balance = Number(r.balance);
      // Frozen money is still the account's until confirmed; incoming is not yet anyone's.
      totalMoney += balance + Number(r.frozen);
      balances.set(`${bank}:${r.id}`, balance);
      if (balance < 0) v(`bank ${bank} account ${r.id} is negative: ${balance}`);
    }
    for (const r of await db.query('SELECT status, COUNT(*) AS n FROM tcc_fence_log GROUP BY status')) {
      const key = `${bank}:${r.status}`;
      fenceRows[key] = Number(r.n);
      if (![2, 3, 4].includes(Number(r.status))) v(`bank ${bank}: ${r.n} fence rows in status ${r.status}`);
    }
    for (const r of await db.query('SELECT transfer_id, side, account, amount, state FROM ledger')) {
      ledger.push({
        bank,
        transferId: String(r.transfer_id),
        side: String(r.side),
        account: Number(r.account),
        amount: Number(r.amount),
        state: String(r.state),
      });
    }
  }
  const expectedMoney = BANKS.length * ACCOUNTS * START_BALANCE;
  if (totalMoney !== expectedMoney)
    v(`money is not conserved: ${totalMoney} across both databases, started with ${expectedMoney}`);

  // Every account: start + confirmed credits - confirmed debits.
  const expected = new Map<string, number>();
  for (const bank of BANKS)
    for (let id = 1; id <= ACCOUNTS; id++) expected.set(`${bank}:${id}`, START_BALANCE);
  for (const r of ledger) {
    if (r.state !== 'confirmed') continue;
    const key = `${r.bank}:${r.account}`;
    expected.set(key, (expected.get(key) ?? 0) + (r.side === 'credit' ? r.amount : -r.amount));
  }
  for (const [key, want] of expected) {
    const have = balances.get(key);
    if (have !== want) v(`account ${key}: balance ${have}, but its confirmed ledger rows say ${want}`);
  }

  // ---- journal against ledgers
  const { intents, outcomes } = readJournal(cluster.journal);
  const bySide = new Map<string, LedgerRow[]>();
  for (const r of ledger) {
    const key = `${r.transferId}:${r.side}`;
    const rows = bySide.get(key) ?? [];
    rows.push(r);
    bySide.set(key, rows);
    const intent = intents.get(r.transferId);
    if (!intent)
      v(`ledger row of bank ${r.bank} for transfer ${r.transferId}, which the journal never started`);
    else if (r.bank !== (r.side === 'debit' ? intent.from : intent.to))
      v(`transfer ${r.transferId}: ${r.side} row in bank ${r.bank}, the wrong bank`);
  }
  let committed = 0;
  let failed = 0;
  let unknown = 0;
  let noOutcome = 0;
  let unknownApplied = 0;
  let unknownNotApplied = 0;
  for (const [id, intent] of intents) {
    const debit = bySide.get(`${id}:debit`) ?? [];
    const credit = bySide.get(`${id}:credit`) ?? [];
    if (debit.length > 1) v(`transfer ${id}: ${debit.length} debit tries`);
    if (credit.length > 1) v(`transfer ${id}: ${credit.length} credit tries`);
    const dOk = debit.some((r) => r.state === 'confirmed');
    const cOk = credit.some((r) => r.state === 'confirmed');
    const outcome = outcomes.get(id);
    const what = `transfer ${id} (${intent.amount} ${intent.from}:${intent.fromAccount} -> ${intent.to}:${intent.toAccount}${intent.fail ? `, ${intent.fail} fails` : ''})`;
    if (outcome === 'committed') {
      committed++;
      if (!dOk || !cOk)
        v(
          `${what} committed, but debit ${debit[0]?.state ?? 'absent'}, credit ${credit[0]?.state ?? 'absent'}`,
        );
      if (intent.fail) v(`${what} committed although a try failed on purpose`);
    } else if (outcome === 'failed') {
      failed++;
      if (dOk || cOk)
        v(`${what} failed, but debit ${debit[0]?.state ?? 'absent'}, credit ${credit[0]?.state ?? 'absent'}`);
    } else {
      unknown++;
      if (outcome === undefined) noOutcome++;
      if (dOk !== cOk)
        v(
          `${what} outcome unknown and half applied: debit ${debit[0]?.state ?? 'absent'}, credit ${credit[0]?.state ?? 'absent'}`,
        );
      if (dOk && cOk) unknownApplied++;
      else unknownNotApplied++;
    }
  }
  for (const line of cluster.anomalies) v(line);
  if (committed === 0) v('no transfer committed: the workload made no progress');

  return {
    violations,
    quiesceMs,
    attempted: intents.size,
    committed,
    failed,
    unknown,
    noOutcome,
    unknownApplied,
    unknownNotApplied,
    totalMoney,
    expectedMoney,
    fenceRows,
  };
}
