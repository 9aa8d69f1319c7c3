/**
 * Addresses, parsed once for every command: `[tcp|udp|tls://]HOST:PORT`, `PORT`, `:PORT`,
 * `[::1]:PORT`, `unix:PATH`.
 *
 * - `8080` means `127.0.0.1:8080` when listening (safe by default) and is an error when connecting.
 * - `:8080` (or `tcp://:8080`) means every interface, IPv4 and IPv6.
 * - IPv6 literals go in brackets: `[::1]:8080`.
 * - Port 0 asks the operating system for a free port; read it back from `address()`.
 * - `tls://HOST:PORT` is TCP with TLS on top (`tls: true`); with `-u` it is an error (no DTLS).
 * - `unix:/path` (or `unix:relative/path`, `unix:///path`) is a Unix socket: a stream socket, or a
 *   datagram socket with `-u`/`udp` as the default transport. `host` is '' and `port` 0; `path` says where.
 */
import { isIP } from 'node:net';
import { SocklabError } from './errors.js';

export type Transport = 'tcp' | 'udp';

export interface Endpoint {
  readonly transport: Transport;
  /** An IP literal or a host name; `'::'` means every interface (IPv4 and IPv6). */
  readonly host: string;
  readonly port: number;
  /** TLS on top of TCP (`tls://`). */
  readonly tls?: boolean;
  /** A Unix socket's path (`unix:PATH`); `host` is then '' and `port` 0. */
  readonly path?: string;
}

/** What every command says to TLS over UDP (`tls://` with -u, `nc --ssl -u`). */
export const DTLS_NOT_SUPPORTED = 'TLS over UDP (DTLS) is not supported: Node has no DTLS';

/** The host that `:PORT` binds to: every interface, dual-stack. */
export const ANY_HOST = '::';
/** The host that a bare `PORT` binds to: loopback only, so nothing is exposed by accident. */
export const DEFAULT_LISTEN_HOST = '127.0.0.1';

export interface ParseAddressOptions {
  /** Scheme used when the text has none (`-u` makes it `udp`). */
  readonly defaultTransport?: Transport;
  /** `listen` accepts `PORT` and `:PORT`; `connect` needs a host. */
  readonly role: 'listen' | 'connect';
}

const SCHEME = /^([a-z][a-z0-9+.-]*):\/\/(.*)$/i;
const HOSTNAME = /^[a-z0-9_]([a-z0-9_-]*[a-z0-9_])?(\.[a-z0-9_]([a-z0-9_-]*[a-z0-9_])?)*\.?$/i;

function addressError(text: string, why: string): SocklabError {
  return new SocklabError('SOCKLAB_ERR_ADDRESS', `bad address '${text}': ${why}`);
}

export function parsePort(text: string, whole: string = text): number {
  if (!/^\d+$/.test(text)) throw addressError(whole, `port '${text}' is not a number`);
  const port = Number(text);
  if (port > 65535) throw addressError(whole, `port ${port} is out of range (0-65535)`);
  return port;
}

export function parseAddress(text: string, options: ParseAddressOptions): Endpoint {
  let transport: Transport = options.defaultTransport ?? 'tcp';
  let rest = text.trim();
  if (rest === '') throw addressError(text, 'empty address');

  if (/^unix:/i.test(rest)) {
    // unix:/abs, unix:rel, unix:///abs: the path is taken as written (a file name may hold ':').
    const path = rest.slice('unix:'.length).replace(/^\/\/(?=\/)/, '');
    if (path === '') throw addressError(text, 'missing path after unix:');
    if (path.includes('\0')) throw addressError(text, 'a path cannot contain NUL');
    return { transport, host: '', port: 0, path };
  }

  let tls = false;
  const scheme = SCHEME.exec(rest);
  if (scheme) {
    const name = (scheme[1] ?? '').toLowerCase();
    if (name === 'tls') {
      if (transport === 'udp') throw addressError(text, DTLS_NOT_SUPPORTED);
      tls = true;
      transport = 'tcp';
    } else if (name !== 'tcp' && name !== 'udp') {
      throw addressError(text, `unknown scheme '${name}' (use tcp://, udp://, tls:// or unix:)`);
    } else {
      transport = name;
    }
    rest = scheme[2] ?? '';
  }

  let host: string;
  let portText: string;
  if (/^\d+$/.test(rest)) {
    // Bare PORT.
    if (options.role === 'connect') throw addressError(text, 'a client needs a host: HOST:PORT');
    host = DEFAULT_LISTEN_HOST;
    portText = rest;
  } else if (rest.startsWith('[')) {
    const close = rest.indexOf(']');
    if (close < 0) throw addressError(text, "missing ']' after the IPv6 address");
    host = rest.slice(1, close);
    if (isIP(host) !== 6) throw addressError(text, `'${host}' is not an IPv6 address`);
    if (rest[close + 1] !== ':') throw addressError(text, "expected ':PORT' after ']'");
    portText = rest.slice(close + 2);
  } else {
    const colon = rest.lastIndexOf(':');
    if (colon < 0) throw addressError(text, 'expected HOST:PORT');
    host = rest.slice(0, colon);
    portText = rest.slice(colon + 1);
    if (host.includes(':')) throw addressError(text, 'write IPv6 addresses in brackets: [::1]:PORT');
    if (host === '') {
      if (options.role === 'connect') throw addressError(text, 'a client needs a host: HOST:PORT');
      host = ANY_HOST;
    } else if (isIP(host) === 0 && !HOSTNAME.test(host)) {
      throw addressError(text, `'${host}' is not a valid host name`);
    }
  }
  if (portText === '') throw addressError(text, 'missing port');
  const port = parsePort(portText, text);
  if (options.role === 'connect' && port === 0) throw addressError(text, 'cannot connect to port 0');
  return tls ? { transport, host, port, tls } : { transport, host, port };
}

/**
 * `[::1]` for IPv6 literals, the host itself otherwise. IPv4-mapped IPv6 shows as IPv4. A Unix
 * socket's peer (`/path`, `@abstract`, '' for an unbound one) shows as its path.
 */
export function formatHost(host: string): string {
  const mapped = /^::ffff:(\d+\.\d+\.\d+\.\d+)$/i.exec(host);
  if (mapped) return mapped[1] ?? host;
  return isIP(host) === 6 ? `[${host}]` : host;
}

/** `127.0.0.1:9000`, `[::1]:9000`; a Unix socket's path (port 0) alone. */
export function formatHostPort(host: string, port: number): string {
  if (isUnixPeer(host, port)) return host === '' ? '(unbound unix socket)' : host;
  return `${formatHost(host)}:${port}`;
}

/** A Unix socket's address as DatagramSocket and formatHostPort see it: a path (or '') and port 0. */
function isUnixPeer(host: string, port: number): boolean {
  return port === 0 && (host === '' || host.startsWith('/') || host.startsWith('@') || host.startsWith('.'));
}

/** `tcp://127.0.0.1:9000`, `udp://[::1]:9000`, `tls://localhost:443`, `unix:/run/x.sock`. */
export function formatAddress(endpoint: Endpoint): string {
  // Stream or datagram, the same words: one token, as scripts read `listening on ADDRESS`.
  if (endpoint.path !== undefined) return `unix:${endpoint.path}`;
  const scheme = endpoint.tls === true ? 'tls' : endpoint.transport;
  return `${scheme}://${formatHostPort(endpoint.host, endpoint.port)}`;
}
