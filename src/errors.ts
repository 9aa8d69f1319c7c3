/**
 * One error class for everything socklab reports, with a stable code per failure.
 *
 * The message says what was attempted, where, and why, in one line; the original error (if any)
 * is the `cause`. Only the CLI entry point turns a code into an exit status.
 */

/** Stable error codes. Add new ones at the end; never rename one (users match on them). */
export type SocklabErrorCode =
  /** Bad input from the user: a flag, an address, a template, a number out of range. CLI exit 2. */
  | 'SOCKLAB_ERR_USAGE'
  | 'SOCKLAB_ERR_ADDRESS'
  | 'SOCKLAB_ERR_TEMPLATE'
  /** Network and runtime failures. CLI exit 1. */
  | 'SOCKLAB_ERR_BIND'
  | 'SOCKLAB_ERR_CONNECT'
  | 'SOCKLAB_ERR_DNS'
  | 'SOCKLAB_ERR_TIMEOUT'
  | 'SOCKLAB_ERR_SOCKET'
  | 'SOCKLAB_ERR_MESSAGE_TOO_LARGE'
  | 'SOCKLAB_ERR_PROTOCOL'
  | 'SOCKLAB_ERR_HTTP_STATUS'
  | 'SOCKLAB_ERR_TLS'
  | 'SOCKLAB_ERR_FILE'
  | 'SOCKLAB_ERR_ABORTED'
  /**
   * Deprecated, no longer thrown: a relay or fault that does not exist, or a name already taken.
   * Now SOCKLAB_ERR_NOT_FOUND and SOCKLAB_ERR_EXISTS, so a caller can tell the two apart.
   */
  | 'SOCKLAB_ERR_RELAY'
  /** A named thing (a relay, a fault) that does not exist. */
  | 'SOCKLAB_ERR_NOT_FOUND'
  /** A name already taken (a relay, a fault). */
  | 'SOCKLAB_ERR_EXISTS';

const USAGE_CODES: ReadonlySet<SocklabErrorCode> = new Set([
  'SOCKLAB_ERR_USAGE',
  'SOCKLAB_ERR_ADDRESS',
  'SOCKLAB_ERR_TEMPLATE',
]);

export class SocklabError extends Error {
  override readonly name = 'SocklabError';
  readonly code: SocklabErrorCode;

  constructor(code: SocklabErrorCode, message: string, options?: { cause?: unknown }) {
    super(message, options);
    this.code = code;
  }

  /** True for mistakes in what the user asked for (as opposed to what the network did). */
  get isUsage(): boolean {
    return USAGE_CODES.has(this.code);
  }
}

export function isSocklabError(err: unknown, code?: SocklabErrorCode): err is SocklabError {
  return err instanceof SocklabError && (code === undefined || err.code === code);
}

/** A Node system error (`ENOENT`, `ECONNREFUSED`, …) has a string `code`. */
export function systemCode(err: unknown): string | undefined {
  if (typeof err === 'object' && err !== null && 'code' in err) {
    const code = err.code;
    if (typeof code === 'string') return code;
  }
  return undefined;
}

const REASONS: Record<string, string> = {
  EADDRINUSE: 'address already in use',
  EADDRNOTAVAIL: 'address not available on this machine',
  EACCES: 'permission denied',
  ECONNREFUSED: 'connection refused',
  ECONNRESET: 'connection reset by peer',
  ETIMEDOUT: 'timed out',
  EHOSTUNREACH: 'host unreachable',
  ENETUNREACH: 'network unreachable',
  ENOTFOUND: 'host not found',
  EAI_AGAIN: 'host lookup failed (temporary)',
  EPIPE: 'connection closed by peer',
  EMSGSIZE: 'message too long for one datagram',
  EAFNOSUPPORT: 'address family not supported',
  ENOENT: 'no such file or directory',
  EISDIR: 'is a directory',
  ENOSPC: 'no space left on device',
  EDQUOT: 'disk quota exceeded',
  EROFS: 'read-only file system',
  EIO: 'input/output error',
};

/** "connection refused (ECONNREFUSED)" — a human reason followed by the system code. */
export function describeSystemError(err: unknown): string {
  const code = systemCode(err);
  if (code !== undefined && REASONS[code] !== undefined) return `${REASONS[code]} (${code})`;
  if (err instanceof Error) return code !== undefined ? `${err.message} (${code})` : err.message;
  return String(err);
}

/**
 * The error for a failed connect to `where` (an address or a URL): a DNS failure is
 * SOCKLAB_ERR_DNS, anything else SOCKLAB_ERR_CONNECT. Node tries every address of a name (happy
 * eyeballs) and may fail with an AggregateError: the first attempt's reason is the one shown.
 */
export function connectFailure(where: string, err: unknown): SocklabError {
  const first = err instanceof AggregateError && err.errors.length > 0 ? (err.errors[0] as unknown) : err;
  const code = systemCode(first);
  const dns = code === 'ENOTFOUND' || code === 'EAI_AGAIN' || code === 'EAI_NODATA';
  return new SocklabError(
    dns ? 'SOCKLAB_ERR_DNS' : 'SOCKLAB_ERR_CONNECT',
    `cannot connect to ${where}: ${describeSystemError(first)}`,
    { cause: err },
  );
}
