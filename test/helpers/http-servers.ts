/**
 * HTTP peers for the `get` tests, all on 127.0.0.1 port 0 and closed when the test ends:
 * a node:http server (a real, well-behaved server), an https one with the fixture certificates,
 * and a raw TCP server that answers with exact bytes (malformed, interim, never-ending).
 */
import { once } from 'node:events';
import { readFileSync } from 'node:fs';
import http from 'node:http';
import https from 'node:https';
import net from 'node:net';
import type { TestContext } from 'node:test';
import type { TLSSocket } from 'node:tls';
import { REPO_ROOT } from './cli.js';

/** What a server saw of one request. */
export interface SeenRequest {
  readonly method: string;
  readonly path: string;
  /** Alternating names and values, in order and case as sent. */
  readonly rawHeaders: readonly string[];
  /** For https: the SNI name the client sent, or false when it sent none. */
  readonly servername?: string | false;
}

export interface HttpPeer {
  readonly port: number;
  /** `http://127.0.0.1:PORT/path` (https:// for the TLS peer; `host` to use a name). */
  url(path?: string, host?: string): string;
  readonly requests: SeenRequest[];
}

/** The test certificates (see test/fixtures/tls/README.md). */
export const TLS_FIXTURES = {
  caPath: `${REPO_ROOT}test/fixtures/tls/ca.pem`,
  ca: readFileSync(`${REPO_ROOT}test/fixtures/tls/ca.pem`, 'utf8'),
  cert: readFileSync(`${REPO_ROOT}test/fixtures/tls/server-cert.pem`, 'utf8'),
  key: readFileSync(`${REPO_ROOT}test/fixtures/tls/server-key.pem`, 'utf8'),
};

async function serve(
  t: TestContext,
  server: http.Server | https.Server,
  scheme: 'http' | 'https',
  requests: SeenRequest[],
): Promise<HttpPeer> {
  server.listen(0, '127.0.0.1');
  await once(server, 'listening');
  t.after(async () => {
    server.closeAllConnections();
    server.close();
    await once(server, 'close');
  });
  const { port } = server.address() as net.AddressInfo;
  return { port, requests, url: (path = '/', host = '127.0.0.1') => `${scheme}://${host}:${port}${path}` };
}

function record(req: http.IncomingMessage, requests: SeenRequest[]): void {
  const socket = req.socket as Partial<TLSSocket>;
  requests.push({
    method: req.method ?? '',
    path: req.url ?? '',
    rawHeaders: req.rawHeaders,
    ...('encrypted' in socket ? { servername: socket.servername ?? false } : {}),
  });
}

/** A node:http server running `handler`; each request is recorded before the handler runs. */
export async function startHttpServer(
  t: TestContext,
  handler: (req: http.IncomingMessage, res: http.ServerResponse) => void,
): Promise<HttpPeer> {
  const requests: SeenRequest[] = [];
  const server = http.createServer((req, res) => {
    record(req, requests);
    handler(req, res);
  });
  return serve(t, server, 'http', requests);
}

/** An https server with the fixture certificate (for localhost and 127.0.0.1), signed by the fixture CA. */
export async function startHttpsServer(
  t: TestContext,
  handler: (req: http.IncomingMessage, res: http.ServerResponse) => void,
): Promise<HttpPeer> {
  const requests: SeenRequest[] = [];
  const server = https.createServer({ key: TLS_FIXTURES.key, cert: TLS_FIXTURES.cert }, (req, res) => {
    record(req, requests);
    handler(req, res);
  });
  // A client that rejects our certificate aborts the handshake: expected in these tests.
  server.on('tlsClientError', () => undefined);
  return serve(t, server, 'https', requests);
}

export interface RawPeer {
  readonly port: number;
  url(path?: string): string;
  /** The request heads received, as text. */
  readonly requests: string[];
}

/**
 * A raw TCP server: reads each request head (up to the blank line), then calls `respond`, which
 * writes exact bytes (and ends the socket, or not, to test what the client does then).
 */
export async function startRawServer(
  t: TestContext,
  respond: (socket: net.Socket, request: string) => void,
): Promise<RawPeer> {
  const requests: string[] = [];
  const sockets = new Set<net.Socket>();
  const server = net.createServer((socket) => {
    sockets.add(socket);
    socket.on('close', () => sockets.delete(socket));
    socket.on('error', () => undefined); // the client may reset; the test checks the client side
    let received = '';
    const onData = (chunk: Buffer) => {
      received += chunk.toString('latin1');
      const end = received.indexOf('\r\n\r\n');
      if (end < 0) return;
      socket.off('data', onData);
      const head = received.slice(0, end + 4);
      requests.push(head);
      respond(socket, head);
    };
    socket.on('data', onData);
  });
  server.listen(0, '127.0.0.1');
  await once(server, 'listening');
  t.after(async () => {
    for (const socket of sockets) socket.destroy();
    server.close();
    await once(server, 'close');
  });
  const { port } = server.address() as net.AddressInfo;
  return { port, requests, url: (path = '/') => `http://127.0.0.1:${port}${path}` };
}
