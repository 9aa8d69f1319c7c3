/** Each fault on the pure pipeline: exact seeded patterns, statistics, timing on a manual clock. */
import assert from 'node:assert/strict';
import { test } from 'node:test';
import { readFault, type FaultSpec } from '../../src/impair/fault.js';
import { FAULT_TYPES } from '../../src/impair/faults/index.js';
import { expectedLossRate, type LossParams } from '../../src/impair/faults/loss.js';
import { PACKET_OVERHEAD_BYTES } from '../../src/impair/stage.js';
import { randomBytes } from '../helpers/random.js';
import { harness, numberOf, numbered } from '../helpers/relay-harness.js';

/** Push `n` numbered datagrams, 1 ms apart, and let every timer run. */
function run(faults: FaultSpec[], n: number, seed = 1) {
  const h = harness({
    transport: 'udp',
    faults,
    seed,
    maxBufferedBytes: 1 << 30,
    maxBufferedPackets: 1 << 30,
  });
  for (let i = 0; i < n; i++) {
    h.pipeline.push(numbered(i));
    h.clock.advance(1);
  }
  h.clock.runAll();
  return { ...h, numbers: h.out.map((w) => numberOf(w.data)) };
}

/** Bounds that a Binomial(n, p) count falls outside of with probability below 1e-6 (5 sigma). */
function binomialBounds(n: number, p: number, inflation = 1): [number, number] {
  const sd = Math.sqrt(n * p * (1 - p) * inflation);
  return [n * p - 5 * sd, n * p + 5 * sd];
}

const missing = (numbers: number[], n: number) => {
  const seen = new Set(numbers);
  return Array.from({ length: n }, (_, i) => i).filter((i) => !seen.has(i));
};

test('loss: a seed replays the exact drop pattern; another seed gives another', () => {
  const a = missing(run([{ type: 'loss', params: { lossRate: '10%' } }], 2000, 7).numbers, 2000);
  const b = missing(run([{ type: 'loss', params: { lossRate: '10%' } }], 2000, 7).numbers, 2000);
  const c = missing(run([{ type: 'loss', params: { lossRate: '10%' } }], 2000, 8).numbers, 2000);
  assert.deepEqual(a, b);
  assert.notDeepEqual(a, c);
  assert.deepEqual(a.slice(0, 3), [9, 16, 21], 'the pattern of seed 7 (a regression guard)');
});

test('loss: 10 % over 100,000 datagrams falls inside the binomial bounds, for several seeds', () => {
  const n = 100_000;
  const [lo, hi] = binomialBounds(n, 0.1);
  for (const seed of [1, 2, 3, 4, 5]) {
    const h = harness({ transport: 'udp', seed, faults: [{ type: 'loss', params: { lossRate: 0.1 } }] });
    const payload = Buffer.alloc(64);
    for (let i = 0; i < n; i++) h.pipeline.push(payload);
    const dropped = h.pipeline.counters.dropped.packets;
    assert.ok(
      dropped >= lo && dropped <= hi,
      `seed ${seed}: ${dropped} dropped, expected ${lo.toFixed(0)}..${hi.toFixed(0)}`,
    );
    assert.equal(h.pipeline.counters.forwarded.packets + dropped, n);
    assert.equal(h.pipeline.counters.dropped.bytes, dropped * 64);
  }
});

test('loss gemodel: the long-run rate matches p/(p+r), and losses come in bursts of about 1/r', () => {
  const n = 100_000;
  const spec: FaultSpec = {
    type: 'loss',
    params: { model: 'gemodel', goodToBadRate: '1%', badToGoodRate: '30%' },
  };
  const params = readFault(FAULT_TYPES, spec, 'udp').params as unknown as LossParams;
  const p = expectedLossRate(params);
  assert.ok(Math.abs(p - 0.01 / 0.31) < 1e-12);
  // Losses are correlated (rho = 1 - p - r): the variance of the count grows by (1 + rho) / (1 - rho).
  const rho = 1 - 0.01 - 0.3;
  const [lo, hi] = binomialBounds(n, p, (1 + rho) / (1 - rho));
  const lost = missing(run([spec], n, 3).numbers, n);
  assert.ok(
    lost.length >= lo && lost.length <= hi,
    `${lost.length} lost, expected ${lo.toFixed(0)}..${hi.toFixed(0)}`,
  );
  let bursts = 0;
  for (let i = 0; i < lost.length; i++) if (i === 0 || lost[i - 1] !== lost[i]! - 1) bursts += 1;
  const meanBurst = lost.length / bursts;
  assert.ok(meanBurst > 2.8 && meanBurst < 3.9, `mean burst ${meanBurst}, expected about ${1 / 0.3}`);
});

test('duplicate: the exact pattern replays, and the rate matches', () => {
  const n = 100_000;
  const once = run([{ type: 'duplicate', params: { duplicateRate: '5%' } }], n, 9);
  const again = run([{ type: 'duplicate', params: { duplicateRate: '5%' } }], n, 9);
  assert.deepEqual(once.numbers, again.numbers);
  const extra = once.numbers.length - n;
  const [lo, hi] = binomialBounds(n, 0.05);
  assert.ok(extra >= lo && extra <= hi, `${extra} duplicates`);
  assert.equal(once.pipeline.counters.duplicated.packets, extra);
  assert.equal(once.pipeline.counters.forwarded.packets, n + extra);
});

test('reorder (netem): with a delay, picked datagrams skip it and overtake; the pattern replays', () => {
  const faults: FaultSpec[] = [
    { type: 'delay', params: { delayMs: 10 } },
    { type: 'reorder', params: { reorderRate: '25%', gap: 5 } },
  ];
  const a = run(faults, 1000, 4);
  const b = run(faults, 1000, 4);
  assert.deepEqual(a.numbers, b.numbers);
  assert.equal(a.numbers.length, 1000, 'nothing lost');
  const ahead = a.pipeline.counters.reordered.packets;
  assert.ok(ahead > 0);
  // netem's gap: after a datagram is sent ahead, the next gap-1 = 4 are delayed.
  const sentAhead = a.out.filter((w) => w.atMs === 1000 + numberOf(w.data)).map((w) => numberOf(w.data));
  assert.equal(sentAhead.length, ahead);
  for (let i = 1; i < sentAhead.length; i++)
    assert.ok(sentAhead[i]! - sentAhead[i - 1]! >= 5, 'gap respected');
  // A datagram sent ahead leaves before the ones that arrived up to 10 ms before it.
  const first = sentAhead[0]!;
  assert.ok(a.numbers.indexOf(first) < a.numbers.indexOf(first - 1));
});

test('reorder: 25 % of eligible datagrams over 100,000, gap 1', () => {
  const n = 100_000;
  const h = run(
    [
      { type: 'delay', params: { delayMs: 5 } },
      { type: 'reorder', params: { reorderRate: 0.25 } },
    ],
    n,
    12,
  );
  const [lo, hi] = binomialBounds(n, 0.25);
  const ahead = h.pipeline.counters.reordered.packets;
  assert.ok(ahead >= lo && ahead <= hi, `${ahead} reordered`);
});

test('corrupt: exactly one bit differs in a corrupted datagram; the rest is untouched', () => {
  const h = harness({
    transport: 'udp',
    seed: 2,
    faults: [{ type: 'corrupt', params: { corruptRate: '50%' } }],
  });
  const original = randomBytes(200, 1);
  for (let i = 0; i < 200; i++) h.pipeline.push(original);
  let corrupted = 0;
  for (const w of h.out) {
    let bits = 0;
    for (let j = 0; j < w.data.length; j++) {
      let x = w.data[j]! ^ original[j]!;
      while (x) {
        bits += x & 1;
        x >>= 1;
      }
    }
    assert.ok(bits === 0 || bits === 1);
    corrupted += bits;
  }
  assert.equal(corrupted, h.pipeline.counters.corrupted.packets);
  assert.ok(corrupted > 60 && corrupted < 140);
  assert.ok(original.equals(randomBytes(200, 1)), 'the input buffer was not modified');
});

test('delay with jitter: UDP mean matches; TCP keeps the order', () => {
  const udp = run(
    [{ type: 'delay', params: { delayMs: 40, jitterMs: 10, distribution: 'normal' } }],
    10_000,
    5,
  );
  const latencies = udp.out.map((w) => w.atMs - (1000 + numberOf(w.data)));
  const mean = latencies.reduce((s, x) => s + x, 0) / latencies.length;
  assert.ok(Math.abs(mean - 40) < 0.5, `mean ${mean}`);
  assert.ok(Math.min(...latencies) >= 0);
  assert.ok(
    udp.numbers.some((x, i) => i > 0 && x < udp.numbers[i - 1]!),
    'on UDP, jitter reorders as in netem',
  );

  const h = harness({
    transport: 'tcp',
    seed: 5,
    faults: [{ type: 'delay', params: { delayMs: 40, jitterMs: 10 } }],
  });
  for (let i = 0; i < 1000; i++) {
    h.pipeline.push(numbered(i));
    h.clock.advance(1);
  }
  h.clock.runAll();
  assert.deepEqual(
    h.out.map((w) => numberOf(w.data)),
    Array.from({ length: 1000 }, (_, i) => i),
  );
  for (let i = 1; i < h.out.length; i++) assert.ok(h.out[i]!.atMs >= h.out[i - 1]!.atMs);
});

test('every jitter distribution keeps its spread near jitterMs', () => {
  for (const distribution of ['uniform', 'normal', 'pareto', 'paretonormal']) {
    const r = run([{ type: 'delay', params: { delayMs: 100, jitterMs: 10, distribution } }], 20_000, 6);
    const lat = r.out.map((w) => w.atMs - (1000 + numberOf(w.data)));
    const mean = lat.reduce((s, x) => s + x, 0) / lat.length;
    const sd = Math.sqrt(lat.reduce((s, x) => s + (x - mean) ** 2, 0) / lat.length);
    const expectedSd = distribution === 'uniform' ? 10 / Math.sqrt(3) : 10;
    assert.ok(Math.abs(mean - 100) < 1, `${distribution} mean ${mean}`);
    assert.ok(Math.abs(sd - expectedSd) < expectedSd * 0.15, `${distribution} sd ${sd}`);
  }
});

test('rate: 1mbit sends 125,000 bytes a second, trickling a TCP chunk in pieces', () => {
  const udp = run([{ type: 'rate', params: { rateBytesPerSec: '1mbit' } }], 0);
  for (let i = 0; i < 100; i++) udp.pipeline.push(Buffer.alloc(1250));
  udp.clock.runAll();
  assert.equal(udp.out.length, 100);
  assert.equal(udp.out[0]!.atMs, udp.clock.now() - 990, 'the first leaves after its own 10 ms');
  assert.equal(udp.out.at(-1)!.atMs - udp.out[0]!.atMs, 990);

  const tcp = harness({ transport: 'tcp', faults: [{ type: 'rate', params: { rateBytesPerSec: 125_000 } }] });
  tcp.pipeline.push(Buffer.alloc(12_500));
  tcp.clock.runAll();
  assert.equal(tcp.out.length, 10, 'pieces of 10 ms of sending (1250 bytes)');
  assert.equal(tcp.out.at(-1)!.atMs - 1000, 100);
  assert.equal(tcp.bytes().length, 12_500);
});

test('slice: segments of about the average size, sliceDelayMs apart, every byte in order', () => {
  const h = harness({
    transport: 'tcp',
    seed: 3,
    faults: [{ type: 'slice', params: { averageSizeBytes: 100, sizeVariationBytes: 20, sliceDelayMs: 1 } }],
  });
  const input = randomBytes(10_000, 4);
  h.pipeline.push(input);
  h.clock.runAll();
  assert.ok(h.bytes().equals(input));
  for (const w of h.out.slice(0, -1))
    assert.ok(w.data.length >= 80 && w.data.length <= 120, `${w.data.length}`);
  for (let i = 1; i < h.out.length; i++) assert.equal(h.out[i]!.atMs - h.out[i - 1]!.atMs, 1);
});

test('stall: holds everything for its duration, then forwards it all; the held bytes count against the bound', () => {
  const h = harness({
    transport: 'tcp',
    // Three chunks of 100 bytes, each with its overhead.
    maxBufferedBytes: 3 * (100 + PACKET_OVERHEAD_BYTES),
    faults: [{ type: 'stall', params: { durationMs: '2s' } }],
  });
  assert.equal(h.pipeline.push(Buffer.alloc(100)), true);
  assert.equal(h.pipeline.push(Buffer.alloc(100)), true);
  assert.equal(h.pipeline.push(Buffer.alloc(100)), false, 'bound reached: stop reading');
  h.pipeline.end();
  h.clock.advance(1999);
  assert.equal(h.out.length, 0);
  assert.equal(h.ended, undefined);
  h.clock.advance(1);
  assert.equal(h.out.length, 3);
  assert.equal(h.ended, 'end');
  assert.equal(h.writable, 1);
  assert.equal(h.pipeline.counters.delayed.packets, 3);
});

test('stall: a source stopped at the bound reads again when the stall lets go, with no end to push it', () => {
  const h = harness({
    transport: 'tcp',
    maxBufferedBytes: 3 * (100 + PACKET_OVERHEAD_BYTES),
    faults: [{ type: 'stall', params: { durationMs: '2s' } }],
  });
  let pushed = 0;
  while (h.pipeline.push(Buffer.alloc(100)) && pushed < 10) pushed += 1;
  assert.equal(h.writable, 0, 'stopped at the bound');
  h.clock.advance(2000);
  assert.equal(h.out.length, 3);
  assert.equal(h.writable, 1, 'the source may read again');
});

test('stall without a duration holds until removed; nothing is lost', () => {
  const h = harness({ transport: 'tcp', faults: [{ type: 'stall' }] });
  h.pipeline.push(Buffer.from('held '));
  h.pipeline.push(Buffer.from('back'));
  h.clock.advance(3_600_000);
  assert.equal(h.out.length, 0);
  h.pipeline.remove('stall');
  assert.equal(h.bytes().toString(), 'held back');
  h.pipeline.push(Buffer.from('!'));
  assert.equal(h.bytes().toString(), 'held back!');
});

test('limit-data: exactly N bytes, then the end that closes the connection; the rest is truncated', () => {
  const h = harness({ transport: 'tcp', faults: [{ type: 'limit-data', params: { limitBytes: 250 } }] });
  for (let i = 0; i < 5; i++) h.pipeline.push(Buffer.alloc(100, i));
  assert.equal(h.bytes().length, 250);
  assert.equal(h.ended, 'close');
  assert.deepEqual(h.pipeline.counters.truncated, { packets: 3, bytes: 250 });
});

test('reset-after: after N bytes (the end is a reset), or after T ms (at once)', () => {
  const bytes = harness({
    transport: 'tcp',
    faults: [{ type: 'reset-after', params: { afterBytes: '1kb' } }],
  });
  bytes.pipeline.push(Buffer.alloc(1000));
  assert.equal(bytes.ended, undefined);
  bytes.pipeline.push(Buffer.alloc(1000));
  assert.equal(bytes.bytes().length, 1024);
  assert.equal(bytes.ended, 'reset');

  const time = harness({
    transport: 'tcp',
    faults: [
      { type: 'reset-after', params: { afterMs: '500ms' } },
      { type: 'delay', params: { delayMs: 100 } },
    ],
  });
  time.pipeline.push(Buffer.alloc(10));
  time.clock.advance(499);
  time.pipeline.push(Buffer.alloc(10));
  assert.equal(time.resets, 0);
  time.clock.advance(1);
  assert.equal(time.resets, 1);
  assert.equal(time.out.length, 1, 'the reset discards what was still delayed');
  assert.equal(time.clock.pending, 0);
});

test('slow-close: the end waits; data does not', () => {
  const h = harness({ transport: 'tcp', faults: [{ type: 'slow-close', params: { delayMs: '3s' } }] });
  h.pipeline.push(Buffer.from('bye'));
  h.pipeline.end();
  assert.equal(h.out.length, 1);
  h.clock.advance(2999);
  assert.equal(h.ended, undefined);
  h.clock.advance(1);
  assert.equal(h.ended, 'end');
});

test('bad fault specs are one-line usage errors', () => {
  const cases: [unknown, 'tcp' | 'udp', RegExp][] = [
    [{ type: 'loss', params: { lossRate: '150%' } }, 'udp', /lossRate: '150%' is out of range/],
    [{ type: 'delay', params: { delayMs: '-5ms' } }, 'tcp', /delayMs: '-5ms' is negative/],
    [{ type: 'delay', params: { delayMs: -5 } }, 'tcp', /delayMs: -5 is negative/],
    [
      { type: 'slice', params: { averageSizeBytes: 10 } },
      'udp',
      /slice is a TCP \(stream\) fault; this relay is UDP/,
    ],
    [
      { type: 'loss', params: { lossRate: 0.1 } },
      'tcp',
      /dropping bytes from a stream is corruption, not loss/,
    ],
    [{ type: 'wormhole' }, 'tcp', /unknown fault type 'wormhole'/],
    [{ type: 'delay', params: { latency: 5 } }, 'tcp', /unknown parameter 'latency' for delay/],
    [{ type: 'delay', direction: 'sideways' }, 'tcp', /direction "sideways" is not up, down or both/],
    [{ type: 'rate' }, 'tcp', /rate needs rateBytesPerSec/],
    [{ type: 'delay', params: {} }, 'tcp', /delay needs delayMs/], // not a silent 0 ms
    [{ type: 'delay', probability: 2 }, 'tcp', /probability: 2 is out of range/],
    [{ type: 'reset-after' }, 'tcp', /needs afterBytes or afterMs/],
    ['delay', 'tcp', /a fault is an object/],
  ];
  for (const [spec, transport, message] of cases) {
    assert.throws(
      () => readFault(FAULT_TYPES, spec, transport),
      { code: 'SOCKLAB_ERR_USAGE', message },
      JSON.stringify(spec),
    );
  }
});

test('fault names default to type_direction; probability is separate from per-packet rates', () => {
  assert.equal(
    readFault(FAULT_TYPES, { type: 'delay', direction: 'down', params: { delayMs: 1 } }, 'tcp').name,
    'delay_down',
  );
  assert.equal(readFault(FAULT_TYPES, { type: 'delay', params: { delayMs: 1 } }, 'tcp').name, 'delay');
  const f = readFault(FAULT_TYPES, { type: 'loss', probability: '50%', params: { lossRate: '10%' } }, 'udp');
  assert.equal(f.probability, 0.5);
  assert.equal(f.params.lossRate, 0.1);
});
