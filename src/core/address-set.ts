/**
 * A set of addresses and CIDR ranges that answers "is this address in it?": Node's BlockList,
 * handed out from here because only src/core/ imports node:net (server/access.ts uses it).
 */
import net from 'node:net';

export type AddressSet = net.BlockList;

export function createAddressSet(): AddressSet {
  return new net.BlockList();
}
