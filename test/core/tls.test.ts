/**
 * TLS in core/: servers from listenStream({ tls }) and clients from connectStream({ tls }), on
 * 127.0.0.1 and ::1, against each other and against openssl (certificates made here with
 * `openssl req`, fingerprints checked with `openssl x509`).
 */
import assert from 'node:assert/strict';
import { once } from 'node:events';
import { mkdtemp, rm, writeFile } from 'node:fs/promises';
import net from 'node:net';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { test, type TestContext } from 'node:test';
import type tls from 'node:tls';
import { connectStream } from '../../src/core/connect.js';
import { listenStream } from '../../src/core/listen.js';
import {
  checkServerIdentity,
  isCertificateError,
  tlsInfo,
  tlsServerIdentity,
  type TlsServerOptions,
} from '../../src/core/tls.js';
import { SocklabError } from '../../src/errors.js';
import { opensslCert } from '../helpers/certs.js';
import { findExecutable, runProcess } from '../helpers/spawn.js';

const timeoutMs = 5_000;
const openssl = await findExecutable('openssl');

/** A temporary folder, removed after the test. */
async function tempDir(t: TestContext): Promise<string> {
  const dir = await mkdtemp(path.join(tmpdir(), 'socklab-tls-'));
  t.after(() => rm(dir, { recursive: true, force: true }));
  return dir;
}

/** An echo server over TLS on `host`; every accepted socket is recorded. */
async function echoServer(t: TestContext, tlsOptions: TlsServerOptions, host = '127.0.0.1') {
  const accepted: tls.TLSSocket[] = [];
  const failures: SocklabError[] = [];
  const server = await listenStream({
    host,
    port: 0,
    tls: tlsOptions,
    onConnection: (socket) => {
      accepted.push(socket as tls.TLSSocket);
      socket.on('error', () => undefined);
      socket.pipe(socket);
    },
    onTlsError: (_peer, err) => failures.push(err),
  });
  t.after(() => {
    for (const s of accepted) s.destroy();
    server.close();
  });
  const { port } = server.address() as net.AddressInfo;
  return { server, port, accepted, failures };
}

async function roundTrip(socket: net.Socket, text: string): Promise<string> {
  socket.write(text);
  const [data] = (await once(socket, 'data', { signal: AbortSignal.timeout(timeoutMs) })) as [Buffer];
  return data.toString();
}

test('a TLS server without a certificate makes a self-signed one: insecure clients connect, verifying ones refuse', async (t) => {
  const { port, accepted } = await echoServer(t, {});
  const socket = await connectStream({ host: 'localhost', port, timeoutMs, tls: { insecure: true } });
  t.after(() => socket.destroy());
  assert.equal(await roundTrip(socket, 'over tls'), 'over tls');
  const info = tlsInfo(socket as tls.TLSSocket);
  assert.equal(info.authorized, false);
  assert.equal(info.authorizationError, 'DEPTH_ZERO_SELF_SIGNED_CERT');
  assert.equal(accepted.length, 1);
  assert.equal(accepted[0]?.encrypted, true);

  const refused = await connectStream({ host: 'localhost', port, timeoutMs, tls: {} }).then(
    () => assert.fail('a self-signed certificate must not verify'),
    (e: unknown) => e,
  );
  assert.ok(refused instanceof SocklabError);
  assert.equal(refused.code, 'SOCKLAB_ERR_TLS');
  assert.equal(isCertificateError(refused), true);
  assert.equal(
    refused.message,
    `cannot verify the certificate of tls://localhost:${port}: self-signed certificate (DEPTH_ZERO_SELF_SIGNED_CERT)`,
  );
});

test('the generated certificate is for localhost, 127.0.0.1 and ::1, and its fingerprint is what openssl computes', async (t) => {
  if (openssl === undefined) return t.skip('openssl not installed');
  const identity = await tlsServerIdentity({});
  assert.equal(identity.selfSigned, true);
  const dir = await tempDir(t);
  const file = path.join(dir, 'gen.pem');
  await writeFile(file, identity.cert);
  const r = await runProcess(openssl, [
    'x509',
    '-in',
    file,
    '-noout',
    '-fingerprint',
    '-sha256',
    '-ext',
    'subjectAltName',
  ]);
  assert.equal(r.code, 0, r.stderr);
  assert.match(r.stdout, new RegExp(`Fingerprint=${identity.fingerprint256}\\n`, 'i'));
  assert.match(r.stdout, /DNS:localhost, IP Address:127\.0\.0\.1, IP Address:0:0:0:0:0:0:0:1/);
  // Trusting it verifies it, by name and by each address.
  const { port } = await echoServer(t, { cert: identity.cert, key: identity.key });
  for (const host of ['localhost', '127.0.0.1']) {
    const socket = await connectStream({ host, port, timeoutMs, tls: { ca: identity.cert } });
    assert.equal(tlsInfo(socket as tls.TLSSocket).authorized, true, host);
    socket.destroy();
  }
});

test('a certificate whose CN is localhost and which has no SAN: accepted for localhost, refused for ::1 (as ncat)', async (t) => {
  if (openssl === undefined) return t.skip('openssl not installed');
  const dir = await tempDir(t);
  const cn = await opensslCert(dir, 'cn-only', '/CN=localhost');
  const { port } = await echoServer(t, { cert: cn.cert, key: cn.key }, '::1');
  // localhost resolves to 127.0.0.1 first here: connect to ::1 and check the name localhost.
  const named = await connectStream({
    host: '::1',
    port,
    timeoutMs,
    tls: { ca: cn.cert, servername: 'localhost' },
  });
  t.after(() => named.destroy());
  assert.equal(tlsInfo(named as tls.TLSSocket).authorized, true);
  assert.equal(await roundTrip(named, 'cn ok'), 'cn ok');

  const err = await connectStream({ host: '::1', port, timeoutMs, tls: { ca: cn.cert } }).then(
    () => assert.fail('an IP address must be in a SAN'),
    (e: unknown) => e,
  );
  assert.ok(err instanceof SocklabError);
  assert.equal(err.code, 'SOCKLAB_ERR_TLS');
  assert.match(
    err.message,
    /^cannot verify the certificate of tls:\/\/\[::1\]:\d+: .*::1.*\(ERR_TLS_CERT_ALTNAME_INVALID\)$/,
  );
});

test('checkServerIdentity: the CN only when there is no SAN at all, and only for DNS names', () => {
  const cnOnly = { subject: { CN: 'localhost' } } as unknown as tls.PeerCertificate;
  assert.equal(checkServerIdentity('localhost', cnOnly), undefined);
  assert.equal(checkServerIdentity('LOCALHOST.', cnOnly), undefined);
  assert.ok(checkServerIdentity('::1', cnOnly) instanceof Error);
  assert.ok(checkServerIdentity('127.0.0.1', cnOnly) instanceof Error);
  assert.ok(checkServerIdentity('other.test', cnOnly) instanceof Error);
  const wildcard = { subject: { CN: '*.example.test' } } as unknown as tls.PeerCertificate;
  assert.equal(checkServerIdentity('a.example.test', wildcard), undefined);
  assert.ok(checkServerIdentity('a.b.example.test', wildcard) instanceof Error);
  // A SAN that does not name the host is the verdict, whatever the CN says.
  const withSan = {
    subject: { CN: 'localhost' },
    subjectaltname: 'DNS:other.test',
  } as unknown as tls.PeerCertificate;
  assert.ok(checkServerIdentity('localhost', withSan) instanceof Error);
});

test('a certificate and its key in one PEM file; a key that does not match is refused at setup', async (t) => {
  if (openssl === undefined) return t.skip('openssl not installed');
  const dir = await tempDir(t);
  const a = await opensslCert(dir, 'a', '/CN=localhost', ['subjectAltName=DNS:localhost']);
  const b = await opensslCert(dir, 'b', '/CN=localhost');
  const both = a.key + a.cert;
  const identity = await tlsServerIdentity({ cert: both });
  assert.equal(identity.selfSigned, false);
  const { port } = await echoServer(t, { cert: both });
  const socket = await connectStream({ host: 'localhost', port, timeoutMs, tls: { ca: a.cert } });
  t.after(() => socket.destroy());
  assert.equal(await roundTrip(socket, 'one file'), 'one file');

  await assert.rejects(tlsServerIdentity({ cert: a.cert, key: b.key }), (err: unknown) => {
    assert.ok(err instanceof SocklabError);
    assert.equal(err.code, 'SOCKLAB_ERR_TLS');
    assert.match(err.message, /^TLS server setup: unusable certificate or key: .*key values mismatch/);
    return true;
  });
  await assert.rejects(
    tlsServerIdentity({ cert: a.cert }),
    /no private key: give one, or a PEM file holding both/,
  );
  await assert.rejects(tlsServerIdentity({ cert: 'not a pem' }), /no PEM certificate/);
});

test('a plain TCP client neither blocks nor crashes a TLS server: it is dropped, alone', async (t) => {
  const { port, failures } = await echoServer(t, { handshakeTimeoutMs: 3_000 });
  // One client sends plain text, one sends nothing at all.
  const talker = net.connect({ host: '127.0.0.1', port });
  const silent = net.connect({ host: '127.0.0.1', port });
  t.after(() => {
    talker.destroy();
    silent.destroy();
  });
  let silentClosed = false;
  silent.once('close', () => (silentClosed = true));
  const closed = Promise.all([
    once(talker, 'close', { signal: AbortSignal.timeout(10_000) }),
    once(silent, 'close', { signal: AbortSignal.timeout(10_000) }),
  ]);
  await Promise.all([once(talker, 'connect'), once(silent, 'connect')]);
  talker.write('GET / HTTP/1.0\r\n\r\n');
  // Meanwhile a TLS client is served at once.
  const socket = await connectStream({ host: '127.0.0.1', port, timeoutMs, tls: { insecure: true } });
  t.after(() => socket.destroy());
  assert.equal(await roundTrip(socket, 'not held up'), 'not held up');
  assert.equal(silentClosed, false, 'served while the silent client still held its connection');
  // Both plain clients are closed: the talker at its first bytes, the silent one after the timeout.
  await closed;
  assert.equal(failures.length, 2);
  const messages = failures.map((f) => f.message).sort();
  assert.ok(
    messages.some((m) => /^TLS handshake with 127\.0\.0\.1:\d+ failed: no TLS handshake in time$/.test(m)),
    messages.join('\n'),
  );
  assert.ok(
    messages.some((m) =>
      /^TLS handshake with 127\.0\.0\.1:\d+ failed: .*\(a client speaking plain text\?\)$/.test(m),
    ),
    messages.join('\n'),
  );
  // And the server still serves.
  const again = await connectStream({ host: '127.0.0.1', port, timeoutMs, tls: { insecure: true } });
  assert.equal(await roundTrip(again, 'still here'), 'still here');
  again.destroy();
});

test('ALPN and SNI: the server picks from what the client offers, and sees the name asked for', async (t) => {
  const { server, port, accepted } = await echoServer(t, { alpn: ['h2', 'http/1.1'] });
  const secured = once(server, 'secureConnection', { signal: AbortSignal.timeout(timeoutMs) });
  const socket = await connectStream({
    host: '127.0.0.1',
    port,
    timeoutMs,
    tls: { insecure: true, alpn: ['http/1.1', 'h2'], servername: 'sni.test' },
  });
  t.after(() => socket.destroy());
  assert.equal(tlsInfo(socket as tls.TLSSocket).alpnProtocol, 'h2');
  await secured;
  assert.equal(accepted[0]?.alpnProtocol, 'h2');
  assert.equal((accepted[0] as tls.TLSSocket & { servername?: string }).servername, 'sni.test');
});

test('a TLS client to a plain TCP server: one line, with a hint', async (t) => {
  const plain = net.createServer((s) => s.end('HTTP/1.0 400 Bad Request\r\n\r\n'));
  plain.listen(0, '127.0.0.1');
  await once(plain, 'listening');
  t.after(() => plain.close());
  const { port } = plain.address() as net.AddressInfo;
  await assert.rejects(
    connectStream({ host: '127.0.0.1', port, timeoutMs, tls: { insecure: true } }),
    (err: unknown) => {
      assert.ok(err instanceof SocklabError);
      assert.equal(err.code, 'SOCKLAB_ERR_TLS');
      assert.match(
        err.message,
        /^TLS handshake with tls:\/\/127\.0\.0\.1:\d+ failed: wrong version number \(ERR_SSL_WRONG_VERSION_NUMBER\) \(does this port speak plain TCP, without TLS\?\)$/,
      );
      assert.doesNotMatch(err.message, /\n/);
      return true;
    },
  );
});

test('TLS over a Unix stream socket (nc --ssl -U): path and tls together', async (t) => {
  const dir = await tempDir(t);
  const file = path.join(dir, 'tls.sock');
  const server = await listenStream({
    host: '',
    port: 0,
    path: file,
    tls: {},
    onConnection: (socket) => socket.pipe(socket),
  });
  t.after(() => server.close());
  const socket = await connectStream({ host: '', port: 0, path: file, timeoutMs, tls: { insecure: true } });
  t.after(() => socket.destroy());
  assert.equal((socket as tls.TLSSocket).encrypted, true);
  assert.equal(await roundTrip(socket, 'tls over unix'), 'tls over unix');
});
