/**
 * Registration against an in-process TC over real sockets: RegisterTM/RegisterRM answers, the
 * close of a session that sends a transaction request before registering (Seata's
 * ServerOnRequestProcessor), and the HMAC-SHA256 registration auth.
 */
import assert from 'node:assert/strict';
import { createHmac } from 'node:crypto';
import { describe, test } from 'node:test';
import { FrameType, ResultCode, TypeCode } from '@dtx/protocol';
import { FakeRm, RegistrationRefusedError, WirePeer } from '@dtx/testing';
import { COMPAT_VERSION } from '../src/index.js';
import { HOST, startTc, TCC_ACTION, Tm, within } from './helpers.js';

const GROUP = 'default_tx_group';
const SECRET = 'dtx-test-secret';

/** Seata's DefaultAuthSigner: base64(HmacSHA256(secretKey, "group,ip,timestamp")). */
function sign(secret: string, group: string, ip: string, timestamp: number): string {
  return createHmac('sha256', secret).update(`${group},${ip},${timestamp}`).digest('base64');
}

/** The auth extraData a Java TM sends (RegisterTMRequest with ak/digest/timestamp/authVersion). */
function authExtraData(digest: string, timestamp: number, withIp = true): string {
  return `ak=test-ak\ndigest=${digest}\ntimestamp=${timestamp}\nauthVersion=V4\nvgroup=${GROUP}\n${withIp ? 'ip=127.0.0.1\n' : ''}`;
}

async function connect(t: import('node:test').TestContext, port: number): Promise<WirePeer> {
  const peer = await within(WirePeer.connect(port, HOST), 'connect');
  t.after(() => peer.close());
  return peer;
}

describe('registration', () => {
  test('a RegisterTM sent ONEWAY, as seata-go sends it, is still answered', async (t) => {
    const { port } = await startTc(t);
    const peer = await connect(t, port);
    const answer = await within(
      peer.request(
        {
          typeCode: TypeCode.REG_CLT,
          version: '1.1.0',
          applicationId: 'go-app',
          transactionServiceGroup: GROUP,
          extraData: null,
        },
        FrameType.REQUEST_ONEWAY,
      ),
      'RegisterTM (ONEWAY)',
    );
    assert.deepEqual(answer, {
      typeCode: TypeCode.REG_CLT_RESULT,
      identified: true,
      version: COMPAT_VERSION,
    });
    // Registered: a begin now works instead of closing the session.
    const begin = await within(
      peer.request({ typeCode: TypeCode.GLOBAL_BEGIN, timeout: 1000, transactionName: 'go' }),
      'begin',
    );
    assert.equal(begin.typeCode, TypeCode.GLOBAL_BEGIN_RESULT);
    assert.equal('resultCode' in begin && begin.resultCode, ResultCode.Success);
  });

  test('RegisterTM and RegisterRM are answered identified with the TC version', async (t) => {
    const { port } = await startTc(t);
    const peer = await connect(t, port);
    const tm = await within(
      peer.request({
        typeCode: TypeCode.REG_CLT,
        version: '2.2.0',
        applicationId: 'demo-app',
        transactionServiceGroup: GROUP,
        extraData: `vgroup=${GROUP}\nip=127.0.0.1\n`,
      }),
      'RegisterTM',
    );
    assert.deepEqual(tm, { typeCode: TypeCode.REG_CLT_RESULT, identified: true, version: COMPAT_VERSION });
    assert.equal(COMPAT_VERSION, '2.2.0');

    // The same channel then registers as RM, as a Java client sharing one channel would.
    const rm = await within(
      peer.request({
        typeCode: TypeCode.REG_RM,
        version: '1.5.2',
        applicationId: 'demo-app',
        transactionServiceGroup: GROUP,
        extraData: null,
        resourceIds: `${TCC_ACTION},other-action`,
      }),
      'RegisterRM',
    );
    assert.deepEqual(rm, { typeCode: TypeCode.REG_RM_RESULT, identified: true, version: '2.2.0' });

    // Registered: a begin on this session is served.
    const begin = await within(
      peer.request({ typeCode: TypeCode.GLOBAL_BEGIN, timeout: 60000, transactionName: 'x' }),
      'begin',
    );
    assert.equal(begin.typeCode, TypeCode.GLOBAL_BEGIN_RESULT);
    assert.equal('resultCode' in begin && begin.resultCode, ResultCode.Success);
  });

  test('a RegisterRM for a later resource sent ONEWAY (as Java does) adds the resource', async (t) => {
    const { port } = await startTc(t);
    const tm = await Tm.connect(t, port);
    const rm = await FakeRm.connect({ port, host: HOST, applicationId: 'rm-app', resourceIds: ['first'] });
    t.after(() => rm.close());
    rm.peer.write({
      id: 99,
      frameType: FrameType.REQUEST_ONEWAY,
      body: {
        typeCode: TypeCode.REG_RM,
        version: '2.2.0',
        applicationId: 'rm-app',
        transactionServiceGroup: GROUP,
        extraData: null,
        resourceIds: 'second',
      },
    });
    const xid = await tm.begin();
    // Phase two of a branch on "second" must find this session through the new resource.
    const branchId = await rm.registerBranchOk(xid, { branchType: 1, resourceId: 'second' });
    const r = await tm.commit(xid);
    assert.equal(r.globalStatus, 9 /* Committed */);
    assert.deepEqual(
      rm.commits.map((c) => [c.branchId, c.resourceId]),
      [[branchId, 'second']],
    );
  });

  test('a transaction request before registration closes the session', async (t) => {
    const { port } = await startTc(t);
    const peer = await connect(t, port);
    const answer = peer.request({ typeCode: TypeCode.GLOBAL_BEGIN, timeout: 60000, transactionName: 'x' });
    answer.catch(() => {});
    const closed = await within(peer.closed, 'the TC to close an unregistered session');
    assert.ok(closed instanceof Error);
    await assert.rejects(answer, 'the request must not be answered');

    // The TC is still up for a well-behaved client.
    const tm = await Tm.connect(t, port);
    assert.match(await tm.begin(), /^127\.0\.0\.1:\d+:\d+$/);
  });

  test('a branch register before RM registration closes the session too', async (t) => {
    const { port } = await startTc(t);
    const peer = await connect(t, port);
    peer
      .request({
        typeCode: TypeCode.BRANCH_REGISTER,
        xid: `127.0.0.1:${port}:1`,
        branchType: 1,
        resourceId: TCC_ACTION,
        lockKey: null,
        applicationData: null,
      })
      .catch(() => {});
    assert.ok((await within(peer.closed, 'close')) instanceof Error);
  });
});

describe('registration auth', () => {
  const auth = { enabled: true, accessKey: null, secretKey: SECRET, maxClockSkewMs: 60_000 };

  test('the right HMAC-SHA256 digest of "group,ip,timestamp" is accepted', async (t) => {
    const { port } = await startTc(t, { coordinator: { auth } });
    const peer = await connect(t, port);
    const ts = Date.now();
    const identified = await within(
      peer.registerTm('demo-app', GROUP, '2.2.0', authExtraData(sign(SECRET, GROUP, '127.0.0.1', ts), ts)),
      'RegisterTM',
    );
    assert.equal(identified, true);
    const begin = await within(
      peer.request({ typeCode: TypeCode.GLOBAL_BEGIN, timeout: 60000, transactionName: 'x' }),
      'begin',
    );
    assert.equal('resultCode' in begin && begin.resultCode, ResultCode.Success);
  });

  test('a wrong digest, a wrong key or a stale timestamp is refused, and the session stays unregistered', async (t) => {
    const { port } = await startTc(t, { coordinator: { auth } });
    const ts = Date.now();
    const cases: Array<[string, string]> = [
      ['garbage digest', authExtraData('bm90IGEgZGlnZXN0', ts)],
      ['digest with another key', authExtraData(sign('other-secret', GROUP, '127.0.0.1', ts), ts)],
      ['digest over another ip', authExtraData(sign(SECRET, GROUP, '10.0.0.1', ts), ts)],
      [
        'stale timestamp',
        authExtraData(sign(SECRET, GROUP, '127.0.0.1', ts - 10 * 60_000), ts - 10 * 60_000),
      ],
      ['no auth data', `vgroup=${GROUP}\nip=127.0.0.1\n`],
    ];
    for (const [what, extra] of cases) {
      const peer = await connect(t, port);
      const r = await within(
        peer.request({
          typeCode: TypeCode.REG_CLT,
          version: '2.2.0',
          applicationId: 'demo-app',
          transactionServiceGroup: GROUP,
          extraData: extra,
        }),
        `RegisterTM (${what})`,
      );
      assert.deepEqual(r, { typeCode: TypeCode.REG_CLT_RESULT, identified: false, version: '2.2.0' }, what);
      // Refused means not registered: a transaction request now closes the session.
      peer.request({ typeCode: TypeCode.GLOBAL_BEGIN, timeout: 60000, transactionName: 'x' }).catch(() => {});
      await within(peer.closed, `close after a refused registration (${what})`);
    }
  });

  test('an RM is checked as well; without an ip entry the digest covers the peer ip', async (t) => {
    const { port } = await startTc(t, { coordinator: { auth } });
    const ts = Date.now();
    const rm = await FakeRm.connect({
      port,
      host: HOST,
      applicationId: 'rm-app',
      resourceIds: [TCC_ACTION],
      extraData: authExtraData(sign(SECRET, GROUP, '127.0.0.1', ts), ts, false),
    });
    t.after(() => rm.close());
    await assert.rejects(
      FakeRm.connect({
        port,
        host: HOST,
        applicationId: 'rm-app',
        resourceIds: [TCC_ACTION],
        extraData: authExtraData(sign('wrong', GROUP, '127.0.0.1', ts), ts, false),
      }),
      RegistrationRefusedError,
    );
  });
});
