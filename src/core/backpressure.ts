/** Writing with backpressure, without allocating a promise when the stream has room. */
import type { Writable } from 'node:stream';

/**
 * Write `data`; if the stream's buffer is now full, return a promise that settles on 'drain'.
 * A stream that fails (a full disk, a closed pipe) rejects the promise with its error, and one
 * that is closed or failed already does so at once: a writer never waits on a stream that can no
 * longer drain, and never loses a failure.
 */
export function writeOrWait(out: Writable, data: Buffer | string): Promise<void> | void {
  if (out.write(data)) return;
  return drained(out);
}

export function drained(out: Writable): Promise<void> {
  if (out.errored) return Promise.reject(out.errored);
  if (out.destroyed || out.writableEnded) return Promise.resolve();
  return new Promise<void>((resolve, reject) => {
    const settle = (err?: Error) => {
      out.off('drain', onDrain);
      out.off('close', onClose);
      out.off('error', settle);
      if (err) reject(err);
      else resolve();
    };
    const onDrain = () => settle();
    const onClose = () => settle(out.errored ?? undefined);
    out.on('drain', onDrain);
    out.on('close', onClose);
    out.on('error', settle);
  });
}
