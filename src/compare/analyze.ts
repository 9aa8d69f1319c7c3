/**
 * From what the two ends of a lane recorded to a verdict per message and the lane's figures.
 * Pure code: typed arrays in, a LaneResult (the JSON) and a LaneDetail (the report's data) out.
 */
import type { Transport } from '../address.js';
import { LatencyHistogram } from '../measure/latency-histogram.js';
import type { ReceiveRecord, SendRecord, Workload } from './protocol.js';
import { HEADER_BYTES } from './message.js';

/** A message's verdict, one byte per message (the report's strip). Lower is better. */
export const VERDICT = {
  onTime: 0,
  late: 1,
  duplicated: 2,
  outOfOrder: 3,
  corruptedCaught: 4,
  corruptedDelivered: 5,
  lost: 6,
  notSent: 7,
} as const;
export const VERDICT_NAMES = [
  'on time',
  'late',
  'duplicated',
  'out of order',
  'corrupted, caught',
  'corrupted, delivered',
  'lost',
  'not sent',
] as const;

/**
 * Two messages delivered within this of each other, though sent further apart than twice this,
 * came out together: the second was held back behind the first (head-of-line blocking).
 */
export const BUNCH_MS = 1;

/**
 * ... and it took more than this over the lane's quickest message: a bunch that all arrived about
 * as fast as the path allows (two reads' worth handed over in one turn of a busy event loop) is
 * not head-of-line blocking, and is not counted late.
 */
export const LATE_MARGIN_MS = 2;

/** ok; failed (the reason in `error`); deadline (the run's time was up); stopped (its signal aborted it). */
export type LaneStatus = 'ok' | 'failed' | 'deadline' | 'stopped';

/** One lane's figures: the keys of `--json` (stable). */
export interface LaneResult {
  readonly transport: Transport;
  readonly status: LaneStatus;
  readonly error?: string;
  readonly sent: number;
  readonly delivered: number;
  readonly late: number;
  readonly lost: number;
  readonly duplicated: number;
  readonly reordered: number;
  readonly corrupted: number;
  readonly goodput_bps: number;
  readonly duration_ms: number;
  /** One-way (paced, bulk) or round trip (request/response), of messages delivered intact.
   * Request/response: delivered means answered; a request or an answer lost makes it lost. */
  readonly latency_kind: 'one-way' | 'round-trip';
  readonly latency_ms: {
    readonly p50: number;
    readonly p99: number;
    readonly max: number;
    readonly min: number;
  };
  /** Of the late messages: how much later than the lane's median latency, at most. */
  readonly late_by_ms_max: number;
  /** TCP: the kernel's retransmissions when its counters were read (null via the relay). */
  readonly retransmissions?: number | null;
  /** What the faults did on the way (the relay's counters, sender → receiver). */
  readonly path?: Readonly<Record<string, number>>;
}

/** Per message, for the report; times in ms from the run's start. */
export interface LaneDetail {
  readonly verdicts: Uint8Array;
  readonly sendMs: Float64Array;
  /** NaN when not delivered. */
  readonly latencyMs: Float64Array;
  readonly arrivalRank: Uint32Array;
}

export interface LaneInput {
  readonly transport: Transport;
  readonly workload: Workload;
  readonly send: SendRecord;
  readonly receive: ReceiveRecord;
  readonly status: LaneStatus;
  readonly error?: string;
  /** The run's start on the shared clock. */
  readonly originMs: number;
  readonly path?: Readonly<Record<string, number>>;
  /** TCP: the kernel's retransmissions on the sender's side; null where they cannot be read. */
  readonly retransmissions?: number | null;
}

const round = (x: number, digits = 3) => {
  const f = 10 ** digits;
  return Math.round(x * f) / f;
};

export function analyzeLane(input: LaneInput): { result: LaneResult; detail: LaneDetail } {
  const { send, receive, workload } = input;
  const count = send.sendMs.length;
  const verdicts = new Uint8Array(count);
  const latencyMs = new Float64Array(count).fill(Number.NaN);
  const sendRel = new Float64Array(count);
  const histogram = new LatencyHistogram();
  const roundTrip = workload.kind === 'request';
  let delivered = 0;
  let duplicated = 0;
  let corruptOnly = 0;
  let corrupted = receive.strayCorrupt;
  let firstSend = Number.POSITIVE_INFINITY;
  let lastArrival = Number.NEGATIVE_INFINITY;
  for (let i = 0; i < count; i++) {
    const s = send.sendMs[i]!;
    sendRel[i] = Number.isNaN(s) ? Number.NaN : s - input.originMs;
    corrupted += receive.corrupt[i]!;
    if (Number.isNaN(s)) {
      verdicts[i] = VERDICT.notSent;
      continue;
    }
    if (s < firstSend) firstSend = s;
    // Request/response: a request whose answer never came is lost, as its sender sees it.
    const copies = roundTrip && Number.isNaN(send.rttMs[i]!) ? 0 : receive.copies[i]!;
    if (copies === 0) {
      if (receive.corrupt[i]! > 0) {
        verdicts[i] = VERDICT.corruptedDelivered;
        corruptOnly += 1;
      } else verdicts[i] = VERDICT.lost;
      continue;
    }
    delivered += 1;
    const arrive = receive.arriveMs[i]!;
    if (arrive > lastArrival) lastArrival = arrive;
    const latency = roundTrip ? send.rttMs[i]! : arrive - s;
    if (!Number.isNaN(latency)) {
      latencyMs[i] = latency;
      histogram.recordMs(Math.max(latency, 0));
    }
    if (copies > 1) {
      duplicated += 1;
      verdicts[i] = VERDICT.duplicated;
    }
  }
  // Out of order: delivered after a message sent later (a smaller sequence number, a later rank).
  let reordered = 0;
  let minRankAfter = 0xffffffff;
  for (let i = count - 1; i >= 0; i--) {
    const rank = receive.arrivalRank[i]!;
    if (rank === 0xffffffff || verdicts[i] === VERDICT.lost) continue;
    if (rank > minRankAfter) {
      reordered += 1;
      verdicts[i] = VERDICT.outOfOrder;
    } else minRankAfter = rank;
  }
  const summary = histogram.summary();
  const p50 = summary.p50_us / 1000;
  const minMs = summary.min_us / 1000;
  // Late (a stream only: a datagram is never held back by another): in order, but delivered
  // together with the message before it although sent well after it, and slower than the path's best.
  let late = 0;
  let lateByMax = 0;
  if (input.transport === 'tcp') {
    let prev = -1;
    for (let i = 0; i < count; i++) {
      if (receive.copies[i] === 0 || Number.isNaN(send.sendMs[i]!) || verdicts[i] === VERDICT.lost) continue;
      if (prev >= 0 && verdicts[i] === VERDICT.onTime) {
        const arriveGap = receive.arriveMs[i]! - receive.arriveMs[prev]!;
        const sendGap = send.sendMs[i]! - send.sendMs[prev]!;
        const latency = receive.arriveMs[i]! - send.sendMs[i]!;
        if (arriveGap <= BUNCH_MS && sendGap >= 2 * BUNCH_MS && latency - minMs > LATE_MARGIN_MS) {
          const overMedian = latency - p50;
          late += 1;
          verdicts[i] = VERDICT.late;
          if (overMedian > lateByMax) lateByMax = overMedian;
        }
      }
      prev = i;
    }
  }
  const durationMs = lastArrival > firstSend ? lastArrival - firstSend : 0;
  const payload = Math.max(workload.sizeBytes, HEADER_BYTES);
  const result: LaneResult = {
    transport: input.transport,
    status: input.status,
    ...(input.error !== undefined ? { error: input.error } : {}),
    sent: send.sent,
    delivered,
    late,
    lost: send.sent - delivered - corruptOnly,
    duplicated,
    reordered,
    corrupted,
    goodput_bps: durationMs > 0 ? Math.round((delivered * payload * 8 * 1000) / durationMs) : 0,
    duration_ms: round(durationMs, 1),
    latency_kind: roundTrip ? 'round-trip' : 'one-way',
    latency_ms: {
      p50: round(p50),
      p99: round(summary.p99_us / 1000),
      max: round(summary.max_us / 1000),
      min: round(summary.min_us / 1000),
    },
    late_by_ms_max: round(lateByMax, 1),
    ...(input.transport === 'tcp' ? { retransmissions: input.retransmissions ?? null } : {}),
    ...(input.path !== undefined ? { path: input.path } : {}),
  };
  return { result, detail: { verdicts, sendMs: sendRel, latencyMs, arrivalRank: receive.arrivalRank } };
}

/** An empty record, for a lane that failed before it sent or received anything. */
export function emptyRecords(count: number): { send: SendRecord; receive: ReceiveRecord } {
  return {
    send: { sendMs: new Float64Array(count).fill(Number.NaN), rttMs: new Float64Array(0), sent: 0 },
    receive: {
      arriveMs: new Float64Array(count).fill(Number.NaN),
      stampMs: new Float64Array(count).fill(Number.NaN),
      copies: new Uint16Array(count),
      corrupt: new Uint16Array(count),
      arrivalRank: new Uint32Array(count).fill(0xffffffff),
      strayCorrupt: 0,
      ended: false,
    },
  };
}
