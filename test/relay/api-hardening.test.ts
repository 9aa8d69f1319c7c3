/**
 * The control API is a server socklab runs for others: what a web page, a slow client or a hostile
 * name can do to it. Real HTTP requests with node:http to 127.0.0.1, each bounded by a timeout.
 */
import assert from 'node:assert/strict';
import { mkdtemp, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { test } from 'node:test';
import http from 'node:http';
import {
  API_HEADERS_TIMEOUT_MS,
  API_KEEP_ALIVE_TIMEOUT_MS,
  API_REQUEST_TIMEOUT_MS,
  MAX_API_CONNECTIONS,
  watchAccept,
} from '../../src/relay/api.js';
import { describeEnd, describeStart, parse, watch } from '../../src/cli/commands/relay.js';
import { readConfig } from '../../src/relay/config.js';
import { createRelay } from '../../src/relay/relay.js';
import { ManualClock } from '../../src/measure/clock.js';
import { apiRequest, apiSetup, slowClient } from '../helpers/api-client.js';
import { runCli, startCli } from '../helpers/cli.js';
import { echo, tcpServer, within } from '../helpers/relay-peers.js';

const setup = apiSetup;

test('fault types and parameters named like Object.prototype keys are 400s (and usage errors), not TypeErrors', async (t) => {
  const { port, relay, server } = await setup(t);
  for (const type of ['constructor', 'toString', '__proto__', 'hasOwnProperty']) {
    const r = await apiRequest(port, { method: 'POST', path: '/relays/web/faults', body: { type } });
    assert.equal(r.status, 400, `type ${type}: ${r.text}`);
    assert.match(String(r.body?.error), /^fault: unknown fault type '.*' \(types: delay, /, type);
  }
  const added = await apiRequest(port, {
    method: 'POST',
    path: '/relays/web/faults',
    body: { type: 'delay', params: { delayMs: 1 } },
  });
  assert.equal(added.status, 201, added.text);
  for (const [path, body] of [
    ['/relays/web/faults', '{"type":"rate","params":{"constructor":1}}'],
    ['/relays/web/faults', '{"type":"rate","params":{"__proto__":{"rateBytesPerSec":1}}}'],
    ['/relays/web/faults/delay', '{"params":{"toString":1}}'],
  ] as const) {
    const r = await apiRequest(port, {
      method: 'POST',
      path,
      body,
      headers: { 'content-type': 'application/json' },
    });
    assert.equal(r.status, 400, `${path} ${body}: ${r.text}`);
    assert.match(String(r.body?.error), /unknown parameter '(constructor|__proto__|toString)'/);
  }
  const relayWithIt = await apiRequest(port, {
    method: 'POST',
    path: '/relays',
    body: {
      name: 'proto',
      listen: '127.0.0.1:0',
      upstream: `127.0.0.1:${server.port}`,
      faults: [{ type: 'constructor' }],
    },
  });
  assert.equal(relayWithIt.status, 400, relayWithIt.text);
  // The library and config files: a usage error, not a TypeError.
  await assert.rejects(
    createRelay({ listen: '127.0.0.1:0', upstream: '127.0.0.1:9', faults: [{ type: 'constructor' }] }),
    { code: 'SOCKLAB_ERR_USAGE', message: /unknown fault type 'constructor'/ },
  );
  assert.throws(
    () =>
      readConfig(
        { relays: [{ listen: '0', upstream: '127.0.0.1:1', faults: [{ type: 'toString' }] }] },
        'x.yaml',
      ),
    {
      code: 'SOCKLAB_ERR_USAGE',
      message: /x\.yaml: relays\[0\] \(relay1\): fault: unknown fault type 'toString'/,
    },
  );
  assert.equal(relay.faults().length, 1, 'the relay still has its one fault');
});

test('a bad percent-escape in the path is a 400, not an internal error', async (t) => {
  const { port } = await setup(t);
  for (const path of ['/relays/%E0%A4%A', '/relays/web/faults/%ff', '/relays/%']) {
    const r = await apiRequest(port, { path });
    assert.equal(r.status, 400, `${path}: ${r.text}`);
    assert.match(String(r.body?.error), /^bad percent-escape in the path/);
  }
  assert.equal((await apiRequest(port, { path: '/relays/w%65b' })).status, 200, 'good escapes still work');
});

test('socklab relay --config with a fault type named constructor: exit 2, one line, no stack', async (t) => {
  const dir = await mkdtemp(join(tmpdir(), 'socklab-api-'));
  t.after(() => rm(dir, { recursive: true, force: true }));
  const file = join(dir, 'relays.yaml');
  await writeFile(
    file,
    'relays: [{ listen: "127.0.0.1:0", upstream: "127.0.0.1:9", faults: [{ type: constructor }] }]\n',
  );
  const result = await runCli(['relay', '--config', file], { timeoutMs: 10_000 });
  assert.equal(result.code, 2, result.stderr);
  assert.match(
    result.stderr,
    /^socklab relay: .*relays\.yaml: relays\[0\] \(relay1\): fault: unknown fault type 'constructor'/,
  );
  assert.doesNotMatch(result.stderr, /internal error|TypeError| {4}at /);
});

// eslint-disable-next-line no-control-regex
const CONTROLS = /[\x00-\x08\x0b-\x1f\x7f-\x9f]/;
/** Retitles the window, clears the screen, and forges a log line of its own. */
const HOSTILE_NAME = 'web\x1b]0;owned\x07\x1b[2J\nrelay web: closed connection #1 from 10.0.0.1:1';

test("relay and fault names from the API follow the config file's rule: 400 for escapes and newlines", async (t) => {
  const { port, registry, server } = await setup(t);
  for (const name of [HOSTILE_NAME, 'a b', 'x'.repeat(65), 'caf\u00e9', 'a/b', '\u009b2J']) {
    const r = await apiRequest(port, {
      method: 'POST',
      path: '/relays',
      body: { name, listen: '127.0.0.1:0', upstream: `127.0.0.1:${server.port}` },
    });
    assert.equal(r.status, 400, `${JSON.stringify(name)}: ${r.text}`);
    assert.match(
      String(r.body?.error),
      /^relay name '.*' is not a name: expected 1-64 letters, digits, '_', '-' or '\.'$/,
    );
    assert.doesNotMatch(String(r.body?.error), CONTROLS, 'the reason is printable');
  }
  assert.deepEqual(
    registry.list().map((r) => r.name),
    ['web'],
  );
  const fault = await apiRequest(port, {
    method: 'POST',
    path: '/relays/web/faults',
    body: { name: HOSTILE_NAME, type: 'delay', params: { delayMs: 1 } },
  });
  assert.equal(fault.status, 400, fault.text);
  assert.doesNotMatch(String(fault.body?.error), CONTROLS);
  const good = await apiRequest(port, {
    method: 'POST',
    path: '/relays',
    body: { name: 'api-1.b_c', listen: '127.0.0.1:0', upstream: `127.0.0.1:${server.port}` },
  });
  assert.equal(good.status, 201, good.text);
  // The registry holds to the rule whoever asks (config files, --name, the library).
  await assert.rejects(
    registry.create({ name: HOSTILE_NAME, listen: '127.0.0.1:0', upstream: `127.0.0.1:${server.port}` }),
    {
      code: 'SOCKLAB_ERR_USAGE',
      message: /^relay name 'web\\u001b\]0;owned\\u0007\\u001b\[2J\\u000arelay web: .*' is not a name/,
    },
  );
});

test('socklab relay --api: a hostile name never reaches the terminal raw', async (t) => {
  const upstream = await tcpServer(echo);
  t.after(() => upstream.close());
  const cli = await startCli(['relay', '--api', '127.0.0.1:0', '-v'], { listening: 0 });
  t.after(() => void cli.stop('SIGKILL'));
  await cli.waitFor(/api on http:\/\/127\.0\.0\.1:\d+\n/, 'stderr');
  const port = Number(/api on http:\/\/127\.0\.0\.1:(\d+)/.exec(cli.stderr())![1]);
  const r = await apiRequest(port, {
    method: 'POST',
    path: '/relays',
    body: { name: HOSTILE_NAME, listen: '127.0.0.1:0', upstream: `127.0.0.1:${upstream.port}` },
  });
  assert.equal(r.status, 400, r.text);
  const ok = await apiRequest(port, {
    method: 'POST',
    path: '/relays',
    body: { name: 'fine', listen: '127.0.0.1:0', upstream: `127.0.0.1:${upstream.port}` },
  });
  assert.equal(ok.status, 201, ok.text);
  await cli.waitFor(/relay fine tcp:/, 'stderr');
  const result = await cli.stop('SIGINT');
  assert.doesNotMatch(result.stderr, CONTROLS, JSON.stringify(result.stderr));
  assert.doesNotMatch(result.stderr, /owned|10\.0\.0\.1/);
  // --name is held to the same rule: exit 2 and a printable reason.
  const named = await runCli(['relay', '127.0.0.1:0', `127.0.0.1:${upstream.port}`, '--name', HOSTILE_NAME], {
    timeoutMs: 10_000,
  });
  assert.equal(named.code, 2, named.stderr);
  assert.match(named.stderr, /relay name 'web\\u001b\]0;owned/);
  assert.doesNotMatch(named.stderr, CONTROLS);
});

test('names are printed sanitised even when they slipped by (a relay made with createRelay())', async (t) => {
  const server = await tcpServer(echo);
  t.after(() => server.close());
  const relay = await createRelay({
    name: HOSTILE_NAME,
    listen: '127.0.0.1:0',
    upstream: `127.0.0.1:${server.port}`,
  });
  t.after(() => relay.close());
  const lines: string[] = [];
  const io = { stderr: { write: (text: string) => lines.push(text) } };
  watch(relay, io as never, true);
  relay.emit('refused', '127.0.0.1:1', 'too many connections');
  for (const text of [describeStart(relay), describeEnd(relay), ...lines]) {
    assert.doesNotMatch(text.replace(/\n(?= {2}(up|down):)|\n$/g, ''), /[\n\r]/, JSON.stringify(text));
    assert.doesNotMatch(text, CONTROLS, JSON.stringify(text));
    assert.match(text, /relay web·\]0;owned··\[2J·relay web: closed/);
  }
});

/** The issue's request: what a web page at http://evil.example can send without a preflight. */
function fromWebPage(port: number, extra: Record<string, string> = {}) {
  return apiRequest(port, {
    method: 'POST',
    path: '/relays',
    headers: {
      'content-type': 'text/plain',
      origin: 'http://evil.example',
      host: `evil.example:${port}`,
      ...extra,
    },
    body: JSON.stringify({ name: 'ssh', listen: ':0', upstream: '127.0.0.1:22' }),
  });
}

test('a web page cannot drive it: foreign Host (DNS rebinding), foreign Origin, text/plain are refused', async (t) => {
  const { port, registry } = await setup(t);
  const json = { 'content-type': 'application/json' };
  const relay = JSON.stringify({ name: 'ssh', listen: '127.0.0.1:0', upstream: '127.0.0.1:22' });
  const refused: [string, Promise<{ status: number; body?: Record<string, unknown> }>, number, RegExp][] = [
    ["the issue's request", fromWebPage(port), 403, /^Host 'evil\.example:\d+' is not this API's address/],
    [
      'text/plain, own Host, no Origin',
      apiRequest(port, {
        method: 'POST',
        path: '/relays',
        headers: { 'content-type': 'text/plain' },
        body: relay,
      }),
      415,
      /^a request body is JSON, sent with Content-Type: application\/json \(not 'text\/plain'\)$/,
    ],
    [
      'a form post',
      apiRequest(port, {
        method: 'POST',
        path: '/reset',
        headers: { 'content-type': 'application/x-www-form-urlencoded' },
        body: 'a=1',
      }),
      415,
      /Content-Type: application\/json/,
    ],
    [
      'a body without a Content-Type',
      apiRequest(port, { method: 'POST', path: '/relays', body: relay }),
      415,
      /\(not without one\)$/,
    ],
    [
      'JSON from a foreign Origin',
      apiRequest(port, {
        method: 'POST',
        path: '/relays',
        headers: { ...json, origin: 'http://evil.example' },
        body: relay,
      }),
      403,
      /^Origin 'http:\/\/evil\.example' is not this API's \(http:\/\/127\.0\.0\.1:\d+\)/,
    ],
    [
      'a local page on another port',
      apiRequest(port, { method: 'POST', path: '/reset', headers: { origin: 'http://localhost:3000' } }),
      403,
      /^Origin 'http:\/\/localhost:3000'/,
    ],
    [
      'Origin null (a sandboxed page)',
      apiRequest(port, { path: '/relays', headers: { origin: 'null' } }),
      403,
      /^Origin 'null'/,
    ],
    [
      'a read through a rebound name',
      apiRequest(port, { path: '/relays', headers: { host: `attacker.example:${port}` } }),
      403,
      /^Host 'attacker\.example:\d+'/,
    ],
    [
      'another port',
      apiRequest(port, { path: '/relays', headers: { host: `127.0.0.1:${port + 1}` } }),
      403,
      /^Host/,
    ],
    [
      'no port',
      apiRequest(port, { path: '/relays', headers: { host: 'localhost' } }),
      403,
      /^Host 'localhost'/,
    ],
  ];
  for (const [what, reply, status, error] of refused) {
    const r = await reply;
    assert.equal(r.status, status, `${what}: ${JSON.stringify(r.body)}`);
    assert.match(String(r.body?.error), error, what);
  }
  // HTTP/1.0 needs no Host; this API does.
  const raw = await slowClient(port, 'GET /relays HTTP/1.0\r\n\r\n');
  const { data } = await raw.closed;
  assert.match(data, /^HTTP\/1\.1 400 /);
  assert.match(data, /"error": "a request needs a Host header"/);
  assert.deepEqual(
    registry.list().map((r) => r.name),
    ['web'],
    'no relay was created',
  );

  for (const host of [`127.0.0.1:${port}`, `localhost:${port}`, `LOCALHOST:${port}`, `[::1]:${port}`]) {
    const r = await apiRequest(port, { path: '/version', headers: { host, origin: `http://${host}` } });
    assert.equal(r.status, 200, `${host}: ${r.text}`);
  }
  const made = await apiRequest(port, {
    method: 'POST',
    path: '/relays',
    headers: { 'content-type': 'application/json; charset=utf-8' },
    body: relay,
  });
  assert.equal(made.status, 201, made.text);
  assert.equal((await apiRequest(port, { method: 'POST', path: '/reset' })).status, 204, 'no body, no type');
});

test('a relay created through the API listens on loopback only, unless allowed', async (t) => {
  const { port, registry, server } = await setup(t);
  const upstream = `127.0.0.1:${server.port}`;
  for (const listen of [':0', '0.0.0.0:0', 'tcp://[::]:0', 'udp://:0']) {
    const r = await apiRequest(port, {
      method: 'POST',
      path: '/relays',
      body: { name: 'wide', listen, upstream: listen.startsWith('udp') ? `udp://${upstream}` : upstream },
    });
    assert.equal(r.status, 403, `${listen}: ${r.text}`);
    assert.match(
      String(r.body?.error),
      /^relay 'wide' would listen on .*, beyond loopback: .*--api-allow-remote-listen$/,
    );
  }
  assert.equal(registry.get('wide'), undefined);
  for (const [name, listen] of [
    ['v4', '127.0.0.1:0'],
    ['bare', '0'],
    ['named', 'localhost:0'],
  ]) {
    const r = await apiRequest(port, { method: 'POST', path: '/relays', body: { name, listen, upstream } });
    assert.equal(r.status, 201, `${listen}: ${r.text}`);
  }

  const open = await setup(t, { allowRemoteListen: true });
  const wide = await apiRequest(open.port, {
    method: 'POST',
    path: '/relays',
    body: { name: 'wide', listen: ':0', upstream },
  });
  assert.equal(wide.status, 201, wide.text);
  assert.match(String(wide.body?.listen), /^tcp:\/\/\[::\]:\d+$/);

  assert.equal(parse(['--api', '0', '--api-allow-remote-listen']).apiAllowRemoteListen, true);
  assert.equal(parse(['--api', '0']).apiAllowRemoteListen, undefined);
  assert.throws(() => parse(['9000', '127.0.0.1:1', '--api-allow-remote-listen']), {
    message: /--api-allow-remote-listen is for relays created through the API: give --api ADDRESS/,
  });
});

test('bound beyond loopback, the API needs the token it was given or made', async (t) => {
  const { port, api } = await setup(t, { listen: 'tcp://:0' });
  assert.equal(api.address().host, '::');
  assert.match(api.token ?? '', /^[\w-]{32}$/);
  const bearer = { authorization: `Bearer ${api.token}` };
  const none = await apiRequest(port, { path: '/relays' });
  assert.equal(none.status, 401);
  assert.match(String(none.body?.error), /^this API needs a token: send "Authorization: Bearer TOKEN"/);
  assert.equal(none.headers['www-authenticate'], 'Bearer realm="socklab relay"');
  const wrong = await apiRequest(port, {
    path: '/relays',
    headers: { authorization: `Bearer x${api.token}` },
  });
  assert.equal(wrong.status, 401);
  assert.equal(wrong.body?.error, 'wrong token');
  assert.equal((await fromWebPage(port)).status, 403, 'a foreign Origin is refused, token or not');
  assert.equal((await fromWebPage(port, bearer)).status, 403);
  assert.equal((await apiRequest(port, { path: '/relays', headers: bearer })).status, 200);
  // With a token, Host may be a name (a container's): the token is what keeps pages out.
  const named = await apiRequest(port, { path: '/version', headers: { ...bearer, host: 'relay:8474' } });
  assert.equal(named.status, 200, named.text);
  assert.equal((await apiRequest(port, { method: 'POST', path: '/reset', headers: bearer })).status, 204);

  // On loopback, none unless given.
  const local = await setup(t);
  assert.equal(local.api.token, undefined);
  const given = await setup(t, { token: 'a-token-of-my-own-0123' });
  assert.equal((await apiRequest(given.port, { path: '/relays' })).status, 401);
  const withIt = await apiRequest(given.port, {
    path: '/relays',
    headers: { authorization: 'bearer a-token-of-my-own-0123' },
  });
  assert.equal(withIt.status, 200);
});

test('socklab relay --api :0 prints a token, and refuses requests without it', async (t) => {
  const cli = await startCli(['relay', '--api', ':0'], { listening: 0 });
  t.after(() => void cli.stop('SIGKILL'));
  await cli.waitFor(/api token: \S+ .*\n/, 'stderr');
  const port = Number(/api on http:\/\/127\.0\.0\.1:(\d+)\n/.exec(cli.stderr())![1]);
  const token =
    /api token: (\S+) \(the API listens on tcp:\/\/\[::\]:\d+, beyond loopback: requests need "Authorization: Bearer TOKEN"\)\n/.exec(
      cli.stderr(),
    )![1]!;
  assert.equal((await apiRequest(port, { path: '/relays' })).status, 401);
  assert.equal(
    (await apiRequest(port, { path: '/relays', headers: { authorization: `Bearer ${token}` } })).status,
    200,
  );
  const result = await cli.stop('SIGINT');
  assert.equal(result.code, 130, result.stderr);

  const local = await startCli(['relay', '--api', '127.0.0.1:0'], { listening: 0 });
  t.after(() => void local.stop('SIGKILL'));
  await local.waitFor(/api on http:\/\/127\.0\.0\.1:\d+\n/, 'stderr');
  const stopped = await local.stop('SIGINT');
  assert.doesNotMatch(stopped.stderr, /token/);
});

test('slow clients: half a header, or nothing, gets a 408 and is closed within seconds; others are served', async (t) => {
  assert.ok(
    API_HEADERS_TIMEOUT_MS <= 10_000 &&
      API_REQUEST_TIMEOUT_MS <= 30_000 &&
      API_KEEP_ALIVE_TIMEOUT_MS <= 10_000,
  );
  assert.ok(MAX_API_CONNECTIONS >= 16 && MAX_API_CONNECTIONS <= 1024);
  const { port } = await setup(t);
  const slow = await Promise.all([
    ...[1, 2, 3].map((i) =>
      slowClient(port, `GET /relays HTTP/1.1\r\nHost: 127.0.0.1:${port}\r\nX-Slow-${i}: a`),
    ),
    slowClient(port, 'GET /rel'),
    slowClient(port, ''),
  ]);
  t.after(() => slow.forEach((c) => c.socket.destroy()));
  assert.equal((await apiRequest(port, { path: '/version' })).status, 200, 'served while they wait');
  const limit = API_HEADERS_TIMEOUT_MS + 1500;
  for (const { closed } of slow) {
    const { data, afterMs } = await within(closed, limit, `the server to close a slow client (${limit} ms)`);
    assert.ok(afterMs >= API_HEADERS_TIMEOUT_MS - 100, `closed after ${afterMs} ms`);
    assert.match(data, /^HTTP\/1\.1 408 Request Timeout\r\n/);
    assert.match(
      data,
      new RegExp(
        `"error": "the request took too long: headers must arrive within ${API_HEADERS_TIMEOUT_MS} ms`,
      ),
    );
  }
  assert.equal((await apiRequest(port, { path: '/version' })).status, 200);
});

test('the connection cap closes extra clients at once (logged once); a slow body and an idle keep-alive are closed too', async (t) => {
  const lines: string[] = [];
  const { port } = await setup(t, {
    log: (line) => lines.push(line),
    limits: { maxConnections: 3, headersTimeoutMs: 500, requestTimeoutMs: 1000, keepAliveTimeoutMs: 300 },
  });
  const held = await Promise.all([
    slowClient(port, `GET /relays HTTP/1.1\r\nHost: 127.0.0.1:${port}\r\n`),
    slowClient(port, 'GET / HTTP/1.1\r\n'),
    slowClient(
      port,
      `POST /relays HTTP/1.1\r\nHost: 127.0.0.1:${port}\r\nContent-Type: application/json\r\nContent-Length: 100\r\n\r\n{"na`,
    ),
  ]);
  t.after(() => held.forEach((c) => c.socket.destroy()));
  // No wait needed: the kernel's accept queue is first in, first out, and the server counts a
  // connection as it accepts it, so the three held ones are counted before any extra is accepted.
  const extra = await Promise.all([1, 2, 3].map(() => slowClient(port, '')));
  t.after(() => extra.forEach((c) => c.socket.destroy()));
  for (const { closed } of extra) {
    const { data, afterMs } = await within(closed, 1000, 'the server to close a connection over the cap');
    assert.equal(data, '');
    assert.ok(afterMs < 400, `closed after ${afterMs} ms`);
  }
  assert.deepEqual(lines, [
    '3 connections at once, the most it takes: closing new ones (slow or stuck clients?)',
  ]);
  const body = await within(held[2].closed, 2500, 'the slow body to meet the request timeout');
  assert.ok(body.afterMs >= 900, `closed after ${body.afterMs} ms`);
  assert.match(body.data, /^HTTP\/1\.1 408 /);
  await within(Promise.all(held.map((c) => c.closed)), 2500, 'the slow headers to meet the header timeout');
  assert.equal((await apiRequest(port, { path: '/version' })).status, 200, 'served once they are gone');

  // Keep-alive: an answered client that sends nothing more is closed (node adds up to 1 s).
  const kept = await slowClient(port, `GET /version HTTP/1.1\r\nHost: 127.0.0.1:${port}\r\n\r\n`);
  const after = await within(kept.closed, 2500, 'an idle keep-alive connection to be closed');
  assert.match(after.data, /^HTTP\/1\.1 200 OK/);
});

test('fd exhaustion on accept (EMFILE/ENFILE) is one line, not a crash, and again at most once a period', () => {
  const server = http.createServer();
  const lines: string[] = [];
  const clock = new ManualClock();
  watchAccept(server, (line) => lines.push(line), { maxConnections: 64 }, 200, clock);
  const emfile = (code: string) =>
    Object.assign(new Error(`accept ${code}`), { code, errno: -24, syscall: 'accept' });
  for (let i = 0; i < 100; i++) server.emit('error', emfile(i % 2 === 0 ? 'EMFILE' : 'ENFILE'));
  assert.deepEqual(lines, [
    'out of file descriptors (EMFILE) accepting a connection: clients are turned away until some close (raise the limit: ulimit -n)',
  ]);
  clock.advance(250);
  server.emit('error', emfile('EMFILE'));
  assert.equal(lines.length, 2);
  assert.match(lines[1]!, /\(99 more since the last time\)$/);
  server.emit('error', Object.assign(new Error('accept EPERM'), { code: 'EPERM', syscall: 'accept' }));
  assert.equal(lines.length, 3);
  assert.match(lines[2]!, /^cannot accept a connection: /);
  assert.ok(lines.every((line) => !line.includes('\n')));
});
