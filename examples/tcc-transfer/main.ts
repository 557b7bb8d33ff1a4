/**
 * The TCC demo (seadt's loan scenario). This process is the loan service, the initiator: it
 * grants a loan by freezing quota in the quota service and a voucher in the voucher service,
 * two separate processes with their own PostgreSQL schemas, coordinated by a `dtx server` TC.
 * The loan row in its own schema is bound to the global transaction (`local:`), so it is
 * written only if the loan is granted.
 *
 *   L-1  3000 with voucher V-100: both tries succeed; the global transaction commits.
 *   L-2  2000 with voucher V-100 again: the voucher try fails (the voucher is used), the global
 *        transaction rolls back, and the quota frozen for L-2 is released.
 *
 * It prints every table and fence row, and exits 0 only if both databases ended as they should.
 * Everything it creates (schemas, processes, the TC's store directory) is removed at the end,
 * also on failure. Run with `npm run demo` (PGHOST, PGPORT, PGUSER, PGPASSWORD, PGDATABASE).
 */
import { randomBytes } from 'node:crypto';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import {
  clientOptionsFromConfig,
  DtxClient,
  FenceStatus,
  getXid,
  installFetchPropagation,
  pgLocalTransaction,
} from '@dtx/client';
import pg from 'pg';
import { freePort, startProcess, stopAll } from './processes.ts';

const here = path.dirname(fileURLToPath(import.meta.url));
const CLI = fileURLToPath(new URL('../../packages/cli/dist/main.js', import.meta.url));

const PG = {
  host: process.env.PGHOST ?? '127.0.0.1',
  port: Number(process.env.PGPORT ?? 5432),
  user: process.env.PGUSER ?? 'postgres',
  password: process.env.PGPASSWORD ?? '',
  database: process.env.PGDATABASE ?? 'test',
};

const suffix = randomBytes(3).toString('hex');
const SCHEMA = {
  loan: `dtx_demo_loan_${suffix}`,
  quota: `dtx_demo_quota_${suffix}`,
  voucher: `dtx_demo_voucher_${suffix}`,
};

interface Loan {
  loanId: string;
  customerId: string;
  amount: number;
  voucherId: string;
}

// ---------------------------------------------------------------------------------------------
// clean-up, run last-in first-out whatever happens

const cleanups: Array<() => Promise<unknown>> = [];
let cleaning: Promise<void> | null = null;
/** Runs every clean-up step once, even when a signal and the normal end both ask for it. */
function cleanUp(): Promise<void> {
  cleaning ??= (async () => {
    for (let step = cleanups.pop(); step; step = cleanups.pop()) {
      await step().catch((err: Error) => console.error(`clean-up: ${err.message}`));
    }
  })();
  return cleaning;
}
let interrupted = false;
for (const signal of ['SIGINT', 'SIGTERM'] as const) {
  process.once(signal, () => {
    interrupted = true;
    console.error(`\n${signal}: cleaning up`);
    void cleanUp().then(() => process.exit(130));
  });
}

// ---------------------------------------------------------------------------------------------
// the demo

async function main(): Promise<boolean> {
  // Three schemas: one per service.
  const admin = new pg.Pool({ ...PG, max: 2, connectionTimeoutMillis: 5000 });
  cleanups.push(() => admin.end());
  try {
    await admin.query('SELECT 1');
  } catch (err) {
    throw new Error(
      `PostgreSQL is not reachable at ${PG.user}@${PG.host}:${PG.port}/${PG.database} (${(err as Error).message}); set PGHOST, PGPORT, PGUSER, PGPASSWORD, PGDATABASE`,
    );
  }
  for (const schema of Object.values(SCHEMA)) {
    await admin.query(`CREATE SCHEMA ${schema}`);
    cleanups.push(() => admin.query(`DROP SCHEMA IF EXISTS ${schema} CASCADE`));
  }

  // The TC, with the file store in a temp directory.
  const storeDir = fs.mkdtempSync(path.join(os.tmpdir(), 'dtx-demo-tc-'));
  cleanups.push(async () => fs.rmSync(storeDir, { recursive: true, force: true }));
  cleanups.push(stopAll);
  const tcAddress = `127.0.0.1:${await freePort()}`;
  const [, tcPort] = tcAddress.split(':') as [string, string];
  await startProcess(
    'tc',
    [
      CLI,
      'server',
      '--host',
      '127.0.0.1',
      '--port',
      tcPort,
      '--no-metrics',
      '--store-dir',
      storeDir,
      '--log-level',
      'warn',
    ],
    {},
    /listening/,
  );
  console.log(`TC (dtx server) listening on ${tcAddress}`);

  // The two participants, each configured the Seata way through DTX_* variables.
  const service = (name: string, applicationId: string, schema: string) =>
    startProcess(
      name,
      ['--import', 'tsx', path.join(here, `${name}-service.ts`)],
      {
        DTX_APPLICATIONID: applicationId,
        DTX_SERVICE_DEFAULT_GROUPLIST: tcAddress,
        DEMO_SCHEMA: schema,
        PGHOST: PG.host,
        PGPORT: String(PG.port),
        PGUSER: PG.user,
        PGPASSWORD: PG.password,
        PGDATABASE: PG.database,
      },
      /^READY (\S+)/,
    ).then((match) => match[1] as string);
  const [quotaUrl, voucherUrl] = await Promise.all([
    service('quota', 'quota-service', SCHEMA.quota),
    service('voucher', 'voucher-service', SCHEMA.voucher),
  ]);
  console.log(`quota service at ${quotaUrl}, voucher service at ${voucherUrl}`);

  // Demo data: customer C-1 has 10000 of quota and one voucher.
  await admin.query(`INSERT INTO ${SCHEMA.quota}.quota VALUES ('C-1', 10000, 0, 0)`);
  await admin.query(`INSERT INTO ${SCHEMA.voucher}.voucher VALUES ('V-100', 'C-1', 'available', NULL)`);
  await admin.query(`CREATE TABLE ${SCHEMA.loan}.loan (
    loan_id VARCHAR(32) PRIMARY KEY, customer_id VARCHAR(32) NOT NULL, amount INT NOT NULL,
    voucher_id VARCHAR(32) NOT NULL, xid VARCHAR(128) NOT NULL)`);

  // The initiator: a DtxClient, a pool for its own loan table, and fetch carrying TX_XID.
  const loanDb = new pg.Pool({ ...PG, options: `-c search_path=${SCHEMA.loan}` });
  cleanups.push(() => loanDb.end());
  const client = new DtxClient(
    clientOptionsFromConfig({
      env: { DTX_APPLICATIONID: 'loan-service', DTX_SERVICE_DEFAULT_GROUPLIST: tcAddress },
    }),
  );
  cleanups.push(() => client.close());
  await client.start();
  const undoFetch = installFetchPropagation();
  cleanups.push(async () => undoFetch());

  const xids: Record<string, string> = {};

  /** POSTs JSON to a participant; TX_XID is added by installFetchPropagation. */
  async function call(url: string, body: unknown): Promise<void> {
    const res = await fetch(url, {
      method: 'POST',
      headers: { 'content-type': 'application/json' },
      body: JSON.stringify(body),
    });
    if (!res.ok)
      throw new Error(`${new URL(url).pathname}: ${((await res.json()) as { error: string }).error}`);
  }

  /** Grants a loan: one global transaction over the loan row, the quota and the voucher. */
  async function grantLoan(loan: Loan): Promise<'committed' | 'rolled back'> {
    console.log(
      `\nloan ${loan.loanId}: ${loan.amount} for ${loan.customerId} with voucher ${loan.voucherId}`,
    );
    try {
      await client.globalTransaction(
        async (db: pg.PoolClient) => {
          const xid = getXid() as string;
          xids[loan.loanId] = xid;
          await db.query('INSERT INTO loan VALUES ($1, $2, $3, $4, $5)', [
            loan.loanId,
            loan.customerId,
            loan.amount,
            loan.voucherId,
            xid,
          ]);
          await call(`${quotaUrl}/quota/freeze`, loan);
          await call(`${voucherUrl}/voucher/freeze`, loan);
        },
        { name: 'grant-loan', timeout: 30_000, local: pgLocalTransaction(loanDb) },
      );
      console.log(`loan ${loan.loanId}: COMMITTED (xid ${xids[loan.loanId]})`);
      return 'committed';
    } catch (err) {
      console.log(`loan ${loan.loanId}: ROLLED BACK (${(err as Error).message})`);
      return 'rolled back';
    }
  }

  const outcomes = {
    'L-1': await grantLoan({ loanId: 'L-1', customerId: 'C-1', amount: 3000, voucherId: 'V-100' }),
    'L-2': await grantLoan({ loanId: 'L-2', customerId: 'C-1', amount: 2000, voucherId: 'V-100' }),
  };

  // Phase two has finished when the TC answered; allow a moment for a retried branch anyway.
  const deadline = Date.now() + 10_000;
  let state = await readState(admin, xids);
  while (!checks(outcomes, state).every((c) => c.ok) && Date.now() < deadline) {
    await new Promise((r) => setTimeout(r, 200));
    state = await readState(admin, xids);
  }
  printState(state);
  console.log('\nchecks');
  const results = checks(outcomes, state);
  for (const c of results) console.log(`  ${c.ok ? 'ok  ' : 'FAIL'} ${c.what}`);
  return results.every((c) => c.ok);
}

// ---------------------------------------------------------------------------------------------
// what the databases hold

const STATUS_NAME: Record<number, string> = Object.fromEntries(
  Object.entries(FenceStatus).map(([name, code]) => [code, name]),
);

interface FenceRow {
  loan: string;
  action: string;
  branchId: string;
  status: string;
}

async function readState(db: pg.Pool, xids: Record<string, string>) {
  const loanOf = (xid: string) => Object.keys(xids).find((loan) => xids[loan] === xid) ?? xid;
  const fence = async (schema: string): Promise<FenceRow[]> =>
    (
      await db.query(
        `SELECT xid, branch_id, action_name, status FROM ${schema}.tcc_fence_log ORDER BY gmt_create, branch_id`,
      )
    ).rows.map((r) => ({
      loan: loanOf(r.xid),
      action: r.action_name,
      branchId: String(r.branch_id),
      status: STATUS_NAME[r.status] ?? String(r.status),
    }));
  return {
    quota: (await db.query(`SELECT * FROM ${SCHEMA.quota}.quota ORDER BY customer_id`)).rows,
    quotaFence: await fence(SCHEMA.quota),
    voucher: (await db.query(`SELECT * FROM ${SCHEMA.voucher}.voucher ORDER BY voucher_id`)).rows,
    voucherFence: await fence(SCHEMA.voucher),
    loans: (await db.query(`SELECT * FROM ${SCHEMA.loan}.loan ORDER BY loan_id`)).rows,
  };
}
type State = Awaited<ReturnType<typeof readState>>;

function printState(s: State): void {
  const fenceLines = (rows: FenceRow[]) =>
    rows.map(
      (r) => `    ${r.loan.padEnd(5)} ${r.action.padEnd(24)} branch ${r.branchId.padEnd(20)} ${r.status}`,
    );
  console.log(`\nquota-service   (schema ${SCHEMA.quota})`);
  for (const q of s.quota)
    console.log(`  quota ${q.customer_id}: available ${q.available}, frozen ${q.frozen}, used ${q.used}`);
  console.log('  tcc_fence_log:');
  for (const line of fenceLines(s.quotaFence)) console.log(line);
  console.log(`voucher-service (schema ${SCHEMA.voucher})`);
  for (const v of s.voucher)
    console.log(
      `  voucher ${v.voucher_id} of ${v.customer_id}: ${v.state}${v.loan_id ? ` (loan ${v.loan_id})` : ''}`,
    );
  console.log('  tcc_fence_log:');
  for (const line of fenceLines(s.voucherFence)) console.log(line);
  console.log(`loan-service    (schema ${SCHEMA.loan})`);
  for (const l of s.loans)
    console.log(`  loan ${l.loan_id}: ${l.amount} for ${l.customer_id}, voucher ${l.voucher_id}`);
  if (s.loans.length === 0) console.log('  no loans');
}

function checks(outcomes: Record<string, string>, s: State): Array<{ what: string; ok: boolean }> {
  const fenceOf = (rows: FenceRow[], loan: string) =>
    rows
      .filter((r) => r.loan === loan)
      .map((r) => r.status)
      .join(',');
  const [quota] = s.quota;
  const [voucher] = s.voucher;
  return [
    {
      what: 'L-1 committed, L-2 rolled back',
      ok: outcomes['L-1'] === 'committed' && outcomes['L-2'] === 'rolled back',
    },
    {
      what: 'quota C-1: 3000 used by L-1, nothing left frozen by L-2 (available 7000, frozen 0, used 3000)',
      ok: quota?.available === 7000 && quota?.frozen === 0 && quota?.used === 3000,
    },
    {
      what: 'voucher V-100: used by L-1',
      ok: voucher?.state === 'used' && voucher?.loan_id === 'L-1',
    },
    {
      what: 'loan table: only L-1 (the L-2 row rolled back with its global transaction)',
      ok: s.loans.map((l) => l.loan_id).join() === 'L-1',
    },
    {
      what: 'quota fence: L-1 COMMITTED, L-2 ROLLBACKED (its cancel ran)',
      ok: fenceOf(s.quotaFence, 'L-1') === 'COMMITTED' && fenceOf(s.quotaFence, 'L-2') === 'ROLLBACKED',
    },
    {
      what: 'voucher fence: L-1 COMMITTED, L-2 SUSPENDED (its try failed: an empty rollback, no cancel ran)',
      ok: fenceOf(s.voucherFence, 'L-1') === 'COMMITTED' && fenceOf(s.voucherFence, 'L-2') === 'SUSPENDED',
    },
  ];
}

// ---------------------------------------------------------------------------------------------

let ok = false;
try {
  ok = await main();
  console.log(ok ? '\ndemo OK: both loans ended as they should' : '\ndemo FAILED: see the checks above');
} catch (err) {
  if (!interrupted) console.error(`\ndemo FAILED: ${(err as Error).stack ?? err}`);
} finally {
  await cleanUp();
}
process.exit(interrupted ? 130 : ok ? 0 : 1);
