/**
 * Unix datagram sockets (AF_UNIX, SOCK_DGRAM), which node:dgram does not have, through the native
 * addon (native/unix_dgram.c): a DatagramSocket like the UDP ones, so `listen -u unix:PATH`, the
 * UDP client and `nc -U -u` serve them unchanged. A sender is `{ address: PATH, port: 0 }`
 * (`@name` for an abstract address, '' for a sender without one, which cannot be answered).
 *
 * `bind(PATH)` replaces a stale socket file, refuses anything else, and removes the file on
 * close; `bind('')` asks Linux for an abstract address of its own (a client's, so that a server
 * can answer it).
 */
import { SocklabError } from '../errors.js';
import {
  nativeAddon,
  type DatagramOptions,
  type DatagramSender,
  type DatagramSocket,
  type SendDone,
} from './datagram.js';
import { clearStaleSocket, removeOnClose } from './unix-path.js';

/** Buffers of a Unix datagram socket by default (the kernel's defaults are ~200 KiB). */
const UNIX_BUFFER_BYTES = 1024 * 1024;

export interface NativeUnix {
  unixOpen(onMessage: (data: Buffer, from: string) => void, onError: (code: string) => void): unknown;
  unixBind(handle: unknown, path: string): void;
  unixConnect(handle: unknown, path: string): void;
  unixStart(handle: unknown): void;
  unixSend(handle: unknown, data: Buffer): 0 | string;
  unixSendTo(handle: unknown, data: Buffer, path: string): 0 | string;
  unixAddress(handle: unknown): string;
  unixSetBuffers(handle: unknown, recv: number, send: number): void;
  unixClose(handle: unknown): void;
}

function systemError(code: string, syscall: string): Error {
  return Object.assign(new Error(`${syscall} ${code}`), { code, syscall });
}

/** Whether this process can open Unix datagram sockets (the addon is built, with them). */
export function unixDatagramAvailable(): boolean {
  const addon = nativeAddon() as Partial<NativeUnix> | undefined;
  return typeof addon?.unixOpen === 'function';
}

/** A Unix datagram socket, not yet bound or connected. */
export function openUnixDatagramSocket(options: DatagramOptions = {}): DatagramSocket {
  const addon = nativeAddon() as Partial<NativeUnix> | undefined;
  if (addon === undefined || typeof addon.unixOpen !== 'function') {
    const why =
      process.env.SOCKLAB_NATIVE === '0'
        ? 'SOCKLAB_NATIVE=0 turns it off'
        : 'it is not built here: run `node native/build.js`';
    throw new SocklabError(
      'SOCKLAB_ERR_SOCKET',
      `Unix datagram sockets need socklab's native addon (Node has none), and ${why}`,
    );
  }
  return new UnixDatagramSocket(addon as NativeUnix, options);
}

class UnixDatagramSocket implements DatagramSocket {
  readonly batched = false;
  readonly #native: NativeUnix;
  readonly #handle: unknown;
  #onMessage: (data: Buffer) => void = () => undefined;
  #onError: (err: Error) => void = () => undefined;
  #sender: string | undefined;
  #remote: string | undefined;
  #started = false;
  #closed = false;
  #unlink: () => void = () => undefined;

  constructor(addon: NativeUnix, options: DatagramOptions) {
    this.#native = addon;
    this.#handle = addon.unixOpen(
      (data, from) => {
        this.#sender = from;
        this.#onMessage(data);
        this.#sender = undefined;
      },
      (code) => {
        if (!this.#closed) this.#onError(systemError(code, 'recv'));
      },
    );
    addon.unixSetBuffers(
      this.#handle,
      options.recvBufferSize ?? UNIX_BUFFER_BYTES,
      options.sendBufferSize ?? UNIX_BUFFER_BYTES,
    );
  }

  /** `path` ('' for an abstract address of the kernel's choosing); `port` is ignored. */
  async bind(path: string, _port = 0): Promise<void> {
    await clearStaleSocket(path, `unix:${path}`, 'datagram');
    this.#native.unixBind(this.#handle, path);
    this.#unlink = removeOnClose(path);
    this.#start();
  }

  async connect(path: string, _port = 0): Promise<void> {
    // Unbound, a client could not be answered: give it an abstract address first.
    if (this.#native.unixAddress(this.#handle) === '') this.#native.unixBind(this.#handle, '');
    this.#native.unixConnect(this.#handle, path);
    this.#remote = path;
    this.#start();
    return Promise.resolve();
  }

  #start(): void {
    if (this.#started) return;
    this.#started = true;
    this.#native.unixStart(this.#handle);
  }

  address(): { address: string; port: number } {
    return { address: this.#native.unixAddress(this.#handle), port: 0 };
  }

  remoteAddress(): { address: string; port: number } {
    if (this.#remote === undefined) throw new Error('the socket is not connected');
    return { address: this.#remote, port: 0 };
  }

  onMessage(handler: (data: Buffer) => void): void {
    this.#onMessage = handler;
  }

  onError(handler: (err: Error) => void): void {
    this.#onError = handler;
  }

  #current(): string {
    if (this.#sender === undefined) throw new Error('the sender is only known while a datagram is handled');
    return this.#sender;
  }

  senderKey(): string {
    return this.#current();
  }

  sender(): DatagramSender {
    return { address: this.#current(), port: 0 };
  }

  send(data: Buffer, done?: SendDone): void {
    this.#sent(this.#native.unixSend(this.#handle, data), done);
  }

  sendTo(data: Buffer, to: DatagramSender, done?: SendDone): void {
    // A sender without an address cannot be answered (the kernel would say EINVAL).
    if (to.address === '') {
      const err = Object.assign(
        new Error('the sender has no address (an unbound socket): nowhere to answer'),
        {
          code: 'EDESTADDRREQ',
        },
      );
      if (done) queueMicrotask(() => done(err));
      return;
    }
    this.#sent(this.#native.unixSendTo(this.#handle, data, to.address), done);
  }

  #sent(r: 0 | string, done: SendDone | undefined): void {
    if (done) queueMicrotask(() => done(r === 0 ? undefined : systemError(r, 'send')));
    else if (r !== 0) {
      queueMicrotask(() => {
        if (!this.#closed) this.#onError(systemError(r, 'send'));
      });
    }
  }

  cork(): void {
    // One syscall per datagram.
  }

  uncork(): void {
    // Nothing held.
  }

  queuedSends(): number {
    return 0;
  }

  dropped(): number {
    return 0;
  }

  close(): void {
    if (this.#closed) return;
    this.#closed = true;
    this.#native.unixClose(this.#handle);
    this.#unlink();
  }
}
