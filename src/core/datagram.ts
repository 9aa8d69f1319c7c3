/**
 * UDP sockets that read and write in batches: every datagram socket of socklab (listen -u,
 * connect -u, the relay, bench) is one of these, opened by listen.ts / connect.ts.
 *
 * node:dgram costs about 2 µs of CPU per datagram each way (a JavaScript callback, a Buffer and an
 * address object per datagram read; a request object per datagram sent). The native addon in
 * `native/` (built by `npm install` on Linux) reads up to 64 datagrams per `recvmmsg()`, hands
 * them to JavaScript in one call, and writes what that call sends with one `sendmmsg()` per socket.
 *
 * Where the addon is not built (not Linux, no compiler) or `SOCKLAB_NATIVE=0` is set, the same
 * interface runs on node:dgram. `nativeUdp` says which one this process uses.
 */
import dgram from 'node:dgram';
import { lookup as dnsLookup } from 'node:dns';
import { lookup } from 'node:dns/promises';
import { existsSync } from 'node:fs';
import { createRequire } from 'node:module';
import { isIP } from 'node:net';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';

/** The largest UDP payload over IPv4: 65,535 − 8 (UDP header) − 20 (IPv4 header). */
export const MAX_UDP_PAYLOAD = 65_507;

/** Socket buffers big enough that a burst on loopback is not lost in the kernel. */
export const DATAGRAM_BUFFER_BYTES = 4 * 1024 * 1024;

/** Who sent a datagram, and where a reply to them goes. */
export interface DatagramSender {
  readonly address: string;
  readonly port: number;
}

/** How a datagram socket is made, whoever binds or connects it. */
export interface DatagramOptions {
  /** The kernel's buffers; 4 MiB each by default (Linux reports double). */
  readonly recvBufferSize?: number;
  readonly sendBufferSize?: number;
  /** false: node:dgram even where the addon is there (tests run both). */
  readonly batched?: boolean;
}

export interface DatagramSocketOptions extends DatagramOptions {
  readonly type: 'udp4' | 'udp6';
}

export type SendDone = (err: Error | undefined) => void;

/**
 * One UDP socket. `onMessage` gets each datagram; during that handler, `senderKey()` names its
 * sender (the same sender always gives the same key: a number or a string, cheap to compute) and
 * `sender()` describes the sender as a reply target for `sendTo`. Both are worked out only when
 * asked: a connected socket never needs them.
 */
export interface DatagramSocket {
  /** True when the native batching addon serves this socket. */
  readonly batched: boolean;
  bind(host: string, port: number): Promise<void>;
  connect(host: string, port: number): Promise<void>;
  address(): { address: string; port: number };
  /** Where a connected socket sends (the address looked up, and the port). */
  remoteAddress(): { address: string; port: number };
  onMessage(handler: (data: Buffer) => void): void;
  senderKey(): number | string;
  sender(): DatagramSender;
  /**
   * On a connected socket. `done` runs once the datagram is handed over, with the error if the
   * send failed then (as node:dgram's callback); without `done` that error goes to `onError`. A
   * datagram sent while a batch is being handled is queued and written when the batch returns: an
   * error found then goes to `onError`.
   */
  send(data: Buffer, done?: SendDone): void;
  /** To `sender()` of a datagram, or to any `{ address, port }` (an IP literal). */
  sendTo(data: Buffer, to: DatagramSender, done?: SendDone): void;
  /** Errors after bind/connect: an ICMP error reported on a connected socket, a failed send. */
  onError(handler: (err: Error) => void): void;
  /**
   * Hold what is sent (by any socket) until `uncork()`, which writes it with one `sendmmsg()` per
   * socket: a sender's burst in one system call. Nested calls pair up. No-ops on node:dgram.
   */
  cork(): void;
  uncork(): void;
  /** Sends handed over and not yet written (node:dgram queues them; the addon writes at once). */
  queuedSends(): number;
  /** Datagrams dropped because the socket's send buffer stayed full (native only; dgram queues). */
  dropped(): number;
  close(): void;
}

interface NativeUdp {
  BATCH: number;
  open(
    family: 4 | 6,
    onBatch: (count: number, bytes: number) => void,
    onError: (code: string) => void,
  ): unknown;
  arena(): Uint8Array;
  meta(): Int32Array;
  setBuffers(handle: unknown, recv: number, send: number): void;
  bind(handle: unknown, ip: string, port: number): void;
  connect(handle: unknown, ip: string, port: number): void;
  start(handle: unknown): void;
  address(handle: unknown): [string, number];
  send(handle: unknown, data: Buffer): 0 | string;
  sendTo(
    handle: unknown,
    data: Buffer,
    family: number,
    a0: number,
    a1: number,
    a2: number,
    a3: number,
    port: number,
  ): 0 | string;
  format(family: number, a0: number, a1: number, a2: number, a3: number): string;
  dropped(handle: unknown): number;
  cork(): void;
  uncork(): void;
  close(handle: unknown): void;
}

const ADDON = join('native', 'build', 'Release', 'socklab_udp.node');

function loadNative(): NativeUdp | undefined {
  if (process.env.SOCKLAB_NATIVE === '0' || process.platform !== 'linux') return undefined;
  // dist/core/ in a package, build/src/core/ in this repo's tests: look a few folders up.
  let dir = dirname(fileURLToPath(import.meta.url));
  for (let i = 0; i < 4; i++, dir = dirname(dir)) {
    const file = join(dir, ADDON);
    if (existsSync(file)) {
      try {
        return createRequire(import.meta.url)(file) as NativeUdp;
      } catch {
        return undefined; // built for another Node ABI: fall back
      }
    }
  }
  return undefined;
}

const native = loadNative();

/** Whether this process batches UDP through the native addon. */
export const nativeUdp = native !== undefined;

/** The native addon as loaded (undefined where it is not built): Unix datagrams use it too. */
export function nativeAddon(): object | undefined {
  return native;
}

/** A UDP socket: batched through the addon when it is there, node:dgram otherwise. */
export function openDatagramSocket(options: DatagramSocketOptions): DatagramSocket {
  const sized = {
    ...options,
    recvBufferSize: options.recvBufferSize ?? DATAGRAM_BUFFER_BYTES,
    sendBufferSize: options.sendBufferSize ?? DATAGRAM_BUFFER_BYTES,
  };
  return native && options.batched !== false ? new BatchedSocket(native, sized) : new DgramSocket(sized);
}

function systemError(code: string, syscall: string): Error {
  return Object.assign(new Error(`${syscall} ${code}`), { code, syscall });
}

// ---------------------------------------------------------------------------------------------

interface NativeSender extends DatagramSender {
  readonly family: number;
  readonly words: readonly [number, number, number, number];
}

const META = 8; // per datagram: offset, length, family, port, a0, a1, a2, a3

/**
 * An IP literal as the addon's four words: the address's bytes in network order, read as
 * little-endian int32s (how the addon copies a sockaddr's address into its Int32Array).
 */
function ipWords(address: string): Pick<NativeSender, 'family' | 'words'> {
  const bytes = Buffer.alloc(16);
  const ip = address.replace(/%.*$/, ''); // a zone (fe80::1%eth0) is not part of the address
  if (isIP(ip) === 4) {
    ip.split('.').forEach((part, i) => (bytes[i] = Number(part)));
    return { family: 4, words: [bytes.readInt32LE(0), 0, 0, 0] };
  }
  if (isIP(ip) !== 6) throw new TypeError(`not an IP address: '${address}'`);
  const groups = (text: string): number[] => {
    if (text === '') return [];
    const parts = text.split(':');
    const last = parts[parts.length - 1]!;
    if (!last.includes('.')) return parts.map((p) => parseInt(p, 16));
    const [a, b, c, d] = last.split('.').map(Number) as [number, number, number, number];
    return [...parts.slice(0, -1).map((p) => parseInt(p, 16)), (a << 8) | b, (c << 8) | d];
  };
  const [head = '', tail] = ip.split('::');
  const front = groups(head);
  const back = tail === undefined ? [] : groups(tail);
  const all = [...front, ...Array<number>(8 - front.length - back.length).fill(0), ...back];
  all.forEach((g, i) => bytes.writeUInt16BE(g, i * 2));
  return {
    family: 6,
    words: [bytes.readInt32LE(0), bytes.readInt32LE(4), bytes.readInt32LE(8), bytes.readInt32LE(12)],
  };
}

class BatchedSocket implements DatagramSocket {
  readonly batched = true;
  readonly #native: NativeUdp;
  readonly #meta: Int32Array;
  readonly #arena: Uint8Array;
  readonly #handle: unknown;
  #onMessage: (data: Buffer) => void = () => undefined;
  #onError: (err: Error) => void = () => undefined;
  /** Index in the current batch of the datagram being handled. */
  #current = -1;
  #closed = false;
  #started = false;
  #remote: { address: string; port: number } | undefined;
  readonly #family: 4 | 6;

  constructor(addon: NativeUdp, options: DatagramSocketOptions) {
    this.#native = addon;
    this.#meta = addon.meta();
    this.#arena = addon.arena();
    this.#family = options.type === 'udp6' ? 6 : 4;
    this.#handle = addon.open(
      this.#family,
      (count, bytes) => this.#batch(count, bytes),
      (code) => this.#onError(systemError(code, 'recv')),
    );
    addon.setBuffers(this.#handle, options.recvBufferSize ?? 0, options.sendBufferSize ?? 0);
  }

  #batch(count: number, bytes: number): void {
    // The addon's arena is read again for the next batch: copy this one out, into a Buffer of
    // its own (from Node's pool when small: no allocation of its own, as for a ping-pong).
    const buffer = Buffer.allocUnsafe(bytes);
    buffer.set(this.#arena.subarray(0, bytes));
    if (count === 1) {
      this.#current = 0;
      this.#onMessage(buffer);
      this.#current = -1;
      return;
    }
    const meta = this.#meta;
    for (let i = 0; i < count && !this.#closed; i++) {
      const offset = meta[i * META]!;
      this.#current = i;
      this.#onMessage(buffer.subarray(offset, offset + meta[i * META + 1]!));
    }
    this.#current = -1;
  }

  async bind(host: string, port: number): Promise<void> {
    this.#native.bind(this.#handle, await this.#ip(host), port);
    this.#start();
  }

  async connect(host: string, port: number): Promise<void> {
    const address = await this.#ip(host);
    this.#native.connect(this.#handle, address, port);
    this.#remote = { address, port };
    this.#start();
  }

  remoteAddress(): { address: string; port: number } {
    if (!this.#remote) throw new Error('the socket is not connected');
    return this.#remote;
  }

  /** The addon takes IP literals: a name is looked up first, as dgram does. */
  async #ip(host: string): Promise<string> {
    if (isIP(host) !== 0) return host;
    return (await lookup(host, { family: this.#family })).address;
  }

  #start(): void {
    if (this.#started) return;
    this.#started = true;
    this.#native.start(this.#handle);
  }

  address(): { address: string; port: number } {
    const [address, port] = this.#native.address(this.#handle);
    return { address, port };
  }

  onMessage(handler: (data: Buffer) => void): void {
    this.#onMessage = handler;
  }

  onError(handler: (err: Error) => void): void {
    this.#onError = handler;
  }

  /** Where the current datagram's sender is in the batch's description. */
  #senderAt(): number {
    if (this.#current < 0) throw new Error('the sender is only known while a datagram is handled');
    return this.#current * META;
  }

  senderKey(): number | string {
    const m = this.#senderAt();
    const meta = this.#meta;
    const port = meta[m + 3]!;
    // IPv4: the address and port as one number; IPv6: a string of the words.
    return meta[m + 2] === 4
      ? (meta[m + 4]! >>> 0) * 65536 + port
      : `${meta[m + 4]},${meta[m + 5]},${meta[m + 6]},${meta[m + 7]},${port}`;
  }

  sender(): NativeSender {
    const m = this.#senderAt();
    const meta = this.#meta;
    const family = meta[m + 2]!;
    const words = [meta[m + 4]!, meta[m + 5]!, meta[m + 6]!, meta[m + 7]!] as const;
    return {
      address: this.#native.format(family, ...words),
      port: meta[m + 3]!,
      family,
      words,
    };
  }

  send(data: Buffer, done?: SendDone): void {
    this.#sent(this.#native.send(this.#handle, data), done);
  }

  sendTo(data: Buffer, to: DatagramSender, done?: SendDone): void {
    const { family, words } = 'words' in to ? (to as NativeSender) : ipWords(to.address);
    const r = this.#native.sendTo(
      this.#handle,
      data,
      family,
      words[0],
      words[1],
      words[2],
      words[3],
      to.port,
    );
    this.#sent(r, done);
  }

  /** As dgram does: the outcome comes later, to the callback or as an error event, never thrown. */
  #sent(r: 0 | string, done: SendDone | undefined): void {
    if (done) queueMicrotask(() => done(r === 0 ? undefined : systemError(r, 'send')));
    else if (r !== 0) {
      queueMicrotask(() => {
        if (!this.#closed) this.#onError(systemError(r, 'send'));
      });
    }
  }

  cork(): void {
    this.#native.cork();
  }

  uncork(): void {
    this.#native.uncork();
  }

  queuedSends(): number {
    return 0;
  }

  dropped(): number {
    return this.#native.dropped(this.#handle);
  }

  close(): void {
    if (this.#closed) return;
    this.#closed = true;
    this.#native.close(this.#handle);
  }
}

// ---------------------------------------------------------------------------------------------

class DgramSocket implements DatagramSocket {
  readonly batched = false;
  readonly #socket: dgram.Socket;
  #sender: dgram.RemoteInfo | undefined;
  #closed = false;

  constructor(options: DatagramSocketOptions) {
    this.#socket = dgram.createSocket({
      type: options.type,
      ...(options.recvBufferSize ? { recvBufferSize: options.recvBufferSize } : {}),
      ...(options.sendBufferSize ? { sendBufferSize: options.sendBufferSize } : {}),
      // Replies go to IP literals: skip the DNS lookup dgram does for every send.
      lookup: (address, options, callback) => {
        const family = isIP(address);
        if (family === 0) dnsLookup(address, options, callback);
        else callback(null, address, family);
      },
    });
  }

  bind(host: string, port: number): Promise<void> {
    const socket = this.#socket;
    return new Promise((resolve, reject) => {
      socket.once('error', reject);
      socket.bind({ address: host, port }, () => {
        socket.off('error', reject);
        resolve();
      });
    });
  }

  connect(host: string, port: number): Promise<void> {
    const socket = this.#socket;
    return new Promise((resolve, reject) => {
      socket.once('error', reject);
      socket.connect(port, host, () => {
        socket.off('error', reject);
        resolve();
      });
    });
  }

  remoteAddress(): { address: string; port: number } {
    const a = this.#socket.remoteAddress();
    return { address: a.address, port: a.port };
  }

  address(): { address: string; port: number } {
    const a = this.#socket.address();
    return { address: a.address, port: a.port };
  }

  onMessage(handler: (data: Buffer) => void): void {
    this.#socket.on('message', (data, rinfo) => {
      this.#sender = rinfo;
      handler(data);
      this.#sender = undefined;
    });
  }

  onError(handler: (err: Error) => void): void {
    this.#socket.on('error', handler);
  }

  #currentSender(): dgram.RemoteInfo {
    if (!this.#sender) throw new Error('the sender is only known while a datagram is handled');
    return this.#sender;
  }

  senderKey(): string {
    const { address, port } = this.#currentSender();
    return `${address} ${port}`;
  }

  sender(): DatagramSender {
    const { address, port } = this.#currentSender();
    return { address, port };
  }

  send(data: Buffer, done?: SendDone): void {
    if (done) this.#socket.send(data, (err) => done(err ?? undefined));
    else this.#socket.send(data);
  }

  sendTo(data: Buffer, to: DatagramSender, done?: SendDone): void {
    if (done) this.#socket.send(data, to.port, to.address, (err) => done(err ?? undefined));
    else this.#socket.send(data, to.port, to.address);
  }

  cork(): void {
    // dgram writes each datagram as it is sent.
  }

  uncork(): void {
    // Nothing held.
  }

  queuedSends(): number {
    return this.#socket.getSendQueueCount();
  }

  dropped(): number {
    return 0;
  }

  close(): void {
    if (this.#closed) return;
    this.#closed = true;
    this.#socket.close();
  }
}
