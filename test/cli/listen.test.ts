import assert from 'node:assert/strict';
import { createHash } from 'node:crypto';
import { spawn } from 'node:child_process';
import { once } from 'node:events';
import { mkdtemp, readFile, rm, writeFile } from 'node:fs/promises';
import { openSync, closeSync } from 'node:fs';
import net from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { test } from 'node:test';
import { parse } from '../../src/cli/commands/listen.js';
import { connectTcp } from '../../src/client/tcp-client.js';
import { openUdp } from '../../src/client/udp-client.js';
import { BIN, runCli, startCli, type RunningCli } from '../helpers/cli.js';
import { freePort } from '../helpers/ports.js';
import { randomBytes } from '../helpers/random.js';
import { startProcess } from '../helpers/spawn.js';

const sha256 = (b: Buffer) => createHash('sha256').update(b).digest('hex');

async function tempDir(t: { after: (fn: () => Promise<void>) => void }): Promise<string> {
  const dir = await mkdtemp(join(tmpdir(), 'socklab-test-'));
  t.after(() => rm(dir, { recursive: true, force: true }));
  return dir;
}

test('argv → options', () => {
  const o = parse([
    '9000',
    'udp://:9000',
    '--reply',
    'Hi {msg}',
    '--welcome',
    'W\\n',
    '--exit-word',
    'bye',
    '--lines',
    '-v',
  ]);
  assert.deepEqual(o.endpoints, [
    { transport: 'tcp', host: '127.0.0.1', port: 9000 },
    { transport: 'udp', host: '::', port: 9000 },
  ]);
  assert.deepEqual(o.response, { kind: 'reply', template: 'Hi {msg}' });
  assert.deepEqual(o.welcome, Buffer.from('W\n'));
  assert.equal(o.exitWord, 'bye');
  assert.equal(o.lines, true);
  assert.equal(o.verbose, true);
  assert.equal(o.output, 'raw');
  assert.equal(parse(['-u', '0', '-q']).endpoints[0]?.transport, 'udp');
  assert.equal(parse(['0', '--idle-timeout', '1.5s']).idleTimeoutMs, 1500);
  assert.equal(parse(['0', '--delay', '5ms']).delayMs, 5);
  for (const [argv, why] of [
    [[], /at least one ADDRESS/],
    [['0', '--echo', '--reply', 'x'], /--echo and --reply cannot be used together/],
    [['0', '--hex', '--json'], /cannot be used together/],
    [['-u', '0', '--chat'], /--chat needs a TCP address/],
    [['0', '--delay', 'soon'], /--delay: 'soon' is not a duration/],
    [['0', '--delay', '5'], /--delay: '5' needs a unit: 5ms or 5s/],
    [['0', '--idle-timeout', '30'], /--idle-timeout: '30' needs a unit/],
    [['0', '--max-conns', '0'], /below the minimum/],
    [['0', '--reply', '{x}'], /unknown field/],
    [['0', '--frobnicate'], /unknown option '--frobnicate'/],
    [['0', '--reply', ''], /--reply: the template is empty/],
    [['-u', '0', '--exit-word', 'exit'], /--exit-word needs a TCP address/],
    [
      ['-l', '9000'],
      /^unknown option '-l': socklab listen needs no -l: write the address, e\.g\. socklab listen 9000/,
    ],
    [['-p', '9000'], /^unknown option '-p': socklab listen takes the port as the address/],
    [
      ['9000', '-k'],
      /^unknown option '-k': socklab listen keeps serving by default \(--once serves one client\)/,
    ],
  ] as const) {
    assert.throws(
      () => parse(argv),
      (e: Error) => why.test(e.message),
      argv.join(' '),
    );
  }
});

test('usage errors exit 2 with one line and a pointer to --help; network errors exit 1', async (t) => {
  const usage = await runCli(['listen', '0', '--reply', '{oops}']);
  assert.equal(usage.code, 2);
  assert.equal(usage.stderr.trim().split('\n').length, 1);
  assert.match(usage.stderr, /bad template '\{oops\}'.*see 'socklab listen --help'/);

  const holder = net.createServer().listen(0, '127.0.0.1');
  await once(holder, 'listening');
  t.after(() => holder.close());
  const { port } = holder.address() as net.AddressInfo;
  const inUse = await runCli(['listen', String(port)]);
  assert.equal(inUse.code, 1);
  assert.equal(
    inUse.stderr,
    `socklab listen: cannot listen on tcp://127.0.0.1:${port}: address already in use (EADDRINUSE)\n`,
  );

  const range = await runCli(['listen', '70000']);
  assert.equal(range.code, 2);
  assert.match(range.stderr, /port 70000 is out of range/);
  assert.doesNotMatch(range.stderr + inUse.stderr + usage.stderr, /at .*\.js:\d+/, 'no stack trace');
});

test('--help has examples', async () => {
  const r = await runCli(['listen', '--help']);
  assert.equal(r.code, 0);
  assert.match(r.stdout, /Examples:\n {2}socklab listen/);
});

test('--once serves one TCP client, prints what it sent, and exits 0', async (t) => {
  const server = await startCli(['listen', '0', '--once', '--reply', 'Hello from server!', '-v']);
  t.after(() => server.stop('SIGKILL'));
  const client = await connectTcp({
    host: '127.0.0.1',
    port: server.ports[0]!,
    signal: AbortSignal.timeout(10_000),
  });
  t.after(() => client.destroy());
  assert.equal(await client.request('Hello from client!', { timeoutMs: 5000 }), 'Hello from server!');
  await client.end();
  const result = await server.exited();
  assert.equal(result.code, 0);
  assert.equal(result.stdout, 'Hello from client!');
  assert.match(result.stderr, /connection from 127\.0\.0\.1:\d+ \(#1\)/);
  assert.match(result.stderr, /closed 127\.0\.0\.1:\d+ \(#1\): 18 bytes in, 18 out/);
});

test('--once on UDP answers one datagram and exits 0', async (t) => {
  const server = await startCli(['listen', '-u', '0', '--once', '--reply', 'Hello from UDP server!']);
  t.after(() => server.stop('SIGKILL'));
  const client = await openUdp({ host: '127.0.0.1', port: server.ports[0]! });
  t.after(() => client.close());
  assert.equal(
    (await client.request('Hello from UDP client!', { timeoutMs: 5000 })).data.toString(),
    'Hello from UDP server!',
  );
  const result = await server.exited();
  assert.equal(result.code, 0);
  assert.equal(result.stdout, 'Hello from UDP client!');
});

test('TCP and UDP on one port number, in one process', async (t) => {
  // Find a port free for both: take one from the OS for TCP, then try UDP on it.
  let server: RunningCli | undefined;
  for (let attempt = 0; attempt < 5 && !server; attempt++) {
    const port = await freePort('tcp');
    server = await startCli(['listen', `tcp://127.0.0.1:${port}`, `udp://127.0.0.1:${port}`, '--echo'], {
      listening: 2,
    }).catch(() => undefined);
  }
  assert.ok(server, 'found a port free for TCP and UDP');
  const running = server;
  t.after(() => running.stop('SIGKILL'));
  assert.equal(server.ports[0], server.ports[1]);
  assert.deepEqual(
    server.addresses.map((a) => a.split(':')[0]),
    ['tcp', 'udp'],
  );
  const tcp = await connectTcp({
    host: '127.0.0.1',
    port: server.ports[0]!,
    signal: AbortSignal.timeout(10_000),
  });
  t.after(() => tcp.destroy());
  const udp = await openUdp({ host: '127.0.0.1', port: server.ports[0]! });
  t.after(() => udp.close());
  assert.equal(await tcp.request('over tcp', { timeoutMs: 5000 }), 'over tcp');
  assert.equal((await udp.request('over udp', { timeoutMs: 5000 })).data.toString(), 'over udp');
});

test('localhost listens on every address it resolves to', async (t) => {
  const server = await startCli(['listen', 'localhost:0', '--echo']);
  t.after(() => server.stop('SIGKILL'));
  // Give the second bind (if localhost also resolves to ::1) its chance to be printed.
  const both =
    server.addresses.length > 1 ||
    (await server.waitFor(/listening on .*\n.*listening on/, 'stderr', 1000).then(
      () => true,
      () => false,
    ));
  const lines = server.stderr().match(/listening on \S+/g) ?? [];
  assert.ok(lines.length >= 1);
  if (both)
    assert.equal(new Set(lines.map((l) => l.replace(/.*:/, ''))).size, 1, 'one port for all addresses');
  const client = await connectTcp({
    host: 'localhost',
    port: server.ports[0]!,
    signal: AbortSignal.timeout(10_000),
  });
  t.after(() => client.destroy());
  assert.equal(await client.request('hi', { timeoutMs: 5000 }), 'hi');
});

test('64 MiB piped through connect into listen -o arrives with the same SHA-256', async (t) => {
  const dir = await tempDir(t);
  const input = join(dir, 'in.bin');
  const output = join(dir, 'out.bin');
  const data = randomBytes(64 * 1024 * 1024, 2024);
  await writeFile(input, data);
  const server = await startCli(['listen', '0', '--once', '-q', '-o', output]);
  t.after(() => server.stop('SIGKILL'));
  const fd = openSync(input, 'r');
  const client = spawn(process.execPath, [BIN, 'connect', `127.0.0.1:${server.ports[0]}`], {
    stdio: [fd, 'pipe', 'pipe'],
  });
  closeSync(fd);
  const errs: Buffer[] = [];
  client.stderr?.on('data', (c: Buffer) => errs.push(c));
  const [code] = (await once(client, 'close')) as [number];
  assert.equal(code, 0, Buffer.concat(errs).toString());
  const result = await server.exited(60_000);
  assert.equal(result.code, 0, result.stderr);
  const received = await readFile(output);
  assert.equal(received.length, data.length);
  assert.equal(sha256(received), sha256(data));
});

test('Ctrl-C flushes everything received to -o, then exits 130', async (t) => {
  const dir = await tempDir(t);
  const output = join(dir, 'out.bin');
  const server = await startCli(['listen', '0', '-o', output]);
  t.after(() => server.stop('SIGKILL'));
  const payload = randomBytes(3 * 1024 * 1024, 99);
  const sock = net.connect(server.ports[0]!, '127.0.0.1');
  t.after(() => sock.destroy());
  sock.write(payload);
  // Printed to stdout as it arrives: once stdout has it all, the server has read it all.
  await waitForBytes(server.child.stdout, payload.length, server);
  const result = await server.stop('SIGINT');
  assert.equal(result.code, 130);
  const saved = await readFile(output);
  assert.equal(saved.length, payload.length);
  assert.ok(saved.equals(payload));
});

/** Wait until `count` bytes have gone through the child's stdout (bounded). */
async function waitForBytes(
  stream: NodeJS.ReadableStream,
  count: number,
  server: { stdoutBytes(): Buffer },
): Promise<void> {
  let seen = server.stdoutBytes().length;
  if (seen >= count) return;
  await new Promise<void>((resolve, reject) => {
    const timer = setTimeout(() => reject(new Error(`only ${seen} of ${count} bytes printed`)), 20_000);
    const onData = (c: Buffer) => {
      seen += c.length;
      if (seen >= count) {
        clearTimeout(timer);
        stream.off('data', onData);
        resolve();
      }
    };
    stream.on('data', onData);
  });
}

test('--hex and --json show binary data safely', async (t) => {
  const hex = await startCli(['listen', '-u', '0', '--hex', '--once']);
  t.after(() => hex.stop('SIGKILL'));
  const client = await openUdp({ host: '127.0.0.1', port: hex.ports[0]! });
  t.after(() => client.close());
  await client.send(Buffer.from([0x1b, 0x5b, 0x32, 0x4a, 0x00, 0xff, 0x41]));
  const result = await hex.exited();
  assert.match(result.stdout, /^udp:\/\/127\.0\.0\.1:\d+ #1, 7 bytes\n00000000 {2}1b 5b 32 4a 00 ff 41 {2}/);
  assert.match(result.stdout, /\|\.\[2J\.\.A\|/);
});

test('an empty UDP datagram is a message too', async (t) => {
  const server = await startCli(['listen', '-u', '0', '--json', '--once', '--echo']);
  t.after(() => server.stop('SIGKILL'));
  const client = await openUdp({ host: '127.0.0.1', port: server.ports[0]! });
  t.after(() => client.close());
  assert.equal((await client.request(Buffer.alloc(0), { timeoutMs: 5000 })).data.length, 0);
  const result = await server.exited();
  const event = JSON.parse(result.stdout.trim()) as Record<string, unknown>;
  assert.equal(event.event, 'message');
  assert.equal(event.bytes, 0);
});

test('with --lines a client over --max-message is cut off and others are still served (CLI)', async (t) => {
  const server = await startCli(['listen', '0', '--lines', '--max-message', '32', '--echo', '-v']);
  t.after(() => server.stop('SIGKILL'));
  const bad = net.connect(server.ports[0]!, '127.0.0.1');
  t.after(() => bad.destroy());
  bad.on('error', () => undefined);
  bad.write('y'.repeat(1000));
  await server.waitFor(/exceeds the limit of 32 bytes/, 'stderr');
  const good = await connectTcp({
    host: '127.0.0.1',
    port: server.ports[0]!,
    signal: AbortSignal.timeout(10_000),
  });
  t.after(() => good.destroy());
  assert.equal(await good.request('ok\n', { timeoutMs: 5000 }), 'ok\n');
  const result = await server.stop();
  assert.equal(result.code, 130);
});

// A full disk mid-upload must fail the server (exit 1, one line, after the summary), never exit 0.

test('-o to a full disk, in the middle of a 1 MiB upload: the summary, then one line, exit 1', async (t) => {
  const server = await startCli(['listen', '0', '--once', '-q', '-o', '/dev/full']);
  t.after(() => server.stop('SIGKILL'));
  const sock = net.connect(server.ports[0]!, '127.0.0.1');
  t.after(() => sock.destroy());
  sock.on('error', () => undefined); // the server gives up on this upload
  sock.end(randomBytes(1024 * 1024, 21));
  const result = await server.exited(15_000);
  assert.equal(result.code, 1, result.stderr);
  assert.match(
    result.stderr,
    /summary tcp:\/\/127\.0\.0\.1:\d+: 1 connection, \d+ bytes in, 0 out\nsocklab listen: cannot write \/dev\/full: no space left on device \(ENOSPC\)\n$/,
  );
});

test('stdout on a full disk: exit 1 with one line, not a silent exit 0', async (t) => {
  const server = startProcess('/bin/sh', [
    '-c',
    'exec "$0" "$1" listen 0 --once > /dev/full',
    process.execPath,
    BIN,
  ]);
  t.after(() => server.stop('SIGKILL'));
  await server.waitFor(/listening on tcp:\/\/127\.0\.0\.1:\d+\n/, 'stderr');
  const port = Number(/127\.0\.0\.1:(\d+)/.exec(server.stderr())![1]);
  const sock = net.connect(port, '127.0.0.1');
  t.after(() => sock.destroy());
  sock.on('error', () => undefined);
  sock.end(randomBytes(1024 * 1024, 22));
  const result = await server.exited(15_000);
  assert.equal(result.code, 1, result.stderr);
  assert.match(
    result.stderr,
    /\nsocklab listen: cannot write to stdout: no space left on device \(ENOSPC\)\n$/,
  );
});

test('the summary at Ctrl-C counts the bytes of connections still open', async (t) => {
  const server = await startCli(['listen', '0', '-q', '--echo']);
  t.after(() => server.stop('SIGKILL'));
  const client = await connectTcp({
    host: '127.0.0.1',
    port: server.ports[0]!,
    signal: AbortSignal.timeout(10_000),
  });
  t.after(() => client.destroy());
  // Echoed back: the server has read all 100 bytes. The connection stays open.
  assert.equal((await client.request('x'.repeat(100), { timeoutMs: 5000 })).length, 100);
  const result = await server.stop('SIGINT');
  assert.equal(result.code, 130);
  assert.match(result.stderr, /summary tcp:\/\/127\.0\.0\.1:\d+: 1 connection, 100 bytes in, 100 out\n/);
});

test('SIGTERM ends a server with 143 (128 + 15), Ctrl-C with 130', async (t) => {
  const server = await startCli(['listen', '0']);
  t.after(() => server.stop('SIGKILL'));
  assert.equal((await server.stop('SIGTERM')).code, 143);
});

test('listen A B where B cannot be bound: one error, and no "listening on A" printed first', async (t) => {
  const busy = net.createServer();
  busy.listen(0, '127.0.0.1');
  await once(busy, 'listening');
  t.after(() => busy.close());
  const { port } = busy.address() as net.AddressInfo;
  const result = await runCli(['listen', '0', `127.0.0.1:${port}`]);
  assert.equal(result.code, 1);
  assert.equal(
    result.stderr,
    `socklab listen: cannot listen on tcp://127.0.0.1:${port}: address already in use (EADDRINUSE)\n`,
  );
});
