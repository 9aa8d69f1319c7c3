/**
 * tls:// from the command line, against the tools people check TLS with: socklab's TLS server
 * with `openssl s_client` and `ncat --ssl` as clients; socklab's TLS client against
 * `openssl s_server` and `ncat --ssl -l`; verification (self-signed, CN-only certificates made
 * here with `openssl req`); SNI and ALPN as the peer sees them; the relay's tls:// sides; DTLS
 * refused. Everything on 127.0.0.1 and ::1.
 */
import assert from 'node:assert/strict';
import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { test, type TestContext } from 'node:test';
import { BIN, runCli, startCli } from '../helpers/cli.js';
import { startOpensslServer, startPeerServer } from '../helpers/peers.js';
import { findExecutable, runProcess, startProcess } from '../helpers/spawn.js';
import { opensslCert } from '../helpers/certs.js';

const openssl = await findExecutable('openssl');
const ncat = await findExecutable('ncat');

function need(t: TestContext, name: 'openssl' | 'ncat'): string | undefined {
  const found = name === 'openssl' ? openssl : ncat;
  if (found === undefined) t.skip(`${name} not installed (apt-get install ${name})`);
  return found;
}

async function tempDir(t: TestContext): Promise<string> {
  const dir = await mkdtemp(path.join(tmpdir(), 'socklab-tls-cli-'));
  t.after(() => rm(dir, { recursive: true, force: true }));
  return dir;
}

/** A certificate for localhost with SANs, and one with only CN=localhost. */
async function certs(t: TestContext) {
  const dir = await tempDir(t);
  return {
    dir,
    good: await opensslCert(dir, 'good', '/CN=localhost', [
      'subjectAltName=DNS:localhost,IP:127.0.0.1,IP:::1',
    ]),
    cnOnly: await opensslCert(dir, 'cn-only', '/CN=localhost'),
  };
}

// ---------------------------------------------------------------------------------------------
// socklab's TLS server, real clients.

test('openssl s_client talks to socklab listen tls:// (self-signed), with SNI and ALPN seen by the server', async (t) => {
  const bin = need(t, 'openssl');
  if (bin === undefined) return;
  const server = await startCli(['listen', 'tls://127.0.0.1:0', '--echo', '-v', '--tls-alpn', 'h2,http/1.1']);
  t.after(() => server.stop());
  const fingerprint = /TLS certificate SHA-256 fingerprint: ([0-9A-F:]{95})\n/.exec(server.stderr())?.[1];
  assert.ok(fingerprint, server.stderr());
  const client = startProcess(bin, [
    's_client',
    '-connect',
    `127.0.0.1:${server.ports[0]}`,
    '-servername',
    'sni.test',
    '-alpn',
    'http/1.1',
    '-no_ign_eof',
  ]);
  t.after(() => client.stop());
  // s_client leaves at stdin's end without waiting for the answer: stdin stays open until it comes.
  client.write('hello over TLS\n');
  await client.waitFor(/\nhello over TLS\n/, 'stdout', 10_000);
  client.endInput();
  const r = await client.exited(10_000);
  assert.equal(r.code, 0, r.stderr);
  assert.match(r.stdout, /ALPN protocol: http\/1\.1/);
  // The certificate s_client got is the one whose fingerprint the server printed.
  const pem = /-----BEGIN CERTIFICATE-----[^]*?-----END CERTIFICATE-----\n/.exec(r.stdout)?.[0];
  assert.ok(pem);
  const fp = await runProcess(bin, ['x509', '-noout', '-fingerprint', '-sha256'], { input: pem });
  assert.match(fp.stdout, new RegExp(`=${fingerprint}\\n`, 'i'));
  await server.waitFor(
    /connection from 127\.0\.0\.1:\d+ \(#1\): TLSv1\.3, SNI sni\.test, ALPN http\/1\.1\n/,
    'stderr',
  );
});

test('ncat --ssl talks to socklab listen tls:// with a certificate from a file (cert and key in one PEM)', async (t) => {
  const bin = need(t, 'ncat');
  if (bin === undefined || need(t, 'openssl') === undefined) return;
  const { dir, good } = await certs(t);
  const both = path.join(dir, 'both.pem');
  const cat = await runProcess('/bin/sh', ['-c', `cat "${good.keyFile}" "${good.certFile}" > "${both}"`]);
  assert.equal(cat.code, 0);
  const server = await startCli(['listen', 'tls://127.0.0.1:0', '--echo', '--tls-cert', both]);
  t.after(() => server.stop());
  const r = await runProcess(
    bin,
    ['--ssl', '--ssl-verify', '--ssl-trustfile', good.certFile, 'localhost', String(server.ports[0])],
    { input: 'ncat says hi\n', timeoutMs: 10_000 },
  );
  assert.equal(r.code, 0, r.stderr);
  assert.equal(r.stdout, 'ncat says hi\n');
});

test('a plain TCP client and a silent one do not hold up TLS clients of socklab listen', async (t) => {
  const bin = need(t, 'ncat');
  if (bin === undefined) return;
  const server = await startCli(['listen', 'tls://127.0.0.1:0', '--echo', '-v']);
  t.after(() => server.stop());
  const port = String(server.ports[0]);
  const silent = startProcess(bin, ['127.0.0.1', port]); // connects, sends nothing
  t.after(() => silent.stop());
  const plain = await runProcess(bin, ['127.0.0.1', port], {
    input: 'GET / HTTP/1.0\r\n\r\n',
    timeoutMs: 10_000,
  });
  assert.notEqual(plain.stdout, 'GET / HTTP/1.0\r\n\r\n', 'no echo to a client that does not speak TLS');
  const started = Date.now();
  const tlsClient = await runProcess(bin, ['--ssl', '127.0.0.1', port], {
    input: 'still served\n',
    timeoutMs: 10_000,
  });
  assert.equal(tlsClient.stdout, 'still served\n');
  assert.ok(Date.now() - started < 5_000);
  await server.waitFor(
    /TLS handshake with 127\.0\.0\.1:\d+ failed: .*\(a client speaking plain text\?\)\n/,
    'stderr',
  );
  assert.equal(server.hasExited(), false);
});

// ---------------------------------------------------------------------------------------------
// socklab's TLS client, real servers.

test('socklab connect tls:// to openssl s_server: verified with --tls-trust, SNI and ALPN seen by s_server', async (t) => {
  const bin = need(t, 'openssl');
  if (bin === undefined) return;
  const { good } = await certs(t);
  const sServer = (extra: readonly string[]) => startOpensslServer(bin, good, extra);
  // SNI: s_server refuses a client that does not ask for localhost (-servername_fatal).
  const sni = await sServer([
    '-cert2',
    good.certFile,
    '-key2',
    good.keyFile,
    '-servername',
    'localhost',
    '-servername_fatal',
  ]);
  t.after(() => sni.stop());
  const r = await runCli(['connect', `tls://localhost:${sni.port}`, '--tls-trust', good.certFile, '-v'], {
    input: 'stressed\n',
  });
  assert.equal(r.code, 0, r.stderr);
  assert.equal(r.stdout, 'desserts\n');
  assert.match(r.stderr, /TLS: TLSv1\.3, \S+, certificate verified\n/);
  await sni.waitFor('Hostname in TLS extension: "localhost"', 'stdout');
  // ALPN: s_server picks its protocol from the client's list.
  const alpn = await sServer(['-alpn', 'x-socklab']);
  t.after(() => alpn.stop());
  const a = await runCli(
    [
      'connect',
      `tls://127.0.0.1:${alpn.port}`,
      '--tls-trust',
      good.certFile,
      '--tls-alpn',
      'h2,x-socklab',
      '-v',
    ],
    { input: 'lager\n' },
  );
  assert.equal(a.code, 0, a.stderr);
  assert.equal(a.stdout, 'regal\n');
  assert.match(a.stderr, /TLS: TLSv1\.3, \S+, ALPN x-socklab, certificate verified\n/);
  await alpn.waitFor('ALPN protocols advertised by the client: h2, x-socklab', 'stdout');
});

test('socklab connect tls:// to ncat --ssl -l (its own temporary certificate): refused with one line, or --no-tls-verify', async (t) => {
  const bin = need(t, 'ncat');
  if (bin === undefined) return;
  const start = () =>
    startPeerServer(bin, {
      transport: 'tcp',
      args: (port) => ['--ssl', '-v', '-l', '127.0.0.1', String(port)],
      ready: /Listening on/,
      readyTimeoutMs: 20_000,
    });
  const first = await start();
  t.after(() => first.stop());
  const refused = await runCli(['connect', `tls://127.0.0.1:${first.port}`, 'never sent']);
  assert.equal(refused.code, 1);
  assert.equal(
    refused.stderr,
    `socklab connect: cannot verify the certificate of tls://127.0.0.1:${first.port}: self-signed certificate (DEPTH_ZERO_SELF_SIGNED_CERT)\n`,
  );
  assert.equal(first.stdout(), '', 'nothing was sent to an unverified server');
  // A conversation: each side's stdin goes to the other's stdout, through TLS.
  const server = await start();
  t.after(() => server.stop());
  const client = startProcess(process.execPath, [
    BIN,
    'connect',
    `tls://127.0.0.1:${server.port}`,
    '--no-tls-verify',
  ]);
  t.after(() => client.stop());
  client.write('to ncat\n');
  await server.waitFor('to ncat\n', 'stdout', 10_000);
  server.write('from ncat\n');
  await client.waitFor('from ncat\n', 'stdout', 10_000);
  client.endInput(); // half-close: ncat sees the end and closes
  const r = await client.exited(10_000);
  assert.equal(r.code, 0, r.stderr);
  assert.equal(r.stdout, 'from ncat\n');
});

test('a CN-only certificate for localhost: accepted for localhost, refused for [::1] with exit 1 and one line', async (t) => {
  if (need(t, 'openssl') === undefined) return;
  const { cnOnly } = await certs(t);
  const server = await startCli([
    'listen',
    'tls://[::1]:0',
    '--echo',
    '--tls-cert',
    cnOnly.certFile,
    '--tls-key',
    cnOnly.keyFile,
  ]);
  t.after(() => server.stop());
  const port = server.ports[0]!;
  const byName = await runCli(
    ['connect', `tls://[::1]:${port}`, '--tls-servername', 'localhost', '--tls-trust', cnOnly.certFile],
    { input: 'by name\n' },
  );
  assert.equal(byName.code, 0, byName.stderr);
  assert.equal(byName.stdout, 'by name\n');
  const byAddress = await runCli(['connect', `tls://[::1]:${port}`, '--tls-trust', cnOnly.certFile], {
    input: 'x\n',
  });
  assert.equal(byAddress.code, 1);
  assert.equal(byAddress.stdout, '');
  assert.match(
    byAddress.stderr,
    /^socklab connect: cannot verify the certificate of tls:\/\/\[::1\]:\d+: .*::1.* \(ERR_TLS_CERT_ALTNAME_INVALID\)\n$/,
  );
});

// ---------------------------------------------------------------------------------------------
// relay, usage.

test('relay tls:// → tcp:// terminates TLS in front of a plain echo server; tcp:// → tls:// starts it', async (t) => {
  const echo = await startCli(['listen', '127.0.0.1:0', '--echo']);
  t.after(() => echo.stop());
  const front = await startCli(['relay', 'tls://127.0.0.1:0', `tcp://127.0.0.1:${echo.ports[0]}`, '-v']);
  t.after(() => front.stop());
  const back = await startCli([
    'relay',
    '127.0.0.1:0',
    `tls://localhost:${front.ports[0]}`,
    '--no-tls-verify',
  ]);
  t.after(() => back.stop());
  // socklab (TLS) → front relay → echo.
  const direct = await runCli(['connect', `tls://127.0.0.1:${front.ports[0]}`, '--no-tls-verify'], {
    input: 'through the TLS relay\n',
  });
  assert.equal(direct.code, 0, direct.stderr);
  assert.equal(direct.stdout, 'through the TLS relay\n');
  // plain → back relay (TLS out) → front relay (TLS in) → echo.
  const chained = await runCli(['connect', `127.0.0.1:${back.ports[0]}`], {
    input: 'plain, then TLS, then plain\n',
  });
  assert.equal(chained.code, 0, chained.stderr);
  assert.equal(chained.stdout, 'plain, then TLS, then plain\n');
  await front.waitFor(/closed connection #2 from 127\.0\.0\.1:\d+: 28 bytes up, 28 down/, 'stderr');
});

test('no DTLS: tls:// with -u, and TLS flags without a tls:// address, are usage errors (exit 2, one line)', async () => {
  for (const [args, message] of [
    [['listen', '-u', 'tls://127.0.0.1:0'], /TLS over UDP \(DTLS\) is not supported: Node has no DTLS/],
    [['connect', '-u', 'tls://127.0.0.1:9', 'x'], /TLS over UDP \(DTLS\) is not supported/],
    [['listen', '127.0.0.1:0', '--tls-cert', 'x.pem'], /--tls-cert needs a tls:\/\/ address to listen on/],
    [
      ['connect', '127.0.0.1:9', '--no-tls-verify', 'x'],
      /--no-tls-verify needs a tls:\/\/ address to connect to/,
    ],
    [
      ['listen', 'tls://127.0.0.1:0', '--tls-cert', '/nonexistent/cert.pem'],
      /--tls-cert \/nonexistent\/cert\.pem: cannot read it/,
    ],
    [
      ['connect', 'tls://127.0.0.1:9', '--tls-ciphers', 'NOT-A-CIPHER', 'x'],
      /--tls-ciphers: no usable cipher in 'NOT-A-CIPHER'/,
    ],
  ] as const) {
    const r = await runCli(args);
    assert.equal(r.code, 2, `${args.join(' ')}: ${r.stderr}`);
    assert.match(r.stderr, message);
    assert.equal(r.stderr.split('\n').length, 2, r.stderr);
  }
});

test('bench over TLS: socklab to socklab, TCP throughput and ping-pong', async (t) => {
  const server = await startCli(['bench', '--server', 'tls://127.0.0.1:0'], { listening: 2 });
  t.after(() => server.stop());
  assert.match(server.addresses[0] ?? '', /^tls:\/\/127\.0\.0\.1:\d+$/);
  const port = server.ports[0]!;
  const throughput = await runCli([
    'bench',
    `tls://localhost:${port}`,
    '--no-tls-verify',
    '-t',
    '0.5',
    '-i',
    '0',
    '--json',
  ]);
  assert.equal(throughput.code, 0, throughput.stderr);
  const report = JSON.parse(throughput.stdout) as { end: { sum_received: { bytes: number } } };
  assert.ok(report.end.sum_received.bytes > 0);
  const pingpong = await runCli([
    'bench',
    `tls://localhost:${port}`,
    '--no-tls-verify',
    '--pingpong',
    '-n',
    '200',
    '-i',
    '0',
  ]);
  assert.equal(pingpong.code, 0, pingpong.stderr);
  assert.match(pingpong.stdout, /round trips\s+200 in/);
  const unverified = await runCli(['bench', `tls://localhost:${port}`, '-t', '0.5', '-i', '0']);
  assert.equal(unverified.code, 1);
  assert.match(unverified.stderr, /self-signed certificate \(DEPTH_ZERO_SELF_SIGNED_CERT\)\n$/);
});

test("socklab to socklab with the server's self-signed certificate: refused (exit 1, one line) unless --no-tls-verify", async (t) => {
  const server = await startCli(['listen', 'tls://127.0.0.1:0', '--echo', '-v']);
  t.after(() => server.stop());
  const port = server.ports[0]!;
  const printed = /TLS certificate SHA-256 fingerprint: (\S+)\n/.exec(server.stderr())?.[1];
  assert.ok(printed);
  const refused = await runCli(['connect', `tls://localhost:${port}`, 'never sent']);
  assert.equal(refused.code, 1);
  assert.equal(refused.stdout, '');
  assert.equal(
    refused.stderr,
    `socklab connect: cannot verify the certificate of tls://localhost:${port}: self-signed certificate (DEPTH_ZERO_SELF_SIGNED_CERT)\n`,
  );
  const accepted = await runCli(['connect', `tls://localhost:${port}`, '--no-tls-verify', '-v'], {
    input: 'unverified, encrypted\n',
  });
  assert.equal(accepted.code, 0, accepted.stderr);
  assert.equal(accepted.stdout, 'unverified, encrypted\n');
  // What the client was shown is what the server printed: a user can compare the two.
  assert.match(
    accepted.stderr,
    new RegExp(`server certificate: CN=localhost, SHA-256 fingerprint ${printed}\n`),
  );
});
