/**
 * The TC's admin HTTP port as an operator scrapes it: Seata's meter names in Prometheus form
 * (`seata_transaction` by role and status, its duration, `seata_exception` by code), Node's
 * event-loop lag, and `/health`, after real transactions over real sockets.
 */
import assert from 'node:assert/strict';
import { describe, test } from 'node:test';
import { BranchType, ResultCode } from '@dtx/protocol';
import { connectRm, freePort, HOST, startTc, Tm, within } from './helpers.js';

/** The value of the sample `name{labels}` in exposition text, or undefined. */
function sample(text: string, series: string): number | undefined {
  const line = text.split('\n').find((l) => l.startsWith(`${series} `));
  return line === undefined ? undefined : Number(line.slice(series.length + 1));
}

async function get(port: number, route: string): Promise<{ status: number; body: string }> {
  const res = await within(fetch(`http://${HOST}:${port}${route}`), `GET ${route}`);
  return { status: res.status, body: await res.text() };
}

describe('metrics', () => {
  test("the admin port serves Seata's meters, event-loop lag and /health after real transactions", async (t) => {
    const metricsPort = await freePort();
    const { port } = await startTc(t, { metricsEnabled: true, metricsPort });
    const tm = await Tm.connect(t, port);
    const rm = await connectRm(t, port, 'metrics-rm');

    const committed = await tm.begin();
    await rm.registerBranchOk(committed, { branchType: BranchType.TCC });
    assert.equal((await tm.commit(committed)).resultCode, ResultCode.Success);
    const rolledBack = await tm.begin();
    assert.equal((await tm.rollback(rolledBack)).resultCode, ResultCode.Success);
    // A branch of a transaction that does not exist: a failed request, counted by its code.
    const missing = await rm.registerBranch(`${HOST}:${port}:42`, { branchType: BranchType.TCC });
    assert.equal(missing.resultCode, ResultCode.Failed);

    const { status, body } = await get(metricsPort, '/metrics');
    assert.equal(status, 200);
    assert.equal(sample(body, 'seata_transaction{role="tc",status="Begin"}'), 2);
    assert.equal(sample(body, 'seata_transaction{role="tc",status="Committed"}'), 1);
    assert.equal(sample(body, 'seata_transaction{role="tc",status="Rollbacked"}'), 1);
    assert.equal(sample(body, 'seata_transaction_duration_seconds_count{role="tc",status="Committed"}'), 1);
    assert.equal(sample(body, 'seata_exception{code="GlobalTransactionNotExist"}'), 1);
    assert.ok((sample(body, 'nodejs_eventloop_lag_seconds') ?? -1) >= 0, 'event-loop lag is exported');

    const health = await get(metricsPort, '/health');
    assert.equal(health.status, 200);
    assert.equal(JSON.parse(health.body).status, 'up');
  });
});
