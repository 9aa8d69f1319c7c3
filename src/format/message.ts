/**
 * One way to present a received message (a chunk, a line, a datagram), for servers and clients
 * alike: the same JSON fields and the same hex dump header in `listen` and `connect`.
 */
import type { Transport } from '../address.js';

export interface MessageOrigin {
  readonly transport: Transport;
  /** Who sent it: `127.0.0.1:51234`, `[::1]:9000`. */
  readonly peer: string;
  /** Its number on that connection (TCP) or from that sender (UDP), from 1. */
  readonly n: number;
}

/** A received message as a JSON-ready object: text if it is valid UTF-8, base64 otherwise. */
export function messageJson(data: Buffer, origin: MessageOrigin): Record<string, unknown> {
  const text = data.toString('utf8');
  const exact = Buffer.byteLength(text) === data.length && !text.includes('\ufffd');
  return {
    transport: origin.transport,
    peer: origin.peer,
    n: origin.n,
    bytes: data.length,
    ...(exact ? { text } : { base64: data.toString('base64') }),
  };
}

/** `tcp://127.0.0.1:51234 #3, 12 bytes`: what a hex dump of one message starts with. */
export function messageHeader(data: Buffer, origin: MessageOrigin): string {
  return `${origin.transport}://${origin.peer} #${origin.n}, ${data.length} bytes`;
}
