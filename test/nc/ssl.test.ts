/**
 * `socklab nc --ssl` against the tools people use for TLS: socklab's client against
 * `ncat --ssl -l` and `openssl s_server`, socklab's server (-l --ssl) against `ncat --ssl` and
 * `openssl s_client`; --ssl-verify (a self-signed certificate refused, a CN-only one for localhost
 * accepted with --ssl-trustfile) compared with ncat 7.93 doing the same; -k, --exec, --chat, -C,
 * -o/-x over TLS. Everything on 127.0.0.1.
 */
import assert from 'node:assert/strict';
import { mkdtemp, readFile, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { test, type TestContext } from 'node:test';
import { opensslCert } from '../helpers/certs.js';
import { listenNc, ncImpls, runNc, SOCKLAB_NC, startNc, type NcImpl } from '../helpers/nc.js';
import { startOpensslServer } from '../helpers/peers.js';
import { findExecutable, runProcess, startProcess } from '../helpers/spawn.js';

const impls = await ncImpls();
const ncat = impls.find((i) => i.name === 'ncat');
const openssl = await findExecutable('openssl');

function need<T>(t: TestContext, what: T | undefined, name: string): T | undefined {
  if (what === undefined) t.skip(`${name} not installed (apt-get install ${name})`);
  return what;
}

async function tempDir(t: TestContext): Promise<string> {
  const dir = await mkdtemp(path.join(tmpdir(), 'socklab-nc-ssl-'));
  t.after(() => rm(dir, { recursive: true, force: true }));
  return dir;
}

const FINGERPRINT = /TLS certificate SHA-256 fingerprint: ([0-9A-F:]{95})\n/;

/** The SHA-256 fingerprint of the first PEM certificate in `text`, as openssl prints it. */
async function fingerprintOf(bin: string, text: string): Promise<string> {
  const pem = /-----BEGIN CERTIFICATE-----[^]*?-----END CERTIFICATE-----\n/.exec(text)?.[0];
  assert.ok(pem, 'a PEM certificate in the output');
  const r = await runProcess(bin, ['x509', '-noout', '-fingerprint', '-sha256'], { input: pem });
  const fp = /=([0-9A-F:]{95})\n/i.exec(r.stdout)?.[1];
  assert.ok(fp, r.stdout + r.stderr);
  return fp.toUpperCase();
}

// ---------------------------------------------------------------------------------------------
// socklab's client, real TLS servers.

test('socklab nc --ssl to ncat --ssl -l: both directions; -v says the certificate was not verified', async (t) => {
  const peer = need(t, ncat, 'ncat');
  if (peer === undefined) return;
  const server = await listenNc(peer, 'tcp', (port) => ['--ssl', '-l', '127.0.0.1', String(port)]);
  t.after(() => server.stop());
  server.write('from ncat\n');
  const client = startNc(SOCKLAB_NC, ['--ssl', '-v', '127.0.0.1', String(server.port)]);
  t.after(() => client.stop());
  await client.waitFor('from ncat\n');
  client.endInput('from socklab\n');
  const s = await server.exited(10_000);
  assert.equal(s.code, 0, s.stderr);
  assert.equal(s.stdout, 'from socklab\n');
  const r = await client.exited(10_000);
  assert.equal(r.code, 0, r.stderr);
  assert.equal(r.stdout, 'from ncat\n');
  // ncat's temporary certificate is self-signed: accepted (as ncat does without --ssl-verify), and said so.
  assert.match(
    r.stderr,
    /TLS: TLSv1\.\d, \S+, certificate not verified \(DEPTH_ZERO_SELF_SIGNED_CERT; --ssl-verify checks it\)\n/,
  );
});

test('socklab nc --ssl-verify to openssl s_server: trustfile, SNI and ALPN as s_server sees them', async (t) => {
  const bin = need(t, openssl, 'openssl');
  if (bin === undefined) return;
  const dir = await tempDir(t);
  const good = await opensslCert(dir, 'good', '/CN=localhost', ['subjectAltName=DNS:localhost,IP:127.0.0.1']);
  const server = await startOpensslServer(bin, good, [
    // SNI: a client that does not ask for sni.test is refused.
    '-cert2',
    good.certFile,
    '-key2',
    good.keyFile,
    '-servername',
    'sni.test',
    '-servername_fatal',
  ]);
  t.after(() => server.stop());
  const r = await runNc(
    SOCKLAB_NC,
    [
      '--ssl-verify',
      '--ssl-trustfile',
      good.certFile,
      '--ssl-servername',
      'sni.test',
      '--ssl-alpn',
      'h2,x-socklab',
      '-v',
      'localhost',
      String(server.port),
    ],
    { input: 'stressed\n' },
  );
  // The certificate is for localhost and 127.0.0.1, not sni.test: --ssl-verify checks the name sent.
  assert.equal(r.code, 1);
  assert.match(r.stderr, /cannot verify the certificate of tls:\/\/127\.0\.0\.1:\d+: .*sni\.test.*\n$/);
  assert.equal(r.stderr.trim().split('\n').length, 1, r.stderr);
  await server.waitFor('Hostname in TLS extension: "sni.test"', 'stdout');

  // Without --ssl-servername: the host name given (localhost) is what the certificate must match.
  const plain = await startOpensslServer(bin, good, ['-alpn', 'x-socklab']);
  t.after(() => plain.stop());
  const ok = await runNc(
    SOCKLAB_NC,
    [
      '--ssl-verify',
      '--ssl-trustfile',
      good.certFile,
      '--ssl-alpn',
      'h2,x-socklab',
      '-v',
      'localhost',
      String(plain.port),
    ],
    { input: 'stressed\n' },
  );
  assert.equal(ok.code, 0, ok.stderr);
  assert.equal(ok.stdout, 'desserts\n');
  assert.match(ok.stderr, /TLS: TLSv1\.3, \S+, ALPN x-socklab, certificate verified\n/);
  const fp = /server certificate: CN=localhost, SHA-256 fingerprint ([0-9A-F:]{95})\n/.exec(ok.stderr)?.[1];
  assert.equal(fp, await fingerprintOf(bin, good.cert));
  await plain.waitFor('ALPN protocols advertised by the client: h2, x-socklab', 'stdout');
});

// ---------------------------------------------------------------------------------------------
// socklab's server, real TLS clients.

test('socklab nc -l --ssl (temporary certificate) to ncat --ssl: both directions, the fingerprint with -v', async (t) => {
  const peer = need(t, ncat, 'ncat');
  if (peer === undefined) return;
  const server = await listenNc(SOCKLAB_NC, 'tcp', (port) => [
    '--ssl',
    '-v',
    '-l',
    '127.0.0.1',
    String(port),
  ]);
  t.after(() => server.stop());
  assert.match(server.stderr(), /TLS certificate: CN=localhost \(temporary, self-signed/);
  assert.match(server.stderr(), FINGERPRINT);
  server.write('from socklab\n');
  const client = startNc(peer, ['--ssl', '127.0.0.1', String(server.port)]);
  t.after(() => client.stop());
  await client.waitFor('from socklab\n');
  client.endInput('from ncat\n');
  const s = await server.exited(10_000);
  assert.equal(s.code, 0, s.stderr);
  assert.equal(s.stdout, 'from ncat\n');
});

test('openssl s_client to socklab nc -l --ssl: the certificate it gets is the one whose fingerprint -v printed', async (t) => {
  const bin = need(t, openssl, 'openssl');
  if (bin === undefined) return;
  const server = await listenNc(SOCKLAB_NC, 'tcp', (port) => [
    '--ssl',
    '--ssl-alpn',
    'h2,http/1.1',
    '-v',
    '-l',
    '127.0.0.1',
    String(port),
  ]);
  t.after(() => server.stop());
  const printed = FINGERPRINT.exec(server.stderr())?.[1];
  assert.ok(printed, server.stderr());
  const client = startProcess(bin, ['s_client', '-connect', `127.0.0.1:${server.port}`, '-alpn', 'http/1.1']);
  t.after(() => client.stop());
  client.write('hello from s_client\n');
  await server.waitFor('hello from s_client\n');
  server.endInput('hello from socklab\n');
  await client.waitFor('hello from socklab\n');
  client.endInput();
  const c = await client.exited(10_000);
  assert.match(c.stdout, /ALPN protocol: http\/1\.1/);
  assert.equal(await fingerprintOf(bin, c.stdout), printed);
  const s = await server.exited(10_000);
  assert.equal(s.code, 0, s.stderr);
});

// ---------------------------------------------------------------------------------------------
// --ssl-verify, ncat and socklab alike.

for (const impl of impls) {
  const name = (what: string) => `${impl.name}: ${what}`;

  test(name('--ssl-verify refuses a self-signed certificate: exit 1, nothing sent'), async (t) => {
    const server = await listenNc(SOCKLAB_NC, 'tcp', (port) => ['--ssl', '-lk', '127.0.0.1', String(port)]);
    t.after(() => server.stop());
    const r = await runNc(impl, ['--ssl-verify', '127.0.0.1', String(server.port)], { input: 'secret\n' });
    assert.equal(r.code, 1, r.stderr);
    assert.equal(r.stdout, '');
    assert.equal(server.stdout(), '', 'nothing reached the server');
    if (impl.name === 'socklab') {
      assert.match(
        r.stderr,
        /^socklab nc: cannot verify the certificate of tls:\/\/127\.0\.0\.1:\d+: self-signed certificate \(DEPTH_ZERO_SELF_SIGNED_CERT\)\n$/,
      );
    }
  });

  test(name('--ssl-verify --ssl-trustfile accepts a CN-only certificate for localhost'), async (t) => {
    const dir = await tempDir(t);
    const cnOnly = await opensslCert(dir, 'cn-only', '/CN=localhost');
    const server = await listenNc(SOCKLAB_NC, 'tcp', (port) => [
      '-l',
      '--ssl-cert',
      cnOnly.certFile,
      '--ssl-key',
      cnOnly.keyFile,
      '127.0.0.1',
      String(port),
    ]);
    t.after(() => server.stop());
    server.write('verified\n');
    const client = startNc(impl, [
      '--ssl-verify',
      '--ssl-trustfile',
      cnOnly.certFile,
      'localhost',
      String(server.port),
    ]);
    t.after(() => client.stop());
    await client.waitFor('verified\n');
    client.endInput('trusted\n');
    const s = await server.exited(10_000);
    assert.equal(s.code, 0, s.stderr);
    assert.equal(s.stdout, 'trusted\n');
    const c = await client.exited(10_000);
    assert.equal(c.code, 0, c.stderr);
  });
}

test('socklab: a CN-only certificate is not accepted for an IP address (a SAN is needed for that)', async (t) => {
  const dir = await tempDir(t);
  const cnOnly = await opensslCert(dir, 'cn-only', '/CN=localhost');
  // The certificate and key in one PEM file, named by --ssl-cert alone.
  const both = path.join(dir, 'both.pem');
  const cat = await runProcess('/bin/sh', ['-c', `cat "${cnOnly.keyFile}" "${cnOnly.certFile}" > "${both}"`]);
  assert.equal(cat.code, 0);
  const server = await listenNc(SOCKLAB_NC, 'tcp', (port) => [
    '-lk',
    '--ssl-cert',
    both,
    '127.0.0.1',
    String(port),
  ]);
  t.after(() => server.stop());
  const r = await runNc(
    SOCKLAB_NC,
    ['--ssl-verify', '--ssl-trustfile', cnOnly.certFile, '127.0.0.1', String(server.port)],
    {
      input: 'x\n',
    },
  );
  assert.equal(r.code, 1);
  assert.match(
    r.stderr,
    /^socklab nc: cannot verify the certificate of .*\(ERR_TLS_CERT_ALTNAME_INVALID\)\n$/,
  );
});

// ---------------------------------------------------------------------------------------------
// Servers and recording over TLS, as over TCP.

function sslClient(t: TestContext, impl: NcImpl, port: number, extra: readonly string[] = []) {
  const client = startNc(impl, ['--ssl', ...extra, '127.0.0.1', String(port)]);
  t.after(() => client.stop());
  return client;
}

test('socklab nc -lk --ssl --exec: a program per TLS client, two at once', async (t) => {
  const peer = need(t, ncat, 'ncat');
  if (peer === undefined) return;
  const server = await listenNc(SOCKLAB_NC, 'tcp', (port) => [
    '--ssl',
    '-lk',
    '--sh-exec',
    'echo "hello $NCAT_REMOTE_ADDR"; exec cat',
    '127.0.0.1',
    String(port),
  ]);
  t.after(() => server.stop());
  const a = sslClient(t, peer, server.port);
  const b = sslClient(t, peer, server.port);
  await a.waitFor('hello 127.0.0.1\n');
  await b.waitFor('hello 127.0.0.1\n');
  a.write('one\n');
  b.write('two\n');
  await a.waitFor('one\n');
  await b.waitFor('two\n');
  assert.equal(a.stdout(), 'hello 127.0.0.1\none\n');
  assert.equal(b.stdout(), 'hello 127.0.0.1\ntwo\n');
  assert.equal(server.hasExited(), false);
});

test('socklab nc -l --ssl --chat: TLS clients talk to each other, with announcements', async (t) => {
  const peer = need(t, ncat, 'ncat');
  if (peer === undefined) return;
  const server = await listenNc(SOCKLAB_NC, 'tcp', (port) => [
    '--ssl',
    '-l',
    '--chat',
    '127.0.0.1',
    String(port),
  ]);
  t.after(() => server.stop());
  const a = sslClient(t, peer, server.port);
  await a.waitFor('<announce> 127.0.0.1 is connected as <user');
  const b = sslClient(t, peer, server.port);
  await a.waitFor(
    /<announce> 127\.0\.0\.1 is connected as <user\d+>\.\n<announce> already connected: 127\.0\.0\.1 as/,
  );
  await b.waitFor('already connected: 127.0.0.1 as <user');
  b.write('hi over tls\n');
  await a.waitFor(/<user\d+> hi over tls\n/);
});

test('socklab nc --ssl -C -o -x: CRLF and recording apply to the plain text, both directions', async (t) => {
  const peer = need(t, ncat, 'ncat');
  if (peer === undefined) return;
  const dir = await tempDir(t);
  const raw = path.join(dir, 'raw');
  const hex = path.join(dir, 'hex');
  const server = await listenNc(peer, 'tcp', (port) => ['--ssl', '-l', '127.0.0.1', String(port)]);
  t.after(() => server.stop());
  server.write('welcome\n');
  const client = sslClient(t, SOCKLAB_NC, server.port, ['-C', '-o', raw, '-x', hex]);
  await client.waitFor('welcome\n');
  client.endInput('GET / HTTP/1.0\n\n');
  const s = await server.exited(10_000);
  assert.equal(s.stdout, 'GET / HTTP/1.0\r\n\r\n');
  const c = await client.exited(10_000);
  assert.equal(c.code, 0, c.stderr);
  assert.equal(await readFile(raw, 'utf8'), 'welcome\nGET / HTTP/1.0\r\n\r\n');
  assert.match(await readFile(hex, 'utf8'), /^0000 {3}77 65 6c 63 6f 6d 65 0a/);
});

test('socklab to socklab over TLS: a server whose stdin has ended sends it all, then reads the client to its end', async (t) => {
  // The server ends its side of TLS before the client's end arrives; closing then must not lose
  // what TLS still had to write. (A client that ends at once may beat the server to reading its
  // stdin at all: a server without -k ends with its client, as in ncat; so the client waits.)
  for (let round = 1; round <= 3; round++) {
    const server = await listenNc(SOCKLAB_NC, 'tcp', (port) => ['--ssl', '-l', '127.0.0.1', String(port)]);
    t.after(() => server.stop());
    server.endInput(`server ${round}\n`);
    const client = startNc(SOCKLAB_NC, ['--ssl', '127.0.0.1', String(server.port)]);
    t.after(() => client.stop());
    await client.waitFor(`server ${round}\n`);
    client.endInput(`client ${round}\n`);
    const r = await client.exited(10_000);
    assert.equal(r.code, 0, r.stderr);
    assert.equal(r.stdout, `server ${round}\n`);
    const s = await server.exited(10_000);
    assert.equal(s.code, 0, s.stderr);
    assert.equal(s.stdout, `client ${round}\n`);
  }
});
