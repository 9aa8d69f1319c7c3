import assert from 'node:assert/strict';
import { createServer } from 'node:net';
import { once } from 'node:events';
import { test } from 'node:test';
import { parse } from '../../src/cli/commands/bench.js';
import { BIN, runCli, startCli } from '../helpers/cli.js';
import { startPeerServer } from '../helpers/peers.js';
import { findExecutable, startProcess } from '../helpers/spawn.js';

interface Sum {
  bytes: number;
  bits_per_second: number;
  packets?: number;
  lost_packets?: number;
  out_of_order?: number;
  duplicates?: number;
  jitter_ms?: number;
}
interface ThroughputJson {
  end: { sum_sent: Sum; sum_received: Sum };
}
interface PingPongJson {
  end: {
    round_trips: number;
    connections: number;
    connect_failures: number;
    latency_us: Record<string, number>;
  };
}

async function benchServer(t: { after: (fn: () => Promise<unknown>) => void }) {
  const server = await startCli(['bench', '--server', '0'], { listening: 2 });
  t.after(() => server.stop());
  return server;
}

/** `socklab bench [-u] 127.0.0.1:PORT ...args --json` against `server`: must exit 0; its JSON end. */
async function throughput(server: { ports: number[] }, args: string[], udp = false) {
  const r = await runCli([
    'bench',
    ...(udp ? ['-u'] : []),
    `127.0.0.1:${server.ports[0]}`,
    ...args,
    '--json',
  ]);
  assert.equal(r.code, 0, r.stderr);
  return { ...(JSON.parse(r.stdout) as ThroughputJson).end, stderr: r.stderr };
}

test('TCP throughput: bytes sent equal bytes the server received', async (t) => {
  const server = await benchServer(t);
  const end = await throughput(server, ['-t', '0.5', '-P', '2', '-i', '0.2']);
  assert.ok(end.sum_sent.bytes > 0);
  assert.equal(end.sum_received.bytes, end.sum_sent.bytes);
  assert.match(end.stderr, /sec\]\s+\S+ \w?Bytes\s+\S+ \w?bits\/sec/); // live interval lines
});

test('TCP reverse: the client receives what the server says it sent', async (t) => {
  const server = await benchServer(t);
  const end = await throughput(server, ['-t', '0.5', '-R', '-i', '0']);
  assert.ok(end.sum_received.bytes > 0);
  assert.equal(end.sum_received.bytes, end.sum_sent.bytes);
});

test('UDP throughput: received + lost = sent, with order and jitter reported', async (t) => {
  const server = await benchServer(t);
  const { sum_sent: sent, sum_received: rx } = await throughput(
    server,
    ['-t', '0.5', '-b', '20M', '-l', '1000'],
    true,
  );
  assert.ok(sent.packets! > 100, `sent ${sent.packets}`);
  assert.ok(rx.packets! > 0);
  assert.equal(rx.packets! - rx.duplicates! + rx.lost_packets!, sent.packets);
  assert.equal(rx.bytes, rx.packets! * 1000);
  assert.ok(Number.isFinite(rx.jitter_ms) && rx.jitter_ms! >= 0, `jitter ${rx.jitter_ms}`);
  assert.ok(Number.isInteger(rx.out_of_order) && rx.out_of_order! >= 0, `out of order ${rx.out_of_order}`);
  // 20 Mbit/s for 0.5 s of 1000-byte datagrams is 1250; pacing keeps it near that.
  assert.ok(sent.packets! <= 1400, `sent ${sent.packets}`);
});

test('UDP reverse: the client counts what the server sent', async (t) => {
  const server = await benchServer(t);
  const { sum_sent: sent, sum_received: rx } = await throughput(
    server,
    ['-t', '0.5', '-b', '10M', '-R'],
    true,
  );
  assert.ok(sent.packets! > 0);
  assert.equal(rx.packets! - rx.duplicates! + rx.lost_packets!, sent.packets);
});

function assertLadder(latency: Record<string, number>) {
  const ladder = ['min_us', 'p50_us', 'p90_us', 'p99_us', 'p99_9_us', 'p99_99_us', 'max_us'].map(
    (k) => latency[k]!,
  );
  assert.ok(ladder[0]! > 0);
  assert.deepEqual(
    [...ladder].sort((a, b) => a - b),
    ladder,
  );
}

test('ping-pong against socklab listen --echo: round trips and ordered percentiles', async (t) => {
  const echo = await startCli(['listen', '0', '--echo', '-q']);
  t.after(() => echo.stop());
  const r = await runCli([
    'bench',
    `127.0.0.1:${echo.ports[0]}`,
    '--pingpong',
    '-t',
    '0.5',
    '-l',
    '100',
    '--json',
  ]);
  assert.equal(r.code, 0, r.stderr);
  const j = JSON.parse(r.stdout) as PingPongJson;
  assert.ok(j.end.round_trips > 0);
  assertLadder(j.end.latency_us);
});

test('ping-pong -n COUNT stops after exactly COUNT round trips; the table shows the ladder', async (t) => {
  const server = await benchServer(t);
  const r = await runCli(['bench', `127.0.0.1:${server.ports[0]}`, '--pingpong', '-n', '500']);
  assert.equal(r.code, 0, r.stderr);
  assert.match(r.stdout, /round trips\s+500 in/);
  assert.match(r.stdout, /min\s+p50\s+p90\s+p99\s+p99\.9\s+p99\.99\s+max/);
});

test('UDP ping-pong against the bench server', async (t) => {
  const server = await benchServer(t);
  const r = await runCli([
    'bench',
    '-u',
    `127.0.0.1:${server.ports[0]}`,
    '--pingpong',
    '-n',
    '200',
    '--json',
  ]);
  assert.equal(r.code, 0, r.stderr);
  assert.equal((JSON.parse(r.stdout) as PingPongJson).end.round_trips, 200);
});

test('--connections 200: all established, each ping-ponging', async (t) => {
  const echo = await startCli(['listen', '0', '--echo', '-q']);
  t.after(() => echo.stop());
  const r = await runCli([
    'bench',
    `127.0.0.1:${echo.ports[0]}`,
    '--connections',
    '200',
    '-t',
    '0.5',
    '--json',
  ]);
  assert.equal(r.code, 0, r.stderr);
  const j = JSON.parse(r.stdout) as PingPongJson;
  assert.equal(j.end.connections, 200);
  assert.equal(j.end.connect_failures, 0);
  assert.ok(j.end.round_trips >= 200);
  assertLadder(j.end.latency_us);
});

test('bad usage exits 2 with one line', async () => {
  for (const args of [
    ['127.0.0.1:5201', '-t=-1'],
    ['-u', '127.0.0.1:5201', '-b', '100'],
    ['127.0.0.1:5201', '--connections', '10001'],
    ['127.0.0.1:5201', '-b', '10M'],
    ['127.0.0.1:5201', '--max-tests', '2'], // a server limit, without --server
    ['--server', '127.0.0.1:0', '--max-bitrate', '100'], // no unit
    ['--server', '127.0.0.1:0', '--max-tests', '0'],
    ['--server', '127.0.0.1:0', '--idle-timeout', 'soon'],
  ]) {
    const r = await runCli(['bench', ...args]);
    assert.equal(r.code, 2, `${args.join(' ')}: ${r.stderr}`);
    assert.equal(r.stderr.trim().split('\n').length, 1, r.stderr);
  }
});

test('a refused connection exits 1', async () => {
  const probe = createServer();
  probe.listen(0, '127.0.0.1');
  await once(probe, 'listening');
  const port = (probe.address() as { port: number }).port;
  probe.close();
  await once(probe, 'close');
  const r = await runCli(['bench', `127.0.0.1:${port}`, '-t', '0.5']);
  assert.equal(r.code, 1);
  assert.match(r.stderr, /cannot connect to tcp:\/\/127\.0\.0\.1:\d+: connection refused/);
});

test('an echo server is not a bench server: exit 1, one line', async (t) => {
  const echo = await startCli(['listen', '0', '--echo', '-q']);
  t.after(() => echo.stop());
  const r = await runCli(['bench', `127.0.0.1:${echo.ports[0]}`, '-t', '0.5']);
  assert.equal(r.code, 1);
  assert.match(r.stderr, /is not a socklab bench server/);
  assert.equal(r.stderr.trim().split('\n').length, 1);
});

test('a server that never answers the hello: timeout, exit 1', async (t) => {
  const held = new Set<import('node:net').Socket>();
  const silent = createServer((socket) => held.add(socket));
  silent.listen(0, '127.0.0.1');
  await once(silent, 'listening');
  t.after(() => {
    for (const socket of held) socket.destroy();
    silent.close();
  });
  const port = (silent.address() as { port: number }).port;
  const r = await runCli(['bench', `127.0.0.1:${port}`, '-t', '0.5', '--hello-timeout', '300']);
  assert.equal(r.code, 1);
  assert.match(r.stderr, /did not answer the bench hello: no answer within 300 ms/);
});

test('ping-pong against a server that closes without answering: exit 1, one line', async (t) => {
  const rude = createServer((socket) => socket.destroy());
  rude.listen(0, '127.0.0.1');
  await once(rude, 'listening');
  t.after(() => rude.close());
  const port = (rude.address() as { port: number }).port;
  const r = await runCli(['bench', `127.0.0.1:${port}`, '--pingpong', '-t', '5']);
  assert.equal(r.code, 1);
  assert.match(
    r.stderr,
    /no reply from tcp:\/\/127\.0\.0\.1:\d+ \(it closed the connection without answering\)/,
  );
  assert.equal(r.stderr.trim().split('\n').length, 1);
});

test("--sockperf: each message carries sockperf's header (seq u64, flags 0x0003, length u32)", async (t) => {
  // A stand-in for 'sockperf server': it answers only well-formed client pings, as sockperf does.
  const headers: Buffer[] = [];
  const server = createServer((socket) => {
    socket.on('data', (chunk: Buffer) => {
      for (let at = 0; at + 100 <= chunk.length; at += 100) {
        const message = chunk.subarray(at, at + 100);
        if (message.readUInt16BE(8) !== 0x0003 || message.readUInt32BE(10) !== 100) return socket.destroy();
        if (headers.length < 3) headers.push(Buffer.from(message.subarray(0, 14)));
        socket.write(message);
      }
    });
    socket.on('error', () => undefined);
  });
  server.listen(0, '127.0.0.1');
  await once(server, 'listening');
  t.after(() => server.close());
  const port = (server.address() as { port: number }).port;
  const r = await runCli([
    'bench',
    `127.0.0.1:${port}`,
    '--pingpong',
    '--sockperf',
    '-l',
    '100',
    '-n',
    '200',
    '--json',
  ]);
  assert.equal(r.code, 0, r.stderr);
  assert.equal((JSON.parse(r.stdout) as { end: { round_trips: number } }).end.round_trips, 200);
  assert.equal(headers[0]?.readBigUInt64BE(0), 1n);
  const usage = await runCli(['bench', `127.0.0.1:${port}`, '--pingpong', '--sockperf', '-l', '10']);
  assert.equal(usage.code, 2);
  assert.match(usage.stderr, /at least 14 bytes/);
});

test('--sockperf against the real sockperf server (TCP), when sockperf is installed', async (t) => {
  const sockperf = await findExecutable('sockperf');
  if (sockperf === undefined) return t.skip('sockperf is not installed');
  const server = await startPeerServer(sockperf, {
    transport: 'tcp',
    args: (port) => ['server', '--tcp', '-i', '127.0.0.1', '-p', String(port)],
    ready: /using \w+\(\) to block on socket/,
    stream: 'stdout',
  });
  t.after(() => server.stop());
  const r = await runCli([
    'bench',
    `127.0.0.1:${server.port}`,
    '--pingpong',
    '--sockperf',
    '-n',
    '1000',
    '--json',
  ]);
  assert.equal(r.code, 0, r.stderr);
  assert.equal((JSON.parse(r.stdout) as { end: { round_trips: number } }).end.round_trips, 1000);
});

// Ctrl-C on a bench client: the partial summary, as iperf3 prints it, then exit 130.

test('Ctrl-C during a TCP throughput test prints the summary of what ran, exit 130', async (t) => {
  const server = await benchServer(t);
  const client = startProcess(process.execPath, [BIN, 'bench', `127.0.0.1:${server.ports[0]}`, '-t', '60']);
  t.after(() => client.stop('SIGKILL'));
  await client.waitFor(/bits\/sec/, 'stderr', 10_000); // the first progress line: data flows
  const result = await client.stop('SIGINT');
  assert.equal(result.code, 130, result.stderr);
  // Both sides' figures, the server's too (it was told the test ended).
  assert.match(result.stdout, /^sent {10}\d.* in \d+\.\d+ s = /m);
  assert.match(result.stdout, /^received {6}\d/m);
  assert.match(result.stderr, /interrupted after \d+\.\d s: the figures cover that part\n$/);
});

test('Ctrl-C during a ping-pong prints the summary of the round trips so far, exit 130', async (t) => {
  const echo = await startCli(['listen', '0', '--echo', '-q']);
  t.after(() => echo.stop());
  const client = startProcess(process.execPath, [
    BIN,
    'bench',
    `127.0.0.1:${echo.ports[0]}`,
    '--pingpong',
    '-t',
    '60',
  ]);
  t.after(() => client.stop('SIGKILL'));
  await client.waitFor(/round trips\/s/, 'stderr', 10_000);
  const result = await client.stop('SIGINT');
  assert.equal(result.code, 130, result.stderr);
  assert.match(result.stdout, /round trips/);
  assert.match(result.stderr, /interrupted after \d+\.\d s: the figures cover that part\n$/);
});

test('bench papercuts: --reverse is for throughput; a UDP ping-pong sends 64 bytes, as the help says', () => {
  assert.throws(() => parse(['127.0.0.1:9', '--pingpong', '-R']), {
    message: /--reverse is for throughput tests/,
  });
  assert.equal(parse(['-u', '127.0.0.1:9', '--pingpong']).lengthBytes, 64);
  assert.equal(parse(['-u', '127.0.0.1:9']).lengthBytes, 1460);
});

test('--server limits: each flag reaches the server options, in its units', () => {
  const o = parse([
    '--server',
    '127.0.0.1:0',
    '--max-tests',
    '3',
    '--max-time',
    '60',
    '--max-bitrate',
    '8M',
    '--idle-timeout',
    '2.5',
    '--hello-timeout',
    '700',
  ]);
  assert.deepEqual(o.limits, {
    helloTimeoutMs: 700,
    idleTimeoutMs: 2_500,
    maxTests: 3,
    maxTestDurationMs: 60_000,
    maxSendRateBitsPerSec: 8e6,
  });
  // Without flags the server's own defaults apply (bench --help lists them).
  assert.deepEqual(parse(['--server', '127.0.0.1:0']).limits, {});
});
