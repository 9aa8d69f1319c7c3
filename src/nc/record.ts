/**
 * `-o FILE` and `-x FILE`: every chunk sent and received, in the order it happened, raw or as
 * ncat's hex dump. Opened before any network work (a bad path fails at once), closed with a check.
 */
import { once } from 'node:events';
import { open } from 'node:fs/promises';
import type { WriteStream } from 'node:fs';
import { describeSystemError, SocklabError } from '../errors.js';
import { ncatHexdump } from './hexdump.js';

interface Sink {
  readonly path: string;
  readonly stream: WriteStream;
  readonly hex: boolean;
  error?: unknown;
}

export class Recorder {
  readonly #sinks: Sink[];

  private constructor(sinks: Sink[]) {
    this.#sinks = sinks;
  }

  static async open(options: { output?: string; hex?: string; append: boolean }): Promise<Recorder> {
    const sinks: Sink[] = [];
    for (const [path, hex] of [
      [options.output, false],
      [options.hex, true],
    ] as const) {
      if (path === undefined) continue;
      try {
        const handle = await open(path, options.append ? 'a' : 'w');
        const sink: Sink = { path, stream: handle.createWriteStream(), hex };
        sink.stream.on('error', (err) => (sink.error ??= err));
        sinks.push(sink);
      } catch (err) {
        await new Recorder(sinks).close().catch(() => undefined);
        throw new SocklabError('SOCKLAB_ERR_FILE', `cannot write ${path}: ${describeSystemError(err)}`, {
          cause: err,
        });
      }
    }
    return new Recorder(sinks);
  }

  get active(): boolean {
    return this.#sinks.length > 0;
  }

  /** One chunk, sent or received (ncat does not mark the direction; neither does socklab). */
  record(chunk: Buffer): void {
    if (chunk.length === 0) return;
    for (const sink of this.#sinks) sink.stream.write(sink.hex ? ncatHexdump(chunk) : Buffer.from(chunk));
  }

  async close(): Promise<void> {
    for (const sink of this.#sinks) {
      if (!sink.stream.destroyed) {
        sink.stream.end();
        await once(sink.stream, 'close').catch(() => undefined);
      }
    }
    const failed = this.#sinks.find((s) => s.error !== undefined);
    if (failed) {
      throw new SocklabError(
        'SOCKLAB_ERR_FILE',
        `cannot write ${failed.path}: ${describeSystemError(failed.error)}`,
        {
          cause: failed.error,
        },
      );
    }
  }
}
