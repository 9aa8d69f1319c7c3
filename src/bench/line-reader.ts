/**
 * Reading the control connection's JSON lines, each bounded by a timeout. Whatever follows the
 * first line in the same chunk stays buffered for the next call.
 */
import type { Socket } from 'node:net';
import { SocklabError } from '../errors.js';
import { MAX_CONTROL_LINE_BYTES } from './protocol.js';

export class LineReader {
  #buffered = '';
  #lines: string[] = [];
  #ended = false;
  #error: Error | undefined;
  #wake: (() => void) | undefined;

  constructor(socket: Socket) {
    socket.setEncoding('utf8');
    socket.on('data', (chunk: string) => {
      this.#buffered += chunk;
      let nl: number;
      while ((nl = this.#buffered.indexOf('\n')) >= 0) {
        this.#lines.push(this.#buffered.slice(0, nl).replace(/\r$/, ''));
        this.#buffered = this.#buffered.slice(nl + 1);
      }
      if (this.#buffered.length > MAX_CONTROL_LINE_BYTES) {
        // Not a line-speaking peer: keep what we have for the error message, stop growing.
        this.#lines.push(this.#buffered.slice(0, 200));
        this.#buffered = '';
      }
      this.#wake?.();
    });
    socket.on('end', () => {
      this.#ended = true;
      this.#wake?.();
    });
    socket.on('close', () => {
      this.#ended = true;
      this.#wake?.();
    });
    socket.on('error', (err) => {
      this.#error = err;
      this.#wake?.();
    });
  }

  /**
   * The next line, or undefined if the peer closed first (with whatever partial line it sent in
   * `partial`). Rejects with SOCKLAB_ERR_TIMEOUT after `timeoutMs`.
   */
  async next(timeoutMs: number, what: string): Promise<{ line?: string; partial: string }> {
    const deadline = Date.now() + timeoutMs;
    for (;;) {
      const line = this.#lines.shift();
      if (line !== undefined) return { line, partial: '' };
      if (this.#error) throw this.#error;
      if (this.#ended) return { partial: this.#buffered };
      const leftMs = deadline - Date.now();
      if (leftMs <= 0)
        throw new SocklabError('SOCKLAB_ERR_TIMEOUT', `${what}: no answer within ${timeoutMs} ms`);
      await new Promise<void>((resolve) => {
        const timer = setTimeout(resolve, leftMs);
        this.#wake = () => {
          clearTimeout(timer);
          this.#wake = undefined;
          resolve();
        };
      });
    }
  }
}
