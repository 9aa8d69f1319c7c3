/** The TCP relay on real sockets: forwarding, half-close, backpressure, stream faults, live changes. */
import assert from 'node:assert/strict';
import { createHash } from 'node:crypto';
import { once } from 'node:events';
import net from 'node:net';
import { test } from 'node:test';
import { createRelay, type Relay } from '../../src/relay/relay.js';
import { procAddress, RESET_LINGER_MS, unacknowledgedBytes } from '../../src/relay/link.js';
import { randomBytes } from '../helpers/random.js';
import {
  collect,
  connect,
  connectAndCollect,
  echo,
  hashSink,
  tcpServer,
  until,
  within,
  writeAll,
} from '../helpers/relay-peers.js';
import { blackholePort } from '../helpers/blackhole.js';
import { closedPort } from '../helpers/ports.js';

const sha = (data: Buffer) => createHash('sha256').update(data).digest('hex');

async function relayTo(
  port: number,
  t: { after: (fn: () => Promise<void>) => void },
  options: Partial<Parameters<typeof createRelay>[0]> = {},
): Promise<Relay> {
  const relay = await createRelay({
    listen: 'tcp://127.0.0.1:0',
    upstream: `tcp://127.0.0.1:${port}`,
    seed: 1,
    ...options,
  });
  t.after(() => relay.close());
  return relay;
}

test('bytes flow both ways; the FIN is forwarded (half-close) and the reply still comes back', async (t) => {
  const server = await tcpServer(echo);
  t.after(() => server.close());
  const relay = await relayTo(server.port, t);
  const client = await connect(relay.address().port);
  const result = collect(client);
  client.end('hello through the relay');
  const { data, error } = await within(result, 5000, 'the echo and the close');
  assert.equal(error, undefined);
  assert.equal(data.toString(), 'hello through the relay');
  await until(() => relay.stats().active === 0, 5000, 'the pair to close');
  const c = relay.counters();
  assert.equal(c.up.forwarded.bytes, 23);
  assert.equal(c.down.forwarded.bytes, 23);
  assert.deepEqual(relay.stats(), {
    active: 0,
    total: 1,
    refused: 0,
    expired: 0,
    upstreamErrors: 0,
    noDescriptors: 0,
    bufferedBytes: 0,
    memoryBytes: 0,
  });
});

test('a half-closed client still receives everything the server sends after the FIN', async (t) => {
  const server = await tcpServer((socket) => {
    socket.on('end', () => {
      socket.write('late ');
      setImmediate(() => socket.end('reply'));
    });
    socket.resume();
  });
  t.after(() => server.close());
  const relay = await relayTo(server.port, t);
  const client = await connect(relay.address().port);
  const result = collect(client);
  client.end('request');
  assert.equal((await within(result, 5000, 'the reply')).data.toString(), 'late reply');
});

test('a reset on one side resets the other; closing either side closes the pair', async (t) => {
  let serverSide: net.Socket | undefined;
  const server = await tcpServer((socket) => (serverSide = socket));
  t.after(() => server.close());
  const relay = await relayTo(server.port, t);
  const client = await connect(relay.address().port);
  const result = collect(client);
  client.write('x');
  await until(() => serverSide !== undefined, 5000, 'the server side');
  serverSide!.resetAndDestroy();
  const { error } = await within(result, 5000, 'the client to be reset');
  assert.equal(error?.code, 'ECONNRESET');
  await until(() => relay.stats().active === 0, 5000, 'the pair to close');

  // The server closes: the client gets the FIN, and the pair closes.
  const client2 = await connect(relay.address().port);
  const r2 = collect(client2);
  await until(() => server.sockets.size === 1, 5000, 'the second server side');
  [...server.sockets][0]!.end('bye');
  assert.equal((await within(r2, 5000, 'the close')).data.toString(), 'bye');
  await until(() => relay.stats().active === 0, 5000, 'the pair to close');

  // The client goes away and the server writes to it: the client's RST resets the server's side.
  const client3 = await connect(relay.address().port);
  await until(() => server.sockets.size === 1, 5000, 'the third server side');
  const side = [...server.sockets][0]!;
  const sideResult = collect(side);
  client3.destroy();
  const writes = setInterval(() => side.writable && side.write('are you there?'), 10);
  const { error: sideError } = await within(sideResult, 5000, "the server side's close");
  clearInterval(writes);
  assert.ok(
    sideError === undefined || ['ECONNRESET', 'EPIPE'].includes(sideError.code ?? ''),
    String(sideError),
  );
  await until(() => relay.stats().active === 0, 5000, 'the pair to close');
});

test('an upstream that writes 4 MiB then resets: through the relay, as directly, the client gets all 4 MiB, then the reset', async (t) => {
  const data = randomBytes(4 << 20, 29);
  const server = await tcpServer((socket) => {
    // Once the kernel has every byte, and the time for a reader to take them all: RST (SO_LINGER 0).
    socket.write(data, () => setTimeout(() => socket.resetAndDestroy(), 100));
  });
  t.after(() => server.close());
  const received = async (port: number) => {
    const { data: got, error } = await within(connectAndCollect(port), 10_000, 'the reset');
    return { bytes: got.length, same: got.equals(data), error: error?.code };
  };
  const direct = await received(server.port);
  const plain = await relayTo(server.port, t);
  const relayed = await received(plain.address().port);
  const delayed = await relayTo(server.port, t, {
    faults: [{ type: 'delay', direction: 'down', params: { delayMs: '300ms' } }],
  });
  const start = performance.now();
  const late = await received(delayed.address().port);
  const elapsed = performance.now() - start;
  t.diagnostic(
    `bytes before the reset: direct ${direct.bytes} ${direct.error}, relay ${relayed.bytes} ${relayed.error}, relay --down --delay 300ms ${late.bytes} ${late.error}`,
  );
  assert.deepEqual(direct, { bytes: data.length, same: true, error: 'ECONNRESET' }, 'directly');
  assert.deepEqual(relayed, { bytes: data.length, same: true, error: 'ECONNRESET' }, 'through the relay');
  assert.deepEqual(late, { bytes: data.length, same: true, error: 'ECONNRESET' }, 'through a delay');
  assert.ok(elapsed >= 300, `the data, then the reset, keep the delay: ${elapsed.toFixed(0)} ms`);
  await until(() => plain.stats().active === 0 && delayed.stats().active === 0, 5000, 'the pairs to close');
});

test('a client that writes then resets: the target gets every byte through a delay, then the reset', async (t) => {
  const data = randomBytes(1 << 20, 31);
  let result: Promise<{ data: Buffer; error?: NodeJS.ErrnoException }> | undefined;
  const server = await tcpServer((socket) => (result = collect(socket)));
  t.after(() => server.close());
  const relay = await relayTo(server.port, t, {
    faults: [{ type: 'delay', direction: 'up', params: { delayMs: '200ms' } }],
  });
  const client = await connect(relay.address().port);
  client.on('error', () => undefined);
  client.write(data, () => setTimeout(() => client.resetAndDestroy(), 50));
  await until(() => result !== undefined, 5000, 'the target to accept');
  const { data: got, error } = await within(result!, 10_000, 'the reset');
  assert.equal(got.length, data.length);
  assert.ok(got.equals(data));
  assert.equal(error?.code, 'ECONNRESET');
});

test('after an upstream reset, a client that reads nothing is reset all the same, RESET_LINGER_MS later', async (t) => {
  const server = await tcpServer((socket) => {
    socket.write(randomBytes(16 << 20, 37), () => setTimeout(() => socket.resetAndDestroy(), 50));
  });
  t.after(() => server.close());
  // The delay keeps the relay reading (nothing is due yet) until it has the reset.
  const relay = await relayTo(server.port, t, {
    faults: [{ type: 'delay', direction: 'down', params: { delayMs: '300ms' } }],
  });
  const client = await connect(relay.address().port);
  client.pause();
  const result = collect(client);
  await until(() => relay.stats().active === 1 && server.sockets.size === 0, 5000, 'the upstream reset');
  const start = performance.now();
  await until(() => relay.stats().active === 0, 3 * RESET_LINGER_MS + 2000, 'the client to be reset');
  const waited = performance.now() - start;
  t.diagnostic(`reset ${waited.toFixed(0)} ms after the upstream's`);
  // Checked every RESET_LINGER_MS: reset at the first check that finds no write done since the last.
  assert.ok(waited >= RESET_LINGER_MS, `${waited.toFixed(0)} ms`);
  // What the kernel had not sent is thrown away with the reset: Linux then shows the client the end
  // of the stream, as it would directly from a target that resets with data unsent.
  client.resume();
  await within(result, 5000, 'the client to close');
});

test('procAddress names a socket as /proc/net/tcp does; unacknowledgedBytes reads it for a live socket', async (t) => {
  assert.equal(procAddress('127.0.0.1', 8080), '0100007F:1F90');
  assert.equal(procAddress('::1', 80), '00000000000000000000000001000000:0050');
  assert.equal(procAddress('::ffff:127.0.0.1', 1), '0000000000000000FFFF00000100007F:0001');
  assert.equal(procAddress('2001:db8::ff00:42:8329', 443), 'B80D01200000000000FF000029834200:01BB');
  assert.equal(procAddress('localhost', 1), undefined);
  const server = await tcpServer(echo);
  t.after(() => server.close());
  const client = await connect(server.port);
  t.after(() => client.destroy());
  assert.equal(await unacknowledgedBytes(client), process.platform === 'linux' ? 0 : undefined);
});

test('backpressure: a server that does not read stops the relay reading, within the declared bound', async (t) => {
  let serverSide: net.Socket | undefined;
  const server = await tcpServer((socket) => {
    serverSide = socket;
    socket.pause();
    hashSink(socket);
    socket.pause();
  });
  t.after(() => server.close());
  const bound = 1 << 20;
  const relay = await relayTo(server.port, t, { maxBufferedBytes: bound });
  const client = await connect(relay.address().port);
  const data = randomBytes(64 << 20, 3);
  const answer = collect(client);
  const writing = writeAll(client, data);
  let finished = false;
  void writing.then(() => (finished = true));
  let peak = 0;
  const deadline = Date.now() + 400;
  while (Date.now() < deadline) {
    peak = Math.max(peak, relay.stats().bufferedBytes);
    await new Promise((resolve) => setTimeout(resolve, 5));
  }
  assert.equal(finished, false, 'the client is held back: 64 MiB cannot all be written');
  assert.ok(peak <= bound + 65536, `at most the bound (and the chunk being read) is held: ${peak}`);
  serverSide!.resume();
  await within(writing, 20_000, 'the client to write everything');
  const [bytes, hash] = (await within(answer, 20_000, 'the answer')).data.toString().split(' ');
  assert.equal(Number(bytes), data.length);
  assert.equal(hash, sha(data), 'nothing lost, nothing reordered');
});

test('32 MiB through delay, jitter and slicing arrives with the same SHA-256', async (t) => {
  const server = await tcpServer(hashSink);
  t.after(() => server.close());
  const relay = await relayTo(server.port, t, {
    faults: [
      { type: 'delay', params: { delayMs: '5ms', jitterMs: '2ms' } },
      { type: 'slice', params: { averageSizeBytes: '16kb', sizeVariationBytes: '8kb', sliceDelayMs: '1us' } },
    ],
  });
  const data = randomBytes(32 << 20, 5);
  const client = await connect(relay.address().port);
  const answer = collect(client);
  await writeAll(client, data);
  const [bytes, hash] = (await within(answer, 60_000, 'the answer')).data.toString().split(' ');
  assert.equal(Number(bytes), data.length);
  assert.equal(hash, sha(data));
  assert.ok(relay.counters().up.forwarded.packets > data.length / (24 * 1024), 'the stream was sliced');
  assert.ok(relay.counters().up.delayed.bytes >= data.length);
  // Held chunks are views on the relay's read pool; the hash above shows none was overwritten early.
  const pool = relay.readPoolStats();
  assert.ok(pool.reused > 0, `read buffers were reused: ${JSON.stringify(pool)}`);
  assert.equal(pool.doubleReleases, 0);
});

test('faults added, changed and removed while a stream flows lose nothing', async (t) => {
  const server = await tcpServer(hashSink);
  t.after(() => server.close());
  const relay = await relayTo(server.port, t);
  const data = randomBytes(24 << 20, 7);
  const client = await connect(relay.address().port);
  const answer = collect(client);
  const writing = writeAll(client, data);
  const steps: (() => void)[] = [
    () => relay.addFault({ type: 'delay', direction: 'up', params: { delayMs: 20, jitterMs: 10 } }),
    () =>
      relay.addFault({
        type: 'slice',
        direction: 'up',
        params: { averageSizeBytes: 3000, sizeVariationBytes: 1000 },
      }),
    () => relay.addFault({ type: 'stall', direction: 'up' }),
    () => relay.updateFault('delay_up', { params: { delayMs: 2 } }),
    () => relay.removeFault('stall_up'),
    () => relay.addFault({ type: 'rate', direction: 'up', params: { rateBytesPerSec: '2gbit' } }),
    () => relay.updateFault('slice_up', { params: { averageSizeBytes: 50_000, sizeVariationBytes: 0 } }),
    () => relay.removeFault('delay_up'),
    () => relay.resetFaults(),
  ];
  for (const step of steps) {
    step();
    await new Promise((resolve) => setTimeout(resolve, 15));
  }
  await within(writing, 30_000, 'the client to write everything');
  const [bytes, hash] = (await within(answer, 30_000, 'the answer')).data.toString().split(' ');
  assert.equal(Number(bytes), data.length);
  assert.equal(hash, sha(data));
  assert.deepEqual(relay.faults(), []);
});

test('delay: the answer takes at least the delay each way', async (t) => {
  const server = await tcpServer(echo);
  t.after(() => server.close());
  const relay = await relayTo(server.port, t, { faults: [{ type: 'delay', params: { delayMs: 60 } }] });
  const client = await connect(relay.address().port);
  const start = performance.now();
  client.write('ping');
  await within(once(client, 'data'), 5000, 'the echo');
  const rtt = performance.now() - start;
  assert.ok(rtt >= 120, `round trip ${rtt.toFixed(1)} ms >= 2 x 60 ms`);
  client.destroy();
});

test('limit-data: the client reads exactly N bytes, then the connection closes', async (t) => {
  const server = await tcpServer((socket) => {
    socket.write(randomBytes(100_000, 1));
    socket.resume();
  });
  t.after(() => server.close());
  const relay = await relayTo(server.port, t, {
    faults: [{ type: 'limit-data', direction: 'down', params: { limitBytes: 1000 } }],
  });
  const client = await connect(relay.address().port);
  const { data } = await within(collect(client), 5000, 'the close');
  assert.equal(data.length, 1000);
  assert.ok(data.equals(randomBytes(100_000, 1).subarray(0, 1000)));
  await until(() => relay.stats().active === 0, 5000, 'the pair to close');
});

test('reset-after: the connection is reset after N bytes, and after T ms', async (t) => {
  const server = await tcpServer(echo);
  t.after(() => server.close());
  const relay = await relayTo(server.port, t, {
    faults: [{ type: 'reset-after', direction: 'up', params: { afterBytes: 10 } }],
  });
  const client = await connect(relay.address().port);
  const result = collect(client);
  client.write('0123456789abcdef');
  const { error, data } = await within(result, 5000, 'the reset');
  assert.equal(error?.code, 'ECONNRESET');
  assert.ok(data.length <= 10);
  assert.equal(relay.counters().up.truncated.bytes, 6);

  relay.updateFault('reset-after_up', { params: { afterBytes: null, afterMs: 100 } });
  const client2 = await connect(relay.address().port);
  const start = performance.now();
  const r2 = await within(collect(client2), 5000, 'the timed reset');
  assert.equal(r2.error?.code, 'ECONNRESET');
  assert.ok(performance.now() - start >= 95);
});

test('stall: nothing moves until the fault is removed; then everything does', async (t) => {
  const server = await tcpServer(echo);
  t.after(() => server.close());
  const relay = await relayTo(server.port, t, { faults: [{ type: 'stall', direction: 'down' }] });
  const client = await connect(relay.address().port);
  const got: Buffer[] = [];
  client.on('data', (d: Buffer) => got.push(d));
  client.write('held');
  await until(
    () => relay.counters().up.forwarded.bytes === 4 && relay.stats().bufferedBytes === 4,
    5000,
    'the echo to be held',
  );
  assert.equal(got.length, 0);
  relay.removeFault('stall_down');
  await until(() => got.length > 0, 5000, 'the echo');
  assert.equal(Buffer.concat(got).toString(), 'held');
  client.destroy();
});

test('stall: a stream larger than the bound goes on once a timed stall lets go', async (t) => {
  const server = await tcpServer(hashSink);
  t.after(() => server.close());
  const relay = await relayTo(server.port, t, {
    maxBufferedBytes: 1 << 20,
    faults: [{ type: 'stall', direction: 'up', params: { durationMs: '200ms' } }],
  });
  const data = randomBytes(8 << 20, 19);
  const client = await connect(relay.address().port);
  const answer = collect(client);
  await within(writeAll(client, data), 10_000, 'the client to write everything');
  const [bytes, hash] = (await within(answer, 10_000, 'the answer')).data.toString().split(' ');
  assert.equal(Number(bytes), data.length);
  assert.equal(hash, sha(data));
});

test('slow-close: the FIN is held, the data is not', async (t) => {
  const server = await tcpServer(echo);
  t.after(() => server.close());
  const relay = await relayTo(server.port, t, {
    faults: [{ type: 'slow-close', direction: 'down', params: { delayMs: 150 } }],
  });
  const client = await connect(relay.address().port);
  const start = performance.now();
  const result = collect(client);
  client.end('bye');
  const { data } = await within(result, 5000, 'the close');
  assert.equal(data.toString(), 'bye');
  assert.ok(performance.now() - start >= 145);
});

test('probability: a fault applies to some connections only, the same ones for the same seed', async (t) => {
  const server = await tcpServer(echo);
  t.after(() => server.close());
  const pattern = async (seed: number) => {
    const relay = await relayTo(server.port, t, {
      seed,
      faults: [{ type: 'limit-data', direction: 'down', probability: '50%', params: { limitBytes: 1 } }],
    });
    const out: number[] = [];
    for (let i = 0; i < 16; i++) {
      const client = await connect(relay.address().port);
      const result = collect(client);
      client.end('four');
      out.push((await within(result, 5000, 'the echo')).data.length);
    }
    return out;
  };
  const a = await pattern(3);
  assert.deepEqual(a, await pattern(3));
  assert.ok(a.includes(1) && a.includes(4), `some limited, some not: ${a.join(',')}`);
});

test('an unreachable target resets that client, reports one line, and the relay serves the next', async (t) => {
  const port = await closedPort();
  const relay = await relayTo(port, t);
  const reported = once(relay, 'upstreamError');
  const { error } = await within(connectAndCollect(relay.address().port), 5000, 'the reset');
  assert.ok(error === undefined || error.code === 'ECONNRESET');
  const [info, err] = (await within(reported, 5000, 'the report')) as [
    { id: number },
    Error & { code: string },
  ];
  assert.equal(info.id, 1);
  assert.equal(err.code, 'SOCKLAB_ERR_CONNECT');
  assert.equal(err.message, `cannot connect to tcp://127.0.0.1:${port}: connection refused (ECONNREFUSED)`);
  // The target comes up: the relay goes on with the next connection.
  const server = net.createServer({ allowHalfOpen: true }, echo);
  server.listen(port, '127.0.0.1');
  await once(server, 'listening');
  t.after(() => new Promise<void>((resolve) => server.close(() => resolve())));
  const client2 = await connect(relay.address().port);
  const r2 = collect(client2);
  client2.end('back');
  assert.equal((await within(r2, 5000, 'the echo')).data.toString(), 'back');
  assert.equal(relay.stats().upstreamErrors, 1);
});

test('a target that never answers is given up after the connect timeout: that client is reset, one line', async (t) => {
  const port = await blackholePort(t);
  const relay = await createRelay({
    listen: 'tcp://127.0.0.1:0',
    upstream: `tcp://127.0.0.1:${port}`,
    connectTimeoutMs: 300,
  });
  t.after(() => relay.close());
  const reported = once(relay, 'upstreamError');
  const { error } = await within(connectAndCollect(relay.address().port), 5000, 'the reset');
  assert.ok(error === undefined || error.code === 'ECONNRESET');
  const [, err] = (await within(reported, 5000, 'the report')) as [unknown, Error & { code: string }];
  assert.equal(err.code, 'SOCKLAB_ERR_TIMEOUT');
  assert.equal(err.message, `cannot connect to tcp://127.0.0.1:${port}: no answer within 300 ms`);
});

test('bad input: UDP faults on TCP, bad values, a busy port, an unknown host', async (t) => {
  await assert.rejects(
    createRelay({
      listen: 'tcp://127.0.0.1:0',
      upstream: '127.0.0.1:9',
      faults: [{ type: 'loss', params: { lossRate: 0.1 } }],
    }),
    { code: 'SOCKLAB_ERR_USAGE', message: /loss is a UDP fault: on TCP every byte read is forwarded/ },
  );
  await assert.rejects(
    createRelay({
      listen: 'tcp://127.0.0.1:0',
      upstream: '127.0.0.1:9',
      faults: [{ type: 'delay', params: { delayMs: '-5ms' } }],
    }),
    {
      code: 'SOCKLAB_ERR_USAGE',
      message: "fault 'delay' delayMs: '-5ms' is negative (a duration is 0 or more)",
    },
  );
  await assert.rejects(createRelay({ listen: 'udp://127.0.0.1:0', upstream: 'tcp://127.0.0.1:9' }), {
    code: 'SOCKLAB_ERR_USAGE',
    message: 'cannot relay udp to tcp: listen and upstream must use the same transport',
  });
  const server = await tcpServer(echo);
  t.after(() => server.close());
  await assert.rejects(createRelay({ listen: `tcp://127.0.0.1:${server.port}`, upstream: '127.0.0.1:9' }), {
    code: 'SOCKLAB_ERR_BIND',
    message: `cannot listen on tcp://127.0.0.1:${server.port}: address already in use (EADDRINUSE)`,
  });
  await assert.rejects(createRelay({ listen: 'tcp://127.0.0.1:0', upstream: 'nohost.invalid:80' }), {
    code: 'SOCKLAB_ERR_DNS',
  });
  const relay = await relayTo(server.port, t);
  assert.throws(() => relay.removeFault('nope'), {
    code: 'SOCKLAB_ERR_NOT_FOUND',
    message: "relay 'relay' has no fault named 'nope'",
  });
  relay.addFault({ type: 'delay', params: { delayMs: '1ms' } });
  assert.throws(() => relay.addFault({ type: 'delay', params: { delayMs: '2ms' } }), {
    code: 'SOCKLAB_ERR_EXISTS',
  });
  assert.throws(() => relay.updateFault('delay', { params: { delayMs: 'soon' } }), {
    code: 'SOCKLAB_ERR_USAGE',
  });
});
