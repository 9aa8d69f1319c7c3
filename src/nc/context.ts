/** What every part of an nc session shares: the options, the streams, the recorder, the timers. */
import type { SessionIo } from '../client/io.js';
import { SocklabError } from '../errors.js';
import type { AccessControl } from '../server/access.js';
import { CrlfTranslator } from './crlf.js';
import type { NcOptions } from './options.js';
import type { Recorder } from './record.js';

export class NcContext {
  readonly crlf: CrlfTranslator | undefined;
  #idleTimer: NodeJS.Timeout | undefined;
  #finish: ((result: number | Error) => void) | undefined;
  readonly finished: Promise<number>;

  constructor(
    readonly options: NcOptions,
    readonly io: SessionIo,
    readonly recorder: Recorder,
    readonly access: AccessControl,
  ) {
    this.crlf = options.crlf ? new CrlfTranslator() : undefined;
    this.finished = new Promise<number>((resolve, reject) => {
      this.#finish = (result) => {
        this.#finish = undefined;
        if (this.#idleTimer) clearTimeout(this.#idleTimer);
        if (result instanceof Error) reject(result);
        else resolve(result);
      };
    });
    this.touch();
  }

  /** End the session: an exit status, or the error that ended it. Only the first call counts. */
  finish(result: number | Error): void {
    this.#finish?.(result);
  }

  get done(): boolean {
    return this.#finish === undefined;
  }

  /** -i: something was read or written. */
  touch(): void {
    const ms = this.options.idleTimeoutMs;
    if (ms === undefined || this.done) return;
    if (this.#idleTimer) this.#idleTimer.refresh();
    else {
      this.#idleTimer = setTimeout(
        () => this.finish(new SocklabError('SOCKLAB_ERR_TIMEOUT', `idle timeout expired (${ms} ms, -i)`)),
        ms,
      );
    }
  }

  /** -v events on stderr (level 1 = -v, 2 = -vv). */
  log(text: string, level = 1): void {
    if (this.options.verbose >= level) this.io.stderr.write(`socklab nc: ${text}\n`);
  }

  /** What goes to the network from stdin (or a program): `-C` applied. */
  outgoing(chunk: Buffer): Buffer {
    return this.crlf ? this.crlf.translate(chunk) : chunk;
  }
}
