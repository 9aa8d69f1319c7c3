import assert from 'node:assert/strict';
import { test } from 'node:test';
import { ManualClock } from '../../src/measure/clock.js';
import { IntervalCounter } from '../../src/measure/interval-counter.js';
import { JitterEstimator } from '../../src/measure/jitter.js';
import { LatencyHistogram } from '../../src/measure/latency-histogram.js';
import { SequenceTracker } from '../../src/measure/sequence-tracker.js';
import { parseRateBitsPerSec, parseSizeBytes } from '../../src/measure/units.js';
import { readDatagramHeader, writeDatagramHeader } from '../../src/bench/protocol.js';

test('jitter follows RFC 3550: J += (|D| - J) / 16', () => {
  const jitter = new JitterEstimator();
  // Sent every 10 ms; transit 1, 3, 1, 3 ms → |D| = 2 each time after the first.
  const transits = [1, 3, 1, 3];
  let expected = 0;
  transits.forEach((t, i) => {
    jitter.update(i * 10, i * 10 + t);
    if (i > 0) expected += (2 - expected) / 16;
  });
  assert.ok(Math.abs(jitter.jitterMs - expected) < 1e-12);
  assert.ok(Math.abs(jitter.jitterMs - (2 - 2 * (15 / 16) ** 3)) < 1e-12, 'RFC 3550: J += (|D| - J) / 16');
});

test('jitter ignores a constant clock offset between sender and receiver', () => {
  const jitter = new JitterEstimator();
  for (let i = 0; i < 100; i++) jitter.update(i * 5, 1_000_000 + i * 5 + 0.25);
  assert.equal(jitter.jitterMs, 0);
});

test('sequence tracker: loss, out of order and duplicates from crafted numbers', () => {
  const t = new SequenceTracker();
  const arrivals = [0, 1, 3, 2, 2, 5, 4, 7, 7, 9].map((s) => t.record(s));
  assert.deepEqual(arrivals, [
    'new',
    'new',
    'new',
    'out-of-order',
    'duplicate',
    'new',
    'out-of-order',
    'new',
    'duplicate',
    'new',
  ]);
  assert.equal(t.arrivals, 10);
  assert.equal(t.received, 8); // 0 1 2 3 4 5 7 9
  assert.equal(t.duplicates, 2);
  assert.equal(t.outOfOrder, 2);
  assert.equal(t.lost(), 2); // 6 and 8
  assert.equal(t.lost(12), 4); // and the tail: 10, 11
});

test('sequence tracker grows its bitmap for large sequence numbers', () => {
  const t = new SequenceTracker();
  assert.equal(t.record(10_000_000), 'new');
  assert.equal(t.record(10_000_000), 'duplicate');
  assert.equal(t.record(5), 'out-of-order');
  assert.equal(t.lost(), 10_000_001 - 2);
});

test('sequence tracker: numbers no sender sent are invalid, neither lost nor received, and grow nothing', () => {
  const t = new SequenceTracker();
  for (let s = 0; s < 100; s++) t.record(s);
  assert.equal(t.record(2 ** 31 - 1), 'invalid'); // far ahead: would claim 2 billion lost
  assert.equal(t.record(150), 'new'); // plausible now, but beyond what the sender says it sent
  assert.equal(t.lost(100), 0);
  assert.equal(t.invalid(100), 2);
  assert.equal(t.lost(), 50); // before the sender has said: 100..149 missing
  // A sender walking up by the largest gap each time: after the first, each jump is invalid
  // until enough datagrams have arrived to make that much loss plausible (99 %+).
  const walker = new SequenceTracker();
  assert.equal(walker.record(2 ** 24 - 1), 'new');
  assert.equal(walker.record(2 ** 25 - 2), 'invalid');
  assert.equal(walker.invalid(), 1);
});

test('latency histogram: percentiles ordered, min/max exact, 3 significant digits', () => {
  const h = new LatencyHistogram();
  for (let i = 1; i <= 10_000; i++) h.recordMs(i / 1000); // 1 µs … 10 ms
  const s = h.summary();
  assert.equal(s.count, 10_000);
  assert.equal(s.min_us, 1);
  assert.ok(Math.abs(s.max_us - 10_000) / 10_000 < 0.001);
  assert.ok(Math.abs(s.p50_us - 5_000) / 5_000 < 0.002);
  assert.ok(Math.abs(s.p99_us - 9_900) / 9_900 < 0.002);
  const ladder = [s.min_us, s.p50_us, s.p90_us, s.p99_us, s.p99_9_us, s.p99_99_us, s.max_us];
  assert.deepEqual(
    [...ladder].sort((a, b) => a - b),
    ladder,
  );
});

test('interval counter: per-interval and total on a manual clock', () => {
  const clock = new ManualClock(100);
  const c = new IntervalCounter(clock);
  c.add(1000);
  c.add(500);
  clock.advance(1000);
  assert.deepEqual(c.take(), { startMs: 0, endMs: 1000, bytes: 1500, packets: 2 });
  c.add(10);
  clock.advance(500);
  assert.deepEqual(c.take(), { startMs: 1000, endMs: 1500, bytes: 10, packets: 1 });
  assert.equal(c.bytes, 1510);
});

test('rates as iperf3 spells them; a bare number is not a rate', () => {
  assert.equal(parseRateBitsPerSec('10M'), 10e6);
  assert.equal(parseRateBitsPerSec('100k'), 100e3);
  assert.equal(parseRateBitsPerSec('1.5G'), 1.5e9);
  assert.equal(parseRateBitsPerSec('0'), 0);
  assert.equal(parseRateBitsPerSec('100'), undefined);
  assert.equal(parseRateBitsPerSec('-1M'), undefined);
  assert.equal(parseSizeBytes('128K'), 131072);
  assert.equal(parseSizeBytes('64'), 64);
});

test('datagram header round-trips sequence numbers beyond 2^32', () => {
  const buf = Buffer.alloc(64);
  writeDatagramHeader(buf, 2 ** 40 + 7, 1234.5);
  assert.deepEqual(readDatagramHeader(buf), { sequence: 2 ** 40 + 7, sendTimeMs: 1234.5 });
  assert.equal(readDatagramHeader(Buffer.alloc(64)), undefined);
});
