/**
 * DtxClient set-up against an in-process TC: options from an object, a YAML file and the
 * environment with Seata's keys; registration of the TM and RM (as the TC's channel table sees
 * it); re-registration after the TC restarts on the same port and store; a clean close.
 */
import assert from 'node:assert/strict';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { describe, it, type TestContext } from 'node:test';
import { ConfigError } from '@dtx/core';
import { GlobalStatus } from '@dtx/protocol';
import { TcServer } from '@dtx/server';
import {
  clientOptionsFromConfig,
  DtxClient,
  defineTccAction,
  GlobalTransaction,
  getDefaultClient,
  globalTransaction,
  parseClientOptions,
  setDefaultClient,
} from '../src/index.js';
import { HOST, startClient, startTc, tcOptions, until, WAIT_MS, within } from './helpers.js';

/** The registrations the TC holds for `applicationId`. */
function registrations(server: TcServer, applicationId: string) {
  return server.coordinator.channels.all().filter((c) => c.applicationId === applicationId);
}

function tempFile(t: TestContext, name: string, text: string): string {
  const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'dtx-client-config-'));
  t.after(() => fs.rmSync(dir, { recursive: true, force: true }));
  const file = path.join(dir, name);
  fs.writeFileSync(file, text);
  return file;
}

/** A TCC action that records its calls in memory. */
function countingAction(client: DtxClient, name: string) {
  const calls = { try: 0, confirm: 0, cancel: 0 };
  const action = defineTccAction<{ n: number }, string>(client, {
    name,
    try: (ctx) => {
      calls.try++;
      return `tried ${ctx.args.n}`;
    },
    confirm: () => {
      calls.confirm++;
      return true;
    },
    cancel: () => {
      calls.cancel++;
      return true;
    },
  });
  return { action, calls };
}

describe('client options', () => {
  it('come from an object and keep the defaults of the keys not given', () => {
    const o = parseClientOptions({
      applicationId: 'app',
      grouplist: ['127.0.0.1:8091'],
      commitRetryCount: 2,
    });
    assert.equal(o.applicationId, 'app');
    assert.deepEqual(o.grouplist, ['127.0.0.1:8091']);
    assert.equal(o.commitRetryCount, 2);
    assert.equal(o.rollbackRetryCount, 5);
    assert.equal(o.txServiceGroup, 'default_tx_group');
    assert.equal(o.defaultGlobalTransactionTimeout, 60000);
  });

  it('come from Seata keys in an object: vgroupMapping to a cluster, the cluster to its grouplist', () => {
    const o = clientOptionsFromConfig({
      object: {
        applicationId: 'orders',
        txServiceGroup: 'my_group',
        service: { vgroupMapping: { my_group: 'east' }, east: { grouplist: '10.0.0.1:8091;10.0.0.2:8091' } },
        client: { tm: { commitRetryCount: 3, defaultGlobalTransactionTimeout: '30s' } },
        transport: { rpcTmRequestTimeout: 2500 },
      },
    });
    assert.equal(o.applicationId, 'orders');
    assert.equal(o.txServiceGroup, 'my_group');
    assert.deepEqual(o.grouplist, ['10.0.0.1:8091', '10.0.0.2:8091']);
    assert.equal(o.commitRetryCount, 3);
    assert.equal(o.defaultGlobalTransactionTimeout, 30000);
    assert.equal(o.tmRequestTimeoutMs, 2500);
  });

  it('come from a YAML file, in Seata Spring Boot form', (t) => {
    const file = tempFile(
      t,
      'dtx.yml',
      [
        'seata:',
        '  application-id: loans',
        '  tx-service-group: loan_group',
        '  service:',
        '    vgroup-mapping:',
        '      loan_group: west',
        '    grouplist:',
        '      west: 127.0.0.1:18091',
        '  client:',
        '    tm:',
        '      rollback-retry-count: 7',
        '',
      ].join('\n'),
    );
    const o = clientOptionsFromConfig({ file });
    assert.equal(o.applicationId, 'loans');
    assert.equal(o.txServiceGroup, 'loan_group');
    assert.deepEqual(o.grouplist, ['127.0.0.1:18091']);
    assert.equal(o.rollbackRetryCount, 7);
  });

  it('come from DTX_ environment variables, which win over the file', (t) => {
    const file = tempFile(
      t,
      'dtx.yml',
      'applicationId: from-file\ntxServiceGroup: g1\nservice:\n  vgroupMapping:\n    g1: c1\n  c1:\n    grouplist: 127.0.0.1:1\n',
    );
    const o = clientOptionsFromConfig({
      file,
      env: {
        DTX_APPLICATIONID: 'from-env',
        DTX_TXSERVICEGROUP: 'env_group',
        DTX_SERVICE_VGROUPMAPPING_ENV_GROUP: 'envcluster',
        DTX_SERVICE_ENVCLUSTER_GROUPLIST: '127.0.0.1:28091,127.0.0.1:28092',
        DTX_CLIENT_TM_COMMITRETRYCOUNT: '1',
        PATH: '/usr/bin',
      },
    });
    assert.equal(o.applicationId, 'from-env');
    assert.equal(o.txServiceGroup, 'env_group');
    assert.deepEqual(o.grouplist, ['127.0.0.1:28091', '127.0.0.1:28092']);
    assert.equal(o.commitRetryCount, 1);
  });

  it('name the missing vgroupMapping key when the group has no mapping', () => {
    assert.throws(
      () =>
        clientOptionsFromConfig({
          object: {
            applicationId: 'a',
            txServiceGroup: 'unmapped_group',
            service: { default: { grouplist: 'x:1' } },
          },
        }),
      (err: unknown) => {
        assert.ok(err instanceof ConfigError, `a ConfigError, got ${err}`);
        assert.equal(err.key, 'service.vgroupMapping.unmapped_group');
        assert.match(err.message, /service\.vgroupMapping\.unmapped_group/);
        return true;
      },
    );
  });

  it('name the missing grouplist key of a mapped cluster', () => {
    assert.throws(
      () =>
        clientOptionsFromConfig({
          object: { applicationId: 'a', txServiceGroup: 'g', service: { vgroupMapping: { g: 'nowhere' } } },
        }),
      (err: unknown) => err instanceof ConfigError && err.key === 'service.nowhere.grouplist',
    );
  });

  it('name a bad value and require an applicationId', () => {
    assert.throws(
      () => parseClientOptions({ applicationId: 'a', grouplist: ['x:1'], commitRetryCount: -1 }),
      (err: unknown) => err instanceof ConfigError && /commitRetryCount/.test(err.key),
    );
    assert.throws(
      () => parseClientOptions({ grouplist: ['x:1'] }),
      (err: unknown) => err instanceof ConfigError && err.key === 'client.applicationId',
    );
  });
});

describe('DtxClient against a TC', () => {
  it('registers a TM and an RM with its resources, and announces resources defined later', async (t) => {
    const tc = await startTc(t);
    const client = await startClient(t, tc.address, { applicationId: 'reg-app' }, (c) => {
      countingAction(c, 'early-action');
    });
    await until(() => {
      const regs = registrations(tc.server, 'reg-app');
      return regs.some((r) => r.tm) && regs.some((r) => r.rm && r.resourceIds.has('early-action'));
    }, 'the TC to see the TM and the RM with early-action');
    const regs = registrations(tc.server, 'reg-app');
    assert.equal(regs.length, 2, 'one TM session and one RM session');
    assert.equal(regs.find((r) => r.tm)?.transactionServiceGroup, 'default_tx_group');

    countingAction(client, 'late-action');
    await until(
      () => registrations(tc.server, 'reg-app').some((r) => r.rm && r.resourceIds.has('late-action')),
      'the RM to announce late-action',
    );
  });

  it('a client built from YAML config reaches the TC and runs a global transaction', async (t) => {
    const tc = await startTc(t);
    const file = tempFile(
      t,
      'client.yml',
      `applicationId: yaml-app\ntxServiceGroup: yaml_group\nservice:\n  vgroupMapping:\n    yaml_group: local\n  local:\n    grouplist: ${tc.address}\n`,
    );
    const client = await startClient(t, tc.address, clientOptionsFromConfig({ file }));
    assert.equal(client.options.applicationId, 'yaml-app');
    const { action, calls } = countingAction(client, 'yaml-action');
    const out = await client.globalTransaction(() => action({ n: 1 }));
    assert.equal(out, 'tried 1');
    assert.deepEqual(calls, { try: 1, confirm: 1, cancel: 0 });
    assert.ok(registrations(tc.server, 'yaml-app').some((r) => r.transactionServiceGroup === 'yaml_group'));
  });

  it('a client built from the environment reaches the TC', async (t) => {
    const tc = await startTc(t);
    const client = await startClient(
      t,
      tc.address,
      clientOptionsFromConfig({
        env: {
          DTX_APPLICATIONID: 'env-app',
          DTX_TXSERVICEGROUP: 'env_group',
          DTX_SERVICE_VGROUPMAPPING_ENV_GROUP: 'c9',
          DTX_SERVICE_C9_GROUPLIST: tc.address,
        },
      }),
    );
    const tx = new GlobalTransaction(client);
    await tx.begin(5000, 'env-tx');
    assert.equal(await tx.commit(), GlobalStatus.Committed);
    assert.ok(registrations(tc.server, 'env-app').some((r) => r.tm));
  });

  it('re-registers after the TC restarts on the same port and store, and the next transaction works', async (t) => {
    const first = await startTc(t);
    const client = await startClient(t, first.address, { applicationId: 'restart-app' });
    const { action, calls } = countingAction(client, 'restart-action');
    await client.globalTransaction(() => action({ n: 1 }));
    assert.equal(calls.confirm, 1);

    await within(first.server.stop(), 'first TC stop');
    const second = new TcServer(tcOptions(first.dir, first.port));
    await second.start();
    t.after(() => within(second.stop(), 'second TC stop'));
    await until(() => {
      const regs = registrations(second, 'restart-app');
      return regs.some((r) => r.tm) && regs.some((r) => r.rm && r.resourceIds.has('restart-action'));
    }, 'the client to register its TM and RM with the restarted TC');

    const out = await within(
      client.globalTransaction(() => action({ n: 2 })),
      'a global transaction on the restarted TC',
    );
    assert.equal(out, 'tried 2');
    assert.deepEqual(calls, { try: 2, confirm: 2, cancel: 0 });
  });

  it('close() unregisters both sessions, stops reconnecting and clears the default client', async (t) => {
    const tc = await startTc(t);
    setDefaultClient(null);
    const client = new DtxClient({ applicationId: 'close-app', grouplist: [tc.address] });
    assert.equal(getDefaultClient(), client, 'the first client created is the default');
    await within(client.start(), 'start');
    await globalTransaction(async () => {}, { name: 'through-default' });
    await until(() => registrations(tc.server, 'close-app').length === 2, 'two registrations');

    await within(client.close(), 'close');
    await until(
      () => registrations(tc.server, 'close-app').length === 0,
      'the TC to drop both registrations',
    );
    assert.throws(() => getDefaultClient(), /no DtxClient/);
    // No reconnect after close: the TC stays without sessions of this app for a while.
    const sessions = tc.server.remoting.sessions.size;
    await new Promise((r) => setTimeout(r, 300));
    assert.equal(tc.server.remoting.sessions.size, sessions);
    assert.equal(registrations(tc.server, 'close-app').length, 0);
    await assert.rejects(new GlobalTransaction(client).begin(1000), 'a closed client cannot begin');
    await within(client.close(), 'a second close');
  });

  it('start() fails within its timeout when no TC listens', async () => {
    const client = new DtxClient({ applicationId: 'nobody', grouplist: [`${HOST}:1`] });
    try {
      await assert.rejects(within(client.start(500), 'start'), /no TC session ready/);
    } finally {
      await within(client.close(), 'close', WAIT_MS);
    }
  });
});
