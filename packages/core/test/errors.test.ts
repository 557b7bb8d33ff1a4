import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { EXCEPTION_CODE_ORDINALS } from '@dtx/protocol';
import {
  BackPressureError,
  ConfigError,
  ConnectionError,
  DtxError,
  ErrorCode,
  LimitError,
  TimeoutError,
  TransactionError,
  XidError,
} from '../src/index.js';

describe('ErrorCode', () => {
  it('lists every TransactionExceptionCode of both dialects under its own name', () => {
    for (const code of [...EXCEPTION_CODE_ORDINALS.v1, ...EXCEPTION_CODE_ORDINALS.v2]) {
      assert.equal((ErrorCode as Record<string, string>)[code], code);
    }
  });

  it('maps each key to itself, so the key and the code never differ', () => {
    for (const [key, value] of Object.entries(ErrorCode)) assert.equal(value, key);
  });

  it('includes every code the error classes use', () => {
    const codes = new Set<string>(Object.values(ErrorCode));
    for (const code of [
      'CONFIG_INVALID',
      'TIMEOUT',
      'CONNECTION_CLOSED',
      'CONNECTION_REFUSED',
      'SELF_CONNECT',
      'NOT_CONNECTED',
      'DIAL_TIMEOUT',
      'BACK_PRESSURE',
      'LIMIT_EXCEEDED',
      'INVALID_XID',
    ]) {
      assert.ok(codes.has(code), code);
    }
  });
});

describe('error classes', () => {
  const cases: Array<[DtxError, string, string]> = [
    [new TransactionError('LockKeyConflict', 'row locked'), 'TransactionError', 'LockKeyConflict'],
    [new ConfigError('a.b', 'bad'), 'ConfigError', 'CONFIG_INVALID'],
    [new TimeoutError('slow'), 'TimeoutError', 'TIMEOUT'],
    [new ConnectionError('SELF_CONNECT', 'loop'), 'ConnectionError', 'SELF_CONNECT'],
    [new BackPressureError('full'), 'BackPressureError', 'BACK_PRESSURE'],
    [new LimitError('remoting.maxPendingRequests', 1000), 'LimitError', 'LIMIT_EXCEEDED'],
    [new XidError('x', 'bad'), 'XidError', 'INVALID_XID'],
  ];
  for (const [err, name, code] of cases) {
    it(`${name} has its fixed name and code ${code}`, () => {
      assert.ok(err instanceof DtxError);
      assert.ok(err instanceof Error);
      assert.equal(err.name, name);
      assert.equal(err.code, code);
      assert.ok(err.message.startsWith(`${code}: `), err.message);
      assert.ok(err.stack?.startsWith(`${name}: ${code}: `), err.stack);
      assert.ok(Object.values(ErrorCode).includes(code as ErrorCode));
    });
  }

  it('carries cause and details', () => {
    const cause = new Error('socket hang up');
    const err = new ConnectionError('CONNECTION_CLOSED', 'closed', {
      cause,
      details: { address: '127.0.0.1:8091' },
    });
    assert.equal(err.cause, cause);
    assert.deepEqual(err.details, { address: '127.0.0.1:8091' });
    assert.equal(new TimeoutError('slow').cause, undefined);
    assert.equal('cause' in new TimeoutError('slow'), false);
    assert.equal(new TimeoutError('slow', { timeoutMs: 30000 }).timeoutMs, 30000);
  });

  it('TransactionError carries the global and branch status', () => {
    const err = new TransactionError('GlobalTransactionStatusInvalid', 'not Begin', {
      globalStatus: 2,
      branchStatus: 1,
    });
    assert.equal(err.globalStatus, 2);
    assert.equal(err.branchStatus, 1);
    assert.equal(new TransactionError('IO', 'x').globalStatus, undefined);
  });

  it('ConfigError always names its key', () => {
    const err = new ConfigError('service.vgroupMapping.my_group', 'is required');
    assert.equal(err.key, 'service.vgroupMapping.my_group');
    assert.match(err.message, /service\.vgroupMapping\.my_group/);
    const named = new ConfigError('a.b', 'a.b must be a number');
    assert.equal(named.message, 'CONFIG_INVALID: a.b must be a number');
  });

  it('LimitError names the limit and its value', () => {
    const err = new LimitError('server.applicationDataLimit', 64000);
    assert.equal(err.limit, 'server.applicationDataLimit');
    assert.equal(err.value, 64000);
    assert.match(err.message, /server\.applicationDataLimit \(64000\)/);
  });
});
