import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { buildXid, DtxError, parseXid, XidError, xidAddress } from '../src/index.js';

const VECTOR_XID = '127.0.0.1:8091:2612341069705662465';

describe('XID', () => {
  it('builds ip:port:transactionId', () => {
    assert.equal(buildXid('127.0.0.1', 8091, 2612341069705662465n), VECTOR_XID);
    assert.equal(buildXid('::1', 8091, 123n), '::1:8091:123');
  });

  it('parses the XID from the test vectors', () => {
    assert.deepEqual(parseXid(VECTOR_XID), {
      ip: '127.0.0.1',
      port: 8091,
      address: '127.0.0.1:8091',
      transactionId: 2612341069705662465n,
    });
  });

  it('parses IPv6 XIDs by their last two colons', () => {
    assert.deepEqual(parseXid('::1:8091:123'), {
      ip: '::1',
      port: 8091,
      address: '::1:8091',
      transactionId: 123n,
    });
    assert.deepEqual(parseXid('fe80::1:8091:42'), {
      ip: 'fe80::1',
      port: 8091,
      address: 'fe80::1:8091',
      transactionId: 42n,
    });
  });

  it('round-trips the largest 63-bit id without losing precision', () => {
    const max = (1n << 63n) - 1n;
    assert.equal(parseXid(buildXid('10.0.0.1', 65535, max)).transactionId, max);
  });

  const malformed = [
    '',
    '127.0.0.1',
    '127.0.0.1:8091',
    ':8091:1',
    '127.0.0.1:8091:',
    '127.0.0.1::1',
    '127.0.0.1:8091:12a',
    '127.0.0.1:0:1',
    '127.0.0.1:65536:1',
    '127.0.0.1:80a:1',
    '127.0.0.1:8091:-1',
    '127.0.0.1:8091:9223372036854775808',
  ];
  for (const xid of malformed) {
    it(`rejects ${JSON.stringify(xid)} with an XidError and xidAddress() null`, () => {
      assert.throws(
        () => parseXid(xid),
        (err: unknown) =>
          err instanceof XidError &&
          err instanceof DtxError &&
          err.code === 'INVALID_XID' &&
          err.xid === xid &&
          err.message.includes(JSON.stringify(xid)),
      );
      if (!xid.endsWith('9223372036854775808')) assert.equal(xidAddress(xid), null);
    });
  }

  it('xidAddress returns the ip:port prefix', () => {
    assert.equal(xidAddress(VECTOR_XID), '127.0.0.1:8091');
    assert.equal(xidAddress('fe80::1:8091:42'), 'fe80::1:8091');
    assert.equal(xidAddress('::1:8091:123'), '::1:8091');
  });
});
