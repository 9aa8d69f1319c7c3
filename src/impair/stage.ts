/**
 * The stage contract: what a fault is, for the pipeline that runs it. (src/relay/README.md says
 * the same with pictures; keep them in step.)
 *
 * A relay has, per connection (TCP) or flow (UDP), two pipelines: `up` (client → target) and
 * `down` (target → client). A pipeline is a chain of stages, then a release queue:
 *
 *   socket read ──▶ stamp ──▶ stage ──▶ stage ──▶ … ──▶ release queue ──▶ socket write
 *
 * 1. Stamp. Each chunk read (TCP) or datagram received (UDP) becomes a Packet stamped with its
 *    arrival time, `arrivedMs`, and `dueMs = arrivedMs`.
 * 2. Stages. Each stage gets the packets in arrival order through `push(packet, ctx)` and passes on
 *    zero or more packets with `ctx.emit()`: the same one, several (duplicate, slice), none
 *    (loss). A stage that delays does not wait: it moves `dueMs` later, computed from `arrivedMs`
 *    (`dueMs += delayMs`), so a 50 ms delay costs 50 ms of latency and no throughput: packets
 *    behind it are stamped and queued meanwhile.
 * 3. Release queue. The last step holds each packet until `dueMs`, then writes it. On TCP the
 *    queue keeps the order (a chunk never leaves before the one read before it: a stream); on UDP
 *    it releases by `dueMs`, so datagrams may overtake (reorder, jitter), as in netem.
 *
 * Rules for a stage:
 * - Never mutate `packet.data`: it may be shared (a duplicate). Copy first (corrupt does).
 * - Only ever move `dueMs` later, except a stage whose job is to send a packet ahead (reorder).
 * - A stage that keeps packets for a while (stall) reports them in `heldBytes` and `heldPackets`,
 *   which count against the pipeline's declared buffer bound (each packet as its bytes plus
 *   PACKET_OVERHEAD_BYTES); every other stage holds nothing.
 * - On TCP, every byte read is forwarded unless the stage ends the stream (`ctx.end()`, limit-data)
 *   or the connection (`ctx.reset()`, reset-after): dropping bytes from a stream is corruption,
 *   not loss. Loss, duplicate, reorder and corrupt are UDP faults.
 * - `end(ctx)` is the end of the input (TCP FIN). Pass it on with `ctx.end()`, now or later
 *   (slow-close), after any packets the stage still holds.
 * - `start(ctx)` runs when the stage is put in place (the link opens, or the fault is added while
 *   it is open): a stage that acts on time alone (reset-after T, stall T) arms its timer there.
 * - Stages can be added, changed (`update`) and removed while traffic flows. On removal the
 *   pipeline calls `release(ctx)`: emit everything still held (and the end, if held back); the
 *   stage receives nothing after it. `close()` cancels the stage's timers.
 * - Randomness comes only from `ctx.random` (seeded, the stage's own stream); time only from
 *   `ctx.clock`. Then a seeded run replays exactly and a test drives time by hand.
 * - Count what you do with `ctx.count('dropped', packet)`; the pipeline counts `forwarded`
 *   and `delayed` itself.
 *
 * A fault type (src/relay/fault.ts) describes a stage for users: its name, parameters and flags.
 * Adding a fault is adding one file in src/relay/faults/ (and its line in faults/index.ts).
 */
import type { Transport } from '../address.js';
import type { Clock } from '../measure/clock.js';
import type { Random } from './random.js';

/**
 * What one held packet costs beyond its bytes: the Packet, the Buffer view on its bytes and the
 * queue's entry are about 200 bytes of V8 heap (measured: 194 per 1-byte segment), and a segment
 * written to a socket gets a write request too. Every bound counts a packet as its bytes plus this,
 * so a stream cut into 1-byte segments (`--slice 1`) is held 257 bytes per byte, not 1.
 */
export const PACKET_OVERHEAD_BYTES = 256;

/** `up`: client → target. `down`: target → client. */
export type Direction = 'up' | 'down';

export interface Packet {
  /** A datagram (UDP) or a chunk as read (TCP). Shared: never mutate it, copy first. */
  data: Buffer;
  /** When it arrived at the relay, on the pipeline's clock (ms). */
  readonly arrivedMs: number;
  /** The earliest time it may be written. Starts at arrivedMs. */
  dueMs: number;
}

/** What happens when the end of a stream reaches the socket. */
export type EndAction = 'end' | 'close' | 'reset';

/** The events a pipeline counts, per direction. */
export const COUNTER_NAMES = [
  /** Written to the socket. */
  'forwarded',
  /** Dropped on purpose (loss). */
  'dropped',
  /** Extra copies sent (duplicate). */
  'duplicated',
  /** Sent ahead of datagrams that arrived before them (reorder). */
  'reordered',
  /** Sent with a flipped bit (corrupt). */
  'corrupted',
  /** Held back before forwarding (delay, jitter, rate, slice, stall, …). */
  'delayed',
  /** Dropped because the bounded queue was full (UDP only: TCP pushes back instead). */
  'overflowed',
  /** Bytes read after a fault ended the stream or the connection (limit-data, reset-after). */
  'truncated',
] as const;

export type CounterName = (typeof COUNTER_NAMES)[number];

export interface Count {
  /** Datagrams (UDP) or chunks (TCP). */
  packets: number;
  bytes: number;
}

export type Counters = Record<CounterName, Count>;

export function createCounters(): Counters {
  return Object.fromEntries(COUNTER_NAMES.map((name) => [name, { packets: 0, bytes: 0 }])) as Counters;
}

export function resetCounters(counters: Counters): void {
  for (const name of COUNTER_NAMES) {
    counters[name].packets = 0;
    counters[name].bytes = 0;
  }
}

export interface StageContext {
  readonly clock: Clock;
  /** This stage's own seeded stream. */
  readonly random: Random;
  readonly transport: Transport;
  readonly direction: Direction;
  /** The packets are whole IP packets (the link, src/link/), not datagrams' or streams' payloads:
   * a fault that must know what is inside (corrupt, to keep or fix the checksum) looks with ip.ts. */
  readonly ip: boolean;
  /** Pass a packet on to the next stage (now, or later from a timer). */
  emit(packet: Packet): void;
  /** Pass the end of the stream on; `action` says what the socket does then (default `end`). */
  end(action?: EndAction): void;
  /** Reset the connection now (TCP RST on both sides); whatever is queued is discarded. */
  reset(): void;
  count(counter: CounterName, packet: Packet): void;
}

export interface Stage<P = unknown> {
  /** The stage is in place (the connection opened, or the fault was added): start timers here. */
  start?(ctx: StageContext): void;
  /** One packet, in arrival order. */
  push(packet: Packet, ctx: StageContext): void;
  /** The input ended. Default: `ctx.end(action)` at once. */
  end?(ctx: StageContext, action: EndAction): void;
  /** New parameters while traffic flows. Without it, the pipeline replaces the stage. */
  update?(params: P, ctx: StageContext): void;
  /** Being removed: emit everything held (and the end, if held back), now. */
  release?(ctx: StageContext): void;
  /** Bytes this stage holds now; they count against the pipeline's buffer bound. */
  readonly heldBytes?: number;
  /** Packets this stage holds now: each also counts PACKET_OVERHEAD_BYTES against the bound. */
  readonly heldPackets?: number;
  /** Cancel timers; the stage is gone. */
  close?(): void;
}
