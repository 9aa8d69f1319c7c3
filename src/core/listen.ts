/**
 * Listening, the one way every server of socklab binds (listen, the relay, the bench server): a
 * TCP listener or a UDP socket on HOST:PORT. `::` (every interface) falls back to `0.0.0.0` on a
 * host without IPv6; a failure is SOCKLAB_ERR_BIND, worded once.
 */
import net from 'node:net';
import { ANY_HOST, formatAddress, formatHostPort, type Endpoint } from '../address.js';
import { describeSystemError, SocklabError, systemCode } from '../errors.js';
import { openDatagramSocket, type DatagramOptions, type DatagramSocket } from './datagram.js';
import { datagramType, resolveHost } from './resolve.js';

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
  /** An IP literal or a host name (looked up, IPv4 first; `resolveAll` lists every address). */
  readonly host: string;
  readonly port: number;
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

/** A TCP listener, listening when the promise resolves. */
export async function listenStream(options: ListenStreamOptions): Promise<net.Server> {
  const server = net.createServer({
    allowHalfOpen: true,
    pauseOnConnect: options.pauseOnConnect ?? false,
    noDelay: true,
  });
  if (options.maxConnections !== undefined) server.maxConnections = options.maxConnections;
  server.on('connection', options.onConnection);
  const onDrop = options.onDrop;
  if (onDrop) {
    server.on('drop', (data) =>
      onDrop(data ? formatHostPort(data.remoteAddress ?? '?', data.remotePort ?? 0) : '?'),
    );
  }
  const backlog = options.backlog ?? DEFAULT_BACKLOG;
  const endpoint: Endpoint = { transport: 'tcp', host: options.host, port: options.port };
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
  /** An IP literal or a host name (looked up, IPv4 first). */
  readonly host: string;
  readonly port: number;
}

/** A bound UDP socket (batched through the native addon where it is built). */
export async function bindDatagram(options: BindDatagramOptions): Promise<DatagramSocket> {
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
