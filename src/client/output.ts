/**
 * How a client shows what it receives: raw bytes (made safe when stdout is a terminal), one reply
 * per line, a hex dump, or JSON events (the fields `listen` uses: format/message.ts); plus `-v`
 * notes on stderr.
 */
import { StringDecoder } from 'node:string_decoder';
import { writeOrWait } from '../core/backpressure.js';
import type { Transport } from '../address.js';
import { hexdump } from '../format/hexdump.js';
import { messageHeader, messageJson } from '../format/message.js';
import { sanitizeForTerminal } from '../format/terminal.js';
import type { SessionIo as Io } from './io.js';

export type ReceivedFormat = 'raw' | 'hex' | 'json';

export class ClientOutput {
  readonly #io: Io;
  readonly #transport: Transport;
  readonly #format: ReceivedFormat;
  readonly #verbose: boolean;
  readonly #terminal: boolean;
  readonly #decoder = new StringDecoder('utf8');
  #offset = 0;
  #count = 0;
  #lastByte: number | undefined;

  constructor(io: Io, options: { transport: Transport; format: ReceivedFormat; verbose: boolean }) {
    this.#io = io;
    this.#transport = options.transport;
    this.#format = options.format;
    this.#verbose = options.verbose;
    this.#terminal = io.stdout.isTTY === true;
  }

  /** A `-v` note on stderr (also a JSON event with --json). */
  note(text: string, event?: Record<string, unknown>): void {
    if (this.#verbose) this.#io.stderr.write(`${text}\n`);
    // Nothing waits for a note: a failed write shows on the stream.
    if (event && this.#format === 'json') this.#io.stdout.write(this.#line(event));
  }

  #line(fields: Record<string, unknown>): string {
    return JSON.stringify({ ...fields, time: new Date().toISOString() }) + '\n';
  }

  #json(fields: Record<string, unknown>): Promise<void> | void {
    return writeOrWait(this.#io.stdout, this.#line(fields));
  }

  /**
   * Received bytes. `whole` marks a complete message (a datagram, or a reply in --wait-reply
   * mode): shown on a line of its own. Otherwise the bytes are part of a stream, shown as they are.
   */
  received(data: Buffer, options: { from: string; whole: boolean }): Promise<void> | void {
    this.#count += 1;
    const origin = { transport: this.#transport, peer: options.from, n: this.#count };
    switch (this.#format) {
      case 'json':
        return this.#json({ event: 'message', ...messageJson(data, origin) });
      case 'hex': {
        const header = options.whole ? `${messageHeader(data, origin)}\n` : '';
        const out = header + hexdump(data, options.whole ? 0 : this.#offset);
        this.#offset = options.whole ? 0 : this.#offset + data.length;
        return writeOrWait(this.#io.stdout, out);
      }
      case 'raw': {
        const newline = options.whole && data[data.length - 1] !== 0x0a ? '\n' : '';
        if (data.length > 0 || newline) this.#lastByte = newline ? 0x0a : data[data.length - 1];
        if (!this.#terminal)
          return writeOrWait(this.#io.stdout, newline ? Buffer.concat([data, Buffer.from(newline)]) : data);
        const text = this.#decoder.write(data) + (options.whole ? this.#decoder.end() : '');
        return writeOrWait(this.#io.stdout, sanitizeForTerminal(Buffer.from(text)) + newline);
      }
    }
  }

  /** At the end: flush a split character, and end the last line on a terminal so the prompt is not glued to it. */
  finish(): void {
    if (this.#format !== 'raw' || !this.#terminal) return;
    const tail = this.#decoder.end();
    if (tail) this.#io.stdout.write(sanitizeForTerminal(Buffer.from(tail)));
    if (this.#lastByte !== undefined && this.#lastByte !== 0x0a) this.#io.stdout.write('\n');
  }
}
