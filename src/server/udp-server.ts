/**
 * The UDP server that `listen -u` runs: behaviours on each datagram, each sender answered at its
 * own address, from a datagram socket of core/ (batched through the native addon where built).
 *
 * UDP has no backpressure. Where a queue would grow (replies waiting out a delay, output that
 * cannot keep up) it is bounded and what does not fit is dropped and counted, never queued
 * without limit.
 */
import { EventEmitter } from 'node:events';
import { formatHostPort, type Endpoint } from '../address.js';
import type { Behaviour, Message, Reply } from '../behaviours/behaviour.js';
import { MAX_UDP_PAYLOAD, type DatagramSender, type DatagramSocket } from '../core/datagram.js';
import { bindDatagram } from '../core/listen.js';
import { plainAddress, type AccessControl } from './access.js';
import { replyAfter, runChain } from './chain.js';

export { MAX_UDP_PAYLOAD };

/** Messages being handled at once (waiting out `--delay` or slow output) before new ones are dropped. */
export const DEFAULT_MAX_PENDING = 4096;
/** Senders whose message count `{n}` is remembered. */
const MAX_TRACKED_SENDERS = 65_536;

export interface ListenUdpOptions {
  readonly host?: string;
  readonly port?: number;
  /** A Unix datagram socket at this path (native addon): each sender is answered at its own path. */
  readonly path?: string;
  readonly behaviours: readonly Behaviour[];
  /** Datagrams longer than this are dropped (and counted). */
  readonly maxMessageBytes?: number;
  /** Wait this long before each reply. */
  readonly delayMs?: number;
  readonly maxPending?: number;
  /**
   * The kernel's receive buffer for this socket. Default 4 MiB, so a burst on loopback is not
   * lost; a smaller one makes loss easy to show (the demo uses 64 KiB). Linux reports double.
   */
  readonly receiveBufferBytes?: number;
  /** false: node:dgram even where the native addon is built. */
  readonly batched?: boolean;
  /** Who may send (`--allow`/`--deny`): other datagrams are dropped (limit 'access'). */
  readonly access?: AccessControl;
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

/** Which limit dropped a datagram. */
export type UdpDropLimit = 'maxMessageBytes' | 'maxPending' | 'access';

export interface UdpServerEvents {
  message: [msg: Message];
  /** A datagram not handled, why, and the limit that dropped it. */
  drop: [peer: string, reason: string, limit: UdpDropLimit];
  /** A reply that could not be sent. */
  sendError: [peer: string, err: Error];
  /** Every behaviour is done with this message (its reply, if any, is sent). */
  handled: [msg: Message];
}

export class UdpServer extends EventEmitter<UdpServerEvents> {
  readonly #socket: DatagramSocket;
  readonly stats: UdpServerStats = {
    datagramsReceived: 0,
    bytesReceived: 0,
    datagramsSent: 0,
    dropped: 0,
    sendErrors: 0,
  };
  #closed = false;

  readonly #path: string | undefined;

  /** @internal use listenUdp() */
  constructor(socket: DatagramSocket, path?: string) {
    super();
    this.#socket = socket;
    this.#path = path;
  }

  address(): Endpoint {
    const a = this.#socket.address();
    if (this.#path !== undefined) return { transport: 'udp', host: '', port: 0, path: this.#path };
    return { transport: 'udp', host: a.address, port: a.port };
  }

  /** True when the native batching addon serves this socket. */
  get batched(): boolean {
    return this.#socket.batched;
  }

  /** Send a datagram from the server's port to `host` (an IP literal) and `port`. */
  send(data: Buffer, host: string, port: number): Promise<void> {
    return this.sendTo(data, { address: host, port });
  }

  /** @internal Send to a sender as the socket described it (no parsing of its address). */
  sendTo(data: Buffer, to: DatagramSender): Promise<void> {
    if (this.#closed) return Promise.resolve();
    return new Promise<void>((resolve) => {
      this.#socket.sendTo(data, to, (err) => {
        if (err) {
          this.stats.sendErrors += 1;
          this.emit('sendError', formatHostPort(to.address, to.port), err);
        } else {
          this.stats.datagramsSent += 1;
        }
        resolve();
      });
    });
  }

  close(): Promise<void> {
    if (!this.#closed) {
      this.#closed = true;
      this.#socket.close();
    }
    return Promise.resolve();
  }
}

export async function listenUdp(options: ListenUdpOptions): Promise<UdpServer> {
  const socket = await bindDatagram({
    host: options.host ?? '127.0.0.1',
    port: options.port ?? 0,
    ...(options.path !== undefined ? { path: options.path } : {}),
    ...(options.receiveBufferBytes !== undefined ? { recvBufferSize: options.receiveBufferBytes } : {}),
    ...(options.batched !== undefined ? { batched: options.batched } : {}),
  });
  const server = new UdpServer(socket, options.path);
  const behaviours = options.behaviours;
  const maxMessageBytes = options.maxMessageBytes ?? Infinity;
  const maxPending = options.maxPending ?? DEFAULT_MAX_PENDING;
  const delayMs = options.delayMs ?? 0;
  const counts = new Map<string, number>();
  let pending = 0;

  // ICMP errors for earlier replies surface here; one bad peer must not stop the server.
  socket.onError(() => (server.stats.sendErrors += 1));

  socket.onMessage((data) => {
    server.stats.datagramsReceived += 1;
    server.stats.bytesReceived += data.length;
    if (data.length > maxMessageBytes) {
      server.stats.dropped += 1;
      const { address, port } = socket.sender();
      const why = `datagram of ${data.length} bytes exceeds the limit of ${maxMessageBytes} bytes`;
      server.emit('drop', formatHostPort(address, port), why, 'maxMessageBytes');
      return;
    }
    if (options.access && !options.access.allows(socket.sender().address)) {
      server.stats.dropped += 1;
      const { address, port } = socket.sender();
      server.emit('drop', formatHostPort(plainAddress(address), port), 'not allowed', 'access');
      return;
    }
    // Counting only (no behaviours, nobody listening): the per-datagram cost is the count.
    if (behaviours.length === 0 && server.listenerCount('message') + server.listenerCount('handled') === 0)
      return;
    const sender = socket.sender();
    const peer = formatHostPort(sender.address, sender.port);
    if (pending >= maxPending) {
      server.stats.dropped += 1;
      server.emit('drop', peer, `${maxPending} datagrams already waiting`, 'maxPending');
      return;
    }
    if (counts.size >= MAX_TRACKED_SENDERS && !counts.has(peer)) counts.clear();
    const n = (counts.get(peer) ?? 0) + 1;
    counts.set(peer, n);
    const msg: Message = { data, peer, n, transport: 'udp' };
    server.emit('message', msg);
    const reply: Reply = replyAfter(delayMs, (out) => server.sendTo(out, sender));
    let running: Promise<void> | void = undefined;
    try {
      running = runChain(behaviours, msg, reply);
    } catch (err) {
      server.emit('sendError', peer, err instanceof Error ? err : new Error(String(err)));
    }
    if (!(running instanceof Promise)) {
      server.emit('handled', msg);
      return;
    }
    pending += 1;
    running
      .catch((err: unknown) => {
        server.emit('sendError', peer, err instanceof Error ? err : new Error(String(err)));
      })
      .finally(() => {
        pending -= 1;
        server.emit('handled', msg);
      });
  });

  if (options.signal) {
    const signal = options.signal;
    if (signal.aborted) await server.close();
    else signal.addEventListener('abort', () => void server.close(), { once: true });
  }
  return server;
}
