/**
 * A participant of the chaos run: one bank in its own database (bank a in PostgreSQL, bank b
 * in MariaDB), with two fenced TCC actions, and a node:http endpoint the initiator calls with
 * the TX_XID header to run a try.
 *
 * - debit: try moves the amount from balance to frozen (refused below zero), confirm drops it
 *   from frozen, cancel puts it back.
 * - credit: try adds the amount to incoming, confirm moves it to balance, cancel drops it.
 *
 * Each phase writes its ledger row (tried, confirmed, cancelled) in the fence's transaction,
 * so the row, the fence row and the money move together. Anything that should be impossible
 * (a phase two without its ledger row, an account that went negative) is printed as an
 * `ANOMALY` line, which the orchestrator counts as a violation.
 *
 * Run as `node bank-service.js '<BankServiceConfig JSON>'`. Prints `READY <port>`.
 * POST /try/debit, /try/credit  {transferId, account, amount, fail}  (TX_XID header)
 * POST /crash  {when: 'before-reply' | 'after-reply'}: SIGKILL this process right after the
 *   next successful try, before or after answering it (a kill between try and phase two).
 */
import http from 'node:http';
import {
  DtxClient,
  defineTccAction,
  type FenceDatabase,
  mysqlFenceDatabase,
  type PhaseTwoContext,
  pgFenceDatabase,
  runWithXid,
  type TccAction,
  TccFence,
  xidFromHeaders,
} from '@dtx/client';
import { createConsoleLogger } from '@dtx/core';
import mysql from 'mysql2/promise';
import pg from 'pg';
import {
  actionName,
  BANK_DIALECT,
  type BankServiceConfig,
  bankApplicationId,
  bankTables,
  type Side,
} from './bank-schema.js';

/** The try arguments, recorded in the action context for confirm and cancel. */
interface TryArgs {
  transferId: string;
  account: number;
  amount: number;
  fail: boolean;
}

/** Runs one statement on a phase's transaction handle; returns the rows it affected. */
type Exec<Tx> = (tx: Tx, sql: string, params: unknown[]) => Promise<number>;

const config = JSON.parse(process.argv[2] ?? '{}') as BankServiceConfig;
const bank = config.bank;
const logger = createConsoleLogger('warn', process.stderr, { bank });

function anomaly(text: string): void {
  process.stderr.write(`ANOMALY bank ${bank}: ${text}\n`);
}

/** `?` placeholders to PostgreSQL's `$n`. */
function pgSql(sql: string): string {
  let n = 0;
  return sql.replace(/\?/g, () => `$${++n}`);
}

async function openDatabase(): Promise<{
  fenceDb: FenceDatabase<unknown>;
  exec: Exec<unknown>;
  close(): Promise<void>;
}> {
  const { host, port, user, password, database } = config.db;
  if (BANK_DIALECT[bank] === 'postgres') {
    const pool = new pg.Pool({ host, port, user, password, database, max: 8 });
    pool.on('error', () => {}); // an idle connection died; the pool dials a new one
    for (const ddl of bankTables('postgres')) await pool.query(ddl);
    const exec: Exec<pg.PoolClient> = async (tx, sql, params) =>
      (await tx.query(pgSql(sql), params)).rowCount ?? 0;
    return {
      fenceDb: pgFenceDatabase<pg.PoolClient>(pool) as FenceDatabase<unknown>,
      exec: exec as Exec<unknown>,
      close: () => pool.end(),
    };
  }
  const pool = mysql.createPool({ host, port, user, password, database, connectionLimit: 8 });
  for (const ddl of bankTables('mysql')) await pool.query(ddl);
  const exec: Exec<mysql.PoolConnection> = async (tx, sql, params) =>
    ((await tx.query(sql, params))[0] as mysql.ResultSetHeader).affectedRows;
  return {
    fenceDb: mysqlFenceDatabase<mysql.PoolConnection>(pool) as FenceDatabase<unknown>,
    exec: exec as Exec<unknown>,
    close: () => pool.end(),
  };
}

const { fenceDb, exec, close } = await openDatabase();
const fence = new TccFence(fenceDb, { logger, cleanIntervalMs: 0 });
await fence.ensureTable();

const client = new DtxClient({
  applicationId: bankApplicationId(bank),
  grouplist: config.grouplist,
  rmRequestTimeoutMs: config.rmRequestTimeoutMs,
  tmRequestTimeoutMs: config.rmRequestTimeoutMs,
  ip: '127.0.0.1',
  logger,
});

/** The recorded arguments of a branch, as phase two reads them back. */
function argsOf(ctx: PhaseTwoContext<unknown>): { transferId: string; account: number; amount: number } {
  const c = ctx.actionContext;
  return { transferId: String(c.transferId), account: Number(c.account), amount: Number(c.amount) };
}

/** Sets the ledger row of the branch from `tried` to `state`; an anomaly when there is none. */
async function settle(ctx: PhaseTwoContext<unknown>, state: 'confirmed' | 'cancelled'): Promise<void> {
  const n = await exec(ctx.tx, 'UPDATE ledger SET state = ? WHERE xid = ? AND branch_id = ? AND state = ?', [
    state,
    ctx.xid,
    ctx.branchId.toString(),
    'tried',
  ]);
  if (n !== 1) {
    anomaly(
      `${state} ${ctx.actionName} ${ctx.xid}/${ctx.branchId}: no tried ledger row (fence let it through)`,
    );
    throw new Error(`no tried ledger row for ${ctx.xid}/${ctx.branchId}`);
  }
}

/** Runs a statement that must change exactly one account row; anything else is an anomaly. */
async function one(tx: unknown, sql: string, args: unknown[], what: string): Promise<void> {
  if ((await exec(tx, sql, args)) !== 1) anomaly(what);
}

/** Defines the fenced TCC action of one side. */
function defineSide(side: Side): TccAction<TryArgs, string> {
  return defineTccAction<TryArgs, string, unknown>(client, {
    name: actionName(bank, side),
    fence,
    contextOf: (a) => ({ transferId: a.transferId, account: a.account, amount: a.amount }),
    async try(ctx) {
      const { transferId, account, amount, fail } = ctx.args;
      if (fail) throw new Error(`${side} of ${transferId} fails on purpose`);
      const moved =
        side === 'debit'
          ? await exec(
              ctx.tx,
              'UPDATE accounts SET balance = balance - ?, frozen = frozen + ? WHERE id = ? AND balance >= ?',
              [amount, amount, account, amount],
            )
          : await exec(ctx.tx, 'UPDATE accounts SET incoming = incoming + ? WHERE id = ?', [amount, account]);
      if (moved !== 1)
        throw new Error(
          `${side} of ${transferId} refused: ${side === 'debit' ? 'insufficient funds' : 'no account'}`,
        );
      await exec(
        ctx.tx,
        'INSERT INTO ledger (xid, branch_id, transfer_id, side, account, amount, state) VALUES (?, ?, ?, ?, ?, ?, ?)',
        [ctx.xid, String(ctx.branchId), transferId, side, account, amount, 'tried'],
      );
      return 'tried';
    },
    async confirm(ctx) {
      const { account, amount } = argsOf(ctx);
      await settle(ctx, 'confirmed');
      const what = `confirm ${ctx.actionName} ${ctx.xid}/${ctx.branchId}: account ${account} short of ${amount}`;
      if (side === 'debit')
        await one(
          ctx.tx,
          'UPDATE accounts SET frozen = frozen - ? WHERE id = ? AND frozen >= ?',
          [amount, account, amount],
          what,
        );
      else
        await one(
          ctx.tx,
          'UPDATE accounts SET incoming = incoming - ?, balance = balance + ? WHERE id = ? AND incoming >= ?',
          [amount, amount, account, amount],
          what,
        );
      return true;
    },
    async cancel(ctx) {
      const { account, amount } = argsOf(ctx);
      await settle(ctx, 'cancelled');
      const what = `cancel ${ctx.actionName} ${ctx.xid}/${ctx.branchId}: account ${account} short of ${amount}`;
      if (side === 'debit')
        await one(
          ctx.tx,
          'UPDATE accounts SET balance = balance + ?, frozen = frozen - ? WHERE id = ? AND frozen >= ?',
          [amount, amount, account, amount],
          what,
        );
      else
        await one(
          ctx.tx,
          'UPDATE accounts SET incoming = incoming - ? WHERE id = ? AND incoming >= ?',
          [amount, account, amount],
          what,
        );
      return true;
    },
  });
}

// ---- the kill between try and phase two

/** Armed by POST /crash: the next successful try takes the process down with SIGKILL. */
let crashArmed: 'before-reply' | 'after-reply' | null = null;

const actions: Record<Side, TccAction<TryArgs, string>> = {
  debit: defineSide('debit'),
  credit: defineSide('credit'),
};
await client.start(15_000);

// ---- HTTP

function readBody(req: http.IncomingMessage): Promise<string> {
  return new Promise((resolve, reject) => {
    let body = '';
    req.setEncoding('utf8');
    req.on('data', (d: string) => {
      body += d;
    });
    req.on('end', () => resolve(body));
    req.on('error', reject);
  });
}

function reply(res: http.ServerResponse, status: number, body: unknown, then?: () => void): void {
  res.writeHead(status, { 'content-type': 'application/json' });
  res.end(JSON.stringify(body), then);
}

const server = http.createServer((req, res) => {
  void (async () => {
    const body = await readBody(req);
    const side = req.url === '/try/debit' ? 'debit' : req.url === '/try/credit' ? 'credit' : null;
    if (req.method === 'POST' && side) {
      const xid = xidFromHeaders(req.headers);
      if (!xid) return reply(res, 400, { ok: false, error: 'no TX_XID header' });
      const args = JSON.parse(body) as TryArgs;
      try {
        await runWithXid(xid, () => actions[side](args));
      } catch (err) {
        return reply(res, 409, { ok: false, error: (err as Error).message });
      }
      // The try's local transaction has committed and its branch is registered: a kill now
      // leaves phase two to a later incarnation of this service.
      const crash = crashArmed;
      crashArmed = null;
      if (crash) process.stderr.write(`bank ${bank}: SIGKILL ${crash} after the try of ${xid}\n`);
      if (crash === 'before-reply') process.kill(process.pid, 'SIGKILL');
      return reply(res, 200, { ok: true }, crash ? () => process.kill(process.pid, 'SIGKILL') : undefined);
    }
    if (req.method === 'POST' && req.url === '/crash') {
      const { when } = JSON.parse(body) as { when: 'before-reply' | 'after-reply' };
      crashArmed = when;
      return reply(res, 200, { ok: true });
    }
    reply(res, 404, { ok: false, error: 'no such route' });
  })().catch((err) => {
    if (!res.headersSent) reply(res, 500, { ok: false, error: (err as Error).message });
  });
});
server.keepAliveTimeout = 30_000;
await new Promise<void>((resolve, reject) => {
  server.once('error', reject);
  server.listen(config.httpPort, '127.0.0.1', () => resolve());
});

let stopping = false;
async function stop(): Promise<void> {
  if (stopping) return;
  stopping = true;
  server.close();
  server.closeAllConnections();
  await client.close().catch(() => {});
  await close().catch(() => {});
  process.exit(0);
}
process.once('SIGTERM', () => void stop());
process.once('SIGINT', () => void stop());
process.stdout.write(`READY ${config.httpPort}\n`);
