/**
 * Access control, exec, -o/-x and -w, against real ncat 7.93 and `socklab nc` alike (one test per
 * implementation, "ncat: …" and "socklab: …"); where socklab deliberately differs (a fixed ncat
 * bug), the test says so.
 */
import assert from 'node:assert/strict';
import { mkdtemp, readFile, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { test } from 'node:test';
import { blackholePort } from '../helpers/blackhole.js';
import {
  collect,
  connectTestClient,
  listenNc,
  ncImpls,
  nextDatagram,
  startNc,
  stillRunningAfter,
  testServer,
  udpSocket,
  type NcImpl,
} from '../helpers/nc.js';

const impls = await ncImpls();

/**
 * Connect from `localAddress` (127.0.0.x: all of 127/8 is loopback) and see whether the server's
 * program answers. A refused client is closed at once, sometimes with a reset that arrives before
 * the connect completes.
 */
async function tryFrom(port: number, localAddress: string): Promise<{ accepted: boolean }> {
  let client;
  try {
    client = await connectTestClient(port, { localAddress });
  } catch (err) {
    if ((err as NodeJS.ErrnoException).code === 'ECONNRESET') return { accepted: false };
    throw err;
  }
  try {
    const how = await client.ended();
    return { accepted: how === 'end' && client.received().toString() === 'welcome\n' };
  } finally {
    client.socket.destroy();
  }
}

/** A -lk server that answers every allowed client "welcome" (--sh-exec), with access rules. */
function welcomeServer(impl: NcImpl, rules: string[]) {
  return listenNc(impl, 'tcp', (port) => [
    '-lk',
    '127.0.0.1',
    String(port),
    '--sh-exec',
    'echo welcome',
    ...rules,
  ]);
}

async function tempDir(): Promise<string> {
  return mkdtemp(path.join(tmpdir(), 'socklab-nc-'));
}

for (const impl of impls) {
  const name = (what: string) => `${impl.name}: ${what}`;

  test(
    name('--allow: only the listed addresses; the others are closed and the server goes on'),
    async (t) => {
      const server = await welcomeServer(impl, ['--allow', '127.0.0.2']);
      t.after(() => server.stop());
      assert.equal((await tryFrom(server.port, '127.0.0.1')).accepted, false);
      assert.equal((await tryFrom(server.port, '127.0.0.2')).accepted, true);
      assert.equal(await stillRunningAfter(server, 300), true);
    },
  );

  test(name('--allow CIDR, --deny overrides it; repeated options add up'), async (t) => {
    const server = await welcomeServer(impl, [
      '--allow',
      '127.0.0.0/30',
      '--deny',
      '127.0.0.2',
      '--deny',
      '127.0.0.3',
    ]);
    t.after(() => server.stop());
    assert.equal((await tryFrom(server.port, '127.0.0.1')).accepted, true);
    assert.equal((await tryFrom(server.port, '127.0.0.2')).accepted, false);
    assert.equal((await tryFrom(server.port, '127.0.0.3')).accepted, false);
    assert.equal((await tryFrom(server.port, '127.0.0.5')).accepted, false, 'outside the /30');
  });

  test(name('--allowfile and --denyfile: specs separated by newlines and spaces'), async (t) => {
    const dir = await tempDir();
    t.after(() => rm(dir, { recursive: true, force: true }));
    await writeFile(path.join(dir, 'allow'), '127.0.0.1\n127.0.0.4 127.0.0.5\n');
    await writeFile(path.join(dir, 'deny'), '127.0.0.5\n');
    const server = await welcomeServer(impl, [
      '--allowfile',
      path.join(dir, 'allow'),
      '--denyfile',
      path.join(dir, 'deny'),
    ]);
    t.after(() => server.stop());
    assert.equal((await tryFrom(server.port, '127.0.0.1')).accepted, true);
    assert.equal((await tryFrom(server.port, '127.0.0.4')).accepted, true);
    assert.equal((await tryFrom(server.port, '127.0.0.5')).accepted, false, 'deny wins');
    assert.equal((await tryFrom(server.port, '127.0.0.6')).accepted, false, 'not listed');
  });

  test(name('--deny applies to UDP datagrams too'), async (t) => {
    const server = await listenNc(impl, 'udp', (port) => [
      '-u',
      '-l',
      '127.0.0.1',
      String(port),
      '--deny',
      '127.0.0.2',
    ]);
    t.after(() => server.stop());
    const denied = await udpSocket('127.0.0.2');
    t.after(() => denied.close());
    const other = await udpSocket();
    t.after(() => other.close());
    // The denied datagram goes first: had it been taken, the second would be ignored (one peer).
    await new Promise<void>((resolve, reject) =>
      denied.send('denied\n', server.port, '127.0.0.1', (err) => (err ? reject(err) : resolve())),
    );
    other.send('allowed\n', server.port, '127.0.0.1');
    await server.waitFor('allowed\n');
    assert.equal(server.stdout(), 'allowed\n');
  });

  test(name('--sh-exec: one program per connection with the NCAT_* environment'), async (t) => {
    const server = await listenNc(impl, 'tcp', (port) => [
      '-lk',
      '127.0.0.1',
      String(port),
      '--sh-exec',
      'echo "$NCAT_REMOTE_ADDR $NCAT_REMOTE_PORT $NCAT_LOCAL_ADDR $NCAT_LOCAL_PORT $NCAT_PROTO"',
    ]);
    t.after(() => server.stop());
    for (let i = 0; i < 2; i++) {
      const client = await connectTestClient(server.port);
      t.after(() => client.socket.destroy());
      assert.equal(await client.ended(), 'end');
      assert.equal(
        client.received().toString(),
        `127.0.0.1 ${client.socket.localPort} 127.0.0.1 ${server.port} TCP\n`,
      );
    }
  });

  test(name('--exec: split on spaces with backslash escapes, no shell'), async (t) => {
    const server = await listenNc(impl, 'tcp', (port) => [
      '-l',
      '127.0.0.1',
      String(port),
      '--exec',
      '/usr/bin/printf %s| a\\ b $HOME',
    ]);
    t.after(() => server.stop());
    const client = await connectTestClient(server.port);
    t.after(() => client.socket.destroy());
    await client.ended();
    assert.equal(client.received().toString(), 'a b|$HOME|');
  });

  test(name('UDP --sh-exec: NCAT_PROTO=UDP, the reply goes to the sender'), async (t) => {
    const server = await listenNc(impl, 'udp', (port) => [
      '-u',
      '-l',
      '127.0.0.1',
      String(port),
      '--sh-exec',
      'read line; echo "$NCAT_PROTO $line"',
    ]);
    t.after(() => server.stop());
    const client = await udpSocket();
    t.after(() => client.close());
    const reply = nextDatagram(client);
    client.send('ping\n', server.port, '127.0.0.1');
    assert.equal((await reply).data.toString(), 'UDP ping\n');
  });

  test(
    name('--exec of a program that does not exist: the client is closed, the server goes on'),
    async (t) => {
      const server = await listenNc(impl, 'tcp', (port) => [
        '-lk',
        '127.0.0.1',
        String(port),
        '--exec',
        '/nonexistent/program',
      ]);
      t.after(() => server.stop());
      for (let i = 0; i < 2; i++) {
        const client = await connectTestClient(server.port);
        t.after(() => client.socket.destroy());
        client.socket.end('x\n');
        assert.notEqual(await client.ended(), undefined);
        assert.equal(client.received().length, 0);
      }
      assert.equal(await stillRunningAfter(server, 300), true);
    },
  );

  test(name('--exec /bin/cat: an echo server answers a client that half-closes'), async (t) => {
    const server = await listenNc(impl, 'tcp', (port) => [
      '-lk',
      '127.0.0.1',
      String(port),
      '--exec',
      '/bin/cat',
    ]);
    t.after(() => server.stop());
    const client = await connectTestClient(server.port);
    t.after(() => client.socket.destroy());
    client.socket.end('echo me\n');
    assert.notEqual(await client.ended(), undefined);
    // ncat 7.93 loses the reply when the client half-closes (a known bug): socklab sends it.
    if (impl.name === 'socklab') assert.equal(client.received().toString(), 'echo me\n');
  });

  test(name("-o and -x record both directions in order, -x in ncat's layout"), async (t) => {
    const dir = await tempDir();
    t.after(() => rm(dir, { recursive: true, force: true }));
    const raw = path.join(dir, 'out.bin');
    const hex = path.join(dir, 'out.hex');
    let fromClient: Promise<{ data: Buffer; fin: boolean }> | undefined;
    const server = await testServer((socket) => {
      socket.write('from the server, a line longer than sixteen bytes\n');
      fromClient = collect(socket);
      socket.on('end', () => socket.end());
    });
    t.after(() => server.close());
    const proc = startNc(impl, ['127.0.0.1', String(server.port), '-o', raw, '-x', hex]);
    t.after(() => proc.stop());
    await proc.waitFor('sixteen bytes\n');
    proc.endInput(Buffer.from([0x61, 0x62, 0x00, 0xff, 0x20, 0x0a]));
    assert.equal((await proc.exited(10_000)).code, 0);
    assert.equal((await fromClient!).data.length, 6);
    const sent = Buffer.from([0x61, 0x62, 0x00, 0xff, 0x20, 0x0a]);
    const received = Buffer.from('from the server, a line longer than sixteen bytes\n');
    assert.deepEqual(await readFile(raw), Buffer.concat([received, sent]));
    assert.equal(
      await readFile(hex, 'utf8'),
      '0000   66 72 6f 6d 20 74 68 65  20 73 65 72 76 65 72 2c  from.the.server,\n' +
        '0010   20 61 20 6c 69 6e 65 20  6c 6f 6e 67 65 72 20 74  .a.line.longer.t\n' +
        '0020   68 61 6e 20 73 69 78 74  65 65 6e 20 62 79 74 65  han.sixteen.byte\n' +
        '0030   73 0a                                             s.              \n' +
        '0000   61 62 00 ff 20 0a                                 ab....          \n',
    );
  });

  test(name('-w: a connection that gets no answer fails with exit 1 after the wait'), async (t) => {
    const port = await blackholePort(t);
    const started = Date.now();
    const proc = startNc(impl, ['-w', '500ms', '127.0.0.1', String(port)]);
    t.after(() => proc.stop());
    const result = await proc.exited(15_000);
    assert.equal(result.code, 1);
    assert.ok(Date.now() - started >= 450, `gave up after ${Date.now() - started} ms`);
  });
}

for (const impl of impls) {
  const name = (what: string) => `${impl.name}: ${what}`;

  test(name('-s and -p: the client connects from that address and port'), async (t) => {
    let seen: { address?: string; port?: number } | undefined;
    const server = await testServer((socket) => {
      seen = { address: socket.remoteAddress, port: socket.remotePort };
      socket.end();
    });
    t.after(() => server.close());
    const { freePort } = await import('../helpers/ports.js');
    const sourcePort = await freePort('tcp');
    const proc = startNc(impl, [
      '-s',
      '127.0.0.2',
      '-p',
      String(sourcePort),
      '127.0.0.1',
      String(server.port),
    ]);
    t.after(() => proc.stop());
    proc.endInput();
    assert.equal((await proc.exited(10_000)).code, 0);
    assert.deepEqual(seen, { address: '127.0.0.2', port: sourcePort });
  });

  test(
    name('1 MiB each way through -l and a client: every byte up, down what the server read, in order'),
    async (t) => {
      const { randomBytes } = await import('../helpers/random.js');
      const up = randomBytes(1024 * 1024, 15);
      const down = randomBytes(1024 * 1024, 16);
      const server = await listenNc(impl, 'tcp', (port) => ['-l', '127.0.0.1', String(port)]);
      t.after(() => server.stop());
      const client = startNc(impl, ['127.0.0.1', String(server.port)]);
      t.after(() => client.stop());
      server.endInput(down);
      client.endInput(up);
      const [s, c] = await Promise.all([server.exited(20_000), client.exited(20_000)]);
      assert.equal(s.code, 0);
      assert.equal(c.code, 0);
      assert.ok(s.stdoutBytes.equals(up), `the server got ${s.stdoutBytes.length} bytes`);
      // A server without -k ends with its client (as ncat): it sends what it has read of its stdin
      // by then, whole and in order (socklab flushes it before closing), and reads no more.
      assert.ok(
        down.subarray(0, c.stdoutBytes.length).equals(c.stdoutBytes),
        'a prefix of what the server had',
      );
    },
  );

  test(name('connect with --exec: the program talks to the server'), async (t) => {
    let fromClient: Promise<{ data: Buffer; fin: boolean }> | undefined;
    const server = await testServer((socket) => {
      fromClient = collect(socket);
      socket.end('question\n');
    });
    t.after(() => server.close());
    const proc = startNc(impl, [
      '127.0.0.1',
      String(server.port),
      '--sh-exec',
      'read q; echo "answer to $q"',
    ]);
    t.after(() => proc.stop());
    proc.endInput();
    assert.equal((await proc.exited(10_000)).code, 0);
    // The server's FIN came with its question: ncat 7.93 drops the program's answer then (the
    // same half-close bug as the echo server's); socklab sends it.
    if (impl.name === 'socklab') assert.equal((await fromClient!).data.toString(), 'answer to question\n');
  });
}

for (const impl of impls) {
  const name = (what: string) => `${impl.name}: ${what}`;

  test(name('UDP -k --sh-exec: one program per sender, each answering its own'), async (t) => {
    const server = await listenNc(impl, 'udp', (port) => [
      '-u',
      '-lk',
      '127.0.0.1',
      String(port),
      '--sh-exec',
      'while read l; do echo "$NCAT_REMOTE_PORT $l"; done',
    ]);
    t.after(() => server.stop());
    const a = await udpSocket();
    const b = await udpSocket();
    t.after(() => [a, b].forEach((s) => s.close()));
    for (const [socket, text] of [
      [a, 'one'],
      [b, 'two'],
      [a, 'three'],
    ] as const) {
      const reply = nextDatagram(socket);
      socket.send(`${text}\n`, server.port, '127.0.0.1');
      assert.equal((await reply).data.toString(), `${socket.port} ${text}\n`);
    }
  });

  test(name('--append-output adds to the -o file'), async (t) => {
    const dir = await tempDir();
    t.after(() => rm(dir, { recursive: true, force: true }));
    const file = path.join(dir, 'log');
    await writeFile(file, 'before\n');
    const server = await testServer((socket) => {
      socket.on('data', () => undefined);
      socket.on('end', () => socket.end());
    });
    t.after(() => server.close());
    const proc = startNc(impl, ['--append-output', '-o', file, '127.0.0.1', String(server.port)]);
    t.after(() => proc.stop());
    proc.endInput('after\n');
    assert.equal((await proc.exited(10_000)).code, 0);
    assert.equal(await readFile(file, 'utf8'), 'before\nafter\n');
  });

  test(name('-d: a pause between reads of stdin'), async (t) => {
    const arrivals: number[] = [];
    let firstArrived: () => void = () => undefined;
    const first = new Promise<void>((resolve) => (firstArrived = resolve));
    const server = await testServer((socket) => {
      socket.on('data', () => {
        arrivals.push(Date.now());
        firstArrived();
      });
      socket.on('end', () => socket.end());
    });
    t.after(() => server.close());
    const proc = startNc(impl, ['-d', '300ms', '127.0.0.1', String(server.port)]);
    t.after(() => proc.stop());
    proc.write('first\n');
    let timer: NodeJS.Timeout | undefined;
    await Promise.race([
      first,
      new Promise<never>((_, reject) => {
        timer = setTimeout(() => reject(new Error('the first line never arrived')), 10_000);
      }),
    ]).finally(() => clearTimeout(timer));
    proc.endInput('second\n');
    assert.equal((await proc.exited(10_000)).code, 0);
    assert.equal(arrivals.length, 2);
    assert.ok(arrivals[1]! - arrivals[0]! >= 250, `${arrivals[1]! - arrivals[0]!} ms between reads`);
  });
}
