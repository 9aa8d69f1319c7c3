/**
 * Reading stdin for a session: chunk by chunk, paused while the network cannot take more, with
 * `-d` (a pause between reads). Started only when there is somewhere to send to (ncat reads stdin
 * in listen mode only once a client is there).
 */
import type { NcContext } from './context.js';

export class StdinPump {
  #started = false;
  #ended = false;
  #holds = 0;
  readonly #onData = (chunk: Buffer) => this.#handle(chunk);
  readonly #onEnd = () => {
    this.#ended = true;
    this.onEnd();
  };

  constructor(
    readonly ctx: NcContext,
    /** Sends a chunk; returns a promise when the network is full (stdin pauses until it settles). */
    readonly onChunk: (chunk: Buffer) => Promise<void> | void,
    readonly onEnd: () => void,
  ) {}

  get ended(): boolean {
    return this.#ended;
  }

  start(): void {
    if (this.#started) return;
    this.#started = true;
    const stdin = this.ctx.io.stdin;
    stdin.on('data', this.#onData);
    stdin.once('end', this.#onEnd);
    stdin.on('error', this.#onEnd); // a closed or unreadable stdin is an empty one
    stdin.resume();
  }

  #hold(wait: Promise<unknown>): void {
    const stdin = this.ctx.io.stdin;
    this.#holds += 1;
    stdin.pause();
    void wait.then(() => {
      this.#holds -= 1;
      if (this.#holds === 0 && this.#started && !this.ctx.done) stdin.resume();
    });
  }

  #handle(chunk: Buffer): void {
    if (this.ctx.done) return;
    this.ctx.touch();
    const full = this.onChunk(chunk);
    if (full) this.#hold(full);
    const delayMs = this.ctx.options.delayMs;
    if (delayMs !== undefined) this.#hold(new Promise((resolve) => setTimeout(resolve, delayMs)));
  }

  /** Stop reading for good (the session is over): the process may exit even if stdin is a pipe still open. */
  stop(): void {
    if (!this.#started) return;
    const stdin = this.ctx.io.stdin;
    stdin.off('data', this.#onData);
    stdin.off('end', this.#onEnd);
    stdin.off('error', this.#onEnd);
    stdin.on('error', () => undefined); // destroyed below: nothing to report
    stdin.pause();
    if (!this.#ended) stdin.destroy();
  }
}
