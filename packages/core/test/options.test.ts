import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { bool, ConfigError, integerIn, oneOf, parseOptions, positiveMs, str } from '../src/index.js';

interface ClientOptions {
  /** @default 5000 */
  heartbeatMs: number;
  /** @default 'XID' */
  loadBalance: 'XID' | 'Random' | 'RoundRobin';
  /** @default 3 */
  retries: number;
  /** @default true */
  batch: boolean;
  /** @default 'dtx' */
  applicationId: string;
  /** @default 'plain' — no validator: checked against the default's type */
  label: string;
}

const DEFAULT_CLIENT_OPTIONS: ClientOptions = {
  heartbeatMs: 5000,
  loadBalance: 'XID',
  retries: 3,
  batch: true,
  applicationId: 'dtx',
  label: 'plain',
};

function parseClientOptions(input?: Partial<ClientOptions>): ClientOptions {
  return parseOptions(
    DEFAULT_CLIENT_OPTIONS,
    input,
    {
      heartbeatMs: positiveMs(),
      loadBalance: oneOf('XID', 'Random', 'RoundRobin'),
      retries: integerIn(0, 10),
      batch: bool(),
      applicationId: str(),
    },
    'remoting.client',
  );
}

function throwsFor(input: unknown, key: string, pattern: RegExp): void {
  assert.throws(
    () => parseClientOptions(input as Partial<ClientOptions>),
    (err: unknown) => {
      assert.ok(err instanceof ConfigError, String(err));
      assert.equal(err.key, key);
      assert.match(err.message, pattern);
      return true;
    },
  );
}

describe('parseOptions', () => {
  it('returns a copy of the defaults for no input', () => {
    const parsed = parseClientOptions();
    assert.deepEqual(parsed, DEFAULT_CLIENT_OPTIONS);
    assert.notEqual(parsed, DEFAULT_CLIENT_OPTIONS);
  });

  it('merges and converts valid input; undefined keeps the default', () => {
    assert.deepEqual(
      parseClientOptions({
        heartbeatMs: '2s' as unknown as number,
        loadBalance: 'Random',
        retries: undefined,
        batch: false,
      }),
      { ...DEFAULT_CLIENT_OPTIONS, heartbeatMs: 2000, loadBalance: 'Random', batch: false },
    );
  });

  it('rejects an unknown key with its full path and the known keys', () => {
    throwsFor({ heartbeat: 1 }, 'remoting.client.heartbeat', /not an option.*heartbeatMs/);
  });

  it('rejects invalid values with the full key path', () => {
    throwsFor({ heartbeatMs: 0 }, 'remoting.client.heartbeatMs', /duration above 0 .*got 0$/);
    throwsFor({ heartbeatMs: 'soon' }, 'remoting.client.heartbeatMs', /got "soon"/);
    throwsFor({ loadBalance: 'Hash' }, 'remoting.client.loadBalance', /one of "XID", "Random", "RoundRobin"/);
    throwsFor({ retries: 11 }, 'remoting.client.retries', /integer in 0\.\.10/);
    throwsFor({ retries: 1.5 }, 'remoting.client.retries', /integer/);
    throwsFor({ batch: 'true' }, 'remoting.client.batch', /true or false/);
    throwsFor({ applicationId: '' }, 'remoting.client.applicationId', /non-empty string/);
    throwsFor({ label: 5 }, 'remoting.client.label', /must be a string, got 5/);
  });

  it('rejects input that is not an object', () => {
    throwsFor('fast', 'remoting.client', /object of options/);
    throwsFor([1], 'remoting.client', /object of options/);
  });

  it('accepts any value for a key whose default is undefined and has no validator', () => {
    const parsed = parseOptions<{ hook: (() => void) | undefined }>(
      { hook: undefined },
      { hook: () => {} },
      {},
      'x',
    );
    assert.equal(typeof parsed.hook, 'function');
  });
});
