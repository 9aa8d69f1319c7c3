/**
 * socklab link with real peers: ping, iperf3, and Python's sockets (test/fixtures/peers/link_peer.py)
 * on either side of the link. Everything runs in a throwaway namespace standing for "outside"
 * (test/helpers/netns.ts), so the machine's own interfaces are never touched.
 */
import assert from 'node:assert/strict';
import { after, before, test } from 'node:test';
import { findExecutable } from '../helpers/spawn.js';
import {
  jsonCounters,
  LINK_PEER,
  linkSkipReason,
  udpThrough,
  outerNamespace,
  peerJson,
  rootInterfaces,
  type Outer,
} from '../helpers/netns.js';

const skip = await linkSkipReason();
if (skip) console.log(`# skipping the link tests: ${skip}`);
const noPing =
  (await findExecutable('ping')) === undefined ? 'ping (iputils-ping) is not installed' : undefined;
const noIperf = (await findExecutable('iperf3')) === undefined ? 'iperf3 is not installed' : undefined;

let outer: Outer;
let rootBefore: string[];
before(async () => {
  if (skip) return;
  rootBefore = await rootInterfaces();
  outer = await outerNamespace();
});
after(async () => {
  if (skip) return;
  await outer.close();
  assert.deepEqual(await rootInterfaces(), rootBefore, "the machine's own interfaces are as they were");
});

function median(values: readonly number[]): number {
  const sorted = [...values].sort((a, b) => a - b);
  return sorted[Math.floor(sorted.length / 2)]!;
}

test('--delay 50ms: ping RTT is 100 ms ± 2 ms, never less', { skip: skip ?? noPing }, async () => {
  const r = await outer.link([
    '--delay',
    '50ms',
    '--',
    'sh',
    '-c',
    'exec ping -n -c 20 -i 0.05 "$SOCKLAB_LINK_PEER"',
  ]);
  assert.equal(r.code, 0, r.stderr);
  const rtts = [...r.stdout.matchAll(/time=([\d.]+) ms/g)].map((m) => Number(m[1]));
  assert.equal(rtts.length, 20, r.stdout);
  assert.ok(Math.min(...rtts) >= 100, `an RTT below 100 ms: ${rtts.join(', ')}`);
  assert.ok(Math.abs(median(rtts) - 100) <= 2, `median RTT ${median(rtts)} ms: ${rtts.join(', ')}`);
  assert.match(r.stderr, /up \(inside → outside\): 20 packets in, 20 forwarded/);
  assert.deepEqual(await outer.interfaces(), ['lo'], 'no device left behind');
});

test(
  '--loss 10% over 10,000 paced datagrams: inside binomial bounds, the same seed drops the same ones',
  { skip },
  async () => {
    const n = 10_000;
    const first = await udpThrough(outer, ['--up', '--loss', '10%', '--seed', '7'], n, 100, 100);
    const received = first.sink.seqs.length;
    // Binomial(10000, 0.9): mean 9000, standard deviation 30; ±5 standard deviations.
    assert.ok(received >= 8850 && received <= 9150, `received ${received} of ${n}`);
    assert.equal(
      first.counters.up.counters.dropped!.packets,
      n - received,
      'every datagram missing was dropped by the link',
    );
    const missing = (seqs: number[]) => {
      const got = new Set(seqs);
      return Array.from({ length: n }, (_, i) => i + 1).filter((s) => !got.has(s));
    };
    const again = await udpThrough(outer, ['--up', '--loss', '10%', '--seed', '7'], n, 100, 100);
    assert.deepEqual(missing(again.sink.seqs), missing(first.sink.seqs), 'seed 7 drops the same datagrams');
    const other = await udpThrough(outer, ['--up', '--loss', '10%', '--seed', '8'], n, 100, 100);
    assert.notDeepEqual(missing(other.sink.seqs), missing(first.sink.seqs), 'seed 8 drops others');
  },
);

test('--drop 3,5: exactly datagrams 3 and 5 are lost', { skip }, async () => {
  const { sink, counters } = await udpThrough(outer, ['--up', '--drop', '3,5'], 10, 1000, 50);
  assert.deepEqual(sink.seqs, [1, 2, 4, 6, 7, 8, 9, 10]);
  assert.equal(counters.up.counters.dropped!.packets, 2);
});

test(
  '--loss 1% --delay 20ms: a TCP transfer arrives whole; the kernel retransmitted what the link dropped',
  { skip },
  async () => {
    const sink = outer.start('python3', [LINK_PEER, 'tcp-sink', '0']);
    try {
      await sink.waitFor(/ready \d+/, 'stdout', 10_000);
      const port = /ready (\d+)/.exec(sink.stdout())![1]!;
      const bytes = 2_000_000;
      const r = await outer.link(
        [
          '--loss',
          '1%',
          '--delay',
          '20ms',
          '--seed',
          '3',
          '--json',
          '--',
          'sh',
          '-c',
          `exec python3 "$0" tcp-source "$SOCKLAB_LINK_PEER" ${port} ${bytes} 5`,
          LINK_PEER,
        ],
        { timeoutMs: 90_000 },
      );
      assert.equal(r.code, 0, r.stderr);
      const sent = peerJson<{ bytes: number; sha256: string }>(r.stdout);
      const got = peerJson<{ bytes: number; sha256: string }>((await sink.exited(10_000)).stdout);
      assert.deepEqual(got, sent, 'the same bytes arrived');
      const c = jsonCounters(r.stderr);
      const lostData = c.up.lostTcpData;
      const retrans = c.kernel.tcpRetransSegs!;
      assert.ok(lostData > 0, `the link dropped no data segment: ${JSON.stringify(c.up)}`);
      // Every data segment the link dropped was sent again (a retransmission may carry two of them
      // collapsed into one, rarely); beyond those, only a few spurious retransmissions (a tail
      // loss probe, a timeout resending more than was lost).
      assert.ok(
        retrans >= 0.9 * lostData,
        `kernel retransmitted ${retrans} segments, the link dropped ${lostData} with data`,
      );
      assert.ok(
        retrans <= lostData * 2 + 20,
        `kernel retransmitted ${retrans} segments for ${lostData} dropped`,
      );
    } finally {
      await sink.stop('SIGKILL');
    }
  },
);

test(
  '--rate 12mbit: TCP goodput within 10 % of the rate less the headers',
  { skip: skip ?? noIperf },
  async () => {
    const port = '61011';
    const server = outer.start('iperf3', ['-s', '-1', '-p', port, '--forceflush']);
    try {
      await server.waitFor('Server listening', 'stdout', 10_000);
      const r = await outer.link(
        ['--rate', '12mbit', '--', 'sh', '-c', `exec iperf3 -c "$SOCKLAB_LINK_PEER" -p ${port} -t 4 -J`],
        { timeoutMs: 60_000 },
      );
      assert.equal(r.code, 0, r.stderr);
      const report = JSON.parse(r.stdout) as { end: { sum_received: { bits_per_second: number } } };
      const goodput = report.end.sum_received.bits_per_second;
      // 1500-byte packets carry 1448 bytes of data (20 IP + 20 TCP + 12 timestamp option).
      const expected = 12e6 * (1448 / 1500);
      assert.ok(
        Math.abs(goodput - expected) <= 0.1 * expected,
        `goodput ${(goodput / 1e6).toFixed(2)} Mbit/s, expected ${(expected / 1e6).toFixed(2)}`,
      );
    } finally {
      await server.stop('SIGKILL');
    }
  },
);

test(
  '--offload --delay 10ms: TCP in segments of up to 64 KiB arrives whole, and late by the delay',
  { skip },
  async () => {
    const sink = outer.start('python3', [LINK_PEER, 'tcp-sink', '0']);
    try {
      await sink.waitFor(/ready \d+/, 'stdout', 10_000);
      const port = /ready (\d+)/.exec(sink.stdout())![1]!;
      const r = await outer.link(
        [
          '--offload',
          '--delay',
          '10ms',
          '--json',
          '--',
          'sh',
          '-c',
          `exec python3 "$0" tcp-source "$SOCKLAB_LINK_PEER" ${port} 20000000 9`,
          LINK_PEER,
        ],
        { timeoutMs: 60_000 },
      );
      assert.equal(r.code, 0, r.stderr);
      const sent = peerJson<{ bytes: number; sha256: string }>(r.stdout);
      const got = peerJson<{ bytes: number; sha256: string }>((await sink.exited(10_000)).stdout);
      assert.deepEqual(got, sent, 'the same bytes arrived');
      const c = jsonCounters(r.stderr);
      // 20 MB in far fewer packets than 1500-byte ones would take (13,800): the kernel sent segments.
      assert.ok(c.up.packetsIn < 13_800 / 2, `${c.up.packetsIn} packets up`);
      assert.ok(c.kernel.tcpOutSegs! > 13_800, `${c.kernel.tcpOutSegs} TCP segments counted by the kernel`);
      assert.ok(c.up.timeInLink.p50_us >= 10_000, JSON.stringify(c.up.timeInLink));
    } finally {
      await sink.stop('SIGKILL');
    }
  },
);

/** The path each command line takes by default: offload only when nothing needs MTU-sized packets. */
const PATHS: [string[], boolean, RegExp, boolean][] = [
  // flags, offload, why, GRO (per packet, runs of segments written as one) seen joining
  [[], true, /^no faults$/, false],
  [['--delay', '2ms', '--jitter', '1ms'], true, /^delay only$/, false],
  [['--no-offload'], false, /^asked for$/, true],
  [['--rate', '2gbit'], false, /rate queues and drops single packets/, false],
  [['--up', '--duplicate', '0.001%'], false, /duplicate acts on single packets/, true],
  [['--log', '/dev/null'], false, /the log shows the wire's packets/, true],
  [['--up', '--corrupt', '0.001%'], false, /corrupt acts on single packets/, false],
];

for (const [flags, offload, why, joins] of PATHS) {
  test(
    `${flags.join(' ') || 'no flags'}: ${offload ? 'offload (TSO segments)' : 'per packet'} by default, said in the summary`,
    { skip },
    async () => {
      const sink = outer.start('python3', [LINK_PEER, 'tcp-sink', '0']);
      try {
        await sink.waitFor(/ready \d+/, 'stdout', 10_000);
        const port = /ready (\d+)/.exec(sink.stdout())![1]!;
        const args = [
          ...flags,
          '--',
          'sh',
          '-c',
          `exec python3 "$0" tcp-source "$SOCKLAB_LINK_PEER" ${port} 4000000 3`,
          LINK_PEER,
        ];
        const r = await outer.link(['--json', ...args], { timeoutMs: 60_000 });
        assert.equal(r.code, 0, r.stderr);
        const sent = peerJson<{ bytes: number; sha256: string }>(r.stdout);
        const got = peerJson<{ bytes: number; sha256: string }>((await sink.exited(10_000)).stdout);
        assert.deepEqual(got, sent, 'the same bytes arrived');
        const c = jsonCounters(r.stderr) as ReturnType<typeof jsonCounters> & {
          path: { offload: boolean; why: string; gro?: boolean };
          up: { joined: number };
        };
        assert.equal(c.path.offload, offload, JSON.stringify(c.path));
        assert.match(c.path.why, why);
        // 4 MB is 2,763 segments of 1448 bytes: the link saw them one by one, or far fewer segments.
        if (offload) assert.ok(c.up.packetsIn < 2_763 / 2, `${c.up.packetsIn} packets up`);
        else assert.ok(c.up.packetsIn >= 2_763, `${c.up.packetsIn} packets up`);
        // GRO on the per-packet path, but never with corrupt (the kernel would mend a stale checksum).
        assert.equal(c.path.gro === true, !offload && !flags.includes('--corrupt'), JSON.stringify(c.path));
        if (joins) assert.ok(c.up.joined > c.up.packetsIn / 2, `${c.up.joined} of ${c.up.packetsIn} joined`);
        if (offload || flags.includes('--corrupt')) assert.equal(c.up.joined, 0);
      } finally {
        await sink.stop('SIGKILL');
      }
    },
  );
}

test("the exit summary's path line says which path ran and why", { skip }, async () => {
  const fast = await outer.link(['--', 'true']);
  assert.equal(fast.code, 0, fast.stderr);
  assert.match(
    fast.stderr,
    /\n {2}path: offload, TCP in segments of up to 64 KiB \(no faults; --no-offload: per packet\)\n/,
  );
  const slow = await outer.link(['--loss', '1%', '--', 'true']);
  assert.equal(slow.code, 0, slow.stderr);
  assert.match(
    slow.stderr,
    /\n {2}path: per packet, MTU-sized \(loss acts on single packets\); runs of TCP segments written as one \(GRO\)\n/,
  );
});
