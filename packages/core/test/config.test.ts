import assert from 'node:assert/strict';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, describe, it } from 'node:test';
import { ConfigError, ConfigSource } from '../src/index.js';

const dir = mkdtempSync(join(tmpdir(), 'dtx-config-'));
after(() => rmSync(dir, { recursive: true, force: true }));
let fileCount = 0;
function yamlFile(text: string): string {
  const file = join(dir, `config-${fileCount++}.yml`);
  writeFileSync(file, text);
  return file;
}

/** Asserts `fn` throws a ConfigError for `key` whose message matches every pattern. */
function throwsConfigError(fn: () => unknown, key: string, ...patterns: RegExp[]): void {
  assert.throws(fn, (err: unknown) => {
    assert.ok(err instanceof ConfigError, String(err));
    assert.equal(err.key, key);
    assert.equal(err.code, 'CONFIG_INVALID');
    assert.ok(err.message.includes(key), err.message);
    for (const p of patterns) assert.match(err.message, p);
    return true;
  });
}

describe('ConfigSource: plain object', () => {
  it('reads nested and flat dotted keys alike', () => {
    const config = new ConfigSource({
      object: {
        service: { vgroupMapping: { default_tx_group: 'default' } },
        'service.default.grouplist': '127.0.0.1:8091',
        transport: { 'rpc-tm-request-timeout': 30000 },
      },
    });
    assert.equal(config.getString('service.vgroupMapping.default_tx_group'), 'default');
    assert.equal(config.getString('service.default.grouplist'), '127.0.0.1:8091');
    assert.equal(config.getNumber('transport.rpcTmRequestTimeout'), 30000);
    assert.equal(config.has('service.default.grouplist'), true);
    assert.equal(config.has('service.default'), false);
  });

  it('returns defaults for unset keys and undefined without one', () => {
    const config = new ConfigSource({});
    assert.equal(config.getString('a.b'), undefined);
    assert.equal(config.getString('a.b', 'x'), 'x');
    assert.equal(config.getNumber('a.b', 3), 3);
    assert.equal(config.getInteger('a.b', 4), 4);
    assert.equal(config.getBoolean('a.b', true), true);
    assert.equal(config.getDuration('a.b', 15000), 15000);
    assert.deepEqual(config.getList('a.b', ['x']), ['x']);
    assert.equal(config.getList('a.b'), undefined);
  });

  it('lists keys under a prefix', () => {
    const config = new ConfigSource({
      object: { service: { vgroupMapping: { b: 'x', a: 'y' }, default: { grouplist: 'h:1' } }, serviceX: 1 },
    });
    assert.deepEqual(config.keys('service.vgroupMapping'), [
      'service.vgroupMapping.a',
      'service.vgroupMapping.b',
    ]);
    assert.deepEqual(config.keys('service'), [
      'service.default.grouplist',
      'service.vgroupMapping.a',
      'service.vgroupMapping.b',
    ]);
    assert.equal(config.keys().length, 4);
  });

  it('rejects values that are not scalars or lists, naming the key', () => {
    throwsConfigError(() => new ConfigSource({ object: { a: { b: () => 1 } } }), 'a.b', /unsupported/);
    throwsConfigError(() => new ConfigSource({ object: { a: [{ b: 1 }] } }), 'a', /list of values/);
  });
});

describe('ConfigSource: typed getters', () => {
  const config = new ConfigSource({
    object: {
      n: '1.5',
      i: '42',
      big: 2 ** 60,
      f: '2.5',
      t: 'TRUE',
      b: false,
      yes: 'yes',
      d1: '15s',
      d2: '1h',
      d3: '500ms',
      d4: '1d',
      d5: 30000,
      d6: '-1',
      d7: '2m',
      bad: 'soon',
      list: 'a:1; b:2,c:3 ;;',
      yamlList: ['x', 'y'],
      num: 8091,
    },
  });

  it('reads numbers, integers, booleans and strings', () => {
    assert.equal(config.getNumber('n'), 1.5);
    assert.equal(config.getInteger('i'), 42);
    assert.equal(config.getBoolean('t'), true);
    assert.equal(config.getBoolean('b'), false);
    assert.equal(config.getString('num'), '8091');
    assert.equal(config.getInteger('num'), 8091);
  });

  it('reads durations with units', () => {
    assert.equal(config.getDuration('d1'), 15_000);
    assert.equal(config.getDuration('d2'), 3_600_000);
    assert.equal(config.getDuration('d3'), 500);
    assert.equal(config.getDuration('d4'), 86_400_000);
    assert.equal(config.getDuration('d5'), 30_000);
    assert.equal(config.getDuration('d6'), -1, "Seata's -1 sentinel");
    assert.equal(config.getDuration('d7'), 120_000);
  });

  it('splits lists on , and ;', () => {
    assert.deepEqual(config.getList('list'), ['a:1', 'b:2', 'c:3']);
    assert.deepEqual(config.getList('yamlList'), ['x', 'y']);
    assert.deepEqual(config.getList('num'), ['8091']);
  });

  it('names the key and the value in every type error', () => {
    throwsConfigError(() => config.getNumber('bad'), 'bad', /must be a number/, /"soon"/, /from object/);
    throwsConfigError(() => config.getInteger('f'), 'f', /must be an integer/);
    throwsConfigError(() => config.getInteger('big'), 'big', /must be an integer/);
    throwsConfigError(() => config.getBoolean('yes'), 'yes', /true or false/);
    throwsConfigError(() => config.getBoolean('num'), 'num', /true or false/);
    throwsConfigError(() => config.getDuration('bad'), 'bad', /duration/);
  });
});

describe('ConfigSource: YAML file', () => {
  it('reads nested and flat YAML', () => {
    const config = new ConfigSource({
      file: yamlFile(
        [
          'service:',
          '  vgroupMapping:',
          '    my_group: cluster-a',
          'service.cluster-a.grouplist: "10.0.0.1:8091;10.0.0.2:8091"',
          'transport:',
          '  heartbeat: false',
        ].join('\n'),
      ),
    });
    assert.equal(config.getString('service.vgroupMapping.my_group'), 'cluster-a');
    assert.deepEqual(config.getList('service.cluster-a.grouplist'), ['10.0.0.1:8091', '10.0.0.2:8091']);
    assert.equal(config.getBoolean('transport.heartbeat'), false);
  });

  it("reads Seata's Spring Boot form under seata:, kebab-case keys as camelCase, map keys verbatim", () => {
    const config = new ConfigSource({
      file: yamlFile(
        [
          'seata:',
          '  tx-service-group: my-tx_group',
          '  application-id: order-service',
          '  service:',
          '    vgroup-mapping:',
          '      my-tx_group: my-cluster',
          '    grouplist:',
          '      my-cluster: 127.0.0.1:8091',
          '  transport:',
          '    enable-client-batch-send-request: true',
          '  client:',
          '    rm:',
          '      lock:',
          '        retry-interval: 10',
        ].join('\n'),
      ),
    });
    assert.equal(config.getString('txServiceGroup'), 'my-tx_group');
    assert.equal(config.getString('applicationId'), 'order-service');
    assert.equal(config.getString('service.vgroupMapping.my-tx_group'), 'my-cluster');
    assert.equal(config.getString('service.my-cluster.grouplist'), '127.0.0.1:8091');
    assert.equal(config.getBoolean('transport.enableClientBatchSendRequest'), true);
    assert.equal(config.getInteger('client.rm.lock.retryInterval'), 10);
    assert.equal(config.has('seata.txServiceGroup'), false);
  });

  it('reads a YAML list as a list', () => {
    const config = new ConfigSource({ file: yamlFile('service:\n  default:\n    grouplist: [a:1, b:2]\n') });
    assert.deepEqual(config.getList('service.default.grouplist'), ['a:1', 'b:2']);
  });

  it('treats an empty file as empty', () => {
    assert.deepEqual(new ConfigSource({ file: yamlFile('') }).keys(), []);
  });

  it('reports a missing file, bad YAML and a non-mapping document as ConfigErrors', () => {
    const missing = join(dir, 'nope.yml');
    assert.throws(
      () => new ConfigSource({ file: missing }),
      (err: unknown) =>
        err instanceof ConfigError && err.message.includes(missing) && err.cause !== undefined,
    );
    const bad = yamlFile('a: [1, 2\nb: c: d\n');
    assert.throws(
      () => new ConfigSource({ file: bad }),
      (err: unknown) =>
        err instanceof ConfigError && err.message.includes(bad) && /not valid YAML/.test(err.message),
    );
    assert.throws(() => new ConfigSource({ file: yamlFile('just a string') }), /must be a mapping/);
  });

  it('names the file a bad value came from', () => {
    const file = yamlFile('transport:\n  heartbeat: sometimes\n');
    const config = new ConfigSource({ file });
    throwsConfigError(
      () => config.getBoolean('transport.heartbeat'),
      'transport.heartbeat',
      new RegExp(`file ${file}`),
    );
  });
});

describe('ConfigSource: environment', () => {
  it('maps DTX_ variables onto known keys case-insensitively', () => {
    const config = new ConfigSource({
      env: {
        DTX_TRANSPORT_HEARTBEAT: 'false',
        DTX_TRANSPORT_ENABLECLIENTBATCHSENDREQUEST: 'true',
        dtx_client_rm_lock_retryinterval: '20',
        DTX_SERVER_RECOVERY_COMMITTINGRETRYPERIOD: '2s',
        PATH: '/usr/bin',
        DTX_UNHEARD_OF: 'x',
        DTX_UNSET: undefined,
      },
    });
    assert.equal(config.getBoolean('transport.heartbeat'), false);
    assert.equal(config.getBoolean('transport.enableClientBatchSendRequest'), true);
    assert.equal(config.getInteger('client.rm.lock.retryInterval'), 20);
    assert.equal(config.getDuration('server.recovery.committingRetryPeriod'), 2000);
    assert.deepEqual(config.unmatchedEnv, ['DTX_UNHEARD_OF']);
    assert.equal(config.keys().length, 4);
  });

  it('maps the vgroupMapping and grouplist forms, names lower-cased', () => {
    const config = new ConfigSource({
      env: {
        DTX_SERVICE_VGROUPMAPPING_MY_TX_GROUP: 'MyCluster',
        DTX_SERVICE_MY_CLUSTER_GROUPLIST: '10.0.0.1:8091',
        DTX_SERVICE_DEFAULT_GROUPLIST: '10.0.0.9:8091',
      },
    });
    assert.equal(config.getString('service.vgroupMapping.my_tx_group'), 'MyCluster');
    assert.equal(config.getString('service.my_cluster.grouplist'), '10.0.0.1:8091');
    assert.equal(config.getString('service.default.grouplist'), '10.0.0.9:8091');
  });

  it('matches keys set in lower layers and declared knownKeys, keeping their case', () => {
    const config = new ConfigSource({
      object: { service: { vgroupMapping: { My_Group: 'a' } }, custom: { someSetting: 1 } },
      env: {
        DTX_SERVICE_VGROUPMAPPING_MY_GROUP: 'b',
        DTX_CUSTOM_SOMESETTING: '2',
        DTX_REMOTING_MAXPENDINGREQUESTS: '5',
      },
      knownKeys: ['remoting.maxPendingRequests'],
    });
    assert.equal(config.getString('service.vgroupMapping.My_Group'), 'b');
    assert.equal(config.has('service.vgroupMapping.my_group'), false);
    assert.equal(config.getInteger('custom.someSetting'), 2);
    assert.equal(config.getInteger('remoting.maxPendingRequests'), 5);
  });

  it('names the variable a bad value came from', () => {
    const config = new ConfigSource({
      env: { DTX_TRANSPORT_HEARTBEAT: 'yes', DTX_CLIENT_TM_COMMITRETRYCOUNT: 'five' },
    });
    throwsConfigError(
      () => config.getBoolean('transport.heartbeat'),
      'transport.heartbeat',
      /environment variable DTX_TRANSPORT_HEARTBEAT/,
      /"yes"/,
    );
    throwsConfigError(
      () => config.getInteger('client.tm.commitRetryCount'),
      'client.tm.commitRetryCount',
      /DTX_CLIENT_TM_COMMITRETRYCOUNT/,
    );
  });
});

describe('ConfigSource: precedence', () => {
  it('env over file over object', () => {
    const object = { transport: { heartbeat: true, serialization: 'seata', compressor: 'none' } };
    const file = yamlFile('transport:\n  heartbeat: false\n  serialization: protobuf\n');
    const config = new ConfigSource({ object, file, env: { DTX_TRANSPORT_SERIALIZATION: 'kryo' } });
    assert.equal(config.getString('transport.compressor'), 'none');
    assert.equal(config.getBoolean('transport.heartbeat'), false);
    assert.equal(config.getString('transport.serialization'), 'kryo');
  });
});
