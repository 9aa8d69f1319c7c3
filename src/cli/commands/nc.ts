/**
 * `socklab nc [options] [hostname] [port]`: ncat's command line (GNU getopt style: options may
 * follow the operands, `-lkv`, `-vvv`, `-w5s`), parsed here; the engine is src/nc/, loaded only
 * when a session runs so that `socklab nc --version` starts as fast as node itself.
 */
import { isIP } from 'node:net';
import { parseCommandLine, parseNumber, usageError, type ParsedValues } from '../args.js';
import type { Io } from '../io.js';
import { version } from '../version.js';
import type { NcOptions } from '../../nc/options.js';
import type { TlsFlagNames, TlsFlags } from '../tls-options.js';

export const help = `Usage: socklab nc [options] [hostname] [port]

ncat's command line and semantics: connect to HOST PORT, or listen with -l. Data from stdin
goes to the network, data from the network to stdout. Default port 31337.

Mode:
  -l, --listen               listen for connections: -l [HOST] [PORT]; a lone numeric operand is
                             the port; without an address, every interface (0.0.0.0 and ::)
  -k, --keep-open            with -l: serve many clients, one after another and at once
  -u, --udp                  UDP instead of TCP
  -4, -6                     IPv4 only, IPv6 only
  -z                         zero-I/O: report whether the port is open (exit 0) or not (exit 1)
  -s, --source ADDR          connect from this address (UDP: bind the client's socket to it)
  -p, --source-port PORT     connect from this port (with -l: the port to listen on)
  -n, --nodns                do not resolve host names
  -U, --unixsock             a Unix socket: -U PATH, -lU PATH; with -u a datagram one (-s PATH
                             binds the client's, so that the server can answer)
TLS (every --ssl-* implies --ssl; no DTLS, so not with -u):
      --ssl                  connect or listen with TLS; a client does not check the
                             certificate unless --ssl-verify (as ncat)
      --ssl-verify           check the server's certificate chain and name (a certificate with
                             no SAN is matched on its CN, for host names)
      --ssl-trustfile FILE   PEM CA certificate(s) to trust besides the system's
      --ssl-servername NAME  the name sent in SNI and checked (default: the host given)
      --ssl-cert FILE, --ssl-key FILE
                             with -l: the server's PEM certificate and key (one file may hold
                             both); without them a temporary self-signed certificate is made,
                             its SHA-256 fingerprint shown with -v
      --ssl-alpn LIST        ALPN protocols, comma-separated (offered, or accepted with -l)
      --ssl-ciphers LIST     OpenSSL cipher list (TLS 1.2 and below)
Data:
  -C, --crlf                 send each bare LF as CRLF (an existing CRLF is kept, also across reads)
      --send-only            only send, never read from the network
      --recv-only            only receive, never read stdin
      --no-shutdown          do not half-close the connection when stdin ends
  -d, --delay TIME           wait this long between reads of stdin
  -o, --output FILE          record both directions' bytes in FILE (--append-output: append)
  -x, --hex-dump FILE        the same as a hex dump, in ncat's layout
Time and limits (TIME: 500ms, 2s, 1m, 1h; a bare number is seconds, as in ncat):
  -w, --wait TIME            connect timeout
  -i, --idle-timeout TIME    exit when nothing is read or written for this long
  -m, --max-conns N          at most N clients at once (0 refuses everyone)
Servers:
      --broker               relay each client's data to every other client, and stdin to all
      --chat                 --broker with <userN> prefixes and announcements
  -e, --exec COMMAND         run COMMAND for each connection, its stdin and stdout the socket
                             (split on spaces, backslash escapes, no shell)
  -c, --sh-exec COMMAND      the same through /bin/sh -c
      --allow SPEC, --deny SPEC
                             who may connect: an address, a CIDR range, a host name (resolved);
                             repeated options add up; deny wins over allow; UDP datagrams too
      --allowfile FILE, --denyfile FILE
                             the same, specs separated by spaces or newlines
Other:
  -v, --verbose              events on stderr
  -h, --help                 this help
      --version              the version

Not supported: --ssl with -u (DTLS), client certificates (--ssl-cert without -l), --proxy and
its options, --lua-exec, --sctp, -g/-G, -t.

Examples:
  socklab nc -l 8080                     serve one client on every interface, port 8080
  socklab nc -lk 8080 --exec /bin/cat    an echo server, one cat per client
  socklab nc 127.0.0.1 8080 < file.bin   send a file; the reply goes to stdout
  socklab nc -u 127.0.0.1 53             UDP: each read of stdin is one datagram
  socklab nc -z 127.0.0.1 22 && echo open
  socklab nc -lk --chat 127.0.0.1 4000   a chat room for ncat/telnet clients
  socklab nc -l 9000 --allow 127.0.0.0/8 --deny 127.0.0.2
  socklab nc -l --ssl -v 127.0.0.1 8443  a TLS server, self-signed (its fingerprint on stderr)
  socklab nc --ssl-verify example.org 443
  socklab nc -lU /tmp/s.sock             a Unix stream socket; socklab nc -U /tmp/s.sock to it

Exit status: 0 ok · 1 refused, reset, network error, -z on a closed port · 2 bad usage.
`;

const OPTIONS = {
  listen: { type: 'boolean', short: 'l' },
  'keep-open': { type: 'boolean', short: 'k' },
  udp: { type: 'boolean', short: 'u' },
  ipv4: { type: 'boolean', short: '4' },
  ipv6: { type: 'boolean', short: '6' },
  unixsock: { type: 'boolean', short: 'U' },
  zero: { type: 'boolean', short: 'z' },
  source: { type: 'string', short: 's' },
  'source-port': { type: 'string', short: 'p' },
  nodns: { type: 'boolean', short: 'n' },
  crlf: { type: 'boolean', short: 'C' },
  'send-only': { type: 'boolean' },
  'recv-only': { type: 'boolean' },
  'no-shutdown': { type: 'boolean' },
  delay: { type: 'string', short: 'd' },
  output: { type: 'string', short: 'o' },
  'append-output': { type: 'boolean' },
  'hex-dump': { type: 'string', short: 'x' },
  wait: { type: 'string', short: 'w' },
  'idle-timeout': { type: 'string', short: 'i' },
  'max-conns': { type: 'string', short: 'm' },
  broker: { type: 'boolean' },
  chat: { type: 'boolean' },
  exec: { type: 'string', short: 'e' },
  'sh-exec': { type: 'string', short: 'c' },
  allow: { type: 'string', multiple: true },
  allowfile: { type: 'string', multiple: true },
  deny: { type: 'string', multiple: true },
  denyfile: { type: 'string', multiple: true },
  verbose: { type: 'boolean', short: 'v', multiple: true },
  version: { type: 'boolean' },
  test: { type: 'boolean' },
  // Parsed so that the option table is ncat's whole; answered with one line (see UNAVAILABLE).
  ssl: { type: 'boolean' },
  'ssl-cert': { type: 'string' },
  'ssl-key': { type: 'string' },
  'ssl-verify': { type: 'boolean' },
  'ssl-trustfile': { type: 'string' },
  'ssl-ciphers': { type: 'string' },
  'ssl-servername': { type: 'string' },
  'ssl-alpn': { type: 'string' },
  proxy: { type: 'string' },
  'proxy-type': { type: 'string' },
  'proxy-auth': { type: 'string' },
  'proxy-dns': { type: 'string' },
  'lua-exec': { type: 'string' },
  sctp: { type: 'boolean' },
  telnet: { type: 'boolean', short: 't' },
  g: { type: 'string', short: 'g' },
  G: { type: 'string', short: 'G' },
} as const;

/** The default port of ncat (and so of socklab nc). */
export const DEFAULT_PORT = 31337;

const TIME_UNITS: Readonly<Record<string, number>> = { ms: 1, s: 1000, m: 60_000, h: 3_600_000 };

/** ncat's time values: `500ms`, `2s`, `1m`, `1h`; a bare number is seconds. In ms. */
export function parseNcatTime(flag: string, text: string): number {
  const m = /^(\d+(?:\.\d+)?|\.\d+)(ms|s|m|h)?$/.exec(text.trim());
  if (!m) throw usageError(`${flag}: '${text}' is not a time (500ms, 2s, 1m, 1h; a bare number is seconds)`);
  const ms = Number(m[1]) * TIME_UNITS[m[2] ?? 's']!;
  if (ms <= 0) throw usageError(`${flag}: '${text}' must be more than 0`);
  return Math.round(ms);
}

function portOf(flag: string, text: string): number {
  if (!/^\d+$/.test(text)) throw usageError(`${flag}: '${text}' is not a port number`);
  return parseNumber(flag, text, { min: 0, max: 65535, integer: true });
}

/**
 * --ssl as parsed: the shared TLS flags and the side. Files are read and the cipher list checked
 * by resolveOptions(), which loads node:tls only for a session that asks for TLS (--version and
 * plain sessions start without it).
 */
export interface SslRequest {
  readonly listen: boolean;
  readonly flags: TlsFlags;
}

export type NcCommand =
  | { readonly kind: 'version' }
  | { readonly kind: 'run'; readonly options: NcOptions; readonly ssl?: SslRequest };

export function parse(argv: readonly string[]): NcCommand {
  const { values: v, positionals } = parseCommandLine(argv, OPTIONS);
  if (v.version) return { kind: 'version' };

  // Every --ssl-* option implies --ssl, as in ncat.
  const ssl = SSL_FLAGS.some((flag) => v[flag] !== undefined && v[flag] !== false);
  if (ssl && v.udp) throw usageError('--ssl with -u (DTLS) is not supported: Node has no DTLS');
  for (const flag of ['proxy', 'proxy-type', 'proxy-auth', 'proxy-dns'] as const) {
    if (v[flag] !== undefined) throw usageError(`--${flag}: proxies are not supported by socklab nc`);
  }
  if (v['lua-exec'] !== undefined) throw usageError('--lua-exec: Lua is not supported by socklab nc');
  if (v.sctp) throw usageError('--sctp: SCTP is not supported by socklab nc');
  if (v.g !== undefined || v.G !== undefined)
    throw usageError('-g/-G: source routing is not supported by socklab nc');
  if (v.telnet) throw usageError('-t: telnet negotiation is not supported by socklab nc');

  const listen = v.listen ?? false;
  const zero = v.zero ?? false;
  if (listen && zero)
    throw usageError('-l and -z cannot be used together (-z reports on a port to connect to)');
  if (v['send-only'] && v['recv-only'])
    throw usageError('--send-only and --recv-only cannot be used together');
  if (v.ipv4 && v.ipv6) throw usageError('-4 and -6 cannot be used together');
  if (v.exec !== undefined && v['sh-exec'] !== undefined)
    throw usageError('--exec and --sh-exec cannot be used together');
  if (v.output !== undefined && v['hex-dump'] !== undefined && v.output === v['hex-dump'])
    throw usageError('-o and -x cannot write to the same file');
  const broker = (v.broker ?? false) || (v.chat ?? false);
  if (broker && !listen) throw usageError('--broker and --chat need -l (they run a server)');
  if (broker && (v.exec !== undefined || v['sh-exec'] !== undefined))
    throw usageError('--broker and --chat cannot be used with --exec/--sh-exec');
  if (broker && v.udp) throw usageError('--broker and --chat are TCP only');
  if (listen && v.udp && v['keep-open'] && v.exec === undefined && v['sh-exec'] === undefined)
    throw usageError('-u with -k needs --exec or --sh-exec (UDP has no connections to keep apart)');
  for (const [flag, set] of [
    ['--allow', v.allow],
    ['--allowfile', v.allowfile],
    ['--deny', v.deny],
    ['--denyfile', v.denyfile],
    ['--max-conns', v['max-conns']],
  ] as const) {
    if (set !== undefined && !listen) throw usageError(`${flag} needs -l (it limits who may connect)`);
  }

  const sslRequest = ssl ? sslOf(v, listen) : undefined;
  const unixPath = v.unixsock ? unixPathOf(v, positionals, listen) : undefined;
  // With -U the one operand was the path.
  const operands = unixPath !== undefined ? [] : positionals;
  if (operands.length > 2)
    throw usageError(`too many operands: '${operands.slice(2).join(' ')}' (at most HOST PORT)`);
  let host: string | undefined;
  let port: number | undefined;
  const [first, second] = operands;
  if (second !== undefined) {
    host = first;
    port = portOf('port', second);
  } else if (first !== undefined) {
    // ncat: in listen mode a lone operand is the port if it is a number, else the address.
    if (listen && /^\d+$/.test(first)) port = portOf('port', first);
    else host = first;
  }
  const sourcePort = v['source-port'] !== undefined ? portOf('-p', v['source-port']) : undefined;
  if (listen && sourcePort !== undefined) {
    if (port !== undefined && port !== sourcePort)
      throw usageError(`-p ${sourcePort} and the port operand ${port} disagree`);
    port = sourcePort;
  }
  if (!listen && host === undefined && unixPath === undefined)
    throw usageError('needs a HOST to connect to (or -l to listen)');
  if (host !== undefined && host.startsWith('[') && host.endsWith(']')) host = host.slice(1, -1);
  if (v.nodns) {
    for (const [what, name] of [
      ['host', host],
      ['-s', v.source],
    ] as const) {
      if (name !== undefined && isIP(name) === 0)
        throw usageError(`${what} '${name}' is not an IP address, and -n forbids looking names up`);
    }
  }
  const maxConnections =
    v['max-conns'] !== undefined
      ? parseNumber('--max-conns', v['max-conns'], { min: 0, integer: true })
      : undefined;
  const exec =
    v.exec !== undefined
      ? { kind: 'exec' as const, command: v.exec }
      : v['sh-exec'] !== undefined
        ? { kind: 'sh' as const, command: v['sh-exec'] }
        : undefined;
  if (exec && exec.command.trim() === '')
    throw usageError(`--${exec.kind === 'exec' ? 'exec' : 'sh-exec'}: the command is empty`);
  const family = v.ipv4 ? 4 : v.ipv6 ? 6 : undefined;

  const options: NcOptions = {
    listen,
    keepOpen: (v['keep-open'] ?? false) || broker,
    transport: v.udp ? 'udp' : 'tcp',
    ...(family !== undefined ? { family } : {}),
    ...(host !== undefined ? { host } : {}),
    port: port ?? DEFAULT_PORT,
    ...(unixPath !== undefined ? { unixPath } : {}),
    zero,
    ...(v.source !== undefined ? { sourceHost: v.source } : {}),
    ...(!listen && sourcePort !== undefined ? { sourcePort } : {}),
    crlf: v.crlf ?? false,
    sendOnly: v['send-only'] ?? false,
    recvOnly: v['recv-only'] ?? false,
    noShutdown: v['no-shutdown'] ?? false,
    ...(v.delay !== undefined ? { delayMs: parseNcatTime('--delay', v.delay) } : {}),
    ...(v.output !== undefined ? { outputFile: v.output } : {}),
    ...(v['hex-dump'] !== undefined ? { hexFile: v['hex-dump'] } : {}),
    appendOutput: v['append-output'] ?? false,
    ...(v.wait !== undefined ? { connectTimeoutMs: parseNcatTime('--wait', v.wait) } : {}),
    ...(v['idle-timeout'] !== undefined
      ? { idleTimeoutMs: parseNcatTime('--idle-timeout', v['idle-timeout']) }
      : {}),
    ...(maxConnections !== undefined ? { maxConnections } : {}),
    broker,
    chat: v.chat ?? false,
    ...(exec ? { exec } : {}),
    access: {
      allow: v.allow ?? [],
      allowFiles: v.allowfile ?? [],
      deny: v.deny ?? [],
      denyFiles: v.denyfile ?? [],
    },
    verbose: v.verbose?.length ?? 0,
    test: v.test ?? false,
  };
  return { kind: 'run', options, ...(sslRequest !== undefined ? { ssl: sslRequest } : {}) };
}

const SSL_FLAGS = [
  'ssl',
  'ssl-cert',
  'ssl-key',
  'ssl-verify',
  'ssl-trustfile',
  'ssl-ciphers',
  'ssl-servername',
  'ssl-alpn',
] as const;

type NcValues = ParsedValues<typeof OPTIONS>;

/** ncat's --ssl-* names for the shared TLS flags (cli/tls-options.ts), for its error messages. */
const SSL_NAMES: TlsFlagNames = {
  'tls-cert': '--ssl-cert',
  'tls-key': '--ssl-key',
  'tls-trust': '--ssl-trustfile',
  'tls-alpn': '--ssl-alpn',
};

/** --ssl and its options as the shared TLS flags, checked for what needs no file: a server's with -l, else a client's. */
function sslOf(v: NcValues, listen: boolean): SslRequest {
  if (v['ssl-key'] !== undefined && v['ssl-cert'] === undefined)
    throw usageError('--ssl-key needs --ssl-cert (which may name the same PEM file, holding both)');
  if (listen) {
    for (const flag of ['ssl-verify', 'ssl-trustfile', 'ssl-servername'] as const) {
      if (v[flag] !== undefined)
        throw usageError(`--${flag} is for connecting (it checks the server's certificate), not with -l`);
    }
  } else if (v['ssl-cert'] !== undefined) {
    throw usageError('--ssl-cert/--ssl-key without -l: client certificates are not supported by socklab nc');
  }
  const flags: TlsFlags = {
    ...(v['ssl-cert'] !== undefined ? { 'tls-cert': v['ssl-cert'] } : {}),
    ...(v['ssl-key'] !== undefined ? { 'tls-key': v['ssl-key'] } : {}),
    ...(v['ssl-trustfile'] !== undefined ? { 'tls-trust': v['ssl-trustfile'] } : {}),
    ...(v['ssl-servername'] !== undefined ? { 'tls-servername': v['ssl-servername'] } : {}),
    ...(v['ssl-alpn'] !== undefined ? { 'tls-alpn': v['ssl-alpn'] } : {}),
    ...(v['ssl-ciphers'] !== undefined ? { 'tls-ciphers': v['ssl-ciphers'] } : {}),
    // ncat checks the server's certificate only when asked.
    'no-tls-verify': v['ssl-verify'] !== true,
  };
  return { listen, flags };
}

/** A run's options with --ssl resolved: certificate and trust files read, the cipher list checked (usage errors). */
export async function resolveOptions(command: Extract<NcCommand, { kind: 'run' }>): Promise<NcOptions> {
  const ssl = command.ssl;
  if (ssl === undefined) return command.options;
  const [{ checkCiphers }, { tlsClientFrom, tlsServerFrom }] = await Promise.all([
    import('../../core/tls.js'),
    import('../tls-options.js'),
  ]);
  const ciphers = ssl.flags['tls-ciphers'];
  if (ciphers !== undefined) {
    try {
      checkCiphers(ciphers);
    } catch (err) {
      throw usageError(`--ssl-ciphers: ${err instanceof Error ? err.message : String(err)}`);
    }
  }
  const tls = ssl.listen
    ? { server: tlsServerFrom(ssl.flags, SSL_NAMES) }
    : { client: tlsClientFrom(ssl.flags, SSL_NAMES) };
  return { ...command.options, tls };
}

/** -U: the one operand is the socket's path; what only IP sockets have is refused. */
function unixPathOf(v: NcValues, positionals: readonly string[], listen: boolean): string {
  if (positionals.length !== 1) {
    throw usageError(
      positionals.length === 0
        ? '-U needs the path of the Unix socket'
        : `-U takes one operand, the socket's path (got '${positionals.join(' ')}')`,
    );
  }
  const path = positionals[0]!;
  if (path === '') throw usageError('-U: the path is empty');
  const refuse = (flag: string, why: string) => usageError(`${flag} cannot be used with -U: ${why}`);
  if (v.ipv4 || v.ipv6) throw refuse('-4/-6', 'a Unix socket has no IP family');
  if (v['source-port'] !== undefined) throw refuse('-p', 'a Unix socket has no port');
  for (const flag of ['allow', 'allowfile', 'deny', 'denyfile'] as const) {
    if (v[flag] !== undefined) throw refuse(`--${flag}`, 'Unix clients have no address to match');
  }
  if (v.source !== undefined && (listen || !v.udp))
    throw refuse('-s', 'only a datagram client (-u, not -l) binds a path of its own');
  if (v.zero && v.udp) throw refuse('-z with -u', 'there is nothing to probe');
  return path;
}

export async function run(command: NcCommand, io: Io): Promise<number> {
  if (command.kind === 'version') {
    io.stdout.write(`socklab nc ${version()} (ncat's command line)\n`);
    return 0;
  }
  const options = await resolveOptions(command);
  const { runNc } = await import('../../nc/run.js');
  return runNc(options, io);
}
