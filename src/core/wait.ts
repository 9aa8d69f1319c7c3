/**
 * Waiting on a promise with a bound: a timeout and/or an AbortSignal, whichever comes first. The
 * one bounded wait of socklab's library code (sleeps are `timers/promises`' setTimeout).
 */
import { SocklabError } from '../errors.js';

const aborted = () => new SocklabError('SOCKLAB_ERR_ABORTED', 'aborted');

export interface UntilSettledOptions {
  /** No bound in time when undefined. */
  readonly timeoutMs?: number | undefined;
  readonly signal?: AbortSignal | undefined;
  /** The error to throw when the time is up. */
  readonly onTimeout?: () => Error;
  /** The error to throw when the signal aborts (SOCKLAB_ERR_ABORTED by default). */
  readonly onAbort?: () => Error;
}

/**
 * `promise`'s outcome, unless the timeout or the signal comes first: then the matching error is
 * thrown and `promise` is left to settle on its own (its rejection is handled, never unhandled).
 * The caller tears down whatever the promise waits on (destroys the socket).
 */
export function untilSettled<T>(promise: Promise<T>, options: UntilSettledOptions): Promise<T> {
  const { signal, timeoutMs } = options;
  if (signal?.aborted) {
    promise.catch(() => undefined);
    return Promise.reject((options.onAbort ?? aborted)());
  }
  if (timeoutMs === undefined && signal === undefined) return promise;
  return new Promise<T>((resolve, reject) => {
    let timer: NodeJS.Timeout | undefined;
    const onAbort = () => {
      cleanup();
      reject((options.onAbort ?? aborted)());
    };
    const cleanup = () => {
      if (timer !== undefined) clearTimeout(timer);
      signal?.removeEventListener('abort', onAbort);
    };
    if (timeoutMs !== undefined) {
      timer = setTimeout(() => {
        cleanup();
        reject(options.onTimeout?.() ?? new Error(`timed out after ${timeoutMs} ms`));
      }, timeoutMs);
    }
    signal?.addEventListener('abort', onAbort, { once: true });
    promise.then(
      (value) => {
        cleanup();
        resolve(value);
      },
      (err: unknown) => {
        cleanup();
        reject(err instanceof Error ? err : new Error(String(err)));
      },
    );
  });
}

/**
 * A reader's wait for "something happened" (data, an end, an error): `wait()` until the next
 * `wake()`, bounded by a timeout and a signal, which end it with SOCKLAB_ERR_TIMEOUT and
 * SOCKLAB_ERR_ABORTED worded as the reader says. One waiter at a time, as a pull reader has.
 */
export class Wakeup {
  #wake: (() => void) | undefined;

  wake(): void {
    const wake = this.#wake;
    this.#wake = undefined;
    wake?.();
  }

  wait(
    bounds: { readonly timeoutMs?: number | undefined; readonly signal?: AbortSignal | undefined },
    words: { readonly timeout: string; readonly abort: string },
  ): Promise<void> {
    return untilSettled(new Promise<void>((resolve) => (this.#wake = resolve)), {
      timeoutMs: bounds.timeoutMs,
      signal: bounds.signal,
      onTimeout: () => new SocklabError('SOCKLAB_ERR_TIMEOUT', words.timeout),
      onAbort: () => new SocklabError('SOCKLAB_ERR_ABORTED', words.abort, { cause: bounds.signal?.reason }),
    });
  }
}
