/**
 * `-o FILE` for every command: opened before any network work (a bad path fails at once, exit 1),
 * written with backpressure, and closed with a check, so a failed write is reported, never lost.
 */
import { once } from 'node:events';
import type { WriteStream } from 'node:fs';
import { open, rm } from 'node:fs/promises';
import { describeSystemError, SocklabError } from '../errors.js';

export class OutputFile {
  readonly path: string;
  readonly stream: WriteStream;
  /** A regular file (not /dev/null, a FIFO, a terminal): the only kind `discard()` removes. */
  readonly #regular: boolean;
  #error: unknown;

  private constructor(path: string, stream: WriteStream, regular: boolean) {
    this.path = path;
    this.stream = stream;
    this.#regular = regular;
    stream.on('error', (err) => (this.#error ??= err));
  }

  static async open(path: string): Promise<OutputFile> {
    try {
      // The stream owns the FileHandle and closes it at the end (a bare fd would be closed by
      // the garbage collector while still in use).
      const handle = await open(path, 'w');
      const regular = (await handle.stat()).isFile();
      return new OutputFile(path, handle.createWriteStream({ highWaterMark: 1024 * 1024 }), regular);
    } catch (err) {
      throw new SocklabError('SOCKLAB_ERR_FILE', `cannot write ${path}: ${describeSystemError(err)}`, {
        cause: err,
      });
    }
  }

  /** Called once, when a write fails (disk full, …). */
  onError(listener: () => void): void {
    this.stream.once('error', listener);
  }

  /** Close, and remove the file if it is a regular one: nothing in it is wanted (a failed request). */
  async discard(): Promise<void> {
    this.#error = undefined;
    if (!this.stream.destroyed) {
      this.stream.destroy();
      await once(this.stream, 'close').catch(() => undefined);
    }
    if (this.#regular) await rm(this.path, { force: true });
  }

  /** Flush and close; throws SOCKLAB_ERR_FILE if any write failed. */
  async close(): Promise<void> {
    // A failed write destroys the stream at once but emits 'error' a tick later: a stream already
    // destroyed is waited for too, and its `errored` read, or the failure would go unreported.
    if (!this.stream.closed) {
      if (!this.stream.destroyed) this.stream.end();
      await once(this.stream, 'close').catch(() => undefined);
    }
    this.#error ??= this.stream.errored ?? undefined;
    if (this.#error !== undefined) {
      throw new SocklabError(
        'SOCKLAB_ERR_FILE',
        `cannot write ${this.path}: ${describeSystemError(this.#error)}`,
        {
          cause: this.#error,
        },
      );
    }
  }
}
