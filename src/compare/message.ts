/**
 * One message of a comparison, the same bytes on both lanes: a 24-byte header and a payload.
 *
 * ```
 * 0  magic 'SC' (0x53 0x43)   2  kind (0 data, 1 reply)   3  reserved
 * 4  sequence number (u32)    8  send time, ms on the shared clock (f64)
 * 16 payload length (u32)     20 CRC-32 of bytes 0-19 and the payload (u32)
 * ```
 *
 * The checksum is the message's own: a lane that hands over changed bytes (the relay's corrupt
 * fault on UDP) is caught here, whatever the transport did or did not check.
 */
import { crc32 } from 'node:zlib';
import { performance } from 'node:perf_hooks';

export const HEADER_BYTES = 24;
const MAGIC = 0x5343;
export const KIND_DATA = 0;
export const KIND_REPLY = 1;

/**
 * The clock both ends of a lane read: milliseconds since the epoch, fractional, monotonic within a
 * process (timeOrigin + now), so an agent in a child process reads the same base to well under a ms.
 */
export function sharedNow(): number {
  return performance.timeOrigin + performance.now();
}

/** The payload of message `sequence`: a pattern both lanes make alike from the seed. */
function fillPayload(target: Buffer, sequence: number, seed: number): void {
  let x = (seed ^ Math.imul(sequence + 1, 0x9e3779b1)) >>> 0;
  for (let i = 0; i < target.length; i++) {
    x = (Math.imul(x ^ (x >>> 15), 0x2c1b3c6d) + 0x6d2b79f5) >>> 0;
    target[i] = x & 0xff;
  }
}

/** A fresh message of `size` bytes in all (header included), stamped `sendMs`. */
export function encodeMessage(
  sequence: number,
  size: number,
  seed: number,
  sendMs: number,
  kind = KIND_DATA,
): Buffer {
  const total = Math.max(size, HEADER_BYTES);
  const buf = Buffer.allocUnsafe(total);
  buf.writeUInt16BE(MAGIC, 0);
  buf[2] = kind;
  buf[3] = 0;
  buf.writeUInt32BE(sequence >>> 0, 4);
  buf.writeDoubleBE(sendMs, 8);
  buf.writeUInt32BE(total - HEADER_BYTES, 16);
  fillPayload(buf.subarray(HEADER_BYTES), sequence, seed);
  buf.writeUInt32BE(checksum(buf), 20);
  return buf;
}

function checksum(message: Buffer): number {
  return crc32(message.subarray(HEADER_BYTES), crc32(message.subarray(0, 20))) >>> 0;
}

export interface DecodedMessage {
  readonly sequence: number;
  readonly sendMs: number;
  readonly kind: number;
  /** The checksum matched: the bytes are the ones sent. */
  readonly intact: boolean;
}

/** The message's total length from its header, or undefined if the header is not one of ours. */
export function messageLength(header: Buffer): number | undefined {
  if (header.length < HEADER_BYTES || header.readUInt16BE(0) !== MAGIC) return undefined;
  return HEADER_BYTES + header.readUInt32BE(16);
}

/** One whole message (a datagram, or a frame cut from the stream). */
export function decodeMessage(message: Buffer): DecodedMessage | undefined {
  if (message.length < HEADER_BYTES) return undefined;
  const intact =
    message.readUInt16BE(0) === MAGIC &&
    HEADER_BYTES + message.readUInt32BE(16) === message.length &&
    message.readUInt32BE(20) === checksum(message);
  return {
    sequence: message.readUInt32BE(4),
    sendMs: message.readDoubleBE(8),
    kind: message[2]!,
    intact,
  };
}

/** A reply: the same message, its kind changed (the checksum covers the kind, so it is made anew). */
export function asReply(message: Buffer): Buffer {
  const copy = Buffer.from(message);
  copy[2] = KIND_REPLY;
  copy.writeUInt32BE(checksum(copy), 20);
  return copy;
}
