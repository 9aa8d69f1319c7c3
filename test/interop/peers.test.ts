/**
 * Interoperability with the tools people already use: ncat, socat and OpenBSD nc, as clients of
 * socklab's servers and as servers for socklab's clients, over TCP and UDP, on 127.0.0.1.
 *
 * socklab servers take their port from the OS (port 0). The peers cannot report a port they got
 * from port 0, so peer servers get a port that was free a moment ago (test/helpers/peers.ts),
 * started again on another port if it has been taken meanwhile.
 */
import assert from 'node:assert/strict';
import { createHash } from 'node:crypto';
import { once } from 'node:events';
import { mkdtemp, rm, writeFile } from 'node:fs/promises';
import net from 'node:net';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { test, type TestContext } from 'node:test';
import { BIN, runCli, startCli } from '../helpers/cli.js';
import { findPeers, startPeerServer, type PeerName } from '../helpers/peers.js';
import { randomBytes } from '../helpers/random.js';
import { runProcess, startProcess, type Spawned } from '../helpers/spawn.js';

// CI installs all three (.ci/run); on a machine without one, its tests are skipped, not failed.
const peers = await findPeers();

const sha256 = (data: Buffer) => createHash('sha256').update(data).digest('hex');

/** The peer's full path, or undefined after marking the test skipped (the caller returns). */
function need(t: TestContext, name: PeerName): string | undefined {
  const found = peers[name];
  if (found === undefined)
    t.skip(`${name} not installed (apt-get install ${name === 'nc' ? 'netcat-openbsd' : name})`);
  return found;
}

/** A socklab client running alongside a peer (the test talks to the peer while it runs). */
function startSocklab(t: TestContext, args: readonly string[]): Spawned {
  const proc = startProcess(process.execPath, [BIN, ...args]);
  t.after(() => proc.stop());
  proc.endInput(); // not a terminal, no data: messages come from argv
  return proc;
}

/** UDP clients here wait only this long for more datagrams after the last reply (default 1 s). */
const UDP_IDLE = ['--idle-timeout', '200ms'];

// ---------------------------------------------------------------------------------------------
// Peers as TCP clients of `socklab listen --echo`: they send, half-close on stdin's end, and
// print the echo until socklab closes its side.

const tcpClients: { name: PeerName; args: (port: number) => string[] }[] = [
  { name: 'ncat', args: (port) => ['127.0.0.1', String(port)] }, // ncat half-closes on stdin EOF
  { name: 'socat', args: (port) => ['-', `TCP:127.0.0.1:${port}`] },
  { name: 'nc', args: (port) => ['-N', '127.0.0.1', String(port)] }, // -N: shutdown(SHUT_WR) on EOF
];

for (const { name, args } of tcpClients) {
  test(`${name} as a TCP client of socklab listen --echo gets its data back and exits 0`, async (t) => {
    const bin = need(t, name);
    if (bin === undefined) return;
    const server = await startCli(['listen', '0', '--echo', '-v']);
    t.after(() => server.stop());
    const text = `hello from ${name}\n`;
    const result = await runProcess(bin, args(server.ports[0]!), { input: text, timeoutMs: 10_000 });
    assert.equal(result.code, 0, result.stderr);
    assert.equal(result.stdout, text);
    await server.waitFor(/^closed .*: \d+ bytes in, \d+ out$/m, 'stderr');
    assert.equal(server.stdout(), text); // and the server printed what it received
  });
}

test('nc -N sends 1 MiB of binary through socklab listen --echo and gets every byte back', async (t) => {
  const bin = need(t, 'nc');
  if (bin === undefined) return;
  const server = await startCli(['listen', '0', '--echo', '--quiet']);
  t.after(() => server.stop());
  const data = randomBytes(1024 * 1024, 13);
  const result = await runProcess(bin, ['-N', '127.0.0.1', String(server.ports[0])], {
    input: data,
    timeoutMs: 20_000,
  });
  assert.equal(result.code, 0, result.stderr);
  assert.equal(result.stdoutBytes.length, data.length);
  assert.ok(result.stdoutBytes.equals(data), 'the echo differs from what was sent');
});

test('socklab listen --once --echo serves one ncat client, then exits 0', async (t) => {
  const bin = need(t, 'ncat');
  if (bin === undefined) return;
  const server = await startCli(['listen', '0', '--once', '--echo']);
  t.after(() => server.stop());
  const result = await runProcess(bin, ['127.0.0.1', String(server.ports[0])], { input: 'once\n' });
  assert.equal(result.code, 0, result.stderr);
  assert.equal(result.stdout, 'once\n');
  const done = await server.exited(10_000);
  assert.equal(done.code, 0, done.stderr);
  assert.equal(done.stdout, 'once\n');
});

// ---------------------------------------------------------------------------------------------
// Peers as UDP clients of `socklab listen -u --echo`. A UDP client has no end of session to
// wait for (ncat -u even exits at stdin's EOF before the echo comes), so stdin stays open until
// the echo is seen, then the peer is stopped.

const udpClients: { name: PeerName; args: (port: number) => string[] }[] = [
  { name: 'ncat', args: (port) => ['-u', '127.0.0.1', String(port)] },
  { name: 'socat', args: (port) => ['-', `UDP:127.0.0.1:${port}`] },
  { name: 'nc', args: (port) => ['-u', '127.0.0.1', String(port)] },
];

for (const { name, args } of udpClients) {
  test(`${name} as a UDP client of socklab listen -u --echo gets its datagram back`, async (t) => {
    const bin = need(t, name);
    if (bin === undefined) return;
    const server = await startCli(['listen', '-u', '0', '--echo']);
    t.after(() => server.stop());
    const peer = startProcess(bin, args(server.ports[0]!));
    t.after(() => peer.stop());
    const text = `hello from ${name} over udp\n`;
    peer.write(text);
    await peer.waitFor(text);
    await server.waitFor(text);
    peer.endInput();
    const done = await peer.stop();
    assert.equal(done.stdout, text);
    assert.equal(server.stdout(), text);
  });
}

test('socklab listen -u --once --echo answers one nc datagram, then exits 0', async (t) => {
  const bin = need(t, 'nc');
  if (bin === undefined) return;
  const server = await startCli(['listen', '-u', '0', '--once', '--echo']);
  t.after(() => server.stop());
  const peer = startProcess(bin, ['-u', '127.0.0.1', String(server.ports[0])]);
  t.after(() => peer.stop());
  peer.write('once\n');
  await peer.waitFor('once\n'); // the echo went out before the server closed
  const done = await server.exited(10_000);
  assert.equal(done.code, 0, done.stderr);
  assert.equal(done.stdout, 'once\n');
});

// ---------------------------------------------------------------------------------------------
// Peers as TCP servers for `socklab connect`.

// ncat -l and nc -l print what they receive and send what they read on stdin: a conversation.
// Both close when socklab half-closes (EOF from the network), which ends socklab's session.
const tcpListeners: { name: PeerName; args: (port: number) => string[]; ready: RegExp }[] = [
  { name: 'ncat', args: (port) => ['-v', '-l', '127.0.0.1', String(port)], ready: /Listening on/ },
  { name: 'nc', args: (port) => ['-v', '-l', '127.0.0.1', String(port)], ready: /Listening on/ },
];

for (const { name, args, ready } of tcpListeners) {
  test(`socklab connect -W talks with ${name} -l: each side reads what the other sent`, async (t) => {
    const bin = need(t, name);
    if (bin === undefined) return;
    const peer = await startPeerServer(bin, { transport: 'tcp', args, ready });
    t.after(() => peer.stop());
    const client = startSocklab(t, ['connect', '-W', `127.0.0.1:${peer.port}`, 'hello from socklab\n']);
    await peer.waitFor('hello from socklab\n');
    peer.write(`hello from ${name}\n`); // the reply socklab is waiting for
    const result = await client.exited(10_000);
    assert.equal(result.code, 0, result.stderr);
    assert.equal(result.stdout, `hello from ${name}\n`);
    const done = await peer.exited(10_000);
    assert.equal(done.code, 0, done.stderr);
    assert.equal(done.stdout, 'hello from socklab\n');
  });
}

/** socat as a one-connection TCP server on 127.0.0.1 that hands the stream to `sink` (echo: EXEC:cat or PIPE). */
function startSocatTcpServer(bin: string, sink: 'EXEC:cat' | 'PIPE') {
  return startPeerServer(bin, {
    transport: 'tcp',
    args: (port) => ['-d', '-d', `TCP-LISTEN:${port},bind=127.0.0.1,reuseaddr`, sink],
    ready: /listening on/,
  });
}

test('socklab connect -W against a socat TCP echo server (EXEC:cat) prints each reply on its line', async (t) => {
  const bin = need(t, 'socat');
  if (bin === undefined) return;
  const peer = await startSocatTcpServer(bin, 'EXEC:cat');
  t.after(() => peer.stop());
  const result = await runCli(['connect', '-W', `127.0.0.1:${peer.port}`, 'Michael', 'Tracy', 'Sarah']);
  assert.equal(result.code, 0, result.stderr);
  assert.equal(result.stdout, 'Michael\nTracy\nSarah\n');
  const done = await peer.exited(10_000); // without fork, socat serves one connection
  assert.equal(done.code, 0, done.stderr);
});

test('half-close: 1 MiB piped into socklab connect, socat echoes (PIPE) and closes at EOF: all of it, exit 0', async (t) => {
  const bin = need(t, 'socat');
  if (bin === undefined) return;
  const peer = await startSocatTcpServer(bin, 'PIPE');
  t.after(() => peer.stop());
  const data = randomBytes(1024 * 1024, 13);
  const result = await runCli(['connect', `127.0.0.1:${peer.port}`], { input: data, timeoutMs: 20_000 });
  assert.equal(result.code, 0, result.stderr);
  assert.equal(result.stdoutBytes.length, data.length);
  assert.ok(result.stdoutBytes.equals(data), 'what came back differs from what was sent');
});

test('half-close: printf data | socklab connect to socat EXEC:cat prints everything, exit 0', async (t) => {
  const bin = need(t, 'socat');
  if (bin === undefined) return;
  const peer = await startSocatTcpServer(bin, 'EXEC:cat');
  t.after(() => peer.stop());
  const result = await runCli(['connect', `127.0.0.1:${peer.port}`], {
    input: 'line one\nline two\nno newline',
  });
  assert.equal(result.code, 0, result.stderr);
  assert.equal(result.stdout, 'line one\nline two\nno newline');
});

// ---------------------------------------------------------------------------------------------
// Peers as UDP servers for `socklab connect -u`.

test('socklab connect -u -W against a socat UDP echo server (UDP-RECVFROM,fork PIPE)', async (t) => {
  const bin = need(t, 'socat');
  if (bin === undefined) return;
  const peer = await startPeerServer(bin, {
    transport: 'udp',
    args: (port) => ['-d', '-d', `UDP-RECVFROM:${port},bind=127.0.0.1,fork`, 'PIPE'],
    ready: /receiving on/,
  });
  t.after(() => peer.stop());
  const result = await runCli([
    'connect',
    '-u',
    '-W',
    `127.0.0.1:${peer.port}`,
    'Michael',
    'Tracy',
    'Sarah',
    ...UDP_IDLE,
  ]);
  assert.equal(result.code, 0, result.stderr);
  assert.equal(result.stdout, 'Michael\nTracy\nSarah\n');
});

// ncat -u -l and nc -u -l answer the first sender with what they read on stdin.
const udpListeners: { name: PeerName; args: (port: number) => string[]; ready: RegExp }[] = [
  { name: 'ncat', args: (port) => ['-v', '-u', '-l', '127.0.0.1', String(port)], ready: /Listening on/ },
  { name: 'nc', args: (port) => ['-v', '-u', '-l', '127.0.0.1', String(port)], ready: /Bound on/ },
];

for (const { name, args, ready } of udpListeners) {
  test(`socklab connect -u -W talks with ${name} -u -l: each side reads what the other sent`, async (t) => {
    const bin = need(t, name);
    if (bin === undefined) return;
    const peer = await startPeerServer(bin, { transport: 'udp', args, ready });
    t.after(() => peer.stop());
    const client = startSocklab(t, [
      'connect',
      '-u',
      '-W',
      `127.0.0.1:${peer.port}`,
      'hello from socklab\n',
      ...UDP_IDLE,
    ]);
    await peer.waitFor('hello from socklab\n');
    peer.write(`hello from ${name}\n`); // sent back to the first sender: the reply socklab waits for
    const result = await client.exited(10_000);
    assert.equal(result.code, 0, result.stderr);
    assert.equal(result.stdout, `hello from ${name}\n`);
    const done = await peer.stop();
    assert.equal(done.stdout, 'hello from socklab\n');
  });
}

// ---------------------------------------------------------------------------------------------
// A server's FIN ends only what the client receives: `ncat -l < /dev/null > got.bin` is how
// people receive a file with ncat, and it half-closes at once (its stdin is empty).

test('socklab connect < 20 MB file sends every byte to ncat -l < /dev/null, which half-closed first', async (t) => {
  const bin = need(t, 'ncat');
  if (bin === undefined) return;
  const peer = await startPeerServer(bin, {
    transport: 'tcp',
    args: (port) => ['-v', '-l', '127.0.0.1', String(port)],
    ready: /Listening on/,
  });
  t.after(() => peer.stop());
  peer.endInput(); // ncat's stdin is empty: it sends its FIN as soon as a client connects
  const dir = await mkdtemp(path.join(tmpdir(), 'socklab-test-'));
  t.after(() => rm(dir, { recursive: true, force: true }));
  const data = randomBytes(20_000_000, 11);
  const file = path.join(dir, 'big.bin');
  await writeFile(file, data);
  // A regular file on stdin, as `< big.bin` gives it (socklab reads it straight into one buffer).
  const client = startProcess('/bin/sh', [
    '-c',
    `exec "$0" "$1" connect "127.0.0.1:$2" -v < "$3"`,
    process.execPath,
    BIN,
    String(peer.port),
    file,
  ]);
  t.after(() => client.stop());
  const result = await client.exited(30_000);
  assert.equal(result.code, 0, result.stderr);
  const done = await peer.exited(30_000);
  assert.equal(done.code, 0, done.stderr);
  assert.equal(
    sha256(peer.stdoutBytes()),
    sha256(data),
    `${peer.stdoutBytes().length} of ${data.length} bytes`,
  );
  assert.match(result.stderr, /closed the connection\n[^]*stdin ended: sent FIN/);
});

test('socklab connect sends piped stdin to ncat -l --recv-only, which half-closes at once', async (t) => {
  const bin = need(t, 'ncat');
  if (bin === undefined) return;
  const peer = await startPeerServer(bin, {
    transport: 'tcp',
    args: (port) => ['-v', '-l', '--recv-only', '127.0.0.1', String(port)],
    ready: /Listening on/,
  });
  t.after(() => peer.stop());
  const result = await runCli(['connect', `127.0.0.1:${peer.port}`], { input: 'hello\n' });
  assert.equal(result.code, 0, result.stderr);
  const done = await peer.exited(10_000);
  assert.equal(done.stdout, 'hello\n');
});

test('a server that resets while stdin is still being sent: exit 1, and how much was not sent', async (t) => {
  // A server that reads a little, then closes: the rest of what socklab writes meets a reset.
  const server = net.createServer((s) => {
    s.on('error', () => undefined);
    s.once('data', () => s.destroy());
  });
  server.listen(0, '127.0.0.1');
  await once(server, 'listening');
  t.after(() => server.close());
  const { port } = server.address() as net.AddressInfo;
  const result = await runCli(['connect', `127.0.0.1:${port}`], { input: randomBytes(20_000_000, 12) });
  assert.equal(result.code, 1, result.stderr);
  assert.match(
    result.stderr,
    /^socklab connect: connection to tcp:\/\/127\.0\.0\.1:\d+ .*(reset|closed|EPIPE).*: \d+ bytes read from stdin not sent, and the rest of stdin not read\n$/,
  );
});
