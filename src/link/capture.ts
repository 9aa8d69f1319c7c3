/**
 * What the link saw, written down: `--pcap FILE` (libpcap format, LINKTYPE_RAW: each record an IP
 * packet, microsecond timestamps; opens in tcpdump and Wireshark) and `--log FILE` (a JSON line per
 * packet event: in, forwarded, dropped, overflowed, duplicated, reordered, corrupted).
 *
 * Writes are buffered and made with writeSync once BUFFER_BYTES are waiting, and at close: a
 * bounded buffer, no queue of pending writes.
 */
import { closeSync, openSync, writeSync } from 'node:fs';
import { performance } from 'node:perf_hooks';
import { SocklabError, describeSystemError } from '../errors.js';

const BUFFER_BYTES = 256 * 1024;
/** LINKTYPE_RAW: the packet begins with an IPv4 or IPv6 header. */
export const LINKTYPE_RAW = 101;
/** Bytes of each packet kept (the whole of any IP packet). */
const SNAPLEN = 65535;

class BufferedFile {
  readonly #path: string;
  readonly #fd: number;
  readonly #chunks: Buffer[] = [];
  #bytes = 0;

  constructor(path: string, what: string) {
    this.#path = path;
    try {
      this.#fd = openSync(path, 'w');
    } catch (err) {
      throw new SocklabError(
        'SOCKLAB_ERR_FILE',
        `cannot write ${what} ${path}: ${describeSystemError(err)}`,
        {
          cause: err,
        },
      );
    }
  }

  write(chunk: Buffer): void {
    this.#chunks.push(chunk);
    this.#bytes += chunk.length;
    if (this.#bytes >= BUFFER_BYTES) this.flush();
  }

  flush(): void {
    if (this.#bytes === 0) return;
    const all = Buffer.concat(this.#chunks, this.#bytes);
    this.#chunks.length = 0;
    this.#bytes = 0;
    try {
      for (let at = 0; at < all.length;) at += writeSync(this.#fd, all, at);
    } catch (err) {
      throw new SocklabError('SOCKLAB_ERR_FILE', `cannot write ${this.#path}: ${describeSystemError(err)}`, {
        cause: err,
      });
    }
  }

  close(): void {
    try {
      this.flush();
    } finally {
      closeSync(this.#fd);
    }
  }
}

/** Wall-clock microseconds for a monotonic time in ms (performance.now()). */
function wallMicros(ms: number): number {
  return Math.round((performance.timeOrigin + ms) * 1000);
}

export class PcapWriter {
  readonly #file: BufferedFile;
  packets = 0;

  constructor(path: string) {
    this.#file = new BufferedFile(path, 'the packet capture');
    const header = Buffer.alloc(24);
    header.writeUInt32LE(0xa1b2c3d4, 0); // microsecond timestamps
    header.writeUInt16LE(2, 4);
    header.writeUInt16LE(4, 6);
    header.writeUInt32LE(SNAPLEN, 16);
    header.writeUInt32LE(LINKTYPE_RAW, 20);
    this.#file.write(header);
  }

  /** One packet, seen at `atMs` (performance.now()). */
  record(packet: Buffer, atMs: number): void {
    const us = wallMicros(atMs);
    const header = Buffer.alloc(16);
    header.writeUInt32LE(Math.floor(us / 1e6), 0);
    header.writeUInt32LE(us % 1e6, 4);
    const kept = Math.min(packet.length, SNAPLEN);
    header.writeUInt32LE(kept, 8);
    header.writeUInt32LE(packet.length, 12);
    this.#file.write(header);
    this.#file.write(Buffer.from(packet.subarray(0, kept)));
    this.packets += 1;
  }

  close(): void {
    this.#file.close();
  }
}

export class PacketLog {
  readonly #file: BufferedFile;

  constructor(path: string) {
    this.#file = new BufferedFile(path, 'the packet log');
  }

  record(fields: Record<string, unknown>): void {
    this.#file.write(Buffer.from(JSON.stringify(fields) + '\n'));
  }

  close(): void {
    this.#file.close();
  }
}
