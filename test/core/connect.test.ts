/** core/connect.ts: the one way socklab opens a stream, and its one family of errors. */
import assert from 'node:assert/strict';
import { once } from 'node:events';
import net from 'node:net';
import { test } from 'node:test';
import { connectStream, dialStream } from '../../src/core/connect.js';
import { connectTcp } from '../../src/client/tcp-client.js';
import { blackholePort } from '../helpers/blackhole.js';
import { closedPort } from '../helpers/ports.js';

test('a stream connects; half-open only when asked', async (t) => {
  const server = net.createServer((s) => {
    s.on('error', () => undefined); // the client leaves with a reset
    s.end('hi');
  });
  server.listen(0, '127.0.0.1');
  await once(server, 'listening');
  t.after(() => server.close());
  const { port } = server.address() as net.AddressInfo;
  const plain = await connectStream({ host: '127.0.0.1', port });
  assert.equal(plain.allowHalfOpen, false);
  plain.destroy();
  const half = await connectStream({ host: '127.0.0.1', port, allowHalfOpen: true });
  assert.equal(half.allowHalfOpen, true);
  half.destroy();
});

test('refused, unknown host and a port out of range each have their code', async () => {
  const port = await closedPort();
  await assert.rejects(connectStream({ host: '127.0.0.1', port }), {
    code: 'SOCKLAB_ERR_CONNECT',
    message: `cannot connect to tcp://127.0.0.1:${port}: connection refused (ECONNREFUSED)`,
  });
  await assert.rejects(connectStream({ host: 'nosuch.invalid', port: 80 }), { code: 'SOCKLAB_ERR_DNS' });
  // Node throws a RangeError here; the library says what was wrong, as the address parser does.
  assert.throws(() => dialStream({ host: '127.0.0.1', port: 70_000 }), {
    code: 'SOCKLAB_ERR_ADDRESS',
    message: 'cannot connect to tcp://127.0.0.1:70000: port 70000 is out of range (1-65535)',
  });
  await assert.rejects(connectTcp({ host: '127.0.0.1', port: 70_000 }), { code: 'SOCKLAB_ERR_ADDRESS' });
});

test('a connect nobody answers times out with its own code, and is not left behind', async (t) => {
  const port = await blackholePort(t);
  const started = performance.now();
  await assert.rejects(connectStream({ host: '127.0.0.1', port, timeoutMs: 300 }), {
    code: 'SOCKLAB_ERR_TIMEOUT',
    message: `cannot connect to tcp://127.0.0.1:${port}: no answer within 300 ms`,
  });
  assert.ok(performance.now() - started >= 290);
});

test('an abort ends a pending connect at once, not at its timeout', async (t) => {
  const port = await blackholePort(t);
  const controller = new AbortController();
  const started = performance.now();
  const pending = connectStream({ host: '127.0.0.1', port, timeoutMs: 30_000, signal: controller.signal });
  setTimeout(() => controller.abort(), 50);
  await assert.rejects(pending, { code: 'SOCKLAB_ERR_ABORTED' });
  assert.ok(performance.now() - started < 5_000, 'the abort, not the 30 s timeout, ended it');
});

test('a dialled socket destroyed by its owner before it connects settles as aborted', async (t) => {
  const port = await blackholePort(t);
  const { socket, connected } = dialStream({ host: '127.0.0.1', port, timeoutMs: 30_000 });
  socket.destroy();
  await assert.rejects(connected, { code: 'SOCKLAB_ERR_ABORTED' });
});
