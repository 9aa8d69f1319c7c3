/**
 * UDP transport: a server that runs behaviours on each datagram and answers each sender at its
 * own address, and a client bound to one server.
 *
 * UDP has no backpressure. Where a queue would grow (replies waiting out a delay, output that
 * cannot keep up, datagrams nobody reads yet) it is bounded and what does not fit is dropped and
 * counted, never queued without limit.
 */
import dgram from 'node:dgram';
import { EventEmitter, once } from 'node:events';
import { isIP } from 'node:net';
import { lookup } from 'node:dns/promises';
import { setTimeout as sleep } from 'node:timers/promises';
import { ANY_HOST, formatAddress, formatHostPort, type Endpoint } from '../address.js';
import { describeSystemError, SocklabError, systemCode } from '../errors.js';
import type { Behaviour, Message, Reply } from '../behaviours/behaviour.js';
import { untilSettled } from './wait.js';

/** The largest UDP payload over IPv4: 65,535 − 8 (UDP header) − 20 (IPv4 header). */
export const MAX_UDP_PAYLOAD = 65_507;
/** Messages being handled at once (waiting out `--delay` or slow output) before new ones are dropped. */
export const DEFAULT_MAX_PENDING = 4096;
/** Senders whose message count `{n}` is remembered. */
const MAX_TRACKED_SENDERS = 65_536;
/** Socket buffers big enough that a burst on loopback is not lost in the kernel. */
const SOCKET_BUFFER_BYTES = 4 * 1024 * 1024;

export interface ListenUdpOptions {
  readonly host?: string;
  readonly port?: number;
  readonly behaviours: readonly Behaviour[];
  /** Datagrams longer than this are dropped (and counted). */
  readonly maxMessageBytes?: number;
  readonly delayMs?: number;
  readonly maxPending?: number;
  /**
   * The kernel's receive buffer for this socket. Default 4 MiB, so a burst on loopback is not
   * lost; a smaller one makes loss easy to show (the demo uses 64 KiB). Linux reports double.
   */
  readonly receiveBufferBytes?: number;
  readonly signal?: AbortSignal;
}

export interface UdpServerStats {
  datagramsReceived: number;
  bytesReceived: number;
  datagramsSent: number;
  /** Dropped here: too large, or too many waiting. */
  dropped: number;
  sendErrors: number;
}

export interface UdpServerEvents {
  message: [msg: Message];
  /** A datagram not handled, and why. */
  drop: [peer: string, reason: string];
  /** A reply that could not be sent. */
  sendError: [peer: string, err: Error];
  /** Every behaviour is done with this message (its reply, if any, is sent). */
  handled: [msg: Message];
}

function socketType(host: string): 'udp4' | 'udp6' {
  return isIP(host) === 6 ? 'udp6' : 'udp4';
}

async function resolveHost(host: string, order: 'ipv4first' | 'verbatim' = 'ipv4first'): Promise<string> {
  if (isIP(host) !== 0) return host;
  const found = await lookup(host, { order } as { order: 'ipv4first' });
  return found.address;
}

export class UdpServer extends EventEmitter<UdpServerEvents> {
  readonly #socket: dgram.Socket;
  readonly stats: UdpServerStats = {
    datagramsReceived: 0,
    bytesReceived: 0,
    datagramsSent: 0,
    dropped: 0,
    sendErrors: 0,
  };
  #closed: Promise<void> | undefined;

  /** @internal use listenUdp() */
  constructor(socket: dgram.Socket) {
    super();
    this.#socket = socket;
  }

  address(): Endpoint {
    const a = this.#socket.address();
    return { transport: 'udp', host: a.address, port: a.port };
  }

  /** Send a datagram to any address from the server's port. */
  send(data: Buffer, host: string, port: number): Promise<void> {
    return new Promise<void>((resolve) => {
      this.#socket.send(data, port, host, (err) => {
        if (err) {
          this.stats.sendErrors += 1;
          this.emit('sendError', formatHostPort(host, port), err);
        } else {
          this.stats.datagramsSent += 1;
        }
        resolve();
      });
    });
  }

  close(): Promise<void> {
    this.#closed ??= new Promise<void>((resolve) => {
      try {
        this.#socket.close(() => resolve());
      } catch {
        resolve(); // already closed
      }
    });
    return this.#closed;
  }
}

async function bindUdp(host: string, port: number, receiveBufferBytes: number): Promise<dgram.Socket> {
  const attempt = (h: string) =>
    new Promise<dgram.Socket>((resolve, reject) => {
      const socket = dgram.createSocket({
        type: socketType(h),
        recvBufferSize: receiveBufferBytes,
        sendBufferSize: SOCKET_BUFFER_BYTES,
      });
      socket.once('error', (err) => {
        socket.close();
        reject(err);
      });
      socket.bind({ address: h, port }, () => {
        socket.removeAllListeners('error');
        resolve(socket);
      });
    });
  try {
    return await attempt(host);
  } catch (err) {
    const code = systemCode(err);
    if (host === ANY_HOST && (code === 'EAFNOSUPPORT' || code === 'EADDRNOTAVAIL')) return attempt('0.0.0.0');
    throw err;
  }
}

export async function listenUdp(options: ListenUdpOptions): Promise<UdpServer> {
  const requested = options.host ?? '127.0.0.1';
  const port = options.port ?? 0;
  let socket: dgram.Socket;
  try {
    const receiveBufferBytes = options.receiveBufferBytes ?? SOCKET_BUFFER_BYTES;
    socket = await bindUdp(await resolveHost(requested), port, receiveBufferBytes);
  } catch (err) {
    throw new SocklabError(
      'SOCKLAB_ERR_BIND',
      `cannot listen on ${formatAddress({ transport: 'udp', host: requested, port })}: ${describeSystemError(err)}`,
      { cause: err },
    );
  }
  const server = new UdpServer(socket);
  const behaviours = options.behaviours;
  const maxMessageBytes = options.maxMessageBytes ?? Infinity;
  const maxPending = options.maxPending ?? DEFAULT_MAX_PENDING;
  const delayMs = options.delayMs ?? 0;
  const counts = new Map<string, number>();
  let pending = 0;

  socket.on('error', () => {
    // ICMP errors for earlier replies surface here on some systems; one bad peer must not stop the server.
    server.stats.sendErrors += 1;
  });

  socket.on('message', (data, rinfo) => {
    server.stats.datagramsReceived += 1;
    server.stats.bytesReceived += data.length;
    if (data.length > maxMessageBytes) {
      server.stats.dropped += 1;
      const peer = formatHostPort(rinfo.address, rinfo.port);
      server.emit('drop', peer, `datagram of ${data.length} bytes exceeds --max-message ${maxMessageBytes}`);
      return;
    }
    // Counting only (no behaviours, nobody listening): the per-datagram cost is the count.
    if (behaviours.length === 0 && server.listenerCount('message') + server.listenerCount('handled') === 0)
      return;
    const peer = formatHostPort(rinfo.address, rinfo.port);
    if (pending >= maxPending) {
      server.stats.dropped += 1;
      server.emit('drop', peer, `${maxPending} datagrams already waiting`);
      return;
    }
    if (counts.size >= MAX_TRACKED_SENDERS && !counts.has(peer)) counts.clear();
    const n = (counts.get(peer) ?? 0) + 1;
    counts.set(peer, n);
    const msg: Message = { data, peer, n, transport: 'udp' };
    server.emit('message', msg);
    const reply: Reply = async (out) => {
      if (delayMs > 0) await sleep(delayMs);
      await server.send(out, rinfo.address, rinfo.port);
    };
    const run = async (from: number, first: Promise<unknown>) => {
      pending += 1;
      try {
        if ((await first) === 'stop') return;
        for (let i = from; i < behaviours.length; i++) {
          if ((await behaviours[i]?.onMessage?.(msg, reply)) === 'stop') return;
        }
      } catch (err) {
        server.emit('sendError', peer, err instanceof Error ? err : new Error(String(err)));
      } finally {
        pending -= 1;
        server.emit('handled', msg);
      }
    };
    for (let i = 0; i < behaviours.length; i++) {
      const result = behaviours[i]?.onMessage?.(msg, reply);
      if (result === 'stop') break;
      if (result instanceof Promise) {
        void run(i + 1, result);
        return;
      }
    }
    server.emit('handled', msg);
  });

  if (options.signal) {
    const signal = options.signal;
    if (signal.aborted) await server.close();
    else signal.addEventListener('abort', () => void server.close(), { once: true });
  }
  return server;
}

// ---------------------------------------------------------------------------------------------
// Client

export interface OpenUdpOptions {
  readonly host: string;
  readonly port: number;
  /** Datagrams received and not yet read, beyond which new ones are dropped. Default 4096. */
  readonly maxQueued?: number;
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
  readonly socket: dgram.Socket;
  readonly remote: Endpoint;
  readonly #queue: Datagram[] = [];
  readonly #maxQueued: number;
  #error: Error | undefined;
  #closed = false;
  #waiter: (() => void) | undefined;
  /** Datagrams dropped because nobody read them in time. */
  dropped = 0;

  /** @internal use openUdp() */
  constructor(socket: dgram.Socket, remote: Endpoint, maxQueued: number) {
    this.socket = socket;
    this.remote = remote;
    this.#maxQueued = maxQueued;
    socket.on('message', (data, rinfo) => {
      if (this.#queue.length >= this.#maxQueued) {
        this.dropped += 1;
        return;
      }
      this.#queue.push({ data, from: formatHostPort(rinfo.address, rinfo.port) });
      this.#wake();
    });
    socket.on('error', (err) => {
      this.#error = err;
      this.#wake();
    });
    socket.on('close', () => {
      this.#closed = true;
      this.#wake();
    });
  }

  #wake(): void {
    const w = this.#waiter;
    this.#waiter = undefined;
    w?.();
  }

  localAddress(): Endpoint {
    const a = this.socket.address();
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
      const woken = new Promise<void>((resolve) => (this.#waiter = resolve));
      await untilSettled(woken, {
        timeoutMs: options.timeoutMs,
        signal: options.signal,
        onTimeout: () =>
          new SocklabError(
            'SOCKLAB_ERR_TIMEOUT',
            `no datagram from ${formatAddress(this.remote)} within ${options.timeoutMs} ms`,
          ),
        onAbort: () => new SocklabError('SOCKLAB_ERR_ABORTED', 'receive aborted'),
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
    if (this.#closed) return Promise.resolve();
    const closed = once(this.socket, 'close').then(() => undefined);
    this.socket.close();
    return closed;
  }
}

export async function openUdp(options: OpenUdpOptions): Promise<UdpClient> {
  const endpoint: Endpoint = { transport: 'udp', host: options.host, port: options.port };
  let address: string;
  try {
    address = await resolveHost(options.host);
  } catch (err) {
    throw new SocklabError(
      'SOCKLAB_ERR_DNS',
      `cannot send to ${formatAddress(endpoint)}: ${describeSystemError(err)}`,
      { cause: err },
    );
  }
  const socket = dgram.createSocket({
    type: socketType(address),
    recvBufferSize: SOCKET_BUFFER_BYTES,
    sendBufferSize: SOCKET_BUFFER_BYTES,
  });
  try {
    await new Promise<void>((resolve, reject) => {
      socket.once('error', reject);
      socket.connect(options.port, address, () => {
        socket.off('error', reject);
        resolve();
      });
    });
  } catch (err) {
    socket.close();
    throw new SocklabError(
      'SOCKLAB_ERR_CONNECT',
      `cannot open udp to ${formatAddress(endpoint)}: ${describeSystemError(err)}`,
      {
        cause: err,
      },
    );
  }
  const client = new UdpClient(socket, endpoint, options.maxQueued ?? 4096);
  options.signal?.addEventListener('abort', () => void client.close(), { once: true });
  return client;
}
