/**
 * The TCP server that `listen` runs: it accepts, counts, limits, frames, applies backpressure and
 * closes; what to do with a message is the behaviours' job (run by chain.ts). The sockets come
 * from core/ (listen.ts); this file only serves them.
 */
import { EventEmitter } from 'node:events';
import type net from 'node:net';
import type { TLSSocket } from 'node:tls';
import { formatHostPort, type Endpoint } from '../address.js';
import { SocklabError } from '../errors.js';
import type { Behaviour, CloseInfo, Connection, Message, Reply } from '../behaviours/behaviour.js';
import { drained } from '../core/backpressure.js';
import { readDiscarding } from '../core/discard.js';
import { messagesBefore, raw, type Codec, type Decoder } from '../core/framing.js';
import { DEFAULT_BACKLOG, listenStream } from '../core/listen.js';
import type { TlsServerOptions } from '../core/tls.js';
import { plainAddress, type AccessControl } from './access.js';
import { openChain, replyAfter, runChain } from './chain.js';

const RESOLVED = Promise.resolve();

export { DEFAULT_BACKLOG };

export interface ListenTcpOptions {
  /** IP literal or host name; `'::'` is every interface. Default `127.0.0.1`. */
  readonly host?: string;
  /** 0 (the default) picks a free port. */
  readonly port?: number;
  /** A Unix stream socket at this path instead of HOST:PORT. */
  readonly path?: string;
  /** Serve TLS (see core/tls.ts): each client's handshake is done before the behaviours see it. */
  readonly tls?: TlsServerOptions;
  readonly behaviours: readonly Behaviour[];
  /** How the stream is cut into messages. Default `raw` (each chunk is a message). */
  readonly framing?: Codec;
  /** Longest message accepted; a client that sends a longer one is disconnected. */
  readonly maxMessageBytes?: number;
  /** Connections beyond this are closed on accept. */
  readonly maxConnections?: number;
  /** A client silent (no reads, no writes) for this long is disconnected. */
  readonly idleTimeoutMs?: number;
  /** Wait this long before each reply. */
  readonly delayMs?: number;
  readonly backlog?: number;
  /** Who may connect (`--allow`/`--deny`): others are reset at once and reported as 'denied'. */
  readonly access?: AccessControl;
  readonly signal?: AbortSignal;
}

export interface TcpServerEvents {
  connection: [conn: Connection];
  close: [conn: Connection, info: CloseInfo];
  /** A connection refused because of `maxConnections`. */
  drop: [peer: string];
  /** A TLS client whose handshake failed or timed out (it is closed; the server goes on). */
  tlsError: [peer: string, err: Error];
  /** A connection refused by the access rules. */
  denied: [peer: string];
}

export interface TcpServerStats {
  /** Connections accepted (not counting those refused by `maxConnections`). */
  connections: number;
  /** Bytes received and sent on connections that have closed. */
  bytesReceived: number;
  bytesSent: number;
}

export class TcpServer extends EventEmitter<TcpServerEvents> {
  #server!: net.Server;
  readonly #sockets = new Set<ServedSocket>();
  /** Connections accepted, and the bytes of those that have closed. */
  readonly #closed: TcpServerStats = { connections: 0, bytesReceived: 0, bytesSent: 0 };
  #closing: Promise<void> | undefined;
  readonly #tls: boolean;

  /** @internal use listenTcp(): listening once `attach()` is called */
  constructor(tls = false) {
    super();
    this.#tls = tls;
  }

  /** @internal */
  attach(server: net.Server): void {
    this.#server = server;
  }

  /** Connections accepted, and the bytes of every connection so far, open ones included. */
  get stats(): TcpServerStats {
    let { bytesReceived, bytesSent } = this.#closed;
    for (const socket of this.#sockets) {
      bytesReceived += socket[CONNECTION].bytesReceived;
      bytesSent += socket[CONNECTION].bytesSent;
    }
    return { connections: this.#closed.connections, bytesReceived, bytesSent };
  }

  /** @internal */
  track(socket: ServedSocket): void {
    this.#sockets.add(socket);
    this.#closed.connections += 1;
  }

  /** @internal A connection is gone: its bytes join the closed ones'. */
  untrack(socket: ServedSocket): void {
    if (!this.#sockets.delete(socket)) return;
    this.#closed.bytesReceived += socket[CONNECTION].bytesReceived;
    this.#closed.bytesSent += socket[CONNECTION].bytesSent;
  }

  /** Where the server really listens (the real port when asked for 0). */
  address(): Endpoint {
    const a = this.#server.address();
    if (a === null) throw new SocklabError('SOCKLAB_ERR_SOCKET', 'server is not listening');
    const tls = this.#tls ? { tls: true } : {};
    if (typeof a === 'string') return { transport: 'tcp', host: '', port: 0, path: a, ...tls };
    return { transport: 'tcp', host: a.address, port: a.port, ...tls };
  }

  get connections(): number {
    return this.#sockets.size;
  }

  /** Stop accepting; existing connections go on. */
  stopAccepting(): void {
    if (this.#server.listening) this.#server.close();
  }

  /**
   * Stop accepting and close every connection: gracefully (FIN after pending writes, waiting for
   * them to finish) by default, or at once with `{ force: true }`. Resolves on the server's 'close'.
   */
  close(options: { force?: boolean } = {}): Promise<void> {
    for (const socket of this.#sockets) {
      if (options.force) socket.destroy();
      else socket.end();
    }
    this.#closing ??= new Promise<void>((resolve) => {
      if (!this.#server.listening && this.#sockets.size === 0) return resolve();
      this.#server.close(() => resolve());
      // close() on a server that already stopped accepting still waits for its connections.
    });
    return this.#closing;
  }
}

export async function listenTcp(options: ListenTcpOptions): Promise<TcpServer> {
  // With no behaviours the bytes are only counted: such connections read into one reused buffer
  // (not TLS ones: their bytes are decrypted by Node, into Buffers of its own).
  const countOnly = options.behaviours.length === 0 && options.tls === undefined;
  const server = new TcpServer(options.tls !== undefined);
  let nextId = 1;
  const netServer = await listenStream({
    host: options.host ?? '127.0.0.1',
    port: options.port ?? 0,
    ...(options.path !== undefined ? { path: options.path } : {}),
    ...(options.tls !== undefined ? { tls: options.tls } : {}),
    onTlsError: (peer, err) => server.emit('tlsError', peer, err),
    backlog: options.backlog ?? DEFAULT_BACKLOG,
    pauseOnConnect: countOnly,
    ...(options.maxConnections !== undefined ? { maxConnections: options.maxConnections } : {}),
    onConnection: (socket) => {
      if (options.access && !options.access.allows(socket.remoteAddress ?? '')) {
        server.emit(
          'denied',
          formatHostPort(plainAddress(socket.remoteAddress ?? '?'), socket.remotePort ?? 0),
        );
        socket.resetAndDestroy();
        return;
      }
      serveConnection(server, socket, nextId++, options, countOnly);
    },
    onDrop: (peer) => server.emit('drop', peer),
  });
  server.attach(netServer);
  if (options.signal) {
    const signal = options.signal;
    if (signal.aborted) await server.close({ force: true });
    else signal.addEventListener('abort', () => void server.close({ force: true }), { once: true });
  }
  return server;
}

/**
 * One accepted connection: framing, behaviours in order, backpressure, limits, close.
 *
 * A class with shared methods and socket listeners, not a set of closures: a server may hold
 * 10,000 of these, and per-connection closures (a dozen, with their contexts) cost more memory
 * than the connection's own state.
 */
class ServedConnection implements Connection {
  readonly transport = 'tcp';
  readonly peer: string;
  bytesReceived = 0;
  bytesSent = 0;
  messages = 0;
  failure: Error | undefined;
  /** Messages waiting while a behaviour is busy with an earlier one. */
  readonly queue: Buffer[] = [];
  running = false;
  ended = false;
  /** Set when the client sent an oversized message: the queue is served, then the client closed. */
  closing: Error | undefined;
  readonly tls: Connection['tls'];
  #reply: Reply | undefined;

  constructor(
    readonly server: TcpServer,
    /** Replaced once, before any I/O, when the connection is read discarding (see discard.ts). */
    public socket: net.Socket,
    readonly id: number,
    readonly options: ListenTcpOptions,
    readonly decoder: Decoder,
  ) {
    // A Unix socket's client has no address of its own (an unbound socket): it is the one at the path.
    this.peer =
      options.path !== undefined
        ? `unix:${options.path}`
        : formatHostPort(socket.remoteAddress ?? '?', socket.remotePort ?? 0);
    this.tls = options.tls !== undefined ? negotiated(socket as TLSSocket) : undefined;
  }

  send(data: Buffer): Promise<void> {
    const socket = this.socket;
    if (socket.destroyed || !socket.writable) return RESOLVED;
    this.bytesSent += data.length;
    return socket.write(data) ? RESOLVED : drained(socket);
  }

  sendMessage(data: Buffer): Promise<void> {
    // A line is answered with the line ending it came with (CRLF from telnet, LF from nc).
    return this.send((this.options.framing ?? raw).encode(data, this.decoder.lineEnding));
  }

  end(): void {
    if (!this.socket.destroyed) this.socket.end();
  }

  destroy(): void {
    this.socket.destroy();
  }

  /** What behaviours call to answer: framed, after the reply delay. One per connection, made on first use. */
  get reply(): Reply {
    return (this.#reply ??= replyAfter(this.options.delayMs ?? 0, (data) => {
      const sent = this.sendMessage(data);
      return sent === RESOLVED ? undefined : sent;
    }));
  }

  /** Runs the behaviours on one message; a promise if one of them is still busy with it. */
  handle(data: Buffer): Promise<void> | void {
    this.messages += 1;
    const msg: Message = { data, peer: this.peer, n: this.messages, transport: 'tcp', connection: this };
    return runChain(this.options.behaviours, msg, this.reply);
  }

  /**
   * Messages are handled one at a time, in order. While a behaviour is busy (a delay, a full
   * output, a slow client, a greeting), reading from this socket is paused: the kernel's buffers
   * push back on this client only. This is the one place that pauses and resumes reading.
   * `busy`: what must settle before the queued messages are handled.
   */
  async drain(busy?: Promise<unknown>): Promise<void> {
    this.running = true;
    const queue = this.queue;
    let paused = false;
    try {
      for (let pending = busy; ;) {
        if (pending) {
          if (!paused) this.socket.pause();
          paused = true;
          await pending;
        }
        if (queue.length === 0 || this.socket.destroyed) break;
        pending = this.handle(queue.shift()!) ?? undefined;
      }
    } catch (err) {
      this.fail(err);
      return;
    } finally {
      this.running = false;
    }
    if (this.closing) this.fail(this.closing);
    else if (this.ended) this.finish();
    else if (paused && !this.socket.destroyed) this.socket.resume();
  }

  fail(err: unknown): void {
    this.failure ??= err instanceof Error ? err : new Error(String(err));
    this.socket.destroy();
  }

  /** After the client's FIN and the last message handled, close our side too. */
  finish(): void {
    if (!this.socket.destroyed && this.socket.writable) this.socket.end();
  }
}

/** A TLS client's protocol, SNI name and ALPN protocol (what it asked for and got). */
function negotiated(socket: TLSSocket): Connection['tls'] {
  const servername = (socket as TLSSocket & { servername?: unknown }).servername;
  const alpn = socket.alpnProtocol;
  return {
    protocol: socket.getProtocol() ?? 'TLS',
    ...(typeof servername === 'string' ? { servername } : {}),
    ...(typeof alpn === 'string' ? { alpnProtocol: alpn } : {}),
  };
}

const CONNECTION = Symbol('socklab.connection');
type ServedSocket = net.Socket & { [CONNECTION]: ServedConnection };

function onData(this: ServedSocket, chunk: Buffer): void {
  const c = this[CONNECTION];
  c.bytesReceived += chunk.length;
  if (c.closing) return; // an oversized message was seen: what came before it is being served
  let parts: Buffer[];
  try {
    parts = c.decoder.push(chunk);
  } catch (err) {
    // Serve the complete messages before the oversized one, then close this client.
    c.closing = err instanceof Error ? err : new Error(String(err));
    c.queue.push(...messagesBefore(err));
    this.pause();
    if (!c.running) void c.drain();
    return;
  }
  if (parts.length === 0) return;
  if (!c.running && c.queue.length === 0 && parts.length === 1) {
    // Fast path: nothing queued, one message.
    let result: Promise<void> | void;
    try {
      result = c.handle(parts[0]!);
    } catch (err) {
      c.fail(err);
      return;
    }
    if (result instanceof Promise) void c.drain(result);
    return;
  }
  c.queue.push(...parts);
  if (!c.running) void c.drain();
}

function onEnd(this: ServedSocket): void {
  const c = this[CONNECTION];
  c.ended = true;
  if (c.closing) return; // closed once what came before the oversized message is served
  let tail: Buffer[];
  try {
    tail = c.decoder.end();
  } catch (err) {
    c.fail(err);
    return;
  }
  if (tail.length > 0) c.queue.push(...tail);
  if (!c.running) {
    if (c.queue.length > 0) void c.drain();
    else c.finish();
  }
}

function onError(this: ServedSocket, err: Error): void {
  this[CONNECTION].failure ??= err;
}

function onClose(this: ServedSocket): void {
  const c = this[CONNECTION];
  c.server.untrack(this);
  const { bytesReceived, bytesSent, messages, failure } = c;
  const info: CloseInfo = failure
    ? { bytesReceived, bytesSent, messages, error: failure }
    : { bytesReceived, bytesSent, messages };
  for (const b of c.options.behaviours) b.onClose?.(c, info);
  c.server.emit('close', c, info);
}

function onIdle(this: ServedSocket): void {
  const ms = this[CONNECTION].options.idleTimeoutMs;
  this[CONNECTION].fail(new SocklabError('SOCKLAB_ERR_TIMEOUT', `idle for ${ms} ms`));
}

function serveConnection(
  server: TcpServer,
  accepted: net.Socket,
  id: number,
  options: ListenTcpOptions,
  countOnly: boolean,
): void {
  const decoder = (options.framing ?? raw).createDecoder(
    options.maxMessageBytes !== undefined ? { maxMessageBytes: options.maxMessageBytes } : {},
  );
  const c = new ServedConnection(server, accepted, id, options, decoder);
  // With no behaviours, bytes are only counted, read into one shared buffer (no 'data' events).
  if (countOnly) c.socket = readDiscarding(accepted, (n) => (c.bytesReceived += n));
  const socket = c.socket;
  const served = Object.assign(socket, { [CONNECTION]: c });
  server.track(served);
  socket.setNoDelay(true);
  if (options.idleTimeoutMs !== undefined && options.idleTimeoutMs > 0) {
    socket.setTimeout(options.idleTimeoutMs, onIdle.bind(served));
  }
  if (!countOnly) socket.on('data', onData); // counted by readDiscarding, however it reads
  socket.on('end', onEnd);
  socket.on('error', onError);
  socket.on('close', onClose);

  server.emit('connection', c);
  // Welcome messages and the like run before the first message is handled.
  const opening = openChain(options.behaviours, c);
  if (opening) void c.drain(opening);
}
