import assert from 'node:assert/strict';
import { createHash } from 'node:crypto';
import { mkdtemp, readFile, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { PassThrough } from 'node:stream';
import { test } from 'node:test';
import { parse, run, type GetOptions } from '../../src/cli/commands/get.js';
import type { Io } from '../../src/cli/io.js';
import { runCli } from '../helpers/cli.js';
import { closedPort } from '../helpers/ports.js';
import { startHttpServer, startHttpsServer, startRawServer, TLS_FIXTURES } from '../helpers/http-servers.js';
import { randomBytes } from '../helpers/random.js';

// ---- argv → options -------------------------------------------------------------------------

test('argv → options: defaults', () => {
  assert.deepEqual(parse(['http://127.0.0.1:8080/']), {
    url: 'http://127.0.0.1:8080/',
    include: false,
    head: false,
    verbose: false,
    headers: [],
    followRedirects: false,
    allowDowngrade: false,
    fail: false,
    timeoutMs: 30_000,
    insecure: false,
  });
});

test('argv → options: every flag', () => {
  const o = parse([
    'https://localhost:8443/x',
    '-I',
    '-v',
    '-H',
    'Host: www.sina.com.cn',
    '--header=X-A: 1',
    '-L',
    '--allow-downgrade',
    '--fail',
    '--timeout',
    '300ms',
    '-k',
    '--cacert',
    'ca.pem',
    '-o',
    'out.bin',
  ]);
  assert.deepEqual(o, {
    url: 'https://localhost:8443/x',
    include: true, // -I shows the head
    head: true,
    verbose: true,
    headers: [
      ['Host', 'www.sina.com.cn'],
      ['X-A', '1'],
    ],
    followRedirects: true,
    allowDowngrade: true,
    fail: true,
    timeoutMs: 300,
    insecure: true,
    caFile: 'ca.pem',
    outputFile: 'out.bin',
  });
  assert.equal(parse(['x.test', '-i']).include, true);
});

test('argv → options: bad input is a usage error that says why', () => {
  const table: [string[], RegExp][] = [
    [[], /needs a URL/],
    [['http://a/', 'http://b/'], /one URL at a time/],
    [['ftp://a/'], /unsupported scheme 'ftp'/],
    [['http://[::1/'], /not a valid URL/],
    [['http://a/', '-H', 'no colon'], /-H 'no colon': expected 'Name: value'/],
    [['http://a/', '--allow-downgrade'], /--allow-downgrade is for -L/],
    [['http://a/', '--timeout', 'soon'], /--timeout: 'soon' is not a duration/],
    [['http://a/', '--timeout', '0'], /below the minimum of 1ms/],
    [['http://a/', '--nope'], /unknown option '--nope'/],
  ];
  for (const [argv, why] of table) {
    assert.throws(() => parse(argv), { code: 'SOCKLAB_ERR_USAGE', message: why }, argv.join(' '));
  }
});

// ---- the command as a function, streams injected --------------------------------------------

function captureIo(): { io: Io; stdout: () => string; stderr: () => string } {
  const out: Buffer[] = [];
  const err: Buffer[] = [];
  const stdout = new PassThrough();
  const stderr = new PassThrough();
  stdout.on('data', (c: Buffer) => out.push(c));
  stderr.on('data', (c: Buffer) => err.push(c));
  return {
    io: { stdin: new PassThrough(), stdout, stderr, signal: new AbortController().signal },
    stdout: () => Buffer.concat(out).toString('utf8'),
    stderr: () => Buffer.concat(err).toString('utf8'),
  };
}

const options = (url: string, more: Partial<GetOptions> = {}): GetOptions => ({
  ...parse([url]),
  timeoutMs: 5_000,
  ...more,
});

test('run: -i prints the status line and headers as received, a blank line, then the body', async (t) => {
  const server = await startRawServer(t, (socket) =>
    socket.end('HTTP/1.1 200 OK\r\nX-Case: Kept\r\nContent-Length: 5\r\n\r\nhello'),
  );
  const c = captureIo();
  assert.equal(await run(options(server.url(), { include: true }), c.io), 0);
  assert.equal(c.stdout(), 'HTTP/1.1 200 OK\nX-Case: Kept\nContent-Length: 5\n\nhello');
  assert.equal(c.stderr(), '');
});

test('run: -v shows the request with "> " and the response head with "< " on stderr', async (t) => {
  const server = await startRawServer(t, (socket) =>
    socket.end('HTTP/1.1 100 Continue\r\n\r\nHTTP/1.1 200 OK\r\nContent-Length: 2\r\n\r\nok'),
  );
  const c = captureIo();
  assert.equal(await run(options(server.url('/v'), { verbose: true }), c.io), 0);
  assert.equal(c.stdout(), 'ok');
  assert.equal(
    c.stderr(),
    [
      `* connected to 127.0.0.1 port ${server.port} (${server.url('/v')})`,
      '> GET /v HTTP/1.1',
      `> Host: 127.0.0.1:${server.port}`,
      '> User-Agent: socklab/0.1.0',
      '> Accept: */*',
      '> Connection: close',
      '>',
      '< HTTP/1.1 100 Continue',
      '<',
      '< HTTP/1.1 200 OK',
      '< Content-Length: 2',
      '<',
      '',
    ].join('\n'),
  );
});

test('run: --fail on 404 throws before printing anything of the body', async (t) => {
  const server = await startHttpServer(t, (_req, res) => {
    res.statusCode = 404;
    res.end('not here');
  });
  const c = captureIo();
  await assert.rejects(run(options(server.url('/missing'), { fail: true, include: true }), c.io), {
    code: 'SOCKLAB_ERR_HTTP_STATUS',
    message: `${server.url('/missing')}: HTTP 404 Not Found`,
  });
  assert.equal(c.stdout(), '');
});

test('run: a TLS certificate error gets the CLI hint', async (t) => {
  const server = await startHttpsServer(t, (_req, res) => res.end('x'));
  const c = captureIo();
  await assert.rejects(run(options(server.url('/', 'localhost')), c.io), {
    code: 'SOCKLAB_ERR_TLS',
    message:
      /unable to verify the first certificate \(UNABLE_TO_VERIFY_LEAF_SIGNATURE\); use --cacert FILE to trust its CA, or -k to skip verification$/,
  });
});

test('run: unreadable --cacert and unwritable -o are file errors, before any connection', async () => {
  const c = captureIo();
  await assert.rejects(run(options('http://127.0.0.1:9/', { caFile: '/nonexistent/ca.pem' }), c.io), {
    code: 'SOCKLAB_ERR_FILE',
    message: 'cannot read --cacert /nonexistent/ca.pem: no such file or directory (ENOENT)',
  });
  await assert.rejects(
    run(options('http://127.0.0.1:9/', { caFile: TLS_FIXTURES.caPath.replace('ca.pem', 'README.md') }), c.io),
    {
      code: 'SOCKLAB_ERR_FILE',
      message: /no PEM certificate in it/,
    },
  );
  await assert.rejects(run(options('http://127.0.0.1:9/', { outputFile: '/nonexistent/dir/out' }), c.io), {
    code: 'SOCKLAB_ERR_FILE',
    message: 'cannot write /nonexistent/dir/out: no such file or directory (ENOENT)',
  });
});

// ---- end to end: the real bin ---------------------------------------------------------------

test('get: the body on stdout, raw, exit 0', async (t) => {
  const server = await startHttpServer(t, (_req, res) => res.end('plain body\n'));
  const r = await runCli(['get', server.url()]);
  assert.equal(r.code, 0, r.stderr);
  assert.equal(r.stdout, 'plain body\n');
  assert.equal(r.stderr, '');
});

test('get -i: head then body', async (t) => {
  const server = await startHttpServer(t, (_req, res) => {
    res.setHeader('X-Demo', 'yes');
    res.end('body');
  });
  const r = await runCli(['get', server.url(), '-i']);
  assert.equal(r.code, 0, r.stderr);
  const [head, body] = r.stdout.split('\n\n');
  assert.match(
    head ?? '',
    /^HTTP\/1\.1 200 OK\nX-Demo: yes\nDate: .+\nConnection: close\nContent-Length: 4$/,
  );
  assert.equal(body, 'body');
});

test('get -I: sends HEAD, prints the head only', async (t) => {
  const server = await startHttpServer(t, (_req, res) => {
    res.setHeader('Content-Length', '11');
    res.end();
  });
  const r = await runCli(['get', server.url(), '-I']);
  assert.equal(r.code, 0, r.stderr);
  assert.equal(server.requests[0]?.method, 'HEAD');
  assert.match(r.stdout, /^HTTP\/1\.1 200 OK\n(.+\n)+\n$/, 'the head and its blank line, nothing after');
  assert.ok(r.stdout.includes('\nContent-Length: 11\n'), r.stdout);
});

test('get -v: the request on stderr with "> "', async (t) => {
  const server = await startHttpServer(t, (_req, res) => res.end('v'));
  const r = await runCli(['get', server.url(), '-v']);
  assert.equal(r.code, 0, r.stderr);
  assert.equal(r.stdout, 'v');
  assert.ok(r.stderr.includes('> GET / HTTP/1.1\n'), r.stderr);
  assert.ok(r.stderr.includes('< HTTP/1.1 200 OK\n'), r.stderr);
});

test('get --fail on 404: exit 1, one line, no body; without --fail: exit 0 with the body', async (t) => {
  const server = await startHttpServer(t, (_req, res) => {
    res.statusCode = 404;
    res.end('custom 404 page');
  });
  const failed = await runCli(['get', server.url('/missing'), '--fail']);
  assert.equal(failed.code, 1);
  assert.equal(failed.stdout, '');
  assert.equal(failed.stderr, `socklab get: ${server.url('/missing')}: HTTP 404 Not Found\n`);
  const plain = await runCli(['get', server.url('/missing')]);
  assert.equal(plain.code, 0, plain.stderr);
  assert.equal(plain.stdout, 'custom 404 page');
});

test('get: connection refused is exit 1 and one line naming the URL', async () => {
  const port = await closedPort();
  const r = await runCli(['get', `http://127.0.0.1:${port}/`]);
  assert.equal(r.code, 1);
  assert.equal(
    r.stderr,
    `socklab get: cannot connect to http://127.0.0.1:${port}/: connection refused (ECONNREFUSED)\n`,
  );
  assert.equal(r.stdout, '');
});

test('get: a bad URL is exit 2 with a pointer to --help', async () => {
  const r = await runCli(['get', 'ftp://127.0.0.1/']);
  assert.equal(r.code, 2);
  assert.equal(
    r.stderr,
    "socklab get: bad URL 'ftp://127.0.0.1/': unsupported scheme 'ftp' (use http:// or https://) (see 'socklab get --help')\n",
  );
});

test('get --timeout 300ms against a server that never answers: exit 1, one line', async (t) => {
  const server = await startRawServer(t, () => undefined);
  const r = await runCli(['get', server.url(), '--timeout', '300ms'], { timeoutMs: 10_000 });
  assert.equal(r.code, 1);
  assert.equal(r.stderr, `socklab get: no response from ${server.url()} within 300 ms\n`);
});

test('get -L follows a redirect; without -L the 3xx is printed', async (t) => {
  const server = await startHttpServer(t, (req, res) => {
    if (req.url === '/old') {
      res.writeHead(302, { Location: '/new' });
      res.end('see /new');
    } else res.end(`arrived at ${req.url}`);
  });
  const followed = await runCli(['get', server.url('/old'), '-L']);
  assert.equal(followed.code, 0, followed.stderr);
  assert.equal(followed.stdout, 'arrived at /new');
  const printed = await runCli(['get', server.url('/old'), '-i']);
  assert.equal(printed.code, 0, printed.stderr);
  assert.match(printed.stdout, /^HTTP\/1\.1 302 Found\n(.+\n)*Location: \/new\n(.+\n)*\nsee \/new$/);
  // Not followed, but not silent: where the page is, and how to follow.
  assert.equal(
    printed.stderr,
    `socklab get: ${server.url('/old')} redirects to /new (-L follows redirects)\n`,
  );
});

test('get --fail -o FILE on 404: exit 1, and no empty FILE left behind', async (t) => {
  const server = await startHttpServer(t, (_req, res) => {
    res.writeHead(404);
    res.end('not here');
  });
  const dir = await mkdtemp(join(tmpdir(), 'socklab-test-'));
  t.after(() => rm(dir, { recursive: true, force: true }));
  const file = join(dir, 'page.html');
  const result = await runCli(['get', server.url('/'), '--fail', '-o', file]);
  assert.equal(result.code, 1);
  await assert.rejects(readFile(file), { code: 'ENOENT' });
});

test('get http:// to a port that speaks TLS: the hint says so; a port over 65535 is out of range', async (t) => {
  const server = await startHttpsServer(t, (_req, res) => res.end('secret'));
  const plain = server.url('/').replace(/^https:/, 'http:');
  const result = await runCli(['get', plain]);
  assert.equal(result.code, 1);
  assert.match(result.stderr, /\(does this port speak https:\/\/\?\)\n$/);
  const bad = await runCli(['get', 'http://127.0.0.1:70000/']);
  assert.equal(bad.code, 2);
  assert.match(bad.stderr, /bad URL 'http:\/\/127\.0\.0\.1:70000\/': port 70000 is out of range/);
});

test('get -o FILE: a 3 MiB chunked body streamed to a file, byte for byte', async (t) => {
  const body = randomBytes(3 * 1024 * 1024 + 5, 3);
  const server = await startHttpServer(t, (_req, res) => {
    for (let offset = 0; offset < body.length; offset += 65_536)
      res.write(body.subarray(offset, offset + 65_536));
    res.end();
  });
  const dir = await mkdtemp(join(tmpdir(), 'socklab-get-'));
  t.after(() => rm(dir, { recursive: true, force: true }));
  const file = join(dir, 'body.bin');
  const r = await runCli(['get', server.url(), '-o', file]);
  assert.equal(r.code, 0, r.stderr);
  assert.equal(r.stdout, '');
  const sha = (b: Buffer) => createHash('sha256').update(b).digest('hex');
  assert.equal(sha(await readFile(file)), sha(body));
  // And to stdout, as raw bytes.
  const toStdout = await runCli(['get', server.url()]);
  assert.equal(toStdout.code, 0, toStdout.stderr);
  assert.equal(sha(toStdout.stdoutBytes), sha(body));
});

test('get https: fails without --cacert (exit 1, TLS reason), works with --cacert and with -k', async (t) => {
  const server = await startHttpsServer(t, (_req, res) => res.end('over TLS\n'));
  const url = server.url('/', 'localhost');
  const untrusted = await runCli(['get', url]);
  assert.equal(untrusted.code, 1);
  assert.equal(
    untrusted.stderr,
    `socklab get: cannot verify the certificate of ${url}: unable to verify the first certificate (UNABLE_TO_VERIFY_LEAF_SIGNATURE); use --cacert FILE to trust its CA, or -k to skip verification\n`,
  );
  const trusted = await runCli(['get', url, '--cacert', TLS_FIXTURES.caPath, '-v']);
  assert.equal(trusted.code, 0, trusted.stderr);
  assert.equal(trusted.stdout, 'over TLS\n');
  assert.match(trusted.stderr, /\* TLSv1\.[23], certificate verified\n/);
  const insecure = await runCli(['get', url, '-k', '-v']);
  assert.equal(insecure.code, 0, insecure.stderr);
  assert.equal(insecure.stdout, 'over TLS\n');
  assert.match(insecure.stderr, /certificate NOT verified \(UNABLE_TO_VERIFY_LEAF_SIGNATURE\)/);
  // Two handshakes got as far as a request, each with SNI = the host name.
  assert.deepEqual(
    server.requests.map((r) => r.servername),
    ['localhost', 'localhost'],
  );
});

test("seed 003: socklab get in place of the tutorial's hand-written HTTP client", async (t) => {
  // The seed sends `GET / HTTP/1.1`, `Host: www.sina.com.cn`, `Connection: close` over a raw
  // socket and reads until the close. The site is unreachable here (no internet): a local server
  // plays it, answering chunked as big sites do, which the seed's client would print undecoded.
  const html =
    '<!DOCTYPE html>\n<html><head><meta charset="utf-8"><title>新浪首页</title></head>\n<body>欢迎</body></html>\n';
  const server = await startHttpServer(t, (_req, res) => {
    res.setHeader('Content-Type', 'text/html; charset=utf-8');
    const bytes = Buffer.from(html);
    res.write(bytes.subarray(0, 40));
    res.end(bytes.subarray(40));
  });
  const r = await runCli(['get', server.url(), '-H', 'Host: www.sina.com.cn', '-i']);
  assert.equal(r.code, 0, r.stderr);
  const request = server.requests[0];
  assert.equal(request?.method, 'GET');
  assert.equal(request?.path, '/');
  const headers = request?.rawHeaders ?? [];
  assert.equal(headers[headers.indexOf('Host') + 1], 'www.sina.com.cn');
  assert.equal(headers[headers.indexOf('Connection') + 1], 'close');
  // The seed's `header, html = data.split('\r\n', 1)`: the first line is the status line …
  const [statusLine] = r.stdout.split('\n', 1);
  assert.equal(statusLine, 'HTTP/1.1 200 OK');
  assert.match(r.stdout, /\nTransfer-Encoding: chunked\n/);
  // … and the page itself comes out whole, the chunked framing decoded.
  assert.equal(r.stdout.slice(r.stdout.indexOf('\n\n') + 2), html);
});

test('get -L refuses an https → http redirect (exit 1, one line) unless --allow-downgrade', async (t) => {
  const plain = await startHttpServer(t, (_req, res) => res.end('in the clear\n'));
  const secure = await startHttpsServer(t, (_req, res) => {
    res.writeHead(302, { Location: plain.url('/clear') });
    res.end();
  });
  const url = secure.url('/login', 'localhost');
  const refused = await runCli(['get', url, '-L', '--cacert', TLS_FIXTURES.caPath]);
  assert.equal(refused.code, 1);
  assert.equal(
    refused.stderr,
    `socklab get: refusing to follow the redirect from ${url} to ${plain.url('/clear')}: it leaves https for plain http (--allow-downgrade follows it)\n`,
  );
  assert.equal(refused.stdout, '');
  assert.equal(plain.requests.length, 0, 'nothing was sent in the clear');
  const allowed = await runCli(['get', url, '-L', '--cacert', TLS_FIXTURES.caPath, '--allow-downgrade']);
  assert.equal(allowed.code, 0, allowed.stderr);
  assert.equal(allowed.stdout, 'in the clear\n');
  assert.equal(plain.requests.length, 1);
  // http → https is an upgrade: followed without asking.
  const up = await startHttpServer(t, (_req, res) => {
    res.writeHead(301, { Location: secure.url('/login', 'localhost') });
    res.end();
  });
  const upgraded = await runCli([
    'get',
    up.url('/'),
    '-L',
    '--cacert',
    TLS_FIXTURES.caPath,
    '--allow-downgrade',
  ]);
  assert.equal(upgraded.code, 0, upgraded.stderr);
});
