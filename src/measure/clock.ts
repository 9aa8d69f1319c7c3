/**
 * Time as the measuring code sees it: milliseconds as a float, monotonic. Injected, so tests can
 * drive jitter, rates and intervals with a manual clock instead of sleeping.
 */
export interface Clock {
  /** Monotonic milliseconds (sub-millisecond resolution); only differences mean anything. */
  nowMs(): number;
}

/** performance.now(): monotonic, microsecond resolution, and cheap enough to call per datagram. */
export const systemClock: Clock = { nowMs: () => performance.now() };

export interface ManualClock extends Clock {
  advance(ms: number): void;
  set(ms: number): void;
}

export function manualClock(startMs = 0): ManualClock {
  let nowMs = startMs;
  return {
    nowMs: () => nowMs,
    advance: (ms) => {
      nowMs += ms;
    },
    set: (ms) => {
      nowMs = ms;
    },
  };
}
