/**
 * Connecting, the one way every client of socklab opens a stream (connect, get, bench, nc, the
 * relay's upstream): TCP or a Unix stream socket (`path`), then TLS when asked (`tls`). One
 * timeout and AbortSignal path, one family of errors: a failed lookup is SOCKLAB_ERR_DNS, a
 * refusal SOCKLAB_ERR_CONNECT, no answer in time SOCKLAB_ERR_TIMEOUT, an abort
 * SOCKLAB_ERR_ABORTED, a failed handshake or a certificate refused SOCKLAB_ERR_TLS.
 *
 * Datagrams: connectDatagram (UDP, or a Unix datagram socket with `path`, which may bind its own
 * `bindPath` so that the peer can answer; without one it gets an abstract address of its own).
 */
import net from 'node:net';
import tls from 'node:tls';
import { formatAddress } from '../address.js';
import { connectFailure, describeSystemError, SocklabError } from '../errors.js';
import { openDatagramSocket, type DatagramOptions, type DatagramSocket } from './datagram.js';
import { datagramType, resolveHost } from './resolve.js';
import { tlsClientOptions, tlsFailure, type TlsClientOptions } from './tls.js';
import { openUnixDatagramSocket } from './unix-datagram.js';
import { untilSettled } from './wait.js';

export const DEFAULT_CONNECT_TIMEOUT_MS = 10_000;

export interface ConnectStreamOptions {
  /** Ignored with `path`. */
  readonly host: string;
  readonly port: number;
  /** A Unix stream socket's path instead of HOST:PORT. */
  readonly path?: string;
  /** Give up connecting (the lookup included) after this long; the TLS handshake gets as long again. */
  readonly timeoutMs?: number;
  readonly signal?: AbortSignal;
  /** How the target is named in errors: `tcp://HOST:PORT` by default (`get` names its URL). */
  readonly where?: string;
  /** Read into buffers the caller provides instead of a fresh one per read (see onread.ts). */
  readonly onread?: net.OnReadOpts;
  /**
   * The peer's FIN ends only what we receive; we end our side ourselves (`end()`). Default false
   * (Node's): our side ends too.
   */
  readonly allowHalfOpen?: boolean;
  /** How much is buffered before `write()` says the socket is full (Node's default: 16 KiB). */
  readonly writableHighWaterMark?: number;
  /** TLS on top of the connection (`onread` is then served by copying from 'data' events). */
  readonly tls?: TlsClientOptions;
  /** Connect from this address and/or port (`nc -s`, `nc -p`). */
  readonly localAddress?: string;
  readonly localPort?: number;
}

export interface Dialing {
  /**
   * The socket, connecting (a TLSSocket with `tls`). Its errors before the connection is up
   * (the handshake done, with TLS) reject `connected`.
   */
  readonly socket: net.Socket;
  /** Settles once connected, or with the SocklabError that says why not (the socket is then destroyed). */
  readonly connected: Promise<void>;
}

function whereOf(options: ConnectStreamOptions): string {
  return (
    options.where ??
    formatAddress({
      transport: 'tcp',
      host: options.host,
      port: options.port,
      ...(options.path !== undefined ? { path: options.path } : {}),
      ...(options.tls !== undefined ? { tls: true } : {}),
    })
  );
}

/**
 * Start a TCP connection and return its socket at once, for a caller that must hold the socket
 * before it is connected (the relay pairs it with the client's). Nagle off.
 */
export function dialStream(options: ConnectStreamOptions): Dialing {
  const where = whereOf(options);
  const timeoutMs = options.timeoutMs ?? DEFAULT_CONNECT_TIMEOUT_MS;
  if (
    options.path === undefined &&
    (!Number.isInteger(options.port) || options.port < 1 || options.port > 65535)
  ) {
    throw new SocklabError(
      'SOCKLAB_ERR_ADDRESS',
      `cannot connect to ${where}: port ${options.port} is out of range (1-65535)`,
    );
  }
  const target =
    options.path !== undefined ? { path: options.path } : { host: options.host, port: options.port };
  const common = {
    allowHalfOpen: options.allowHalfOpen ?? false,
    ...(options.localAddress !== undefined ? { localAddress: options.localAddress } : {}),
    ...(options.localPort !== undefined ? { localPort: options.localPort } : {}),
    ...(options.writableHighWaterMark !== undefined
      ? { writableHighWaterMark: options.writableHighWaterMark }
      : {}),
  };
  const socket: net.Socket =
    options.tls !== undefined
      ? tls.connect({ ...common, ...tlsClientOptions(options.host, options.tls), ...target })
      : net.connect({
          ...common,
          ...target,
          ...(options.path === undefined ? { noDelay: true } : {}),
          ...(options.onread !== undefined ? { onread: options.onread } : {}),
        } as net.NetConnectOpts);
  if (options.tls !== undefined && options.path === undefined) socket.setNoDelay(true);
  if (options.tls !== undefined && options.onread !== undefined) readTlsInto(socket, options.onread);
  let onError: (err: Error) => void = () => undefined;
  let onClose: () => void = () => undefined;
  // With TLS: the TCP connection first ('connect'), then the handshake ('secureConnect'). An
  // error before 'connect' is the connection's, after it the handshake's.
  let tcpUp = false;
  const up = new Promise<void>((resolve, reject) => {
    onError = (err) => reject(tcpUp ? tlsFailure(where, err) : connectFailure(where, err));
    // Destroyed by its owner before it connected (the relay's client left first).
    onClose = () => reject(new SocklabError('SOCKLAB_ERR_ABORTED', `connect to ${where} aborted`));
    socket.once('error', onError);
    socket.once('close', onClose);
    socket.once('connect', () => {
      tcpUp = true;
      if (options.tls === undefined) resolve();
    });
    if (options.tls !== undefined) socket.once('secureConnect', () => resolve());
  });
  const connected = untilSettled(up, {
    timeoutMs,
    signal: options.signal,
    onTimeout: () =>
      new SocklabError(
        'SOCKLAB_ERR_TIMEOUT',
        tcpUp
          ? `TLS handshake with ${where}: no answer within ${timeoutMs} ms`
          : `cannot connect to ${where}: no answer within ${timeoutMs} ms`,
      ),
    onAbort: () =>
      new SocklabError('SOCKLAB_ERR_ABORTED', `connect to ${where} aborted`, {
        cause: options.signal?.reason,
      }),
  }).then(
    () => {
      socket.off('error', onError);
      socket.off('close', onClose);
    },
    (err: unknown) => {
      socket.destroy();
      throw err;
    },
  );
  return { socket, connected };
}

/**
 * `onread` for a TLS socket, which Node does not give it (it decrypts into Buffers of its own):
 * each chunk is copied into the caller's buffer, a buffer's worth at a time, and the callback
 * called as Node would; a callback that returns false pauses the socket, as with Node's onread.
 */
function readTlsInto(socket: net.Socket, onread: net.OnReadOpts): void {
  socket.on('data', (chunk: Buffer) => {
    for (let at = 0; at < chunk.length;) {
      const target = typeof onread.buffer === 'function' ? onread.buffer() : onread.buffer;
      const n = Math.min(target.length, chunk.length - at);
      target.set(chunk.subarray(at, at + n));
      at += n;
      if (onread.callback(n, target) === false) socket.pause();
    }
  });
}

/**
 * A connected stream (a TLSSocket, handshake done, when `options.tls` is given): the caller owns
 * and destroys it.
 */
export async function connectStream(options: ConnectStreamOptions): Promise<net.Socket> {
  const { socket, connected } = dialStream(options);
  await connected;
  return socket;
}

export interface ConnectDatagramOptions extends DatagramOptions {
  /** Ignored with `path`. */
  readonly host: string;
  readonly port: number;
  /** A Unix datagram socket's path instead of HOST:PORT. */
  readonly path?: string;
  /** Unix: the path this socket binds, where the peer's answers come (`nc -U -u -s PATH`). */
  readonly bindPath?: string;
}

/**
 * A UDP socket connected to HOST:PORT: it sends there, the kernel filters out datagrams from
 * anyone else, and an ICMP "port unreachable" comes back as an error (ECONNREFUSED).
 */
export async function connectDatagram(options: ConnectDatagramOptions): Promise<DatagramSocket> {
  if (options.path !== undefined) return connectUnixDatagram(options.path, options);
  const endpoint = { transport: 'udp', host: options.host, port: options.port } as const;
  const address = await resolveHost(options.host, { attempt: `cannot send to ${formatAddress(endpoint)}` });
  const socket = openDatagramSocket({ ...options, type: datagramType(address) });
  try {
    await socket.connect(address, options.port);
  } catch (err) {
    socket.close();
    throw new SocklabError(
      'SOCKLAB_ERR_CONNECT',
      `cannot open udp to ${formatAddress(endpoint)}: ${describeSystemError(err)}`,
      { cause: err },
    );
  }
  return socket;
}

async function connectUnixDatagram(path: string, options: ConnectDatagramOptions): Promise<DatagramSocket> {
  const where = formatAddress({ transport: 'udp', host: '', port: 0, path });
  const socket = openUnixDatagramSocket(options);
  try {
    if (options.bindPath !== undefined) await socket.bind(options.bindPath, 0);
    await socket.connect(path, 0);
  } catch (err) {
    socket.close();
    if (err instanceof SocklabError) throw err;
    throw new SocklabError('SOCKLAB_ERR_CONNECT', `cannot send to ${where}: ${describeSystemError(err)}`, {
      cause: err,
    });
  }
  return socket;
}
