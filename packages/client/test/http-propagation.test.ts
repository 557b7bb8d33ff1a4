/**
 * XID propagation over HTTP: express, fastify and koa apps (on 127.0.0.1:0) bind the TX_XID
 * header for the handler and its awaited continuations; fetch inside a global transaction sends
 * TX_XID once installFetchPropagation is on (checked at a plain node:http server); xidHeaders()
 * and xidFromHeaders(). The XIDs are real: begun on an in-process TC.
 */
import assert from 'node:assert/strict';
import http from 'node:http';
import type { AddressInfo } from 'node:net';
import { describe, it, type TestContext } from 'node:test';
import { setImmediate as tick } from 'node:timers/promises';
import express from 'express';
import Fastify from 'fastify';
import Koa from 'koa';
import {
  expressXid,
  fastifyXid,
  getXid,
  installFetchPropagation,
  koaXid,
  XID_HEADER,
  xidFromHeaders,
  xidHeaders,
} from '../src/index.js';
import { HOST, sleep, startClient, startTc, within } from './helpers.js';

/** What a handler reports: the XID at entry and after awaiting a timer and a tick. */
interface Seen {
  atEntry: string | null;
  afterAwait: string | null;
}

async function observe(): Promise<Seen> {
  const atEntry = getXid();
  await sleep(5);
  await tick();
  return { atEntry, afterAwait: getXid() };
}

function listen(t: TestContext, server: http.Server): Promise<string> {
  return new Promise((resolve) => {
    server.listen(0, HOST, () => {
      t.after(() => new Promise<void>((r) => server.close(() => r())));
      resolve(`http://${HOST}:${(server.address() as AddressInfo).port}`);
    });
  });
}

/** A real XID from a transaction that stays open while `fn` runs. */
async function withRealXid(t: TestContext, fn: (xid: string) => Promise<void>): Promise<void> {
  const tc = await startTc(t);
  const client = await startClient(t, tc.address, { applicationId: 'http-test' });
  await client.globalTransaction(async () => fn(getXid() as string));
}

async function call(url: string, headers: Record<string, string>, body?: unknown): Promise<Seen> {
  const res = await within(
    fetch(url, {
      method: body === undefined ? 'GET' : 'POST',
      headers: body === undefined ? headers : { ...headers, 'content-type': 'application/json' },
      ...(body === undefined ? {} : { body: JSON.stringify(body) }),
    }),
    `request to ${url}`,
  );
  assert.equal(res.status, 200, `${url} answered ${res.status}: ${await res.clone().text()}`);
  return (await res.json()) as Seen;
}

describe('inbound TX_XID', () => {
  it('express: expressXid binds the XID for the handler, also after a JSON body parser', async (t) => {
    const app = express();
    app.use(expressXid());
    app.use(express.json());
    app.get('/seen', async (_req, res) => {
      res.json(await observe());
    });
    app.post('/seen', async (req, res) => {
      assert.deepEqual(req.body, { amount: 5 });
      res.json(await observe());
    });
    const base = await listen(t, http.createServer(app));
    await withRealXid(t, async (xid) => {
      assert.deepEqual(await call(`${base}/seen`, { [XID_HEADER]: xid }), { atEntry: xid, afterAwait: xid });
      assert.deepEqual(await call(`${base}/seen`, { [XID_HEADER]: xid }, { amount: 5 }), {
        atEntry: xid,
        afterAwait: xid,
      });
    });
    assert.deepEqual(await call(`${base}/seen`, {}), { atEntry: null, afterAwait: null });
  });

  it('fastify: the fastifyXid plugin wraps the routes registered after it, GET and POST', async (t) => {
    const app = Fastify();
    await app.register(fastifyXid);
    app.get('/seen', async () => observe());
    app.post('/seen', async (req) => {
      assert.deepEqual(req.body, { amount: 5 });
      return observe();
    });
    await app.listen({ port: 0, host: HOST });
    t.after(() => app.close());
    const base = `http://${HOST}:${(app.server.address() as AddressInfo).port}`;
    await withRealXid(t, async (xid) => {
      assert.deepEqual(await call(`${base}/seen`, { [XID_HEADER]: xid }), { atEntry: xid, afterAwait: xid });
      assert.deepEqual(await call(`${base}/seen`, { [XID_HEADER]: xid }, { amount: 5 }), {
        atEntry: xid,
        afterAwait: xid,
      });
    });
    assert.deepEqual(await call(`${base}/seen`, {}), { atEntry: null, afterAwait: null });
  });

  it('koa: koaXid binds the XID for the downstream middleware', async (t) => {
    const app = new Koa();
    app.use(koaXid());
    app.use(async (ctx) => {
      ctx.body = await observe();
    });
    const base = await listen(t, http.createServer(app.callback()));
    await withRealXid(t, async (xid) => {
      assert.deepEqual(await call(`${base}/seen`, { [XID_HEADER]: xid }), { atEntry: xid, afterAwait: xid });
      // Header names are case-insensitive.
      assert.deepEqual(await call(`${base}/seen`, { tx_xid: xid }), { atEntry: xid, afterAwait: xid });
    });
    assert.deepEqual(await call(`${base}/seen`, {}), { atEntry: null, afterAwait: null });
  });

  it('concurrent requests with different XIDs each see their own', async (t) => {
    const app = express();
    app.use(expressXid());
    app.get('/seen', async (_req, res) => {
      res.json(await observe());
    });
    const base = await listen(t, http.createServer(app));
    const xids = Array.from({ length: 20 }, (_, i) => `127.0.0.1:8091:${1000 + i}`);
    const results = await Promise.all(xids.map((xid) => call(`${base}/seen`, { [XID_HEADER]: xid })));
    assert.deepEqual(
      results,
      xids.map((xid) => ({ atEntry: xid, afterAwait: xid })),
    );
  });
});

describe('outbound TX_XID', () => {
  it('installFetchPropagation: fetch inside a global transaction sends TX_XID, outside it does not', async (t) => {
    const received: Array<string | undefined> = [];
    const other: Array<string | undefined> = [];
    const server = http.createServer((req, res) => {
      received.push(req.headers.tx_xid as string | undefined);
      other.push(req.headers['x-other'] as string | undefined);
      res.end('ok');
    });
    const base = await listen(t, server);
    const undo = installFetchPropagation();
    t.after(undo);
    let inside = '';
    await withRealXid(t, async (xid) => {
      inside = xid;
      await (await fetch(`${base}/a`)).text();
      await (await fetch(`${base}/b`, { headers: { 'x-other': 'kept' } })).text();
      await (await fetch(new Request(`${base}/c`, { headers: { 'x-other': 'from-request' } }))).text();
      // An explicit header wins.
      await (await fetch(`${base}/d`, { headers: { [XID_HEADER]: 'explicit' } })).text();
    });
    await (await fetch(`${base}/e`)).text();
    assert.deepEqual(received, [inside, inside, inside, 'explicit', undefined]);
    assert.deepEqual(other, [undefined, 'kept', 'from-request', undefined, undefined]);

    undo();
    received.length = 0;
    await withRealXid(t, async () => {
      await (await fetch(`${base}/f`)).text();
    });
    assert.deepEqual(received, [undefined], 'undo restores the original fetch');
  });

  it('xidHeaders() is the header to add inside a transaction and empty outside', async (t) => {
    assert.deepEqual(xidHeaders(), {});
    await withRealXid(t, async (xid) => {
      assert.deepEqual(xidHeaders(), { [XID_HEADER]: xid });
    });
  });

  it('xidFromHeaders() reads Node header objects in any case, arrays and fetch Headers', () => {
    assert.equal(xidFromHeaders({ tx_xid: 'a:1:2' }), 'a:1:2');
    assert.equal(xidFromHeaders({ TX_XID: 'a:1:3' }), 'a:1:3');
    assert.equal(xidFromHeaders({ tx_xid: ['a:1:4', 'a:1:5'] }), 'a:1:4');
    assert.equal(xidFromHeaders({ tx_xid: '' }), null);
    assert.equal(xidFromHeaders({}), null);
    assert.equal(xidFromHeaders(new Headers({ Tx_Xid: 'a:1:6' })), 'a:1:6');
    assert.equal(xidFromHeaders(new Headers()), null);
  });
});
