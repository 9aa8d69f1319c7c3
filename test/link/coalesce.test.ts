/**
 * The per-packet path's GRO (src/link/coalesce.ts) on hand-made packets: which runs of TCP segments
 * are joined, what the joined write looks like (virtio header, IP header, partial checksum), and
 * that everything else goes out alone, in order. The real kernel taking the joined writes is
 * tested in fidelity.test.ts (the bytes arrive whole through --no-offload, --log, --duplicate).
 */
import assert from 'node:assert/strict';
import { test } from 'node:test';
import { coalesce } from '../../src/link/coalesce.js';
import { recomputeTransportChecksum } from '../../src/impair/ip.js';

const ACK = 0x10;
const PSH = 0x08;
const FIN = 0x01;
const MSS = 1448;

let ipId = 0;
/** An IPv4 TCP packet (timestamps option: 32-byte TCP header), payload bytes from `seq`. */
function tcp(seq: number, len: number, flags = ACK, ack = 5000, options = 0x0101080a): Buffer {
  const p = Buffer.alloc(52 + len);
  p[0] = 0x45;
  p.writeUInt16BE(52 + len, 2);
  p.writeUInt16BE(++ipId & 0xffff, 4);
  p.writeUInt16BE(0x4000, 6); // DF
  p[8] = 64;
  p[9] = 6;
  Buffer.from([198, 18, 0, 2]).copy(p, 12);
  Buffer.from([198, 18, 0, 1]).copy(p, 16);
  p.writeUInt16BE(40000, 20);
  p.writeUInt16BE(5201, 22);
  p.writeUInt32BE(seq >>> 0, 24);
  p.writeUInt32BE(ack, 28);
  p[32] = 8 << 4;
  p[33] = flags;
  p.writeUInt16BE(500, 34);
  p.writeUInt32BE(options, 40);
  p.writeUInt32BE(7, 44); // TSval
  p.writeUInt32BE(3, 48); // TSecr
  for (let i = 0; i < len; i++) p[52 + i] = (seq + i) & 0xff;
  p.writeUInt16BE(0, 10);
  let sum = 0;
  for (let i = 0; i < 20; i += 2) sum += p.readUInt16BE(i);
  while (sum > 0xffff) sum = (sum & 0xffff) + (sum >>> 16);
  p.writeUInt16BE(~sum & 0xffff, 10);
  recomputeTransportChecksum(p);
  return p;
}

function udp(): Buffer {
  const p = Buffer.alloc(28 + 10);
  p[0] = 0x45;
  p.writeUInt16BE(38, 2);
  p[8] = 64;
  p[9] = 17;
  return p;
}

const header = (w: Buffer) => ({
  flags: w[0],
  gsoType: w[1],
  hdrLen: w.readUInt16LE(2),
  gsoSize: w.readUInt16LE(4),
  csumStart: w.readUInt16LE(6),
  csumOffset: w.readUInt16LE(8),
});

/** The checksum the kernel finishes from a partial one (NEEDS_CSUM), as the whole packet would have. */
function finished(ip: Buffer): number {
  let sum = 0;
  for (let i = 20; i + 1 < ip.length; i += 2) sum += ip.readUInt16BE(i);
  if (ip.length % 2 === 1) sum += ip[ip.length - 1]! << 8;
  while (sum > 0xffff) sum = (sum & 0xffff) + (sum >>> 16);
  return ~sum & 0xffff;
}

test('a run of back-to-back segments becomes one GSO write with the bytes in order', () => {
  const seq0 = 0xfffff000; // the run wraps the sequence space
  const packets = [0, 1, 2, 3].map((i) => tcp(seq0 + i * MSS, MSS));
  packets.push(tcp(seq0 + 4 * MSS, 300, ACK | PSH));
  const { writes, joined } = coalesce(packets);
  assert.equal(writes.length, 1);
  assert.equal(joined, 5);
  const w = writes[0]!;
  assert.deepEqual(header(w), {
    flags: 1,
    gsoType: 1,
    hdrLen: 52,
    gsoSize: MSS,
    csumStart: 20,
    csumOffset: 16,
  });
  const ip = w.subarray(10);
  assert.equal(ip.readUInt16BE(2), 52 + 4 * MSS + 300, 'IP total length');
  assert.equal(ip.readUInt32BE(24), seq0, 'the first sequence number');
  assert.equal(ip[33], ACK | PSH, 'PSH from the last segment');
  const payload = Buffer.concat(packets.map((p) => p.subarray(52)));
  assert.deepEqual(ip.subarray(52), payload);
  // The IP header's checksum is whole: summed with it, the header gives 0xffff.
  let sum = 0;
  for (let i = 0; i < 20; i += 2) sum += ip.readUInt16BE(i);
  while (sum > 0xffff) sum = (sum & 0xffff) + (sum >>> 16);
  assert.equal(sum, 0xffff);
  // The partial TCP checksum, finished as the kernel does, is the whole segment's checksum.
  const whole = Buffer.from(ip);
  recomputeTransportChecksum(whole);
  assert.equal(finished(ip), whole.readUInt16BE(36));
});

test('at most 64 KiB per write: 50 segments of 1448 bytes make two', () => {
  const packets = Array.from({ length: 50 }, (_, i) => tcp(1000 + i * MSS, MSS));
  const { writes, joined } = coalesce(packets);
  assert.deepEqual(
    writes.map((w) => w.length - 10),
    [52 + 45 * MSS, 52 + 5 * MSS],
  );
  assert.ok(writes.every((w) => w.length - 10 <= 65_535));
  assert.equal(joined, 50);
});

test('a gap, a duplicate, another ACK number, other options or a short segment end a run', () => {
  const cases: [string, Buffer[], number[]][] = [
    ['a gap (a lost segment)', [tcp(0, MSS), tcp(MSS, MSS), tcp(3 * MSS, MSS), tcp(4 * MSS, MSS)], [2, 2]],
    ['a duplicate', [tcp(0, MSS), tcp(MSS, MSS), tcp(MSS, MSS)], [2, 1]],
    ['a reordered segment', [tcp(MSS, MSS), tcp(0, MSS), tcp(2 * MSS, MSS)], [1, 1, 1]],
    ['another ACK number', [tcp(0, MSS), tcp(MSS, MSS, ACK, 6000)], [1, 1]],
    ['other TCP options', [tcp(0, MSS), tcp(MSS, MSS, ACK, 5000, 0x0101080b)], [1, 1]],
    ['a short segment in the middle', [tcp(0, MSS), tcp(MSS, 100), tcp(MSS + 100, MSS)], [2, 1]],
    ['PSH in the middle', [tcp(0, MSS, ACK | PSH), tcp(MSS, MSS)], [1, 1]],
    ['a FIN', [tcp(0, MSS), tcp(MSS, MSS, ACK | FIN)], [1, 1]],
  ];
  for (const [what, packets, runs] of cases) {
    const { writes } = coalesce(packets);
    const counts = writes.map((w) => (w[1] === 1 ? Math.ceil((w.length - 10 - 52) / MSS) : 1));
    assert.deepEqual(counts, runs, what);
  }
});

test('everything not joined goes out alone, as it was, in its place, behind a zero header', () => {
  const ackOnly = tcp(0, 0);
  const u = udp();
  const packets = [tcp(0, MSS), tcp(MSS, MSS), u, tcp(2 * MSS, MSS), ackOnly];
  const { writes, counts, joined } = coalesce(packets);
  assert.equal(joined, 2);
  assert.deepEqual(counts, [2, 1, 1, 1]);
  assert.equal(writes.length, 4);
  assert.equal(writes[0]![1], 1, 'the first two joined');
  for (const [w, p] of [
    [writes[1]!, u],
    [writes[2]!, packets[3]!],
    [writes[3]!, ackOnly],
  ] as const) {
    assert.deepEqual(w.subarray(0, 10), Buffer.alloc(10));
    assert.deepEqual(w.subarray(10), p);
  }
  assert.deepEqual(coalesce([]), { writes: [], counts: [], joined: 0 });
});
