import assert from 'node:assert/strict';
import { once } from 'node:events';
import { mkdtemp, rm, writeFile } from 'node:fs/promises';
import net from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { test } from 'node:test';
import { echo } from '../../src/behaviours/echo.js';
import { exitWord } from '../../src/behaviours/exit-word.js';
import { reply } from '../../src/behaviours/reply.js';
import { welcome } from '../../src/behaviours/welcome.js';
import type { Behaviour } from '../../src/behaviours/behaviour.js';
import { parse } from '../../src/cli/commands/connect.js';
import { connectTcp } from '../../src/client/tcp-client.js';
import { lines } from '../../src/core/framing.js';
import { createRelay } from '../../src/relay/relay.js';
import { listenTcp } from '../../src/server/tcp-server.js';
import { listenUdp } from '../../src/server/udp-server.js';
import { BIN, runCli } from '../helpers/cli.js';
import { startProcess } from '../helpers/spawn.js';
import { closedPort } from '../helpers/ports.js';

test('argv → options', () => {
  const o = parse(['127.0.0.1:9000', 'a', 'b', '-W', '--eol', 'crlf', '--timeout', '700ms']);
  assert.deepEqual(o.endpoint, { transport: 'tcp', host: '127.0.0.1', port: 9000 });
  assert.deepEqual(o.messages.map(String), ['a\r\n', 'b\r\n']);
  assert.equal(o.waitReply, true);
  assert.equal(o.timeoutMs, 700);
  assert.equal(o.idleTimeoutMs, undefined, 'TCP waits for the server to close');
  const u = parse(['-u', '[::1]:53', 'q', '--retries', '3']);
  assert.equal(u.endpoint.transport, 'udp');
  assert.equal(u.retries, 3);
  assert.equal(u.idleTimeoutMs, 1000, 'UDP has a short idle default');
  assert.equal(
    parse(['-u', '[::1]:53', 'q', '-W']).idleTimeoutMs,
    0,
    'with -W the reply is what it waited for',
  );
  assert.equal(parse(['-u', '[::1]:53', 'q', '-W', '--idle-timeout', '0.5s']).idleTimeoutMs, 500);
  for (const [argv, why] of [
    [[], /needs an address/],
    // netcat habits get a hint, not just an error.
    [['9000'], /'9000' is a port alone: a client needs a host too \(did you mean 127\.0\.0\.1:9000\?\)/],
    [['127.0.0.1', '9000'], /did you mean 127\.0\.0\.1:9000\?/],
    [['localhost', '80', 'x'], /did you mean localhost:80\?/],
    [['::1', '9000'], /did you mean \[::1\]:9000\?/],
    [['127.0.0.1:1', '--eol', 'cr'], /not one of lf, crlf, none/],
    [['127.0.0.1:1', '--retries', '2'], /--retries is for UDP/],
    [['127.0.0.1:1', '--timeout=-1ms'], /--timeout: '-1ms' is negative/],
    // A negative number after a flag is its value, so the error says what is wrong with it …
    [['127.0.0.1:1', '--timeout', '-1s'], /--timeout: '-1s' is negative/],
    [['127.0.0.1:1', '--timeout', '700'], /--timeout: '700' needs a unit: 700ms or 700s/],
    // … other values starting with '-' are ambiguous, and the error says how to write them.
    [['127.0.0.1:1', '--eol', '-x'], /ambiguous \(for a value starting with '-', write --eol=VALUE\)/],
    [['-u', '127.0.0.1:1', 'x'.repeat(70_000)], /does not fit in one UDP datagram/],
  ] as const) {
    assert.throws(
      () => parse(argv),
      (e: Error) => why.test(e.message),
      argv.join(' ').slice(0, 40),
    );
  }
});

test('-W: the greeting is shown as the greeting, each reply on its own line', async (t) => {
  const server = await listenTcp({
    port: 0,
    behaviours: [welcome('Welcome!'), exitWord('exit'), reply('Hello, {msg}!')],
    delayMs: 50,
  });
  t.after(() => server.close({ force: true }));
  const r = await runCli(['connect', `127.0.0.1:${server.address().port}`, 'Michael', 'Tracy', 'exit', '-W']);
  assert.equal(r.code, 0, r.stderr);
  assert.equal(r.stdout, 'Welcome!\nHello, Michael!\nHello, Tracy!\n');
});

test('without -W: messages go out, FIN follows, and everything until the server closes is printed', async (t) => {
  const server = await listenTcp({ port: 0, behaviours: [reply('[{msg}]')] });
  t.after(() => server.close({ force: true }));
  const r = await runCli(['connect', `127.0.0.1:${server.address().port}`, 'one', '-v']);
  assert.equal(r.code, 0, r.stderr);
  assert.equal(r.stdout, '[one]');
  assert.match(r.stderr, /sent FIN \(half-close\)/);
  assert.match(r.stderr, /closed the connection/);
});

test('pipe mode: stdin to the socket, half-close at EOF, the echo to stdout, bytes exact', async (t) => {
  const server = await listenTcp({ port: 0, behaviours: [echo()] });
  t.after(() => server.close({ force: true }));
  const input = Buffer.from([...Array(256).keys()]);
  const r = await runCli(['connect', `127.0.0.1:${server.address().port}`], { input });
  assert.equal(r.code, 0, r.stderr);
  assert.ok(r.stdoutBytes.equals(input));
});

test('no reply within --timeout: exit 1 with one line; the server closing instead of answering the last message is not an error', async (t) => {
  const silent = await listenTcp({ port: 0, behaviours: [] });
  t.after(() => silent.close({ force: true }));
  const r = await runCli([
    'connect',
    `127.0.0.1:${silent.address().port}`,
    'hello?',
    '-W',
    '--timeout',
    '200ms',
    '--greeting-wait',
    '0',
  ]);
  assert.equal(r.code, 1);
  assert.match(
    r.stderr,
    /^socklab connect: no reply from tcp:\/\/127\.0\.0\.1:\d+ within 200 ms \(--timeout\)\n$/,
  );

  const closer = await listenTcp({ port: 0, behaviours: [exitWord('a')] });
  t.after(() => closer.close({ force: true }));
  // The exit word as the last message: the server's close is its answer.
  const last = await runCli([
    'connect',
    `127.0.0.1:${closer.address().port}`,
    'a',
    '-W',
    '--greeting-wait',
    '0',
  ]);
  assert.equal(last.code, 0, last.stderr);
  // With a message left after it, that message would be lost: exit 1, and which.
  const early = await runCli([
    'connect',
    `127.0.0.1:${closer.address().port}`,
    'a',
    'b',
    '-W',
    '--greeting-wait',
    '0',
  ]);
  assert.equal(early.code, 1, early.stderr);
  assert.match(early.stderr, /closed the connection before replying to 'a'; 1 message not sent\n$/);
});

test('network errors exit 1 with one line naming the address; usage errors exit 2', async () => {
  const port = await closedPort();
  const refused = await runCli(['connect', `127.0.0.1:${port}`, 'x']);
  assert.equal(refused.code, 1);
  assert.equal(
    refused.stderr,
    `socklab connect: cannot connect to tcp://127.0.0.1:${port}: connection refused (ECONNREFUSED)\n`,
  );
  const unknown = await runCli(['connect', 'nosuch.invalid:80', 'x']);
  assert.equal(unknown.code, 1);
  assert.match(
    unknown.stderr,
    /^socklab connect: cannot connect to tcp:\/\/nosuch\.invalid:80: host not found/,
  );
  const udpPort = await closedPort('udp');
  const udpRefused = await runCli(['connect', '-u', `127.0.0.1:${udpPort}`, 'x', '-W', '--timeout', '2s']);
  assert.equal(udpRefused.code, 1);
  assert.match(udpRefused.stderr, /port unreachable/);
  const bad = await runCli(['connect', '127.0.0.1:80', '--nope']);
  assert.equal(bad.code, 2);
  assert.match(bad.stderr, /unknown option '--nope'.*socklab connect --help/);
});

test('UDP: -W with --retries survives a lost datagram; replies after the last message are printed until idle', async (t) => {
  const loseFirst: Behaviour = { name: 'lose-first', onMessage: (msg) => (msg.n === 1 ? 'stop' : undefined) };
  const server = await listenUdp({ port: 0, behaviours: [loseFirst, reply('Hello, {msg}!')] });
  t.after(() => server.close());
  const port = server.address().port;
  const r = await runCli([
    'connect',
    '-u',
    `127.0.0.1:${port}`,
    'Michael',
    'Tracy',
    '-W',
    '--timeout',
    '300ms',
    '--retries',
    '2',
  ]);
  assert.equal(r.code, 0, r.stderr);
  assert.equal(r.stdout, 'Hello, Michael!\nHello, Tracy!\n');
  const noRetry = await runCli(['connect', '-u', `127.0.0.1:${port}`, 'Sarah', '-W', '--timeout', '200ms']);
  assert.equal(noRetry.code, 1);
  assert.match(
    noRetry.stderr,
    /no reply from udp:\/\/127\.0\.0\.1:\d+ within 200 ms \(1 try; UDP may lose datagrams: try --retries\)/,
  );

  const echoServer = await listenUdp({ port: 0, behaviours: [echo()] });
  t.after(() => echoServer.close());
  const fire = await runCli([
    'connect',
    '-u',
    `127.0.0.1:${echoServer.address().port}`,
    'a',
    'b',
    '--idle-timeout',
    '300ms',
  ]);
  assert.equal(fire.code, 0, fire.stderr);
  assert.equal(fire.stdout, 'a\nb\n');
});

test('--json: one event per line', async (t) => {
  const server = await listenTcp({ port: 0, behaviours: [reply('Hi {msg}')] });
  t.after(() => server.close({ force: true }));
  const r = await runCli([
    'connect',
    `127.0.0.1:${server.address().port}`,
    'x',
    '-W',
    '--json',
    '--greeting-wait',
    '0',
  ]);
  assert.equal(r.code, 0, r.stderr);
  const events = r.stdout
    .trim()
    .split('\n')
    .map((l) => JSON.parse(l) as Record<string, unknown>);
  assert.deepEqual(
    events.map((e) => e.event),
    ['open', 'message', 'half-close', 'close'],
  );
  assert.equal(events[1]?.text, 'Hi x');
  // listen's vocabulary: the transport and the peer (HOST:PORT, no scheme) in each event.
  const peer = `127.0.0.1:${server.address().port}`;
  assert.deepEqual(
    [events[0]?.transport, events[0]?.peer, events[1]?.peer, events[3]?.peer],
    ['tcp', peer, peer, peer],
  );
});

// -W and a server that closes instead of answering: never a silent exit 0 with messages unsent.

test('-W: a server that reads and closes before replying, with messages left: exit 1, how many not sent', async (t) => {
  const server = net.createServer((s) => {
    s.on('error', () => undefined);
    s.once('data', () => s.end());
  });
  server.listen(0, '127.0.0.1');
  await once(server, 'listening');
  t.after(() => server.close());
  const { port } = server.address() as net.AddressInfo;
  const r = await runCli(['connect', '-W', '--greeting-wait', '0', `127.0.0.1:${port}`, 'ping', 'pong']);
  assert.equal(r.code, 1, r.stderr);
  assert.equal(
    r.stderr,
    `socklab connect: tcp://127.0.0.1:${port} closed the connection before replying to 'ping'; 1 message not sent\n`,
  );
});

test('-W against listen --max-conns 1 that refuses: exit 1, nothing sent', async (t) => {
  const server = await listenTcp({ port: 0, behaviours: [echo()], maxConnections: 1 });
  t.after(() => server.close({ force: true }));
  const first = await connectTcp({ ...server.address(), signal: AbortSignal.timeout(10_000) });
  t.after(() => first.destroy());
  assert.equal(await first.request('hold', { timeoutMs: 5000 }), 'hold'); // the one connection is taken
  const r = await runCli(['connect', '-W', `127.0.0.1:${server.address().port}`, 'ping']);
  assert.equal(r.code, 1, r.stderr);
  assert.match(r.stderr, /closed the connection before the first message was sent; 1 message not sent\n$/);
});

test('--lines -W through a relay that slices the stream: each reply is a whole line, none shifted', async (t) => {
  const server = await listenTcp({ port: 0, behaviours: [reply('Hello, {msg}!')], framing: lines });
  t.after(() => server.close({ force: true }));
  const relay = await createRelay({
    listen: 'tcp://127.0.0.1:0',
    upstream: `tcp://127.0.0.1:${server.address().port}`,
    faults: [{ type: 'slice', direction: 'down', params: { averageSizeBytes: 3, sliceDelayMs: 5 } }],
  });
  t.after(() => relay.close());
  const r = await runCli([
    'connect',
    '--lines',
    '-W',
    `127.0.0.1:${relay.address().port}`,
    'Michael',
    'Tracy',
    'Sarah',
  ]);
  assert.equal(r.code, 0, r.stderr);
  assert.equal(r.stdout, 'Hello, Michael!\nHello, Tracy!\nHello, Sarah!\n');
});

test('--lines is for TCP; with it each message gets a newline unless --eol says otherwise', () => {
  assert.throws(() => parse(['udp://127.0.0.1:9', 'x', '--lines']), { code: 'SOCKLAB_ERR_USAGE' });
  assert.deepEqual(parse(['127.0.0.1:9', 'x', '--lines']).messages, [Buffer.from('x\n')]);
  assert.deepEqual(parse(['127.0.0.1:9', 'x', '--lines', '--eol', 'crlf']).messages, [Buffer.from('x\r\n')]);
});

test('MESSAGEs and a file on stdin: a usage error, not stdin silently left unsent', async (t) => {
  const dir = await mkdtemp(join(tmpdir(), 'socklab-test-'));
  t.after(() => rm(dir, { recursive: true, force: true }));
  const file = join(dir, 'in.txt');
  await writeFile(file, 'from the file\n');
  const proc = startProcess('/bin/sh', [
    '-c',
    'exec "$0" "$1" connect 127.0.0.1:9 hello < "$2"',
    process.execPath,
    BIN,
    file,
  ]);
  t.after(() => proc.stop('SIGKILL'));
  const result = await proc.exited(10_000);
  assert.equal(result.code, 2);
  assert.match(result.stderr, /^socklab connect: MESSAGEs and a file on stdin: give one/);
});
