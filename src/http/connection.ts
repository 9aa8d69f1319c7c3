/**
 * Opening the connection an HTTP request travels on: TCP, then TLS for https. In two steps so
 * each failure gets its own code: DNS and refusals are SOCKLAB_ERR_DNS / _CONNECT, anything in
 * the handshake (an untrusted certificate, a server that does not speak TLS) is SOCKLAB_ERR_TLS.
 */
import net from 'node:net';
import tls from 'node:tls';
import { connectFailure, describeSystemError, SocklabError, systemCode } from '../errors.js';
import { serverNameFor, type HttpTarget } from './url.js';
import { untilSettled } from '../core/wait.js';

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
  readonly tls?: {
    readonly protocol: string;
    readonly authorized: boolean;
    /** Why verification failed (an OpenSSL code such as `SELF_SIGNED_CERT_IN_CHAIN`), with `insecure`. */
    readonly authorizationError?: string;
  };
}

export interface HttpConnection {
  /** A plain socket, or a TLSSocket (which is one) for https. */
  readonly socket: net.Socket;
  readonly info: ConnectionInfo;
}

// The X.509 verification failures Node reports by OpenSSL name, plus its own host name check.
const CERTIFICATE_CODES: ReadonlySet<string> = new Set([
  'UNABLE_TO_GET_ISSUER_CERT',
  'UNABLE_TO_GET_CRL',
  'UNABLE_TO_DECRYPT_CERT_SIGNATURE',
  'UNABLE_TO_DECRYPT_CRL_SIGNATURE',
  'UNABLE_TO_DECODE_ISSUER_PUBLIC_KEY',
  'CERT_SIGNATURE_FAILURE',
  'CRL_SIGNATURE_FAILURE',
  'CERT_NOT_YET_VALID',
  'CERT_HAS_EXPIRED',
  'CRL_NOT_YET_VALID',
  'CRL_HAS_EXPIRED',
  'ERROR_IN_CERT_NOT_BEFORE_FIELD',
  'ERROR_IN_CERT_NOT_AFTER_FIELD',
  'ERROR_IN_CRL_LAST_UPDATE_FIELD',
  'ERROR_IN_CRL_NEXT_UPDATE_FIELD',
  'DEPTH_ZERO_SELF_SIGNED_CERT',
  'SELF_SIGNED_CERT_IN_CHAIN',
  'UNABLE_TO_GET_ISSUER_CERT_LOCALLY',
  'UNABLE_TO_VERIFY_LEAF_SIGNATURE',
  'CERT_CHAIN_TOO_LONG',
  'CERT_REVOKED',
  'INVALID_CA',
  'PATH_LENGTH_EXCEEDED',
  'INVALID_PURPOSE',
  'CERT_UNTRUSTED',
  'CERT_REJECTED',
  'HOSTNAME_MISMATCH',
  'ERR_TLS_CERT_ALTNAME_INVALID',
]);

/** True for a SOCKLAB_ERR_TLS caused by the certificate (not by the handshake itself). */
export function isCertificateError(err: unknown): boolean {
  return (
    err instanceof SocklabError &&
    err.code === 'SOCKLAB_ERR_TLS' &&
    CERTIFICATE_CODES.has(systemCode(err.cause) ?? '')
  );
}

function tlsFailure(target: HttpTarget, err: unknown): SocklabError {
  const code = systemCode(err);
  const details = err as { reason?: unknown; library?: unknown };
  if (code !== undefined && CERTIFICATE_CODES.has(code)) {
    const reason =
      typeof details.reason === 'string' ? details.reason : err instanceof Error ? err.message : code;
    return new SocklabError(
      'SOCKLAB_ERR_TLS',
      `cannot verify the certificate of ${target.url}: ${reason} (${code})`,
      {
        cause: err,
      },
    );
  }
  // OpenSSL's own messages carry a file and line; its `reason` is the readable part.
  const reason =
    typeof details.library === 'string' && typeof details.reason === 'string'
      ? `${details.reason}${code !== undefined ? ` (${code})` : ''}`
      : describeSystemError(err);
  // The usual cause: https:// to a port that speaks plain HTTP (its reply is not a TLS record).
  const hint = code === 'ERR_SSL_WRONG_VERSION_NUMBER' ? ' (does this port speak plain http://?)' : '';
  return new SocklabError('SOCKLAB_ERR_TLS', `TLS handshake with ${target.url} failed: ${reason}${hint}`, {
    cause: err,
  });
}

function abortError(target: HttpTarget): SocklabError {
  return new SocklabError('SOCKLAB_ERR_ABORTED', `request to ${target.url} aborted`);
}

/** Connects (and for https completes the TLS handshake); the caller owns and destroys the socket. */
export async function openConnection(options: OpenConnectionOptions): Promise<HttpConnection> {
  const { target, timeoutMs } = options;
  const raw = net.connect({ host: target.host, port: target.port, noDelay: true });
  try {
    await untilSettled(
      new Promise<void>((resolve, reject) => {
        raw.once('connect', resolve);
        raw.once('error', (err) => reject(connectFailure(target.url, err)));
      }),
      {
        timeoutMs,
        signal: options.signal,
        onTimeout: () =>
          new SocklabError(
            'SOCKLAB_ERR_TIMEOUT',
            `cannot connect to ${target.url}: no answer within ${timeoutMs} ms`,
          ),
        onAbort: () => abortError(target),
      },
    );
  } catch (err) {
    raw.destroy();
    throw err;
  }
  const address = {
    remoteAddress: raw.remoteAddress ?? target.host,
    remotePort: raw.remotePort ?? target.port,
  };
  if (!target.secure) return { socket: raw, info: address };

  const servername = serverNameFor(target);
  const socket = tls.connect({
    socket: raw,
    // The name (or IP) the certificate must match; SNI only for names (never for IP literals).
    host: target.host,
    ...(servername !== undefined ? { servername } : {}),
    rejectUnauthorized: options.insecure !== true,
    // `ca` alone would replace the built-in roots; an extra CA should add to them.
    ...(options.ca !== undefined ? { ca: [...tls.rootCertificates, options.ca.toString()] } : {}),
    ALPNProtocols: ['http/1.1'],
  });
  try {
    await untilSettled(
      new Promise<void>((resolve, reject) => {
        socket.once('secureConnect', resolve);
        socket.once('error', (err) => reject(tlsFailure(target, err)));
      }),
      {
        timeoutMs,
        signal: options.signal,
        onTimeout: () =>
          new SocklabError(
            'SOCKLAB_ERR_TIMEOUT',
            `TLS handshake with ${target.url}: no answer within ${timeoutMs} ms`,
          ),
        onAbort: () => abortError(target),
      },
    );
  } catch (err) {
    socket.destroy();
    throw err;
  }
  // Typed as an Error, but Node sets the OpenSSL code as a string ('SELF_SIGNED_CERT_IN_CHAIN').
  const rawAuthorizationError = socket.authorizationError as unknown;
  const authorizationError =
    typeof rawAuthorizationError === 'string'
      ? rawAuthorizationError
      : rawAuthorizationError instanceof Error
        ? (systemCode(rawAuthorizationError) ?? rawAuthorizationError.message)
        : undefined;
  return {
    socket,
    info: {
      ...address,
      tls: {
        protocol: socket.getProtocol() ?? 'TLS',
        authorized: socket.authorized,
        ...(authorizationError !== undefined ? { authorizationError } : {}),
      },
    },
  };
}
