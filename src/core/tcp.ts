/**
 * TCP transport: a server that runs behaviours on each connection, and a client.
 *
 * No policy lives here beyond what a server must own: accepting, counting, limits, framing,
 * backpressure and closing. What to do with a message is the behaviours' job.
 */
import { EventEmitter } from 'node:events';
import net from 'node:net';
import { setTimeout as sleep } from 'node:timers/promises';
import { ANY_HOST, formatAddress, formatHostPort, type Endpoint } from '../address.js';
import { connectFailure, describeSystemError, SocklabError, systemCode } from '../errors.js';
import type { Behaviour, CloseInfo, Connection, Message, Reply } from '../behaviours/behaviour.js';
import { drained } from './backpressure.js';
import { readDiscarding } from './discard.js';
import { raw, type Codec, type Decoder } from './framing.js';
import { untilSettled } from './wait.js';

const RESOLVED = Promise.resolve();

/** The kernel caps this at net.core.somaxconn; Node's default of 511 drops connections in a burst. */
export const DEFAULT_BACKLOG = 4096;

export interface ListenTcpOptions {
  /** IP literal or host name; `'::'` is every interface. Default `127.0.0.1`. */
  readonly host?: string;
  /** 0 (the default) picks a free port. */
  readonly port?: number;
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
  readonly signal?: AbortSignal;
}

export interface TcpServerEvents {
  connection: [conn: Connection];
  close: [conn: Connection, info: CloseInfo];
  /** A connection refused because of `maxConnections`. */
  drop: [peer: string];
}

export interface TcpServerStats {
  /** Connections accepted (not counting those refused by `maxConnections`). */
  connections: number;
  /** Bytes received and sent on connections that have closed. */
  bytesReceived: number;
  bytesSent: number;
}

export class TcpServer extends EventEmitter<TcpServerEvents> {
  readonly #server: net.Server;
  readonly #sockets = new Set<net.Socket>();
  readonly stats: TcpServerStats = { connections: 0, bytesReceived: 0, bytesSent: 0 };
  #closing: Promise<void> | undefined;

  /** @internal use listenTcp() */
  constructor(server: net.Server) {
    super();
    this.#server = server;
  }

  /** @internal */
  track(socket: net.Socket): void {
    this.#sockets.add(socket);
  }

  /** @internal */
  untrack(socket: net.Socket): void {
    this.#sockets.delete(socket);
  }

  /** Where the server really listens (the real port when asked for 0). */
  address(): Endpoint {
    const a = this.#server.address();
    if (a === null || typeof a === 'string')
      throw new SocklabError('SOCKLAB_ERR_SOCKET', 'server is not listening');
    return { transport: 'tcp', host: a.address, port: a.port };
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

function listenError(endpoint: Endpoint, err: unknown): SocklabError {
  return new SocklabError(
    'SOCKLAB_ERR_BIND',
    `cannot listen on ${formatAddress(endpoint)}: ${describeSystemError(err)}`,
    { cause: err },
  );
}

/** Bind `server` to host:port; '::' falls back to '0.0.0.0' where IPv6 is off. */
async function bind(server: net.Server, host: string, port: number, backlog: number): Promise<void> {
  const attempt = (h: string) =>
    new Promise<void>((resolve, reject) => {
      const onError = (err: Error) => reject(err);
      server.once('error', onError);
      server.listen({ host: h, port, backlog }, () => {
        server.off('error', onError);
        resolve();
      });
    });
  try {
    await attempt(host);
  } catch (err) {
    const code = systemCode(err);
    if (host === ANY_HOST && (code === 'EAFNOSUPPORT' || code === 'EADDRNOTAVAIL')) return attempt('0.0.0.0');
    throw err;
  }
}

export async function listenTcp(options: ListenTcpOptions): Promise<TcpServer> {
  const host = options.host ?? '127.0.0.1';
  const port = options.port ?? 0;
  // With no behaviours the bytes are only counted: such connections read into one reused buffer.
  const countOnly = options.behaviours.length === 0;
  const netServer = net.createServer({ allowHalfOpen: true, pauseOnConnect: countOnly, noDelay: true });
  if (options.maxConnections !== undefined) netServer.maxConnections = options.maxConnections;
  const server = new TcpServer(netServer);
  let nextId = 1;

  netServer.on('connection', (socket) => {
    serveConnection(server, socket, nextId++, options, countOnly);
  });
  netServer.on('drop', (data) => {
    server.emit('drop', data ? formatHostPort(data.remoteAddress ?? '?', data.remotePort ?? 0) : '?');
  });

  try {
    await bind(netServer, host, port, options.backlog ?? DEFAULT_BACKLOG);
  } catch (err) {
    throw listenError({ transport: 'tcp', host, port }, err);
  }
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
  #reply: Reply | undefined;

  constructor(
    readonly server: TcpServer,
    /** Replaced once, before any I/O, when the connection is read discarding (see discard.ts). */
    public socket: net.Socket,
    readonly id: number,
    readonly options: ListenTcpOptions,
    readonly decoder: Decoder,
  ) {
    this.peer = formatHostPort(socket.remoteAddress ?? '?', socket.remotePort ?? 0);
  }

  send(data: Buffer): Promise<void> {
    const socket = this.socket;
    if (socket.destroyed || !socket.writable) return RESOLVED;
    this.bytesSent += data.length;
    return socket.write(data) ? RESOLVED : drained(socket);
  }

  end(): void {
    if (!this.socket.destroyed) this.socket.end();
  }

  destroy(): void {
    this.socket.destroy();
  }

  /** What behaviours call to answer: framed, after --delay. One per connection, made on first use. */
  get reply(): Reply {
    return (this.#reply ??= (data) => this.#sendReply(data));
  }

  #sendReply(data: Buffer): Promise<void> | void {
    const delayMs = this.options.delayMs ?? 0;
    if (delayMs > 0) return this.#sendLater(data, delayMs);
    const sent = this.send((this.options.framing ?? raw).encode(data));
    return sent === RESOLVED ? undefined : sent;
  }

  async #sendLater(data: Buffer, delayMs: number): Promise<void> {
    await sleep(delayMs, undefined, { ref: true });
    await this.send((this.options.framing ?? raw).encode(data));
  }

  /** Runs the behaviours on one message; a promise if one of them is still busy with it. */
  handle(data: Buffer): Promise<void> | void {
    this.messages += 1;
    const msg: Message = { data, peer: this.peer, n: this.messages, transport: 'tcp', connection: this };
    const behaviours = this.options.behaviours;
    const reply = this.reply;
    for (let i = 0; i < behaviours.length; i++) {
      const result = behaviours[i]?.onMessage?.(msg, reply);
      if (result === 'stop') return;
      if (result instanceof Promise) return this.#continue(result, msg, i + 1);
    }
  }

  async #continue(pending: Promise<unknown>, msg: Message, from: number): Promise<void> {
    if ((await pending) === 'stop') return;
    const behaviours = this.options.behaviours;
    for (let i = from; i < behaviours.length; i++) {
      if ((await behaviours[i]?.onMessage?.(msg, this.reply)) === 'stop') return;
    }
  }

  /**
   * Messages are handled one at a time, in order. While a behaviour is busy (a delay, a full
   * output, a slow client), reading from this socket is paused: the kernel's buffers push back on
   * this client only.
   */
  async drain(): Promise<void> {
    this.running = true;
    const queue = this.queue;
    try {
      while (queue.length > 0 && !this.socket.destroyed) {
        const result = this.handle(queue.shift()!);
        if (result instanceof Promise) {
          this.socket.pause();
          await result;
        }
      }
    } catch (err) {
      this.fail(err);
      return;
    } finally {
      this.running = false;
    }
    if (this.ended) this.finish();
    else if (!this.socket.destroyed) this.socket.resume();
  }

  /** Hold back reading until `busy` settles, then go on with what queued meanwhile. */
  wait(busy: Promise<unknown>): void {
    this.running = true;
    this.socket.pause();
    busy.then(
      () => {
        this.running = false;
        if (this.queue.length > 0 || this.ended) void this.drain();
        else if (!this.socket.destroyed) this.socket.resume();
      },
      (err: unknown) => {
        this.running = false;
        this.fail(err);
      },
    );
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

const CONNECTION = Symbol('socklab.connection');
type ServedSocket = net.Socket & { [CONNECTION]: ServedConnection };

function onData(this: ServedSocket, chunk: Buffer): void {
  const c = this[CONNECTION];
  c.bytesReceived += chunk.length;
  let parts: Buffer[];
  try {
    parts = c.decoder.push(chunk);
  } catch (err) {
    c.fail(err);
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
    if (result instanceof Promise) c.wait(result);
    return;
  }
  c.queue.push(...parts);
  if (!c.running) void c.drain();
}

function onEnd(this: ServedSocket): void {
  const c = this[CONNECTION];
  c.ended = true;
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
  c.server.stats.bytesReceived += bytesReceived;
  c.server.stats.bytesSent += bytesSent;
  c.server.emit('close', c, info);
}

function onIdle(this: ServedSocket): void {
  const ms = this[CONNECTION].options.idleTimeoutMs;
  this[CONNECTION].fail(new SocklabError('SOCKLAB_ERR_TIMEOUT', `idle for ${ms} ms (--idle-timeout)`));
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
  server.track(socket);
  socket.setNoDelay(true);
  if (options.idleTimeoutMs !== undefined && options.idleTimeoutMs > 0) {
    socket.setTimeout(options.idleTimeoutMs, onIdle.bind(served));
  }
  if (!countOnly) socket.on('data', onData); // counted by readDiscarding, however it reads
  socket.on('end', onEnd);
  socket.on('error', onError);
  socket.on('close', onClose);

  server.stats.connections += 1;
  server.emit('connection', c);
  // Welcome messages and the like run before the first message is handled.
  const opening: Promise<void>[] = [];
  for (const b of options.behaviours) {
    const result = b.onConnection?.(c);
    if (result instanceof Promise) opening.push(result);
  }
  if (opening.length > 0) c.wait(Promise.all(opening));
}

// ---------------------------------------------------------------------------------------------
// Client

export interface ConnectTcpOptions {
  readonly host: string;
  readonly port: number;
  /** Give up connecting after this long. Default 10 s. */
  readonly connectTimeoutMs?: number;
  /** Stop reading from the socket while this many received bytes wait to be read. Default 1 MiB. */
  readonly highWaterMarkBytes?: number;
  readonly signal?: AbortSignal;
}

const DEFAULT_CONNECT_TIMEOUT_MS = 10_000;
const DEFAULT_CLIENT_HIGH_WATER_MARK = 1024 * 1024;

export function connectError(endpoint: Endpoint, err: unknown): SocklabError {
  return connectFailure(formatAddress(endpoint), err);
}

/**
 * A TCP client with a pull-style reader: `read()` the next chunk (or `null` at the end), `send()`
 * with backpressure, `end()` to half-close. Received data waits in a bounded queue.
 */
export class TcpClient {
  readonly socket: net.Socket;
  readonly remote: Endpoint;
  readonly #queue: Buffer[] = [];
  #queuedBytes = 0;
  #eof = false;
  /** The server closed its side normally (FIN). */
  #fin = false;
  #error: Error | undefined;
  #waiter: (() => void) | undefined;
  readonly #highWaterMark: number;
  readonly closed: Promise<void>;

  /** @internal use connectTcp() */
  constructor(socket: net.Socket, remote: Endpoint, highWaterMark: number) {
    this.socket = socket;
    this.remote = remote;
    this.#highWaterMark = highWaterMark;
    // Not events.once(): that rejects on 'error', and a reset is reported through read()/send().
    this.closed = new Promise<void>((resolve) => socket.once('close', () => resolve()));
    socket.on('data', (chunk: Buffer) => {
      this.#queue.push(chunk);
      this.#queuedBytes += chunk.length;
      if (this.#queuedBytes >= this.#highWaterMark) socket.pause();
      this.#wake();
    });
    socket.on('end', () => {
      this.#fin = true;
      this.#eof = true;
      this.#wake();
    });
    socket.on('error', (err) => {
      this.#error ??= err;
      this.#wake();
    });
    socket.on('close', () => {
      this.#eof = true;
      this.#wake();
    });
  }

  #wake(): void {
    const w = this.#waiter;
    this.#waiter = undefined;
    w?.();
  }

  /** Our local address. */
  localAddress(): Endpoint {
    return { transport: 'tcp', host: this.socket.localAddress ?? '?', port: this.socket.localPort ?? 0 };
  }

  /** Bytes received and not yet read. */
  get pendingBytes(): number {
    return this.#queuedBytes;
  }

  /**
   * The next chunk, or `null` when the server has closed its side. Rejects with SOCKLAB_ERR_TIMEOUT
   * after `timeoutMs`, and with SOCKLAB_ERR_SOCKET if the connection was reset instead of closed.
   */
  async read(options: { timeoutMs?: number; signal?: AbortSignal } = {}): Promise<Buffer | null> {
    for (;;) {
      const chunk = this.#queue.shift();
      if (chunk !== undefined) {
        this.#queuedBytes -= chunk.length;
        if (this.#queuedBytes < this.#highWaterMark && this.socket.isPaused()) this.socket.resume();
        return chunk;
      }
      // The server's FIN is a normal end, whatever fails after it (a write into the closed
      // connection); a reset or other error before it is a failure: data may have been lost.
      if (this.#fin) return null;
      if (this.#error) {
        const reset = systemCode(this.#error) === 'ECONNRESET' || systemCode(this.#error) === 'EPIPE';
        throw new SocklabError(
          'SOCKLAB_ERR_SOCKET',
          reset
            ? `connection to ${formatAddress(this.remote)} was reset by the server (${systemCode(this.#error)})`
            : `connection to ${formatAddress(this.remote)} failed: ${describeSystemError(this.#error)}`,
          { cause: this.#error },
        );
      }
      if (this.#eof) return null;
      await this.#wait(options);
    }
  }

  /** Everything already received, joined, without waiting (empty if nothing). */
  readAvailable(): Buffer {
    const all = Buffer.concat(this.#queue.splice(0));
    this.#queuedBytes = 0;
    if (this.socket.isPaused()) this.socket.resume();
    return all;
  }

  #wait(options: { timeoutMs?: number; signal?: AbortSignal }): Promise<void> {
    const woken = new Promise<void>((resolve) => (this.#waiter = resolve));
    return untilSettled(woken, {
      timeoutMs: options.timeoutMs,
      signal: options.signal,
      onTimeout: () =>
        new SocklabError(
          'SOCKLAB_ERR_TIMEOUT',
          `no data from ${formatAddress(this.remote)} within ${options.timeoutMs} ms`,
        ),
      onAbort: () =>
        new SocklabError('SOCKLAB_ERR_ABORTED', 'read aborted', { cause: options.signal?.reason }),
    });
  }

  /** Write, waiting for 'drain' when the socket's buffer is full. */
  send(data: Buffer | string): Promise<void> {
    if (this.socket.destroyed) return Promise.reject(this.#closedError());
    if (this.socket.write(data)) return RESOLVED;
    return new Promise<void>((resolve, reject) => {
      const done = () => {
        this.socket.off('drain', done);
        this.socket.off('close', closed);
        resolve();
      };
      const closed = () => {
        this.socket.off('drain', done);
        reject(
          new SocklabError(
            'SOCKLAB_ERR_SOCKET',
            `connection to ${formatAddress(this.remote)} closed while sending: ${describeSystemError(this.#error)}`,
            { cause: this.#error },
          ),
        );
      };
      this.socket.on('drain', done);
      this.socket.once('close', closed);
    });
  }

  /**
   * Write `data` and resolve once all of it is in the kernel's hands (nothing left queued in
   * Node): the caller may then overwrite the buffer. For streaming through one reused buffer.
   */
  async sendAll(data: Buffer): Promise<void> {
    if (this.socket.destroyed) throw this.#closedError();
    // The write's callback runs once these bytes are in the kernel (or the write failed). Not
    // 'drain': Node emits it only after a write() that reported the buffer full.
    await new Promise<void>((resolve, reject) =>
      this.socket.write(data, (err) => (err ? reject(this.#closedError()) : resolve())),
    );
  }

  #closedError(): SocklabError {
    return new SocklabError('SOCKLAB_ERR_SOCKET', `connection to ${formatAddress(this.remote)} is closed`);
  }

  /** Send and wait for the next chunk (the reply), as UTF-8 text. */
  async request(
    data: Buffer | string,
    options: { timeoutMs?: number; signal?: AbortSignal } = {},
  ): Promise<string> {
    await this.send(data);
    const reply = await this.read(options);
    return reply === null ? '' : reply.toString('utf8');
  }

  /** Half-close: no more writes from us (FIN); we can still read. Resolves once the FIN is sent. */
  end(): Promise<void> {
    if (this.socket.destroyed || this.socket.writableEnded) return RESOLVED;
    return new Promise<void>((resolve) => this.socket.end(resolve));
  }

  destroy(): void {
    this.socket.destroy();
  }
}

export async function connectTcp(options: ConnectTcpOptions): Promise<TcpClient> {
  const endpoint: Endpoint = { transport: 'tcp', host: options.host, port: options.port };
  const timeoutMs = options.connectTimeoutMs ?? DEFAULT_CONNECT_TIMEOUT_MS;
  const socket = net.connect({ host: options.host, port: options.port, allowHalfOpen: true, noDelay: true });
  try {
    await new Promise<void>((resolve, reject) => {
      const timer = setTimeout(() => {
        const err = new SocklabError(
          'SOCKLAB_ERR_TIMEOUT',
          `cannot connect to ${formatAddress(endpoint)}: no answer within ${timeoutMs} ms`,
        );
        socket.destroy();
        reject(err);
      }, timeoutMs);
      const onAbort = () => {
        socket.destroy();
        reject(new SocklabError('SOCKLAB_ERR_ABORTED', `connect to ${formatAddress(endpoint)} aborted`));
      };
      options.signal?.addEventListener('abort', onAbort, { once: true });
      const cleanup = () => {
        clearTimeout(timer);
        options.signal?.removeEventListener('abort', onAbort);
      };
      socket.once('connect', () => {
        cleanup();
        socket.removeListener('error', onError);
        resolve();
      });
      const onError = (err: Error) => {
        cleanup();
        reject(connectError(endpoint, err));
      };
      socket.once('error', onError);
      if (options.signal?.aborted) onAbort();
    });
  } catch (err) {
    socket.destroy();
    throw err;
  }
  const client = new TcpClient(
    socket,
    endpoint,
    options.highWaterMarkBytes ?? DEFAULT_CLIENT_HIGH_WATER_MARK,
  );
  options.signal?.addEventListener('abort', () => client.destroy(), { once: true });
  return client;
}
