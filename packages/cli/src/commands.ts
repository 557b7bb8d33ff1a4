/**
 * The `dtx` command: `dtx server` runs the TC; `dtx server schema` prints or applies Seata's
 * store DDL; `dtx tx list|show|retry|rollback` operate on a running TC through its HTTP port.
 */
import { readFileSync } from 'node:fs';
import { ConfigError, ConfigSource, DtxError } from '@dtx/core';
import { SERVER_CONFIG_KEYS, TcServer, tcServerOptionsFromConfig } from '@dtx/server';
import { Command, Option } from 'commander';
import pino from 'pino';
import { createStoreFromSettings, schemaFor } from './store-factory.js';

/** Where a command writes; injectable so tests can capture output. */
export interface Io {
  out(text: string): void;
  err(text: string): void;
  env: Record<string, string | undefined>;
  /** Called with the running server so the caller can stop it (signals, tests). */
  onServer?(server: TcServer): void;
}

/** Flags that map onto configuration keys (flags win over the environment, which wins over the file). */
const FLAG_KEYS: Record<string, string> = {
  port: 'server.servicePort',
  host: 'server.host',
  advertisedHost: 'server.advertisedHost',
  store: 'store.mode',
  storeDir: 'store.file.dir',
  dbType: 'store.db.dbType',
  dbUrl: 'store.db.url',
  dbUser: 'store.db.user',
  dbPassword: 'store.db.password',
  redisUrl: 'store.redis.url',
  metricsPort: 'metrics.exporterPrometheusPort',
  workerId: 'server.workerId',
  logLevel: 'log.level',
};

/** Merges file, environment and flags into one ConfigSource. */
export function loadConfig(
  opts: Record<string, unknown>,
  env: Record<string, string | undefined>,
): ConfigSource {
  const base = new ConfigSource({
    ...(typeof opts.config === 'string' ? { file: opts.config } : {}),
    env: env as Record<string, string>,
    knownKeys: SERVER_CONFIG_KEYS,
  });
  const merged: Record<string, unknown> = {};
  for (const key of base.keys()) merged[key] = base.getString(key);
  for (const [flag, key] of Object.entries(FLAG_KEYS)) {
    if (opts[flag] !== undefined) merged[key] = String(opts[flag]);
  }
  if (opts.metrics === false) merged['metrics.enabled'] = 'false';
  return new ConfigSource({ object: merged, knownKeys: SERVER_CONFIG_KEYS });
}

async function runServer(opts: Record<string, unknown>, io: Io): Promise<void> {
  const config = loadConfig(opts, io.env);
  const { options, store: storeSettings, logLevel } = tcServerOptionsFromConfig(config);
  const logger = pino({ level: logLevel, base: { app: 'dtx-tc' } });
  const store = await createStoreFromSettings(storeSettings);
  const server = new TcServer({
    ...options,
    ...(store ? { store: store.store, locks: store.locks } : {}),
    logger,
  });
  const address = await server.start();
  io.out(
    `dtx TC listening on ${address.host}:${address.port} (store ${server.store.kind}${address.metricsPort !== null ? `, metrics on :${address.metricsPort}` : ''})`,
  );
  io.onServer?.(server);
}

async function adminRequest(base: string, method: 'GET' | 'POST', path: string): Promise<unknown> {
  let res: Response;
  try {
    res = await fetch(`${base.replace(/\/$/, '')}${path}`, { method });
  } catch (err) {
    throw new DtxError(
      'NOT_CONNECTED',
      `cannot reach the TC's HTTP port at ${base}: ${(err as Error).message}`,
    );
  }
  const body = (await res.json()) as { error?: string };
  if (!res.ok)
    throw new DtxError(
      res.status === 404 ? 'GlobalTransactionNotExist' : 'GlobalTransactionStatusInvalid',
      body.error ?? `HTTP ${res.status}`,
    );
  return body;
}

/** Builds the command tree. */
export function buildProgram(io: Io): Command {
  const program = new Command('dtx').description(
    'distributed transactions for Node.js, wire-compatible with Apache Seata',
  );
  program.exitOverride();
  program.configureOutput({ writeOut: (s) => io.out(s.trimEnd()), writeErr: (s) => io.err(s.trimEnd()) });

  const server = program
    .command('server')
    .description('run the transaction coordinator (TC) on port 8091 with the file store in ./sessionStore')
    .option('-p, --port <port>', 'TC port (server.servicePort)')
    .option('-h, --host <host>', 'bind address (server.host)')
    .option('--advertised-host <host>', 'address written into XIDs (server.advertisedHost)')
    .option('-c, --config <file>', 'YAML configuration with Seata key names')
    .addOption(new Option('--store <mode>', 'session store (store.mode)').choices(['file', 'db', 'redis']))
    .option('--store-dir <dir>', 'file store directory (store.file.dir)')
    .option('--db-type <type>', 'mysql or postgresql (store.db.dbType)')
    .option('--db-url <url>', 'database URL (store.db.url)')
    .option('--db-user <user>', 'database user (store.db.user)')
    .option('--db-password <password>', 'database password (store.db.password)')
    .option('--redis-url <url>', 'Redis URL (store.redis.url)')
    .option('--metrics-port <port>', 'HTTP port for /metrics, /health and /transactions')
    .option('--no-metrics', 'no HTTP port')
    .option('--worker-id <n>', 'IdWorker worker id, 0..1023 (server.workerId)')
    .option('--log-level <level>', 'trace, debug, info, warn, error')
    .action(async (opts: Record<string, unknown>) => runServer(opts, io));

  server
    .command('schema')
    .description(
      "print (or apply) Seata's store tables: global_table, branch_table, lock_table, distributed_lock",
    )
    .addOption(new Option('--db <type>', 'database').choices(['mysql', 'postgres']).makeOptionMandatory())
    .option('--apply', 'create the tables instead of printing the DDL')
    .option('--db-url <url>', 'database URL for --apply')
    .option('-c, --config <file>', 'YAML configuration (store.db.url, table names)')
    .action(async (_opts: unknown, cmd: Command) => {
      // `server` has --db-url and --config too; commander may hand them to the parent.
      const opts = cmd.optsWithGlobals() as {
        db: 'mysql' | 'postgres';
        apply?: boolean;
        dbUrl?: string;
        config?: string;
      };
      const config = loadConfig(
        { config: opts.config, dbUrl: opts.dbUrl, dbType: opts.db, store: 'db' },
        io.env,
      );
      const url = config.getString('store.db.url');
      if (opts.apply && !url) throw new ConfigError('store.db.url', '--apply needs --db-url or store.db.url');
      const result = await schemaFor(opts.db, opts.apply ? (url as string) : null, config);
      io.out(result);
    });

  const tx = program
    .command('tx')
    .description('inspect or force transactions on a running TC (through its HTTP port)');
  const admin = (cmd: Command) => cmd.option('--admin <url>', 'the TC HTTP port', 'http://127.0.0.1:9898');
  admin(tx.command('list').description('list stored global transactions'))
    .option('--status <names>', 'comma-separated GlobalStatus names, e.g. CommitRetrying,RollbackFailed')
    .option('--limit <n>', 'at most this many', '100')
    .action(async (opts: { admin: string; status?: string; limit: string }) => {
      const q = new URLSearchParams({ limit: opts.limit, ...(opts.status ? { status: opts.status } : {}) });
      const list = (await adminRequest(opts.admin, 'GET', `/transactions?${q}`)) as Array<
        Record<string, unknown>
      >;
      if (list.length === 0) io.out('no transactions');
      for (const g of list) {
        io.out(
          `${g.xid}  ${String(g.status).padEnd(24)} ${g.beginTime}  ${g.transactionName ?? ''}  branches=${(g.branches as unknown[]).length}`,
        );
      }
    });
  admin(tx.command('show <xid>').description('one transaction with its branches, as JSON')).action(
    async (xid: string, opts: { admin: string }) => {
      io.out(
        JSON.stringify(
          await adminRequest(opts.admin, 'GET', `/transactions/${encodeURIComponent(xid)}`),
          null,
          2,
        ),
      );
    },
  );
  admin(
    tx.command('retry <xid>').description('force another phase-two attempt of a stuck or failed transaction'),
  ).action(async (xid: string, opts: { admin: string }) => {
    const r = (await adminRequest(opts.admin, 'POST', `/transactions/${encodeURIComponent(xid)}/retry`)) as {
      status: string;
    };
    io.out(`${xid}: ${r.status}`);
  });
  admin(
    tx
      .command('rollback <xid>')
      .description('force a rollback of a transaction still in Begin or whose rollback failed'),
  ).action(async (xid: string, opts: { admin: string }) => {
    const r = (await adminRequest(
      opts.admin,
      'POST',
      `/transactions/${encodeURIComponent(xid)}/rollback`,
    )) as { status: string };
    io.out(`${xid}: ${r.status}`);
  });
  program.addHelpText(
    'after',
    `\nVersion ${JSON.parse(readFileSync(new URL('../package.json', import.meta.url), 'utf8')).version}`,
  );
  return program;
}
