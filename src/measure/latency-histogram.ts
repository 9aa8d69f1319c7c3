/**
 * Latency percentiles with a real HDR histogram (hdr-histogram-js): constant memory, 3 significant
 * digits at any magnitude, and exact min/max. Values are recorded in nanoseconds so that loopback
 * round trips (tens of microseconds) keep their precision; reported in microseconds.
 */
import hdr from 'hdr-histogram-js';

/** The ladder sockperf prints, plus the median. */
export const PERCENTILES = [50, 90, 99, 99.9, 99.99] as const;

/** Longest value tracked: one minute. A slower round trip is recorded as one minute. */
const HIGHEST_TRACKABLE_NS = 60e9;

export interface LatencySummary {
  readonly count: number;
  readonly min_us: number;
  readonly mean_us: number;
  readonly p50_us: number;
  readonly p90_us: number;
  readonly p99_us: number;
  readonly p99_9_us: number;
  readonly p99_99_us: number;
  readonly max_us: number;
}

export class LatencyHistogram {
  readonly #histogram = hdr.build({
    lowestDiscernibleValue: 1,
    highestTrackableValue: HIGHEST_TRACKABLE_NS,
    numberOfSignificantValueDigits: 3,
    // Plain 32-bit counts (~150 KB): recording is an index and an increment; the packed layout
    // saves memory but showed up at ~4 % of a ping-pong client's CPU.
    bitBucketSize: 32,
    useWebAssembly: false,
  });

  recordMs(latencyMs: number): void {
    const ns = Math.round(latencyMs * 1e6);
    this.#histogram.recordValue(Math.min(Math.max(ns, 1), HIGHEST_TRACKABLE_NS));
  }

  get count(): number {
    return this.#histogram.totalCount;
  }

  /** Adds every value of `other` (one histogram per connection or per interval, merged). */
  add(other: LatencyHistogram): void {
    this.#histogram.add(other.#histogram);
  }

  reset(): void {
    this.#histogram.reset();
  }

  summary(): LatencySummary {
    const h = this.#histogram;
    const us = (ns: number) => Math.round(ns / 10) / 100; // µs with 2 decimals
    const empty = h.totalCount === 0;
    // HDR reports a percentile as the top of its bucket, which can exceed the exact maximum.
    const at = (p: number) => us(Math.min(h.getValueAtPercentile(p), h.maxValue));
    return {
      count: h.totalCount,
      min_us: empty ? 0 : us(h.minNonZeroValue),
      mean_us: empty ? 0 : us(h.mean),
      p50_us: at(50),
      p90_us: at(90),
      p99_us: at(99),
      p99_9_us: at(99.9),
      p99_99_us: at(99.99),
      max_us: empty ? 0 : us(h.maxValue),
    };
  }
}
