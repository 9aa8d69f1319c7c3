/**
 * `-o FILE` for every command: opened before any network work (a bad path fails at once, exit 1),
 * written with backpressure, and closed with a check, so a failed write is reported, never lost.
 */
import { once } from 'node:events';
import type { WriteStream } from 'node:fs';
import { open } from 'node:fs/promises';
import { describeSystemError, SocklabError } from '../errors.js';

export class OutputFile {
  readonly path: string;
  readonly stream: WriteStream;
  #error: unknown;

  private constructor(path: string, stream: WriteStream) {
    this.path = path;
    this.stream = stream;
    stream.on('error', (err) => (this.#error ??= err));
  }

  static async open(path: string): Promise<OutputFile> {
    try {
      // The stream owns the FileHandle and closes it at the end (a bare fd would be closed by
      // the garbage collector while still in use).
      const handle = await open(path, 'w');
      return new OutputFile(path, handle.createWriteStream({ highWaterMark: 1024 * 1024 }));
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

  /** Flush and close; throws SOCKLAB_ERR_FILE if any write failed. */
  async close(): Promise<void> {
    if (!this.stream.destroyed) {
      this.stream.end();
      await once(this.stream, 'close').catch(() => undefined);
    }
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
