/**
 * Unix sockets in core/: stream sockets (node:net) and datagram sockets (the native addon), with
 * the socket file's life: a stale one replaced, a live one or a non-socket left alone, the file
 * removed on close.
 */
import assert from 'node:assert/strict';
import { once } from 'node:events';
import { existsSync, lstatSync } from 'node:fs';
import { mkdtemp, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { test, type TestContext } from 'node:test';
import { connectDatagram, connectStream } from '../../src/core/connect.js';
import type { DatagramSocket } from '../../src/core/datagram.js';
import { bindDatagram, listenStream } from '../../src/core/listen.js';
import { unixDatagramAvailable } from '../../src/core/unix-datagram.js';
import { SocklabError } from '../../src/errors.js';
import { runProcess } from '../helpers/spawn.js';

const timeoutMs = 5_000;

async function tempDir(t: TestContext): Promise<string> {
  const dir = await mkdtemp(path.join(tmpdir(), 'socklab-unix-'));
  t.after(() => rm(dir, { recursive: true, force: true }));
  return dir;
}

function nextDatagram(socket: DatagramSocket): Promise<{ data: string; from: string }> {
  return new Promise((resolve, reject) => {
    const timer = setTimeout(() => reject(new Error('no datagram within 5 s')), timeoutMs);
    socket.onMessage((data) => {
      clearTimeout(timer);
      resolve({ data: data.toString(), from: socket.sender().address });
    });
  });
}

test('a Unix stream server and client: echo, and the socket file goes with the server', async (t) => {
  const dir = await tempDir(t);
  const file = path.join(dir, 'echo.sock');
  const server = await listenStream({
    host: '',
    port: 0,
    path: file,
    onConnection: (s) => s.pipe(s),
  });
  t.after(() => server.close());
  assert.equal(lstatSync(file).isSocket(), true);
  assert.equal(server.address(), file);
  const socket = await connectStream({ host: '', port: 0, path: file, timeoutMs });
  socket.write('over a unix socket');
  const [data] = (await once(socket, 'data', { signal: AbortSignal.timeout(timeoutMs) })) as [Buffer];
  assert.equal(data.toString(), 'over a unix socket');
  socket.destroy();
  server.close();
  await once(server, 'close');
  assert.equal(existsSync(file), false, 'the socket file is removed on close');
});

test('a stale socket file is replaced; a live one is not; a file that is not a socket is refused', async (t) => {
  const dir = await tempDir(t);
  const file = path.join(dir, 'stale.sock');
  // A socket file left behind: a server killed (SIGKILL) while listening never removes it.
  const killed = await runProcess(process.execPath, [
    '-e',
    `require('net').createServer().listen(${JSON.stringify(file)}, () => process.kill(process.pid, 'SIGKILL'))`,
  ]);
  assert.equal(killed.signal, 'SIGKILL');
  assert.equal(lstatSync(file).isSocket(), true, 'a stale socket file is there');
  const server = await listenStream({
    host: '',
    port: 0,
    path: file,
    onConnection: (s) => {
      s.on('error', () => undefined); // the check for a live server connects and leaves at once
      s.end('fresh');
    },
  });
  t.after(() => server.close());
  const socket = await connectStream({ host: '', port: 0, path: file, timeoutMs });
  const [data] = (await once(socket, 'data', { signal: AbortSignal.timeout(timeoutMs) })) as [Buffer];
  assert.equal(data.toString(), 'fresh');
  socket.destroy();

  // A second server on the same live path: address in use, and the first one keeps its file.
  await assert.rejects(
    listenStream({ host: '', port: 0, path: file, onConnection: () => undefined }),
    (err: unknown) => {
      assert.ok(err instanceof SocklabError);
      assert.equal(err.code, 'SOCKLAB_ERR_BIND');
      assert.match(
        err.message,
        /^cannot listen on unix:.*stale\.sock: address already in use \(EADDRINUSE\)$/,
      );
      return true;
    },
  );
  assert.equal(lstatSync(file).isSocket(), true);

  const plain = path.join(dir, 'notes.txt');
  await writeFile(plain, 'keep me');
  await assert.rejects(listenStream({ host: '', port: 0, path: plain, onConnection: () => undefined }), {
    code: 'SOCKLAB_ERR_BIND',
    message: `cannot listen on unix:${plain}: ${plain} exists and is not a socket (left as it is)`,
  });
  assert.equal(lstatSync(plain).isFile(), true, 'the file is left as it was');
});

test('Unix datagram sockets: a server answers each client at its own path (bound or abstract)', async (t) => {
  if (!unixDatagramAvailable()) return t.skip('the native addon is not built (node native/build.js)');
  const dir = await tempDir(t);
  const serverPath = path.join(dir, 'server.sock');
  const server = await bindDatagram({ host: '', port: 0, path: serverPath });
  t.after(() => server.close());
  assert.equal(server.address().address, serverPath);
  server.onMessage((data) => server.sendTo(Buffer.from(`re: ${data.toString()}`), server.sender()));

  // A client bound to a path of its own (nc -U -u -s PATH).
  const clientPath = path.join(dir, 'client.sock');
  const bound = await connectDatagram({ host: '', port: 0, path: serverPath, bindPath: clientPath });
  t.after(() => bound.close());
  const fromServer = nextDatagram(bound);
  bound.send(Buffer.from('hello'));
  assert.deepEqual(await fromServer, { data: 're: hello', from: serverPath });

  // A client without one gets an abstract address, so it can be answered too.
  const anon = await connectDatagram({ host: '', port: 0, path: serverPath });
  t.after(() => anon.close());
  assert.match(anon.address().address, /^@/);
  const reply = nextDatagram(anon);
  anon.send(Buffer.from('anyone'));
  assert.equal((await reply).data, 're: anyone');

  bound.close();
  assert.equal(existsSync(clientPath), false, "the client's socket file is removed on close");
  server.close();
  assert.equal(existsSync(serverPath), false, "the server's socket file is removed on close");
});

test('Unix datagram: nobody at the path is a connect error; a datagram larger than 64 KiB goes whole', async (t) => {
  if (!unixDatagramAvailable()) return t.skip('the native addon is not built (node native/build.js)');
  const dir = await tempDir(t);
  await assert.rejects(connectDatagram({ host: '', port: 0, path: path.join(dir, 'nobody.sock') }), {
    code: 'SOCKLAB_ERR_CONNECT',
    message: `cannot send to unix:${path.join(dir, 'nobody.sock')}: no such file or directory (ENOENT)`,
  });
  const serverPath = path.join(dir, 'big.sock');
  const server = await bindDatagram({ host: '', port: 0, path: serverPath });
  t.after(() => server.close());
  const client = await connectDatagram({ host: '', port: 0, path: serverPath });
  t.after(() => client.close());
  const got = new Promise<number>((resolve) => server.onMessage((data) => resolve(data.length)));
  const big = Buffer.alloc(100_000, 0x61);
  await new Promise<void>((resolve, reject) => client.send(big, (err) => (err ? reject(err) : resolve())));
  assert.equal(await got, 100_000);
});
