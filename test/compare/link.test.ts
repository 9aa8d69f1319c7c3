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
  },
);
