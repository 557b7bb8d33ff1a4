/**
 * The TCC fence suite (fence-suite.ts) on MariaDB / MySQL through mysqlFenceDatabase, in a
 * database of this file's own. MYSQL_HOST, MYSQL_PORT, MYSQL_USER, MYSQL_PASSWORD,
 * MYSQL_DATABASE (127.0.0.1:3306, root, no password, test); unreachable: skipped, or failed when
 * CI=true.
 */
import type mysql from 'mysql2/promise';
import { mysqlFenceDatabase } from '../src/index.js';
import { fenceSuite } from './fence-suite.js';
import { mysqlScratch, unavailable } from './helpers.js';

const scratch = await mysqlScratch();

fenceSuite<mysql.PoolConnection>(
  'MariaDB',
  typeof scratch === 'string' ? unavailable(scratch) : false,
  async () => {
    if (typeof scratch === 'string') throw new Error(scratch);
    return {
      label: 'MariaDB',
      db: mysqlFenceDatabase(scratch.pool),
      skewedDb: mysqlFenceDatabase(scratch.newPool("SET time_zone = '-12:00'", 2)),
      async exec(conn, sql, params) {
        const [result] = await conn.query(sql, params);
        return (result as mysql.ResultSetHeader).affectedRows;
      },
      async query(sql, params = []) {
        const [rows] = await scratch.pool.query(sql, params);
        return rows as Array<Record<string, unknown>>;
      },
      quotaDdl:
        'CREATE TABLE quota (id VARCHAR(64) PRIMARY KEY, available INT NOT NULL, frozen INT NOT NULL, used INT NOT NULL) ENGINE=InnoDB',
      hoursAgo: (hours) => `CURRENT_TIMESTAMP(3) - INTERVAL ${hours} HOUR`,
      drop: () => scratch.drop(),
    };
  },
);
