/**
 * The TCP lane's sequence diagram, from the link's packet events: a window of packets around the
 * first data segment the link dropped (sender → receiver), with what became of each one, the
 * retransmission of the dropped bytes, and a caption in plain words computed from them.
 *
 * SequenceRecorder keeps the events (bounded: a ring of BEFORE_EVENTS until the first data segment
 * dies, then at most AFTER_EVENTS, ending TAIL_EVENTS after its retransmission arrived);
 * sequenceOf() (pure) pairs each packet's arrival at the link with its fate and reads the story.
 */
import { parseTcp, TCP_ACK, TCP_FIN, TCP_RST, TCP_SYN } from '../impair/ip.js';
import type { LinkPacketEvent } from '../link/link.js';

/** Events kept before the first dropped data segment (a ring). */
export const BEFORE_EVENTS = 40;
/** Events kept from it on, at most. */
export const AFTER_EVENTS = 400;
/** Events kept once its retransmission has arrived. */
export const TAIL_EVENTS = 30;

export type PacketFate = 'in' | 'forwarded' | 'dropped' | 'overflowed';

/** One packet event of the TCP lane's link, as kept (no payload). */
export interface TcpEvent {
  /** Milliseconds since the link was made. */
  readonly t: number;
  /** up: sender → receiver (data); down: receiver → sender (ACKs). */
  readonly dir: 'up' | 'down';
  readonly event: PacketFate;
  /** The IP id: with the TCP fields, tells one packet from another. */
  readonly id: number;
  readonly seq: number;
  readonly ack: number;
  readonly flags: number;
  readonly len: number;
}

/** One arrow of the diagram. Times in ms since the sender's first SYN (else the first packet kept); seq/ack relative. */
export interface SequencePacket {
  readonly dir: 'up' | 'down';
  readonly sentMs: number;
  /** When it left the link at the other end; null: the link dropped it (at `sentMs`). */
  readonly arrivedMs: number | null;
  /** Data: the bytes of the stream it carries [seq, seq + len); ACKs: len 0. */
  readonly seq: number;
  readonly len: number;
  readonly ack: number;
  /** tcpdump's letters: S (SYN), F (FIN), R (RST), . (ACK). */
  readonly flags: string;
  /** data, ack; dropped (the first data segment lost, the diagram's subject); resent (bytes sent before). */
  readonly role: 'data' | 'ack' | 'dropped' | 'resent';
}

export interface Sequence {
  readonly packets: readonly SequencePacket[];
  /** The first data segment the link dropped: its index in `packets`, its bytes. */
  readonly dropped: {
    readonly index: number;
    readonly seq: number;
    readonly end: number;
    readonly atMs: number;
  };
  /** Its retransmission, if the window saw it: index, how long after, ACKs for the missing bytes before it. */
  readonly retransmission?: {
    readonly index: number;
    readonly afterMs: number;
    readonly dupAcks: number;
    /** The retransmission was itself dropped. */
    readonly lostAgain: boolean;
  };
  /** True if seq and ack count from the connection's SYN (else from the window's first). */
  readonly relative: boolean;
  readonly caption: string;
}

const r2 = (x: number) => Math.round(x * 100) / 100;
const flagText = (flags: number) =>
  (flags & TCP_SYN ? 'S' : '') +
  (flags & TCP_FIN ? 'F' : '') +
  (flags & TCP_RST ? 'R' : '') +
  (flags & TCP_ACK ? '.' : '');
/** a - b in sequence space (wraps at 2^32). */
const seqDiff = (a: number, b: number) => (a - b) | 0;

export class SequenceRecorder {
  readonly #before: TcpEvent[] = [];
  #after: TcpEvent[] | undefined;
  #stopAt = AFTER_EVENTS;
  #dropped: TcpEvent | undefined;
  /** The initial sequence numbers (from the SYN and the SYN-ACK) and when the connection began. */
  #isn: number | undefined;
  #isnBack: number | undefined;
  #startMs: number | undefined;

  /** A link's onPacket: keeps TCP events, bounded. */
  readonly onPacket = (e: LinkPacketEvent): void => {
    if (e.event !== 'in' && e.event !== 'forwarded' && e.event !== 'dropped' && e.event !== 'overflowed')
      return;
    const tcp = parseTcp(e.packet);
    if (!tcp) return;
    this.record({
      t: e.atMs,
      dir: e.dir,
      event: e.event,
      id: e.packet.readUInt16BE(4),
      seq: tcp.seq,
      ack: tcp.ack,
      flags: tcp.flags,
      len: tcp.payloadBytes,
    });
  };

  record(event: TcpEvent): void {
    if (event.dir === 'up' && event.event === 'in' && event.flags & TCP_SYN && !(event.flags & TCP_ACK)) {
      this.#isn ??= event.seq;
      this.#startMs ??= event.t;
    }
    if (event.dir === 'down' && event.event === 'in' && event.flags & TCP_SYN && event.flags & TCP_ACK)
      this.#isnBack ??= event.seq;
    if (this.#after === undefined) {
      this.#before.push(event);
      if (this.#before.length > BEFORE_EVENTS) this.#before.shift();
      if (
        event.dir === 'up' &&
        event.len > 0 &&
        (event.event === 'dropped' || event.event === 'overflowed')
      ) {
        this.#dropped = event;
        this.#after = [];
      }
      return;
    }
    if (this.#after.length >= this.#stopAt) return;
    this.#after.push(event);
    const d = this.#dropped!;
    if (
      this.#stopAt === AFTER_EVENTS &&
      event.dir === 'up' &&
      event.event === 'forwarded' &&
      event.len > 0 &&
      seqDiff(d.seq, event.seq) >= 0 &&
      seqDiff(d.seq, event.seq) < event.len
    )
      this.#stopAt = this.#after.length + TAIL_EVENTS;
  }

  /** Events kept (for tests): at most BEFORE_EVENTS + AFTER_EVENTS. */
  events(): TcpEvent[] {
    return [...this.#before, ...(this.#after ?? [])];
  }

  /** The diagram, or undefined if no data segment was dropped. */
  sequence(): Sequence | undefined {
    if (this.#dropped === undefined) return undefined;
    return sequenceOf(this.events(), { isn: this.#isn, isnBack: this.#isnBack, startMs: this.#startMs });
  }
}

interface Paired {
  readonly e: TcpEvent;
  arrived?: number;
  died?: number;
}

/**
 * The diagram from kept events: each packet's `in` paired with its fate (by direction, IP id and
 * TCP fields; a packet the link duplicated is drawn twice), the first dropped data segment, and
 * its retransmission. `isn`: the sender's SYN sequence number, `startMs` when it was sent.
 */
export function sequenceOf(
  events: readonly TcpEvent[],
  origin: { isn?: number | undefined; isnBack?: number | undefined; startMs?: number | undefined } = {},
): Sequence | undefined {
  const pending = new Map<string, Paired[]>();
  const packets: Paired[] = [];
  const keyOf = (e: TcpEvent) => `${e.dir}/${e.id}/${e.seq}/${e.ack}/${e.len}/${e.flags}`;
  for (const e of events) {
    const key = keyOf(e);
    if (e.event === 'in') {
      const p: Paired = { e };
      packets.push(p);
      const list = pending.get(key) ?? [];
      list.push(p);
      pending.set(key, list);
      continue;
    }
    const list = pending.get(key);
    if (!list) continue; // entered the link before the window
    const open = list.find((p) => p.arrived === undefined && p.died === undefined);
    if (e.event === 'forwarded') {
      if (open) open.arrived = e.t;
      else if (list.length > 0) packets.push({ e: list[0]!.e, arrived: e.t }); // a duplicate
    } else if (open) open.died = e.t;
  }
  const shown = packets.filter((p) => p.arrived !== undefined || p.died !== undefined);
  const first = shown.findIndex((p) => p.e.dir === 'up' && p.e.len > 0 && p.died !== undefined);
  if (first < 0) return undefined;
  const firstOf = (dir: 'up' | 'down') => shown.find((p) => p.e.dir === dir)?.e.seq ?? 0;
  // Relative to each side's SYN (its first byte is 0), else to the first packet shown.
  const base = origin.isn !== undefined ? (origin.isn + 1) >>> 0 : firstOf('up');
  const baseBack = origin.isnBack !== undefined ? (origin.isnBack + 1) >>> 0 : firstOf('down');
  const startMs = origin.startMs ?? shown[0]!.e.t;
  const rel = (n: number) => (n - base) >>> 0;
  const relBack = (n: number) => (n - baseBack) >>> 0;
  const at = (t: number) => r2(t - startMs);
  const d = shown[first]!.e;
  const retransmitIndex = shown.findIndex(
    (p, i) =>
      i > first &&
      p.e.dir === 'up' &&
      p.e.len > 0 &&
      seqDiff(d.seq, p.e.seq) >= 0 &&
      seqDiff(d.seq, p.e.seq) < p.e.len,
  );
  const sentBefore = new Set<number>();
  const out: SequencePacket[] = shown.map((p, i) => {
    const e = p.e;
    let role: SequencePacket['role'] = e.dir === 'down' && e.len === 0 ? 'ack' : 'data';
    if (e.dir === 'up' && e.len > 0) {
      if (i === first) role = 'dropped';
      else if (sentBefore.has(e.seq)) role = 'resent';
      sentBefore.add(e.seq);
    }
    return {
      dir: e.dir,
      sentMs: at(e.t),
      arrivedMs: p.arrived !== undefined ? at(p.arrived) : null,
      seq: e.dir === 'up' ? rel(e.seq) : relBack(e.seq),
      len: e.len,
      ack: e.dir === 'down' ? rel(e.ack) : relBack(e.ack),
      flags: flagText(e.flags),
      role,
    };
  });
  // Mark the retransmission of the dropped bytes (also when its start differs from the original's).
  if (retransmitIndex >= 0) out[retransmitIndex] = { ...out[retransmitIndex]!, role: 'resent' };
  const seq = rel(d.seq);
  const end = seq + d.len;
  const dropped = { index: first, seq, end, atMs: at(d.t) };
  let retransmission: Sequence['retransmission'];
  const words = [
    `segment ${seq}:${end} (${d.len} bytes${origin.isn !== undefined ? ' of the stream' : ''}) was dropped by the link ${dropped.atMs.toFixed(1)} ms ${origin.startMs !== undefined ? "after the sender's first SYN" : 'into this log'}`,
  ];
  if (retransmitIndex >= 0) {
    const r = shown[retransmitIndex]!;
    // ACKs that reached the sender before it resent, still asking for the dropped bytes, after
    // the first ACK that asked for them (that one acknowledged the segment before).
    const asking = shown.filter((p) => p.e.dir === 'down' && p.e.len === 0 && p.e.ack === d.seq);
    const dupAcks = asking.slice(1).filter((p) => p.arrived !== undefined && p.arrived <= r.e.t).length;
    retransmission = {
      index: retransmitIndex,
      afterMs: r2(r.e.t - d.t),
      dupAcks,
      lostAgain: r.died !== undefined,
    };
    const why =
      dupAcks >= 3
        ? `after ${dupAcks} duplicate ACKs (a fast retransmit)`
        : dupAcks > 0
          ? `after ${dupAcks} duplicate ACK${dupAcks === 1 ? '' : 's'}`
          : 'with no duplicate ACK back: a timer ran out';
    words.push(
      `the kernel resent it ${retransmission.afterMs.toFixed(1)} ms later, ${why}` +
        (retransmission.lostAgain
          ? '; the link dropped that copy too'
          : `; it arrived ${(r.arrived! - d.t).toFixed(1)} ms after the first copy was sent`),
    );
  } else words.push('its retransmission came after the part of the log kept here');
  return {
    packets: out,
    dropped,
    ...(retransmission !== undefined ? { retransmission } : {}),
    relative: origin.isn !== undefined,
    caption: words.join('; ') + '.',
  };
}
