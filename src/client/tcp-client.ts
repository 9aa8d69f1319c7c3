/**
 * The TCP client of `connect` and of the library: a pull-style reader over a stream from
 * core/connect.ts, with backpressure both ways and half-close.
 */
import type net from 'node:net';
import { formatAddress, type Endpoint } from '../address.js';
import { describeSystemError, SocklabError, systemCode } from '../errors.js';
import { connectStream } from '../core/connect.js';
import type { TlsClientOptions } from '../core/tls.js';
import { Wakeup } from '../core/wait.js';

const RESOLVED = Promise.resolve();
const RESET_CODES: ReadonlySet<string> = new Set(['ECONNRESET', 'EPIPE']);

export interface ConnectTcpOptions {
  /** Ignored with `path`. */
  readonly host: string;
  readonly port: number;
  /** A Unix stream socket's path instead of HOST:PORT. */
  readonly path?: string;
  /**
   * TLS on top (see core/tls.ts): verified unless `insecure`. `true` (as in a tls:// Endpoint,
   * `connectTcp({ ...server.address() })`) is TLS with the defaults; false or absent: plain TCP.
   */
  readonly tls?: boolean | TlsClientOptions;
  /** Give up connecting after this long. Default 10 s. */
  readonly connectTimeoutMs?: number;
  /** Stop reading from the socket while this many received bytes wait to be read. Default 1 MiB. */
  readonly highWaterMarkBytes?: number;
  readonly signal?: AbortSignal;
}

const DEFAULT_CLIENT_HIGH_WATER_MARK = 1024 * 1024;

/**
 * A TCP client with a pull-style reader: `read()` the next chunk (or `null` at the end), `send()`
 * with backpressure, `end()` to half-close. Received data waits in a bounded queue.
 */
export class TcpClient {
  readonly socket: net.Socket;
  readonly remote: Endpoint;
  readonly #queue: Buffer[] = [];
  #queuedBytes = 0;
  #flushed = 0;
  #eof = false;
  /** The server closed its side normally (FIN). */
  #fin = false;
  #error: Error | undefined;
  readonly #wakeup = new Wakeup();
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
      this.#wakeup.wake();
    });
    socket.on('end', () => {
      this.#fin = true;
      this.#eof = true;
      this.#wakeup.wake();
    });
    socket.on('error', (err) => {
      this.#error ??= err;
      this.#wakeup.wake();
    });
    socket.on('close', () => {
      this.#eof = true;
      this.#wakeup.wake();
    });
  }

  /** Our local address. */
  localAddress(): Endpoint {
    if (this.remote.path !== undefined) return { transport: 'tcp', host: '', port: 0, path: '' };
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
        throw this.#closedError(this.#error);
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
    return this.#wakeup.wait(options, {
      timeout: `no data from ${formatAddress(this.remote)} within ${options.timeoutMs} ms`,
      abort: 'read aborted',
    });
  }

  /** Bytes the kernel has taken from us (written, not just queued in Node). */
  get bytesFlushed(): number {
    return this.#flushed;
  }

  /** Write, waiting for 'drain' when the socket's buffer is full. */
  send(data: Buffer | string): Promise<void> {
    if (this.socket.destroyed) return Promise.reject(this.#closedError());
    const length = typeof data === 'string' ? Buffer.byteLength(data) : data.length;
    const written = this.socket.write(data, (err) => {
      if (!err) this.#flushed += length;
    });
    if (written) return RESOLVED;
    return new Promise<void>((resolve, reject) => {
      const done = () => {
        this.socket.off('drain', done);
        this.socket.off('close', closed);
        resolve();
      };
      const closed = () => {
        this.socket.off('drain', done);
        // The same words as a write into a connection already gone: which of the two paths
        // sees a reset is a race, the user's message must not depend on it.
        reject(this.#closedError());
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
      this.socket.write(data, (err) => {
        if (err) return reject(this.#closedError(err));
        this.#flushed += data.length;
        resolve();
      }),
    );
  }

  /** Writing into a connection that is gone: why, if the socket said. */
  #closedError(err: Error | undefined = this.#error): SocklabError {
    const where = `connection to ${formatAddress(this.remote)}`;
    if (err === undefined) return new SocklabError('SOCKLAB_ERR_SOCKET', `${where} is closed`);
    const reset = RESET_CODES.has(systemCode(err) ?? '');
    return new SocklabError(
      'SOCKLAB_ERR_SOCKET',
      reset
        ? `${where} was reset by the server (${systemCode(err)})`
        : `${where} failed: ${describeSystemError(err)}`,
      { cause: err },
    );
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
  const tls = options.tls === true ? {} : options.tls === false ? undefined : options.tls;
  const endpoint: Endpoint = {
    transport: 'tcp',
    host: options.host,
    port: options.port,
    ...(options.path !== undefined ? { path: options.path } : {}),
    ...(tls !== undefined ? { tls: true } : {}),
  };
  const socket = await connectStream({
    host: options.host,
    port: options.port,
    ...(options.path !== undefined ? { path: options.path } : {}),
    ...(tls !== undefined ? { tls } : {}),
    allowHalfOpen: true,
    ...(options.connectTimeoutMs !== undefined ? { timeoutMs: options.connectTimeoutMs } : {}),
    ...(options.signal !== undefined ? { signal: options.signal } : {}),
  });
  const client = new TcpClient(
    socket,
    endpoint,
    options.highWaterMarkBytes ?? DEFAULT_CLIENT_HIGH_WATER_MARK,
  );
  options.signal?.addEventListener('abort', () => client.destroy(), { once: true });
  return client;
}
