/**
 * compare() through the link (--via link): the kernel's own TCP against real packet loss. Run in a
 * throwaway outer namespace (test/helpers/netns.ts), so the links' outer devices never touch the
 * machine's own; a script there imports the built package and prints what the test checks.
 */
import assert from 'node:assert/strict';
import { join } from 'node:path';
import { after, before, test } from 'node:test';
import { REPO_ROOT } from '../helpers/cli.js';
import { linkSkipReason, outerNamespace, type Outer } from '../helpers/netns.js';
import { AFTER_EVENTS, BEFORE_EVENTS, type Sequence } from '../../src/compare/sequence.js';

const skip = await linkSkipReason();
if (skip) console.log(`# skipping compare --via link: ${skip}`);

let outer: Outer;
before(async () => {
  if (!skip) outer = await outerNamespace();
});
after(async () => {
  if (!skip) await outer.close();
});

interface Lane {
  status: string;
  sent: number;
  delivered: number;
  lost: number;
  late: number;
  duplicated: number;
  reordered: number;
  corrupted: number;
  retransmissions?: number | null;
  path?: Record<string, number>;
}
interface Run {
  via: string;
  lanes: { tcp: Lane; udp: Lane };
  udpLost: number[];
  tcpOrder: boolean;
  sequence?: Sequence;
}

/** compare() with these options in the outer namespace; each run's lanes and the UDP messages lost. */
async function compareThere(runs: readonly object[]): Promise<Run[]> {
  const script = `
    import { compare, VERDICT } from ${JSON.stringify(join(REPO_ROOT, 'dist/index.js'))};
    const detailOf = (r) => r[Symbol.for('socklab.compare.detail')];
    const out = [];
    for (const options of ${JSON.stringify(runs)}) {
      const r = await compare({ via: 'link', signal: AbortSignal.timeout(60_000), ...options });
      const udp = detailOf(r).udp.verdicts;
      const tcp = detailOf(r).tcp.arrivalRank;
      out.push({
        via: r.via,
        lanes: r.lanes,
        udpLost: [...udp.keys()].filter((i) => udp[i] === VERDICT.lost),
        tcpOrder: [...tcp].every((rank, i) => rank === i),
        sequence: detailOf(r).sequence,
      });
    }
    console.log(JSON.stringify(out));
  `;
  const r = await outer.run(process.execPath, ['--input-type=module', '-e', script], { timeoutMs: 120_000 });
  assert.equal(r.code, 0, r.stderr);
  return JSON.parse(r.stdout) as Run[];
}

const paced = (messages: number) => ({ kind: 'paced', messages, sizeBytes: 200, intervalMs: 1 });

test(
  '--via link --loss 5%: TCP delivers every message in order and the kernel retransmitted; UDP loses within binomial bounds, the same ones for the same seed',
  { skip, timeout: 180_000 },
  async () => {
    const loss = [
      { type: 'loss', params: { lossRate: '5%' } },
      { type: 'delay', params: { delayMs: '5ms' } },
    ];
    const n = 1000;
    const [first, again, other] = await compareThere([
      { workload: paced(n), faults: loss, seed: 21 },
      { workload: paced(n), faults: loss, seed: 21 },
      { workload: paced(n), faults: loss, seed: 22 },
    ]);
    for (const run of [first!, again!, other!]) {
      const { tcp, udp } = run.lanes;
      assert.equal(run.via, 'link');
      assert.equal(tcp.status, 'ok');
      assert.equal(tcp.delivered, n, 'TCP: every message');
      assert.ok(run.tcpOrder, 'TCP: in the order sent');
      assert.equal(tcp.reordered + tcp.duplicated + tcp.corrupted + tcp.lost, 0);
      assert.ok((tcp.retransmissions ?? 0) > 0, `the kernel retransmitted: ${tcp.retransmissions}`);
      // Loss both ways: the kernel resent the data segments the link dropped on the way up.
      assert.ok(tcp.path!.dropped! > 0 && tcp.retransmissions! >= 1);
      // UDP: 5 % of 1000, within 4.9 standard deviations; what the link dropped is what was lost.
      const sd = Math.sqrt(n * 0.05 * 0.95);
      assert.ok(Math.abs(udp.lost - n * 0.05) <= 4.9 * sd, `UDP lost ${udp.lost}`);
      assert.equal(udp.lost, udp.path!.dropped, 'each datagram the link dropped is a lost message');
      assert.equal(udp.delivered + udp.lost, n);
    }
    // The sequence diagram: the first data segment the link dropped, and the kernel sending the
    // same bytes again later, which got through.
    for (const run of [first!, again!, other!]) {
      const seq = run.sequence!;
      assert.ok(seq, 'a TCP data segment was dropped, so there is a sequence');
      assert.ok(seq.relative, "seq counted from the sender's SYN");
      assert.ok(
        seq.packets.length <= (BEFORE_EVENTS + AFTER_EVENTS) / 2 + 10,
        `${seq.packets.length} packets`,
      );
      const lost = seq.packets[seq.dropped.index]!;
      assert.deepEqual([lost.dir, lost.role, lost.arrivedMs], ['up', 'dropped', null]);
      assert.ok(lost.len > 0 && lost.len <= 1460, `a data segment: ${lost.len} bytes`);
      assert.deepEqual([seq.dropped.seq, seq.dropped.end], [lost.seq, lost.seq + lost.len]);
      const r = seq.retransmission!;
      assert.ok(r, `its retransmission is in the window: ${seq.caption}`);
      const resent = seq.packets[r.index]!;
      assert.equal(resent.dir, 'up');
      assert.ok(resent.seq <= lost.seq && lost.seq < resent.seq + resent.len, 'the same bytes again');
      assert.ok(resent.sentMs > lost.sentMs && r.afterMs > 0);
      assert.ok(r.lostAgain || resent.arrivedMs! > resent.sentMs, 'the copy got through, or was dropped too');
      // Data up, ACKs down, and every ACK that asked for the lost bytes after the drop is in the count.
      assert.ok(seq.packets.some((p) => p.dir === 'down' && p.len === 0 && p.ack === lost.seq));
      assert.match(seq.caption, new RegExp(`^segment ${lost.seq}:${lost.seq + lost.len} \\(`));
      assert.match(seq.caption, /the kernel resent it [\d.]+ ms later/);
    }
    assert.deepEqual(again!.udpLost, first!.udpLost, 'the same seed, the same messages lost');
    assert.notDeepEqual(other!.udpLost, first!.udpLost, 'another seed, others');
    assert.deepEqual(await outer.interfaces(), ['lo'], 'no device left behind');
  },
);

test(
  '--via link --duplicate 5% --reorder: only UDP shows duplicates and messages out of order; TCP none',
  { skip, timeout: 120_000 },
  async () => {
    const [run] = await compareThere([
      {
        workload: paced(600),
        faults: [
          { type: 'duplicate', params: { duplicateRate: '5%' } },
          { type: 'reorder', params: { reorderRate: '10%', gap: 3 } },
          { type: 'delay', params: { delayMs: '5ms' } },
        ],
        seed: 5,
      },
    ]);
    const { tcp, udp } = run!.lanes;
    assert.ok(udp.duplicated > 0, `UDP duplicated ${udp.duplicated}`);
    assert.ok(udp.reordered > 0, `UDP out of order ${udp.reordered}`);
    assert.equal(tcp.duplicated, 0);
    assert.equal(tcp.reordered, 0);
    assert.equal(tcp.delivered, 600);
    assert.ok(run!.tcpOrder);
    assert.equal(run!.sequence, undefined, 'nothing dropped, no sequence diagram');
  },
);
