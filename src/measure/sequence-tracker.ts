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
 * - invalid: a number no honest sender could have sent: more than MAX_SEQUENCE_GAP beyond the
 *   highest seen, or beyond MAX_SEQUENCE_GAP + LOSS_BOUND_PER_ARRIVAL per datagram arrived (more
 *   than 99 % lost), both not recorded: they would grow the bitmap and fake a loss; or, once the
 *   sender has said how many it sent, at or beyond that count. None counts as lost or received.
 *   So the bitmap grows by at most 16 bytes per datagram received, whoever sends them.
 */
export type Arrival = 'new' | 'out-of-order' | 'duplicate' | 'invalid';

/**
 * The largest jump forward a sequence number may make: 16 M datagrams lost in a row (24 GB of
 * 1460-byte datagrams). A number further ahead is 'invalid'.
 */
export const MAX_SEQUENCE_GAP = 2 ** 24;
/** Beyond the first MAX_SEQUENCE_GAP, a number may be at most this many per datagram arrived. */
export const LOSS_BOUND_PER_ARRIVAL = 128;

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
  #invalid = 0;

  record(sequence: number): Arrival {
    this.#arrivals++;
    if (
      sequence > this.#highest + MAX_SEQUENCE_GAP ||
      sequence > MAX_SEQUENCE_GAP + this.#arrivals * LOSS_BOUND_PER_ARRIVAL
    ) {
      this.#invalid++;
      return 'invalid';
    }
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

  /**
   * Datagrams never received, out of `sentPackets` when the sender has said (numbers at or beyond
   * it are invalid, not received), else out of those up to the highest seen.
   */
  lost(sentPackets?: number): number {
    if (sentPackets === undefined) return Math.max(0, this.#highest + 1 - this.#unique);
    return Math.max(0, sentPackets - (this.#unique - this.#seenFrom(sentPackets)));
  }

  /** Datagrams with a number no honest sender sent (see the top of this file). */
  invalid(sentPackets?: number): number {
    return this.#invalid + (sentPackets === undefined ? 0 : this.#seenFrom(sentPackets));
  }

  /** Distinct numbers seen at or beyond `from` (those below MAX_TRACKED_SEQUENCE and beyond it). */
  #seenFrom(from: number): number {
    if (from > this.#highest) return 0;
    let count = 0;
    const last = Math.min(this.#highest, MAX_TRACKED_SEQUENCE - 1);
    for (let n = Math.max(from, 0); n <= last;) {
      const byte = n >>> 3;
      if ((n & 7) === 0 && n + 7 <= last) {
        // A whole byte at once (the common case: a long run to skip or count).
        let v = this.#seen[byte]!;
        for (; v !== 0; v &= v - 1) count++;
        n += 8;
      } else {
        if ((this.#seen[byte]! & (1 << (n & 7))) !== 0) count++;
        n++;
      }
    }
    return count;
  }
}
