/**
 * Time, injected, for everything that measures or schedules (the relay's pipelines, bench, the
 * demo): the real clock when running, a manual one in tests, so timing logic (delays, rates,
 * jitter, intervals) is tested exactly and without sleeping.
 */
import { performance } from 'node:perf_hooks';

export interface Clock {
  /** Milliseconds, monotonic, fractional (microsecond resolution); only differences mean anything. */
  now(): number;
  /** Run `fn` once the clock reaches `atMs` (at once, soon, if it already has). Returns a cancel. */
  setTimer(atMs: number, fn: () => void): () => void;
}

/** The real clock: performance.now() (cheap enough per datagram) and setTimeout (never early). */
export const realClock: Clock = {
  now: () => performance.now(),
  setTimer(atMs, fn) {
    const arm = (): NodeJS.Timeout =>
      setTimeout(
        () => {
          // setTimeout counts whole milliseconds on the loop's clock: never run before atMs.
          if (performance.now() < atMs) handle = arm();
          else fn();
        },
        Math.max(0, Math.ceil(atMs - performance.now())),
      );
    let handle = arm();
    return () => clearTimeout(handle);
  },
};

/** A clock that moves only when told: `advance(ms)` runs the timers that fall due, in order. */
export class ManualClock implements Clock {
  #now: number;
  #seq = 0;
  readonly #timers = new Map<number, { atMs: number; seq: number; fn: () => void }>();

  constructor(startMs = 0) {
    this.#now = startMs;
  }

  now(): number {
    return this.#now;
  }

  setTimer(atMs: number, fn: () => void): () => void {
    const id = this.#seq++;
    this.#timers.set(id, { atMs, seq: id, fn });
    return () => this.#timers.delete(id);
  }

  /** Timers not yet run. */
  get pending(): number {
    return this.#timers.size;
  }

  /** Move time forward by `ms`, running every timer due on the way at its own time. */
  advance(ms: number): void {
    this.advanceTo(this.#now + ms);
  }

  advanceTo(targetMs: number): void {
    for (;;) {
      let next: { id: number; atMs: number; seq: number; fn: () => void } | undefined;
      for (const [id, t] of this.#timers) {
        if (
          t.atMs <= targetMs &&
          (next === undefined || t.atMs < next.atMs || (t.atMs === next.atMs && t.seq < next.seq))
        ) {
          next = { id, ...t };
        }
      }
      if (next === undefined) break;
      this.#timers.delete(next.id);
      this.#now = Math.max(this.#now, next.atMs);
      next.fn();
    }
    this.#now = Math.max(this.#now, targetMs);
  }

  /** Run timers until none is left (or `limitMs` of clock time has passed). */
  runAll(limitMs = 3_600_000): void {
    const end = this.#now + limitMs;
    while (this.#timers.size > 0) {
      const first = Math.min(...[...this.#timers.values()].map((t) => t.atMs));
      if (first > end) break;
      this.advanceTo(Math.max(first, this.#now));
    }
  }
}
