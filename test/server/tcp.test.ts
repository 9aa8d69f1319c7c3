import assert from 'node:assert/strict';
import { once } from 'node:events';
import net from 'node:net';
import { PassThrough } from 'node:stream';
import { test } from 'node:test';
import { chat } from '../../src/behaviours/chat.js';
import { echo } from '../../src/behaviours/echo.js';
import { exitWord } from '../../src/behaviours/exit-word.js';
import { print } from '../../src/behaviours/print.js';
import { reply } from '../../src/behaviours/reply.js';
import { welcome } from '../../src/behaviours/welcome.js';
import { lines } from '../../src/core/framing.js';
import { connectTcp } from '../../src/client/tcp-client.js';
import { listenTcp } from '../../src/server/tcp-server.js';

const signal = () => AbortSignal.timeout(10_000);

test('reply answers each message with the template', async (t) => {
  const server = await listenTcp({ host: '127.0.0.1', port: 0, behaviours: [reply('Hello, {msg}!')] });
  t.after(() => server.close({ force: true }));
  const client = await connectTcp({ ...server.address(), signal: signal() });
  t.after(() => client.destroy());
  assert.equal(await client.request('Tracy', { timeoutMs: 5000 }), 'Hello, Tracy!');
  assert.equal(await client.request('Sarah', { timeoutMs: 5000 }), 'Hello, Sarah!');
});

test('welcome comes first, the exit word closes without a reply, and the server keeps serving', async (t) => {
  const server = await listenTcp({
    port: 0,
    behaviours: [welcome('Welcome!'), exitWord('exit'), reply('Hello, {msg}!')],
  });
  t.after(() => server.close({ force: true }));
  for (let round = 0; round < 2; round++) {
    const client = await connectTcp({ ...server.address(), signal: signal() });
    t.after(() => client.destroy());
    assert.equal((await client.read({ timeoutMs: 5000 }))?.toString(), 'Welcome!');
    assert.equal(await client.request('Michael', { timeoutMs: 5000 }), 'Hello, Michael!');
    await client.send('exit\r\n');
    assert.equal(await client.read({ timeoutMs: 5000 }), null, 'server closes after the exit word');
  }
});

test('a half-close from the client gets every reply, then the server closes too', async (t) => {
  const server = await listenTcp({ port: 0, behaviours: [echo()], framing: lines, delayMs: 20 });
  t.after(() => server.close({ force: true }));
  const client = await connectTcp({ ...server.address(), signal: signal() });
  t.after(() => client.destroy());
  await client.send('one\ntwo\nthree');
  await client.end();
  const got: Buffer[] = [];
  for (let c = await client.read({ timeoutMs: 5000 }); c !== null; c = await client.read({ timeoutMs: 5000 }))
    got.push(c);
  assert.equal(Buffer.concat(got).toString(), 'one\ntwo\nthree\n');
});

test('print writes messages in order per connection, and JSON events with peers', async (t) => {
  const out = new PassThrough();
  const chunks: string[] = [];
  out.on('data', (c: Buffer) => chunks.push(c.toString()));
  const server = await listenTcp({ port: 0, behaviours: [print({ out, format: 'json' })], framing: lines });
  t.after(() => server.close({ force: true }));
  const client = await connectTcp({ ...server.address(), signal: signal() });
  await client.send(Buffer.from([0x61, 0x0a, 0x62, 0x0a, 0xff, 0x0a]));
  await client.end();
  await once(server, 'close');
  client.destroy();
  const events = chunks
    .join('')
    .trim()
    .split('\n')
    .map((l) => JSON.parse(l) as Record<string, unknown>);
  assert.deepEqual(
    events.map((e) => e.event),
    ['open', 'message', 'message', 'message', 'close'],
  );
  assert.equal(events[1]?.text, 'a');
  assert.equal(events[2]?.n, 2);
  assert.equal(events[3]?.base64, Buffer.from([0xff]).toString('base64'));
  assert.equal(events[4]?.bytes_received, 6);
});

test('a line over --max-message closes only that client; others are still served', async (t) => {
  const closes: (Error | undefined)[] = [];
  const server = await listenTcp({ port: 0, behaviours: [echo()], framing: lines, maxMessageBytes: 16 });
  server.on('close', (_c, info) => closes.push(info.error));
  t.after(() => server.close({ force: true }));
  const good = await connectTcp({ ...server.address(), signal: signal() });
  const bad = await connectTcp({ ...server.address(), signal: signal() });
  t.after(() => good.destroy());
  t.after(() => bad.destroy());
  await bad.send('x'.repeat(100));
  assert.equal(await bad.read({ timeoutMs: 5000 }), null);
  assert.match(String(closes[0]?.message), /exceeds the limit of 16 bytes/);
  assert.equal(await good.request('still here\n', { timeoutMs: 5000 }), 'still here\n');
});

test('the lines before an oversized one in the same read are served, then that client is closed', async (t) => {
  const closes: (Error | undefined)[] = [];
  const server = await listenTcp({ port: 0, behaviours: [echo()], framing: lines, maxMessageBytes: 16 });
  server.on('close', (_c, info) => closes.push(info.error));
  t.after(() => server.close({ force: true }));
  const client = await connectTcp({ ...server.address(), signal: signal() });
  t.after(() => client.destroy());
  // One write, so one read at the server: two good lines, then one over the limit.
  await client.send(`ok1\nok2\n${'x'.repeat(100)}\nnever\n`);
  const echoed: Buffer[] = [];
  for (
    let chunk = await client.read({ timeoutMs: 5000 });
    chunk;
    chunk = await client.read({ timeoutMs: 5000 })
  )
    echoed.push(chunk);
  assert.equal(Buffer.concat(echoed).toString(), 'ok1\nok2\n');
  assert.match(String(closes[0]?.message), /exceeds the limit of 16 bytes/);
});

test('lines: a reply ends as its line did (CRLF or LF), and the welcome is a line too', async (t) => {
  const server = await listenTcp({
    port: 0,
    behaviours: [welcome('Welcome!'), reply('Hello, {msg}!')],
    framing: lines,
  });
  t.after(() => server.close({ force: true }));
  const client = await connectTcp({ ...server.address(), signal: signal() });
  t.after(() => client.destroy());
  const received: Buffer[] = [];
  const upTo = async (text: string) => {
    while (!Buffer.concat(received).toString().endsWith(text)) {
      const chunk = await client.read({ timeoutMs: 5000 });
      assert.ok(chunk, `the server closed before '${text}'`);
      received.push(chunk);
    }
  };
  await upTo('Welcome!\n');
  await client.send('Tracy\r\n');
  await upTo('Hello, Tracy!\r\n');
  await client.send('Sarah\n');
  await upTo('Hello, Sarah!\n');
  assert.equal(Buffer.concat(received).toString(), 'Welcome!\nHello, Tracy!\r\nHello, Sarah!\n');
});

test('a client that never reads stalls only itself', async (t) => {
  const server = await listenTcp({ port: 0, behaviours: [echo()] });
  t.after(() => server.close({ force: true }));
  // The flooder writes 64 MiB and never reads: its echo backs up into its own socket buffers.
  const flooder = net.connect(server.address());
  t.after(() => flooder.destroy());
  await once(flooder, 'connect');
  flooder.pause();
  const block = Buffer.alloc(1024 * 1024, 0x61);
  let written = 0;
  const flood = async () => {
    while (written < 64 && !flooder.destroyed) {
      written += 1;
      if (!flooder.write(block)) {
        const drained = await Promise.race([
          once(flooder, 'drain').then(() => true),
          new Promise<boolean>((r) => setTimeout(() => r(false), 300)),
        ]);
        if (!drained) return; // blocked: the server stopped reading from us — exactly the point
      }
    }
  };
  await flood();
  assert.ok(written < 64, 'the server applied backpressure to the flooder');
  const other = await connectTcp({ ...server.address(), signal: signal() });
  t.after(() => other.destroy());
  assert.equal(await other.request('ping', { timeoutMs: 5000 }), 'ping');
});

test('a client that vanishes mid-message does not disturb the others', async (t) => {
  const server = await listenTcp({ port: 0, behaviours: [reply('ok:{msg}')], framing: lines });
  t.after(() => server.close({ force: true }));
  const vanishing = net.connect(server.address());
  await once(vanishing, 'connect');
  vanishing.write('half a li');
  const closed = once(server, 'close');
  vanishing.resetAndDestroy();
  await closed;
  const other = await connectTcp({ ...server.address(), signal: signal() });
  t.after(() => other.destroy());
  assert.equal(await other.request('fine\n', { timeoutMs: 5000 }), 'ok:fine\n');
});

test('max connections refuses the extra client and serves the first', async (t) => {
  const server = await listenTcp({ port: 0, behaviours: [echo()], maxConnections: 1 });
  t.after(() => server.close({ force: true }));
  const first = await connectTcp({ ...server.address(), signal: signal() });
  t.after(() => first.destroy());
  assert.equal(await first.request('a', { timeoutMs: 5000 }), 'a');
  const dropped = once(server, 'drop');
  const second = await connectTcp({ ...server.address(), signal: signal() });
  t.after(() => second.destroy());
  await dropped;
  assert.equal(await second.read({ timeoutMs: 5000 }), null);
  assert.equal(await first.request('b', { timeoutMs: 5000 }), 'b');
});

test('idle timeout disconnects a silent client', async (t) => {
  const server = await listenTcp({ port: 0, behaviours: [echo()], idleTimeoutMs: 100 });
  t.after(() => server.close({ force: true }));
  const client = await connectTcp({ ...server.address(), signal: signal() });
  t.after(() => client.destroy());
  const [, info] = (await once(server, 'close')) as [unknown, { error?: Error }];
  assert.match(String(info.error?.message), /idle/);
  assert.equal(await client.read({ timeoutMs: 5000 }), null);
});

test('chat relays to the others, not back to the sender', async (t) => {
  const server = await listenTcp({ port: 0, behaviours: [chat()] });
  t.after(() => server.close({ force: true }));
  const a = await connectTcp({ ...server.address(), signal: signal() });
  const b = await connectTcp({ ...server.address(), signal: signal() });
  t.after(() => a.destroy());
  t.after(() => b.destroy());
  while (server.connections < 2) await once(server, 'connection');
  await a.send('hi all');
  const got = await b.read({ timeoutMs: 5000 });
  assert.match(String(got), /^\[127\.0\.0\.1:\d+\] hi all$/);
  assert.equal(a.pendingBytes, 0);
});

test('bind and connect failures are SocklabErrors with stable codes', async (t) => {
  const server = await listenTcp({ port: 0, behaviours: [] });
  t.after(() => server.close({ force: true }));
  await assert.rejects(listenTcp({ port: server.address().port, behaviours: [] }), {
    code: 'SOCKLAB_ERR_BIND',
    message: /cannot listen on tcp:\/\/127\.0\.0\.1:\d+: address already in use \(EADDRINUSE\)/,
  });
  const port = server.address().port;
  await server.close();
  await assert.rejects(connectTcp({ host: '127.0.0.1', port }), {
    code: 'SOCKLAB_ERR_CONNECT',
    message: /connection refused/,
  });
  await assert.rejects(connectTcp({ host: 'nosuch.invalid', port: 80 }), { code: 'SOCKLAB_ERR_DNS' });
});

test('IPv6 loopback works when the machine has it', async (t) => {
  let server;
  try {
    server = await listenTcp({ host: '::1', port: 0, behaviours: [echo()] });
  } catch {
    t.skip('no IPv6 loopback here');
    return;
  }
  t.after(() => server.close({ force: true }));
  const client = await connectTcp({ host: '::1', port: server.address().port, signal: signal() });
  t.after(() => client.destroy());
  assert.equal(await client.request('v6', { timeoutMs: 5000 }), 'v6');
});
