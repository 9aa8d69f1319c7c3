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
import { connect, hashSink, tcpServer, writeAll } from '../helpers/relay-peers.js';

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
