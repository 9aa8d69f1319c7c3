/** What `socklab nc` was asked to do: ncat's options, parsed (by cli/commands/nc.ts). */
import type { TlsClientOptions, TlsServerOptions } from '../core/tls.js';
import type { AccessSpecs } from '../server/access.js';

/** `--exec` (split on whitespace, no shell) or `--sh-exec` (`/bin/sh -c`). */
export interface ExecSpec {
  readonly kind: 'exec' | 'sh';
  readonly command: string;
}

export interface NcOptions {
  readonly listen: boolean;
  /** -k (and implied by --broker/--chat): serve many clients. */
  readonly keepOpen: boolean;
  readonly transport: 'tcp' | 'udp';
  /** -4 / -6 */
  readonly family?: 4 | 6;
  /** --ssl: a TLS client's settings (connect mode) or a TLS server's (-l). */
  readonly tls?: { readonly client: TlsClientOptions } | { readonly server: TlsServerOptions };
  /** -U: a Unix socket at this path instead of HOST PORT (stream, or datagram with -u). */
  readonly unixPath?: string;
  /** Where to connect, or where to listen (absent: every interface). */
  readonly host?: string;
  readonly port: number;
  /** -z: connect, report, close. */
  readonly zero: boolean;
  /** -s / -p in connect mode (-U -u: the path the client's datagram socket binds). */
  readonly sourceHost?: string;
  readonly sourcePort?: number;
  readonly crlf: boolean;
  readonly sendOnly: boolean;
  readonly recvOnly: boolean;
  readonly noShutdown: boolean;
  /** -d: wait between reads of stdin. */
  readonly delayMs?: number;
  readonly outputFile?: string;
  readonly hexFile?: string;
  readonly appendOutput: boolean;
  /** -w */
  readonly connectTimeoutMs?: number;
  /** -i */
  readonly idleTimeoutMs?: number;
  /** -m */
  readonly maxConnections?: number;
  readonly broker: boolean;
  readonly chat: boolean;
  readonly exec?: ExecSpec;
  readonly access: AccessSpecs;
  /** -v count */
  readonly verbose: number;
  /** ncat's hidden --test: `NCAT TEST: LISTEN` on stderr once listening. */
  readonly test: boolean;
}
