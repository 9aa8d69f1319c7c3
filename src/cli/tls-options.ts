/**
 * The TLS flags of listen, connect, relay and bench, read once: files read here (a missing one
 * is a usage error, exit 2), the rest handed to core/tls.ts as it is.
 *
 *   server side (a tls:// address to listen on):  --tls-cert FILE  --tls-key FILE  --tls-alpn  --tls-ciphers
 *   client side (a tls:// address to connect to): --tls-verify / --no-tls-verify  --tls-trust FILE
 *                                                 --tls-servername NAME  --tls-alpn  --tls-ciphers
 *
 * `nc` maps ncat's flags onto TlsFlags and calls the same functions: --ssl-cert → 'tls-cert',
 * --ssl-key → 'tls-key', --ssl-trustfile → 'tls-trust', --ssl-servername, --ssl-alpn,
 * --ssl-ciphers likewise; ncat verifies only with --ssl-verify, so nc sets 'no-tls-verify'
 * unless it is given.
 */
import { readFileSync } from 'node:fs';
import { describeSystemError } from '../errors.js';
import { checkCiphers, type TlsClientOptions, type TlsServerOptions } from '../core/tls.js';
import { usageError } from './args.js';

export const TLS_OPTIONS = {
  'tls-cert': { type: 'string' },
  'tls-key': { type: 'string' },
  'tls-verify': { type: 'boolean' },
  'no-tls-verify': { type: 'boolean' },
  'tls-trust': { type: 'string' },
  'tls-servername': { type: 'string' },
  'tls-alpn': { type: 'string' },
  'tls-ciphers': { type: 'string' },
} as const;

export interface TlsFlags {
  readonly 'tls-cert'?: string;
  readonly 'tls-key'?: string;
  readonly 'tls-verify'?: boolean;
  readonly 'no-tls-verify'?: boolean;
  readonly 'tls-trust'?: string;
  readonly 'tls-servername'?: string;
  readonly 'tls-alpn'?: string;
  readonly 'tls-ciphers'?: string;
}

export const TLS_SERVER_HELP = `TLS (for tls:// addresses; no DTLS, so not with -u):
      --tls-cert FILE     PEM certificate (chain); the file may hold the key too. Without it a
                          temporary self-signed certificate for localhost is made (its SHA-256
                          fingerprint goes to stderr: with -v, always for bench --server)
      --tls-key FILE      PEM private key (when --tls-cert does not hold it)
      --tls-alpn LIST     protocols accepted in ALPN, comma-separated: h2,http/1.1
      --tls-ciphers LIST  OpenSSL cipher list (TLS 1.2 and below)`;

export const TLS_CLIENT_HELP = `TLS (for tls:// addresses; no DTLS, so not with -u):
      --no-tls-verify     do not verify the server's certificate (still encrypted, to anyone)
      --tls-verify        verify it (the default): the chain, and the name (a certificate
                          with no SAN is matched on its CN, for host names only, as ncat does)
      --tls-trust FILE    PEM CA certificate(s) to trust besides the system's
      --tls-servername NAME
                          the name sent in SNI and checked in the certificate (default: the host)
      --tls-alpn LIST     protocols offered in ALPN, comma-separated: h2,http/1.1
      --tls-ciphers LIST  OpenSSL cipher list (TLS 1.2 and below)`;

function readPem(flag: string, file: string): string {
  try {
    return readFileSync(file, 'utf8');
  } catch (err) {
    throw usageError(`${flag} ${file}: cannot read it: ${describeSystemError(err)}`);
  }
}

/** How a command names the flags in its errors (nc: `--ssl-cert` for 'tls-cert'); default `--NAME`. */
export type TlsFlagNames = Partial<Record<keyof TlsFlags, string>>;

function alpnList(text: string | undefined, names: TlsFlagNames): string[] | undefined {
  if (text === undefined) return undefined;
  const list = text.split(',').map((p) => p.trim());
  if (list.some((p) => p === '' || Buffer.byteLength(p) > 255))
    throw usageError(
      `${names['tls-alpn'] ?? '--tls-alpn'}: '${text}' is not a comma-separated list of protocol names`,
    );
  return list;
}

/** Flags set that only a server side uses, or only a client side. */
const SERVER_ONLY = ['tls-cert', 'tls-key'] as const;
const CLIENT_ONLY = ['tls-verify', 'no-tls-verify', 'tls-trust', 'tls-servername'] as const;

/** Each TLS flag given must have a tls:// address on its side to apply to. */
export function checkTlsFlags(v: TlsFlags, sides: { server: boolean; client: boolean }): void {
  const set = (name: keyof TlsFlags) => v[name] !== undefined && v[name] !== false;
  for (const name of SERVER_ONLY) {
    if (set(name) && !sides.server) throw usageError(`--${name} needs a tls:// address to listen on`);
  }
  for (const name of CLIENT_ONLY) {
    if (set(name) && !sides.client) throw usageError(`--${name} needs a tls:// address to connect to`);
  }
  for (const name of ['tls-alpn', 'tls-ciphers'] as const) {
    if (set(name) && !sides.server && !sides.client) throw usageError(`--${name} needs a tls:// address`);
  }
  if (v['tls-verify'] && v['no-tls-verify'])
    throw usageError('--tls-verify and --no-tls-verify cannot be used together');
  if (v['tls-key'] !== undefined && v['tls-cert'] === undefined)
    throw usageError('--tls-key needs --tls-cert (without both, a self-signed certificate is made)');
  if (v['tls-ciphers'] !== undefined) {
    try {
      checkCiphers(v['tls-ciphers']);
    } catch (err) {
      throw usageError(`--tls-ciphers: ${err instanceof Error ? err.message : String(err)}`);
    }
  }
}

/** The server side's TLS settings (certificate files read now). */
export function tlsServerFrom(v: TlsFlags, names: TlsFlagNames = {}): TlsServerOptions {
  const alpn = alpnList(v['tls-alpn'], names);
  return {
    ...(v['tls-cert'] !== undefined
      ? { cert: readPem(names['tls-cert'] ?? '--tls-cert', v['tls-cert']) }
      : {}),
    ...(v['tls-key'] !== undefined ? { key: readPem(names['tls-key'] ?? '--tls-key', v['tls-key']) } : {}),
    ...(alpn !== undefined ? { alpn } : {}),
    ...(v['tls-ciphers'] !== undefined ? { ciphers: v['tls-ciphers'] } : {}),
  };
}

/**
 * The client side's TLS settings (trust file read now). The certificate is checked against
 * --tls-servername when given, else against the address's host.
 */
export function tlsClientFrom(v: TlsFlags, names: TlsFlagNames = {}): TlsClientOptions {
  const alpn = alpnList(v['tls-alpn'], names);
  const servername = v['tls-servername'];
  return {
    insecure: v['no-tls-verify'] === true,
    ...(v['tls-trust'] !== undefined
      ? { ca: readPem(names['tls-trust'] ?? '--tls-trust', v['tls-trust']) }
      : {}),
    ...(servername !== undefined ? { servername } : {}),
    ...(alpn !== undefined ? { alpn } : {}),
    ...(v['tls-ciphers'] !== undefined ? { ciphers: v['tls-ciphers'] } : {}),
  };
}
