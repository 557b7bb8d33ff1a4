/**
 * What both participant services share: a DtxClient configured from DTX_* environment variables
 * (Seata's keys), a pg pool on the service's own schema, the TCC fence on that pool, and an
 * express app that binds the incoming TX_XID header and calls the service's TCC action.
 *
 * A service passes its tables and defines its action; everything else is here.
 */
import {
  clientOptionsFromConfig,
  DtxClient,
  expressXid,
  pgFenceDatabase,
  type TccAction,
  TccFence,
} from '@dtx/client';
import express from 'express';
import pg from 'pg';

/** One participant service. */
export interface ParticipantSpec<A> {
  /** Business tables (CREATE TABLE IF NOT EXISTS ...). */
  tables: string[];
  /** The POST route that runs the action's try. */
  route: string;
  /** Defines the service's TCC action on `client`, with `fence` guarding its phases. */
  defineAction(client: DtxClient, fence: TccFence<pg.PoolClient>): TccAction<A, unknown>;
}

/** Starts the service; prints `READY <url>` once it takes requests. */
export async function runParticipant<A>(spec: ParticipantSpec<A>): Promise<void> {
  const env = process.env;
  const schema = env.DEMO_SCHEMA;
  if (!schema) throw new Error('DEMO_SCHEMA is not set');

  // The service's own database: every statement runs in its schema.
  const pool = new pg.Pool({
    host: env.PGHOST ?? '127.0.0.1',
    port: Number(env.PGPORT ?? 5432),
    user: env.PGUSER ?? 'postgres',
    password: env.PGPASSWORD ?? '',
    database: env.PGDATABASE ?? 'test',
    options: `-c search_path=${schema}`,
  });
  for (const ddl of spec.tables) await pool.query(ddl);

  // The fence: Seata's tcc_fence_log table, written in the same local transaction as the
  // business SQL of each phase.
  const fence = new TccFence(pgFenceDatabase<pg.PoolClient>(pool));
  await fence.ensureTable();
  fence.on('alert', (alert) => console.log(`fence: ${alert.kind}: ${alert.message}`));

  // applicationId and the TC address come from DTX_APPLICATIONID and
  // DTX_SERVICE_DEFAULT_GROUPLIST (service.default.grouplist), as a Seata client reads them.
  const client = new DtxClient(clientOptionsFromConfig({ env }));
  const action = spec.defineAction(client, fence);
  await client.start();

  const app = express();
  app.use(expressXid()); // binds TX_XID for the handler: the action joins that global transaction
  app.use(express.json());
  app.post(spec.route, async (req, res) => {
    try {
      res.json({ ok: true, result: await action(req.body as A) });
    } catch (err) {
      res.status(409).json({ ok: false, error: (err as Error).message });
    }
  });
  const server = app.listen(0, '127.0.0.1');
  await new Promise<void>((resolve) => server.once('listening', resolve));
  const { port } = server.address() as { port: number };

  let stopping = false;
  const stop = async () => {
    if (stopping) return;
    stopping = true;
    server.close();
    await client.close();
    fence.close();
    await pool.end();
    process.exit(0);
  };
  process.once('SIGTERM', stop);
  process.once('SIGINT', stop);
  // The demo's main process holds our stdin: when it goes away, so do we.
  process.stdin.on('end', stop);
  process.stdin.resume();

  console.log(`READY http://127.0.0.1:${port}`);
}
