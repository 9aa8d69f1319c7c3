/**
 * Listening, the one way every server of socklab binds (listen, the relay, the bench server, nc):
 * a TCP listener or a UDP socket on HOST:PORT, or a Unix socket (`path`: stream or datagram).
 * `::` (every interface) falls back to `0.0.0.0` on a host without IPv6; a failure is
 * SOCKLAB_ERR_BIND, worded once.
 *
 * TLS: `listenStream({ host, port, tls: { cert?, key?, alpn?, ciphers?, handshakeTimeoutMs? } })`
 * calls `onConnection` with TLSSockets whose handshake is done (see tls.ts; no cert: a self-signed
 * one is made, or pass one from tlsServerIdentity() to know its fingerprint). A client whose
 * handshake fails or times out goes to `onTlsError` and is closed; nobody else is held up.
 *
 * A Unix socket's file: a stale one is replaced, a file that is not a socket is refused, and the
 * file is removed when the server closes (unix-path.ts).
 */
import net from 'node:net';
import tls from 'node:tls';
import { ANY_HOST, formatAddress, formatHostPort, type Endpoint } from '../address.js';
import { describeSystemError, SocklabError, systemCode } from '../errors.js';
import { openDatagramSocket, type DatagramOptions, type DatagramSocket } from './datagram.js';
import { datagramType, resolveHost } from './resolve.js';
import { tlsClientFailure, tlsServerContext, type TlsServerOptions } from './tls.js';
import { openUnixDatagramSocket } from './unix-datagram.js';
import { clearStaleSocket, removeOnClose } from './unix-path.js';

/** The kernel caps this at net.core.somaxconn; Node's default of 511 drops connections in a burst. */
export const DEFAULT_BACKLOG = 4096;

export function listenError(endpoint: Endpoint, err: unknown): SocklabError {
  return new SocklabError(
    'SOCKLAB_ERR_BIND',
    `cannot listen on ${formatAddress(endpoint)}: ${describeSystemError(err)}`,
    { cause: err },
  );
}

/** Try `host`; where it is `::` and IPv6 is off, try `0.0.0.0`. */
async function withFallback<T>(host: string, attempt: (host: string) => Promise<T>): Promise<T> {
  try {
    return await attempt(host);
  } catch (err) {
    const code = systemCode(err);
    if (host === ANY_HOST && (code === 'EAFNOSUPPORT' || code === 'EADDRNOTAVAIL')) return attempt('0.0.0.0');
    throw err;
  }
}

export interface ListenStreamOptions {
  /** An IP literal or a host name (looked up, IPv4 first; `resolveAll` lists every address). Ignored with `path`. */
  readonly host: string;
  readonly port: number;
  /** A Unix stream socket at this path instead of HOST:PORT. */
  readonly path?: string;
  /** TLS: accepted sockets are TLSSockets, handshake done (no `pauseOnConnect` then). */
  readonly tls?: TlsServerOptions;
  /** A client whose TLS handshake failed (it is closed): who, and why. */
  readonly onTlsError?: (peer: string, err: SocklabError) => void;
  readonly backlog?: number;
  /** Connections beyond this are closed on accept (the server emits 'drop'). */
  readonly maxConnections?: number;
  /** Accepted sockets start paused (to be read with `onread`, see onread.ts). */
  readonly pauseOnConnect?: boolean;
  /** Called for each accepted connection (half-open allowed, Nagle off). */
  readonly onConnection: (socket: net.Socket) => void;
  /** A connection refused by `maxConnections`: who it was. */
  readonly onDrop?: (peer: string) => void;
}

function streamEndpoint(options: ListenStreamOptions): Endpoint {
  return {
    transport: 'tcp',
    host: options.host,
    port: options.port,
    ...(options.path !== undefined ? { path: options.path } : {}),
    ...(options.tls !== undefined ? { tls: true } : {}),
  };
}

/** A stream listener (TCP, or Unix with `path`; TLS on top with `tls`), listening when the promise resolves. */
export async function listenStream(options: ListenStreamOptions): Promise<net.Server> {
  const endpoint = streamEndpoint(options);
  let server: net.Server;
  if (options.tls !== undefined) {
    const context = await tlsServerContext(options.tls);
    const { identity: _identity, ...tlsOptions } = context;
    const tlsServer = tls.createServer({
      ...tlsOptions,
      allowHalfOpen: true,
      noDelay: options.path === undefined,
    });
    tlsServer.on('secureConnection', options.onConnection);
    // A failed handshake closes that client only. Node destroys the socket for a protocol error,
    // not for a handshake timeout: that one is closed here.
    tlsServer.on('tlsClientError', (err, socket) => {
      const peer =
        options.path !== undefined
          ? 'a client'
          : formatHostPort(socket.remoteAddress ?? '?', socket.remotePort ?? 0);
      socket.destroy();
      options.onTlsError?.(peer, tlsClientFailure(peer, err));
    });
    server = tlsServer;
  } else {
    server = net.createServer({
      allowHalfOpen: true,
      pauseOnConnect: options.pauseOnConnect ?? false,
      noDelay: options.path === undefined,
    });
    server.on('connection', options.onConnection);
  }
  if (options.maxConnections !== undefined) server.maxConnections = options.maxConnections;
  const onDrop = options.onDrop;
  if (onDrop) {
    server.on('drop', (data) =>
      onDrop(data ? formatHostPort(data.remoteAddress ?? '?', data.remotePort ?? 0) : '?'),
    );
  }
  const backlog = options.backlog ?? DEFAULT_BACKLOG;
  const path = options.path;
  if (path !== undefined) {
    await clearStaleSocket(path, formatAddress(endpoint), 'stream');
    try {
      await new Promise<void>((resolve, reject) => {
        server.once('error', reject);
        server.listen({ path, backlog }, () => {
          server.off('error', reject);
          resolve();
        });
      });
    } catch (err) {
      throw listenError(endpoint, err);
    }
    server.once('close', removeOnClose(path));
    return server;
  }
  const address = await resolveHost(options.host, { attempt: `cannot listen on ${formatAddress(endpoint)}` });
  try {
    await withFallback(
      address,
      (host) =>
        new Promise<void>((resolve, reject) => {
          server.once('error', reject);
          server.listen({ host, port: options.port, backlog }, () => {
            server.off('error', reject);
            resolve();
          });
        }),
    );
  } catch (err) {
    throw listenError(endpoint, err);
  }
  return server;
}

export interface BindDatagramOptions extends DatagramOptions {
  /** An IP literal or a host name (looked up, IPv4 first). Ignored with `path`. */
  readonly host: string;
  readonly port: number;
  /** A Unix datagram socket at this path (native addon) instead of HOST:PORT. */
  readonly path?: string;
}

/**
 * A bound UDP socket (batched through the native addon where it is built), or a Unix datagram
 * socket with `path`: its senders are `{ address: PATH, port: 0 }`, answered at their own path.
 */
export async function bindDatagram(options: BindDatagramOptions): Promise<DatagramSocket> {
  if (options.path !== undefined) {
    const endpoint: Endpoint = { transport: 'udp', host: '', port: 0, path: options.path };
    const socket = openUnixDatagramSocket(options);
    try {
      await socket.bind(options.path, 0);
    } catch (err) {
      socket.close();
      if (err instanceof SocklabError) throw err;
      throw listenError(endpoint, err);
    }
    return socket;
  }
  const endpoint: Endpoint = { transport: 'udp', host: options.host, port: options.port };
  const address = await resolveHost(options.host, { attempt: `cannot listen on ${formatAddress(endpoint)}` });
  try {
    return await withFallback(address, async (host) => {
      const socket = openDatagramSocket({ ...options, type: datagramType(host) });
      try {
        await socket.bind(host, options.port);
        return socket;
      } catch (err) {
        socket.close();
        throw err;
      }
    });
  } catch (err) {
    throw listenError(endpoint, err);
  }
}
