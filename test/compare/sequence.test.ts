/**
 * The sequence diagram's extraction, on hand-made IPv4/TCP packets fed to the recorder as the
 * link would: a connection, a data segment dropped, duplicate ACKs, the retransmission.
 */
import assert from 'node:assert/strict';
import { test } from 'node:test';
import { parseTcp, TCP_ACK, TCP_SYN } from '../../src/impair/ip.js';
import type { LinkPacketEvent } from '../../src/link/link.js';
import {
  AFTER_EVENTS,
  BEFORE_EVENTS,
  SequenceRecorder,
  TAIL_EVENTS,
  type Sequence,
} from '../../src/compare/sequence.js';
import { sequenceSvg } from '../../src/compare/report/sequence-svg.js';
import { SYN } from '../helpers/packets.js';

const SENDER = [198, 18, 0, 2];
const RECEIVER = [198, 18, 0, 1];
const ISN = 0xfffffff0; // wraps within the first 16 bytes: relative numbers must not care
const ISN_BACK = 7000;

let ipId = 0;
/** An IPv4 packet with a 20-byte TCP header and `len` bytes of payload. */
function tcpPacket(dir: 'up' | 'down', seq: number, ack: number, flags: number, len: number): Buffer {
  const p = Buffer.alloc(40 + len);
  p[0] = 0x45;
  p.writeUInt16BE(40 + len, 2);
  p.writeUInt16BE(++ipId & 0xffff, 4);
  p[8] = 64;
  p[9] = 6;
  Buffer.from(dir === 'up' ? SENDER : RECEIVER).copy(p, 12);
  Buffer.from(dir === 'up' ? RECEIVER : SENDER).copy(p, 16);
  p.writeUInt16BE(dir === 'up' ? 40000 : 9, 20);
  p.writeUInt16BE(dir === 'up' ? 9 : 40000, 22);
  p.writeUInt32BE(seq >>> 0, 24);
  p.writeUInt32BE(ack >>> 0, 28);
  p[32] = 5 << 4;
  p[33] = flags;
  return p;
}

/** A timeline of the link's events, fed in time order to a recorder. */
class Script {
  readonly events: { atMs: number; dir: 'up' | 'down'; event: string; packet: Buffer }[] = [];
  /** A packet into the link at `atMs`; out `delayMs` later, or dropped there. */
  packet(atMs: number, dir: 'up' | 'down', packet: Buffer, fate: 'forwarded' | 'dropped', delayMs = 20) {
    this.events.push({ atMs, dir, event: 'in', packet });
    this.events.push({ atMs: fate === 'dropped' ? atMs : atMs + delayMs, dir, event: fate, packet });
  }
  feed(recorder: SequenceRecorder) {
    const sorted = this.events.map((e, i) => ({ e, i })).sort((a, b) => a.e.atMs - b.e.atMs || a.i - b.i);
    for (const { e } of sorted) recorder.onPacket(e as LinkPacketEvent);
  }
}

const up = (seq: number, len: number) => tcpPacket('up', ISN + 1 + seq, ISN_BACK + 1, TCP_ACK, len);
const ackOf = (ack: number) => tcpPacket('down', ISN_BACK + 1, ISN + 1 + ack, TCP_ACK, 0);

/**
 * The handshake at 0 ms, then a 100-byte segment every 5 ms from 10 ms (one way 20 ms), each ACKed
 * at once; segment `lost` is dropped, and resent 1 ms after the third duplicate ACK reached the sender.
 */
function lossScript(segments: number, lost: number): { script: Script; resentAt: number } {
  const s = new Script();
  s.packet(0, 'up', tcpPacket('up', ISN, 0, TCP_SYN, 0), 'forwarded');
  s.packet(20, 'down', tcpPacket('down', ISN_BACK, ISN + 1, TCP_SYN | TCP_ACK, 0), 'forwarded');
  s.packet(40, 'up', tcpPacket('up', ISN + 1, ISN_BACK + 1, TCP_ACK, 0), 'forwarded');
  let dups = 0;
  let resentAt = -1;
  for (let k = 0; k < segments; k++) {
    const at = 50 + 5 * k;
    if (resentAt < 0 || at < resentAt) {
      s.packet(at, 'up', up(100 * k, 100), k === lost ? 'dropped' : 'forwarded');
    } else s.packet(at + 0.5, 'up', up(100 * k, 100), 'forwarded');
    if (k === lost) continue;
    // The receiver ACKs at arrival: up to the hole once there is one (a duplicate), else this segment.
    const acked = k < lost ? 100 * (k + 1) : 100 * lost;
    if (k > lost) dups += 1;
    s.packet(at + 20, 'down', ackOf(acked), 'forwarded');
    if (k > lost && dups === 3) {
      resentAt = at + 40 + 1;
      s.packet(resentAt, 'up', up(100 * lost, 100), 'forwarded');
    }
  }
  return { script: s, resentAt };
}

test('parseTcp reads seq, ack, flags and payload length (a SYN the kernel made, a hand-made segment)', () => {
  const syn = parseTcp(SYN)!;
  assert.equal(syn.flags, TCP_SYN);
  assert.equal(syn.payloadBytes, 0);
  assert.equal(syn.seq, 0xb873c4a0);
  const data = parseTcp(tcpPacket('up', 123, 456, TCP_ACK, 77))!;
  assert.deepEqual(data, { sport: 40000, dport: 9, seq: 123, ack: 456, flags: TCP_ACK, payloadBytes: 77 });
  assert.equal(parseTcp(Buffer.from('4500001c0000000040110000c6120002c6120001', 'hex')), undefined);
});

test('a dropped data segment, three duplicate ACKs, the retransmission: the diagram and its caption', () => {
  const { script, resentAt } = lossScript(12, 4);
  const recorder = new SequenceRecorder();
  script.feed(recorder);
  const seq: Sequence = recorder.sequence()!;
  assert.ok(seq, 'a sequence');
  assert.ok(seq.relative);
  assert.deepEqual(seq.dropped, { index: seq.dropped.index, seq: 400, end: 500, atMs: 70 });
  const dropped = seq.packets[seq.dropped.index]!;
  assert.equal(dropped.role, 'dropped');
  assert.equal(dropped.arrivedMs, null);
  const r = seq.retransmission!;
  assert.ok(r, 'the retransmission was seen');
  const resent = seq.packets[r.index]!;
  assert.deepEqual([resent.dir, resent.seq, resent.len, resent.role], ['up', 400, 100, 'resent']);
  assert.equal(resent.sentMs, resentAt);
  assert.equal(resent.arrivedMs, resentAt + 20);
  assert.equal(r.afterMs, resentAt - 70);
  assert.equal(r.dupAcks, 3);
  assert.equal(r.lostAgain, false);
  // Every packet in the window was drawn once, each ACK relative to the sender's SYN.
  const acks = seq.packets.filter((p) => p.dir === 'down' && p.len === 0).map((p) => p.ack);
  assert.deepEqual(acks.slice(-8), [400, 400, 400, 400, 400, 400, 400, 400]);
  assert.equal(
    seq.caption,
    `segment 400:500 (100 bytes of the stream) was dropped by the link 70.0 ms after the sender's first SYN; the kernel resent it ${(resentAt - 70).toFixed(1)} ms later, after 3 duplicate ACKs (a fast retransmit); it arrived ${(resentAt - 50).toFixed(1)} ms after the first copy was sent.`,
  );
  // The SVG: one arrow per packet, one X for the drop, the retransmission among the resent.
  const svg = sequenceSvg(seq);
  assert.equal(svg.match(/<g class="packet /g)!.length, seq.packets.length);
  assert.equal(svg.match(/class="died"/g)!.length, 1);
  assert.equal(svg.match(/<g class="packet dropped lost"/g)!.length, 1);
  assert.equal(svg.match(/<g class="packet resent"/g)!.length, 1);
  assert.equal(svg.match(/<g class="packet dup-ack"/g)!.length, 7, 'ACKs of 400 after the first');
  assert.match(svg, />400:500 lost</);
  assert.match(svg, />400:500 resent</);
});

test('no data segment dropped (an ACK lost, the handshake fine): no sequence', () => {
  const s = new Script();
  s.packet(0, 'up', tcpPacket('up', ISN, 0, TCP_SYN, 0), 'forwarded');
  s.packet(10, 'up', up(0, 100), 'forwarded');
  s.packet(30, 'down', ackOf(100), 'dropped');
  s.packet(31, 'up', tcpPacket('up', ISN + 1, 0, TCP_ACK, 0), 'dropped'); // a pure ACK up
  const recorder = new SequenceRecorder();
  s.feed(recorder);
  assert.equal(recorder.sequence(), undefined);
});

test('the recorder is bounded: a long run keeps a window and stops after the retransmission', () => {
  const { script } = lossScript(2000, 1500);
  const recorder = new SequenceRecorder();
  script.feed(recorder);
  const events = recorder.events();
  assert.ok(events.length <= BEFORE_EVENTS + AFTER_EVENTS, `${events.length} events`);
  const seq = recorder.sequence()!;
  assert.equal(seq.dropped.seq, 150_000);
  assert.ok(seq.retransmission, 'its retransmission is in the window');
  // After the retransmission arrived, TAIL_EVENTS more and no more.
  const arrived = events.findIndex(
    (e, i) =>
      i > BEFORE_EVENTS && e.dir === 'up' && e.event === 'forwarded' && e.seq === (ISN + 1 + 150_000) >>> 0,
  );
  assert.equal(events.length - 1 - arrived, TAIL_EVENTS);
  // Before the drop: the ring's worth.
  const dropAt = events.findIndex((e) => e.event === 'dropped');
  assert.equal(dropAt, BEFORE_EVENTS - 1);
  assert.ok(seq.packets.length < (BEFORE_EVENTS + AFTER_EVENTS) / 2 + 1);
});

test('a retransmission never seen (the window ends first) is said so', () => {
  const s = new Script();
  s.packet(0, 'up', tcpPacket('up', ISN, 0, TCP_SYN, 0), 'forwarded');
  s.packet(10, 'up', up(0, 100), 'dropped');
  for (let k = 1; k <= AFTER_EVENTS; k++) s.packet(10 + k, 'up', up(100 * k, 100), 'forwarded');
  const recorder = new SequenceRecorder();
  s.feed(recorder);
  const seq = recorder.sequence()!;
  assert.equal(seq.retransmission, undefined);
  assert.match(seq.caption, /its retransmission came after the part of the log kept here/);
  // Before the drop: the SYN in, the segment in, dropped; then AFTER_EVENTS and no more.
  assert.equal(recorder.events().length, 3 + AFTER_EVENTS);
});
