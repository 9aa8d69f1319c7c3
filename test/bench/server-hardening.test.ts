/**
 * `bench --server` against abusive and careless clients (issue 12, items 6, 8 and 9): what a hello
 * can make the server allocate, reverse UDP as a reflector, timeouts, the test cap, and UDP figures
 * that another socket cannot forge. Raw control connections and UDP sockets speak the protocol by
 * hand (src/bench/protocol.ts), on loopback; every wait is bounded.
 */
import assert from 'node:assert/strict';
import dgram from 'node:dgram';
import { once } from 'node:events';
import { execFileSync } from 'node:child_process';
import { readFileSync } from 'node:fs';
import net from 'node:net';
import { test, type TestContext } from 'node:test';
import { startBenchServer, type BenchServerOptions } from '../../src/bench/server.js';
import { DATAGRAM_HEADER_BYTES, writeDatagramHeader } from '../../src/bench/protocol.js';
import { runCli, startCli } from '../helpers/cli.js';

async function within<T>(ms: number, promise: Promise<T>, what: string): Promise<T> {
  let timer: NodeJS.Timeout | undefined;
  const late = new Promise<never>((_, reject) => {
    timer = setTimeout(() => reject(new Error(`${what}: not within ${ms} ms`)), ms);
  });
  try {
    return await Promise.race([promise, late]);
  } finally {
    clearTimeout(timer);
  }
}

/** A raw control connection: the lines it got, a wait for the next one, and its close. */
function rawControl(t: TestContext, port: number, host = '127.0.0.1') {
  const socket = net.connect({ host, port });
  t.after(() => socket.destroy());
  socket.on('error', () => undefined); // the server may reset a connection it refuses
  let received = '';
  const waiters: (() => void)[] = [];
  socket.setEncoding('utf8');
  socket.on('data', (chunk: string) => {
    received += chunk;
    for (const w of waiters.splice(0)) w();
  });
  const closed = new Promise<void>((resolve) => socket.once('close', () => resolve()));
  const lines = () => received.split('\n').filter((l) => l !== '');
  /** The n-th line (0-based), parsed, once it has come. */
  const line = async (n: number, ms = 5_000): Promise<Record<string, unknown>> => {
    await within(
      ms,
      (async () => {
        while (lines().length <= n && !socket.destroyed) await new Promise<void>((r) => waiters.push(r));
      })(),
      `line ${n} from the bench server`,
    );
    return JSON.parse(lines()[n] ?? '{}') as Record<string, unknown>;
  };
  return { socket, closed, lines, line };
}

function hello(test: Record<string, unknown>): string {
  return `${JSON.stringify({
    socklab_bench: 1,
    test: {
      streams: 1,
      reverse: false,
      length_bytes: 100,
      rate_bits_per_sec: 1e6,
      duration_ms: 10_000,
      ...test,
    },
  })}\n`;
}

/** A UDP socket bound on `host`, counting what it receives (and keeping the last datagram). */
async function udpPeer(t: TestContext, host = '127.0.0.1') {
  const socket = dgram.createSocket('udp4');
  t.after(() => socket.close());
  socket.bind(0, host);
  await once(socket, 'listening');
  const peer = { socket, datagrams: 0, bytes: 0, lastMs: 0, last: Buffer.alloc(0) };
  socket.on('message', (msg) => {
    peer.datagrams++;
    peer.bytes += msg.length;
    peer.lastMs = performance.now();
    peer.last = msg;
  });
  return peer;
}

function send(socket: dgram.Socket, data: Buffer, port: number): Promise<void> {
  return new Promise((resolve, reject) =>
    socket.send(data, port, '127.0.0.1', (err) => (err ? reject(err) : resolve())),
  );
}

/** Polls `check` every 10 ms until true, `ms` at most. */
async function until(ms: number, check: () => boolean, what: string): Promise<void> {
  const deadline = performance.now() + ms;
  while (!check()) {
    if (performance.now() > deadline) throw new Error(`${what}: not within ${ms} ms`);
    await new Promise((r) => setTimeout(r, 10));
  }
}

async function server(t: TestContext, options: Partial<BenchServerOptions> = {}) {
  const s = await startBenchServer({ host: '127.0.0.1', port: 0, ...options });
  t.after(() => s.close());
  return s.address().port;
}

/** Peak resident memory of a process (VmHWM), in bytes. */
function peakRss(pid: number): number {
  const m = /VmHWM:\s+(\d+) kB/.exec(readFileSync(`/proc/${pid}/status`, 'utf8'));
  return Number(m![1]) * 1024;
}

// ---- item 6: what a hello makes the server allocate ------------------------------------------

test("a hello asking for huge writes does not size the server's memory (peak RSS grows < 48 MiB)", async (t) => {
  if (process.platform !== 'linux') return t.skip('needs /proc');
  const cli = await startCli(['bench', '--server', '127.0.0.1:0'], { listening: 2 });
  t.after(() => cli.stop());
  const pid = cli.child.pid!;
  const port = cli.ports[0]!;
  const before = peakRss(pid);

  // Reverse UDP with 1 MiB datagrams (no datagram is that big): refused, nothing allocated.
  const big = rawControl(t, port);
  big.socket.write(
    hello({ protocol: 'udp', reverse: true, length_bytes: 1024 * 1024, rate_bits_per_sec: 0 }),
  );
  assert.match(
    String((await big.line(0)).error),
    /length_bytes 1048576 is not a datagram size for a test \(20 to 65507\)/,
  );

  // Reverse UDP with the largest datagram, as fast as allowed, for a while: one buffer.
  const udp = rawControl(t, port);
  udp.socket.write(
    hello({ protocol: 'udp', reverse: true, length_bytes: 65_507, rate_bits_per_sec: 0, duration_ms: 1_000 }),
  );
  const welcome = await udp.line(0);
  const receiver = await udpPeer(t);
  await send(
    receiver.socket,
    Buffer.from(`SLBD${String(welcome.cookie)}\n`, 'latin1'),
    Number(welcome.udp_port),
  );
  await until(5_000, () => receiver.bytes > 16 * 1024 * 1024, 'the reverse UDP stream');

  // Reverse TCP with 16 MiB writes (the most a hello may ask), 2 streams announced, 20 connected.
  const tcp = rawControl(t, port);
  tcp.socket.write(hello({ protocol: 'tcp', reverse: true, streams: 2, length_bytes: 16 * 1024 * 1024 }));
  const tcpWelcome = await tcp.line(0);
  const streams = Array.from({ length: 20 }, () => {
    const s = net.connect({ host: '127.0.0.1', port });
    t.after(() => s.destroy());
    s.on('error', () => undefined);
    s.write(`SLBD${String(tcpWelcome.cookie)}\n`);
    const data = { bytes: 0, closed: false };
    s.on('data', (chunk: Buffer) => (data.bytes += chunk.length));
    s.once('close', () => (data.closed = true));
    return data;
  });
  await until(
    10_000,
    () => streams.filter((s) => s.closed).length >= 18,
    'the extra data connections closed',
  );
  await until(
    10_000,
    () => streams.filter((s) => s.bytes > 8 * 1024 * 1024).length === 2,
    'two streams flowing',
  );
  const grown = peakRss(pid) - before;
  assert.ok(grown < 48 * 1024 * 1024, `peak RSS grew by ${(grown / 1048576).toFixed(1)} MiB`);
  assert.equal(streams.filter((s) => !s.closed).length, 2, 'the announced streams stay open');
  t.diagnostic(`peak RSS grew by ${(grown / 1048576).toFixed(1)} MiB`);
});

// ---- item 8: reverse UDP is not a reflector ---------------------------------------------------

test("reverse UDP sends only to the sender of the cookie from the control connection's address", async (t) => {
  const port = await server(t);
  const c = rawControl(t, port);
  c.socket.write(hello({ protocol: 'udp', reverse: true, rate_bits_per_sec: 1e6 }));
  const welcome = await c.line(0);
  const udpPort = Number(welcome.udp_port);
  const cookieLine = Buffer.from(`SLBD${String(welcome.cookie)}\n`, 'latin1');
  // A forged datagram (no cookie), and the right cookie from another address (127.0.0.2 is loopback).
  const victim = await udpPeer(t);
  await send(victim.socket, Buffer.from('x'.repeat(29)), udpPort);
  const elsewhere = await udpPeer(t, '127.0.0.2');
  await send(elsewhere.socket, cookieLine, udpPort);
  await send(victim.socket, Buffer.from(`SLBD${'0'.repeat(32)}\n`, 'latin1'), udpPort);
  // The client itself: the cookie from the control connection's address starts the stream.
  const client = await udpPeer(t);
  await send(client.socket, cookieLine, udpPort);
  await until(5_000, () => client.datagrams >= 20, 'the stream to the client');
  assert.equal(victim.datagrams, 0, 'nothing to the sender of a forged datagram');
  assert.equal(elsewhere.datagrams, 0, 'nothing to a cookie from another address');
  // The control connection closes: the stream stops.
  c.socket.destroy();
  await until(
    5_000,
    () => client.datagrams > 0 && performance.now() - client.lastMs > 500,
    'the stream stopping',
  );
});

test("a test's control connection has TCP keepalive armed: a client that vanished silently is found out", async (t) => {
  let ss: string;
  try {
    ss = execFileSync('ss', ['-V'], { encoding: 'utf8' });
  } catch {
    return t.skip('needs ss (iproute2)');
  }
  assert.match(ss, /iproute2/);
  const port = await server(t);
  const c = rawControl(t, port);
  c.socket.write(hello({ protocol: 'udp', reverse: true }));
  await c.line(0);
  const sockets = execFileSync('ss', ['-tnoH', 'state', 'established', `( sport = :${port} )`], {
    encoding: 'utf8',
  });
  assert.match(sockets, new RegExp(`127\\.0\\.0\\.1:${c.socket.localPort}\\s+timer:\\(keepalive,`));
});

test('reverse UDP is capped server-side: rate (a hello asking no limit) and duration', async (t) => {
  const port = await server(t, { maxSendRateBitsPerSec: 8e6 });
  const c = rawControl(t, port);
  c.socket.write(
    hello({ protocol: 'udp', reverse: true, length_bytes: 1000, rate_bits_per_sec: 0, duration_ms: 300 }),
  );
  const welcome = await c.line(0);
  const client = await udpPeer(t);
  const started = performance.now();
  await send(
    client.socket,
    Buffer.from(`SLBD${String(welcome.cookie)}\n`, 'latin1'),
    Number(welcome.udp_port),
  );
  await until(5_000, () => client.datagrams > 0, 'the first datagram');
  const firstMs = client.lastMs;
  // The control connection stays open and never says done: the stream stops at the test's
  // duration and 3 s of slack all the same (before: at the done timeout, 60 s later).
  await until(10_000, () => performance.now() - client.lastMs > 1_000, 'the stream stopping');
  const streamedMs = client.lastMs - firstMs;
  assert.ok(client.lastMs - started < 300 + 3_000 + 1_500, `streamed for ${streamedMs.toFixed(0)} ms`);
  const bitsPerSec = (client.bytes * 8) / (streamedMs / 1000);
  assert.ok(bitsPerSec < 8e6 * 1.5, `sent ${(bitsPerSec / 1e6).toFixed(1)} Mbit/s, capped at 8`);
  assert.ok(bitsPerSec > 8e6 * 0.3, `sent ${(bitsPerSec / 1e6).toFixed(1)} Mbit/s: the cap, not a stall`);
  // A test longer than the server runs is refused.
  const capped = await server(t, { maxTestDurationMs: 60_000 });
  const long = rawControl(t, capped);
  long.socket.write(hello({ protocol: 'udp', reverse: true, duration_ms: 120_000 }));
  assert.equal((await long.line(0)).error, 'a 120 s test is longer than this server runs (60 s at most)');
});

// ---- item 9: timeouts, the test cap, unforgeable figures --------------------------------------

test('a connection without a complete hello in time is closed; a partial hello gets an error line', async (t) => {
  const port = await server(t, { helloTimeoutMs: 300 });
  const silent = rawControl(t, port);
  const partial = rawControl(t, port);
  partial.socket.write('{"socklab_bench":1,"test":{"proto');
  const started = performance.now();
  await within(5_000, Promise.all([silent.closed, partial.closed]), 'the server closing both');
  assert.ok(performance.now() - started >= 250);
  assert.equal(silent.lines().length, 0);
  assert.equal((await partial.line(0)).error, 'no complete hello within 300 ms');
});

test('a test in which no data moves is ended at the idle timeout; an idle echo connection is closed', async (t) => {
  const port = await server(t, { idleTimeoutMs: 400 });
  const c = rawControl(t, port);
  c.socket.write(hello({ protocol: 'tcp', duration_ms: 60_000 })); // and no data connection
  await c.line(0);
  await within(5_000, c.closed, 'the idle test ended');
  assert.equal((await c.line(1)).error, 'no data moved for 400 ms: the test is ended (idle timeout)');
  const echo = rawControl(t, port);
  echo.socket.write('ping\n');
  await echo.line(0).catch(() => undefined); // 'ping' is not JSON: only its arrival matters
  await within(5_000, echo.closed, 'the idle echo connection closed');
});

test('tests beyond --max-tests are refused with a line the client prints (exit 1)', async (t) => {
  const cli = await startCli(['bench', '--server', '127.0.0.1:0', '--max-tests', '2'], { listening: 2 });
  t.after(() => cli.stop());
  const port = cli.ports[0]!;
  for (let i = 0; i < 2; i++) {
    const held = rawControl(t, port);
    held.socket.write(hello({ protocol: 'udp', duration_ms: 30_000 }));
    await held.line(0);
  }
  const r = await runCli(['bench', `127.0.0.1:${port}`, '-t', '0.3', '-i', '0']);
  assert.equal(r.code, 1);
  assert.equal(
    r.stderr,
    `socklab bench: tcp://127.0.0.1:${port} could not run the test: busy: 2 tests running, the most this server runs at once\n`,
  );
});

test('UDP figures: datagrams from another socket are not counted; a number never sent is invalid, not lost', async (t) => {
  const port = await server(t);
  const c = rawControl(t, port);
  c.socket.write(hello({ protocol: 'udp' }));
  const welcome = await c.line(0);
  assert.equal(welcome.cookie_ack, true);
  const udpPort = Number(welcome.udp_port);
  const cookieLine = Buffer.from(`SLBD${String(welcome.cookie)}\n`, 'latin1');
  const client = await udpPeer(t);
  await send(client.socket, cookieLine, udpPort);
  await until(3_000, () => client.last.equals(cookieLine), 'the cookie acknowledged');
  const datagram = (sequence: number) => {
    const buf = Buffer.alloc(DATAGRAM_HEADER_BYTES + 80, 0x61);
    writeDatagramHeader(buf, sequence, performance.timeOrigin + performance.now());
    return buf;
  };
  const forger = await udpPeer(t);
  await send(forger.socket, datagram(2 ** 31 - 1), udpPort);
  for (let seq = 0; seq < 100; seq++) await send(client.socket, datagram(seq), udpPort);
  await send(forger.socket, datagram(2 ** 31 - 1), udpPort);
  await send(client.socket, datagram(500_000_000), udpPort); // far ahead of anything sent
  await send(client.socket, datagram(150), udpPort); // beyond the 100 the client says it sent
  // The cookie again: its answer comes after the server has read all of the above (one socket,
  // in order), so "done" cannot overtake a datagram.
  await send(client.socket, cookieLine, udpPort);
  await until(3_000, () => client.datagrams >= 2, 'the second acknowledgement');
  c.socket.write(`${JSON.stringify({ done: true, sent_bytes: 10_000, sent_packets: 100 })}\n`);
  const result = (await c.line(1)).result as Record<string, number>;
  assert.equal(result.lost_packets, 0, JSON.stringify(result));
  assert.equal(result.invalid_packets, 2, JSON.stringify(result));
  assert.equal(forger.datagrams, 0);
});

// ---- the abuse run: a fd-limited server under hello floods ------------------------------------

test('abuse: a bench server under prlimit --nofile=64 flooded with hellos keeps serving, no stack trace', async (t) => {
  if (process.platform !== 'linux') return t.skip('needs prlimit');
  const cli = await startCli(
    ['bench', '--server', '127.0.0.1:0', '--hello-timeout', '1000', '--idle-timeout', '1'],
    { listening: 2, prefix: ['prlimit', '--nofile=64:64'] },
  );
  t.after(() => cli.stop());
  const port = cli.ports[0]!;
  const flood: Promise<void>[] = [];
  const open = (first: string | undefined) => {
    const s = net.connect({ host: '127.0.0.1', port });
    t.after(() => s.destroy());
    s.on('error', () => undefined);
    if (first !== undefined) s.write(first);
    s.resume();
    flood.push(new Promise((resolve) => s.once('close', () => resolve())));
  };
  // 60 UDP hellos (each wants a socket), 60 TCP hellos, 60 partial hellos, 60 silent connections.
  for (let i = 0; i < 60; i++) {
    open(hello({ protocol: 'udp', duration_ms: 60_000 }));
    open(hello({ protocol: 'tcp', reverse: true, streams: 128, duration_ms: 60_000 }));
    open('{"socklab_bench":1,');
    open(undefined);
  }
  // And UDP: hellos-like junk at the main port (echoed), bounded.
  const junk = await udpPeer(t);
  for (let i = 0; i < 300; i++) await send(junk.socket, Buffer.from(hello({ protocol: 'udp' })), port);
  // Every flood connection is closed by the server (refused, timed out, idle), none held.
  await within(20_000, Promise.all(flood), 'the server closing every flood connection');
  const tcp = await runCli(['bench', `127.0.0.1:${port}`, '-t', '0.3', '-i', '0']);
  assert.equal(tcp.code, 0, tcp.stderr);
  const udp = await runCli(['bench', '-u', `127.0.0.1:${port}`, '-t', '0.3', '-b', '1M', '-i', '0']);
  assert.equal(udp.code, 0, udp.stderr);
  assert.match(udp.stdout, /lost {10}0 /);
  assert.equal(cli.child.exitCode, null, 'the server is still running');
  assert.doesNotMatch(cli.stderr(), /\n\s+at /, 'no stack trace');
});
