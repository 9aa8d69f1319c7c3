/**
 * Pooled read buffers, for TCP sockets whose chunks are held for a while before they are written
 * (the relay's delay: at 1 GB/s, 50 ms holds 50 MB).
 *
 * Node reads every chunk into a fresh 64 KiB Buffer. Held for 50 ms, these outlive V8's young
 * generation and are freed by full (mark-compact) collections: at full loopback speed that costs
 * the relay about a fifth of its throughput. A ReadPool instead hands out 64 KiB slices of 1 MiB
 * slabs to read into (Node's `onread` with a buffer function, onread.ts): a chunk is a view on its
 * slab, not a copy. Once every byte handed out from a slab has been released, the slab is read
 * into again.
 *
 * The rule for users: `release()` every byte read once, when nothing needs it any more (in the
 * write's callback: Node calls it once the kernel has the bytes, or the write failed). Parts of a
 * chunk may be released separately, as a chunk split by a stage is written in parts; no byte may be
 * released twice (a slab released below zero is counted in `stats.doubleReleases` and never reused).
 * A byte never released only keeps its slab from being reused: the slab is then garbage collected
 * like any Buffer. Forgetting is safe; releasing early is not.
 *
 * Idle sockets: a reading socket always holds its next read buffer. A 64 KiB slice each would hold
 * 64 MiB for 1,000 idle sockets, so a socket whose last read was small reads into its own 4 KiB
 * buffer instead and the bytes are copied out (cheap at that size); once a read fills that buffer,
 * the socket reads into pooled slices again.
 */
import type net from 'node:net';

/** Sizes; the defaults suit loopback at about 1 GB/s. */
export interface ReadPoolOptions {
  /** Memory allocated at once (default 1 MiB). */
  readonly slabBytes?: number;
  /** One read's buffer (default 64 KiB, Node's own read size). */
  readonly sliceBytes?: number;
  /** Free slabs kept however long they go unused (default 4). */
  readonly keepFreeSlabs?: number;
  /** Free slabs beyond that which were not needed for this long are left to the GC (default 1 s). */
  readonly trimAfterMs?: number;
}

export interface ReadPoolStats {
  /** Slabs allocated. */
  slabs: number;
  /** Times a released slab was read into again. */
  reused: number;
  /** Slabs released below zero: a bug in the caller (the slab is never reused). */
  doubleReleases: number;
}

/** A socket's reader: Node's `onread` option, and `close()` for when the socket has closed. */
export interface PooledReader extends net.OnReadOpts {
  /** The socket is closed: give back the slice it would have read into next. */
  close(): void;
}

/** A socket whose last read was at most this reads into its own small buffer. */
export const SMALL_READ_BYTES = 4096;

class Slab {
  readonly memory: Buffer;
  /** Bytes handed out from the start of `memory`. */
  used = 0;
  /** Bytes handed out and not yet released. */
  outstanding = 0;

  constructor(bytes: number) {
    this.memory = Buffer.allocUnsafeSlow(bytes);
  }
}

export class ReadPool {
  readonly stats: ReadPoolStats = { slabs: 0, reused: 0, doubleReleases: 0 };
  readonly #slabBytes: number;
  readonly #sliceBytes: number;
  readonly #keepFreeSlabs: number;
  readonly #trimAfterMs: number;
  /** A slab by its memory: every chunk read from it is a view on that ArrayBuffer. */
  readonly #owners = new WeakMap<ArrayBufferLike, Slab>();
  readonly #free: Slab[] = [];
  #current: Slab | undefined;
  /** The fewest free slabs since the last trim: that many were not needed meanwhile. */
  #lowWater = 0;
  #trimTimer: NodeJS.Timeout | undefined;
  #closed = false;

  constructor(options: ReadPoolOptions = {}) {
    this.#sliceBytes = options.sliceBytes ?? 64 * 1024;
    this.#slabBytes = Math.max(options.slabBytes ?? 1024 * 1024, this.#sliceBytes);
    this.#keepFreeSlabs = options.keepFreeSlabs ?? 4;
    this.#trimAfterMs = options.trimAfterMs ?? 1000;
  }

  /** Slabs waiting to be read into again. */
  get freeSlabs(): number {
    return this.#free.length;
  }

  /**
   * A reader for one socket: `onChunk` gets each read's bytes (a view on pooled memory, or a copy
   * of a small read) and returns false to stop reading until the socket is resumed.
   */
  reader(onChunk: (chunk: Buffer) => boolean): PooledReader {
    const small = Buffer.allocUnsafeSlow(SMALL_READ_BYTES);
    let next: Buffer = small;
    return {
      buffer: () => next,
      callback: (n, buf) => {
        let chunk: Buffer;
        if (buf === small) {
          chunk = Buffer.allocUnsafe(n);
          small.copy(chunk, 0, 0, n);
        } else {
          chunk = Buffer.from(buf.buffer, buf.byteOffset, n);
          this.release(buf.subarray(n)); // the part not read into
        }
        // Node asks for the next buffer right after this callback.
        next = n >= SMALL_READ_BYTES ? this.#take() : small;
        return onChunk(chunk);
      },
      close: () => {
        if (next !== small) this.release(next);
        next = small;
      },
    };
  }

  /** Done with these bytes (see the rule above). Bytes not from this pool are ignored. */
  release(chunk: Uint8Array): void {
    const slab = this.#owners.get(chunk.buffer);
    if (slab === undefined || chunk.length === 0) return;
    slab.outstanding -= chunk.length;
    if (slab.outstanding > 0) return;
    if (slab.outstanding < 0) {
      this.stats.doubleReleases += 1;
      this.#owners.delete(chunk.buffer);
      const free = this.#free.indexOf(slab);
      if (free >= 0) this.#free.splice(free, 1);
      return;
    }
    if (slab !== this.#current) this.#recycle(slab);
  }

  #take(): Buffer {
    let slab = this.#current;
    if (slab === undefined || slab.used + this.#sliceBytes > slab.memory.length) {
      if (slab !== undefined && slab.outstanding === 0) this.#recycle(slab);
      slab = this.#free.pop();
      this.#lowWater = Math.min(this.#lowWater, this.#free.length);
      if (slab === undefined) {
        slab = new Slab(this.#slabBytes);
        this.#owners.set(slab.memory.buffer, slab);
        this.stats.slabs += 1;
      } else {
        this.stats.reused += 1;
      }
      slab.used = 0;
      this.#current = slab;
    }
    const slice = slab.memory.subarray(slab.used, slab.used + this.#sliceBytes);
    slab.used += this.#sliceBytes;
    slab.outstanding += this.#sliceBytes;
    return slice;
  }

  /**
   * Free slabs are kept while they may be needed: however many a burst released, they are what the
   * next burst reads into (a fresh slab costs the kernel a page fault per 4 KiB). Those beyond
   * `keepFreeSlabs` that stayed unused for `trimAfterMs` are dropped, a low-water mark at a time.
   */
  #recycle(slab: Slab): void {
    if (this.#closed) return;
    this.#free.push(slab);
    if (this.#trimTimer === undefined && this.#free.length > this.#keepFreeSlabs) {
      this.#lowWater = this.#free.length;
      this.#trimTimer = setTimeout(() => this.#trim(), this.#trimAfterMs).unref();
    }
  }

  #trim(): void {
    this.#trimTimer = undefined;
    const unused = Math.min(this.#lowWater, this.#free.length - this.#keepFreeSlabs);
    if (unused > 0) this.#free.splice(0, unused); // the longest unused first
    if (this.#free.length > this.#keepFreeSlabs) {
      this.#lowWater = this.#free.length;
      this.#trimTimer = setTimeout(() => this.#trim(), this.#trimAfterMs).unref();
    }
  }

  /** Drop every free slab and stop trimming (the owner is closing); chunks still out stay valid. */
  close(): void {
    clearTimeout(this.#trimTimer);
    this.#trimTimer = undefined;
    this.#closed = true;
    this.#free.length = 0;
    this.#current = undefined;
  }
}
