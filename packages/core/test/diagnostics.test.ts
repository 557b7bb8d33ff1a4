import assert from 'node:assert/strict';
import diagnosticsChannel from 'node:diagnostics_channel';
import { describe, it } from 'node:test';
import { Channels, hasSubscribers, publish } from '../src/index.js';

describe('diagnostics channels', () => {
  it('are all named dtx:<area>:<operation>, once each', () => {
    const names = Object.values(Channels);
    assert.equal(new Set(names).size, names.length);
    for (const name of names) assert.match(name, /^dtx:[a-z]+:[a-z]+(-[a-z]+)*$/);
    for (const required of [
      'dtx:remoting:session-open',
      'dtx:remoting:session-close',
      'dtx:remoting:request',
      'dtx:remoting:response',
      'dtx:remoting:protocol-error',
      'dtx:tm:begin',
      'dtx:tm:commit',
      'dtx:tm:rollback',
      'dtx:rm:branch-register',
      'dtx:rm:phase-two',
      'dtx:tcc:fence-alert',
      'dtx:tc:global-status',
      'dtx:store:write',
    ]) {
      assert.ok((names as string[]).includes(required), required);
    }
  });

  it('delivers payloads, built from a thunk or given, to subscribers', () => {
    const received: unknown[] = [];
    const onMessage = (message: unknown, name: string | symbol) => received.push([name, message]);
    diagnosticsChannel.subscribe(Channels.TM_BEGIN, onMessage);
    try {
      assert.equal(hasSubscribers(Channels.TM_BEGIN), true);
      publish(Channels.TM_BEGIN, { xid: 'a:1:1' });
      publish(Channels.TM_BEGIN, () => ({ xid: 'a:1:2' }));
    } finally {
      diagnosticsChannel.unsubscribe(Channels.TM_BEGIN, onMessage);
    }
    assert.deepEqual(received, [
      ['dtx:tm:begin', { xid: 'a:1:1' }],
      ['dtx:tm:begin', { xid: 'a:1:2' }],
    ]);
  });

  it('publishes nothing, and never builds the payload, without subscribers', () => {
    assert.equal(hasSubscribers(Channels.TM_COMMIT), false);
    let built = 0;
    publish(Channels.TM_COMMIT, () => {
      built++;
      return {};
    });
    assert.equal(built, 0);
    // A subscriber on another channel does not make this one publish.
    const other = () => {};
    diagnosticsChannel.subscribe(Channels.TM_ROLLBACK, other);
    try {
      publish(Channels.TM_COMMIT, () => {
        built++;
        return {};
      });
      assert.equal(built, 0);
    } finally {
      diagnosticsChannel.unsubscribe(Channels.TM_ROLLBACK, other);
    }
    assert.equal(hasSubscribers(Channels.TM_ROLLBACK), false);
  });

  it('refuses a channel name that is not one of dtx', () => {
    assert.throws(() => publish('dtx:nope:nothing' as never, {}), /unknown dtx channel/);
  });
});
