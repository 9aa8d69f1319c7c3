/**
 * Which server and path an http(s) URL names: parsed once with WHATWG URL (as fetch and browsers
 * do), so percent-encoding, IDNA host names and default ports follow the standard.
 */
import { isIP } from 'node:net';
import { SocklabError, type SocklabErrorCode } from '../errors.js';

export interface HttpTarget {
  /** The normalized URL, without its #fragment (never sent): `http://127.0.0.1:8080/a?b`. */
  readonly url: string;
  readonly secure: boolean;
  /** Host name or IP literal, IPv6 without brackets: `::1`. */
  readonly host: string;
  readonly port: number;
  /** What the request line asks for: path and query, never empty: `/a?b`. */
  readonly path: string;
  /** The `Host` header: the port only when not the scheme's default, IPv6 in brackets. */
  readonly hostHeader: string;
}

/** Default ports by scheme: what `new URL()` leaves out of `port`. */
const DEFAULT_PORTS = { 'http:': 80, 'https:': 443 } as const;

function isSupported(protocol: string): protocol is keyof typeof DEFAULT_PORTS {
  return protocol === 'http:' || protocol === 'https:';
}

/** A URL that is not http(s), or that names no usable server. */
function urlError(code: SocklabErrorCode, text: string, why: string): SocklabError {
  return new SocklabError(code, `bad URL '${text}': ${why}`);
}

function toTarget(url: URL, text: string, code: SocklabErrorCode): HttpTarget {
  if (!isSupported(url.protocol)) {
    throw urlError(code, text, `unsupported scheme '${url.protocol.slice(0, -1)}' (use http:// or https://)`);
  }
  if (url.hostname === '') throw urlError(code, text, 'no host');
  // Credentials in a URL end up in logs and shell history; ask for the header explicitly instead.
  if (url.username !== '' || url.password !== '') {
    throw urlError(code, text, "user:password@ in URLs is not supported (use -H 'Authorization: …')");
  }
  const port = url.port === '' ? DEFAULT_PORTS[url.protocol] : Number(url.port);
  if (port === 0) throw urlError(code, text, 'cannot connect to port 0');
  const hostname = url.hostname.startsWith('[') ? url.hostname.slice(1, -1) : url.hostname;
  url.hash = '';
  return {
    url: url.href,
    secure: url.protocol === 'https:',
    host: hostname,
    port,
    path: `${url.pathname === '' ? '/' : url.pathname}${url.search}`,
    hostHeader: url.host,
  };
}

/**
 * `http://HOST[:PORT]/PATH`, `https://…`; without a scheme (`localhost:8080/x`) it means http://,
 * as curl does. A bad or non-http URL is a usage error (SOCKLAB_ERR_USAGE).
 */
export function parseHttpUrl(text: string): HttpTarget {
  const trimmed = text.trim();
  if (trimmed === '') throw urlError('SOCKLAB_ERR_USAGE', text, 'empty URL');
  const withScheme = /^[a-z][a-z0-9+.-]*:\/\//i.test(trimmed) ? trimmed : `http://${trimmed}`;
  let url: URL;
  try {
    url = new URL(withScheme);
  } catch {
    // The URL parser refuses a port over 65535 without saying so: say it, as the address parser does.
    const port = /^[a-z][a-z0-9+.-]*:\/\/(?:[^/?#@]*@)?(?:\[[^\]]*\]|[^/?#:]*):(\d+)(?:[/?#]|$)/i.exec(
      withScheme,
    )?.[1];
    if (port !== undefined && Number(port) > 65535)
      throw urlError('SOCKLAB_ERR_USAGE', text, `port ${port} is out of range (0-65535)`);
    throw urlError('SOCKLAB_ERR_USAGE', text, 'not a valid URL');
  }
  return toTarget(url, text, 'SOCKLAB_ERR_USAGE');
}

/**
 * Where a redirect's `Location` leads, resolved against the URL that answered (it is often
 * relative: `/login`, `../b`). A Location that is not a usable http(s) URL is the server's fault,
 * so a protocol error (SOCKLAB_ERR_PROTOCOL), not a usage error.
 */
export function resolveRedirect(location: string, base: HttpTarget): HttpTarget {
  let url: URL;
  try {
    url = new URL(location, base.url);
  } catch {
    throw new SocklabError(
      'SOCKLAB_ERR_PROTOCOL',
      `bad redirect from ${base.url}: Location '${location}' is not a URL`,
    );
  }
  try {
    return toTarget(url, location, 'SOCKLAB_ERR_PROTOCOL');
  } catch (err) {
    const why = err instanceof Error ? err.message : String(err);
    throw new SocklabError('SOCKLAB_ERR_PROTOCOL', `bad redirect from ${base.url}: ${why}`, { cause: err });
  }
}

/** Same scheme, host and port: credentials may follow a redirect only within one origin. */
export function sameOrigin(a: HttpTarget, b: HttpTarget): boolean {
  return a.secure === b.secure && a.host.toLowerCase() === b.host.toLowerCase() && a.port === b.port;
}

/** SNI carries host names only (RFC 6066 §3: "Literal IPv4 and IPv6 addresses are not permitted"). */
export function serverNameFor(target: HttpTarget): string | undefined {
  if (isIP(target.host) !== 0) return undefined;
  // A fully qualified name may end with a dot; the name in SNI and in certificates does not.
  return target.host.replace(/\.$/, '');
}
