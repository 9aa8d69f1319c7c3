/**
 * A clock whose timers wake the event loop within microseconds of their time: one timerfd
 * (CLOCK_MONOTONIC, absolute deadlines) from the native addon, and a heap of the timers set on it.
 * libuv's own timers count whole milliseconds (a 20 ms delay came out 20 to 21 ms), and spinning on
 * the event loop instead costs a core and, on a busy machine, loses to the scheduler. The link
 * (src/link/) runs its pipelines on it where the addon is built.
 */
import { performance } from 'node:perf_hooks';
import type { Clock } from '../measure/clock.js';
import { SocklabError } from '../errors.js';
import { addon } from './tun.js';

interface Entry {
  readonly atMs: number;
  readonly seq: number;
  readonly fn: () => void;
  cancelled: boolean;
}

function before(a: Entry, b: Entry): boolean {
  return a.atMs < b.atMs || (a.atMs === b.atMs && a.seq < b.seq);
}

export interface HrtimerClock extends Clock {
  /** Free the timer (pending timers never run). */
  close(): void;
}

/** A precise clock, or undefined where the native addon is not built. */
export function createHrtimerClock(): HrtimerClock | undefined {
  const native = addon();
  if (native === undefined) return undefined;
  // performance.now() and process.hrtime() both read libuv's CLOCK_MONOTONIC: the offset is fixed.
  const offsetNs = Number(process.hrtime.bigint()) - performance.now() * 1e6;
  const heap: Entry[] = [];
  let seq = 0;
  let armedAtMs: number | undefined;
  let closed = false;

  const push = (entry: Entry) => {
    heap.push(entry);
    for (let i = heap.length - 1; i > 0;) {
      const parent = (i - 1) >> 1;
      if (!before(heap[i]!, heap[parent]!)) break;
      [heap[i], heap[parent]] = [heap[parent]!, heap[i]!];
      i = parent;
    }
  };
  const pop = (): Entry => {
    const top = heap[0]!;
    const last = heap.pop()!;
    if (heap.length > 0) {
      heap[0] = last;
      for (let i = 0; ;) {
        const l = 2 * i + 1;
        const r = l + 1;
        let m = i;
        if (l < heap.length && before(heap[l]!, heap[m]!)) m = l;
        if (r < heap.length && before(heap[r]!, heap[m]!)) m = r;
        if (m === i) break;
        [heap[i], heap[m]] = [heap[m]!, heap[i]!];
        i = m;
      }
    }
    return top;
  };
  const arm = () => {
    while (heap.length > 0 && heap[0]!.cancelled) pop();
    if (closed) return;
    if (heap.length === 0) {
      if (armedAtMs !== undefined) native.timerStop(handle);
      armedAtMs = undefined;
      return;
    }
    const atMs = heap[0]!.atMs;
    if (armedAtMs === atMs) return;
    armedAtMs = atMs;
    native.timerArm(handle, offsetNs + atMs * 1e6);
  };
  const handle = native.timerOpen(() => {
    armedAtMs = undefined;
    const now = performance.now();
    while (heap.length > 0 && heap[0]!.atMs <= now) {
      const entry = pop();
      if (!entry.cancelled) entry.fn();
    }
    arm();
  });
  return {
    now: () => performance.now(),
    setTimer(atMs, fn) {
      const entry: Entry = { atMs, seq: seq++, fn, cancelled: false };
      push(entry);
      if (heap[0] === entry) arm();
      return () => {
        entry.cancelled = true;
      };
    },
    close() {
      if (closed) return;
      closed = true;
      heap.length = 0;
      native.timerClose(handle);
    },
  };
}

/**
 * Put this process's event loop under real-time scheduling (SCHED_FIFO at `priority`, reset on
 * fork: what it spawns runs as usual), so that a busy machine wakes it on time. Needs root (or
 * CAP_SYS_NICE) and the addon; throws a SocklabError saying which is missing. The kernel's
 * real-time throttling (kernel.sched_rt_runtime_us) still leaves 5 % of each CPU to the others.
 */
export function setRealtimePriority(priority = 10): void {
  const native = addon();
  if (native === undefined) {
    throw new SocklabError(
      'SOCKLAB_ERR_SOCKET',
      'cannot use real-time scheduling: the native addon is not built',
    );
  }
  const r = native.setRealtime(priority);
  if (r !== 0) {
    throw new SocklabError(
      'SOCKLAB_ERR_SOCKET',
      `cannot use real-time scheduling (SCHED_FIFO ${priority}): ${r === 'EPERM' ? 'needs root or CAP_SYS_NICE' : r} (${r})`,
    );
  }
}
