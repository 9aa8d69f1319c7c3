/**
 * One direction of a relayed connection or flow: stamp → stages → release queue → sink.
 * Pure: no sockets. The stage contract is in stage.ts.
 *
 * Bounds, declared. What is held is counted as its bytes plus PACKET_OVERHEAD_BYTES per packet
 * (`memoryBytes`): a stream sliced into 1-byte segments costs the heap about 200 bytes per byte.
 * - TCP: `push()` returns false once `maxBufferedBytes` are held (or the sink is full with data
 *   already due); the caller stops reading until `onWritable` (below the bound less 4 MiB, or half
 *   of it if smaller). Nothing is dropped: the sender feels TCP backpressure. The chunk that
 *   reaches the bound is taken whole, with whatever its stages make of it: one read of 64 KiB
 *   sliced into 1-byte segments is 64 Ki packets (16 MiB counted) past the bound, at most.
 * - UDP: a datagram that would take the pipeline past `maxBufferedBytes` or `maxBufferedPackets`
 *   is dropped and counted as `overflowed` (UDP has no backpressure).
 * - Shared by all the pipelines of a relay, a `MemoryBudget`: once it is spent, a pipeline that
 *   holds something stops reading (TCP, until the budget is below its low water) or drops the
 *   datagram (UDP, counted as `overflowed`). A pipeline that holds nothing may still take one read
 *   or datagram: a connection whose other direction holds the budget keeps moving, and the budget
 *   is passed by at most one read per pipeline.
 */
import type { Transport } from '../address.js';
import type { Clock } from '../measure/clock.js';
import type { Random } from './random.js';
import {
  createCounters,
  PACKET_OVERHEAD_BYTES,
  type CounterName,
  type Counters,
  type Direction,
  type EndAction,
  type Packet,
  type Stage,
  type StageContext,
} from './stage.js';

/** Reading resumes below this: the bound less 4 MiB, or half of it if smaller. */
function lowWater(bytes: number): number {
  return Math.max(bytes / 2, bytes - 4 * 1024 * 1024);
}

/**
 * Memory held by every pipeline of a relay (or of several relays that share it), counted as the
 * pipelines' bounds count it: bytes plus PACKET_OVERHEAD_BYTES per packet.
 */
export class MemoryBudget {
  readonly limitBytes: number;
  readonly #lowWaterBytes: number;
  #usedBytes = 0;
  readonly #waiting = new Set<() => void>();
  /** TCP reads held back and UDP datagrams dropped because the budget was spent. */
  readonly hits = { paused: 0, dropped: 0 };

  constructor(limitBytes: number) {
    this.limitBytes = limitBytes;
    this.#lowWaterBytes = lowWater(limitBytes);
  }

  /** Held now, by every pipeline that shares the budget. */
  get usedBytes(): number {
    return this.#usedBytes;
  }

  /** Nothing more may be held (by a pipeline that holds something already). */
  get spent(): boolean {
    return this.#usedBytes >= this.limitBytes;
  }

  /** Low enough for a source stopped by the budget to read again. */
  get low(): boolean {
    return this.#usedBytes < this.#lowWaterBytes;
  }

  /** A pipeline holds `delta` bytes more (or less). */
  add(delta: number): void {
    this.#usedBytes += delta;
    if (delta < 0 && this.#waiting.size > 0 && this.low) {
      const waiting = [...this.#waiting];
      this.#waiting.clear();
      for (const wake of waiting) wake();
    }
  }

  /** Call `wake` once the budget is low again. */
  wait(wake: () => void): void {
    this.#waiting.add(wake);
  }

  cancel(wake: () => void): void {
    this.#waiting.delete(wake);
  }
}

/** Where a pipeline writes: a socket, or an array in a test. */
export interface PipelineSink {
  /** Write one packet's bytes; false means full: wait for `pipeline.sinkDrained()`. `packet` has
   * its times (when it arrived, when it was due), for an adapter that measures them (the link). */
  write(data: Buffer, packet: Packet): boolean;
  /** The stream ended, after everything before it was written. */
  end(action: EndAction): void;
  /** Reset the connection now. */
  reset(): void;
  /** Bytes that will never be written (dropped, truncated, overflowed, or queued at close). */
  discard?(data: Buffer): void;
  /** Hold writes until `uncork()`, to write several due packets in one system call. */
  cork?(): void;
  uncork?(): void;
}

export interface PipelineOptions {
  readonly transport: Transport;
  readonly direction: Direction;
  readonly clock: Clock;
  readonly sink: PipelineSink;
  /** Shared by every pipeline of a relay's direction; a fresh set by default. */
  readonly counters?: Counters;
  /** Memory held at most, counted as bytes plus PACKET_OVERHEAD_BYTES per packet. */
  readonly maxBufferedBytes: number;
  /** UDP only: datagrams held at most. */
  readonly maxBufferedPackets?: number;
  /** Memory shared with other pipelines (a relay's): none by default. */
  readonly budget?: MemoryBudget;
  /** TCP: the source may read again (after `push()` returned false). */
  readonly onWritable?: () => void;
  /** The packets are whole IP packets (the link): a stage that must look inside them may. */
  readonly ip?: boolean;
  /** Every counted event, with the bytes it concerns (the link's per-packet log). */
  readonly observe?: (counter: CounterName, data: Buffer) => void;
}

interface Slot {
  readonly id: string;
  readonly rank: number;
  readonly order: number;
  readonly stage: Stage;
  readonly ctx: StageContext;
  index: number;
  removed: boolean;
  ended: boolean;
}

interface Queued {
  readonly packet: Packet;
  readonly seq: number;
}

/** Holds packets until they are due; FIFO for a stream, earliest-due-first for datagrams. */
class ReleaseQueue {
  readonly #ordered: boolean;
  /** FIFO: the items from `#head` on; a taken slot is cleared, so a written chunk is not kept alive. */
  readonly #items: (Queued | undefined)[] = [];
  #head = 0;
  #seq = 0;
  /** Payload bytes held. */
  bytes = 0;

  constructor(ordered: boolean) {
    this.#ordered = ordered;
  }

  get size(): number {
    return this.#items.length - this.#head;
  }

  peek(): Packet | undefined {
    return this.#items[this.#head]?.packet;
  }

  add(packet: Packet): void {
    this.bytes += packet.data.length;
    const item = { packet, seq: this.#seq++ };
    if (this.#ordered) {
      this.#items.push(item);
      return;
    }
    // A binary min-heap on (dueMs, seq), with #head always 0.
    const heap = this.#items;
    heap.push(item);
    let i = heap.length - 1;
    while (i > 0) {
      const parent = (i - 1) >> 1;
      if (!before(heap[i]!, heap[parent]!)) break;
      [heap[i], heap[parent]] = [heap[parent]!, heap[i]!];
      i = parent;
    }
  }

  take(): Packet | undefined {
    if (this.size === 0) return undefined;
    let item: Queued;
    if (this.#ordered) {
      item = this.#items[this.#head]!;
      this.#items[this.#head] = undefined;
      this.#head++;
      if (this.#head === this.#items.length) {
        this.#items.length = 0;
        this.#head = 0;
      } else if (this.#head >= 1024 && this.#head * 2 >= this.#items.length) {
        this.#items.splice(0, this.#head);
        this.#head = 0;
      }
    } else {
      const heap = this.#items;
      item = heap[0]!;
      const last = heap.pop()!;
      if (heap.length > 0) {
        heap[0] = last;
        let i = 0;
        for (;;) {
          const l = 2 * i + 1;
          const r = l + 1;
          let m = i;
          if (l < heap.length && before(heap[l]!, heap[m]!)) m = l;
          if (r < heap.length && before(heap[r]!, heap[m]!)) m = r;
          if (m === i) break;
          [heap[i], heap[m]] = [heap[m]!, heap[i]!];
          i = m;
        }
      }
    }
    this.bytes -= item.packet.data.length;
    return item.packet;
  }

  /** Empty the queue, handing each packet still in it to `dropped`. */
  clear(dropped: (packet: Packet) => void): void {
    for (let i = this.#head; i < this.#items.length; i++) {
      const item = this.#items[i];
      if (item) dropped(item.packet);
    }
    this.#items.length = 0;
    this.#head = 0;
    this.bytes = 0;
  }
}

function before(a: Queued, b: Queued): boolean {
  return a.packet.dueMs < b.packet.dueMs || (a.packet.dueMs === b.packet.dueMs && a.seq < b.seq);
}

/** What a stage counts when bytes go no further (the others are counted on bytes it passes on). */
const DROPS: ReadonlySet<CounterName> = new Set(['dropped', 'truncated', 'overflowed']);

export class Pipeline {
  readonly transport: Transport;
  readonly direction: Direction;
  readonly counters: Counters;
  readonly #clock: Clock;
  readonly #sink: PipelineSink;
  readonly #maxBytes: number;
  readonly #maxPackets: number;
  /** TCP: reading resumes below this (a little under the bound, so a delay keeps it nearly full). */
  readonly #lowWaterBytes: number;
  readonly #onWritable: (() => void) | undefined;
  readonly #budget: MemoryBudget | undefined;
  readonly #ip: boolean;
  readonly #observe: ((counter: CounterName, data: Buffer) => void) | undefined;
  /** What this pipeline has counted in the budget. */
  #charged = 0;
  readonly #wake = () => this.#flush();
  readonly #queue: ReleaseQueue;
  #slots: Slot[] = [];
  #order = 0;
  #lastDueMs = -Infinity;
  #sinkBlocked = false;
  #sourceStopped = false;
  #inputEnded = false;
  #pendingEnd: EndAction | undefined;
  #ended = false;
  #closed = false;
  #timerAt: number | undefined;
  #cancelTimer: (() => void) | undefined;
  /** Inside push(), end(), update() or remove(): they flush when the stages are done. */
  #inside = 0;

  constructor(options: PipelineOptions) {
    this.transport = options.transport;
    this.direction = options.direction;
    this.counters = options.counters ?? createCounters();
    this.#clock = options.clock;
    this.#sink = options.sink;
    this.#maxBytes = options.maxBufferedBytes;
    this.#maxPackets = options.maxBufferedPackets ?? Number.POSITIVE_INFINITY;
    this.#lowWaterBytes = lowWater(this.#maxBytes);
    this.#onWritable = options.onWritable;
    this.#budget = options.budget;
    this.#ip = options.ip ?? false;
    this.#observe = options.observe;
    this.#queue = new ReleaseQueue(options.transport === 'tcp');
  }

  /** Bytes held now: waiting in the release queue or held by a stage. */
  get bufferedBytes(): number {
    let held = this.#queue.bytes;
    for (const slot of this.#slots) held += slot.stage.heldBytes ?? 0;
    return held;
  }

  /** What the bound counts: the bytes held, plus PACKET_OVERHEAD_BYTES for each packet held. */
  get memoryBytes(): number {
    let held = this.#queue.bytes + this.#queue.size * PACKET_OVERHEAD_BYTES;
    for (const slot of this.#slots) {
      const stage = slot.stage;
      const bytes = stage.heldBytes;
      if (bytes !== undefined) held += bytes + (stage.heldPackets ?? 0) * PACKET_OVERHEAD_BYTES;
    }
    return held;
  }

  /** Packets waiting in the release queue. */
  get queuedPackets(): number {
    return this.#queue.size;
  }

  /** True once the end of the stream was written (or the pipeline was reset or closed). */
  get finished(): boolean {
    return this.#ended || this.#closed;
  }

  /** Nothing held, nothing waiting. */
  get idle(): boolean {
    return this.bufferedBytes === 0 && this.#queue.size === 0;
  }

  get stageIds(): string[] {
    return this.#slots.map((s) => s.id);
  }

  /**
   * A chunk or datagram arrives. TCP: returns false when the source should stop reading until
   * `onWritable`. UDP: returns false when the datagram was dropped because the queue is full.
   */
  push(data: Buffer): boolean {
    if (this.#closed || this.#inputEnded) {
      this.#drop('truncated', data);
      return false;
    }
    if (this.transport === 'udp') {
      const memory = this.memoryBytes;
      const budget = this.#budget;
      const overBudget = budget !== undefined && memory > 0 && budget.spent;
      if (
        overBudget ||
        this.#queue.size >= this.#maxPackets ||
        memory + data.length + PACKET_OVERHEAD_BYTES > this.#maxBytes
      ) {
        if (overBudget) budget.hits.dropped += 1;
        this.#drop('overflowed', data);
        return false;
      }
    }
    const now = this.#clock.now();
    this.#inside++;
    try {
      this.#emitFrom(0, { data, arrivedMs: now, dueMs: now });
    } finally {
      this.#inside--;
    }
    this.#account();
    if (this.transport === 'udp') return true;
    if (this.#mustStop(now, false)) {
      this.#sourceStopped = true;
      if (this.#budget?.spent) {
        this.#budget.hits.paused += 1;
        this.#budget.wait(this.#wake);
      }
      return false;
    }
    return true;
  }

  /** Tell the budget what this pipeline holds now. */
  #account(): void {
    const budget = this.#budget;
    if (budget === undefined) return;
    const memory = this.#closed ? 0 : this.memoryBytes;
    if (memory === this.#charged) return;
    const delta = memory - this.#charged;
    this.#charged = memory;
    budget.add(delta);
  }

  /**
   * TCP: stop reading when the buffer bound is reached, or the relay's budget is spent and this
   * pipeline holds something, or when the sink is full with data that is already due (it cannot
   * keep up). While what waits is not yet due (a delay), keep reading: the sink only has to be
   * ready when it falls due. `resuming`: the test to read again, with the low water marks.
   */
  #mustStop(now: number, resuming: boolean): boolean {
    const memory = this.memoryBytes;
    if (memory >= (resuming ? this.#lowWaterBytes : this.#maxBytes)) return true;
    const budget = this.#budget;
    if (budget !== undefined && memory > 0 && (resuming ? !budget.low : budget.spent)) return true;
    if (!this.#sinkBlocked) return false;
    const head = this.#queue.peek();
    return head === undefined || head.dueMs <= now;
  }

  /**
   * The source ended (TCP FIN): the end follows the data through every stage. `reset`: the source
   * was reset; what it sent before goes on first, as on a real path.
   */
  end(action: EndAction = 'end'): void {
    if (this.#closed || this.#inputEnded) return;
    this.#inputEnded = true;
    this.#inside++;
    try {
      this.#endFrom(0, action);
    } finally {
      this.#inside--;
    }
    this.#flush();
  }

  /** The sink can take more (its 'drain'). */
  sinkDrained(): void {
    if (!this.#sinkBlocked) return;
    this.#sinkBlocked = false;
    this.#flush();
  }

  has(id: string): boolean {
    return this.#slots.some((s) => s.id === id);
  }

  /** Insert a stage; stages run in `rank` order, then in the order added. */
  add(id: string, rank: number, stage: Stage, random: Random): void {
    if (this.#closed) {
      stage.close?.();
      return;
    }
    if (this.has(id)) throw new Error(`stage '${id}' is already in the pipeline`);
    const slot = this.#makeSlot(id, rank, stage, random);
    let at = this.#slots.findIndex((s) => s.rank > rank);
    if (at < 0) at = this.#slots.length;
    this.#slots.splice(at, 0, slot);
    this.#renumber();
    stage.start?.(slot.ctx);
  }

  /**
   * New parameters for a stage: `stage.update()` if it has one, otherwise `replacement()` takes
   * its place and whatever the old one held moves on through it. Returns false if there is no such stage.
   */
  update(id: string, params: unknown, replacement: () => Stage, random: Random): boolean {
    const slot = this.#slots.find((s) => s.id === id);
    if (!slot) return false;
    this.#inside++;
    try {
      if (slot.stage.update) {
        slot.stage.update(params, slot.ctx);
      } else {
        const fresh = this.#makeSlot(id, slot.rank, replacement(), random);
        this.#slots.splice(slot.index + 1, 0, fresh);
        this.#renumber();
        fresh.stage.start?.(fresh.ctx);
        this.#retire(slot);
      }
    } finally {
      this.#inside--;
    }
    this.#flush();
    return true;
  }

  /** Take a stage out; what it held goes on, nothing is lost. */
  remove(id: string): boolean {
    const slot = this.#slots.find((s) => s.id === id);
    if (!slot) return false;
    this.#inside++;
    try {
      this.#retire(slot);
    } finally {
      this.#inside--;
    }
    this.#flush();
    return true;
  }

  /** Discard everything and cancel timers (the connection is gone). */
  close(): void {
    if (this.#closed) return;
    this.#closed = true;
    this.#cancelTimer?.();
    this.#cancelTimer = undefined;
    for (const slot of this.#slots) {
      slot.removed = true;
      slot.stage.close?.();
    }
    this.#slots = [];
    this.#queue.clear((packet) => this.#sink.discard?.(packet.data));
    this.#budget?.cancel(this.#wake);
    this.#account();
  }

  #makeSlot(id: string, rank: number, stage: Stage, random: Random): Slot {
    const slot: Slot = {
      id,
      rank,
      order: this.#order++,
      stage,
      index: -1,
      removed: false,
      ended: false,
      ctx: {
        clock: this.#clock,
        random,
        transport: this.transport,
        direction: this.direction,
        ip: this.#ip,
        emit: (packet) => {
          this.#emitFrom(this.#nextIndex(slot), packet);
          // From the stage's own timer (stall, slow-close): what it let go may be due, or may let
          // a source stopped at the bound read again.
          if (this.#inside === 0) this.#flush();
        },
        end: (action = 'end') => {
          if (slot.ended) return;
          slot.ended = true;
          this.#endFrom(this.#nextIndex(slot), action);
        },
        reset: () => this.#reset(),
        count: (counter, packet) => {
          if (DROPS.has(counter)) this.#drop(counter, packet.data);
          else {
            this.#count(counter, packet.data.length);
            this.#observe?.(counter, packet.data);
          }
        },
      },
    };
    return slot;
  }

  #retire(slot: Slot): void {
    slot.stage.release?.(slot.ctx);
    slot.stage.close?.();
    slot.removed = true;
    this.#slots.splice(slot.index, 1);
    this.#renumber();
  }

  #renumber(): void {
    this.#slots.forEach((s, i) => (s.index = i));
  }

  /** Where a stage's output goes: the next stage, even if the stage itself was just removed. */
  #nextIndex(slot: Slot): number {
    if (!slot.removed) return slot.index + 1;
    const i = this.#slots.findIndex(
      (s) => s.rank > slot.rank || (s.rank === slot.rank && s.order > slot.order),
    );
    return i < 0 ? this.#slots.length : i;
  }

  #emitFrom(index: number, packet: Packet): void {
    if (this.#closed) return;
    const slot = this.#slots[index];
    if (slot) slot.stage.push(packet, slot.ctx);
    else this.#release(packet);
  }

  #endFrom(index: number, action: EndAction): void {
    if (this.#closed) return;
    const slot = this.#slots[index];
    if (!slot) {
      if (this.#pendingEnd === undefined && !this.#ended) this.#pendingEnd = action;
      this.#flush();
      return;
    }
    if (slot.stage.end) slot.stage.end(slot.ctx, action);
    else slot.ctx.end(action);
  }

  /** A packet leaves the last stage. */
  #release(packet: Packet): void {
    if (this.#pendingEnd !== undefined || this.#ended) {
      this.#drop('truncated', packet.data);
      return;
    }
    if (this.transport === 'tcp') {
      if (packet.dueMs < this.#lastDueMs) packet.dueMs = this.#lastDueMs;
      this.#lastDueMs = packet.dueMs;
    }
    if (packet.dueMs > packet.arrivedMs) this.#count('delayed', packet.data.length);
    if (
      this.#queue.size === 0 &&
      !this.#sinkBlocked &&
      (packet.dueMs <= packet.arrivedMs || packet.dueMs <= this.#clock.now())
    ) {
      this.#write(packet);
      return;
    }
    this.#queue.add(packet);
    this.#arm();
  }

  #write(packet: Packet): void {
    const c = this.counters.forwarded;
    c.packets += 1;
    c.bytes += packet.data.length;
    this.#observe?.('forwarded', packet.data);
    if (!this.#sink.write(packet.data, packet)) this.#sinkBlocked = true;
  }

  #flush(): void {
    if (this.#closed) return;
    if (this.#queue.size > 0 && !this.#sinkBlocked) {
      const now = this.#clock.now();
      this.#sink.cork?.();
      for (
        let head = this.#queue.peek();
        head && head.dueMs <= now && !this.#sinkBlocked;
        head = this.#queue.peek()
      ) {
        this.#write(this.#queue.take()!);
      }
      this.#sink.uncork?.();
    }
    if (this.#queue.size === 0 && this.#pendingEnd !== undefined && !this.#ended) {
      const action = this.#pendingEnd;
      this.#ended = true;
      this.#sink.end(action);
    }
    this.#arm();
    this.#account();
    if (!this.#sourceStopped || this.#closed) return;
    if (!this.#mustStop(this.#clock.now(), true)) {
      this.#sourceStopped = false;
      this.#budget?.cancel(this.#wake);
      this.#onWritable?.();
    } else if (this.#budget !== undefined && !this.#budget.low) {
      this.#budget.wait(this.#wake);
    }
  }

  /** One timer, for the earliest packet; none while the sink is full (its drain flushes). */
  #arm(): void {
    const head = this.#queue.peek();
    if (!head || this.#closed) {
      if (this.#cancelTimer) {
        this.#cancelTimer();
        this.#cancelTimer = undefined;
        this.#timerAt = undefined;
      }
      return;
    }
    if (this.#sinkBlocked && this.#cancelTimer === undefined) return;
    if (this.#timerAt !== undefined && this.#timerAt <= head.dueMs) return;
    this.#cancelTimer?.();
    this.#timerAt = head.dueMs;
    this.#cancelTimer = this.#clock.setTimer(head.dueMs, () => {
      this.#cancelTimer = undefined;
      this.#timerAt = undefined;
      this.#flush();
    });
  }

  #reset(): void {
    if (this.#closed) return;
    const sink = this.#sink;
    this.close();
    this.#ended = true;
    sink.reset();
  }

  /** Bytes that go no further: counted, and given back to the sink (a TCP link's read pool). */
  #drop(counter: CounterName, data: Buffer): void {
    this.#count(counter, data.length);
    this.#observe?.(counter, data);
    this.#sink.discard?.(data);
  }

  #count(counter: CounterName, bytes: number): void {
    const c = this.counters[counter];
    c.packets += 1;
    c.bytes += bytes;
  }
}
