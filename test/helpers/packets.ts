/** IPv4 packets the Linux kernel made, captured with `socklab link --pcap`. */
/** UDP 198.19.90.142:44218 → 198.19.90.141:9, "Hello, Tracy!". */
export const UDP = Buffer.from(
  '4500002961d04000401197b1c6135a8ec6135a8dacba00090015d69048656c6c6f2c20547261637921',
  'hex',
);
/** ICMP port unreachable for it. */
export const ICMP = Buffer.from(
  '45c000455a2c00004001de89c6135a8dc6135a8e03033e66000000004500002961d04000401197b1c6135a8ec6135a8dacba00090015d69048656c6c6f2c20547261637921',
  'hex',
);
/** TCP SYN with options (MSS, SACK, timestamps, window scale). */
export const SYN = Buffer.from(
  '4500003c3bbd40004006bdbcc6135a8ec6135a8de8440009b873c4a000000000a002faf02c7c0000020405b40402080a752e04bd000000000103030a',
  'hex',
);
/** TCP RST, ACK: no payload. */
export const RST = Buffer.from(
  '45000028000040004006f98dc6135a8dc6135a8e0009e84400000000b873c4a150140000092b0000',
  'hex',
);
