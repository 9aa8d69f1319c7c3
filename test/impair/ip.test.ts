/** impair/ip.ts on packets the Linux kernel made (captured with socklab link --pcap). */
import assert from 'node:assert/strict';
import { test } from 'node:test';
import {
  describePacket,
  parseIpv4,
  payloadRange,
  recomputeTransportChecksum,
  transportChecksumOk,
} from '../../src/impair/ip.js';
import { ICMP, RST, SYN, UDP } from '../helpers/packets.js';

test('the kernel’s checksums check out, and recomputing one from zero gives the kernel’s', () => {
  for (const packet of [UDP, ICMP, SYN, RST]) {
    assert.ok(transportChecksumOk(packet));
    const copy = Buffer.from(packet);
    const ip = parseIpv4(copy)!;
    const field = ip.headerBytes + (ip.protocol === 6 ? 16 : ip.protocol === 17 ? 6 : 2);
    copy.writeUInt16BE(0x1234, field);
    assert.ok(!transportChecksumOk(copy));
    assert.ok(recomputeTransportChecksum(copy));
    assert.deepEqual(copy, packet);
  }
});

test('a flipped payload bit breaks the checksum; recomputing delivers the damage', () => {
  const copy = Buffer.from(UDP);
  copy[copy.length - 1]! ^= 1; // "Tracy!" → "Tracy "
  assert.ok(!transportChecksumOk(copy));
  recomputeTransportChecksum(copy);
  assert.ok(transportChecksumOk(copy));
  assert.equal(copy.subarray(28).toString(), 'Hello, Tracy ');
});

test('payloadRange: past the transport header; none for a bare TCP segment', () => {
  assert.deepEqual(payloadRange(UDP), [28, 41]);
  assert.equal(payloadRange(RST), undefined);
  assert.equal(payloadRange(SYN), undefined, 'a SYN carries options, no data');
  assert.equal(parseIpv4(Buffer.from('600000000000', 'hex')), undefined, 'not IPv4');
});

test('describePacket: what a --log line says', () => {
  assert.deepEqual(describePacket(UDP), {
    proto: 'udp',
    src: '198.19.90.142',
    dst: '198.19.90.141',
    id: 0x61d0,
    len: 41,
    sport: 44218,
    dport: 9,
  });
  assert.equal(describePacket(SYN).flags, 'S');
  assert.equal(describePacket(RST).flags, 'R.');
});
