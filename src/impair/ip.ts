/**
 * Just enough of IPv4 (RFC 791), UDP (RFC 768) and TCP (RFC 9293) for the link: where a packet goes,
 * where its transport payload starts, and the Internet checksum (RFC 1071) to recompute after a
 * fault changed a byte. Pure code on Buffers.
 */

export const PROTO_ICMP = 1;
export const PROTO_TCP = 6;
export const PROTO_UDP = 17;

export interface Ipv4Header {
  /** Header length in bytes. */
  readonly headerBytes: number;
  readonly totalBytes: number;
  readonly protocol: number;
  readonly id: number;
  /** Source and destination as 32-bit numbers. */
  readonly src: number;
  readonly dst: number;
  /** True for the first fragment (or an unfragmented packet): the transport header is in it. */
  readonly firstFragment: boolean;
}

/** The IPv4 header of `packet`, or undefined if it is not a whole IPv4 packet. */
export function parseIpv4(packet: Buffer): Ipv4Header | undefined {
  if (packet.length < 20 || packet[0]! >> 4 !== 4) return undefined;
  const headerBytes = (packet[0]! & 0x0f) * 4;
  const totalBytes = packet.readUInt16BE(2);
  if (headerBytes < 20 || totalBytes < headerBytes || totalBytes > packet.length) return undefined;
  return {
    headerBytes,
    totalBytes,
    protocol: packet[9]!,
    id: packet.readUInt16BE(4),
    src: packet.readUInt32BE(12),
    dst: packet.readUInt32BE(16),
    firstFragment: (packet.readUInt16BE(6) & 0x1fff) === 0,
  };
}

export function ipv4ToNumber(address: string): number {
  const parts = address.split('.').map(Number);
  return ((parts[0]! << 24) | (parts[1]! << 16) | (parts[2]! << 8) | parts[3]!) >>> 0;
}

export function numberToIpv4(n: number): string {
  return [n >>> 24, (n >>> 16) & 255, (n >>> 8) & 255, n & 255].join('.');
}

/** Where the transport header's checksum field is, for the protocols that have one. */
function checksumOffset(protocol: number): number | undefined {
  if (protocol === PROTO_TCP) return 16;
  if (protocol === PROTO_UDP) return 6;
  if (protocol === PROTO_ICMP) return 2;
  return undefined;
}

/** Length of the transport header (TCP: its data offset), where the payload starts after it. */
function transportHeaderBytes(packet: Buffer, ip: Ipv4Header): number {
  if (ip.protocol === PROTO_TCP) {
    const at = ip.headerBytes + 12;
    return at < ip.totalBytes ? (packet[at]! >> 4) * 4 : 20;
  }
  if (ip.protocol === PROTO_UDP || ip.protocol === PROTO_ICMP) return 8;
  return 0;
}

/**
 * Where the transport payload is: [start, end) in the packet, or undefined if the packet carries
 * no payload to damage (a pure ACK, a fragment without the header, not IPv4).
 */
export function payloadRange(packet: Buffer): [number, number] | undefined {
  const ip = parseIpv4(packet);
  if (!ip || !ip.firstFragment) return undefined;
  const start = ip.headerBytes + transportHeaderBytes(packet, ip);
  return start < ip.totalBytes ? [start, ip.totalBytes] : undefined;
}

/** One's-complement sum of 16-bit words (RFC 1071), not yet folded. */
function sum16(data: Buffer, start: number, end: number, initial = 0): number {
  let sum = initial;
  let i = start;
  for (; i + 1 < end; i += 2) sum += data.readUInt16BE(i);
  if (i < end) sum += data[i]! << 8;
  return sum;
}

function fold(sum: number): number {
  while (sum > 0xffff) sum = (sum & 0xffff) + Math.floor(sum / 0x10000);
  return ~sum & 0xffff;
}

/**
 * Recompute the transport checksum (TCP, UDP with a checksum, ICMP) of an IPv4 packet in place,
 * after its payload changed: the damage then reaches the application, as through a middlebox that
 * rewrites packets and their checksums. Returns false if there was nothing to recompute.
 */
export function recomputeTransportChecksum(packet: Buffer): boolean {
  const ip = parseIpv4(packet);
  if (!ip || !ip.firstFragment || packet.readUInt16BE(6) & 0x2000) return false; // needs the whole datagram
  const at = checksumOffset(ip.protocol);
  if (at === undefined || ip.headerBytes + at + 2 > ip.totalBytes) return false;
  const field = ip.headerBytes + at;
  if (ip.protocol === PROTO_UDP && packet.readUInt16BE(field) === 0) return false; // no checksum sent
  packet.writeUInt16BE(0, field);
  let sum = 0;
  if (ip.protocol !== PROTO_ICMP) {
    // The pseudo-header: source, destination, protocol, transport length.
    sum = sum16(packet, 12, 20) + ip.protocol + (ip.totalBytes - ip.headerBytes);
  }
  let checksum = fold(sum16(packet, ip.headerBytes, ip.totalBytes, sum));
  if (checksum === 0 && ip.protocol === PROTO_UDP) checksum = 0xffff;
  packet.writeUInt16BE(checksum, field);
  return true;
}

/** True if the transport checksum of an IPv4 packet is right (tests use it). */
export function transportChecksumOk(packet: Buffer): boolean {
  const copy = Buffer.from(packet);
  const ip = parseIpv4(copy);
  if (!ip) return false;
  const at = checksumOffset(ip.protocol);
  if (at === undefined) return true;
  const before = copy.readUInt16BE(ip.headerBytes + at);
  if (!recomputeTransportChecksum(copy)) return true;
  return copy.readUInt16BE(ip.headerBytes + at) === before;
}

/** `udp 198.18.0.2:40000 > 198.18.0.1:9 id 1234 len 60`: for logs. */
export function describePacket(packet: Buffer): Record<string, unknown> {
  const ip = parseIpv4(packet);
  if (!ip) return { version: packet.length > 0 ? packet[0]! >> 4 : 0, len: packet.length };
  const out: Record<string, unknown> = {
    proto:
      ip.protocol === PROTO_TCP
        ? 'tcp'
        : ip.protocol === PROTO_UDP
          ? 'udp'
          : ip.protocol === PROTO_ICMP
            ? 'icmp'
            : ip.protocol,
    src: numberToIpv4(ip.src),
    dst: numberToIpv4(ip.dst),
    id: ip.id,
    len: ip.totalBytes,
  };
  const t = ip.headerBytes;
  if (
    ip.firstFragment &&
    (ip.protocol === PROTO_TCP || ip.protocol === PROTO_UDP) &&
    t + 4 <= ip.totalBytes
  ) {
    out.sport = packet.readUInt16BE(t);
    out.dport = packet.readUInt16BE(t + 2);
  }
  if (ip.firstFragment && ip.protocol === PROTO_TCP && t + 14 <= ip.totalBytes) {
    out.seq = packet.readUInt32BE(t + 4);
    const flags = packet[t + 13]!;
    out.flags = ['F', 'S', 'R', 'P', '.', 'U'].filter((_, i) => flags & (1 << i)).join('');
    const payload = payloadRange(packet);
    out.payload = payload ? payload[1] - payload[0] : 0;
  }
  return out;
}

export interface TcpHeader {
  readonly sport: number;
  readonly dport: number;
  readonly seq: number;
  readonly ack: number;
  /** The flag bits of byte 13: FIN 1, SYN 2, RST 4, PSH 8, ACK 16, URG 32. */
  readonly flags: number;
  /** Bytes of payload after the TCP header. */
  readonly payloadBytes: number;
}

export const TCP_FIN = 0x01;
export const TCP_SYN = 0x02;
export const TCP_RST = 0x04;
export const TCP_ACK = 0x10;

/** The TCP header of an IPv4 packet (first fragment, whole header), or undefined. */
export function parseTcp(packet: Buffer): TcpHeader | undefined {
  const ip = parseIpv4(packet);
  if (!ip || ip.protocol !== PROTO_TCP || !ip.firstFragment) return undefined;
  const t = ip.headerBytes;
  if (t + 20 > ip.totalBytes) return undefined;
  const headerBytes = (packet[t + 12]! >> 4) * 4;
  if (headerBytes < 20 || t + headerBytes > ip.totalBytes) return undefined;
  return {
    sport: packet.readUInt16BE(t),
    dport: packet.readUInt16BE(t + 2),
    seq: packet.readUInt32BE(t + 4),
    ack: packet.readUInt32BE(t + 8),
    flags: packet[t + 13]!,
    payloadBytes: ip.totalBytes - t - headerBytes,
  };
}
