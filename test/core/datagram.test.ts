/**
 * The relay's UDP sockets, on real loopback sockets: the native batched addon and the node:dgram
 * fallback behind one interface, so every test runs on both (the native one only where it is built).
 */
import assert from 'node:assert/strict';
import { once } from 'node:events';
import { test } from 'node:test';
import { nativeUdp, openDatagramSocket } from '../../src/core/datagram.js';
import { freePort } from '../helpers/ports.js';
import { within } from '../helpers/relay-peers.js';

const kinds = nativeUdp ? [true, false] : [false];
const name = (batched: boolean) => (batched ? 'native' : 'dgram');

test(
  'CI builds the native addon (SOCKLAB_REQUIRE_NATIVE=1)',
  { skip: process.env.SOCKLAB_REQUIRE_NATIVE !== '1' },
  () => {
    assert.equal(nativeUdp, true, 'native/build/Release/socklab_udp.node did not load');
  },
);

/** An echo server on `host`, answering each datagram with `re:` + the datagram, via sendTo(sender()). */
async function echoServer(batched: boolean, host = '127.0.0.1') {
  // Buffers large enough for a burst of 1,000 (the default 208 KiB drops some: that is UDP).
  const server = openDatagramSocket({
    type: host.includes(':') ? 'udp6' : 'udp4',
    batched,
    recvBufferSize: 4 << 20,
    sendBufferSize: 4 << 20,
  });
  const keys = new Set<number | string>();
  const senders: string[] = [];
  server.onMessage((data) => {
    keys.add(server.senderKey());
    const from = server.sender();
    senders.push(`${from.address} ${from.port}`);
    server.sendTo(Buffer.concat([Buffer.from('re:'), data]), from);
  });
  await server.bind(host, 0);
  return { server, keys, senders, port: server.address().port };
}

/** A connected client that collects what comes back, and resolves when `count` datagrams have. */
async function client(batched: boolean, port: number, host = '127.0.0.1') {
  const socket = openDatagramSocket({
    type: host.includes(':') ? 'udp6' : 'udp4',
    batched,
    recvBufferSize: 4 << 20,
    sendBufferSize: 4 << 20,
  });
  const received: Buffer[] = [];
  let want = 0;
  let done: (() => void) | undefined;
  socket.onMessage((data) => {
    received.push(Buffer.from(data));
    if (received.length >= want) done?.();
  });
  await socket.connect(host, port);
  const waitFor = (count: number) => {
    want = count;
    if (received.length >= count) return Promise.resolve();
    return within(new Promise<void>((resolve) => (done = resolve)), 5000, `${count} datagrams`);
  };
  return { socket, received, waitFor };
}

for (const batched of kinds) {
  test(`${name(batched)}: replies reach the sender; one sender, one key; order kept over many batches`, async (t) => {
    const { server, keys, senders, port } = await echoServer(batched);
    const c = await client(batched, port);
    t.after(() => {
      server.close();
      c.socket.close();
    });
    assert.equal(server.batched, batched);
    // 1,000 at once: more than one recvmmsg() of 64 and more than one poll round of 16 batches.
    for (let i = 0; i < 1000; i++) c.socket.send(Buffer.from(`n${i}`));
    await c.waitFor(1000);
    assert.deepEqual(
      c.received.map(String),
      Array.from({ length: 1000 }, (_, i) => `re:n${i}`),
    );
    assert.equal(keys.size, 1);
    const local = c.socket.address();
    assert.deepEqual(new Set(senders), new Set([`127.0.0.1 ${local.port}`]));
  });

  test(`${name(batched)}: two senders, two keys; the largest IPv4 datagram and an empty one arrive whole`, async (t) => {
    const { server, keys, port } = await echoServer(batched);
    const a = await client(batched, port);
    const b = await client(batched, port);
    t.after(() => {
      server.close();
      a.socket.close();
      b.socket.close();
    });
    const big = Buffer.alloc(65_507 - 3, 7); // the reply adds 're:'
    a.socket.send(big);
    b.socket.send(Buffer.alloc(0));
    await a.waitFor(1);
    await b.waitFor(1);
    assert.equal(a.received[0]!.length, 65_507);
    assert.ok(a.received[0]!.subarray(3).equals(big));
    assert.equal(String(b.received[0]), 're:');
    assert.equal(keys.size, 2);
  });

  test(`${name(batched)}: IPv6 on ::1, the sender's address as text`, async (t) => {
    const { server, senders, port } = await echoServer(batched, '::1');
    const c = await client(batched, port, '::1');
    t.after(() => {
      server.close();
      c.socket.close();
    });
    c.socket.send(Buffer.from('six'));
    // A name is looked up first (the addon itself takes IP literals).
    const named = openDatagramSocket({ type: 'udp4', batched });
    t.after(() => named.close());
    await named.connect('localhost', 9);
    assert.equal(named.address().address, '127.0.0.1');
    await c.waitFor(1);
    assert.equal(String(c.received[0]), 're:six');
    assert.deepEqual(senders, [`::1 ${c.socket.address().port}`]);
  });

  test(`${name(batched)}: a port in use is EADDRINUSE; sender() outside a handler throws`, async (t) => {
    const { server, port } = await echoServer(batched);
    t.after(() => server.close());
    const second = openDatagramSocket({ type: 'udp4', batched });
    await assert.rejects(second.bind('127.0.0.1', port), { code: 'EADDRINUSE' });
    second.close();
    assert.throws(() => server.sender(), /only known while a datagram is handled/);
    assert.throws(() => server.senderKey(), /only known while a datagram is handled/);
  });

  test(`${name(batched)}: ECONNREFUSED from nobody listening is an error event, and the socket goes on`, async (t) => {
    const port = await freePort('udp');
    const c = await client(batched, port);
    t.after(() => c.socket.close());
    const refused = new Promise<Error>((resolve) => c.socket.onError(resolve));
    c.socket.send(Buffer.from('anyone?'));
    const error = (await within(refused, 5000, 'the ICMP error')) as Error & { code: string };
    assert.equal(error.code, 'ECONNREFUSED');
    // Someone comes up on that port (it was free a moment ago): the same socket now gets answers.
    const late = openDatagramSocket({ type: 'udp4', batched });
    late.onMessage((data) => late.sendTo(data, late.sender()));
    await late.bind('127.0.0.1', port);
    t.after(() => late.close());
    c.socket.send(Buffer.from('hello'));
    await c.waitFor(1);
    assert.equal(String(c.received[0]), 'hello');
  });

  test(`${name(batched)}: a socket closed in its own handler delivers nothing more`, async (t) => {
    const server = openDatagramSocket({ type: 'udp4', batched });
    let seen = 0;
    server.onMessage(() => {
      seen += 1;
      server.close();
    });
    await server.bind('127.0.0.1', 0);
    const c = await client(batched, server.address().port);
    t.after(() => c.socket.close());
    for (let i = 0; i < 50; i++) c.socket.send(Buffer.from('x'));
    // A second, open server on another port shows the sends were made and time has passed.
    const { server: other, port } = await echoServer(batched);
    t.after(() => other.close());
    const d = await client(batched, port);
    t.after(() => d.socket.close());
    d.socket.send(Buffer.from('after'));
    await d.waitFor(1);
    assert.equal(seen, 1);
    server.close(); // twice is fine
  });
}

for (const batched of kinds) {
  test(`${name(batched)}: sendTo any { address, port }, IPv4 and IPv6, reports to its callback`, async (t) => {
    for (const host of ['127.0.0.1', '::1']) {
      const type = host.includes(':') ? 'udp6' : 'udp4';
      const target = openDatagramSocket({ type, batched });
      t.after(() => target.close());
      const arrived = new Promise<string>((resolve) => target.onMessage((data) => resolve(data.toString())));
      await target.bind(host, 0);
      const sender = openDatagramSocket({ type, batched });
      t.after(() => sender.close());
      await sender.bind(host, 0);
      const sent = new Promise<Error | undefined>((resolve) =>
        sender.sendTo(Buffer.from(`to ${host}`), { address: host, port: target.address().port }, resolve),
      );
      assert.equal(await within(sent, 5000, 'the send callback'), undefined);
      assert.equal(await within(arrived, 5000, `the datagram to ${host}`), `to ${host}`);
    }
  });

  test(`${name(batched)}: a datagram too large for UDP is reported, never thrown at the call`, async (t) => {
    const { server, port } = await echoServer(batched);
    t.after(() => server.close());
    const d = await client(batched, port);
    t.after(() => d.socket.close());
    // Sent at once: the callback says why. Queued in a batch (this code may run inside one): the
    // error comes at the flush, as an error event.
    const reported = new Promise<Error>((resolve) => {
      d.socket.onError(resolve);
      d.socket.send(Buffer.alloc(70_000), (err) => err && resolve(err));
    });
    const err = await within(reported, 5000, 'the error');
    assert.equal((err as Error & { code?: string }).code, 'EMSGSIZE');
  });

  test(`${name(batched)}: a socket closed right after its reply, in the handler, still sends the reply`, async (t) => {
    // A `listen -u --once` server: it answers, then closes, all while handling the datagram.
    const server = openDatagramSocket({ type: 'udp4', batched });
    server.onMessage((data) => {
      server.sendTo(Buffer.concat([Buffer.from('re:'), data]), server.sender());
      server.close();
    });
    await server.bind('127.0.0.1', 0);
    t.after(() => server.close());
    const d = await client(batched, server.address().port);
    t.after(() => d.socket.close());
    d.socket.send(Buffer.from('once'));
    await d.waitFor(1);
    assert.equal(d.received[0]?.toString(), 're:once');
  });
}

test('a process exits by itself once its datagram sockets are closed (no handle left behind)', async () => {
  const { spawn } = await import('node:child_process');
  const url = new URL('../../src/core/datagram.js', import.meta.url).href;
  const child = spawn(
    process.execPath,
    [
      '--input-type=module',
      '-e',
      `import { openDatagramSocket } from '${url}';
       const s = openDatagramSocket({ type: 'udp4' });
       await s.bind('127.0.0.1', 0);
       setTimeout(() => s.close(), 50);`,
    ],
    { stdio: 'ignore' },
  );
  const [code] = (await within(once(child, 'exit'), 5000, 'the child to exit')) as [number];
  assert.equal(code, 0);
});
