/**
 * Seata's DB-mode schema (`script/server/db/mysql.sql` and `postgresql.sql`, Seata 2.x): the same
 * tables, columns, types and indexes, so an operator's existing Seata schema and tooling keep
 * working with dtx, and `dtx server schema --db mysql|postgres` prints what Seata would create.
 *
 * Differences from the upstream scripts, all of them idempotence or name clashes:
 * - every CREATE has IF NOT EXISTS, and the distributed_lock seed rows are inserted only when
 *   missing, so the script can be applied to a live database any number of times;
 * - PostgreSQL index names are unique per schema, and upstream names the xid indexes of
 *   branch_table and lock_table both `idx_xid` (the second CREATE fails there), so lock_table's is
 *   `idx_lock_table_xid`; with non-default table names every PostgreSQL constraint and index
 *   name carries the table name.
 */
import { checkTableName, type SqlDialect, type SqlDialectName } from './sql-dialect.js';

/** The four table names (Seata's `store.db.*Table` keys). */
export interface SqlTableNames {
  /** `store.db.globalTable` @default 'global_table' */
  globalTable: string;
  /** `store.db.branchTable` @default 'branch_table' */
  branchTable: string;
  /** `store.db.lockTable` @default 'lock_table' */
  lockTable: string;
  /** `store.db.distributedLockTable` @default 'distributed_lock' */
  distributedLockTable: string;
}

/** Seata's default table names. */
export const DEFAULT_SQL_TABLE_NAMES: Readonly<SqlTableNames> = Object.freeze({
  globalTable: 'global_table',
  branchTable: 'branch_table',
  lockTable: 'lock_table',
  distributedLockTable: 'distributed_lock',
});

/** Seata's configuration key of each table name. */
export const SQL_TABLE_CONFIG_KEYS: Readonly<Record<keyof SqlTableNames, string>> = Object.freeze({
  globalTable: 'store.db.globalTable',
  branchTable: 'store.db.branchTable',
  lockTable: 'store.db.lockTable',
  distributedLockTable: 'store.db.distributedLockTable',
});

/** The distributed_lock rows Seata's scripts seed (lock_value ' ', expire 0). */
export const DISTRIBUTED_LOCK_SEEDS = [
  'AsyncCommitting',
  'RetryCommitting',
  'RetryRollbacking',
  'TxTimeoutCheck',
] as const;

/** The statements of one table: its CREATE (and indexes), then rows to seed. */
interface TableSchema {
  key: keyof SqlTableNames;
  name: string;
  create: string[];
  seed: string[];
}

function baseName(name: string): string {
  return name.slice(name.lastIndexOf('.') + 1);
}

function mysqlSchema(t: SqlTableNames): TableSchema[] {
  const q = (name: string) =>
    checkTableName(name)
      .split('.')
      .map((p) => `\`${p}\``)
      .join('.');
  return [
    {
      key: 'globalTable',
      name: t.globalTable,
      create: [
        `CREATE TABLE IF NOT EXISTS ${q(t.globalTable)}
(
    \`xid\`                       VARCHAR(128) NOT NULL,
    \`transaction_id\`            BIGINT,
    \`status\`                    TINYINT      NOT NULL,
    \`application_id\`            VARCHAR(32),
    \`transaction_service_group\` VARCHAR(32),
    \`transaction_name\`          VARCHAR(128),
    \`timeout\`                   INT,
    \`begin_time\`                BIGINT,
    \`application_data\`          VARCHAR(2000),
    \`gmt_create\`                DATETIME,
    \`gmt_modified\`              DATETIME,
    PRIMARY KEY (\`xid\`),
    KEY \`idx_status_gmt_modified\` (\`status\` , \`gmt_modified\`),
    KEY \`idx_transaction_id\` (\`transaction_id\`)
) ENGINE = InnoDB
  DEFAULT CHARSET = utf8mb4`,
      ],
      seed: [],
    },
    {
      key: 'branchTable',
      name: t.branchTable,
      create: [
        `CREATE TABLE IF NOT EXISTS ${q(t.branchTable)}
(
    \`branch_id\`         BIGINT       NOT NULL,
    \`xid\`               VARCHAR(128) NOT NULL,
    \`transaction_id\`    BIGINT,
    \`resource_group_id\` VARCHAR(32),
    \`resource_id\`       VARCHAR(256),
    \`branch_type\`       VARCHAR(8),
    \`status\`            TINYINT,
    \`client_id\`         VARCHAR(64),
    \`application_data\`  VARCHAR(2000),
    \`gmt_create\`        DATETIME(6),
    \`gmt_modified\`      DATETIME(6),
    PRIMARY KEY (\`branch_id\`),
    KEY \`idx_xid\` (\`xid\`)
) ENGINE = InnoDB
  DEFAULT CHARSET = utf8mb4`,
      ],
      seed: [],
    },
    {
      key: 'lockTable',
      name: t.lockTable,
      create: [
        `CREATE TABLE IF NOT EXISTS ${q(t.lockTable)}
(
    \`row_key\`        VARCHAR(128) NOT NULL,
    \`xid\`            VARCHAR(128),
    \`transaction_id\` BIGINT,
    \`branch_id\`      BIGINT       NOT NULL,
    \`resource_id\`    VARCHAR(256),
    \`table_name\`     VARCHAR(32),
    \`pk\`             VARCHAR(36),
    \`status\`         TINYINT      NOT NULL DEFAULT '0' COMMENT '0:locked ,1:rollbacking',
    \`gmt_create\`     DATETIME,
    \`gmt_modified\`   DATETIME,
    PRIMARY KEY (\`row_key\`),
    KEY \`idx_status\` (\`status\`),
    KEY \`idx_branch_id\` (\`branch_id\`),
    KEY \`idx_xid\` (\`xid\`)
) ENGINE = InnoDB
  DEFAULT CHARSET = utf8mb4`,
      ],
      seed: [],
    },
    {
      key: 'distributedLockTable',
      name: t.distributedLockTable,
      create: [
        `CREATE TABLE IF NOT EXISTS ${q(t.distributedLockTable)}
(
    \`lock_key\`       CHAR(20) NOT NULL,
    \`lock_value\`     VARCHAR(20) NOT NULL,
    \`expire\`         BIGINT,
    primary key (\`lock_key\`)
) ENGINE = InnoDB
  DEFAULT CHARSET = utf8mb4`,
      ],
      seed: DISTRIBUTED_LOCK_SEEDS.map(
        (k) =>
          `INSERT INTO ${q(t.distributedLockTable)} (lock_key, lock_value, expire) VALUES ('${k}', ' ', 0) ON DUPLICATE KEY UPDATE lock_key = lock_key`,
      ),
    },
  ];
}

function postgresSchema(t: SqlTableNames): TableSchema[] {
  const d = DEFAULT_SQL_TABLE_NAMES;
  const n = (name: string) => checkTableName(name);
  // Seata's constraint and index names for the default tables; the table's own name otherwise.
  const pk = (name: string, seata: string) => (name === seata.slice(3) ? seata : `pk_${baseName(name)}`);
  const idx = (name: string, dflt: string, seata: string) =>
    name === dflt ? seata : `idx_${baseName(name)}_${seata.slice(4)}`;
  return [
    {
      key: 'globalTable',
      name: t.globalTable,
      create: [
        `CREATE TABLE IF NOT EXISTS ${n(t.globalTable)}
(
    xid                       VARCHAR(128) NOT NULL,
    transaction_id            BIGINT,
    status                    SMALLINT     NOT NULL,
    application_id            VARCHAR(32),
    transaction_service_group VARCHAR(32),
    transaction_name          VARCHAR(128),
    timeout                   INT,
    begin_time                BIGINT,
    application_data          VARCHAR(2000),
    gmt_create                TIMESTAMP(0),
    gmt_modified              TIMESTAMP(0),
    CONSTRAINT ${pk(t.globalTable, 'pk_global_table')} PRIMARY KEY (xid)
)`,
        `CREATE INDEX IF NOT EXISTS ${idx(t.globalTable, d.globalTable, 'idx_status_gmt_modified')} ON ${n(t.globalTable)} (status, gmt_modified)`,
        `CREATE INDEX IF NOT EXISTS ${idx(t.globalTable, d.globalTable, 'idx_transaction_id')} ON ${n(t.globalTable)} (transaction_id)`,
      ],
      seed: [],
    },
    {
      key: 'branchTable',
      name: t.branchTable,
      create: [
        `CREATE TABLE IF NOT EXISTS ${n(t.branchTable)}
(
    branch_id         BIGINT       NOT NULL,
    xid               VARCHAR(128) NOT NULL,
    transaction_id    BIGINT,
    resource_group_id VARCHAR(32),
    resource_id       VARCHAR(256),
    branch_type       VARCHAR(8),
    status            SMALLINT,
    client_id         VARCHAR(64),
    application_data  VARCHAR(2000),
    gmt_create        TIMESTAMP(6),
    gmt_modified      TIMESTAMP(6),
    CONSTRAINT ${pk(t.branchTable, 'pk_branch_table')} PRIMARY KEY (branch_id)
)`,
        `CREATE INDEX IF NOT EXISTS ${idx(t.branchTable, d.branchTable, 'idx_xid')} ON ${n(t.branchTable)} (xid)`,
      ],
      seed: [],
    },
    {
      key: 'lockTable',
      name: t.lockTable,
      create: [
        `CREATE TABLE IF NOT EXISTS ${n(t.lockTable)}
(
    row_key        VARCHAR(128) NOT NULL,
    xid            VARCHAR(128),
    transaction_id BIGINT,
    branch_id      BIGINT       NOT NULL,
    resource_id    VARCHAR(256),
    table_name     VARCHAR(32),
    pk             VARCHAR(36),
    status         SMALLINT     NOT NULL DEFAULT 0,
    gmt_create     TIMESTAMP(0),
    gmt_modified   TIMESTAMP(0),
    CONSTRAINT ${pk(t.lockTable, 'pk_lock_table')} PRIMARY KEY (row_key)
)`,
        `COMMENT ON COLUMN ${n(t.lockTable)}.status IS '0:locked ,1:rollbacking'`,
        `CREATE INDEX IF NOT EXISTS ${idx(t.lockTable, d.lockTable, 'idx_branch_id')} ON ${n(t.lockTable)} (branch_id)`,
        `CREATE INDEX IF NOT EXISTS idx_${baseName(t.lockTable)}_xid ON ${n(t.lockTable)} (xid)`,
        `CREATE INDEX IF NOT EXISTS ${idx(t.lockTable, d.lockTable, 'idx_status')} ON ${n(t.lockTable)} (status)`,
      ],
      seed: [],
    },
    {
      key: 'distributedLockTable',
      name: t.distributedLockTable,
      create: [
        `CREATE TABLE IF NOT EXISTS ${n(t.distributedLockTable)}
(
    lock_key     VARCHAR(20)  NOT NULL,
    lock_value   VARCHAR(20)  NOT NULL,
    expire       BIGINT       NOT NULL,
    CONSTRAINT ${t.distributedLockTable === d.distributedLockTable ? 'pk_distributed_lock_table' : `pk_${baseName(t.distributedLockTable)}`} PRIMARY KEY (lock_key)
)`,
      ],
      seed: DISTRIBUTED_LOCK_SEEDS.map(
        (k) =>
          `INSERT INTO ${n(t.distributedLockTable)} (lock_key, lock_value, expire) VALUES ('${k}', ' ', 0) ON CONFLICT (lock_key) DO NOTHING`,
      ),
    },
  ];
}

function tableSchemas(dialect: SqlDialectName, tables: Partial<SqlTableNames>): TableSchema[] {
  const t = { ...DEFAULT_SQL_TABLE_NAMES, ...tables };
  if (dialect === 'mysql') return mysqlSchema(t);
  if (dialect === 'postgres') return postgresSchema(t);
  throw new Error(`unknown SQL dialect "${String(dialect)}" (expected mysql or postgres)`);
}

/**
 * The statements that create dtx's (Seata's) tables in `dialect`, without trailing semicolons:
 * CREATE TABLE IF NOT EXISTS with its indexes, then the idempotent distributed_lock seed rows.
 */
export function schemaSql(dialect: SqlDialectName, tables: Partial<SqlTableNames> = {}): string[] {
  return tableSchemas(dialect, tables).flatMap((s) => [...s.create, ...s.seed]);
}

/** The same statements as one script, `;`-terminated, ready to print or pipe into mysql/psql. */
export function schemaScript(dialect: SqlDialectName, tables: Partial<SqlTableNames> = {}): string {
  const header = `-- dtx (Apache Seata compatible) session store schema for ${dialect === 'mysql' ? 'MySQL/MariaDB' : 'PostgreSQL'}\n`;
  return `${header}${schemaSql(dialect, tables)
    .map((s) => `${s};\n`)
    .join('\n')}`;
}

/** True when `table` exists (and this user can read it). */
async function tableExists(db: SqlDialect, table: string): Promise<boolean> {
  try {
    await db.query(`SELECT 1 FROM ${db.table(table)} WHERE 1 = 0`);
    return true;
  } catch (err) {
    if (db.classify(err) === 'missingTable') return false;
    throw err;
  }
}

/** The tables of `tables` that do not exist, as [config key, table name] pairs. */
export async function missingTables(
  db: SqlDialect,
  tables: Partial<SqlTableNames> = {},
): Promise<Array<[string, string]>> {
  const missing: Array<[string, string]> = [];
  for (const s of tableSchemas(db.name, tables)) {
    if (!(await tableExists(db, s.name))) missing.push([SQL_TABLE_CONFIG_KEYS[s.key], s.name]);
  }
  return missing;
}

/**
 * Creates the tables that are missing, with their indexes, and inserts missing seed rows. Tables
 * that exist are left alone (an existing Seata schema may belong to another database user, who
 * alone may add indexes or comments to it).
 */
export async function applySchema(db: SqlDialect, tables: Partial<SqlTableNames> = {}): Promise<void> {
  for (const s of tableSchemas(db.name, tables)) {
    if (!(await tableExists(db, s.name))) for (const sql of s.create) await db.query(sql);
    for (const sql of s.seed) await db.query(sql);
  }
}
