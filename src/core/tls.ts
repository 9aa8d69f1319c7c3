/**
 * TLS, both sides, for every command (`get https://…`, `tls://` addresses of listen, connect,
 * relay and bench, and `nc --ssl`).
 *
 * Client (connect.ts calls it; `connectStream({ host, port, tls: { … } })`): certificate and host
 * name verified by default (`insecure: true` skips both); `ca` adds a trust anchor to Node's
 * roots; `servername` (SNI), `alpn`, `ciphers`. The host name check is checkServerIdentity below:
 * Node's, plus ncat's habit of accepting the subject's CN when a certificate has no SAN at all,
 * for DNS names only (a CN-only `localhost` certificate passes for `localhost`, not for `::1`).
 * Anything in the handshake is SOCKLAB_ERR_TLS: a certificate that cannot be verified is named
 * as such (with OpenSSL's code), other failures with OpenSSL's readable reason.
 *
 * Server (listen.ts calls it; `listenStream({ host, port, tls: { … } })`): accepted sockets are
 * TLSSockets, handshake done. `cert` and `key` are PEM text (one text may hold both); without
 * `cert` a temporary self-signed certificate (EC P-256, CN and SAN localhost, 127.0.0.1, ::1,
 * valid 1 day) is made on the fly (`selfsigned`, loaded only then). `tlsServerIdentity()` makes
 * or reads one ahead (a CLI prints its SHA-256 fingerprint) and can be passed on as `cert`/`key`.
 * A client that does not complete the handshake (plain TCP, a wrong certificate on its side) is
 * dropped after `handshakeTimeoutMs` or at its first bad byte, alone: the server goes on.
 */
import { X509Certificate } from 'node:crypto';
import { isIP } from 'node:net';
import tls from 'node:tls';
import { describeSystemError, SocklabError, systemCode } from '../errors.js';

export interface TlsClientOptions {
  /** SNI: the server name sent; leave out for IP literals (never sent for those). */
  readonly servername?: string;
  /** PEM certificate(s) of a CA to trust in addition to Node's built-in roots. */
  readonly ca?: string | Buffer;
  /** Skip certificate verification (the connection is still encrypted, but to anyone). */
  readonly insecure?: boolean;
  /** Protocols offered in ALPN: `['http/1.1']`. */
  readonly alpn?: readonly string[];
  /** OpenSSL cipher list (TLS 1.2 and below): `ECDHE-RSA-AES128-GCM-SHA256:…`. */
  readonly ciphers?: string;
}

/** How long a server gives a client to complete the handshake, by default. */
export const DEFAULT_HANDSHAKE_TIMEOUT_MS = 10_000;

export interface TlsServerOptions {
  /** PEM certificate (chain); it may hold the private key too. Absent: a self-signed one is made. */
  readonly cert?: string | Buffer;
  /** PEM private key; absent when `cert` holds it. */
  readonly key?: string | Buffer;
  /** Protocols the server accepts in ALPN, in its order of preference. */
  readonly alpn?: readonly string[];
  /** OpenSSL cipher list (TLS 1.2 and below). */
  readonly ciphers?: string;
  /** A client that has not completed the handshake in this long is dropped (default 10 s). */
  readonly handshakeTimeoutMs?: number;
}

/** A server's certificate and key, and what to tell a user about them. */
export interface TlsIdentity {
  readonly cert: string;
  readonly key: string;
  /** `AB:CD:…`, the SHA-256 fingerprint of the (first) certificate, as `openssl x509 -fingerprint -sha256` shows it. */
  readonly fingerprint256: string;
  readonly subject: string;
  readonly validTo: string;
  /** True when made on the fly. */
  readonly selfSigned: boolean;
}

const PEM_BLOCK = /-----BEGIN ([A-Z0-9 ]+)-----[\s\S]*?-----END \1-----/g;

function tlsConfigError(what: string, err?: unknown): SocklabError {
  return new SocklabError(
    'SOCKLAB_ERR_TLS',
    `TLS server setup: ${what}${err !== undefined ? `: ${describeSystemError(err)}` : ''}`,
    err !== undefined ? { cause: err } : undefined,
  );
}

/**
 * The certificate and key a TLS server will use: read from PEM text (`cert` and `key` may be one
 * and the same text holding both), or generated (self-signed) when there is no `cert`.
 */
export async function tlsServerIdentity(options: {
  cert?: string | Buffer;
  key?: string | Buffer;
}): Promise<TlsIdentity> {
  if (options.cert === undefined) {
    if (options.key !== undefined) throw tlsConfigError('a key without a certificate');
    return generateIdentity();
  }
  const blocks = (text: string | Buffer) =>
    [...text.toString().matchAll(PEM_BLOCK)].map((m) => ({ type: m[1] ?? '', text: m[0] }));
  const certBlocks = blocks(options.cert);
  const certs = certBlocks.filter((b) => b.type === 'CERTIFICATE');
  if (certs.length === 0)
    throw tlsConfigError('no PEM certificate (-----BEGIN CERTIFICATE-----) in the certificate');
  const keys = blocks(options.key ?? options.cert).filter((b) => b.type.endsWith('PRIVATE KEY'));
  if (keys.length === 0) {
    throw tlsConfigError(
      options.key === undefined
        ? 'no private key: give one, or a PEM file holding both'
        : 'no PEM private key in the key',
    );
  }
  const cert = certs.map((b) => b.text).join('\n') + '\n';
  const key = keys[0]!.text + '\n';
  let x509: X509Certificate;
  try {
    x509 = new X509Certificate(certs[0]!.text);
    // A key that does not go with the certificate fails here, not at the first client.
    tls.createSecureContext({ cert, key });
  } catch (err) {
    throw tlsConfigError('unusable certificate or key', err);
  }
  return {
    cert,
    key,
    fingerprint256: x509.fingerprint256,
    subject: x509.subject.replace(/\n/g, ', '),
    validTo: x509.validTo,
    selfSigned: false,
  };
}

const SELF_SIGNED_NAME = 'localhost';
const SELF_SIGNED_DAYS = 1;

async function generateIdentity(): Promise<TlsIdentity> {
  // Loaded only here: a command that does not make a certificate does not pay for the library.
  const { generate } = await import('selfsigned');
  const now = Date.now();
  const pems = await generate([{ name: 'commonName', value: SELF_SIGNED_NAME }], {
    keyType: 'ec',
    curve: 'P-256',
    algorithm: 'sha256',
    notBeforeDate: new Date(now - 60_000), // a client's clock a little behind still accepts it
    notAfterDate: new Date(now + SELF_SIGNED_DAYS * 86_400_000),
    extensions: [
      { name: 'basicConstraints', cA: false },
      { name: 'keyUsage', digitalSignature: true, keyEncipherment: true },
      { name: 'extKeyUsage', serverAuth: true },
      {
        name: 'subjectAltName',
        altNames: [
          { type: 2, value: SELF_SIGNED_NAME },
          { type: 7, ip: '127.0.0.1' },
          { type: 7, ip: '::1' },
        ],
      },
    ],
  });
  const x509 = new X509Certificate(pems.cert);
  return {
    cert: pems.cert,
    key: pems.private,
    fingerprint256: x509.fingerprint256,
    subject: x509.subject.replace(/\n/g, ', '),
    validTo: x509.validTo,
    selfSigned: true,
  };
}

/** What tls.createServer gets for `options`: the identity made or read, and the rest. */
export async function tlsServerContext(
  options: TlsServerOptions,
): Promise<tls.TlsOptions & { identity: TlsIdentity }> {
  const identity = await tlsServerIdentity(options);
  if (options.ciphers !== undefined) checkCiphers(options.ciphers);
  return {
    identity,
    cert: identity.cert,
    key: identity.key,
    handshakeTimeout: options.handshakeTimeoutMs ?? DEFAULT_HANDSHAKE_TIMEOUT_MS,
    ...(options.alpn !== undefined ? { ALPNProtocols: [...options.alpn] } : {}),
    ...(options.ciphers !== undefined ? { ciphers: options.ciphers } : {}),
  };
}

/** An unknown cipher list fails now, with its own words, not at the first handshake. */
export function checkCiphers(ciphers: string): void {
  try {
    tls.createSecureContext({ ciphers });
  } catch (err) {
    throw new SocklabError(
      'SOCKLAB_ERR_USAGE',
      `no usable cipher in '${ciphers}' (${describeSystemError(err)})`,
      {
        cause: err,
      },
    );
  }
}

/** The words for a client's failed handshake as a server sees it (one line, no OpenSSL file:line). */
export function tlsClientFailure(peer: string, err: unknown): SocklabError {
  const code = systemCode(err);
  const details = err as { reason?: unknown };
  const reason =
    code === 'ERR_TLS_HANDSHAKE_TIMEOUT'
      ? 'no TLS handshake in time'
      : typeof details.reason === 'string'
        ? `${details.reason}${code !== undefined ? ` (${code})` : ''}`
        : describeSystemError(err);
  const hint =
    code === 'ERR_SSL_HTTP_REQUEST' || code === 'ERR_SSL_WRONG_VERSION_NUMBER'
      ? ' (a client speaking plain text?)'
      : '';
  return new SocklabError('SOCKLAB_ERR_TLS', `TLS handshake with ${peer} failed: ${reason}${hint}`, {
    cause: err,
  });
}

/**
 * Node's host name check, and ncat's fallback: a certificate with no subjectAltName at all is
 * matched on its subject's CN (one `*.` wildcard label allowed), for DNS names only: an IP address
 * must be in a SAN. A certificate that has SANs is judged on them alone (RFC 6125).
 */
export function checkServerIdentity(hostname: string, cert: tls.PeerCertificate): Error | undefined {
  const verdict = tls.checkServerIdentity(hostname, cert);
  if (verdict === undefined) return undefined;
  const name = hostname.replace(/\.$/, '').toLowerCase();
  if (cert.subjectaltname !== undefined && cert.subjectaltname !== '') return verdict;
  if (isIP(name) !== 0) return verdict;
  const cns = ([] as string[]).concat(cert.subject?.CN ?? []);
  const matches = (cn: string): boolean => {
    const pattern = cn.replace(/\.$/, '').toLowerCase();
    if (pattern === name) return true;
    if (!pattern.startsWith('*.')) return false;
    const dot = name.indexOf('.');
    return dot > 0 && name.slice(dot + 1) === pattern.slice(2);
  };
  return cns.some(matches) ? undefined : verdict;
}

/** What tls.connect gets for `options` (with the host that the certificate must match). */
export function tlsClientOptions(host: string, options: TlsClientOptions): tls.ConnectionOptions {
  // SNI: the name given, else the host when it is a name (tls.connect sends none by itself).
  const servername = options.servername ?? (host !== '' && isIP(host) === 0 ? host : undefined);
  return {
    host,
    ...(servername !== undefined ? { servername } : {}),
    rejectUnauthorized: options.insecure !== true,
    checkServerIdentity,
    // `ca` alone would replace the built-in roots; an extra CA should add to them.
    ...(options.ca !== undefined ? { ca: [...tls.rootCertificates, options.ca.toString()] } : {}),
    ...(options.alpn !== undefined ? { ALPNProtocols: [...options.alpn] } : {}),
    ...(options.ciphers !== undefined ? { ciphers: options.ciphers } : {}),
  };
}

/** What was negotiated, for a caller to show. */
export interface TlsInfo {
  /** `'TLSv1.3'` */
  readonly protocol: string;
  /** The ALPN protocol agreed on, if any. */
  readonly alpnProtocol?: string;
  readonly cipher?: string;
  /** The server certificate's subject (`CN=localhost`) and SHA-256 fingerprint, to compare with what the server printed. */
  readonly peerSubject?: string;
  readonly peerFingerprint256?: string;
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

export function tlsFailure(where: string, err: unknown): SocklabError {
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
  const plain = where.startsWith('https://') ? 'plain http://' : 'plain TCP, without TLS';
  const hint = code === 'ERR_SSL_WRONG_VERSION_NUMBER' ? ` (does this port speak ${plain}?)` : '';
  return new SocklabError('SOCKLAB_ERR_TLS', `TLS handshake with ${where} failed: ${reason}${hint}`, {
    cause: err,
  });
}

/** The protocol and the verification outcome of a connected TLSSocket. */
export function tlsInfo(socket: tls.TLSSocket): TlsInfo {
  // Typed as an Error, but Node sets the OpenSSL code as a string ('SELF_SIGNED_CERT_IN_CHAIN').
  const raw = socket.authorizationError as unknown;
  const authorizationError =
    typeof raw === 'string' ? raw : raw instanceof Error ? (systemCode(raw) ?? raw.message) : undefined;
  const alpn = socket.alpnProtocol;
  const peer = socket.getPeerCertificate();
  const subject =
    peer.subject !== undefined
      ? Object.entries(peer.subject)
          .map(([k, v]) => `${k}=${String(v)}`)
          .join(', ')
      : undefined;
  return {
    ...(subject !== undefined && subject !== '' ? { peerSubject: subject } : {}),
    ...(typeof peer.fingerprint256 === 'string' ? { peerFingerprint256: peer.fingerprint256 } : {}),
    protocol: socket.getProtocol() ?? 'TLS',
    ...(typeof alpn === 'string' ? { alpnProtocol: alpn } : {}),
    cipher: socket.getCipher().name,
    authorized: socket.authorized,
    ...(authorizationError !== undefined ? { authorizationError } : {}),
  };
}
