/**
 * Opening the connection an HTTP request travels on: TCP, then TLS for https, both through
 * core/connect.ts (so DNS and refusals are SOCKLAB_ERR_DNS / _CONNECT, anything in the handshake
 * SOCKLAB_ERR_TLS). This file only says what HTTP asks of the connection.
 */
import type net from 'node:net';
import type tls from 'node:tls';
import { isSocklabError, SocklabError } from '../errors.js';
import { connectStream } from '../core/connect.js';
import { isCertificateError, tlsInfo, type TlsInfo } from '../core/tls.js';
import { serverNameFor, type HttpTarget } from './url.js';

export { isCertificateError };

export interface OpenConnectionOptions {
  readonly target: HttpTarget;
  /** Bound on the TCP connect (DNS included) and, separately, on the TLS handshake. */
  readonly timeoutMs: number;
  readonly signal?: AbortSignal;
  /** PEM certificate(s) of a CA to trust in addition to Node's built-in roots. */
  readonly ca?: string | Buffer;
  /** Skip certificate verification (the connection is still encrypted, but to anyone). */
  readonly insecure?: boolean;
}

export interface ConnectionInfo {
  readonly remoteAddress: string;
  readonly remotePort: number;
  /** For https: the negotiated protocol (`'TLSv1.3'`) and whether the certificate was verified. */
  readonly tls?: TlsInfo;
}

export interface HttpConnection {
  /** A plain socket, or a TLSSocket (which is one) for https. */
  readonly socket: net.Socket;
  readonly info: ConnectionInfo;
}

/** Connects (and for https completes the TLS handshake); the caller owns and destroys the socket. */
export async function openConnection(options: OpenConnectionOptions): Promise<HttpConnection> {
  const { target } = options;
  const servername = serverNameFor(target);
  let socket: net.Socket;
  try {
    socket = await connectStream({
      host: target.host,
      port: target.port,
      where: target.url,
      timeoutMs: options.timeoutMs,
      ...(options.signal !== undefined ? { signal: options.signal } : {}),
      ...(target.secure
        ? {
            tls: {
              ...(servername !== undefined ? { servername } : {}),
              ...(options.ca !== undefined ? { ca: options.ca } : {}),
              ...(options.insecure !== undefined ? { insecure: options.insecure } : {}),
              alpn: ['http/1.1'],
            },
          }
        : {}),
    });
  } catch (err) {
    if (isSocklabError(err, 'SOCKLAB_ERR_ABORTED'))
      throw new SocklabError('SOCKLAB_ERR_ABORTED', `request to ${target.url} aborted`, { cause: err });
    throw err;
  }
  const info = {
    remoteAddress: socket.remoteAddress ?? target.host,
    remotePort: socket.remotePort ?? target.port,
  };
  if (!target.secure) return { socket, info };
  return { socket, info: { ...info, tls: tlsInfo(socket as tls.TLSSocket) } };
}
