/**
 * The relay's HTTP JSON control API, in toxiproxy's shape (relays for proxies, faults for toxics):
 *
 *   GET    /version                          {"version": "0.1.0"}
 *   GET    /relays                           {"name": relay, …}
 *   POST   /relays                           {name, listen, upstream, faults?, seed?} → 201 relay
 *   GET    /relays/NAME                      relay (with its faults, stats and counters)
 *   DELETE /relays/NAME                      204
 *   GET    /relays/NAME/faults               [fault, …]
 *   POST   /relays/NAME/faults               {name?, type, direction?, probability?, params?} → 201 fault
 *   GET    /relays/NAME/faults/FAULT         fault
 *   POST   /relays/NAME/faults/FAULT         {params?, probability?} → 200 fault (PATCH works too)
 *   DELETE /relays/NAME/faults/FAULT         204
 *   GET    /relays/NAME/counters             {up: {forwarded: {packets, bytes}, …}, down: …, stats}
 *   DELETE /relays/NAME/counters             204: counters back to zero
 *   POST   /reset                            204: every relay loses its faults, counters to zero
 *
 * Changes apply at once, to open connections and flows too. A bad request gets a 4xx and a JSON
 * body `{"error": "one-line reason"}`; it never stops a relay.
 *
 * Who may drive it. The API can make a relay that forwards anything to anywhere, so it answers only
 * clients that could not be a web page in someone's browser:
 *   - Host must name the API itself (127.0.0.1:PORT, localhost:PORT, [::1]:PORT, or the address the
 *     connection came to): a DNS-rebound name (attacker.example resolving to 127.0.0.1) is a 403;
 *   - a request with an Origin that is not the API's own (http://HOST, HOST as sent) is a 403;
 *   - a body must be sent as Content-Type: application/json (415): a page can send text/plain
 *     without asking the browser first (a "simple" request), not JSON;
 *   - bound beyond loopback (`:8474`), it needs `Authorization: Bearer TOKEN` (401), the token
 *     being printed at start (ApiServer.token); with a token, Host may be any name (a container's);
 *   - a relay it creates listens on loopback only (403), unless allowRemoteListen.
 */
import { createHash, randomBytes, timingSafeEqual } from 'node:crypto';
import { once } from 'node:events';
import http from 'node:http';
import { isIPv4, isIPv6, type Socket } from 'node:net';
import { formatAddress, parseAddress, type Endpoint } from '../address.js';
import { describeSystemError, isSocklabError, SocklabError } from '../errors.js';
import { isValidName, NAME_RULE, printable, readFault, type FaultSpec } from '../impair/fault.js';
import { FAULT_TYPES } from '../impair/faults/index.js';
import type { RelayRegistry } from './registry.js';
import { readEndpoints, type RelayOptions } from './relay.js';
import { realClock, type Clock } from '../measure/clock.js';
import { sayOnceThenCount, type RepeatReport } from '../format/repeats.js';

/** Request bodies larger than this are refused (413). */
export const MAX_API_BODY_BYTES = 64 * 1024;
/** Connections at once; further ones are closed as they are accepted (and that is logged). */
export const MAX_API_CONNECTIONS = 64;
/** The request line and headers must arrive within this (else 408 and the connection closes). */
export const API_HEADERS_TIMEOUT_MS = 5_000;
/** The whole request, body (≤ MAX_API_BODY_BYTES) included, within this (else 408). */
export const API_REQUEST_TIMEOUT_MS = 10_000;
/** A kept-alive connection with no next request is closed after this. */
export const API_KEEP_ALIVE_TIMEOUT_MS = 5_000;
/** A connection with no traffic either way (say, a client that never reads its answer) is closed after this. */
export const API_IDLE_TIMEOUT_MS = 30_000;
/** How often the timeouts above are checked (node's default, 30 s, would let them run that late). */
const API_TIMEOUT_CHECK_MS = 500;
/** A repeated problem (the connection cap, fd exhaustion) is logged at most this often. */
const API_LOG_EVERY_MS = 60_000;

/** What one client may hold: the constants above, smaller for tests. */
export interface ApiLimits {
  readonly maxConnections: number;
  readonly headersTimeoutMs: number;
  readonly requestTimeoutMs: number;
  readonly keepAliveTimeoutMs: number;
  readonly idleTimeoutMs: number;
}

export const DEFAULT_API_LIMITS: ApiLimits = Object.freeze({
  maxConnections: MAX_API_CONNECTIONS,
  headersTimeoutMs: API_HEADERS_TIMEOUT_MS,
  requestTimeoutMs: API_REQUEST_TIMEOUT_MS,
  keepAliveTimeoutMs: API_KEEP_ALIVE_TIMEOUT_MS,
  idleTimeoutMs: API_IDLE_TIMEOUT_MS,
});

export interface ServeApiOptions {
  readonly registry: RelayRegistry;
  /** `127.0.0.1:8474`, `:8474`, `8474` (127.0.0.1), port 0 for a free one. */
  readonly listen: string | Endpoint;
  readonly version?: string;
  readonly signal?: AbortSignal;
  /**
   * What clients must send as `Authorization: Bearer TOKEN`. Default: none when the API listens on
   * loopback only; a random one (see ApiServer.token) when it listens beyond.
   */
  readonly token?: string;
  /** Let POST /relays create relays that listen beyond loopback (`:9000`). Default: a 403. */
  readonly allowRemoteListen?: boolean;
  /** Default DEFAULT_API_LIMITS. */
  readonly limits?: Partial<ApiLimits>;
  /** Problems an operator should know of, one line each (no newline): the connection cap reached,
   * file descriptors exhausted. Default: none. */
  readonly log?: (line: string) => void;
}

export interface ApiServer {
  address(): Endpoint;
  /** `http://127.0.0.1:8474` */
  readonly url: string;
  /** The token clients must send (`Authorization: Bearer TOKEN`), if the API needs one. */
  readonly token: string | undefined;
  close(): Promise<void>;
}

/** 127.0.0.0/8 or ::1 (also as ::ffff:127.x.y.z). */
export function isLoopbackAddress(host: string): boolean {
  const h = host.toLowerCase().replace(/^\[(.*)\]$/, '$1');
  const v4 = h.startsWith('::ffff:') && isIPv4(h.slice(7)) ? h.slice(7) : h;
  if (isIPv4(v4)) return v4.startsWith('127.');
  if (!isIPv6(h)) return false;
  return new URL(`http://[${h}]/`).hostname === '[::1]';
}

/**
 * What a listening server cannot do for itself: say once, in one line, that it is turning clients
 * away. `drop`: the connection cap; `error` on accept: out of file descriptors (EMFILE/ENFILE), or
 * anything else (which, unheard, would end the process). A repeated problem is a line a minute,
 * with how many times it happened since.
 */
export function watchAccept(
  server: http.Server,
  log: (line: string) => void,
  limits: { maxConnections: number },
  everyMs = API_LOG_EVERY_MS,
  clock: Clock = realClock,
): void {
  const reports = new Map<string, RepeatReport>();
  // The line logged again is this occurrence's: the count before it is the ones only counted.
  const once = (key: string, line: string) => {
    let report = reports.get(key);
    if (report === undefined) reports.set(key, (report = sayOnceThenCount(log, everyMs, clock)));
    report(
      () => line,
      (count) => (count > 1 ? `${line} (${count - 1} more since the last time)` : line),
    );
  };
  server.on('drop', () =>
    once(
      'drop',
      `${limits.maxConnections} connections at once, the most it takes: closing new ones (slow or stuck clients?)`,
    ),
  );
  server.on('error', (err: NodeJS.ErrnoException) => {
    if (err.code === 'EMFILE' || err.code === 'ENFILE') {
      once(
        'fd',
        `out of file descriptors (${err.code}) accepting a connection: clients are turned away until some ` +
          `close (raise the limit: ulimit -n)`,
      );
    } else {
      once(`error ${err.code}`, `cannot accept a connection: ${describeSystemError(err)}`);
    }
  });
}

function digest(text: string): Buffer {
  return createHash('sha256').update(text).digest();
}

/** `[::1]:8474` → `{ name: '[::1]', port: 8474 }`; undefined if it is not a host[:port]. */
function splitHost(text: string): { name: string; port: number | undefined } | undefined {
  const m = /^(\[[0-9a-f:.]+\]|[^:[\]\s/@]+)(?::(\d{1,5}))?$/i.exec(text);
  if (!m) return undefined;
  return { name: m[1]!.toLowerCase(), port: m[2] === undefined ? undefined : Number(m[2]) };
}

/** How a connection's local address is written in a Host header: `127.0.0.1`, `[::1]`. */
function hostName(address: string | undefined): string | undefined {
  if (address === undefined) return undefined;
  const v4 = address.startsWith('::ffff:') && isIPv4(address.slice(7)) ? address.slice(7) : address;
  return isIPv6(v4) ? new URL(`http://[${v4}]/`).hostname : v4;
}

class HttpError extends Error {
  constructor(
    readonly status: number,
    message: string,
    readonly headers: Record<string, string> = {},
  ) {
    super(message);
  }
}

function statusOf(err: SocklabError): number {
  switch (err.code) {
    case 'SOCKLAB_ERR_NOT_FOUND':
      return 404;
    case 'SOCKLAB_ERR_EXISTS':
    case 'SOCKLAB_ERR_BIND':
      return 409;
    case 'SOCKLAB_ERR_DNS':
      return 400;
    default:
      return err.isUsage ? 400 : 500;
  }
}

async function readBody(req: http.IncomingMessage): Promise<unknown> {
  const chunks: Buffer[] = [];
  let size = 0;
  for await (const chunk of req as AsyncIterable<Buffer>) {
    size += chunk.length;
    if (size > MAX_API_BODY_BYTES)
      throw new HttpError(413, `request body larger than ${MAX_API_BODY_BYTES} bytes`);
    chunks.push(chunk);
  }
  const text = Buffer.concat(chunks).toString('utf8').trim();
  if (text === '') return {};
  try {
    return JSON.parse(text) as unknown;
  } catch (err) {
    throw new HttpError(400, `bad JSON: ${err instanceof Error ? err.message : String(err)}`);
  }
}

function object(value: unknown, what: string): Record<string, unknown> {
  if (typeof value !== 'object' || value === null || Array.isArray(value))
    throw new HttpError(400, `${what} must be a JSON object`);
  return value as Record<string, unknown>;
}

/** The request's path, split and percent-decoded; a malformed one is a 400, not an internal error. */
function target(text: string): { url: URL; parts: string[] } {
  let url: URL;
  try {
    url = new URL(text, 'http://relay');
  } catch {
    throw new HttpError(400, 'the request target is not a path');
  }
  const parts = url.pathname
    .split('/')
    .filter(Boolean)
    .map((part) => {
      try {
        return decodeURIComponent(part);
      } catch {
        throw new HttpError(400, `bad percent-escape in the path: '${part}' is not UTF-8 in %XX form`);
      }
    });
  return { url, parts };
}

const ROUTES = [
  'GET /version',
  'GET|POST /relays',
  'GET|DELETE /relays/NAME',
  'GET|POST /relays/NAME/faults',
  'GET|POST|PATCH|DELETE /relays/NAME/faults/FAULT',
  'GET|DELETE /relays/NAME/counters',
  'POST /reset',
];

export async function serveApi(options: ServeApiOptions): Promise<ApiServer> {
  const { registry } = options;
  const version = options.version ?? 'unknown';
  const endpoint =
    typeof options.listen === 'string' ? parseAddress(options.listen, { role: 'listen' }) : options.listen;
  if (endpoint.transport !== 'tcp' || endpoint.tls === true || endpoint.path !== undefined)
    throw new SocklabError(
      'SOCKLAB_ERR_USAGE',
      `the API listens on TCP (plain HTTP), not ${formatAddress(endpoint)}`,
    );
  if (options.token !== undefined && !/^[\x21-\x7e]{16,}$/.test(options.token))
    throw new SocklabError('SOCKLAB_ERR_USAGE', 'an API token is 16 printable ASCII characters or more');

  const relayOf = (name: string) => {
    const relay = registry.get(name);
    if (!relay) {
      const names = registry.list().map((r) => r.name);
      throw new HttpError(
        404,
        `no relay named '${printable(name)}' (relays: ${names.length > 0 ? names.join(', ') : 'none'})`,
      );
    }
    return relay;
  };
  const faultOf = (relayName: string, faultName: string) => {
    const relay = relayOf(relayName);
    const fault = relay.fault(faultName);
    if (!fault) {
      const names = relay.faults().map((f) => f.name);
      throw new HttpError(
        404,
        `relay '${relayName}' has no fault named '${printable(faultName)}' (faults: ${names.length > 0 ? names.join(', ') : 'none'})`,
      );
    }
    return { relay, fault };
  };
  const allow = (method: string, allowed: string[]) => {
    if (!allowed.includes(method)) {
      throw new HttpError(405, `${method} is not allowed here (${allowed.join(', ')})`, {
        allow: allowed.join(', '),
      });
    }
  };

  async function route(req: http.IncomingMessage): Promise<{ status: number; body?: unknown }> {
    const method = req.method ?? 'GET';
    const { url, parts } = target(req.url ?? '/');
    const [top, name, sub, faultName, extra] = parts;
    if (top === 'version' && parts.length === 1) {
      allow(method, ['GET']);
      return { status: 200, body: { version } };
    }
    if (top === 'reset' && parts.length === 1) {
      allow(method, ['POST']);
      registry.reset();
      return { status: 204 };
    }
    if (top !== 'relays' || extra !== undefined) {
      throw new HttpError(
        404,
        `no such endpoint: ${method} ${url.pathname} (endpoints: ${ROUTES.join(', ')})`,
      );
    }
    if (name === undefined) {
      allow(method, ['GET', 'POST']);
      if (method === 'GET')
        return { status: 200, body: Object.fromEntries(registry.list().map((r) => [r.name, r.toJSON()])) };
      const body = object(await readBody(req), 'a relay');
      const known = ['name', 'listen', 'upstream', 'faults', 'seed'];
      for (const key of Object.keys(body)) {
        if (!known.includes(key))
          throw new HttpError(400, `unknown field '${printable(key)}' (fields: ${known.join(', ')})`);
      }
      if (typeof body.name !== 'string' || body.name === '') throw new HttpError(400, 'a relay needs a name');
      if (!isValidName(body.name)) {
        throw new HttpError(400, `relay name '${printable(body.name)}' is not a name: expected ${NAME_RULE}`);
      }
      if (typeof body.listen !== 'string' || typeof body.upstream !== 'string') {
        throw new HttpError(
          400,
          'a relay needs listen and upstream addresses, e.g. "127.0.0.1:0" and "127.0.0.1:8080"',
        );
      }
      if (body.faults !== undefined && !Array.isArray(body.faults))
        throw new HttpError(400, 'faults must be an array');
      if (
        body.seed !== undefined &&
        (typeof body.seed !== 'number' || !Number.isInteger(body.seed) || body.seed < 0)
      ) {
        throw new HttpError(400, 'seed must be a whole number');
      }
      if (registry.get(body.name)) throw new HttpError(409, `a relay named '${body.name}' already exists`);
      const { listen } = readEndpoints(body.listen, body.upstream);
      const relayName = body.name;
      const remoteListen = (host: string) =>
        new HttpError(
          403,
          `relay '${relayName}' would listen on ${host}, beyond loopback: relays created through the API ` +
            `listen on 127.0.0.1, ::1 or localhost unless socklab relay runs with --api-allow-remote-listen`,
        );
      // A Unix socket is local by nature.
      const local = (e: { host: string; path?: string }) => e.path !== undefined || isLoopbackAddress(e.host);
      if (!options.allowRemoteListen && !local(listen) && listen.host !== 'localhost')
        throw remoteListen(formatAddress(listen));
      const relayOptions: RelayOptions = {
        name: body.name,
        listen: body.listen,
        upstream: body.upstream,
        ...(body.faults !== undefined ? { faults: body.faults as FaultSpec[] } : {}),
        ...(typeof body.seed === 'number' ? { seed: body.seed } : {}),
      };
      const relay = await registry.create(relayOptions);
      if (!options.allowRemoteListen && !local(relay.address())) {
        // `localhost` that is not loopback on this host.
        await registry.remove(relay.name);
        throw remoteListen(formatAddress(relay.address()));
      }
      return { status: 201, body: relay.toJSON() };
    }
    if (sub === undefined) {
      allow(method, ['GET', 'DELETE']);
      const relay = relayOf(name);
      if (method === 'GET') return { status: 200, body: relay.toJSON() };
      await registry.remove(name);
      return { status: 204 };
    }
    if (sub === 'counters' && faultName === undefined) {
      allow(method, ['GET', 'DELETE']);
      const relay = relayOf(name);
      if (method === 'DELETE') {
        relay.resetCounters();
        return { status: 204 };
      }
      return { status: 200, body: { ...relay.counters(), stats: relay.stats() } };
    }
    if (sub !== 'faults') {
      throw new HttpError(
        404,
        `no such endpoint: ${method} ${url.pathname} (endpoints: ${ROUTES.join(', ')})`,
      );
    }
    if (faultName === undefined) {
      allow(method, ['GET', 'POST']);
      const relay = relayOf(name);
      if (method === 'GET') return { status: 200, body: relay.faults() };
      const spec = object(await readBody(req), 'a fault');
      const fault = readFault(FAULT_TYPES, spec, relay.transport);
      if (relay.fault(fault.name)) {
        throw new HttpError(
          409,
          `relay '${name}' already has a fault named '${fault.name}' (give the new one a name)`,
        );
      }
      return { status: 201, body: relay.addFault(spec as unknown as FaultSpec) };
    }
    allow(method, ['GET', 'POST', 'PATCH', 'DELETE']);
    const { relay, fault } = faultOf(name, faultName);
    if (method === 'GET') return { status: 200, body: fault };
    if (method === 'DELETE') {
      relay.removeFault(faultName);
      return { status: 204 };
    }
    const patch = object(await readBody(req), 'a change');
    return { status: 200, body: relay.updateFault(faultName, patch) };
  }

  /** Set once listening: the API's port, and (the digest of) the token it needs, if any. */
  const bound: { port: number; token: Buffer | undefined } = { port: 0, token: undefined };

  /** Who may ask (see the top of this file): throws the 400/401/403/415 that says why not. */
  function admit(req: http.IncomingMessage): void {
    const host = req.headers.host;
    const origin = req.headers.origin;
    const named = host === undefined ? undefined : splitHost(host);
    if (host === undefined) throw new HttpError(400, 'a request needs a Host header');
    if (named === undefined) throw new HttpError(400, `Host '${printable(host)}' is not a host[:port]`);
    if (bound.token === undefined) {
      const own = ['localhost', '127.0.0.1', '[::1]', hostName(req.socket.localAddress)];
      if (!own.includes(named.name) || (named.port ?? 80) !== bound.port) {
        throw new HttpError(
          403,
          `Host '${printable(host)}' is not this API's address: send 127.0.0.1:${bound.port}, localhost:${bound.port} ` +
            `or [::1]:${bound.port} (a name that is not this host's is how a web page reaches it by DNS rebinding)`,
        );
      }
    }
    if (origin !== undefined && origin.toLowerCase() !== `http://${host.toLowerCase()}`) {
      throw new HttpError(
        403,
        `Origin '${printable(origin)}' is not this API's (http://${printable(host)}): ` +
          `the API takes no requests from web pages of other sites`,
      );
    }
    if (bound.token !== undefined) {
      const given = /^Bearer +(\S+) *$/i.exec(req.headers.authorization ?? '')?.[1];
      const challenge = { 'www-authenticate': 'Bearer realm="socklab relay"' };
      if (given === undefined) {
        throw new HttpError(
          401,
          'this API needs a token: send "Authorization: Bearer TOKEN", with the token socklab relay printed at start',
          challenge,
        );
      }
      if (!timingSafeEqual(digest(given), bound.token)) throw new HttpError(401, 'wrong token', challenge);
    }
    const length = req.headers['content-length'];
    if (length !== undefined && Number(length) > MAX_API_BODY_BYTES)
      throw new HttpError(413, `request body larger than ${MAX_API_BODY_BYTES} bytes`, {
        connection: 'close',
      });
    const hasBody =
      (length !== undefined && length !== '0') || req.headers['transfer-encoding'] !== undefined;
    const type = req.headers['content-type'];
    if (hasBody && type?.split(';')[0]!.trim().toLowerCase() !== 'application/json') {
      throw new HttpError(
        415,
        `a request body is JSON, sent with Content-Type: application/json (not ${type === undefined ? 'without one' : `'${printable(type)}'`})`,
      );
    }
  }

  const limits: ApiLimits = { ...DEFAULT_API_LIMITS, ...options.limits };
  for (const [key, value] of Object.entries(limits)) {
    if (!Number.isSafeInteger(value) || (value as number) < 1)
      throw new SocklabError(
        'SOCKLAB_ERR_USAGE',
        `API limit ${key}: ${String(value)} is not a whole number from 1`,
      );
  }
  const server = http.createServer(
    {
      headersTimeout: limits.headersTimeoutMs,
      requestTimeout: Math.max(limits.requestTimeoutMs, limits.headersTimeoutMs),
      keepAliveTimeout: limits.keepAliveTimeoutMs,
      connectionsCheckingInterval: Math.min(API_TIMEOUT_CHECK_MS, limits.headersTimeoutMs),
      requireHostHeader: false, // admit() answers that, in JSON
    },
    (req, res) => {
      const send = (status: number, body: unknown, headers: Record<string, string> = {}) => {
        if (res.headersSent) return;
        if (status === 204) {
          res.writeHead(204, headers).end();
          return;
        }
        const text = `${JSON.stringify(body, null, 2)}\n`;
        res
          .writeHead(status, {
            'content-type': 'application/json; charset=utf-8',
            'content-length': Buffer.byteLength(text),
            ...headers,
          })
          .end(text);
      };
      const answer = async () => {
        admit(req);
        return route(req);
      };
      answer().then(
        ({ status, body }) => send(status, body),
        (err: unknown) => {
          if (err instanceof HttpError)
            send(err.status, { error: err.message, status: err.status }, err.headers);
          else if (isSocklabError(err)) send(statusOf(err), { error: err.message, status: statusOf(err) });
          else
            send(500, {
              error: `internal error: ${err instanceof Error ? err.message : String(err)}`,
              status: 500,
            });
          // Drain what the client still sends, so the answer is not lost to a reset.
          req.resume();
        },
      );
    },
  );
  server.maxConnections = limits.maxConnections;
  server.setTimeout(limits.idleTimeoutMs); // then node destroys the socket
  // What node would answer to a request it could not read (timed out, malformed, headers too
  // large), but in JSON like every other answer.
  server.on('clientError', (err: NodeJS.ErrnoException, duplex) => {
    const socket = duplex as Socket;
    if (!socket.writable || socket.bytesWritten > 0) {
      socket.destroy();
      return;
    }
    const [status, reason, why] =
      err.code === 'ERR_HTTP_REQUEST_TIMEOUT'
        ? [
            408,
            'Request Timeout',
            `the request took too long: headers must arrive within ${limits.headersTimeoutMs} ms, ` +
              `the whole request within ${limits.requestTimeoutMs} ms`,
          ]
        : err.code === 'HPE_HEADER_OVERFLOW'
          ? [431, 'Request Header Fields Too Large', 'request headers too large']
          : [400, 'Bad Request', 'not an HTTP request this API can read'];
    const body = `${JSON.stringify({ error: why, status }, null, 2)}\n`;
    socket.write(
      `HTTP/1.1 ${status} ${reason}\r\ncontent-type: application/json; charset=utf-8\r\n` +
        `content-length: ${Buffer.byteLength(body)}\r\nconnection: close\r\n\r\n${body}`,
    );
    socket.destroySoon(); // once written; a client that reads nothing meets the idle timeout
  });
  try {
    server.listen({ host: endpoint.host, port: endpoint.port });
    await once(server, 'listening');
    watchAccept(server, options.log ?? (() => {}), limits);
  } catch (err) {
    throw new SocklabError(
      'SOCKLAB_ERR_BIND',
      `cannot listen on ${formatAddress(endpoint)} for the API: ${describeSystemError(err)}`,
      { cause: err },
    );
  }
  const address = (): Endpoint => {
    const a = server.address();
    if (a === null || typeof a === 'string')
      throw new SocklabError('SOCKLAB_ERR_SOCKET', 'the API is not listening');
    return { transport: 'tcp', host: a.address, port: a.port };
  };
  let closing: Promise<void> | undefined;
  const close = () => {
    closing ??= new Promise<void>((resolve) => {
      server.close(() => resolve());
      server.closeAllConnections();
    });
    return closing;
  };
  options.signal?.addEventListener('abort', () => void close(), { once: true });
  const a = address();
  bound.port = a.port;
  const tokenText =
    options.token ?? (isLoopbackAddress(a.host) ? undefined : randomBytes(24).toString('base64url'));
  bound.token = tokenText === undefined ? undefined : digest(tokenText);
  const host = a.host === '::' || a.host === '0.0.0.0' ? '127.0.0.1' : a.host;
  return {
    address,
    url: `http://${host.includes(':') ? `[${host}]` : host}:${a.port}`,
    token: tokenText,
    close,
  };
}
