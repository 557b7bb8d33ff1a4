/**
 * The short chaos run (src/chaos/run.ts): both TC variants, about a minute of transfers under
 * faults and hostile peers in total, then the invariants. It runs as a child process, the way
 * `npm run chaos` runs the long one, and must exit 0; its report is printed either way.
 *
 * PostgreSQL (PGHOST, PGPORT, PGUSER, PGPASSWORD) and MariaDB (MYSQL_HOST, MYSQL_PORT,
 * MYSQL_USER, MYSQL_PASSWORD) default to 127.0.0.1; when either is unreachable the test is
 * skipped, or fails under CI=true.
 */
import assert from 'node:assert/strict';
import { spawn } from 'node:child_process';
import fs from 'node:fs';
import { test } from 'node:test';
import { fileURLToPath } from 'node:url';

const RUN = fileURLToPath(new URL('../dist/chaos/run.js', import.meta.url));
/** Workload seconds, split between the file and the ha variant. */
const DURATION_S = 60;
const QUIET_TIMEOUT_S = 90;
/** run.ts's exit code when a database is unreachable. */
const UNREACHABLE = 3;

test('chaos: money is conserved under TC, participant, network and initiator faults', {
  timeout: (DURATION_S + 2 * QUIET_TIMEOUT_S + 120) * 1000,
}, async (t) => {
  assert.ok(fs.existsSync(RUN), `${RUN} is missing: run "npx tsc -b" first`);
  const child = spawn(
    process.execPath,
    [RUN, '--duration', String(DURATION_S), '--variant', 'both', '--quiet-timeout', String(QUIET_TIMEOUT_S)],
    { stdio: ['ignore', 'pipe', 'pipe'] },
  );
  let out = '';
  child.stdout.on('data', (d) => {
    out += d;
  });
  child.stderr.on('data', (d) => {
    out += d;
  });
  // The runner's own timeout ends the test, not the child: make sure it goes too.
  t.after(() => {
    if (child.exitCode === null && child.signalCode === null) child.kill('SIGTERM');
  });
  const code = await new Promise<number | null>((resolve) => child.once('exit', (c) => resolve(c)));
  if (code === UNREACHABLE) {
    if (process.env.CI === 'true') assert.fail(`the chaos run needs PostgreSQL and MariaDB:\n${out}`);
    t.skip(`PostgreSQL or MariaDB is unreachable: ${out.trim()}`);
    return;
  }
  const report = out.slice(Math.max(0, out.indexOf('==== chaos report')));
  t.diagnostic(report.trim());
  assert.equal(code, 0, `the chaos run exited with ${code}:\n${out.slice(-20_000)}`);
});
