/** The faults the link added to the engine, on the pure pipeline: drop, rate's queue, corrupt on IP packets. */
import assert from 'node:assert/strict';
import { test } from 'node:test';
import { transportChecksumOk } from '../../src/impair/ip.js';
import { harness, numberOf, numbered } from '../helpers/relay-harness.js';
import { UDP } from '../helpers/packets.js';

test('drop: exactly the numbered datagrams, counted from 1', () => {
  const h = harness({ transport: 'udp', faults: [{ type: 'drop', params: { packets: '2, 5,9' } }] });
  for (let i = 0; i < 10; i++) h.pipeline.push(numbered(i));
  assert.deepEqual(
    h.out.map((w) => numberOf(w.data)),
    [0, 2, 3, 5, 6, 7, 9],
  );
  assert.equal(h.pipeline.counters.dropped.packets, 3);
});

test('rate with --queue 3: a burst of 10 keeps 3 waiting at most, the rest overflow (droptail)', () => {
  // 1000 bytes/s, 100-byte datagrams: 100 ms each.
  const h = harness({
    transport: 'udp',
    faults: [{ type: 'rate', params: { rateBytesPerSec: 1000, queuePackets: 3 } }],
  });
  for (let i = 0; i < 10; i++) h.pipeline.push(Buffer.alloc(100, i));
  h.clock.runAll();
  assert.deepEqual(
    h.out.map((w) => w.data[0]),
    [0, 1, 2],
  );
  assert.deepEqual(
    h.out.map((w) => w.atMs - 1000),
    [100, 200, 300],
    'serialisation delay: each leaves when the one before is sent',
  );
  assert.equal(h.pipeline.counters.overflowed.packets, 7);
  // Once the queue has drained, it takes packets again.
  h.pipeline.push(Buffer.alloc(100, 42));
  h.clock.runAll();
  assert.equal(h.out.at(-1)!.data[0], 42);
});

test('rate with a queue in bytes: what waits, plus the new packet, at most that many bytes', () => {
  const h = harness({
    transport: 'udp',
    faults: [{ type: 'rate', params: { rateBytesPerSec: 1000, queueBytes: 250 } }],
  });
  for (let i = 0; i < 5; i++) h.pipeline.push(Buffer.alloc(100, i));
  h.clock.runAll();
  assert.equal(h.out.length, 2);
  assert.equal(h.pipeline.counters.overflowed.packets, 3);
});

test('corrupt on IP packets: stale leaves a bad checksum, recompute a good one over damaged data', () => {
  for (const checksum of ['stale', 'recompute'] as const) {
    const h = harness({
      transport: 'udp',
      ip: true,
      faults: [{ type: 'corrupt', params: { corruptRate: 1, checksum } }],
    });
    for (let i = 0; i < 50; i++) h.pipeline.push(UDP);
    assert.equal(h.pipeline.counters.corrupted.packets, 50);
    for (const { data } of h.out) {
      assert.notDeepEqual(data, UDP);
      assert.deepEqual(data.subarray(0, 20), UDP.subarray(0, 20), 'the IP header is left alone');
      assert.equal(transportChecksumOk(data), checksum === 'recompute', checksum);
      if (checksum === 'recompute') {
        assert.deepEqual(data.subarray(20, 26), UDP.subarray(20, 26), 'ports and length are left alone');
      }
    }
  }
});
