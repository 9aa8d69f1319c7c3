/**
 * TLS on a connected TCP socket, for the clients (`get https://…`; `tls://` addresses next).
 * Anything in the handshake is SOCKLAB_ERR_TLS: a certificate that cannot be verified is named
 * as such (with OpenSSL's code), other failures with OpenSSL's readable reason.
 */
import type net from 'node:net';
import tls from 'node:tls';
import { describeSystemError, SocklabError, systemCode } from '../errors.js';
import { untilSettled } from './wait.js';

export interface TlsClientOptions {
  /** SNI: the server name sent; leave out for IP literals (never sent for those). */
  readonly servername?: string;
  /** PEM certificate(s) of a CA to trust in addition to Node's built-in roots. */
  readonly ca?: string | Buffer;
  /** Skip certificate verification (the connection is still encrypted, but to anyone). */
  readonly insecure?: boolean;
  /** Protocols offered in ALPN: `['http/1.1']`. */
  readonly alpn?: readonly string[];
}

export interface UpgradeTlsOptions extends TlsClientOptions {
  /** The name or IP the certificate must match. */
  readonly host: string;
  /** How the peer is named in errors. */
  readonly where: string;
  readonly timeoutMs: number;
  readonly signal?: AbortSignal;
}

/** What was negotiated, for a caller to show. */
export interface TlsInfo {
  /** `'TLSv1.3'` */
  readonly protocol: string;
  readonly authorized: boolean;
  /** Why verification failed (an OpenSSL code such as `SELF_SIGNED_CERT_IN_CHAIN`), with `insecure`. */
  readonly authorizationError?: string;
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

function tlsFailure(where: string, err: unknown): SocklabError {
  const code = systemCode(err);
  const details = err as { reason?: unknown; library?: unknown };
  if (code !== undefined && CERTIFICATE_CODES.has(code)) {
    const reason =
      typeof details.reason === 'string' ? details.reason : err instanceof Error ? err.message : code;
    return new SocklabError(
      'SOCKLAB_ERR_TLS',
      `cannot verify the certificate of ${where}: ${reason} (${code})`,
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
  // The usual cause: TLS to a port that speaks plain text (its reply is not a TLS record).
  const hint = code === 'ERR_SSL_WRONG_VERSION_NUMBER' ? ' (does this port speak plain http://?)' : '';
  return new SocklabError('SOCKLAB_ERR_TLS', `TLS handshake with ${where} failed: ${reason}${hint}`, {
    cause: err,
  });
}

/** Complete a TLS handshake over `raw`; the returned TLSSocket replaces it (and owns it). */
export async function upgradeTls(raw: net.Socket, options: UpgradeTlsOptions): Promise<tls.TLSSocket> {
  const socket = tls.connect({
    socket: raw,
    host: options.host,
    ...(options.servername !== undefined ? { servername: options.servername } : {}),
    rejectUnauthorized: options.insecure !== true,
    // `ca` alone would replace the built-in roots; an extra CA should add to them.
    ...(options.ca !== undefined ? { ca: [...tls.rootCertificates, options.ca.toString()] } : {}),
    ...(options.alpn !== undefined ? { ALPNProtocols: [...options.alpn] } : {}),
  });
  try {
    await untilSettled(
      new Promise<void>((resolve, reject) => {
        socket.once('secureConnect', resolve);
        socket.once('error', (err) => reject(tlsFailure(options.where, err)));
      }),
      {
        timeoutMs: options.timeoutMs,
        signal: options.signal,
        onTimeout: () =>
          new SocklabError(
            'SOCKLAB_ERR_TIMEOUT',
            `TLS handshake with ${options.where}: no answer within ${options.timeoutMs} ms`,
          ),
        onAbort: () =>
          new SocklabError('SOCKLAB_ERR_ABORTED', `TLS handshake with ${options.where} aborted`, {
            cause: options.signal?.reason,
          }),
      },
    );
  } catch (err) {
    socket.destroy();
    throw err;
  }
  return socket;
}

/** The protocol and the verification outcome of a connected TLSSocket. */
export function tlsInfo(socket: tls.TLSSocket): TlsInfo {
  // Typed as an Error, but Node sets the OpenSSL code as a string ('SELF_SIGNED_CERT_IN_CHAIN').
  const raw = socket.authorizationError as unknown;
  const authorizationError =
    typeof raw === 'string' ? raw : raw instanceof Error ? (systemCode(raw) ?? raw.message) : undefined;
  return {
    protocol: socket.getProtocol() ?? 'TLS',
    authorized: socket.authorized,
    ...(authorizationError !== undefined ? { authorizationError } : {}),
  };
}
