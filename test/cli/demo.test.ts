/**
 * `socklab demo`: the real bin end to end (exit status, narration, --json facts), the argv table,
 * and the command run in-process with injected streams, to check that it leaves nothing running:
 * no TCP or UDP handle and no timer, after a full run and after Ctrl-C in the middle of one.
 */
import assert from 'node:assert/strict';
import { PassThrough } from 'node:stream';
import { setImmediate as nextTurn } from 'node:timers/promises';
import { test } from 'node:test';
import { parse, run } from '../../src/cli/commands/demo.js';
import type { Io } from '../../src/cli/io.js';
import type { DemoFacts } from '../../src/demo/facts.js';
import { runCli } from '../helpers/cli.js';

/** The demo targets under 5 s; a loaded CI machine gets four times that before it is killed. */
const DEMO_LIMIT_MS = 20_000;

/** Handles that would keep a process alive: sockets, servers, timers. */
const HANDLE = /^(TCP|UDP|Timeout|Immediate)/;

function liveHandles(): Map<string, number> {
  const counts = new Map<string, number>();
  for (const name of process.getActiveResourcesInfo()) {
    if (HANDLE.test(name)) counts.set(name, (counts.get(name) ?? 0) + 1);
  }
  return counts;
}

/** Handles present now that were not there in `before` (by kind, by count). */
function newHandles(before: Map<string, number>): string[] {
  const extra: string[] = [];
  for (const [name, n] of liveHandles()) {
    const was = before.get(name) ?? 0;
    if (n > was) extra.push(`${n - was} × ${name}`);
  }
  return extra;
}

/**
 * A closed dgram socket still shows in the list until the loop's close phase, one turn after its
 * 'close' event; let the loop turn before counting.
 */
async function closePhase(): Promise<void> {
  await nextTurn();
  await nextTurn();
}

function captureIo(signal: AbortSignal, onOutput?: (text: string) => void): { io: Io; stdout: () => string } {
  const stdout = new PassThrough();
  const stderr = new PassThrough();
  const stdin = new PassThrough();
  stdin.end();
  let text = '';
  stdout.on('data', (chunk: Buffer) => {
    text += chunk.toString('utf8');
    onOutput?.(text);
  });
  stderr.resume();
  return { io: { stdin, stdout, stderr, signal }, stdout: () => text };
}

test('socklab demo narrates the seeds, exits 0 by itself, in seconds', async () => {
  const start = performance.now();
  const result = await runCli(['demo'], { timeoutMs: DEMO_LIMIT_MS, env: { ...process.env, NO_COLOR: '' } });
  const elapsedMs = performance.now() - start;
  assert.equal(result.signal, null, 'killed: it did not exit by itself');
  assert.equal(result.code, 0, result.stderr);
  assert.equal(result.stderr, '');
  assert.ok(elapsedMs < DEMO_LIMIT_MS, `took ${elapsedMs} ms`);
  const out = result.stdout;
  for (const text of [
    'client → server: Hello, TCP Server!',
    'client → server: Hello, UDP Server!',
    'server → client: Hello from server!',
    'server → client: Hello from UDP server!',
    'Welcome!',
    'Hello, Michael!',
    'Hello, Tracy!',
    'Hello, Sarah!',
    'What TCP promises and UDP does not',
    'certified mail',
    'postcards',
  ]) {
    assert.ok(out.includes(text), `missing ${JSON.stringify(text)}`);
  }
  // Each of the three TCP clients is greeted, then gets its own answers.
  for (const client of [1, 2, 3]) assert.ok(out.includes(`server → client ${client}: Welcome!`));
  assert.ok(!out.includes('\x1b['), 'no colour when stdout is not a terminal');
  const long = out.split('\n').filter((line) => line.length >= 100);
  assert.deepEqual(long, [], 'every line under 100 columns');
});

test('socklab demo --json: the measured facts add up', async () => {
  const result = await runCli(['demo', '--json'], { timeoutMs: DEMO_LIMIT_MS });
  assert.equal(result.code, 0, result.stderr);
  const facts = JSON.parse(result.stdout) as DemoFacts;

  assert.equal(facts.host, '127.0.0.1');
  assert.equal(facts.print.tcp.printed, 'Hello, TCP Server!');
  assert.equal(facts.print.tcp.serverConnections, 1);
  assert.equal(facts.reply.tcp.reply, 'Hello from server!');
  assert.equal(facts.reply.udp.reply, 'Hello from UDP server!');
  for (const client of facts.welcome.tcp.clients) {
    assert.equal(client.greeting, 'Welcome!');
    assert.deepEqual(
      client.replies,
      client.names.map((name) => `Hello, ${name}!`),
    );
    assert.equal(client.closedAfterExit, true);
  }
  assert.equal(facts.welcome.tcp.clients.length, 3);
  assert.deepEqual(facts.welcome.udp.replies, ['Hello, Michael!', 'Hello, Tracy!', 'Hello, Sarah!']);

  // a) TCP may merge or split the writes, but not lose or reorder a byte; UDP keeps each datagram whole.
  const { boundaries, delivery, closedPort } = facts.promises;
  assert.equal(boundaries.tcp.reads.join(''), boundaries.tcp.writes.join(''));
  assert.ok(boundaries.tcp.reads.length >= 1 && boundaries.tcp.reads.length <= boundaries.tcp.writes.length);
  assert.ok(boundaries.udp.received.length > 0, 'datagrams arrived');
  for (const datagram of boundaries.udp.received) assert.ok(boundaries.udp.sent.includes(datagram));

  // b) TCP: every byte, in order. UDP: counted, and the counts add up.
  const { tcp, udp } = delivery;
  assert.equal(tcp.records, udp.sent);
  assert.equal(tcp.bytesSent, udp.sent * delivery.recordBytes);
  assert.equal(tcp.bytesReceived, tcp.bytesSent);
  assert.equal(tcp.inOrder, true);
  assert.equal(tcp.sha256Received, tcp.sha256Sent);
  assert.ok(udp.sent > 0);
  assert.ok(udp.received <= udp.sent);
  assert.equal(udp.received + udp.lost, udp.sent);
  assert.equal(udp.sendErrors, 0, 'the sender is never told about loss');

  // c) nobody there: TCP refused; UDP "sent" without error.
  assert.ok(closedPort.port > 0);
  assert.equal(closedPort.tcp.refused, true);
  assert.equal(closedPort.tcp.code, 'ECONNREFUSED');
  assert.equal(closedPort.udp.sendError, null);
  assert.ok(['port-unreachable', 'nothing'].includes(closedPort.udp.afterwards), closedPort.udp.afterwards);

  assert.ok(facts.durationMs > 0 && facts.durationMs < DEMO_LIMIT_MS);
});

test('socklab demo: unknown flags and arguments are usage errors (exit 2)', async () => {
  const flag = await runCli(['demo', '--bogus']);
  assert.equal(flag.code, 2);
  assert.match(flag.stderr, /^socklab demo: .*--bogus.*\n$/);
  const argument = await runCli(['demo', 'extra']);
  assert.equal(argument.code, 2);
  assert.match(argument.stderr, /takes no arguments/);
});

test('socklab demo --help has examples', async () => {
  const result = await runCli(['demo', '--help']);
  assert.equal(result.code, 0);
  assert.match(result.stdout, /^Usage: socklab demo/);
  assert.match(result.stdout, /Examples:\n {2}socklab demo /);
});

test('parse: argv → options', () => {
  assert.deepEqual(parse([]), { json: false });
  assert.deepEqual(parse(['--json']), { json: true });
  assert.throws(() => parse(['--quiet']), { code: 'SOCKLAB_ERR_USAGE' });
  assert.throws(() => parse(['now']), { code: 'SOCKLAB_ERR_USAGE' });
});

test('in-process: a full run leaves no socket, server or timer behind', async () => {
  await closePhase();
  const before = liveHandles();
  const { io, stdout } = captureIo(new AbortController().signal);
  const code = await run({ json: false }, io, {});
  assert.equal(code, 0);
  assert.match(stdout(), /Hello, Sarah!/);
  await closePhase();
  assert.deepEqual(newHandles(before), []);
});

test('in-process: --json writes one JSON object and nothing else', async () => {
  const { io, stdout } = captureIo(new AbortController().signal);
  assert.equal(await run({ json: true }, io, {}), 0);
  const facts = JSON.parse(stdout()) as DemoFacts;
  assert.equal(facts.promises.delivery.tcp.inOrder, true);
});

test('in-process: Ctrl-C in the middle closes everything and reports SOCKLAB_ERR_ABORTED', async () => {
  for (const moment of ['3. A greeting', 'b) Delivery', 'c) Connection']) {
    await closePhase();
    const before = liveHandles();
    const controller = new AbortController();
    const { io } = captureIo(controller.signal, (text) => {
      if (text.includes(moment) && !controller.signal.aborted) controller.abort(new Error('Ctrl-C'));
    });
    await assert.rejects(run({ json: false }, io, {}), { code: 'SOCKLAB_ERR_ABORTED' }, moment);
    // A reply that was waiting out the server's delay (seed 003's sleep) may still be due: it ends
    // within that delay. Anything left after a generous bound is a leak.
    const deadline = performance.now() + 2_000;
    let extra = newHandles(before);
    while (extra.length > 0 && performance.now() < deadline) {
      await new Promise((resolve) => setTimeout(resolve, 20));
      extra = newHandles(before);
    }
    assert.deepEqual(extra, [], `left running after Ctrl-C at "${moment}"`);
  }
});
