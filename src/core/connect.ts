/**
 * Connecting, the one way every client of socklab opens a stream (connect, get, bench, the
 * relay's upstream): TCP, then TLS when asked. One timeout and AbortSignal path, one family of
 * errors: a failed lookup is SOCKLAB_ERR_DNS, a refusal SOCKLAB_ERR_CONNECT, no answer in time
 * SOCKLAB_ERR_TIMEOUT, an abort SOCKLAB_ERR_ABORTED, a failed handshake SOCKLAB_ERR_TLS.
 */
import net from 'node:net';
import { formatAddress } from '../address.js';
import { connectFailure, describeSystemError, SocklabError } from '../errors.js';
import { openDatagramSocket, type DatagramOptions, type DatagramSocket } from './datagram.js';
import { datagramType, resolveHost } from './resolve.js';
import { upgradeTls, type TlsClientOptions } from './tls.js';
import { untilSettled } from './wait.js';

export const DEFAULT_CONNECT_TIMEOUT_MS = 10_000;

export interface ConnectStreamOptions {
  readonly host: string;
  readonly port: number;
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
  /** TLS on top of the TCP connection. */
  readonly tls?: TlsClientOptions;
  /** Connect from this address and/or port (`nc -s`, `nc -p`). */
  readonly localAddress?: string;
  readonly localPort?: number;
}

export interface Dialing {
  /** The socket, connecting. Its errors before the connection is up reject `connected`. */
  readonly socket: net.Socket;
  /** Settles once connected, or with the SocklabError that says why not (the socket is then destroyed). */
  readonly connected: Promise<void>;
}

function whereOf(options: ConnectStreamOptions): string {
  return options.where ?? formatAddress({ transport: 'tcp', host: options.host, port: options.port });
}

/**
 * Start a TCP connection and return its socket at once, for a caller that must hold the socket
 * before it is connected (the relay pairs it with the client's). Nagle off.
 */
export function dialStream(options: ConnectStreamOptions): Dialing {
  const where = whereOf(options);
  const timeoutMs = options.timeoutMs ?? DEFAULT_CONNECT_TIMEOUT_MS;
  if (!Number.isInteger(options.port) || options.port < 1 || options.port > 65535) {
    throw new SocklabError(
      'SOCKLAB_ERR_ADDRESS',
      `cannot connect to ${where}: port ${options.port} is out of range (1-65535)`,
    );
  }
  const socket = net.connect({
    host: options.host,
    port: options.port,
    allowHalfOpen: options.allowHalfOpen ?? false,
    noDelay: true,
    ...(options.localAddress !== undefined ? { localAddress: options.localAddress } : {}),
    ...(options.localPort !== undefined ? { localPort: options.localPort } : {}),
    ...(options.onread !== undefined ? { onread: options.onread } : {}),
    ...(options.writableHighWaterMark !== undefined
      ? { writableHighWaterMark: options.writableHighWaterMark }
      : {}),
  } as net.NetConnectOpts);
  let onError: (err: Error) => void = () => undefined;
  let onClose: () => void = () => undefined;
  const up = new Promise<void>((resolve, reject) => {
    onError = (err) => reject(connectFailure(where, err));
    // Destroyed by its owner before it connected (the relay's client left first).
    onClose = () => reject(new SocklabError('SOCKLAB_ERR_ABORTED', `connect to ${where} aborted`));
    socket.once('error', onError);
    socket.once('close', onClose);
    socket.once('connect', () => resolve());
  });
  const connected = untilSettled(up, {
    timeoutMs,
    signal: options.signal,
    onTimeout: () =>
      new SocklabError('SOCKLAB_ERR_TIMEOUT', `cannot connect to ${where}: no answer within ${timeoutMs} ms`),
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

/** A connected stream (TLS when `options.tls` is given): the caller owns and destroys it. */
export async function connectStream(options: ConnectStreamOptions): Promise<net.Socket> {
  const { socket, connected } = dialStream(options);
  await connected;
  if (options.tls === undefined) return socket;
  return upgradeTls(socket, {
    ...options.tls,
    host: options.host,
    where: whereOf(options),
    timeoutMs: options.timeoutMs ?? DEFAULT_CONNECT_TIMEOUT_MS,
    ...(options.signal !== undefined ? { signal: options.signal } : {}),
  });
}

export interface ConnectDatagramOptions extends DatagramOptions {
  readonly host: string;
  readonly port: number;
}

/**
 * A UDP socket connected to HOST:PORT: it sends there, the kernel filters out datagrams from
 * anyone else, and an ICMP "port unreachable" comes back as an error (ECONNREFUSED).
 */
export async function connectDatagram(options: ConnectDatagramOptions): Promise<DatagramSocket> {
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
