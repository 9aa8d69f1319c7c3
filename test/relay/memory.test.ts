/**
 * The relay's memory: what it holds is bounded by what it declares, counted as the heap it costs
 * (each held packet's overhead, src/impair/stage.ts PACKET_OVERHEAD_BYTES).
 */
import assert from 'node:assert/strict';
import { test } from 'node:test';
import { setFlagsFromString } from 'node:v8';
import { runInNewContext } from 'node:vm';
import { createRelay } from '../../src/relay/relay.js';
import { randomBytes } from '../helpers/random.js';
import {
  collect,
  connect,
  hashSink,
  tcpServer,
  udpClient,
  udpServer,
  until,
  within,
  writeAll,
} from '../helpers/relay-peers.js';

setFlagsFromString('--expose-gc');
const gc = runInNewContext('gc') as () => void;
const MiB = 1024 * 1024;
const mib = (x: number) => `${(x / MiB).toFixed(1)} MiB`;

/** The heap in use after a full collection: what is held, not the garbage. */
function heapHeld(): number {
  gc();
  return process.memoryUsage().heapUsed;
}

/** Poll for `ms`: the largest value of each figure. */
async function peaks(ms: number, figures: Record<string, () => number>): Promise<Record<string, number>> {
  const peak: Record<string, number> = Object.fromEntries(Object.keys(figures).map((k) => [k, 0]));
  const deadline = Date.now() + ms;
  while (Date.now() < deadline) {
    for (const [name, figure] of Object.entries(figures)) peak[name] = Math.max(peak[name]!, figure());
    await new Promise((resolve) => setTimeout(resolve, 10));
  }
  return peak;
}

test('--slice 1 with a slice delay: the relay stops reading at the bound counted with overhead, and its heap stays bounded', async (t) => {
  const server = await tcpServer(hashSink);
  t.after(() => server.close());
  const bound = 1 * MiB;
  const relay = await createRelay({
    listen: 'tcp://127.0.0.1:0',
    upstream: `tcp://127.0.0.1:${server.port}`,
    maxBufferedBytes: bound,
    faults: [{ type: 'slice', direction: 'up', params: { averageSizeBytes: 1, sliceDelayMs: '1ms' } }],
  });
  t.after(() => relay.close());
  const heapBefore = heapHeld();
  const client = await connect(relay.address().port);
  t.after(() => client.destroy());
  client.on('error', () => undefined);
  void writeAll(client, randomBytes(8 * MiB, 13)).catch(() => undefined);
  const peak = await peaks(600, {
    held: () => relay.stats().bufferedBytes,
    heap: () => heapHeld() - heapBefore,
  });
  t.diagnostic(`held at most ${peak.held} bytes, heap +${mib(peak.heap!)}`);
  // Counted in bytes alone, 1 MiB held is a million segments; with their overhead, about 2 reads.
  assert.ok(peak.held! <= 2 * 65536, `at most two reads held: ${peak.held}`);
  assert.ok(peak.heap! < 64 * MiB, `heap +${mib(peak.heap!)} (< 64 MiB)`);
});

test('a relay-wide memory budget: clients that do not read, behind a delay, hold at most the budget; everything arrives once they read', async (t) => {
  const CLIENTS = 6;
  const EACH = 32 * MiB;
  const payload = randomBytes(EACH, 23);
  const server = await tcpServer((socket) => {
    socket.end(payload);
  });
  t.after(() => server.close());
  const budget = 4 * MiB;
  const relay = await createRelay({
    listen: 'tcp://127.0.0.1:0',
    upstream: `tcp://127.0.0.1:${server.port}`,
    memoryBudget: budget,
    faults: [{ type: 'delay', direction: 'down', params: { delayMs: '1s' } }],
  });
  t.after(() => relay.close());
  const clients = await Promise.all(Array.from({ length: CLIENTS }, () => connect(relay.address().port)));
  t.after(() => clients.forEach((c) => c.destroy()));
  for (const client of clients) client.pause();
  const answers = clients.map((client) => collect(client));
  const peak = await peaks(800, { held: () => relay.stats().bufferedBytes });
  t.diagnostic(`${CLIENTS} clients that do not read: the relay held at most ${mib(peak.held!)}`);
  // Each direction that holds nothing may take one read (64 KiB) past the budget.
  assert.ok(peak.held! <= budget + 2 * CLIENTS * 65536, `held at most the budget: ${mib(peak.held!)}`);
  assert.ok(relay.memoryBudget.hits.paused > 0, 'reads were held back');
  // A delay of 1 s through a 4 MiB budget forwards 4 MiB/s in all: take it away, then read.
  relay.removeFault('delay_down');
  for (const client of clients) client.resume();
  for (const answer of answers) {
    const { data } = await within(answer, 30_000, 'every byte');
    assert.equal(data.length, EACH);
    assert.ok(data.equals(payload));
  }
  await until(() => relay.stats().active === 0, 5000, 'the pairs to close');
  assert.equal(relay.memoryBudget.usedBytes, 0);
});

test('a relay-wide memory budget on UDP: once spent, datagrams are dropped and counted as overflowed', async (t) => {
  const server = await udpServer();
  t.after(() => server.close());
  const budget = 1 * MiB;
  const relay = await createRelay({
    listen: 'udp://127.0.0.1:0',
    upstream: `udp://127.0.0.1:${server.port}`,
    memoryBudget: budget,
    faults: [{ type: 'delay', direction: 'up', params: { delayMs: '1s' } }],
  });
  t.after(() => relay.close());
  const FLOWS = 4;
  const clients = await Promise.all(Array.from({ length: FLOWS }, () => udpClient(relay.address().port)));
  t.after(() => Promise.all(clients.map((c) => c.close())));
  const datagram = Buffer.alloc(1000, 7);
  // 4 x 2000 datagrams of 1000 bytes: 8 MB, each flow within its own 4 MiB bound.
  for (let round = 0; round < 20; round++) {
    for (const client of clients) for (let i = 0; i < 100; i++) client.send(datagram);
    await new Promise((resolve) => setImmediate(resolve));
  }
  const peak = await peaks(300, { held: () => relay.stats().bufferedBytes });
  const overflowed = relay.counters().up.overflowed.packets;
  t.diagnostic(`${FLOWS} flows: held at most ${mib(peak.held!)}, ${overflowed} datagrams overflowed`);
  assert.ok(peak.held! <= budget + 2 * FLOWS * 1000, `held at most the budget: ${mib(peak.held!)}`);
  assert.ok(overflowed > 0);
  assert.equal(relay.memoryBudget.hits.dropped, overflowed);
});
