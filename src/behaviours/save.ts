/**
 * save: append everything received to a stream (the CLI's `-o FILE`), with backpressure.
 * Bytes are written exactly as received (raw framing and UDP).
 */
import type { Writable } from 'node:stream';
import { writeOrWait } from '../core/backpressure.js';
import type { Behaviour } from './behaviour.js';

/** `separator` is written after each message (`\n` when messages are lines, which lose theirs). */
export function save(out: Writable, options: { separator?: string } = {}): Behaviour {
  const separator = options.separator ? Buffer.from(options.separator) : undefined;
  return {
    name: 'save',
    onMessage: (msg) => writeOrWait(out, separator ? Buffer.concat([msg.data, separator]) : msg.data),
  };
}
