/**
 * The UDP client of `connect -u` and of the library: a datagram socket of core/ connected to one
 * server (batched through the native addon where built), with a bounded receive queue.
 */
import { formatAddress, formatHostPort, type Endpoint } from '../address.js';
import { describeSystemError, SocklabError, systemCode } from '../errors.js';
import { connectDatagram } from '../core/connect.js';
import { MAX_UDP_PAYLOAD, type DatagramSocket } from '../core/datagram.js';
import { Wakeup } from '../core/wait.js';

export { MAX_UDP_PAYLOAD };

export interface OpenUdpOptions {
  /** Ignored with `path`. */
  readonly host: string;
  readonly port: number;
  /** A Unix datagram socket's path instead of HOST:PORT (native addon). */
  readonly path?: string;
  /** Unix: the path this client binds, where answers come (without it: an abstract address). */
  readonly bindPath?: string;
  /** Datagrams received and not yet read, beyond which new ones are dropped. Default 4096. */
  readonly maxQueued?: number;
  /** false: node:dgram even where the native addon is built. */
  readonly batched?: boolean;
  readonly signal?: AbortSignal;
}

export interface Datagram {
  readonly data: Buffer;
  readonly from: string;
}

/**
 * A UDP socket connected to one server: it sends there, and the kernel filters out datagrams
 * from anyone else. An ICMP "port unreachable" shows up as `SOCKLAB_ERR_CONNECT` on the next read.
 */
export class UdpClient {
  /** The socket (connected): batched through the native addon where it is built. */
  readonly socket: DatagramSocket;
  readonly remote: Endpoint;
  readonly #queue: Datagram[] = [];
  readonly #maxQueued: number;
  /** Every datagram comes from the connected peer: named once. */
  readonly #from: string;
  #error: Error | undefined;
  #closed = false;
  readonly #wakeup = new Wakeup();
  /** Datagrams dropped because nobody read them in time. */
  dropped = 0;

  /** @internal use openUdp() */
  constructor(
    socket: DatagramSocket,
    remote: Endpoint,
    peer: { address: string; port: number },
    maxQueued: number,
  ) {
    this.socket = socket;
    this.remote = remote;
    this.#maxQueued = maxQueued;
    this.#from = formatHostPort(peer.address, peer.port);
    socket.onMessage((data) => {
      if (this.#queue.length >= this.#maxQueued) {
        this.dropped += 1;
        return;
      }
      this.#queue.push({ data, from: this.#from });
      this.#wakeup.wake();
    });
    socket.onError((err) => {
      this.#error = err;
      this.#wakeup.wake();
    });
  }

  localAddress(): Endpoint {
    const a = this.socket.address();
    if (this.remote.path !== undefined) return { transport: 'udp', host: '', port: 0, path: a.address };
    return { transport: 'udp', host: a.address, port: a.port };
  }

  #failure(err: Error): SocklabError {
    const refused = systemCode(err) === 'ECONNREFUSED';
    return new SocklabError(
      refused ? 'SOCKLAB_ERR_CONNECT' : 'SOCKLAB_ERR_SOCKET',
      refused
        ? `no server at ${formatAddress(this.remote)}: port unreachable (ECONNREFUSED)`
        : `udp to ${formatAddress(this.remote)} failed: ${describeSystemError(err)}`,
      { cause: err },
    );
  }

  /** Send one datagram. */
  send(data: Buffer | string): Promise<void> {
    const buf = typeof data === 'string' ? Buffer.from(data) : data;
    if (buf.length > MAX_UDP_PAYLOAD) {
      return Promise.reject(
        new SocklabError(
          'SOCKLAB_ERR_MESSAGE_TOO_LARGE',
          `cannot send ${buf.length} bytes to ${formatAddress(this.remote)}: a UDP datagram holds at most ${MAX_UDP_PAYLOAD}`,
        ),
      );
    }
    if (this.#closed)
      return Promise.reject(
        new SocklabError('SOCKLAB_ERR_SOCKET', `udp to ${formatAddress(this.remote)} is closed`),
      );
    return new Promise<void>((resolve, reject) => {
      this.socket.send(buf, (err) => (err ? reject(this.#failure(err)) : resolve()));
    });
  }

  /** The next datagram, or `null` once closed. Rejects after `timeoutMs` with SOCKLAB_ERR_TIMEOUT. */
  async receive(options: { timeoutMs?: number; signal?: AbortSignal } = {}): Promise<Datagram | null> {
    for (;;) {
      const next = this.#queue.shift();
      if (next) return next;
      if (this.#error) {
        const err = this.#error;
        this.#error = undefined;
        throw this.#failure(err);
      }
      if (this.#closed) return null;
      await this.#wakeup.wait(options, {
        timeout: `no datagram from ${formatAddress(this.remote)} within ${options.timeoutMs} ms`,
        abort: 'receive aborted',
      });
    }
  }

  /**
   * Send and wait for a reply, sending again up to `retries` times if none comes within
   * `timeoutMs` (UDP may lose either datagram).
   */
  async request(
    data: Buffer | string,
    options: { timeoutMs?: number; retries?: number; signal?: AbortSignal } = {},
  ): Promise<Datagram> {
    const retries = options.retries ?? 0;
    for (let attempt = 0; ; attempt++) {
      await this.send(data);
      try {
        const reply = await this.receive({
          timeoutMs: options.timeoutMs ?? 1000,
          ...(options.signal ? { signal: options.signal } : {}),
        });
        if (reply === null)
          throw new SocklabError('SOCKLAB_ERR_SOCKET', 'socket closed while waiting for a reply');
        return reply;
      } catch (err) {
        if (!(err instanceof SocklabError && err.code === 'SOCKLAB_ERR_TIMEOUT') || attempt >= retries)
          throw err;
      }
    }
  }

  close(): Promise<void> {
    if (!this.#closed) {
      this.#closed = true;
      this.socket.close();
      this.#wakeup.wake();
    }
    return Promise.resolve();
  }
}

export async function openUdp(options: OpenUdpOptions): Promise<UdpClient> {
  const endpoint: Endpoint = {
    transport: 'udp',
    host: options.host,
    port: options.port,
    ...(options.path !== undefined ? { path: options.path } : {}),
  };
  const socket = await connectDatagram({
    host: options.host,
    port: options.port,
    ...(options.path !== undefined ? { path: options.path } : {}),
    ...(options.bindPath !== undefined ? { bindPath: options.bindPath } : {}),
    ...(options.batched !== undefined ? { batched: options.batched } : {}),
  });
  const client = new UdpClient(socket, endpoint, socket.remoteAddress(), options.maxQueued ?? 4096);
  options.signal?.addEventListener('abort', () => void client.close(), { once: true });
  return client;
}
