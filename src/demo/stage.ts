/**
 * What every scene needs to leave nothing behind and never hang: a stack of closers run in
 * reverse order (clients before the servers they talk to), and waits bounded by a time limit and
 * by Ctrl-C.
 */
import { setTimeout as sleep } from 'node:timers/promises';
import { untilSettled } from '../core/wait.js';
import { connectTcp, type TcpClient } from '../client/tcp-client.js';
import { openUdp, type UdpClient } from '../client/udp-client.js';
import { isSocklabError, SocklabError } from '../errors.js';
import type { Narrator } from './narrator.js';

/** What a scene is given: where to narrate, and the signal that ends the demo early (Ctrl-C). */
export interface SceneContext {
  readonly narrator: Narrator;
  readonly signal: AbortSignal;
}

/** Long enough for a loaded 2-vCPU machine, short enough that a broken step is reported, not waited on. */
export const STEP_LIMIT_MS = 5_000;
/** How long closing one resource may take before the demo stops waiting for it. */
const CLOSE_LIMIT_MS = 2_000;

type Closer = () => Promise<void> | void;

export class Stage {
  readonly #closers: Closer[] = [];
  #closed = false;

  /**
   * Register how to close something as soon as it exists; returns it for chaining. Something
   * that arrives after close() (a concurrent step that was still connecting) is closed at once.
   */
  own<T>(resource: T, close: (r: T) => Promise<void> | void): T {
    if (this.#closed) void Promise.resolve(close(resource)).catch(() => undefined);
    else this.#closers.push(() => close(resource));
    return resource;
  }

  /** A TCP client to `port` on the demo host, owned by the stage, its connect bounded in time and by Ctrl-C. */
  async connectTcp(port: number, signal: AbortSignal, what = 'the TCP connect'): Promise<TcpClient> {
    const client = await within(connectTcp({ host: DEMO_HOST, port }), STEP_LIMIT_MS, what, signal, (late) =>
      late.destroy(),
    );
    return this.own(client, (c) => c.destroy());
  }

  /** A UDP client for `port` on the demo host, owned by the stage. */
  async openUdp(port: number): Promise<UdpClient> {
    return this.own(await openUdp({ host: DEMO_HOST, port }), (c) => c.close());
  }

  /** Close everything, newest first. Never throws: it runs in `finally`, after the real error. */
  async close(): Promise<void> {
    this.#closed = true;
    for (const closer of this.#closers.splice(0).reverse()) {
      try {
        await bounded(Promise.resolve(closer()), CLOSE_LIMIT_MS);
      } catch {
        // A resource that fails to close has nothing more to tell the learner; the next one
        // must still be closed.
      }
    }
  }
}

function abortError(signal: AbortSignal): SocklabError {
  return new SocklabError('SOCKLAB_ERR_ABORTED', 'demo interrupted', { cause: signal.reason });
}

/**
 * `work`, unless `limitMs` passes first (SOCKLAB_ERR_TIMEOUT naming `what`) or the signal aborts
 * (SOCKLAB_ERR_ABORTED). The timer and the listener are removed either way. If the wait gives up
 * and `work` still succeeds later, what it made has no owner: `discard` closes it.
 */
export async function within<T>(
  work: Promise<T>,
  limitMs: number,
  what: string,
  signal: AbortSignal,
  discard?: (late: T) => void,
): Promise<T> {
  let gaveUp = false;
  work.then(
    (value) => {
      if (gaveUp) discard?.(value);
    },
    () => undefined,
  );
  try {
    return await untilSettled(work, {
      timeoutMs: limitMs,
      signal,
      onTimeout: () =>
        new SocklabError('SOCKLAB_ERR_TIMEOUT', `demo: ${what} did not happen within ${limitMs} ms`),
      onAbort: () => abortError(signal),
    });
  } catch (err) {
    gaveUp = true;
    throw err;
  }
}

/** `work`, or a rejection after `limitMs`; for closing, which must end even after Ctrl-C. */
function bounded(work: Promise<void>, limitMs: number): Promise<void> {
  return untilSettled(work, {
    timeoutMs: limitMs,
    onTimeout: () => new Error(`close took longer than ${limitMs} ms`),
  });
}

/** Milliseconds since `start` (from performance.now()), to 0.1 ms. */
export function since(start: number): number {
  return Math.round((performance.now() - start) * 10) / 10;
}

/** Every scene runs here: loopback, so nothing leaves the machine and no firewall is involved. */
export const DEMO_HOST = '127.0.0.1';

/**
 * A promise that resolves after `tick()` has been called `n` times; for "wait until the server
 * has seen 3 datagrams", bounded by the caller with `within()`.
 */
export function countdown(n: number): { tick(): void; readonly done: Promise<void> } {
  let left = n;
  let resolve: () => void = () => undefined;
  const done = new Promise<void>((r) => (resolve = r));
  if (left <= 0) resolve();
  return {
    tick() {
      left -= 1;
      if (left === 0) resolve();
    },
    done,
  };
}

/**
 * Resolves once `progress()` has not changed for `quietMs`, or after `limitMs` in all: for "wait
 * until the receiver has read everything that is coming", where nothing says "that was the last".
 */
export async function settle(
  progress: () => number,
  options: { quietMs: number; limitMs: number; signal: AbortSignal },
): Promise<void> {
  const start = performance.now();
  let last = progress();
  for (;;) {
    try {
      await sleep(options.quietMs, undefined, { signal: options.signal });
    } catch {
      throw abortError(options.signal);
    }
    const now = progress();
    if (now === last || performance.now() - start >= options.limitMs) return;
    last = now;
  }
}

/** Whether `err` is a timeout from `within()` or from a socklab read: the thing waited for did not come. */
export function isTimeout(err: unknown): err is SocklabError {
  return isSocklabError(err, 'SOCKLAB_ERR_TIMEOUT');
}
