/**
 * bench on the floor (src/core/): its errors are core's (a failed lookup is SOCKLAB_ERR_DNS, Ctrl-C
 * is SOCKLAB_ERR_ABORTED at once), and the bench server bounds what it waits for and survives a
 * test it cannot set up.
 */
import assert from 'node:assert/strict';
import { execFileSync } from 'node:child_process';
import { readdirSync, readFileSync } from 'node:fs';
import net from 'node:net';
import { test } from 'node:test';
import { runPingPong, type PingPongOptions } from '../../src/bench/pingpong.js';
import { startBenchServer } from '../../src/bench/server.js';
import { runThroughput, type ThroughputOptions } from '../../src/bench/throughput-client.js';
import { realClock } from '../../src/measure/clock.js';
import { blackholePort } from '../helpers/blackhole.js';
import { runCli, startCli } from '../helpers/cli.js';

function throughputOptions(host: string, port: number, over: Partial<ThroughputOptions> = {}) {
  return {
    host,
    port,
    spec: { protocol: 'tcp', streams: 1, reverse: false, length_bytes: 1000, rate_bits_per_sec: 0 },
    durationMs: 200,
    intervalMs: 3_600_000,
    helloTimeoutMs: 3_000,
    clock: realClock,
    signal: new AbortController().signal,
    onInterval: () => undefined,
    ...over,
  } satisfies ThroughputOptions;
}

function pingPongOptions(host: string, port: number, over: Partial<PingPongOptions> = {}) {
  return {
    host,
    port,
    transport: 'tcp',
    lengthBytes: 64,
    connections: 1,
    durationMs: 200,
    intervalMs: 3_600_000,
    connectTimeoutMs: 3_000,
    clock: realClock,
    signal: new AbortController().signal,
    onInterval: () => undefined,
    ...over,
  } satisfies PingPongOptions;
}

test('a name that does not resolve is SOCKLAB_ERR_DNS in every kind of bench client', async () => {
  const host = 'nosuch.invalid';
  const dns = { code: 'SOCKLAB_ERR_DNS', message: /nosuch\.invalid:5201: host not found/ };
  await assert.rejects(runThroughput(throughputOptions(host, 5201)), dns);
  await assert.rejects(
    runThroughput(
      throughputOptions(host, 5201, {
        spec: { protocol: 'udp', streams: 1, reverse: false, length_bytes: 100, rate_bits_per_sec: 1e6 },
      }),
    ),
    dns,
  );
  await assert.rejects(runPingPong(pingPongOptions(host, 5201)), dns);
  // Every connection of --connections fails the same way: the lookup is what to report.
  await assert.rejects(runPingPong(pingPongOptions(host, 5201, { connections: 3 })), dns);
  await assert.rejects(runPingPong(pingPongOptions(host, 5201, { transport: 'udp' })), dns);
});

test('Ctrl-C during a pending bench connect ends it at once, not at its timeout', async (t) => {
  const port = await blackholePort(t);
  const cases: [string, (signal: AbortSignal) => Promise<unknown>][] = [
    [
      'throughput',
      (signal) => runThroughput(throughputOptions('127.0.0.1', port, { helloTimeoutMs: 30_000, signal })),
    ],
    [
      'ping-pong',
      (signal) => runPingPong(pingPongOptions('127.0.0.1', port, { connectTimeoutMs: 30_000, signal })),
    ],
    [
      '--connections 3',
      (signal) =>
        runPingPong(pingPongOptions('127.0.0.1', port, { connections: 3, connectTimeoutMs: 30_000, signal })),
    ],
  ];
  for (const [name, run] of cases) {
    const controller = new AbortController();
    const started = performance.now();
    const pending = run(controller.signal);
    setTimeout(() => controller.abort(), 50);
    await assert.rejects(pending, { code: 'SOCKLAB_ERR_ABORTED' }, name);
    assert.ok(performance.now() - started < 5_000, `${name}: the abort, not the 30 s timeout, ended it`);
  }
});

/** A raw control connection to the bench server: the lines it gets, and when it closes. */
function rawControl(port: number) {
  const socket = net.connect({ host: '127.0.0.1', port });
  socket.on('error', () => undefined); // the server may reset a connection it refuses
  let received = '';
  socket.setEncoding('utf8');
  socket.on('data', (chunk: string) => (received += chunk));
  const closed = new Promise<void>((resolve) => socket.once('close', () => resolve()));
  const lines = () => received.split('\n').filter((l) => l !== '');
  return { socket, closed, lines };
}

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

test("the bench server's done line is bounded in size: a huge line gets an error and the close", async (t) => {
  const server = await startBenchServer({ host: '127.0.0.1', port: 0 });
  t.after(() => server.close());
  const c = rawControl(server.address().port);
  t.after(() => c.socket.destroy());
  const test = { protocol: 'tcp', streams: 1, reverse: false, length_bytes: 1000, rate_bits_per_sec: 0 };
  c.socket.write(`${JSON.stringify({ socklab_bench: 1, test })}\n`);
  await within(5_000, new Promise((resolve) => c.socket.once('data', resolve)), 'the welcome');
  assert.match(c.lines()[0]!, /"cookie"/);
  // 8 MiB without a newline, in 64 KiB writes (bounded), as fast as the server takes them.
  const chunk = Buffer.alloc(64 * 1024, 0x78);
  for (let i = 0; i < 128 && !c.socket.destroyed; i++) {
    if (!c.socket.write(chunk)) {
      await Promise.race([new Promise((resolve) => c.socket.once('drain', resolve)), c.closed]);
    }
  }
  await within(5_000, c.closed, 'the server closing the connection');
  const answer = JSON.parse(c.lines()[1] ?? '{}') as { error?: string };
  assert.match(answer.error ?? '', /expected the client's done line \(at most 65536 bytes\), got 'xxx/);
});

test("the bench server's done line is bounded in time: the test's duration and some slack", async (t) => {
  const server = await startBenchServer({ host: '127.0.0.1', port: 0, doneSlackMs: 200 });
  t.after(() => server.close());
  const c = rawControl(server.address().port);
  t.after(() => c.socket.destroy());
  const test = {
    protocol: 'udp',
    streams: 1,
    reverse: false,
    length_bytes: 100,
    rate_bits_per_sec: 1e6,
    duration_ms: 100,
  };
  const started = performance.now();
  c.socket.write(`${JSON.stringify({ socklab_bench: 1, test })}\n`);
  await within(5_000, c.closed, 'the server giving up on "done"');
  assert.ok(performance.now() - started >= 250, 'not before the duration and the slack');
  assert.match(c.lines()[0]!, /"udp_port"/);
  assert.match(c.lines()[1]!, /"error":"the client at [\d.:]+ did not say done: no answer within 300 ms"/);
});

/** Lowest soft RLIMIT_NOFILE that leaves exactly one free descriptor number to process `pid`. */
function oneFreeDescriptor(pid: number): number {
  const open = new Set(readdirSync(`/proc/${pid}/fd`).map(Number));
  let free = 0;
  for (let limit = 1; limit < 100_000; limit++) {
    if (!open.has(limit - 1)) free++;
    if (free === 1) return limit;
  }
  throw new Error('no such limit');
}

test('a UDP test the server has no socket for (EMFILE) is refused; the server goes on', async (t) => {
  if (process.platform !== 'linux') return t.skip('needs /proc and prlimit');
  const server = await startCli(['bench', '--server', '0'], { listening: 2 });
  t.after(() => server.stop());
  const pid = server.child.pid!;
  const soft = /Max open files\s+(\d+)\s+(\d+)/.exec(readFileSync(`/proc/${pid}/limits`, 'utf8'))!;
  const prlimit = (limit: number | string) =>
    execFileSync('prlimit', ['--pid', String(pid), `--nofile=${limit}:${soft[2]}`], { stdio: 'pipe' });
  try {
    // Room for the control connection only: the test's own UDP socket cannot be had.
    prlimit(oneFreeDescriptor(pid));
    const refused = await runCli(['bench', '-u', `127.0.0.1:${server.ports[0]}`, '-t', '0.3', '-b', '1M']);
    assert.equal(refused.code, 1, refused.stderr);
    assert.match(refused.stderr, /could not run the test: cannot listen on udp:\/\/127\.0\.0\.1:0: .*EMFILE/);
  } finally {
    try {
      prlimit(soft[1]!);
    } catch {
      // The server is gone: what failed above says why.
    }
  }
  const after = await runCli(['bench', `127.0.0.1:${server.ports[0]}`, '-t', '0.3', '-i', '0']);
  assert.equal(after.code, 0, after.stderr);
  assert.match(server.stderr(), /refused: cannot listen on udp/);
});
