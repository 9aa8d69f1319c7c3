/**
 * The report's chart data, from a result's per-message detail: downsampled to a bounded number of
 * points for a million messages, while every loss stays visible (a loss in a bucket marks it).
 */
import { VERDICT, VERDICT_NAMES, type LaneDetail } from '../analyze.js';
import { detailOf, type CompareResult } from '../compare.js';

/** Points per lane in the per-message charts, at most. */
export const MAX_POINTS = 4000;
/** Cells of the verdict strip per lane, at most. */
export const STRIP_CELLS = 1000;
const HISTOGRAM_BINS = 40;

export type Point = readonly [number, number];

export interface LaneCharts {
  /** Latency per message over send time: [seconds, ms]; min and max of each bucket when downsampled. */
  readonly latency: Point[];
  /** Lost (or corrupted and not delivered) messages: [seconds, ms] with ms the lane's median. */
  readonly lost: Point[];
  /** Late messages (held back): [seconds, ms]. */
  readonly late: Point[];
  /** Send order vs arrival order: [sequence, places out of line] (0: arrived in its place). */
  readonly order: Point[];
  /** Per strip cell (message index of its start), the worst verdict in it. */
  readonly strip: { readonly verdict: number; readonly cells: number[] }[];
  /** Latency histogram: counts per bin. */
  readonly histogram: number[];
}

export interface ReportData {
  readonly lanes: { readonly tcp?: LaneCharts; readonly udp?: LaneCharts };
  readonly histogramBins: number[];
  readonly stripCellSize: number;
  readonly messages: number;
  readonly verdictNames: readonly string[];
  /** Sweep curves: x labels and per series its values. */
  readonly sweep?: {
    readonly fault: string;
    readonly values: string[];
    readonly series: Record<string, (number | null)[]>;
  };
}

const r3 = (x: number) => Math.round(x * 1000) / 1000;

function laneCharts(detail: LaneDetail, bins: number[]): LaneCharts {
  const n = detail.verdicts.length;
  const bucket = Math.max(1, Math.ceil(n / (MAX_POINTS / 2)));
  const latency: Point[] = [];
  const lost: Point[] = [];
  const late: Point[] = [];
  const order: Point[] = [];
  let sum = 0;
  let seen = 0;
  const sorted: number[] = [];
  for (let i = 0; i < n; i += Math.max(1, Math.floor(n / 2000))) {
    const l = detail.latencyMs[i]!;
    if (!Number.isNaN(l)) sorted.push(l);
  }
  sorted.sort((a, b) => a - b);
  const median = sorted[Math.floor(sorted.length / 2)] ?? 0;
  let deliveredBefore = 0;
  const placeOf = new Float64Array(bucket);
  for (let start = 0; start < n; start += bucket) {
    const end = Math.min(n, start + bucket);
    let lo = -1;
    let hi = -1;
    let lostAt = -1;
    let lateAt = -1;
    let outOfOrder = -1;
    for (let i = start; i < end; i++) {
      const l = detail.latencyMs[i]!;
      const v = detail.verdicts[i]!;
      if (v === VERDICT.lost || v === VERDICT.corruptedDelivered) {
        if (lostAt < 0) lostAt = i;
      } else if (v === VERDICT.late && lateAt < 0) lateAt = i;
      else if (v === VERDICT.outOfOrder && outOfOrder < 0) outOfOrder = i;
      if (Number.isNaN(l)) continue;
      sum += l;
      seen += 1;
      if (lo < 0 || l < detail.latencyMs[lo]!) lo = i;
      if (hi < 0 || l > detail.latencyMs[hi]!) hi = i;
    }
    const at = (i: number) => r3(detail.sendMs[i]! / 1000);
    for (const i of lo === hi ? [lo] : lo < hi ? [lo, hi] : [hi, lo])
      if (i >= 0) latency.push([at(i), r3(detail.latencyMs[i]!)]);
    if (lostAt >= 0 && !Number.isNaN(detail.sendMs[lostAt]!)) lost.push([at(lostAt), r3(median)]);
    if (lateAt >= 0) late.push([at(lateAt), r3(detail.latencyMs[lateAt]!)]);
    // Places out of line: arrival rank minus the rank it would have had in order.
    for (let i = start; i < end; i++) {
      if (detail.arrivalRank[i] !== 0xffffffff) placeOf[i - start] = deliveredBefore++;
    }
    const pick = outOfOrder >= 0 ? outOfOrder : hi >= 0 ? hi : -1;
    if (pick >= 0 && detail.arrivalRank[pick] !== 0xffffffff)
      order.push([pick, detail.arrivalRank[pick]! - placeOf[pick - start]!]);
  }
  void sum;
  void seen;
  // The strip: the worst verdict of each cell.
  const cell = Math.max(1, Math.ceil(n / STRIP_CELLS));
  const byVerdict = new Map<number, number[]>();
  for (let start = 0; start < n; start += cell) {
    let worst = 0;
    for (let i = start; i < Math.min(n, start + cell); i++) worst = Math.max(worst, detail.verdicts[i]!);
    const list = byVerdict.get(worst) ?? [];
    list.push(start);
    byVerdict.set(worst, list);
  }
  const strip = [...byVerdict.entries()]
    .sort((a, b) => a[0] - b[0])
    .map(([verdict, cells]) => ({ verdict, cells }));
  const histogram = new Array<number>(bins.length - 1).fill(0);
  const width = bins[1]! - bins[0]!;
  for (let i = 0; i < n; i++) {
    const l = detail.latencyMs[i]!;
    if (Number.isNaN(l)) continue;
    const b = Math.min(histogram.length - 1, Math.max(0, Math.floor((l - bins[0]!) / width)));
    histogram[b]! += 1;
  }
  return { latency, lost, late, order, strip, histogram };
}

/** Bin edges shared by both lanes: from the smallest latency to the largest (all values counted). */
function binsOf(details: LaneDetail[]): number[] {
  let lo = Number.POSITIVE_INFINITY;
  let hi = Number.NEGATIVE_INFINITY;
  for (const d of details)
    for (const l of d.latencyMs) {
      if (Number.isNaN(l)) continue;
      if (l < lo) lo = l;
      if (l > hi) hi = l;
    }
  if (!Number.isFinite(lo)) return [0, 1];
  if (hi - lo < 0.01) hi = lo + 0.01;
  const width = (hi - lo) / HISTOGRAM_BINS;
  return Array.from({ length: HISTOGRAM_BINS + 1 }, (_, i) => r3(lo + i * width));
}

export function reportData(result: CompareResult): ReportData {
  const detail = detailOf(result) ?? {};
  const present = (['tcp', 'udp'] as const).filter((t) => detail[t] !== undefined);
  const bins = binsOf(present.map((t) => detail[t]!));
  const lanes: { tcp?: LaneCharts; udp?: LaneCharts } = {};
  for (const t of present) lanes[t] = laneCharts(detail[t]!, bins);
  const messages = present.length > 0 ? detail[present[0]!]!.verdicts.length : 0;
  let sweep: ReportData['sweep'];
  if (result.sweep) {
    const pts = result.sweep.points;
    const pick = (f: (p: (typeof pts)[number]) => number | undefined) => pts.map((p) => f(p) ?? null);
    sweep = {
      fault: result.sweep.fault,
      values: pts.map((p) => p.value),
      series: {
        'TCP latency p50 (ms)': pick((p) => p.lanes.tcp?.latency_ms.p50),
        'TCP latency p99 (ms)': pick((p) => p.lanes.tcp?.latency_ms.p99),
        'UDP latency p99 (ms)': pick((p) => p.lanes.udp?.latency_ms.p99),
        'TCP delivered (%)': pick((p) =>
          p.lanes.tcp && p.lanes.tcp.sent > 0 ? (100 * p.lanes.tcp.delivered) / p.lanes.tcp.sent : undefined,
        ),
        'UDP delivered (%)': pick((p) =>
          p.lanes.udp && p.lanes.udp.sent > 0 ? (100 * p.lanes.udp.delivered) / p.lanes.udp.sent : undefined,
        ),
      },
    };
  }
  return {
    lanes,
    histogramBins: bins,
    stripCellSize: Math.max(1, Math.ceil(messages / STRIP_CELLS)),
    messages,
    verdictNames: VERDICT_NAMES,
    ...(sweep !== undefined ? { sweep } : {}),
  };
}
