/**
 * Addresses, parsed once for every command: `[tcp|udp://]HOST:PORT`, `PORT`, `:PORT`, `[::1]:PORT`.
 *
 * - `8080` means `127.0.0.1:8080` when listening (safe by default) and is an error when connecting.
 * - `:8080` (or `tcp://:8080`) means every interface, IPv4 and IPv6.
 * - IPv6 literals go in brackets: `[::1]:8080`.
 * - Port 0 asks the operating system for a free port; read it back from `address()`.
 */
import { isIP } from 'node:net';
import { SocklabError } from './errors.js';

export type Transport = 'tcp' | 'udp';

export interface Endpoint {
  readonly transport: Transport;
  /** An IP literal or a host name; `'::'` means every interface (IPv4 and IPv6). */
  readonly host: string;
  readonly port: number;
}

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

  const scheme = SCHEME.exec(rest);
  if (scheme) {
    const name = (scheme[1] ?? '').toLowerCase();
    if (name !== 'tcp' && name !== 'udp') {
      throw addressError(text, `unknown scheme '${name}' (use tcp:// or udp://)`);
    }
    transport = name;
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
  return { transport, host, port };
}

/** `[::1]` for IPv6 literals, the host itself otherwise. IPv4-mapped IPv6 shows as IPv4. */
export function formatHost(host: string): string {
  const mapped = /^::ffff:(\d+\.\d+\.\d+\.\d+)$/i.exec(host);
  if (mapped) return mapped[1] ?? host;
  return isIP(host) === 6 ? `[${host}]` : host;
}

/** `127.0.0.1:9000`, `[::1]:9000`. */
export function formatHostPort(host: string, port: number): string {
  return `${formatHost(host)}:${port}`;
}

/** `tcp://127.0.0.1:9000`, `udp://[::1]:9000`. */
export function formatAddress(endpoint: Endpoint): string {
  return `${endpoint.transport}://${formatHostPort(endpoint.host, endpoint.port)}`;
}
