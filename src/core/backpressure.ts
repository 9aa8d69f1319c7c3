/** Writing with backpressure, without allocating a promise when the stream has room. */
import type { Writable } from 'node:stream';

/**
 * Write `data`; if the stream's buffer is now full, return a promise that settles on 'drain'
 * (or when the stream closes or fails, so a caller never waits forever).
 */
export function writeOrWait(out: Writable, data: Buffer | string): Promise<void> | void {
  if (out.write(data)) return;
  return drained(out);
}

export function drained(out: Writable): Promise<void> {
  return new Promise<void>((resolve) => {
    const done = () => {
      out.off('drain', done);
      out.off('close', done);
      out.off('error', done);
      resolve();
    };
    out.on('drain', done);
    out.on('close', done);
    out.on('error', done);
  });
}
