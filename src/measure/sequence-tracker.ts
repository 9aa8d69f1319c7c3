/**
 * Loss, reordering and duplication from the sequence numbers carried in each datagram (0, 1, 2…).
 *
 * - duplicate: a sequence number already seen (needs memory of every number seen: a bitmap, one
 *   bit per datagram, so 10 million datagrams cost 1.25 MB; it grows by doubling up to
 *   MAX_TRACKED_SEQUENCE).
 * - out of order: a new number lower than the highest seen so far (it arrived after a later one),
 *   as iperf3 counts it.
 * - lost: numbers never seen, out of those the sender says it sent (or, before the sender has said,
 *   up to the highest seen: a tail loss is invisible until then).
 */
export type Arrival = 'new' | 'out-of-order' | 'duplicate';

/** 2^31 datagrams (256 MiB of bitmap): far beyond what one run sends; beyond it, counted as new. */
export const MAX_TRACKED_SEQUENCE = 2 ** 31;

const INITIAL_BITMAP_BYTES = 64 * 1024;

export class SequenceTracker {
  #seen = new Uint8Array(INITIAL_BITMAP_BYTES);
  #highest = -1;
  #unique = 0;
  #duplicates = 0;
  #outOfOrder = 0;
  #arrivals = 0;

  record(sequence: number): Arrival {
    this.#arrivals++;
    if (sequence < MAX_TRACKED_SEQUENCE) {
      const byte = sequence >>> 3;
      if (byte >= this.#seen.length) this.#grow(byte);
      const bit = 1 << (sequence & 7);
      if ((this.#seen[byte]! & bit) !== 0) {
        this.#duplicates++;
        return 'duplicate';
      }
      this.#seen[byte]! |= bit;
    }
    this.#unique++;
    if (sequence < this.#highest) {
      this.#outOfOrder++;
      return 'out-of-order';
    }
    this.#highest = sequence;
    return 'new';
  }

  #grow(byte: number): void {
    let size = this.#seen.length;
    while (size <= byte) size *= 2;
    const bigger = new Uint8Array(size);
    bigger.set(this.#seen);
    this.#seen = bigger;
  }

  /** Every datagram that arrived, duplicates included. */
  get arrivals(): number {
    return this.#arrivals;
  }
  /** Distinct datagrams received. */
  get received(): number {
    return this.#unique;
  }
  get duplicates(): number {
    return this.#duplicates;
  }
  get outOfOrder(): number {
    return this.#outOfOrder;
  }
  /** The highest sequence number seen, -1 before the first. */
  get highest(): number {
    return this.#highest;
  }

  /** Datagrams never received, out of `sentPackets` (default: those up to the highest seen). */
  lost(sentPackets?: number): number {
    const expected = Math.max(sentPackets ?? 0, this.#highest + 1);
    return Math.max(0, expected - this.#unique);
  }
}
