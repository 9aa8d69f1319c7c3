/**
 * compare() over real sockets through the relay on 127.0.0.1: what each lane shows under each
 * fault, seeded so every run drops the same messages.
 */
import assert from 'node:assert/strict';
import { test } from 'node:test';
import { VERDICT } from '../../src/compare/analyze.js';
import { compare, detailOf, type CompareResult } from '../../src/compare/compare.js';
import type { FaultSpec } from '../../src/impair/fault.js';

const SEED = 20261207;
const paced = (messages: number, intervalMs = 1) =>
  ({ kind: 'paced', messages, sizeBytes: 200, intervalMs }) as const;

async function run(
  faults: FaultSpec[],
  messages = 400,
  extra: { agents?: 'local' | 'child'; seed?: number } = {},
) {
  return compare({
    workload: paced(messages),
    faults,
    seed: extra.seed ?? SEED,
    via: 'relay',
    deadlineMs: 60_000,
    ...(extra.agents !== undefined ? { agents: extra.agents } : {}),
    signal: AbortSignal.timeout(90_000),
  });
}

function lanes(result: CompareResult) {
  const { tcp, udp } = result.lanes;
  assert.ok(tcp && udp, 'both lanes reported');
  assert.equal(tcp.status, 'ok', tcp.error);
  assert.equal(udp.status, 'ok', udp.error);
  return { tcp, udp };
}

/** Bounds that a binomial count falls outside of about once in a million runs (4.9 sigma). */
function binomialBounds(n: number, p: number): [number, number] {
  const sd = Math.sqrt(n * p * (1 - p));
  return [Math.floor(n * p - 4.9 * sd), Math.ceil(n * p + 4.9 * sd)];
}

test('no faults: both lanes deliver every message, in order, once, intact', async () => {
  const result = await run([], 500);
  const { tcp, udp } = lanes(result);
  for (const lane of [tcp, udp]) {
    assert.equal(lane.sent, 500);
    assert.equal(lane.delivered, 500);
    assert.equal(lane.lost, 0);
    assert.equal(lane.duplicated, 0);
    assert.equal(lane.reordered, 0);
    assert.equal(lane.corrupted, 0);
    assert.ok(lane.latency_ms.p50 > 0 && lane.latency_ms.max >= lane.latency_ms.p99);
  }
  assert.equal(result.via, 'relay');
  assert.equal(result.seed, SEED);
  assert.equal(tcp.retransmissions, null, 'not known through the relay');
});

test('--duplicate 5%: only the UDP lane shows duplicates, as many as the relay made', async () => {
  const n = 1000;
  const { tcp, udp } = lanes(await run([{ type: 'duplicate', params: { duplicateRate: '5%' } }], n));
  assert.equal(tcp.duplicated, 0);
  assert.equal(tcp.delivered, n);
  const [lo, hi] = binomialBounds(n, 0.05);
  assert.ok(
    udp.duplicated >= Math.max(1, lo) && udp.duplicated <= hi,
    `UDP duplicated ${udp.duplicated}, expected ${lo}..${hi}`,
  );
  assert.equal(udp.duplicated, udp.path?.duplicated, "each of the relay's copies seen once");
  assert.equal(udp.delivered, n);
});

test('--delay --jitter --reorder: only UDP has messages out of order; TCP keeps the order and shows them late', async () => {
  const result = await run(
    [
      { type: 'delay', params: { delayMs: '10ms', jitterMs: '4ms' } },
      { type: 'reorder', params: { reorderRate: '25%' } },
    ],
    600,
  );
  const { tcp, udp } = lanes(result);
  assert.equal(tcp.reordered, 0);
  assert.equal(tcp.delivered, 600);
  assert.ok(tcp.late > 0, 'TCP: messages held back behind earlier ones');
  assert.ok(udp.reordered > 0, 'UDP: messages out of order');
  assert.equal(udp.late, 0, 'a datagram never waits for another');
  assert.match(result.reading.join(' '), /held back behind an earlier message/);
});

test('--loss 5%: UDP loses within binomial bounds and as the relay dropped; TCP delivers all, in order', async () => {
  const n = 2000;
  const result = await run([{ type: 'loss', params: { lossRate: '5%' } }], n);
  const { tcp, udp } = lanes(result);
  const [lo, hi] = binomialBounds(n, 0.05);
  assert.ok(udp.lost >= lo && udp.lost <= hi, `UDP lost ${udp.lost}, expected ${lo}..${hi}`);
  assert.equal(udp.lost, udp.path?.dropped, "the receiver's count reconciles with the relay's drops");
  assert.equal(udp.delivered + udp.lost, n);
  assert.equal(tcp.delivered, n);
  assert.equal(tcp.lost, 0);
  assert.equal(tcp.reordered, 0);
  assert.equal(tcp.corrupted, 0);
  assert.match(result.notes.join(' '), /TCP's stream was only delayed, never lossy/);
});

test('the same seed drops the same messages, whether the lane ends run here or in child processes', async () => {
  const faults: FaultSpec[] = [{ type: 'loss', params: { lossRate: '10%' } }];
  const lostOf = (result: CompareResult) => {
    const verdicts = detailOf(result)!.udp!.verdicts;
    return [...verdicts.keys()].filter((i) => verdicts[i] === VERDICT.lost);
  };
  const here = await run(faults, 300, { seed: 99 });
  const child = await run(faults, 300, { seed: 99, agents: 'child' });
  const other = await run(faults, 300, { seed: 100 });
  lanes(here);
  assert.equal(lanes(child).tcp.delivered, 300);
  assert.ok(lostOf(here).length > 0);
  assert.deepEqual(lostOf(child), lostOf(here), 'the same messages lost');
  assert.notDeepEqual(lostOf(other), lostOf(here), 'another seed, other messages');
});

test('--corrupt on UDP: the message checksum catches what UDP handed over', async () => {
  const { tcp, udp } = lanes(await run([{ type: 'corrupt', params: { corruptRate: '5%' } }], 600));
  assert.ok(udp.corrupted > 0);
  assert.equal(udp.corrupted, udp.path?.corrupted);
  assert.equal(udp.delivered + udp.lost + udp.corrupted, 600);
  assert.equal(tcp.corrupted, 0);
});

test('a lane that fails is reported failed, and the other lane still has its results', async () => {
  const result = await run([{ type: 'reset-after', params: { afterBytes: '4kb' } }], 300);
  const { tcp, udp } = result.lanes;
  assert.ok(tcp && udp);
  assert.equal(tcp.status, 'failed');
  assert.ok(tcp.error !== undefined && tcp.error.length > 0);
  assert.ok(tcp.delivered < 300);
  assert.equal(udp.status, 'ok');
  assert.equal(udp.delivered, 300);
  assert.match(result.reading[0]!, /^TCP failed/);
});

test('bulk and request/response workloads run on both lanes', async () => {
  const bulk = lanes(
    await compare({
      workload: { kind: 'bulk', bytes: 400_000, sizeBytes: 1000 },
      seed: SEED,
      via: 'relay',
      signal: AbortSignal.timeout(60_000),
    }),
  );
  assert.equal(bulk.tcp.delivered, 400);
  assert.ok(bulk.tcp.goodput_bps > 0);
  assert.ok(bulk.udp.delivered > 0);
  const rr = lanes(
    await compare({
      workload: { kind: 'request', requests: 100, sizeBytes: 100 },
      faults: [{ type: 'loss', params: { lossRate: '10%' } }],
      seed: SEED,
      via: 'relay',
      signal: AbortSignal.timeout(60_000),
    }),
  );
  assert.equal(rr.tcp.latency_kind, 'round-trip');
  assert.equal(rr.tcp.delivered, 100);
  assert.ok(rr.udp.lost > 0 && rr.udp.lost < 40, `UDP requests lost ${rr.udp.lost}`);
});

test('a sweep runs each value and reports one point per value', async () => {
  const result = await compare({
    workload: paced(300),
    sweep: {
      fault: 'loss',
      points: ['0', '10%'].map((value) => ({
        value,
        faults: [{ type: 'loss', params: { lossRate: value === '0' ? 0 : value } }],
      })),
    },
    seed: SEED,
    via: 'relay',
    signal: AbortSignal.timeout(60_000),
  });
  assert.deepEqual(
    result.sweep?.points.map((p) => p.value),
    ['0', '10%'],
  );
  assert.equal(result.sweep?.points[0]?.lanes.udp?.lost, 0);
  assert.ok((result.sweep?.points[1]?.lanes.udp?.lost ?? 0) > 0);
  assert.equal(result.sweep?.points[1]?.lanes.tcp?.delivered, 300);
});

test('bad workloads, and a stream fault through the link, are refused before anything runs', async () => {
  await assert.rejects(compare({ workload: paced(0) }), { code: 'SOCKLAB_ERR_USAGE' });
  await assert.rejects(
    compare({ workload: { kind: 'paced', messages: 5, sizeBytes: 65_508, intervalMs: 1 } }),
    {
      code: 'SOCKLAB_ERR_USAGE',
    },
  );
  await assert.rejects(
    compare({
      workload: paced(5),
      via: 'link',
      faults: [{ type: 'slice', params: { averageSizeBytes: 10 } }],
    }),
    { code: 'SOCKLAB_ERR_USAGE', message: /slice is a stream fault; the link carries IP packets/ },
  );
});
