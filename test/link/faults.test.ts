/**
 * The datagram faults on the link, observed by a real UDP receiver (test/fixtures/peers/link_peer.py:
 * each datagram carries its number, its send time on CLOCK_MONOTONIC, which all namespaces share,
 * and a CRC-32): duplicate, reorder (+ gap), jitter with its distribution, and corrupt with the
 * checksum left stale (the receiving kernel drops and counts it) or recomputed (damage delivered).
 */
import assert from 'node:assert/strict';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, before, test } from 'node:test';
import {
  jsonCounters,
  LINK_PEER,
  linkSkipReason,
  outerNamespace,
  peerJson,
  udpThrough,
  type Outer,
  type UdpSinkResult,
} from '../helpers/netns.js';

const skip = await linkSkipReason();
if (skip) console.log(`# skipping the link tests: ${skip}`);

let outer: Outer;
before(async () => {
  if (!skip) outer = await outerNamespace();
});
after(async () => {
  if (!skip) await outer.close();
});

/** Within `sd` standard deviations of a binomial count. */
function assertBinomial(observed: number, n: number, p: number, what: string, sd = 5): void {
  const mean = n * p;
  const spread = sd * Math.sqrt(n * p * (1 - p));
  assert.ok(
    Math.abs(observed - mean) <= spread,
    `${what}: ${observed}, expected ${mean} ± ${spread.toFixed(0)}`,
  );
}

test(
  '--duplicate 10%: the receiver gets that many extra copies, and the link counted each',
  { skip },
  async () => {
    const n = 2000;
    const { sink, counters } = await udpThrough(
      outer,
      ['--up', '--duplicate', '10%', '--seed', '11'],
      n,
      200,
    );
    const extra = sink.seqs.length - new Set(sink.seqs).size;
    assert.equal(new Set(sink.seqs).size, n, 'every datagram arrived');
    assert.equal(extra, counters.up.counters.duplicated!.packets);
    assertBinomial(extra, n, 0.1, 'duplicates');
  },
);

test('--delay 10ms --reorder 25%: a quarter skip the delay and overtake the others', { skip }, async () => {
  const n = 2000;
  const { sink, counters } = await udpThrough(
    outer,
    ['--up', '--delay', '10ms', '--reorder', '25%', '--seed', '12'],
    n,
    500,
  );
  assert.equal(sink.seqs.length, n);
  // A delayed datagram never arrives in less than 10 ms: one that did was sent ahead. (One sent
  // ahead may take longer on a loaded machine, rarely.)
  const ahead = sink.delays_us.filter((us) => us < 9_900).length;
  const reordered = counters.up.counters.reordered!.packets;
  assert.ok(
    ahead <= reordered && ahead >= 0.95 * reordered,
    `${ahead} arrived early, ${reordered} sent ahead`,
  );
  assertBinomial(ahead, n, 0.25, 'sent ahead');
  const outOfOrder = sink.seqs.filter((s, i) => i > 0 && s < sink.seqs[i - 1]!).length;
  assert.ok(outOfOrder > 0.05 * n, `the receiver saw ${outOfOrder} datagrams out of order`);
});

test('--reorder 100% --reorder-gap 5: exactly every 5th datagram is sent ahead', { skip }, async () => {
  const { sink } = await udpThrough(
    outer,
    ['--up', '--delay', '10ms', '--reorder', '100%', '--reorder-gap', '5', '--seed', '1'],
    100,
    1000,
  );
  // Sent ahead: arrived before a datagram sent earlier (read off the arrival order, which the
  // receiving socket's queue keeps, so a stalled receiver on a loaded machine cannot blur it).
  const ahead = sink.seqs.filter((seq, i) => sink.seqs.slice(i + 1).some((later) => later < seq));
  ahead.sort((a, b) => a - b);
  assert.deepEqual(
    ahead,
    Array.from({ length: 20 }, (_, i) => 5 * (i + 1)),
  );
});

test(
  '--delay 20ms --jitter 5ms --distribution normal: one-way delays follow N(20 ms, 5 ms)',
  { skip },
  async () => {
    const n = 2000;
    const { sink } = await udpThrough(
      outer,
      ['--up', '--delay', '20ms', '--jitter', '5ms', '--distribution', 'normal', '--seed', '13'],
      n,
      1000,
    );
    assert.equal(sink.seqs.length, n);
    const ms = sink.delays_us.map((us) => us / 1000).sort((a, b) => a - b);
    const at = (q: number) => ms[Math.floor(q * (ms.length - 1))]!;
    // Percentiles of N(20, 5): 2.3 % below 10 ms (-2 sd), 15.9 % below 15 ms (-1 sd), half below
    // 20 ms. A loaded machine can only add delay (a little, mostly), so the bounds above are wider.
    // Uniform jitter of the same width would put all of them at 15 ms or more.
    assert.ok(at(0.5) >= 19.8 && at(0.5) <= 21.5, `median ${at(0.5)} ms`);
    assert.ok(at(0.1587) >= 14.3 && at(0.1587) <= 16.5, `15.9th percentile ${at(0.1587)} ms`);
    assert.ok(at(0.0228) >= 9 && at(0.0228) <= 12.5, `2.3rd percentile ${at(0.0228)} ms`);
    assert.ok(at(0.8413) >= 24.3 && at(0.8413) <= 27, `84.1st percentile ${at(0.8413)} ms`);
    // Uniform jitter, for contrast: flat from 15 to 25 ms, nothing below.
    const uniform = await udpThrough(
      outer,
      ['--up', '--delay', '20ms', '--jitter', '5ms', '--seed', '14'],
      1000,
      1000,
    );
    const u = uniform.sink.delays_us.map((us) => us / 1000).sort((a, b) => a - b);
    const uat = (q: number) => u[Math.floor(q * (u.length - 1))]!;
    assert.ok(u[0]! >= 15, `uniform: min ${u[0]} ms`);
    assert.ok(uat(0.1) >= 15.5 && uat(0.1) <= 17.5, `uniform: 10th percentile ${uat(0.1)} ms`);
    assert.ok(uat(0.5) >= 19.5 && uat(0.5) <= 21.5, `uniform: median ${uat(0.5)} ms`);
  },
);

/** Datagrams from outside to a sink inside, through `--down` faults: the sink's result and the counters. */
async function udpInward(faults: readonly string[], n: number) {
  const port = 61031;
  const dir = mkdtempSync(join(tmpdir(), 'socklab-link-'));
  const ready = join(dir, 'ready');
  // The source waits (at most 10 s) until the sink inside has bound its port.
  const wait = `i=0; while [ ! -e '${ready}' ] && [ $i -lt 200 ]; do sleep 0.05; i=$((i+1)); done`;
  const r = await outer.link(
    [
      '--down',
      ...faults,
      '--json',
      '--outside',
      `${wait}; exec python3 '${LINK_PEER}' udp-source "$SOCKLAB_LINK_ADDRESS" ${port} ${n} 200 100`,
      '--',
      'python3',
      LINK_PEER,
      'udp-sink',
      String(port),
      ready,
    ],
    { timeoutMs: 60_000 },
  );
  rmSync(dir, { recursive: true, force: true });
  assert.equal(r.code, 0, r.stderr);
  return { sink: peerJson<UdpSinkResult>(r.stdout), counters: jsonCounters(r.stderr) };
}

test(
  '--corrupt 10% --corrupt-checksum stale: the receiving kernel drops them and counts checksum errors',
  { skip },
  async () => {
    const n = 2000;
    const { sink, counters } = await udpInward(['--corrupt', '10%', '--seed', '15'], n);
    const corrupted = counters.down.counters.corrupted!.packets;
    assertBinomial(corrupted, n, 0.1, 'corrupted');
    assert.equal(sink.damaged, 0, 'nothing damaged reached the application');
    assert.equal(sink.seqs.length, n - corrupted);
    const k = counters.kernel;
    assert.equal(k.udpInErrors, corrupted, 'the kernel rejected every damaged datagram');
    // A flipped bit in the length field is a length error; anywhere else, a checksum error.
    assert.ok(k.udpInCsumErrors! >= 0.85 * corrupted, `InCsumErrors ${k.udpInCsumErrors} of ${corrupted}`);
  },
);

test('--corrupt 10% --corrupt-checksum recompute: the damage reaches the application', { skip }, async () => {
  const n = 2000;
  const { sink, counters } = await udpInward(
    ['--corrupt', '10%', '--corrupt-checksum', 'recompute', '--seed', '15'],
    n,
  );
  const corrupted = counters.down.counters.corrupted!.packets;
  assertBinomial(corrupted, n, 0.1, 'corrupted');
  assert.equal(sink.damaged, corrupted, 'every damaged datagram was delivered, damaged');
  assert.equal(sink.seqs.length, n - corrupted);
  assert.equal(counters.kernel.udpInCsumErrors, 0);
  assert.equal(counters.kernel.udpInErrors, 0);
});
