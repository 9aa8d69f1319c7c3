import assert from 'node:assert/strict';
import { once } from 'node:events';
import { test } from 'node:test';
import type { Behaviour } from '../../src/behaviours/behaviour.js';
import { echo } from '../../src/behaviours/echo.js';
import { reply } from '../../src/behaviours/reply.js';
import { listenUdp, MAX_UDP_PAYLOAD } from '../../src/server/udp-server.js';
import { openUdp } from '../../src/client/udp-client.js';
import { randomBytes } from '../helpers/random.js';

test('a UDP server answers each sender at its own address', async (t) => {
  const server = await listenUdp({ port: 0, behaviours: [reply('Hello, {msg}! (#{n})')] });
  t.after(() => server.close());
  const [a, b] = await Promise.all([openUdp(server.address()), openUdp(server.address())]);
  t.after(() => a.close());
  t.after(() => b.close());
  for (const name of ['Michael', 'Tracy']) {
    assert.equal(
      (await a.request(`${name}`, { timeoutMs: 5000 })).data.toString(),
      `Hello, ${name}! (#${name === 'Michael' ? 1 : 2})`,
    );
  }
  assert.equal((await b.request('Sarah', { timeoutMs: 5000 })).data.toString(), 'Hello, Sarah! (#1)');
});

test('datagrams of 0 and 65,507 bytes and binary data arrive whole', async (t) => {
  const server = await listenUdp({ port: 0, behaviours: [echo()] });
  t.after(() => server.close());
  const client = await openUdp(server.address());
  t.after(() => client.close());
  for (const payload of [
    Buffer.alloc(0),
    randomBytes(MAX_UDP_PAYLOAD, 7),
    Buffer.from([0, 0xff, 0x1b, 0x0a]),
  ]) {
    const back = await client.request(payload, { timeoutMs: 5000 });
    assert.equal(back.data.length, payload.length);
    assert.ok(back.data.equals(payload));
  }
  await assert.rejects(client.send(Buffer.alloc(MAX_UDP_PAYLOAD + 1)), {
    code: 'SOCKLAB_ERR_MESSAGE_TOO_LARGE',
  });
});

test('a datagram over --max-message is dropped and counted; the next one is served', async (t) => {
  const server = await listenUdp({ port: 0, behaviours: [echo()], maxMessageBytes: 10 });
  t.after(() => server.close());
  const client = await openUdp(server.address());
  t.after(() => client.close());
  const dropped = once(server, 'drop');
  await client.send('x'.repeat(11));
  const [, why, limit] = (await dropped) as [string, string, string];
  assert.match(why, /exceeds the limit of 10 bytes/);
  assert.equal(limit, 'maxMessageBytes');
  assert.equal(server.stats.dropped, 1);
  assert.equal((await client.request('short', { timeoutMs: 5000 })).data.toString(), 'short');
});

test('--retries sends again when the first datagram is lost', async (t) => {
  // A server that ignores the first datagram of each sender: a loss, deterministically.
  const loseFirst: Behaviour = { name: 'lose-first', onMessage: (msg) => (msg.n === 1 ? 'stop' : undefined) };
  const server = await listenUdp({ port: 0, behaviours: [loseFirst, echo()] });
  t.after(() => server.close());
  const client = await openUdp(server.address());
  t.after(() => client.close());
  await assert.rejects(client.request('once', { timeoutMs: 100 }), { code: 'SOCKLAB_ERR_TIMEOUT' });
  const other = await openUdp(server.address());
  t.after(() => other.close());
  assert.equal((await other.request('again', { timeoutMs: 200, retries: 2 })).data.toString(), 'again');
});

test('nobody listening: the port-unreachable comes back as SOCKLAB_ERR_CONNECT', async (t) => {
  const server = await listenUdp({ port: 0, behaviours: [] });
  const { port } = server.address();
  await server.close();
  const client = await openUdp({ host: '127.0.0.1', port });
  t.after(() => client.close());
  await client.send('anyone?');
  await assert.rejects(client.receive({ timeoutMs: 5000 }), {
    code: 'SOCKLAB_ERR_CONNECT',
    message: /port unreachable/,
  });
});

test('UDP and TCP can share a port number', async (t) => {
  const { listenTcp } = await import('../../src/server/tcp-server.js');
  const tcp = await listenTcp({ port: 0, behaviours: [] });
  t.after(() => tcp.close({ force: true }));
  const udp = await listenUdp({ port: tcp.address().port, behaviours: [echo()] });
  t.after(() => udp.close());
  assert.equal(udp.address().port, tcp.address().port);
});
