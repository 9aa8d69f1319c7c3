/**
 * Requests to the relay's control API exactly as a test wants them: node:http to 127.0.0.1, a new
 * connection each time (no keep-alive pool), any Host / Origin / Content-Type, bounded by a timeout.
 * And slow clients: raw TCP connections that send part of a request and wait.
 */
import http from 'node:http';
import net from 'node:net';
import { serveApi, type ServeApiOptions } from '../../src/relay/api.js';
import { RelayRegistry } from '../../src/relay/registry.js';
import { echo, tcpServer } from './relay-peers.js';

export interface ApiReply {
  readonly status: number;
  readonly headers: http.IncomingHttpHeaders;
  readonly text: string;
  /** The JSON body, if there is one. */
  readonly body: Record<string, unknown> | undefined;
}

export interface ApiRequest {
  readonly method?: string;
  readonly path: string;
  /** Sent as they are; `host` replaces node's `127.0.0.1:PORT`. */
  readonly headers?: Record<string, string>;
  /** An object is sent as JSON with `content-type: application/json` (unless headers say otherwise). */
  readonly body?: string | object;
  readonly timeoutMs?: number;
}

/** One request to 127.0.0.1:`port`; rejects on a network error or after timeoutMs (default 5 s). */
export function apiRequest(port: number, request: ApiRequest): Promise<ApiReply> {
  const { method = 'GET', path, timeoutMs = 5000 } = request;
  const headers: Record<string, string> = {};
  let body: string | undefined;
  if (request.body !== undefined) {
    body = typeof request.body === 'string' ? request.body : JSON.stringify(request.body);
    if (typeof request.body !== 'string') headers['content-type'] = 'application/json';
  }
  Object.assign(headers, request.headers);
  return new Promise((resolve, reject) => {
    const req = http.request(
      { host: '127.0.0.1', port, method, path, headers, agent: false, timeout: timeoutMs },
      (res) => {
        const chunks: Buffer[] = [];
        res.on('data', (chunk: Buffer) => chunks.push(chunk));
        res.on('error', reject);
        res.on('end', () => {
          const text = Buffer.concat(chunks).toString('utf8');
          let parsed: Record<string, unknown> | undefined;
          try {
            parsed = text === '' ? undefined : (JSON.parse(text) as Record<string, unknown>);
          } catch {
            parsed = undefined;
          }
          resolve({ status: res.statusCode ?? 0, headers: res.headers, text, body: parsed });
        });
      },
    );
    req.on('timeout', () => req.destroy(new Error(`no answer to ${method} ${path} within ${timeoutMs} ms`)));
    req.on('error', reject);
    req.end(body);
  });
}

export interface SlowClient {
  readonly socket: net.Socket;
  /** Resolves when the server closes the connection: what it sent, and when (ms after connecting). */
  readonly closed: Promise<{ data: string; afterMs: number }>;
}

/** A raw connection to 127.0.0.1:`port` that sends `data` (part of a request) and then nothing. */
export async function slowClient(port: number, data: string): Promise<SlowClient> {
  const socket = net.connect(port, '127.0.0.1');
  socket.on('error', () => {
    // A reset is a way of being closed too.
  });
  await new Promise<void>((resolve, reject) => {
    socket.once('connect', resolve);
    socket.once('error', reject);
  });
  const start = performance.now();
  const chunks: Buffer[] = [];
  socket.on('data', (chunk: Buffer) => chunks.push(chunk));
  const closed = new Promise<{ data: string; afterMs: number }>((resolve) => {
    socket.once('close', () =>
      resolve({ data: Buffer.concat(chunks).toString('utf8'), afterMs: performance.now() - start }),
    );
  });
  if (data !== '') socket.write(data);
  return { socket, closed };
}

type T = { after: (fn: () => Promise<void> | void) => void };

/** An echo target, a registry with one relay to it named `web`, and the API over them on 127.0.0.1:0. */
export async function apiSetup(t: T, options: Partial<ServeApiOptions> = {}) {
  const server = await tcpServer(echo);
  t.after(() => server.close());
  const registry = new RelayRegistry();
  t.after(() => registry.closeAll());
  const relay = await registry.create({
    name: 'web',
    listen: 'tcp://127.0.0.1:0',
    upstream: `tcp://127.0.0.1:${server.port}`,
    seed: 1,
  });
  const api = await serveApi({ registry, listen: 'tcp://127.0.0.1:0', version: '9.9.9', ...options });
  t.after(() => api.close());
  return { server, registry, relay, api, port: api.address().port };
}
