/** bench/report.ts: what `socklab bench` prints, from reports alone (no sockets, no clock). */
import assert from 'node:assert/strict';
import { test } from 'node:test';
import type { PingPongReport } from '../../src/bench/pingpong.js';
import {
  pingPongIntervalLine,
  pingPongJson,
  pingPongTable,
  throughputIntervalLine,
  throughputJson,
  throughputTable,
  type PingPongTest,
} from '../../src/bench/report.js';
import type { ThroughputReport } from '../../src/bench/throughput-client.js';

const latency = {
  count: 3,
  min_us: 10.5,
  mean_us: 12,
  p50_us: 11.25,
  p90_us: 13,
  p99_us: 20.5,
  p99_9_us: 30,
  p99_99_us: 31,
  max_us: 31.75,
};

test('a UDP throughput report: the table, a progress line and iperf3-shaped JSON', () => {
  const report: ThroughputReport = {
    spec: { protocol: 'udp', streams: 1, reverse: false, length_bytes: 1000, rate_bits_per_sec: 1e6 },
    local: { bytes: 125_000, packets: 125, seconds: 1 },
    sender: { bytes: 125_000, packets: 125, seconds: 1 },
    receiver: {
      bytes: 120_000,
      packets: 120,
      seconds: 1.002,
      lost_packets: 5,
      out_of_order: 1,
      duplicates: 0,
      jitter_ms: 0.0123,
    },
    intervals: [{ startMs: 0, endMs: 1000, bytes: 125_000, packets: 125 }],
  };
  assert.equal(
    throughputTable(report, 'udp://127.0.0.1:5201'),
    'test          UDP client sends, 1 stream, 1000 B writes, to udp://127.0.0.1:5201\n' +
      'sent          122 KBytes in 1.00 s = 1.00 Mbits/sec, 125 datagrams (125/s)\n' +
      'received      117 KBytes = 960 Kbits/sec, 120 datagrams\n' +
      'lost          5 (4.000%)\n' +
      'out of order  1\n' +
      'duplicated    0\n' +
      'jitter        0.012 ms (RFC 3550)\n',
  );
  assert.equal(
    throughputIntervalLine(report.intervals[0]!, 'udp'),
    '[  0.00-  1.00 sec]    122 KBytes    1.00 Mbits/sec  125 datagrams',
  );
  const end = throughputJson(report, 'udp://127.0.0.1:5201').end;
  assert.deepEqual(end.sum_received, {
    start: 0,
    end: 1,
    seconds: 1,
    bytes: 120_000,
    bits_per_second: 960_000,
    packets: 120,
    lost_packets: 5,
    lost_percent: 4,
    out_of_order: 1,
    duplicates: 0,
    jitter_ms: 0.0123,
  });
});

test('invalid datagrams (sequence numbers never sent) get a row of their own and a JSON key', () => {
  const report: ThroughputReport = {
    spec: { protocol: 'udp', streams: 1, reverse: false, length_bytes: 100, rate_bits_per_sec: 1e6 },
    local: { bytes: 10_000, packets: 100, seconds: 1 },
    sender: { bytes: 10_000, packets: 100, seconds: 1 },
    receiver: {
      bytes: 10_200,
      packets: 102,
      seconds: 1,
      lost_packets: 0,
      out_of_order: 0,
      duplicates: 0,
      invalid_packets: 2,
      jitter_ms: 0,
    },
    intervals: [],
  };
  assert.match(
    throughputTable(report, 'udp://127.0.0.1:5201'),
    /\nlost {10}0 \(0\.000%\)\n(.+\n)*invalid {7}2 \(sequence numbers never sent: not counted as lost\)\n/,
  );
  assert.equal(throughputJson(report, 'udp://127.0.0.1:5201').end.sum_received.invalid_packets, 2);
});

test('a --connections report: the table with its connections row, a progress line, the JSON start', () => {
  const report: PingPongReport = {
    connections: 200,
    connectFailures: 0,
    establishMs: 41.6,
    roundTrips: 1000,
    lost: 0,
    seconds: 0.5,
    latency,
    intervals: [{ startMs: 0, endMs: 500, roundTrips: 1000, latency }],
  };
  const run: PingPongTest = { mode: 'connections', transport: 'tcp', lengthBytes: 64, connections: 200 };
  assert.equal(
    pingPongTable(report, run, 'tcp://127.0.0.1:9000'),
    'test          TCP ping-pong, 64 B messages, 200 connection(s), to tcp://127.0.0.1:9000\n' +
      'round trips   1000 in 0.50 s = 2.0 k/s\n' +
      'connections   200 established in 42 ms, 0 failed\n' +
      'latency (us)  min      p50      p90      p99    p99.9   p99.99      max\n' +
      '              10.5     11.3     13.0     20.5     30.0     31.0     31.8\n',
  );
  assert.equal(
    pingPongIntervalLine(report.intervals[0]!),
    '[  0.00-  0.50 sec]      2.0 k round trips/s  p50 11.25 us  p99 20.5 us',
  );
  const json = pingPongJson(report, run, 'tcp://127.0.0.1:9000');
  assert.deepEqual(json.start, {
    connecting_to: 'tcp://127.0.0.1:9000',
    test_start: { protocol: 'TCP', mode: 'connections', blksize: 64, connections: 200 },
  });
  assert.equal(json.end.round_trips_per_second, 2000);
  // A plain ping-pong has no connections row.
  assert.doesNotMatch(
    pingPongTable(report, { ...run, mode: 'pingpong', connections: 1 }, 'tcp://127.0.0.1:9000'),
    /^connections/m,
  );
});

test('a progress line for an interval with no round trip says so (not "p50 0 us")', () => {
  const empty = {
    count: 0,
    min_us: 0,
    mean_us: 0,
    p50_us: 0,
    p90_us: 0,
    p99_us: 0,
    p99_9_us: 0,
    p99_99_us: 0,
    max_us: 0,
  };
  const line = pingPongIntervalLine({ startMs: 1000, endMs: 2000, roundTrips: 0, latency: empty });
  assert.match(line, /0 round trips\/s {2}\(no answer in this interval\)$/);
  assert.doesNotMatch(line, /p50/);
});
