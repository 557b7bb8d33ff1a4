/**
 * What the chaos run's pieces agree on: the two banks, the database each one lives in, their
 * tables, their TCC action names, and the journal the initiator writes. No I/O here.
 */

/** The two participant services. Bank `a` keeps its accounts in PostgreSQL, bank `b` in MariaDB. */
export type BankName = 'a' | 'b';
export const BANKS: readonly BankName[] = ['a', 'b'];

/** The database dialect of each bank. */
export const BANK_DIALECT: Readonly<Record<BankName, 'postgres' | 'mysql'>> = { a: 'postgres', b: 'mysql' };

/** Where a bank's database is. */
export interface DbParams {
  host: string;
  port: number;
  user: string;
  password: string;
  database: string;
}

/** The side of a transfer a bank plays: debit (money leaves) or credit (money arrives). */
export type Side = 'debit' | 'credit';

/**
 * The TCC action (and branch resourceId) of `side` at `bank`. Names differ per bank, as they do
 * between real services: the TC's phase-two fallback may pick any application holding a
 * resource, so two banks must never share one.
 */
export function actionName(bank: BankName, side: Side): string {
  return `chaos-${bank}-${side}`;
}

/** The applicationId a bank service registers with (the same after every restart). */
export function bankApplicationId(bank: BankName): string {
  return `chaos-bank-${bank}`;
}

/** Accounts per bank and the balance each starts with. */
export const ACCOUNTS = 20;
export const START_BALANCE = 100_000;

/**
 * A bank's tables. `accounts`: balance (spendable), frozen (debited by a try, not yet
 * confirmed), incoming (credited by a try, not yet confirmed). `ledger`: one row per try, by
 * branch, with the state its phase two left it in.
 */
export function bankTables(dialect: 'postgres' | 'mysql'): string[] {
  const engine = dialect === 'mysql' ? ' ENGINE = InnoDB' : '';
  return [
    `CREATE TABLE IF NOT EXISTS accounts (
  id INT NOT NULL PRIMARY KEY,
  balance BIGINT NOT NULL,
  frozen BIGINT NOT NULL,
  incoming BIGINT NOT NULL
)${engine}`,
    `CREATE TABLE IF NOT EXISTS ledger (
  xid VARCHAR(128) NOT NULL,
  branch_id BIGINT NOT NULL,
  transfer_id VARCHAR(64) NOT NULL,
  side VARCHAR(8) NOT NULL,
  account INT NOT NULL,
  amount BIGINT NOT NULL,
  state VARCHAR(16) NOT NULL,
  PRIMARY KEY (xid, branch_id)
)${engine}`,
  ];
}

/** One line of the initiator's journal, written before a transfer starts. */
export interface TransferIntent {
  kind: 'intent';
  id: string;
  from: BankName;
  to: BankName;
  fromAccount: number;
  toAccount: number;
  amount: number;
  /** The side whose try fails on purpose, if any. */
  fail: Side | null;
  /** The credit call's timeout when the initiator is impatient (ms), else null. */
  impatientMs: number | null;
  at: number;
}

/**
 * What the initiator learnt: `committed`; `failed` (certainly not committed: the failure came
 * before the commit request, or the TC answered that it rolled back); `unknown` (the commit was
 * sent and no definite answer came back).
 */
export type Outcome = 'committed' | 'failed' | 'unknown';

/** One line of the journal, written when a transfer ends. */
export interface TransferOutcome {
  kind: 'outcome';
  id: string;
  xid: string | null;
  outcome: Outcome;
  error: string | null;
  ms: number;
  at: number;
}

/** A journal line. */
export type JournalLine = TransferIntent | TransferOutcome;

/** The settings a bank service process is started with (its one argument, as JSON). */
export interface BankServiceConfig {
  bank: BankName;
  db: DbParams;
  /** TC addresses (the fault proxies in front of the TCs). */
  grouplist: string[];
  httpPort: number;
  /** transport.rpcRmRequestTimeout of the service's client. */
  rmRequestTimeoutMs: number;
}

/** The settings the initiator process is started with (its one argument, as JSON). */
export interface InitiatorConfig {
  grouplist: string[];
  /** Base URL of each bank service. */
  banks: Record<BankName, string>;
  journal: string;
  /** Transfers started per second. */
  rate: number;
  /** Transfers in flight at most. */
  concurrency: number;
  /** Global transaction timeout. */
  txTimeoutMs: number;
  /** Timeout of one call to a bank service. */
  callTimeoutMs: number;
  tmRequestTimeoutMs: number;
  /** Share of transfers that fail on purpose in one try. */
  failRate: number;
  /**
   * Share of transfers whose initiator gives up on the credit call after a few milliseconds and
   * rolls back while the credit service is registering its branch and running its try.
   */
  impatientRate: number;
  seed: number;
  /** Distinguishes this incarnation's transfer ids from the ones before a restart. */
  incarnation: number;
}
