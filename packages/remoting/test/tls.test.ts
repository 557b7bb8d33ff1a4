/**
 * TLS: a Server with a self-signed certificate and a Client trusting it exchange requests over
 * an encrypted session; a client that does not trust the certificate, or speaks plain TCP to
 * the TLS port, never gets a ready session. The key and certificate are made with openssl in a
 * temporary directory; without openssl the suite is skipped, except on CI, where it must run.
 */
import assert from 'node:assert/strict';
import { execFileSync } from 'node:child_process';
import { mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, before, describe, it } from 'node:test';
import type { TLSSocket } from 'node:tls';
import {
  begin,
  echo,
  failsWith,
  readySession,
  socketOf,
  startClient,
  startServer,
  xidOf,
} from './helpers.js';

function hasOpenssl(): boolean {
  try {
    execFileSync('openssl', ['version'], { stdio: 'ignore' });
    return true;
  } catch {
    return false;
  }
}

const skip =
  !hasOpenssl() && process.env.CI !== 'true'
    ? 'openssl is not installed, so no test certificate can be made (on CI, where CI=true, this fails instead)'
    : false;

describe('TLS', { skip }, () => {
  let dir = '';
  let key: Buffer;
  let cert: Buffer;

  before(() => {
    dir = mkdtempSync(join(tmpdir(), 'dtx-remoting-tls-'));
    execFileSync(
      'openssl',
      [
        'req',
        '-x509',
        '-newkey',
        'rsa:2048',
        '-nodes',
        '-days',
        '1',
        '-subj',
        '/CN=localhost',
        '-keyout',
        'k.pem',
        '-out',
        'c.pem',
      ],
      { cwd: dir, stdio: 'ignore' },
    );
    key = readFileSync(join(dir, 'k.pem'));
    cert = readFileSync(join(dir, 'c.pem'));
  });

  after(() => {
    if (dir) rmSync(dir, { recursive: true, force: true });
  });

  it('a client trusting the self-signed certificate exchanges requests over TLS', async (t) => {
    const { server, address } = await startServer(t, { onMessage: echo('tls-') }, { tls: { key, cert } });
    // The address is an IP; the certificate names localhost, so say which name to check.
    const client = startClient(t, [address], {}, { tls: { ca: cert, servername: 'localhost' } });
    const session = await readySession(client);
    assert.equal((socketOf(session) as TLSSocket).encrypted, true);
    assert.equal((socketOf(session) as TLSSocket).authorized, true);

    const names = Array.from({ length: 20 }, (_, i) => `t${i}`);
    const results = await Promise.all(names.map((n) => client.request(begin(n))));
    assert.deepEqual(
      results.map((r) => xidOf(r)),
      names.map((n) => `tls-${n}`),
    );
    const [serverSession] = server.sessions;
    assert.ok(serverSession);
    assert.equal((socketOf(serverSession) as TLSSocket).encrypted, true);
  });

  it('a client that does not trust the certificate never gets a ready session', async (t) => {
    const { address } = await startServer(t, { onMessage: echo() }, { tls: { key, cert } });
    const client = startClient(t, [address], {}, { tls: { servername: 'localhost' } });
    await failsWith(client.waitReady(500), 'NOT_CONNECTED');
    assert.match(client.status()[0]?.lastError ?? '', /self[- ]signed/i);
  });

  it('a plain TCP client to the TLS port never gets a ready session', async (t) => {
    const { address } = await startServer(t, { onMessage: echo() }, { tls: { key, cert } });
    const client = startClient(t, [address], {
      onConnect: async (session) => {
        await session.request(begin('register'), { timeoutMs: 300 });
      },
    });
    await failsWith(client.waitReady(800), 'NOT_CONNECTED');
  });
});
