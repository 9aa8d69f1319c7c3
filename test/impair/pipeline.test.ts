/** The pipeline and its bounds, on a manual clock, with no sockets. */
import assert from 'node:assert/strict';
import { test } from 'node:test';
import { setFlagsFromString } from 'node:v8';
import { runInNewContext } from 'node:vm';
import { ManualClock } from '../../src/measure/clock.js';
import { MemoryBudget, Pipeline } from '../../src/impair/pipeline.js';
import { createRandom } from '../../src/impair/random.js';
import { FAULT_TYPES } from '../../src/impair/faults/index.js';
import * as stage from '../../src/impair/stage.js';
import type { Stage } from '../../src/impair/stage.js';
import { randomBytes } from '../helpers/random.js';
import { harness, numberOf, numbered } from '../helpers/relay-harness.js';

setFlagsFromString('--expose-gc');
const gc = runInNewContext('gc') as () => void;

test('no stages: each chunk is written at once, in order, and counted', () => {
  const h = harness({ transport: 'tcp' });
  assert.equal(h.pipeline.push(Buffer.from('one')), true);
  assert.equal(h.pipeline.push(Buffer.from('two')), true);
  assert.deepEqual(
    h.out.map((w) => [w.data.toString(), w.atMs]),
    [
      ['one', 1000],
      ['two', 1000],
    ],
  );
  assert.deepEqual(h.pipeline.counters.forwarded, { packets: 2, bytes: 6 });
  assert.deepEqual(h.pipeline.counters.delayed, { packets: 0, bytes: 0 });
  h.pipeline.end();
  assert.equal(h.ended, 'end');
});

test('TCP backpressure: a full sink stops the source; its drain resumes it; nothing is lost', () => {
  const h = harness({ transport: 'tcp', sinkCapacityBytes: 10 });
  assert.equal(h.pipeline.push(Buffer.alloc(8, 1)), true);
  assert.equal(h.pipeline.push(Buffer.alloc(8, 2)), false, 'sink full after 16 bytes: stop reading');
  assert.equal(h.pipeline.push(Buffer.alloc(8, 3)), false, 'a chunk already read is still taken');
  assert.equal(h.out.length, 2);
  assert.equal(h.pipeline.bufferedBytes, 8);
  h.pipeline.end();
  assert.equal(h.ended, undefined, 'the end waits for the data');
  h.drain();
  assert.equal(h.writable, 1);
  assert.deepEqual(
    h.out.map((w) => w.data[0]),
    [1, 2, 3],
  );
  assert.equal(h.ended, 'end');
});

test('TCP: the buffer bound stops the source while delayed data waits, and resumes it below half', () => {
  const h = harness({
    transport: 'tcp',
    // Ten chunks of 100 bytes, each counted with its overhead.
    maxBufferedBytes: 10 * (100 + stage.PACKET_OVERHEAD_BYTES),
    faults: [{ type: 'delay', params: { delayMs: 50 } }],
  });
  let accepted = 0;
  while (h.pipeline.push(Buffer.alloc(100)) && accepted < 100) accepted += 1;
  assert.equal(accepted, 9, 'the 10th chunk reaches the bound');
  assert.equal(h.pipeline.bufferedBytes, 1000);
  assert.equal(h.out.length, 0);
  h.clock.advance(50);
  assert.equal(h.out.length, 10);
  assert.equal(h.writable, 1);
});

test('UDP: a full queue drops the datagram and counts it as overflowed', () => {
  const h = harness({
    transport: 'udp',
    maxBufferedBytes: 1 << 20,
    maxBufferedPackets: 3,
    faults: [{ type: 'delay', params: { delayMs: 10 } }],
  });
  const results = [1, 2, 3, 4, 5].map((i) => h.pipeline.push(numbered(i)));
  assert.deepEqual(results, [true, true, true, false, false]);
  assert.deepEqual(h.pipeline.counters.overflowed, { packets: 2, bytes: 32 });
  h.clock.advance(10);
  assert.deepEqual(
    h.out.map((w) => numberOf(w.data)),
    [1, 2, 3],
  );
});

test('delays are computed from arrival: a 50 ms delay adds 50 ms of latency and no throughput cost', () => {
  const h = harness({ transport: 'tcp', faults: [{ type: 'delay', params: { delayMs: 50 } }] });
  for (let i = 0; i < 100; i++) {
    h.pipeline.push(numbered(i));
    h.clock.advance(1);
  }
  h.clock.advance(100);
  assert.equal(h.out.length, 100);
  h.out.forEach((w, i) => {
    assert.equal(numberOf(w.data), i);
    assert.equal(w.atMs, 1000 + i + 50, `chunk ${i} leaves 50 ms after it arrived`);
  });
  assert.deepEqual(h.pipeline.counters.delayed, { packets: 100, bytes: 1600 });
});

test('packets that fall due together are written corked, for one writev()', () => {
  const h = harness({ transport: 'tcp', faults: [{ type: 'delay', params: { delayMs: 50 } }] });
  for (let i = 0; i < 10; i++) h.pipeline.push(numbered(i));
  h.clock.advance(1);
  for (let i = 10; i < 15; i++) h.pipeline.push(numbered(i));
  h.clock.advance(100);
  assert.deepEqual(h.corkedWrites, [10, 5], 'one cork per timer, around every packet then due');
  assert.deepEqual(
    h.out.map((w) => numberOf(w.data)),
    Array.from({ length: 15 }, (_, i) => i),
  );
});

test('bytes that will never be written go back to the sink, each once: truncated, then queued at close', () => {
  const h = harness({
    transport: 'tcp',
    faults: [
      { type: 'delay', params: { delayMs: 50 } },
      { type: 'limit-data', params: { limitBytes: 40 } },
    ],
  });
  for (let i = 0; i < 4; i++) h.pipeline.push(numbered(i)); // 16 bytes each: 40 pass, 24 do not
  assert.deepEqual(
    h.discarded.map((d) => d.length),
    [8, 16],
    'the cut part of the third chunk, and the fourth',
  );
  h.pipeline.close(); // the 40 bytes still delayed are never written
  assert.equal(h.out.length, 0);
  assert.deepEqual(
    h.discarded.map((d) => d.length),
    [8, 16, 16, 16, 8],
  );
});

test('stages run in rank order whatever the order they were added', () => {
  const clock = new ManualClock();
  const seen: string[] = [];
  const tag = (name: string): Stage => ({
    push(packet, ctx) {
      seen.push(name);
      ctx.emit(packet);
    },
  });
  const p = new Pipeline({
    transport: 'udp',
    direction: 'up',
    clock,
    maxBufferedBytes: 1000,
    sink: { write: () => true, end: () => undefined, reset: () => undefined },
  });
  const r = createRandom(1);
  p.add('c', 30, tag('c'), r);
  p.add('a', 10, tag('a'), r);
  p.add('b', 20, tag('b'), r);
  p.push(Buffer.from('x'));
  assert.deepEqual(seen, ['a', 'b', 'c']);
  assert.deepEqual(p.stageIds, ['a', 'b', 'c']);
});

test('stages added, changed and removed while a stream flows: every byte arrives, in order', () => {
  const h = harness({ transport: 'tcp', seed: 5, maxBufferedBytes: 1 << 30 });
  const input = randomBytes(2 << 20, 11);
  const r = createRandom(99);
  let offset = 0;
  let step = 0;
  while (offset < input.length) {
    const size = 1 + r.below(20_000);
    h.pipeline.push(input.subarray(offset, offset + size));
    offset += size;
    h.clock.advance(r.below(5));
    switch (step++ % 12) {
      case 0:
        h.add({ type: 'delay', params: { delayMs: 30, jitterMs: 20 } });
        break;
      case 1:
        h.add({
          type: 'slice',
          params: { averageSizeBytes: 700, sizeVariationBytes: 300, sliceDelayMs: 0.01 },
        });
        break;
      case 2:
        h.add({ type: 'stall' });
        break;
      case 3:
        h.update({ type: 'delay', params: { delayMs: 5, jitterMs: 2 } });
        break;
      case 4:
        h.add({ type: 'rate', params: { rateBytesPerSec: '100mbit' } });
        break;
      case 5:
        h.pipeline.remove('stall');
        break;
      case 6:
        h.update({ type: 'slice', params: { averageSizeBytes: 5000 } });
        break;
      case 7:
        h.add({ type: 'stall', params: { durationMs: 20 } });
        break;
      case 8:
        h.pipeline.remove('delay');
        break;
      case 9:
        h.pipeline.remove('rate');
        break;
      case 10:
        h.pipeline.remove('slice');
        break;
      case 11:
        h.pipeline.remove('stall');
        break;
    }
  }
  h.pipeline.end();
  h.clock.runAll();
  assert.equal(h.ended, 'end');
  assert.ok(h.bytes().equals(input), 'the output is the input, byte for byte');
  assert.equal(h.pipeline.bufferedBytes, 0);
  assert.equal(h.clock.pending, 0, 'no timer left behind');
});

test('close() discards what is queued and cancels the timers', () => {
  const h = harness({ transport: 'udp', faults: [{ type: 'delay', params: { delayMs: 10 } }] });
  h.pipeline.push(numbered(1));
  assert.equal(h.clock.pending, 1);
  h.pipeline.close();
  assert.equal(h.clock.pending, 0);
  h.clock.advance(100);
  assert.equal(h.out.length, 0);
  assert.equal(h.pipeline.push(numbered(2)), false);
});

test('TCP: a chunk written from the release queue is no longer held by it (the queue never empties under a delay)', async () => {
  const clock = new ManualClock(1000);
  let written = 0;
  const pipeline = new Pipeline({
    transport: 'tcp',
    direction: 'up',
    clock,
    maxBufferedBytes: 1 << 30,
    // A sink that keeps nothing, as a socket once its write is done.
    sink: { write: (data) => ((written += data.length), true), end: () => undefined, reset: () => undefined },
  });
  pipeline.add(
    'delay',
    40,
    FAULT_TYPES.delay!.create({ delayMs: 50, jitterMs: 0, distribution: 'uniform' }),
    createRandom(1),
  );
  const first = (() => {
    const chunk = Buffer.alloc(65536, 1);
    pipeline.push(chunk);
    return new WeakRef(chunk);
  })();
  // A chunk a millisecond: 50 wait at any time, so the queue holds some while the first is written.
  for (let i = 0; i < 100; i++) {
    clock.advance(1);
    pipeline.push(Buffer.alloc(16));
  }
  assert.ok(written >= 65536, 'the first chunk was written');
  assert.ok(pipeline.queuedPackets > 0, 'the queue is not empty');
  await new Promise((resolve) => setImmediate(resolve));
  gc();
  assert.equal(first.deref(), undefined, 'the written chunk was collected');
});

test('TCP: the bound counts each packet held with its overhead: a chunk sliced into 1-byte segments stops reading at once, and the heap stays bounded', (t) => {
  // 1 MiB counted in bytes alone is 16 chunks of 64 KiB, a million 1-byte segments: ~200 MB of heap.
  const bound = 1 << 20;
  const h = harness({
    transport: 'tcp',
    maxBufferedBytes: bound,
    faults: [{ type: 'slice', params: { averageSizeBytes: 1, sliceDelayMs: '1ms' } }],
  });
  const data = randomBytes(16 * 65536, 11);
  gc();
  const heapBefore = process.memoryUsage().heapUsed;
  let taken = 0;
  let stopped = false;
  while (!stopped && taken < 16) {
    stopped = !h.pipeline.push(data.subarray(taken * 65536, (taken + 1) * 65536));
    taken += 1;
  }
  gc();
  const heapHeld = process.memoryUsage().heapUsed - heapBefore;
  const packets = h.pipeline.queuedPackets;
  t.diagnostic(
    `${taken} chunks read, ${packets} segments held, heap +${(heapHeld / 2 ** 20).toFixed(1)} MiB`,
  );
  assert.equal(taken, 1, 'the first chunk, 64 Ki segments, is over the bound counted with their overhead');
  assert.equal(stopped, true);
  assert.equal(h.pipeline.memoryBytes, packets * (1 + stage.PACKET_OVERHEAD_BYTES));
  assert.ok(
    heapHeld < 32 * 1024 * 1024,
    `${packets} segments held take ${(heapHeld / 2 ** 20).toFixed(1)} MiB of heap (< 32 MiB)`,
  );
  // One segment a millisecond: the source may read again once the count is below half the bound.
  h.clock.advance(65536 - Math.floor(bound / 2 / (1 + stage.PACKET_OVERHEAD_BYTES)));
  assert.equal(h.writable, 1);
  h.clock.advance(65536);
  assert.ok(h.bytes().equals(data.subarray(0, 65536)), 'every byte, in order');
});

test('a budget shared by pipelines: once spent, a pipeline that holds data stops reading, one that holds nothing takes one read; both read again once it frees', () => {
  const clock = new ManualClock(1000);
  const budget = new MemoryBudget(1 << 20);
  const woken: string[] = [];
  const make = (name: string, delayMs: number) => {
    const pipeline = new Pipeline({
      transport: 'tcp',
      direction: 'up',
      clock,
      maxBufferedBytes: 64 << 20,
      budget,
      onWritable: () => woken.push(name),
      sink: { write: () => true, end: () => undefined, reset: () => undefined },
    });
    const delay = { delayMs, jitterMs: 0, distribution: 'uniform' as const };
    pipeline.add('delay', 40, FAULT_TYPES.delay!.create(delay), createRandom(1));
    return pipeline;
  };
  const a = make('a', 100);
  const b = make('b', 50);
  const chunk = Buffer.alloc(65536);
  let taken = 0;
  while (a.push(chunk) && taken < 1000) taken += 1;
  assert.equal(taken, 15, 'a stops once the budget is spent: 16 chunks and their overhead');
  assert.ok(budget.spent);
  assert.equal(budget.usedBytes, a.memoryBytes);
  assert.equal(b.push(chunk), false, 'b holds nothing: it takes one read, then stops too');
  assert.equal(b.bufferedBytes, 65536);
  assert.deepEqual(budget.hits, { paused: 2, dropped: 0 });
  clock.advance(50);
  assert.deepEqual(woken, ['b'], 'b let its chunk go: it holds nothing, it may read again');
  clock.advance(50);
  assert.equal(budget.usedBytes, 0);
  assert.deepEqual(woken, ['b', 'a'], 'the budget is free: a reads again');
  a.close();
  b.close();
  assert.equal(budget.usedBytes, 0);
});

test('a budget shared by UDP pipelines: once spent, a datagram for a pipeline that holds some is dropped and counted', () => {
  const clock = new ManualClock(1000);
  const budget = new MemoryBudget(64 * 1024);
  const make = () => {
    const pipeline = new Pipeline({
      transport: 'udp',
      direction: 'up',
      clock,
      maxBufferedBytes: 4 << 20,
      maxBufferedPackets: 4096,
      budget,
      sink: { write: () => true, end: () => undefined, reset: () => undefined },
    });
    const delay = { delayMs: 10, jitterMs: 0, distribution: 'uniform' as const };
    pipeline.add('delay', 40, FAULT_TYPES.delay!.create(delay), createRandom(1));
    return pipeline;
  };
  const flows = [make(), make(), make()];
  const results = flows.map((p) => Array.from({ length: 100 }, () => p.push(Buffer.alloc(1000))));
  const held = flows.map((p) => results[flows.indexOf(p)]!.filter(Boolean).length);
  // Passed by at most one datagram per pipeline.
  assert.ok(budget.usedBytes <= 64 * 1024 + 3 * (1000 + stage.PACKET_OVERHEAD_BYTES), `${budget.usedBytes}`);
  assert.equal(held[1], 1, 'the budget was spent by the first flow: the others take one datagram each');
  assert.equal(held[2], 1);
  const overflowed = flows.reduce((n, p) => n + p.counters.overflowed.packets, 0);
  assert.equal(overflowed, 300 - held.reduce((x, y) => x + y, 0));
  assert.equal(budget.hits.dropped, overflowed);
  clock.advance(10);
  assert.equal(budget.usedBytes, 0);
  assert.equal(flows[1]!.push(Buffer.alloc(1000)), true, 'freed: datagrams are taken again');
});
