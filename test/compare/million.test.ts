/**
 * A million messages: the per-message record is typed arrays (bounded memory), and the report's
 * charts are downsampled to a bounded number of points while every loss stays visible.
 */
import assert from 'node:assert/strict';
import { test } from 'node:test';
import { analyzeLane, emptyRecords, VERDICT } from '../../src/compare/analyze.js';
import type { CompareResult } from '../../src/compare/compare.js';
import { MAX_POINTS, reportData, STRIP_CELLS } from '../../src/compare/report/chart-data.js';
import { createRandom } from '../../src/impair/random.js';

const N = 1_000_000;

test('a million messages: analysed in typed arrays, charted in bounded points, every loss marked', () => {
  const before = process.memoryUsage().heapUsed + process.memoryUsage().arrayBuffers;
  const random = createRandom(7);
  const { send, receive } = emptyRecords(N);
  const sendMs = send.sendMs;
  const arriveMs = receive.arriveMs;
  const copies = receive.copies;
  const rank = receive.arrivalRank;
  const lostAt: number[] = [];
  let r = 0;
  for (let i = 0; i < N; i++) {
    sendMs[i] = 1000 + i;
    if (random.next() < 0.001) {
      lostAt.push(i);
      continue;
    }
    arriveMs[i] = sendMs[i]! + 5 + random.next();
    copies[i] = 1;
    rank[i] = r++;
  }
  const { result, detail } = analyzeLane({
    transport: 'udp',
    workload: { kind: 'paced', messages: N, sizeBytes: 100, intervalMs: 1 },
    send: { ...send, sent: N },
    receive,
    status: 'ok',
    originMs: 1000,
  });
  assert.equal(result.lost, lostAt.length);
  assert.equal(result.delivered, N - lostAt.length);
  assert.ok(result.latency_ms.p50 > 5 && result.latency_ms.p50 < 6);
  const compared = { lanes: { udp: result } } as unknown as CompareResult;
  Object.defineProperty(compared, Symbol.for('socklab.compare.detail'), { value: { udp: detail } });
  const data = reportData(compared);
  const udp = data.lanes.udp!;
  assert.ok(udp.latency.length <= MAX_POINTS, `${udp.latency.length} latency points`);
  assert.ok(udp.order.length <= MAX_POINTS);
  const cells = udp.strip.reduce((sum, s) => sum + s.cells.length, 0);
  assert.ok(cells <= STRIP_CELLS);
  // Every loss visible: one marker per chart bucket that holds a loss, one red cell per strip cell that does.
  const bucket = Math.ceil(N / (MAX_POINTS / 2));
  assert.equal(udp.lost.length, new Set(lostAt.map((i) => Math.floor(i / bucket))).size);
  const lostCells = udp.strip.find((s) => s.verdict === VERDICT.lost)?.cells.length ?? 0;
  assert.equal(lostCells, new Set(lostAt.map((i) => Math.floor(i / data.stripCellSize))).size);
  assert.equal(
    udp.histogram.reduce((a, b) => a + b, 0),
    N - lostAt.length,
  );
  const grown = process.memoryUsage().heapUsed + process.memoryUsage().arrayBuffers - before;
  assert.ok(grown < 150 * 1024 * 1024, `grew ${Math.round(grown / 1048576)} MiB`);
});
