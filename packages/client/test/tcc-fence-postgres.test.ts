/**
 * The TCC fence suite (fence-suite.ts) on PostgreSQL through pgFenceDatabase, in a schema of
 * this file's own. PGHOST, PGPORT, PGUSER, PGPASSWORD, PGDATABASE (127.0.0.1:5432, postgres,
 * test); unreachable: skipped, or failed when CI=true.
 */
import type pg from 'pg';
import { pgFenceDatabase } from '../src/index.js';
import { fenceSuite } from './fence-suite.js';
import { pgScratch, unavailable } from './helpers.js';

const scratch = await pgScratch();

fenceSuite<pg.PoolClient>(
  'PostgreSQL',
  typeof scratch === 'string' ? unavailable(scratch) : false,
  async () => {
    if (typeof scratch === 'string') throw new Error(scratch);
    const toPg = (sql: string) => {
      let i = 0;
      return sql.replace(/\?/g, () => `$${++i}`);
    };
    return {
      label: 'PostgreSQL',
      db: pgFenceDatabase(scratch.pool),
      // Etc/GMT+12 is UTC-12 (POSIX signs are inverted).
      skewedDb: pgFenceDatabase(scratch.newPool('-c timezone=Etc/GMT+12', 2)),
      async exec(tx, sql, params) {
        return (await tx.query(toPg(sql), params)).rowCount ?? 0;
      },
      async query(sql, params = []) {
        return (await scratch.pool.query(toPg(sql), params)).rows;
      },
      quotaDdl:
        'CREATE TABLE quota (id VARCHAR(64) PRIMARY KEY, available INT NOT NULL, frozen INT NOT NULL, used INT NOT NULL)',
      hoursAgo: (hours) => `now() - interval '${hours} hours'`,
      drop: () => scratch.drop(),
    };
  },
);
