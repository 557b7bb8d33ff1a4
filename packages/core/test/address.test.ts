import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { ConfigError, ConfigSource, parseHostPort, resolveTcAddresses } from '../src/index.js';

const config = (object: Record<string, unknown>, env?: Record<string, string>) =>
  new ConfigSource({ object, env });

describe('resolveTcAddresses', () => {
  it('maps the group to its cluster and splits the grouplist on ; and ,', () => {
    const c = config({
      'service.vgroupMapping.order_group': 'east',
      'service.east.grouplist': '10.0.0.1:8091;10.0.0.2:8092, tc.example.com:8093;',
    });
    assert.deepEqual(resolveTcAddresses(c, 'order_group'), [
      { host: '10.0.0.1', port: 8091 },
      { host: '10.0.0.2', port: 8092 },
      { host: 'tc.example.com', port: 8093 },
    ]);
  });

  it('maps default_tx_group to the default cluster when no mapping is set', () => {
    const c = config({ 'service.default.grouplist': '127.0.0.1:8091' });
    assert.deepEqual(resolveTcAddresses(c, 'default_tx_group'), [{ host: '127.0.0.1', port: 8091 }]);
  });

  it('follows an explicit mapping of default_tx_group', () => {
    const c = config({
      'service.vgroupMapping.default_tx_group': 'other',
      'service.default.grouplist': '127.0.0.1:1',
      'service.other.grouplist': '127.0.0.1:2',
    });
    assert.deepEqual(resolveTcAddresses(c, 'default_tx_group'), [{ host: '127.0.0.1', port: 2 }]);
  });

  it("requires a mapping for any other group, with Seata's message", () => {
    const c = config({ 'service.default.grouplist': '127.0.0.1:8091' });
    assert.throws(
      () => resolveTcAddresses(c, 'my_group'),
      (err: unknown) =>
        err instanceof ConfigError &&
        err.key === 'service.vgroupMapping.my_group' &&
        err.message.includes('service.vgroupMapping.my_group configuration item is required'),
    );
  });

  it('requires the grouplist of the mapped cluster', () => {
    const c = config({ 'service.vgroupMapping.g': 'east', 'service.west.grouplist': '127.0.0.1:8091' });
    assert.throws(
      () => resolveTcAddresses(c, 'g'),
      (err: unknown) => err instanceof ConfigError && err.key === 'service.east.grouplist',
    );
    assert.throws(
      () => resolveTcAddresses(config({ 'service.default.grouplist': ' ; ' }), 'default_tx_group'),
      (err: unknown) => err instanceof ConfigError && err.key === 'service.default.grouplist',
    );
  });

  it('rejects a malformed grouplist entry, naming the key and the entry', () => {
    for (const bad of [
      '127.0.0.1',
      '127.0.0.1:0',
      '127.0.0.1:70000',
      'host:80x',
      ':8091',
      'bad host:1',
      '[zz]:8091',
    ]) {
      const c = config({ 'service.default.grouplist': `127.0.0.1:8091;${bad}` });
      assert.throws(
        () => resolveTcAddresses(c, 'default_tx_group'),
        (err: unknown) =>
          err instanceof ConfigError &&
          err.key === 'service.default.grouplist' &&
          err.message.includes(JSON.stringify(bad.trim())),
        bad,
      );
    }
  });

  it('finds a group and cluster set through the environment, whose names are lower-cased', () => {
    const c = config(
      {},
      { DTX_SERVICE_VGROUPMAPPING_ORDER_GROUP: 'East', DTX_SERVICE_EAST_GROUPLIST: '10.0.0.1:8091' },
    );
    assert.deepEqual(resolveTcAddresses(c, 'Order_Group'), [{ host: '10.0.0.1', port: 8091 }]);
  });
});

describe('parseHostPort', () => {
  it('reads IPv4, names, bracketed and bare IPv6', () => {
    assert.deepEqual(parseHostPort('127.0.0.1:8091', 'k'), { host: '127.0.0.1', port: 8091 });
    assert.deepEqual(parseHostPort('localhost:1', 'k'), { host: 'localhost', port: 1 });
    assert.deepEqual(parseHostPort('[::1]:8091', 'k'), { host: '::1', port: 8091 });
    assert.deepEqual(parseHostPort('::1:8091', 'k'), { host: '::1', port: 8091 });
    assert.deepEqual(parseHostPort('fe80::1:65535', 'k'), { host: 'fe80::1', port: 65535 });
  });

  it('names the key it was given', () => {
    assert.throws(
      () => parseHostPort('nope', 'remoting.server.address'),
      (err: unknown) =>
        err instanceof ConfigError && err.key === 'remoting.server.address' && /no port/.test(err.message),
    );
    assert.throws(() => parseHostPort('[::1:8091', 'k'), ConfigError);
  });
});
