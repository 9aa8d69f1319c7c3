/**
 * What `socklab bench` prints, as pure functions of its reports: a progress line per interval
 * (stderr), the summary as a table or as JSON (iperf3's key names where they mean the same). No
 * I/O here, so other commands (`socklab compare`) render a bench report the same way.
 */
import type { IntervalSample } from '../measure/interval-counter.js';
import { formatBitsPerSec, formatBytes, formatCount } from '../measure/units.js';
import type { PingPongInterval, PingPongReport } from './pingpong.js';
import type { ThroughputReport } from './throughput-client.js';
import { plural } from '../format/plural.js';

/** What a ping-pong run was asked to do (its report holds what it did). */
export interface PingPongTest {
  /** 'pingpong': one connection; 'connections': `connections` at once (the table says how many were established). */
  readonly mode: 'pingpong' | 'connections';
  readonly transport: 'tcp' | 'udp';
  readonly lengthBytes: number;
  /** Connections asked for (1 in 'pingpong' mode). */
  readonly connections: number;
}

/** `[  0.00-  1.00 sec]`: an interval's place in the run. */
export function span(startMs: number, endMs: number): string {
  return `[${(startMs / 1000).toFixed(2).padStart(6)}-${(endMs / 1000).toFixed(2).padStart(6)} sec]`;
}

/** A throughput interval's progress line (no newline). */
export function throughputIntervalLine(s: IntervalSample, protocol: 'tcp' | 'udp'): string {
  const seconds = (s.endMs - s.startMs) / 1000;
  const packets = protocol === 'udp' ? `  ${s.packets} datagrams` : '';
  return `${span(s.startMs, s.endMs)}  ${formatBytes(s.bytes).padStart(12)}  ${formatBitsPerSec((s.bytes * 8) / seconds).padStart(16)}${packets}`;
}

/** A ping-pong interval's progress line (no newline). */
export function pingPongIntervalLine(s: PingPongInterval): string {
  const seconds = (s.endMs - s.startMs) / 1000;
  const rate = `${span(s.startMs, s.endMs)}  ${formatCount(s.roundTrips / seconds).padStart(9)} round trips/s`;
  // No round trip in this interval: no latency to show (not "p50 0 us").
  if (s.roundTrips === 0) return `${rate}  (no answer in this interval)`;
  return `${rate}  p50 ${s.latency.p50_us} us  p99 ${s.latency.p99_us} us`;
}

/** A throughput report in iperf3's JSON shape; `target` is the address tested (`tcp://…`). */
export function throughputJson(r: ThroughputReport, target: string) {
  const sum = (bytes: number, seconds: number) => ({
    start: 0,
    end: seconds,
    seconds,
    bytes,
    bits_per_second: seconds > 0 ? (bytes * 8) / seconds : 0,
  });
  const udp = r.spec.protocol === 'udp';
  const rx = r.receiver;
  const lost = rx.lost_packets ?? 0;
  const total = rx.packets + lost;
  return {
    start: {
      connecting_to: target,
      test_start: {
        protocol: r.spec.protocol.toUpperCase(),
        num_streams: r.spec.streams,
        blksize: r.spec.length_bytes,
        reverse: r.spec.reverse ? 1 : 0,
      },
    },
    intervals: r.intervals.map((s) => ({
      sum: {
        start: s.startMs / 1000,
        end: s.endMs / 1000,
        seconds: (s.endMs - s.startMs) / 1000,
        bytes: s.bytes,
        bits_per_second: (s.bytes * 8 * 1000) / Math.max(s.endMs - s.startMs, 1e-9),
        ...(udp ? { packets: s.packets } : {}),
      },
    })),
    end: {
      sum_sent: { ...sum(r.sender.bytes, r.sender.seconds), ...(udp ? { packets: r.sender.packets } : {}) },
      sum_received: {
        ...sum(rx.bytes, r.sender.seconds),
        ...(udp
          ? {
              packets: rx.packets,
              lost_packets: lost,
              lost_percent: total > 0 ? (100 * lost) / Math.max(total, r.sender.packets) : 0,
              out_of_order: rx.out_of_order ?? 0,
              duplicates: rx.duplicates ?? 0,
              ...(rx.invalid_packets ? { invalid_packets: rx.invalid_packets } : {}),
              jitter_ms: rx.jitter_ms ?? 0,
            }
          : {}),
      },
    },
  };
}

/** A throughput report as the table `socklab bench` prints (one `key  value` line each). */
export function throughputTable(r: ThroughputReport, target: string): string {
  const j = throughputJson(r, target).end;
  const rows: [string, string][] = [
    [
      'test',
      `${r.spec.protocol.toUpperCase()} ${r.spec.reverse ? 'reverse (server sends)' : 'client sends'}, ${plural(r.spec.streams, 'stream')}, ${r.spec.length_bytes} B writes, to ${target}`,
    ],
    [
      'sent',
      `${formatBytes(j.sum_sent.bytes)} in ${j.sum_sent.seconds.toFixed(2)} s = ${formatBitsPerSec(j.sum_sent.bits_per_second)}${r.spec.protocol === 'udp' ? `, ${r.sender.packets} datagrams (${formatCount(r.sender.packets / j.sum_sent.seconds)}/s)` : ''}`,
    ],
    [
      'received',
      `${formatBytes(j.sum_received.bytes)} = ${formatBitsPerSec(j.sum_received.bits_per_second)}${r.spec.protocol === 'udp' ? `, ${r.receiver.packets} datagrams` : ''}`,
    ],
  ];
  const rx = j.sum_received;
  if ('lost_packets' in rx) {
    rows.push(
      ['lost', `${rx.lost_packets} (${(rx.lost_percent ?? 0).toFixed(3)}%)`],
      ['out of order', String(rx.out_of_order)],
      ['duplicated', String(rx.duplicates)],
      ...(rx.invalid_packets
        ? [
            ['invalid', `${rx.invalid_packets} (sequence numbers never sent: not counted as lost)`] as [
              string,
              string,
            ],
          ]
        : []),
      ['jitter', `${(rx.jitter_ms ?? 0).toFixed(3)} ms (RFC 3550)`],
    );
  }
  return rows.map(([k, val]) => `${k.padEnd(13)} ${val}\n`).join('');
}

/** A ping-pong report as JSON (iperf3-like `start`/`intervals`/`end`). */
export function pingPongJson(r: PingPongReport, test: PingPongTest, target: string) {
  return {
    start: {
      connecting_to: target,
      test_start: {
        protocol: test.transport.toUpperCase(),
        mode: test.mode,
        blksize: test.lengthBytes,
        connections: test.mode === 'connections' ? test.connections : 1,
      },
    },
    intervals: r.intervals.map((s) => ({
      start: s.startMs / 1000,
      end: s.endMs / 1000,
      round_trips: s.roundTrips,
      latency_us: s.latency,
    })),
    end: {
      seconds: r.seconds,
      round_trips: r.roundTrips,
      round_trips_per_second: r.seconds > 0 ? r.roundTrips / r.seconds : 0,
      lost_packets: r.lost,
      connections: r.connections,
      connect_failures: r.connectFailures,
      establish_ms: r.establishMs,
      latency_us: r.latency,
    },
  };
}

/** A ping-pong report as the table `socklab bench` prints, with the latency ladder. */
export function pingPongTable(r: PingPongReport, test: PingPongTest, target: string): string {
  const l = r.latency;
  const rows: [string, string][] = [
    [
      'test',
      `${test.transport.toUpperCase()} ping-pong, ${test.lengthBytes} B messages, ${r.connections} connection(s), to ${target}`,
    ],
    [
      'round trips',
      `${r.roundTrips} in ${r.seconds.toFixed(2)} s = ${formatCount(r.roundTrips / Math.max(r.seconds, 1e-9))}/s${test.transport === 'udp' ? `, ${r.lost} lost` : ''}`,
    ],
  ];
  if (test.mode === 'connections')
    rows.push([
      'connections',
      `${r.connections} established in ${r.establishMs.toFixed(0)} ms, ${r.connectFailures} failed`,
    ]);
  rows.push(
    ['latency (us)', 'min      p50      p90      p99    p99.9   p99.99      max'],
    [
      '',
      [l.min_us, l.p50_us, l.p90_us, l.p99_us, l.p99_9_us, l.p99_99_us, l.max_us]
        .map((x) => x.toFixed(1).padStart(8))
        .join(' ')
        .trimStart(),
    ],
  );
  return rows.map(([k, val]) => `${k.padEnd(13)} ${val}\n`).join('');
}
