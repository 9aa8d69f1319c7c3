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
 */
import { once } from 'node:events';
import http from 'node:http';
import { formatAddress, parseAddress, type Endpoint } from '../address.js';
import { describeSystemError, isSocklabError, SocklabError } from '../errors.js';
import { isValidName, NAME_RULE, printable, readFault, type FaultSpec } from '../impair/fault.js';
import { FAULT_TYPES } from '../impair/faults/index.js';
import type { RelayRegistry } from './registry.js';
import type { RelayOptions } from './relay.js';

/** Request bodies larger than this are refused (413). */
export const MAX_API_BODY_BYTES = 64 * 1024;

export interface ServeApiOptions {
  readonly registry: RelayRegistry;
  /** `127.0.0.1:8474`, `:8474`, `8474` (127.0.0.1), port 0 for a free one. */
  readonly listen: string | Endpoint;
  readonly version?: string;
  readonly signal?: AbortSignal;
}

export interface ApiServer {
  address(): Endpoint;
  /** `http://127.0.0.1:8474` */
  readonly url: string;
  close(): Promise<void>;
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
  if (endpoint.transport !== 'tcp')
    throw new SocklabError('SOCKLAB_ERR_USAGE', `the API listens on TCP, not ${formatAddress(endpoint)}`);

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
      const relayOptions: RelayOptions = {
        name: body.name,
        listen: body.listen,
        upstream: body.upstream,
        ...(body.faults !== undefined ? { faults: body.faults as FaultSpec[] } : {}),
        ...(typeof body.seed === 'number' ? { seed: body.seed } : {}),
      };
      const relay = await registry.create(relayOptions);
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

  const server = http.createServer((req, res) => {
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
    route(req).then(
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
  });
  server.on('clientError', (_err, socket) => socket.destroy());
  try {
    server.listen({ host: endpoint.host, port: endpoint.port });
    await once(server, 'listening');
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
  const host = a.host === '::' || a.host === '0.0.0.0' ? '127.0.0.1' : a.host;
  return { address, url: `http://${host.includes(':') ? `[${host}]` : host}:${a.port}`, close };
}
