import assert from 'node:assert/strict';
import { createHash } from 'node:crypto';
import { once } from 'node:events';
import net from 'node:net';
import { Writable } from 'node:stream';
import { test } from 'node:test';
import { getHeader } from '../../src/http/headers.js';
import { httpGet, httpGetStream } from '../../src/http/get.js';
import { startHttpServer, startHttpsServer, startRawServer, TLS_FIXTURES } from '../helpers/http-servers.js';
import { closedPort } from '../helpers/ports.js';
import { randomBytes } from '../helpers/random.js';

/** Every request in these tests is bounded; a hang fails the test instead of stalling the run. */
const timeoutMs = 5_000;

test('Content-Length body from node:http; the server sees the request as written', async (t) => {
  const server = await startHttpServer(t, (_req, res) => {
    res.setHeader('Content-Type', 'text/plain');
    res.setHeader('X-Custom-Case', 'Yes');
    res.end('hello, world');
  });
  const res = await httpGet(server.url('/path?q=1'), { timeoutMs, headers: [['X-Extra', 'v']] });
  assert.equal(res.status, 200);
  assert.equal(res.statusText, 'OK');
  assert.equal(res.httpVersion, '1.1');
  assert.equal(res.body.toString(), 'hello, world');
  assert.equal(res.url, server.url('/path?q=1'));
  assert.equal(getHeader(res.headers, 'content-length'), '12');
  assert.ok(
    res.headers.some(([name]) => name === 'X-Custom-Case'),
    'names keep their case',
  );
  assert.equal(res.redirects, 0);
  assert.deepEqual(server.requests, [
    {
      method: 'GET',
      path: '/path?q=1',
      rawHeaders: [
        'Host',
        `127.0.0.1:${server.port}`,
        'User-Agent',
        'socklab/0.1.0',
        'Accept',
        '*/*',
        'Connection',
        'close',
        'X-Extra',
        'v',
      ],
    },
  ]);
});

test('chunked body with trailers from node:http', async (t) => {
  const server = await startHttpServer(t, (_req, res) => {
    res.setHeader('Trailer', 'X-Sum');
    res.write('one,');
    res.write('two,');
    res.addTrailers({ 'X-Sum': '42' });
    res.end('three');
  });
  const res = await httpGet(server.url(), { timeoutMs });
  assert.equal(getHeader(res.headers, 'transfer-encoding'), 'chunked');
  assert.equal(res.body.toString(), 'one,two,three');
  assert.deepEqual(res.trailers, [['X-Sum', '42']]);
});

test('a body without length ends when the server closes', async (t) => {
  const server = await startRawServer(t, (socket) => {
    socket.end('HTTP/1.0 200 OK\r\nServer: raw\r\n\r\nuntil the end\n');
  });
  const res = await httpGet(server.url(), { timeoutMs });
  assert.equal(res.httpVersion, '1.0');
  assert.equal(res.body.toString(), 'until the end\n');
});

test('HEAD: the server sees HEAD, the response has no body', async (t) => {
  const server = await startHttpServer(t, (_req, res) => {
    res.setHeader('Content-Length', '1000');
    res.end();
  });
  const res = await httpGet(server.url(), { timeoutMs, method: 'HEAD' });
  assert.equal(server.requests[0]?.method, 'HEAD');
  assert.equal(getHeader(res.headers, 'content-length'), '1000');
  assert.equal(res.body.length, 0);
});

test('204 and 304 end at the head even if the server claims a body and keeps the connection open', async (t) => {
  for (const status of ['204 No Content', '304 Not Modified']) {
    const server = await startRawServer(t, (socket) => {
      socket.write(`HTTP/1.1 ${status}\r\nContent-Length: 10\r\n\r\n`); // no end(): a wait would time out
    });
    const res = await httpGet(server.url(), { timeoutMs });
    assert.equal(res.status, Number(status.slice(0, 3)));
    assert.equal(res.body.length, 0);
  }
});

test('interim 100 Continue is skipped and reported', async (t) => {
  const server = await startRawServer(t, (socket) => {
    socket.end('HTTP/1.1 100 Continue\r\nX-Interim: 1\r\n\r\nHTTP/1.1 200 OK\r\nContent-Length: 2\r\n\r\nok');
  });
  const interims: number[] = [];
  const res = await httpGet(server.url(), { timeoutMs, onInterim: (head) => interims.push(head.status) });
  assert.deepEqual(interims, [100]);
  assert.equal(res.status, 200);
  assert.equal(res.body.toString(), 'ok');
});

test('a malformed status line is a protocol error naming the URL and the line', async (t) => {
  const server = await startRawServer(t, (socket) => socket.end('FOO\r\n\r\n'));
  await assert.rejects(httpGet(server.url(), { timeoutMs }), {
    code: 'SOCKLAB_ERR_PROTOCOL',
    message: `bad status line from ${server.url()}: 'FOO'`,
  });
});

test('oversized headers are refused without reading them all', async (t) => {
  const server = await startRawServer(t, (socket) => {
    socket.write('HTTP/1.1 200 OK\r\n');
    // 1 MiB of headers, never finished: the client must give up at 64 KiB, not wait or buffer.
    for (let i = 0; i < 1024; i++) socket.write(`X-Pad-${i}: ${'p'.repeat(1000)}\r\n`);
  });
  await assert.rejects(httpGet(server.url(), { timeoutMs }), {
    code: 'SOCKLAB_ERR_PROTOCOL',
    message: `response headers larger than 65536 bytes from ${server.url()}`,
  });
});

test('a body cut short is an error, not a short success', async (t) => {
  const server = await startRawServer(t, (socket) =>
    socket.end('HTTP/1.1 200 OK\r\nContent-Length: 10\r\n\r\nabc'),
  );
  await assert.rejects(httpGet(server.url(), { timeoutMs }), {
    code: 'SOCKLAB_ERR_PROTOCOL',
    message: `connection closed after 3 of 10 body bytes from ${server.url()}`,
  });
});

test('an empty response (the server closes at once) is a protocol error', async (t) => {
  const server = await startRawServer(t, (socket) => socket.end());
  await assert.rejects(httpGet(server.url(), { timeoutMs }), {
    code: 'SOCKLAB_ERR_PROTOCOL',
    message: `empty response from ${server.url()} (connection closed before the status line)`,
  });
});

/** A sink that is slow to take data and counts writes made while it had asked to wait. */
class SlowSink extends Writable {
  readonly parts: Buffer[] = [];
  writesWhileFull = 0;
  fullCount = 0;

  constructor() {
    super({
      highWaterMark: 16 * 1024,
      write: (chunk: Buffer, _encoding, callback) => {
        this.parts.push(chunk);
        setImmediate(callback); // slower than loopback: the sink fills up
      },
    });
  }

  override write(
    chunk: unknown,
    encoding?: BufferEncoding | ((error: Error | null | undefined) => void),
    callback?: (error: Error | null | undefined) => void,
  ): boolean {
    if (this.writableNeedDrain) this.writesWhileFull++;
    let ok: boolean;
    if (typeof encoding === 'function') ok = super.write(chunk, encoding);
    else if (encoding === undefined) ok = super.write(chunk, callback);
    else ok = super.write(chunk, encoding, callback);
    if (!ok) this.fullCount++;
    return ok;
  }
}

test('a body bigger than 1 MiB streams to a Writable with backpressure', async (t) => {
  const body = randomBytes(3 * 1024 * 1024 + 17, 99);
  const server = await startHttpServer(t, (_req, res) => {
    // Chunked, in 4 KiB pieces: many body pieces arrive in each read, the case where a careless
    // client writes several times without waiting.
    let offset = 0;
    const pump = () => {
      while (offset < body.length) {
        const piece = body.subarray(offset, offset + 4096);
        offset += piece.length;
        if (!res.write(piece)) return void res.once('drain', pump);
      }
      res.end();
    };
    pump();
  });
  const sink = new SlowSink();
  const result = await httpGetStream(server.url(), { timeoutMs, onResponse: () => sink });
  assert.equal(result.bodyBytes, body.length);
  assert.equal(
    createHash('sha256').update(Buffer.concat(sink.parts)).digest('hex'),
    createHash('sha256').update(body).digest('hex'),
  );
  assert.ok(sink.fullCount > 10, `the sink was full ${sink.fullCount} times: backpressure was exercised`);
  assert.equal(sink.writesWhileFull, 0, 'never written while it asked to wait');
  assert.equal(sink.writableEnded, false, 'the caller owns the sink: not ended');
});

test('httpGet refuses a body larger than maxBodyBytes', async (t) => {
  const server = await startHttpServer(t, (_req, res) => res.end(Buffer.alloc(5000)));
  await assert.rejects(httpGet(server.url(), { timeoutMs, maxBodyBytes: 4096 }), {
    code: 'SOCKLAB_ERR_MESSAGE_TOO_LARGE',
    message: `the body of ${server.url()} is larger than 4096 bytes (use httpGetStream for large bodies)`,
  });
});

test('timeout: a server that accepts and never answers', async (t) => {
  const server = await startRawServer(t, () => undefined);
  const started = Date.now();
  await assert.rejects(httpGet(server.url(), { timeoutMs: 200 }), {
    code: 'SOCKLAB_ERR_TIMEOUT',
    message: `no response from ${server.url()} within 200 ms`,
  });
  assert.ok(Date.now() - started >= 190, 'not before the timeout');
});

test('timeout: a server that stops in the middle of the body', async (t) => {
  const server = await startRawServer(t, (socket) =>
    socket.write('HTTP/1.1 200 OK\r\nContent-Length: 100\r\n\r\nabc'),
  );
  await assert.rejects(httpGet(server.url(), { timeoutMs: 200 }), {
    code: 'SOCKLAB_ERR_TIMEOUT',
    message: `${server.url()} stopped sending: nothing received for 200 ms (after 3 body bytes)`,
  });
});

test('connection refused', async () => {
  const port = await closedPort();
  await assert.rejects(httpGet(`http://127.0.0.1:${port}/`, { timeoutMs }), {
    code: 'SOCKLAB_ERR_CONNECT',
    message: `cannot connect to http://127.0.0.1:${port}/: connection refused (ECONNREFUSED)`,
  });
});

test('unknown host', async () => {
  // .invalid never resolves (RFC 6761); without a network the lookup fails at once too.
  await assert.rejects(httpGet('http://no-such-host.invalid/', { timeoutMs }), {
    code: 'SOCKLAB_ERR_DNS',
    message: /^cannot connect to http:\/\/no-such-host\.invalid\/: host (not found|lookup failed)/,
  });
});

test('bad URL and unsupported scheme are usage errors', async () => {
  await assert.rejects(httpGet('ftp://127.0.0.1/'), { code: 'SOCKLAB_ERR_USAGE' });
  await assert.rejects(httpGet('http://[nope/'), { code: 'SOCKLAB_ERR_USAGE' });
});

test('the AbortSignal stops a request that is waiting', async (t) => {
  let arrived!: () => void;
  const requestArrived = new Promise<void>((resolve) => (arrived = resolve));
  const server = await startRawServer(t, () => arrived());
  const controller = new AbortController();
  const pending = httpGet(server.url(), { timeoutMs, signal: controller.signal });
  // Bounded: if the request never arrives, `pending` times out and the race rejects.
  await Promise.race([requestArrived, pending]);
  controller.abort();
  await assert.rejects(pending, {
    code: 'SOCKLAB_ERR_ABORTED',
    message: `request to ${server.url()} aborted`,
  });
});

test('redirects: not followed by default; followed (relative Location) with followRedirects', async (t) => {
  const server = await startHttpServer(t, (req, res) => {
    if (req.url === '/old') {
      res.writeHead(301, { Location: '/new' });
      res.end('moved');
    } else if (req.url === '/new') {
      res.writeHead(302, { Location: 'final?x=1' });
      res.end();
    } else res.end(`here: ${req.url}`);
  });
  const plain = await httpGet(server.url('/old'), { timeoutMs });
  assert.equal(plain.status, 301);
  assert.equal(plain.body.toString(), 'moved');

  const seen: string[] = [];
  const followed = await httpGet(server.url('/old'), {
    timeoutMs,
    followRedirects: true,
    onRequest: (_request, url) => seen.push(url),
  });
  assert.equal(followed.status, 200);
  assert.equal(followed.body.toString(), 'here: /final?x=1');
  assert.equal(followed.url, server.url('/final?x=1'));
  assert.equal(followed.redirects, 2);
  assert.deepEqual(seen, [server.url('/old'), server.url('/new'), server.url('/final?x=1')]);
});

test('redirects: a loop stops after maxRedirects', async (t) => {
  const server = await startHttpServer(t, (req, res) => {
    const n = Number(req.url?.slice(1));
    res.writeHead(302, { Location: `/${n + 1}` });
    res.end();
  });
  await assert.rejects(httpGet(server.url('/0'), { timeoutMs, followRedirects: true }), {
    code: 'SOCKLAB_ERR_PROTOCOL',
    message: `too many redirects: stopped after 10 at ${server.url('/10')}, which redirects to ${server.url('/11')}`,
  });
  assert.equal(server.requests.length, 11);
  await assert.rejects(httpGet(server.url('/0'), { timeoutMs, followRedirects: true, maxRedirects: 2 }), {
    message: /stopped after 2 at/,
  });
});

test('redirects to another origin drop the credentials', async (t) => {
  const other = await startHttpServer(t, (_req, res) => res.end('other'));
  const first = await startHttpServer(t, (_req, res) => {
    res.writeHead(307, { Location: other.url('/landing') });
    res.end();
  });
  const res = await httpGet(first.url(), {
    timeoutMs,
    followRedirects: true,
    headers: [
      ['Authorization', 'Bearer secret'],
      ['X-Keep', 'yes'],
    ],
  });
  assert.equal(res.body.toString(), 'other');
  assert.ok(first.requests[0]?.rawHeaders.includes('Bearer secret'), 'sent to the origin it was meant for');
  const landing = other.requests[0]?.rawHeaders ?? [];
  assert.equal(landing.includes('Authorization'), false, 'not sent to another origin');
  assert.equal(landing[landing.indexOf('X-Keep') + 1], 'yes');
  assert.equal(landing[landing.indexOf('Host') + 1], `127.0.0.1:${other.port}`);
});

test('a sink that fails fails the request, instead of crashing the process', async (t) => {
  const server = await startHttpServer(t, (_req, res) => res.end(Buffer.alloc(100_000)));
  const broken = new Writable({
    write: (_chunk, _encoding, callback) =>
      callback(Object.assign(new Error('disk full'), { code: 'ENOSPC' })),
  });
  await assert.rejects(httpGetStream(server.url(), { timeoutMs, onResponse: () => broken }), {
    code: 'SOCKLAB_ERR_FILE',
    message: `cannot write the body of ${server.url()}: no space left on device (ENOSPC)`,
  });
});

test('IPv6 literal URLs connect to [::1], with the Host header in brackets', async (t) => {
  // Answers with the request it received, so the test sees the bytes sent.
  const v6 = net.createServer((socket) => {
    socket.on('error', () => undefined);
    socket.once('data', (data: Buffer) => socket.end(`HTTP/1.1 200 OK\r\n\r\n${data.toString('latin1')}`));
  });
  try {
    v6.listen(0, '::1');
    await once(v6, 'listening');
  } catch {
    t.skip('no IPv6 loopback on this machine');
    return;
  }
  t.after(() => v6.close());
  const { port } = v6.address() as net.AddressInfo;
  const res = await httpGet(`http://[::1]:${port}/v6`, { timeoutMs });
  assert.match(res.body.toString(), new RegExp(`^GET /v6 HTTP/1\\.1\\r\\nHost: \\[::1\\]:${port}\\r\\n`));
});

test('followRedirects does not follow https → http unless allowDowngrade: SOCKLAB_ERR_PROTOCOL', async (t) => {
  const plain = await startHttpServer(t, (_req, res) => res.end('clear'));
  const secure = await startHttpsServer(t, (_req, res) => {
    res.writeHead(307, { Location: plain.url('/') });
    res.end();
  });
  const options = { followRedirects: true, ca: TLS_FIXTURES.ca, timeoutMs: 5_000 };
  await assert.rejects(httpGet(secure.url('/', 'localhost'), options), {
    code: 'SOCKLAB_ERR_PROTOCOL',
    message:
      /^refusing to follow the redirect from https:\/\/localhost:\d+\/ to http:\/\/127\.0\.0\.1:\d+\/: it leaves https for plain http$/,
  });
  assert.equal(plain.requests.length, 0);
  const res = await httpGet(secure.url('/', 'localhost'), { ...options, allowDowngrade: true });
  assert.equal(res.body.toString(), 'clear');
  assert.equal(res.redirects, 1);
});
