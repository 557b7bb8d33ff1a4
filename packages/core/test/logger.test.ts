import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { ConfigError, createConsoleLogger, type Logger, noopLogger } from '../src/index.js';

function capture() {
  const lines: Record<string, unknown>[] = [];
  return { lines, destination: { write: (line: string) => lines.push(JSON.parse(line)) } };
}

describe('createConsoleLogger', () => {
  it('writes one JSON line per call in pino shape, dropping levels below the threshold', () => {
    const { lines, destination } = capture();
    const log = createConsoleLogger('info', destination);
    log.debug('hidden');
    log.info('started');
    log.warn({ xid: '127.0.0.1:8091:1', branchId: 2612341069705662467n }, 'retrying');
    assert.equal(lines.length, 2);
    assert.equal(lines[0]?.level, 30);
    assert.equal(lines[0]?.msg, 'started');
    assert.equal(typeof lines[0]?.time, 'number');
    assert.deepEqual(
      { level: lines[1]?.level, xid: lines[1]?.xid, branchId: lines[1]?.branchId, msg: lines[1]?.msg },
      { level: 40, xid: '127.0.0.1:8091:1', branchId: '2612341069705662467', msg: 'retrying' },
    );
  });

  it('adds child bindings to every line', () => {
    const { lines, destination } = capture();
    const log = createConsoleLogger('trace', destination).child({ module: 'rm' }).child({ resourceId: 'r1' });
    log.trace({ n: 1 });
    assert.deepEqual(
      { module: lines[0]?.module, resourceId: lines[0]?.resourceId, n: lines[0]?.n, level: lines[0]?.level },
      { module: 'rm', resourceId: 'r1', n: 1, level: 10 },
    );
    assert.equal('msg' in (lines[0] ?? {}), false);
  });

  it('serialises errors with their code and cause', () => {
    const { lines, destination } = capture();
    const log = createConsoleLogger('error', destination);
    const err = new ConfigError('a.b', 'bad', { cause: new Error('root') });
    log.error({ err }, 'failed');
    log.fatal(err);
    const logged = lines[0]?.err as Record<string, unknown>;
    assert.equal(logged.type, 'ConfigError');
    assert.equal(logged.code, 'CONFIG_INVALID');
    assert.match(String(logged.stack), /ConfigError/);
    assert.equal((logged.cause as Record<string, unknown>).message, 'root');
    assert.equal(lines[1]?.level, 60);
    assert.equal(lines[1]?.msg, err.message);
    assert.equal((lines[1]?.err as Record<string, unknown> | undefined)?.type, 'ConfigError');
  });

  it('does not throw on a circular record', () => {
    const { lines, destination } = capture();
    const a: Record<string, unknown> = {};
    a.self = a;
    createConsoleLogger('info', destination).info(a, 'loop');
    assert.equal(lines[0]?.msg, 'unserialisable log record');
  });

  it('writes nothing when silent and rejects an unknown level', () => {
    const { lines, destination } = capture();
    createConsoleLogger('silent', destination).fatal('x');
    assert.equal(lines.length, 0);
    assert.throws(() => createConsoleLogger('loud' as 'info', destination), /unknown log level/);
  });
});

describe('noopLogger', () => {
  it('accepts every call and returns itself as a child', () => {
    const log: Logger = noopLogger;
    log.info('x');
    log.error({ a: 1 }, 'y');
    assert.equal(log.child({ a: 1 }), noopLogger);
  });
});
