import assert from 'node:assert/strict';
import { test } from 'node:test';
import { parse } from '../../src/cli/commands/listen.js';
import { connectTcp } from '../../src/client/tcp-client.js';
import { openUdp } from '../../src/client/udp-client.js';
import { runCli, startCli } from '../helpers/cli.js';
import { availableParallelism } from 'node:os';

test('--workers: parsed, auto = cores, refused with options a worker cannot honour', () => {
  assert.equal(parse(['0']).workers, 1);
  assert.equal(parse(['0', '--workers', '3']).workers, 3);
  assert.equal(parse(['0', '--workers', 'auto']).workers, availableParallelism());
  for (const [argv, why] of [
    [['0', '--workers', '0'], /below the minimum/],
    [['0', '--workers', 'many'], /not a number/],
    [['0', '--workers', '2', '--once'], /--once cannot be combined with --workers/],
    [['0', '--workers', '2', '--chat'], /--chat cannot be combined with --workers/],
    [['0', '--workers', '2', '-o', 'x.bin'], /--output cannot be combined with --workers/],
  ] as const) {
    assert.throws(() => parse(argv), why);
  }
});

test('--workers 2: TCP connections spread over both workers, UDP answered, one summary at exit', async (t) => {
  const server = await startCli(
    ['listen', '127.0.0.1:0', 'udp://127.0.0.1:0', '--echo', '--workers', '2', '-v'],
    {
      listening: 2,
    },
  );
  t.after(() => server.stop('SIGKILL'));
  await server.waitFor(/2 workers \(pids \d+ \d+\)/, 'stderr');
  assert.equal(
    server.stderr().match(/listening on/g)?.length,
    2,
    'each address printed once, not per worker',
  );
  const [tcpPort, udpPort] = server.ports;

  // Connections open at once, so round-robin gives each worker some.
  const clients = await Promise.all(
    Array.from({ length: 8 }, () => connectTcp({ host: '127.0.0.1', port: tcpPort! })),
  );
  for (const [i, c] of clients.entries()) {
    assert.equal(await c.request(`hello ${i}`, { timeoutMs: 5000 }), `hello ${i}`);
  }
  for (const c of clients) {
    await c.end();
    assert.equal(await c.read({ timeoutMs: 5000 }), null);
  }
  const udp = await openUdp({ host: '127.0.0.1', port: udpPort! });
  assert.equal((await udp.request('ping', { timeoutMs: 2000, retries: 2 })).data.toString(), 'ping');
  await udp.close();

  const result = await server.stop('SIGTERM');
  assert.match(result.stderr, /\[worker 1\] connection from/);
  assert.match(result.stderr, /\[worker 2\] connection from/);
  assert.match(result.stderr, /summary tcp:\/\/127\.0\.0\.1:\d+: 8 connections, \d+ bytes in, \d+ out/);
  assert.match(result.stderr, /summary udp:\/\/127\.0\.0\.1:\d+: 1 datagram, 4 bytes received, 0 dropped/);
  assert.equal(result.stderr.match(/summary tcp/g)?.length, 1, 'summed, not one per worker');
});

test('--workers: a worker that cannot listen stops the rest, exit 1', async () => {
  const taken = await startCli(['listen', '127.0.0.1:0', '-q']);
  try {
    const result = await runCli(['listen', `127.0.0.1:${taken.ports[0]}`, '--workers', '2'], {
      timeoutMs: 15_000,
    });
    assert.equal(result.code, 1);
    assert.match(result.stderr, /cannot listen on tcp:\/\/127\.0\.0\.1:\d+: address already in use/);
  } finally {
    await taken.stop();
  }
});

test('--quiet prints what each address received at exit', async () => {
  const server = await startCli(['listen', '127.0.0.1:0', '-q']);
  const c = await connectTcp({ host: '127.0.0.1', port: server.ports[0]! });
  await c.send(Buffer.alloc(100_000, 1));
  await c.end();
  assert.equal(await c.read({ timeoutMs: 5000 }), null);
  const result = await server.stop();
  assert.match(result.stderr, /summary tcp:\/\/127\.0\.0\.1:\d+: 1 connection, 100000 bytes in, 0 out/);
});

test('--workers: one worker interrupted on its own stops the others, and the primary still sums up', async (t) => {
  const server = await startCli(['listen', '127.0.0.1:0', '--workers', '2', '-q']);
  t.after(() => server.stop('SIGKILL'));
  await server.waitFor(/2 workers \(pids \d+ \d+\)/, 'stderr');
  const pids = /2 workers \(pids (\d+) (\d+)\)/.exec(server.stderr());
  assert.ok(pids, server.stderr());
  process.kill(Number(pids[1]), 'SIGINT');
  const result = await server.exited(15_000);
  assert.equal(result.code, 0, result.stderr);
  assert.match(result.stderr, /summary tcp:\/\/127\.0\.0\.1:\d+: 0 connections/);
  assert.doesNotMatch(result.stderr, /exited \(/, 'an interrupted worker is not reported as a crash');
});
