/**
 * GRO for the link's per-packet path: the packets a direction forwards at one moment (a batch read
 * from the device, or the delayed ones a timer releases together), with runs of back-to-back TCP
 * segments of one connection joined into one GSO write, as a NIC's GRO joins them before the
 * kernel sees them. The faults have acted on each MTU-sized packet already (pcap, log and counters
 * saw them one by one); this only saves the receiving kernel (and the TUN write that runs it) 44
 * trips through IP and TCP out of 45. A TUN write is one packet whatever the iovec (the kernel's
 * tun_chr_write_iter hands the whole of it to tun_get_user), so joining is the only batching there is.
 *
 * Joined, as the kernel's tcp_gro_receive joins: same addresses, ports, TOS, TTL, ACK number,
 * window and TCP options; flags ACK (PSH on the last only); each segment's sequence number where
 * the one before it ended; all as long as the first but the last, which may be shorter; no IP
 * options or fragments; at most 64 KiB. Anything else (a gap, a duplicate, a reordered segment, a
 * SYN or FIN, UDP, ICMP) goes out on its own, in its place: the order is kept.
 *
 * Every packet written gets a virtio_net_hdr (the device is opened with IFF_VNET_HDR): all zero for
 * one packet as it was read (its checksum is whole), and for a joined one GSO TCPv4 with the
 * checksum left partial (NEEDS_CSUM: the kernel trusts it, as it trusts GRO's).
 */
import { PROTO_TCP } from '../impair/ip.js';
import { VNET_HEADER_BYTES } from '../core/tun.js';

const VIRTIO_NET_HDR_F_NEEDS_CSUM = 1;
const VIRTIO_NET_HDR_GSO_TCPV4 = 1;
const TCP_PSH = 0x08;
const TCP_ACK = 0x10;
const MAX_IP_BYTES = 65_535;
const ZERO_HEADER = Buffer.alloc(VNET_HEADER_BYTES);

interface Segment {
  readonly packet: Buffer;
  /** IP header + TCP header. */
  readonly headerBytes: number;
  readonly payloadBytes: number;
  readonly seq: number;
  readonly flags: number;
}

/** A TCP segment that may join or start a run, or undefined. */
function segment(packet: Buffer): Segment | undefined {
  if (packet.length < 40 || packet[0] !== 0x45 || packet[9] !== PROTO_TCP) return undefined;
  if ((packet.readUInt16BE(6) & 0x3fff) !== 0) return undefined; // a fragment (MF or an offset)
  const total = packet.readUInt16BE(2);
  if (total !== packet.length) return undefined;
  const tcpBytes = (packet[32]! >> 4) * 4;
  const headerBytes = 20 + tcpBytes;
  if (tcpBytes < 20 || headerBytes >= total) return undefined; // no data: an ACK stays alone
  const flags = packet[33]!;
  if ((flags & ~TCP_PSH) !== TCP_ACK) return undefined; // SYN, FIN, RST, URG, ECE, CWR: alone
  return { packet, headerBytes, payloadBytes: total - headerBytes, seq: packet.readUInt32BE(24), flags };
}

/** Whether `next` continues the run that `first` starts and `last` ends. */
function continues(first: Segment, last: Segment, next: Segment, runBytes: number): boolean {
  if ((last.flags & TCP_PSH) !== 0 || last.payloadBytes !== first.payloadBytes) return false;
  if (next.payloadBytes > first.payloadBytes || next.headerBytes !== first.headerBytes) return false;
  if (runBytes + next.payloadBytes > MAX_IP_BYTES) return false;
  if ((last.seq + last.payloadBytes) >>> 0 !== next.seq) return false;
  const a = first.packet;
  const b = next.packet;
  // TOS (1), TTL (8), addresses (12-19), ports (20-23), ACK number (28-31), window and the rest of
  // the TCP header with its options (34-), but not its checksum (36-37).
  if (a[1] !== b[1] || a[8] !== b[8]) return false;
  if (a.compare(b, 12, 24, 12, 24) !== 0 || a.compare(b, 28, 32, 28, 32) !== 0) return false;
  if (a.compare(b, 34, 36, 34, 36) !== 0) return false;
  return a.compare(b, 38, first.headerBytes, 38, first.headerBytes) === 0;
}

/** 16-bit one's complement sum of bytes [from, to) added to `sum`, not folded. */
function sum16(buf: Buffer, from: number, to: number, sum = 0): number {
  for (let i = from; i + 1 < to; i += 2) sum += buf.readUInt16BE(i);
  return sum;
}

function fold(sum: number): number {
  while (sum > 0xffff) sum = (sum & 0xffff) + (sum >>> 16);
  return sum;
}

/** One GSO packet (with its virtio header) from a run of two or more segments. */
function join(run: readonly Segment[]): Buffer {
  const first = run[0]!;
  const last = run[run.length - 1]!;
  const h = first.headerBytes;
  const ipBytes = h + run.reduce((n, s) => n + s.payloadBytes, 0);
  const out = Buffer.allocUnsafe(VNET_HEADER_BYTES + ipBytes);
  // virtio_net_hdr, little-endian: flags, gso_type, hdr_len, gso_size, csum_start, csum_offset.
  out[0] = VIRTIO_NET_HDR_F_NEEDS_CSUM;
  out[1] = VIRTIO_NET_HDR_GSO_TCPV4;
  out.writeUInt16LE(h, 2);
  out.writeUInt16LE(first.payloadBytes, 4);
  out.writeUInt16LE(20, 6);
  out.writeUInt16LE(16, 8);
  const ip = out.subarray(VNET_HEADER_BYTES);
  first.packet.copy(ip, 0, 0, h);
  let at = h;
  for (const s of run) at += s.packet.copy(ip, at, s.headerBytes);
  ip.writeUInt16BE(ipBytes, 2);
  ip.writeUInt16BE(0, 10);
  ip.writeUInt16BE(~fold(sum16(ip, 0, 20)) & 0xffff, 10);
  ip[33] = first.flags | (last.flags & TCP_PSH);
  // Partial checksum: the pseudo-header's sum (addresses, protocol, TCP length), for the kernel to
  // finish over the TCP header and data (csum_start 20, csum_offset 16).
  ip.writeUInt16BE(fold(sum16(ip, 12, 20) + PROTO_TCP + (ipBytes - 20)), 36);
  return out;
}

/**
 * The packets to write for `packets` (IP packets, in the order they are to arrive): each with a
 * virtio header, runs of TCP segments joined. `counts[i]`: how many packets `writes[i]` holds;
 * `joined` counts the packets that went into joins.
 */
export function coalesce(packets: readonly Buffer[]): { writes: Buffer[]; counts: number[]; joined: number } {
  const writes: Buffer[] = [];
  const counts: number[] = [];
  let joined = 0;
  let run: Segment[] = [];
  let runBytes = 0;
  const flush = () => {
    if (run.length === 1) {
      writes.push(Buffer.concat([ZERO_HEADER, run[0]!.packet]));
      counts.push(1);
    } else if (run.length > 1) {
      writes.push(join(run));
      counts.push(run.length);
      joined += run.length;
    }
    run = [];
    runBytes = 0;
  };
  for (const packet of packets) {
    const s = segment(packet);
    if (s === undefined) {
      flush();
      writes.push(Buffer.concat([ZERO_HEADER, packet]));
      counts.push(1);
      continue;
    }
    if (run.length > 0 && !continues(run[0]!, run[run.length - 1]!, s, runBytes)) flush();
    if (run.length === 0) runBytes = s.headerBytes;
    run.push(s);
    runBytes += s.payloadBytes;
  }
  flush();
  return { writes, counts, joined };
}
