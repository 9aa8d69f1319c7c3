/**
 * Numbered records for the delivery test: each is `recordBytes` long and starts with its sequence
 * number (4 bytes, big-endian), so a receiver can tell exactly which arrived, which are missing,
 * duplicated or out of order. Pure code, no sockets.
 */
import { createHash, type Hash } from 'node:crypto';

const SEQ_BYTES = 4;

/** Record `seq`: its number, then a filler that differs per record (so a hash notices swaps). */
export function makeRecord(seq: number, recordBytes: number): Buffer {
  const record = Buffer.alloc(recordBytes, seq & 0xff);
  record.writeUInt32BE(seq, 0);
  return record;
}

/** Tallies datagrams, each one record, as they arrive. */
export class DatagramTally {
  readonly #seen: Uint8Array;
  #highest = -1;
  received = 0;
  duplicates = 0;
  outOfOrder = 0;
  /** Datagrams that are not one of our records (shorter than a sequence number, or out of range). */
  strangers = 0;

  constructor(readonly expected: number) {
    this.#seen = new Uint8Array(expected);
  }

  add(datagram: Buffer): void {
    if (datagram.length < SEQ_BYTES) {
      this.strangers += 1;
      return;
    }
    const seq = datagram.readUInt32BE(0);
    if (seq >= this.expected) {
      this.strangers += 1;
      return;
    }
    if (this.#seen[seq] === 1) {
      this.duplicates += 1;
      return;
    }
    this.#seen[seq] = 1;
    this.received += 1;
    if (seq < this.#highest) this.outOfOrder += 1;
    this.#highest = Math.max(this.#highest, seq);
  }

  /** The sequence numbers that arrived, as ranges ("0-55, 90"), at most `maxRanges` then "…". */
  ranges(maxRanges = 4): string {
    const out: string[] = [];
    let total = 0;
    for (let seq = 0; seq < this.expected; seq++) {
      if (this.#seen[seq] !== 1) continue;
      let end = seq;
      while (end + 1 < this.expected && this.#seen[end + 1] === 1) end += 1;
      total += 1;
      if (out.length < maxRanges) out.push(end === seq ? `${seq}` : `${seq}-${end}`);
      seq = end;
    }
    return total > maxRanges ? `${out.join(', ')}, … (${total} ranges)` : out.join(', ');
  }
}

/** Checks a TCP byte stream of records: all present, once, in sequence; and hashes it. */
export class StreamChecker {
  readonly #hash: Hash = createHash('sha256');
  #partial: Buffer = Buffer.alloc(0);
  bytes = 0;
  records = 0;
  /** Records whose number was not the next one expected. */
  misordered = 0;

  constructor(readonly recordBytes: number) {}

  push(chunk: Buffer): void {
    this.#hash.update(chunk);
    this.bytes += chunk.length;
    // Reads split the stream anywhere, even inside a sequence number: keep the tail for later.
    let data = this.#partial.length === 0 ? chunk : Buffer.concat([this.#partial, chunk]);
    while (data.length >= this.recordBytes) {
      if (data.readUInt32BE(0) !== this.records) this.misordered += 1;
      this.records += 1;
      data = data.subarray(this.recordBytes);
    }
    this.#partial = Buffer.from(data); // a copy, so the socket's chunk is not kept alive
  }

  /** All `expected` records, in order, nothing left over. */
  complete(expected: number): boolean {
    return this.records === expected && this.misordered === 0 && this.#partial.length === 0;
  }

  digest(): string {
    return this.#hash.digest('hex');
  }
}
