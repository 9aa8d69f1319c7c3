/**
 * Reading a stream's lines one at a time, each wait bounded by a timeout and an AbortSignal,
 * and each line bounded in size (a peer that sends more without a newline is not a line-speaking
 * peer). Whatever follows a line in the same read stays buffered for the next call.
 */
import type { Readable } from 'node:stream';
import { Wakeup } from './wait.js';

export interface LineReaderOptions {
  /** The longest line accepted; what goes beyond it is handed out cut, as a line of its own. */
  readonly maxLineBytes: number;
}

export interface NextLineOptions {
  readonly timeoutMs: number;
  /** What was awaited, for the timeout's message: `tcp://…:5201 did not answer the bench hello`. */
  readonly what: string;
  readonly signal?: AbortSignal;
}

/** A line (CR LF or LF removed), or, if the stream ended first, the partial line it left. */
export type NextLine =
  { readonly line: string; readonly partial: '' } | { readonly line?: undefined; readonly partial: string };

export class LineReader {
  #buffered = '';
  #lines: string[] = [];
  #ended = false;
  #error: Error | undefined;
  readonly #wakeup = new Wakeup();

  constructor(stream: Readable, options: LineReaderOptions) {
    stream.setEncoding('utf8');
    stream.on('data', (chunk: string) => {
      const from = this.#buffered.length;
      this.#buffered += chunk;
      let nl = this.#buffered.indexOf('\n', from);
      while (nl >= 0) {
        this.#lines.push(this.#buffered.slice(0, nl).replace(/\r$/, ''));
        this.#buffered = this.#buffered.slice(nl + 1);
        nl = this.#buffered.indexOf('\n');
      }
      if (this.#buffered.length > options.maxLineBytes) {
        // Not a line-speaking peer: keep a little for the error message, stop growing.
        this.#lines.push(this.#buffered.slice(0, 200));
        this.#buffered = '';
      }
      this.#wakeup.wake();
    });
    stream.on('end', () => this.#finish());
    stream.on('close', () => this.#finish());
    stream.on('error', (err) => {
      this.#error = err;
      this.#wakeup.wake();
    });
  }

  #finish(): void {
    this.#ended = true;
    this.#wakeup.wake();
  }

  /** The next line; rejects with SOCKLAB_ERR_TIMEOUT after `timeoutMs`. */
  async next(options: NextLineOptions): Promise<NextLine> {
    for (;;) {
      const line = this.#lines.shift();
      if (line !== undefined) return { line, partial: '' };
      if (this.#error) throw this.#error;
      if (this.#ended) return { partial: this.#buffered };
      await this.#wakeup.wait(options, {
        timeout: `${options.what}: no answer within ${options.timeoutMs} ms`,
        abort: `${options.what}: interrupted`,
      });
    }
  }
}
