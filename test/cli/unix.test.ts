/**
 * unix:PATH from the command line, with socat as the peer people use for Unix sockets: stream
 * sockets both ways (UNIX-CONNECT, UNIX-LISTEN), datagram sockets both ways (UNIX-SENDTO,
 * UNIX-RECVFROM), stale and foreign files, and the relay in front of a TCP service.
 */
import assert from 'node:assert/strict';
import { existsSync, lstatSync } from 'node:fs';
import { mkdtemp, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { test, type TestContext } from 'node:test';
import { unixDatagramAvailable } from '../../src/core/unix-datagram.js';
import { runCli, startCli } from '../helpers/cli.js';
import { findExecutable, runProcess, startProcess } from '../helpers/spawn.js';

const socat = await findExecutable('socat');

function need(t: TestContext): string | undefined {
  if (socat === undefined) t.skip('socat not installed (apt-get install socat)');
  return socat;
}

function needDatagrams(t: TestContext): boolean {
  if (unixDatagramAvailable()) return true;
  t.skip('Unix datagram sockets need the native addon (node native/build.js)');
  return false;
}

async function tempDir(t: TestContext): Promise<string> {
  const dir = await mkdtemp(path.join(tmpdir(), 'socklab-unix-cli-'));
  t.after(() => rm(dir, { recursive: true, force: true }));
  return dir;
}

test('socat UNIX-CONNECT talks to socklab listen unix:PATH --echo; the socket file goes at exit', async (t) => {
  const bin = need(t);
  if (bin === undefined) return;
  const dir = await tempDir(t);
  const file = path.join(dir, 'echo.sock');
  const server = await startCli(['listen', `unix:${file}`, '--echo', '-v']);
  t.after(() => server.stop());
  assert.deepEqual(server.addresses, [`unix:${file}`]);
  const r = await runProcess(bin, ['-', `UNIX-CONNECT:${file}`], {
    input: 'over a unix socket\n',
    timeoutMs: 10_000,
  });
  assert.equal(r.code, 0, r.stderr);
  assert.equal(r.stdout, 'over a unix socket\n');
  const done = await server.stop();
  assert.equal(done.code, 130);
  assert.match(done.stderr, new RegExp(`summary unix:${file}: 1 connection, 19 bytes in, 19 out`));
  assert.equal(existsSync(file), false, 'the socket file is removed at exit');
});

test('socklab connect unix:PATH to socat UNIX-LISTEN (a cat behind it)', async (t) => {
  const bin = need(t);
  if (bin === undefined) return;
  const dir = await tempDir(t);
  const file = path.join(dir, 'socat.sock');
  const peer = startProcess(bin, ['-d', '-d', `UNIX-LISTEN:${file}`, 'EXEC:cat']);
  t.after(() => peer.stop());
  await peer.waitFor('listening on', 'stderr', 10_000);
  const r = await runCli(['connect', `unix:${file}`, '-v'], { input: 'to socat and back\n' });
  assert.equal(r.code, 0, r.stderr);
  assert.equal(r.stdout, 'to socat and back\n');
  assert.match(r.stderr, new RegExp(`connected to unix:${file}`));
});

test('Unix datagrams: socat UNIX-SENDTO (bound) gets its echo from socklab listen -u unix:PATH', async (t) => {
  const bin = need(t);
  if (bin === undefined || !needDatagrams(t)) return;
  const dir = await tempDir(t);
  const file = path.join(dir, 'dgram.sock');
  const client = path.join(dir, 'socat-client.sock');
  const server = await startCli(['listen', '-u', `unix:${file}`, '--echo', '-v']);
  t.after(() => server.stop());
  assert.deepEqual(server.addresses, [`unix:${file}`]);
  assert.equal(lstatSync(file).isSocket(), true);
  const r = await runProcess(bin, ['-t', '2', '-', `UNIX-SENDTO:${file},bind=${client}`], {
    input: 'datagram from socat\n',
    timeoutMs: 10_000,
  });
  assert.equal(r.code, 0, r.stderr);
  assert.equal(r.stdout, 'datagram from socat\n');
  await server.waitFor(`datagram from ${client}: 20 bytes`, 'stderr');
  // A sender with no address of its own cannot be answered: said, and the server goes on.
  const anon = await runProcess(bin, ['-t', '0.2', '-', `UNIX-SENDTO:${file}`], {
    input: 'no return address\n',
  });
  assert.equal(anon.code, 0, anon.stderr);
  await server.waitFor(/could not reply to \(unbound unix socket\): the sender has no address/, 'stderr');
  const done = await server.stop();
  assert.match(done.stderr, /2 datagrams, 38 bytes received/);
  assert.equal(existsSync(file), false);
});

test('Unix datagrams: socklab connect -u unix:PATH to socat UNIX-RECVFROM gets the answer at its own address', async (t) => {
  const bin = need(t);
  if (bin === undefined || !needDatagrams(t)) return;
  const dir = await tempDir(t);
  const file = path.join(dir, 'recvfrom.sock');
  const peer = startProcess(bin, ['-d', '-d', `UNIX-RECVFROM:${file}`, 'SYSTEM:tr a-z A-Z']);
  t.after(() => peer.stop());
  await peer.waitFor('receiving on', 'stderr', 10_000);
  const r = await runCli(['connect', '-u', `unix:${file}`, 'shout this', '-W', '-v']);
  assert.equal(r.code, 0, r.stderr);
  assert.equal(r.stdout, 'SHOUT THIS\n');
  assert.match(r.stderr, new RegExp(`sending to unix:${file} from unix:@\\S+\\n`));
});

test('a stale socket file is replaced; a file that is not a socket is refused with one line (exit 1)', async (t) => {
  const dir = await tempDir(t);
  const stale = path.join(dir, 'stale.sock');
  // A server killed while listening leaves its socket file behind.
  const killed = await runProcess(process.execPath, [
    '-e',
    `require('net').createServer().listen(${JSON.stringify(stale)}, () => process.kill(process.pid, 'SIGKILL'))`,
  ]);
  assert.equal(killed.signal, 'SIGKILL');
  assert.equal(lstatSync(stale).isSocket(), true);
  const server = await startCli(['listen', `unix:${stale}`, '--echo']);
  t.after(() => server.stop());
  const r = await runCli(['connect', `unix:${stale}`], { input: 'replaced\n' });
  assert.equal(r.stdout, 'replaced\n');

  const notes = path.join(dir, 'notes.txt');
  await writeFile(notes, 'keep me');
  for (const args of [
    ['listen', `unix:${notes}`],
    ['listen', '-u', `unix:${notes}`],
  ]) {
    if (args.includes('-u') && !unixDatagramAvailable()) continue;
    const refused = await runCli(args);
    assert.equal(refused.code, 1, refused.stderr);
    assert.equal(
      refused.stderr,
      `socklab listen: cannot listen on unix:${notes}: ${notes} exists and is not a socket (left as it is)\n`,
    );
  }
  assert.equal(lstatSync(notes).isFile(), true);
});

test('relay unix:PATH → tcp:// puts a TCP service on a Unix socket', async (t) => {
  const bin = need(t);
  if (bin === undefined) return;
  const dir = await tempDir(t);
  const file = path.join(dir, 'relay.sock');
  const echo = await startCli(['listen', '127.0.0.1:0', '--echo']);
  t.after(() => echo.stop());
  const relay = await startCli(['relay', `unix:${file}`, `tcp://127.0.0.1:${echo.ports[0]}`, '-v']);
  t.after(() => relay.stop());
  assert.deepEqual(relay.addresses, [`unix:${file}`]);
  const r = await runProcess(bin, ['-', `UNIX-CONNECT:${file}`], {
    input: 'unix in, tcp out\n',
    timeoutMs: 10_000,
  });
  assert.equal(r.code, 0, r.stderr);
  assert.equal(r.stdout, 'unix in, tcp out\n');
  await relay.waitFor(/closed connection #1 from unix:\S+relay\.sock#1: 17 bytes up, 17 down/, 'stderr');
});

test('relay -u: Unix datagrams to a UDP echo server, and UDP to a Unix datagram echo server', async (t) => {
  const bin = need(t);
  if (bin === undefined || !needDatagrams(t)) return;
  const dir = await tempDir(t);
  // socat (bound) → unix relay → UDP echo.
  const udpEcho = await startCli(['listen', '-u', '127.0.0.1:0', '--echo']);
  t.after(() => udpEcho.stop());
  const front = path.join(dir, 'front.sock');
  const toUdp = await startCli(['relay', '-u', `unix:${front}`, `udp://127.0.0.1:${udpEcho.ports[0]}`, '-v']);
  t.after(() => toUdp.stop());
  assert.deepEqual(toUdp.addresses, [`unix:${front}`]);
  const client = path.join(dir, 'client.sock');
  const r = await runProcess(bin, ['-t', '2', '-', `UNIX-SENDTO:${front},bind=${client}`], {
    input: 'unix to udp and back\n',
    timeoutMs: 10_000,
  });
  assert.equal(r.code, 0, r.stderr);
  assert.equal(r.stdout, 'unix to udp and back\n');
  await toUdp.waitFor(`flow #1 from ${client}`, 'stderr');
  // socklab connect -u → UDP relay → Unix datagram echo.
  const back = path.join(dir, 'back.sock');
  const unixEcho = await startCli(['listen', '-u', `unix:${back}`, '--echo']);
  t.after(() => unixEcho.stop());
  const toUnix = await startCli(['relay', '-u', '127.0.0.1:0', `unix:${back}`]);
  t.after(() => toUnix.stop());
  const c = await runCli(['connect', '-u', `127.0.0.1:${toUnix.ports[0]}`, 'udp to unix and back', '-W']);
  assert.equal(c.code, 0, c.stderr);
  assert.equal(c.stdout, 'udp to unix and back\n');
});

test('without the native addon (SOCKLAB_NATIVE=0), a Unix datagram socket is one line and exit 1', async (t) => {
  const dir = await tempDir(t);
  const r = await runCli(['listen', '-u', `unix:${path.join(dir, 'x.sock')}`], {
    env: { ...process.env, SOCKLAB_NATIVE: '0' },
  });
  assert.equal(r.code, 1);
  assert.equal(
    r.stderr,
    "socklab listen: Unix datagram sockets need socklab's native addon (Node has none), and SOCKLAB_NATIVE=0 turns it off\n",
  );
});
