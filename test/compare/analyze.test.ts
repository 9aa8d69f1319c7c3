/** The verdicts, exactly, on records made by hand: what each one means. */
import assert from 'node:assert/strict';
import { test } from 'node:test';
import { analyzeLane, emptyRecords, VERDICT } from '../../src/compare/analyze.js';
import type { Transport } from '../../src/address.js';

/** Ten messages sent every 10 ms; `arrive[i]` in ms after its own send (undefined: never), copies. */
function lane(
  transport: Transport,
  arriveAt: (number | undefined)[],
  extra: { copies?: number[]; corrupt?: number[]; rtt?: (number | undefined)[] } = {},
) {
  const n = arriveAt.length;
  const { send, receive } = emptyRecords(n);
  const order = arriveAt
    .map((at, i) => ({ i, t: at === undefined ? undefined : 10 * i + at }))
    .filter((x): x is { i: number; t: number } => x.t !== undefined)
    .sort((a, b) => a.t - b.t || a.i - b.i);
  for (let i = 0; i < n; i++) send.sendMs[i] = 10 * i;
  order.forEach(({ i, t }, rank) => {
    receive.arriveMs[i] = t;
    receive.arrivalRank[i] = rank;
    receive.copies[i] = extra.copies?.[i] ?? 1;
  });
  extra.corrupt?.forEach((c, i) => (receive.corrupt[i] = c));
  const rttMs = extra.rtt ? Float64Array.from(extra.rtt.map((x) => x ?? Number.NaN)) : new Float64Array(0);
  return analyzeLane({
    transport,
    workload: extra.rtt
      ? { kind: 'request', requests: n, sizeBytes: 100 }
      : { kind: 'paced', messages: n, sizeBytes: 100, intervalMs: 10 },
    send: { ...send, rttMs, sent: n },
    receive,
    status: 'ok',
    originMs: 0,
  });
}

test('TCP: a message slowed by 45 ms holds back the four sent after it (a ramp), which are late', () => {
  // Message 2 takes 50 ms (arrives at 70); 3..6 are ready at 35, 45, 55, 65 but come out with it at 70.
  const { result, detail } = lane('tcp', [5, 5, 50, 40, 30, 20, 10, 5, 5, 5]);
  assert.equal(result.late, 4);
  assert.deepEqual([...detail.verdicts], [0, 0, 0, 1, 1, 1, 1, 0, 0, 0]);
  assert.equal(result.reordered, 0);
  assert.deepEqual([...detail.latencyMs].slice(2, 7), [50, 40, 30, 20, 10], 'the ramp');
});

test('UDP: the same delay makes no one wait; a later message overtaking an earlier one is out of order', () => {
  const { result, detail } = lane('udp', [5, 5, 50, 5, 5, 5, 5, 5, 5, 5]);
  assert.equal(result.late, 0);
  assert.equal(result.reordered, 1);
  assert.equal(detail.verdicts[2], VERDICT.outOfOrder);
});

test('lost, duplicated and corrupted-only messages each get their verdict and count', () => {
  const { result, detail } = lane('udp', [5, undefined, 5, 5, undefined, 5, 5, 5, 5, 5], {
    copies: [1, 0, 2, 1, 0, 1, 1, 1, 1, 1],
    corrupt: [0, 0, 0, 0, 1, 0, 0, 0, 0, 0],
  });
  assert.deepEqual([result.delivered, result.lost, result.duplicated, result.corrupted], [8, 1, 1, 1]);
  assert.equal(detail.verdicts[1], VERDICT.lost);
  assert.equal(detail.verdicts[2], VERDICT.duplicated);
  assert.equal(detail.verdicts[4], VERDICT.corruptedDelivered);
});

test('request/response: a request that arrived but whose answer did not is lost; latency is the round trip', () => {
  const { result, detail } = lane('udp', [1, 1, 1, 1, 1, 1, 1, 1, 1, 1], {
    rtt: [2, 2, undefined, 2, 2, 2, 2, 2, 2, 3],
  });
  assert.equal(result.lost, 1);
  assert.equal(result.delivered, 9);
  assert.equal(detail.verdicts[2], VERDICT.lost);
  assert.equal(result.latency_kind, 'round-trip');
  assert.equal(result.latency_ms.max, 3);
});
