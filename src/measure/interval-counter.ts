/**
 * Bytes and packets counted per reporting interval and in total (iperf3's `-i`): the hot path only
 * adds; `take()` closes an interval at the clock's current time.
 */
import type { Clock } from './clock.js';

export interface IntervalSample {
  readonly startMs: number;
  readonly endMs: number;
  readonly bytes: number;
  readonly packets: number;
}

export class IntervalCounter {
  bytes = 0;
  packets = 0;
  #intervalBytes = 0;
  #intervalPackets = 0;
  #intervalStartMs: number;
  readonly #startMs: number;

  constructor(private readonly clock: Clock) {
    this.#startMs = clock.now();
    this.#intervalStartMs = this.#startMs;
  }

  add(bytes: number, packets = 1): void {
    this.bytes += bytes;
    this.packets += packets;
  }

  /** Closes the current interval; times are relative to the counter's creation. */
  take(): IntervalSample {
    const nowMs = this.clock.now();
    const sample = {
      startMs: this.#intervalStartMs - this.#startMs,
      endMs: nowMs - this.#startMs,
      bytes: this.bytes - this.#intervalBytes,
      packets: this.packets - this.#intervalPackets,
    };
    this.#intervalBytes = this.bytes;
    this.#intervalPackets = this.packets;
    this.#intervalStartMs = nowMs;
    return sample;
  }

  elapsedMs(): number {
    return this.clock.now() - this.#startMs;
  }
}
