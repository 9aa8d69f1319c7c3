/**
 * `socklab connect ADDRESS [MESSAGE...]`: a TCP or UDP client in three modes —
 * messages from the command line, stdin piped (netcat), or an interactive prompt on a terminal.
 */
import { parseAddress } from '../../address.js';
import { MAX_UDP_PAYLOAD } from '../../client/udp-client.js';
import { optionalDuration, optionalNumber, parseCommandLine, usageError, atMostOne } from '../args.js';
import type { Io } from '../io.js';
import { connectHabit } from '../netcat-habits.js';
import { checkTlsFlags, TLS_CLIENT_HELP, TLS_OPTIONS, tlsClientFrom } from '../tls-options.js';
import { DEFAULT_UDP_IDLE_MS, runClientSession, type ClientSessionOptions } from '../../client/session.js';

export const help = `Usage: socklab connect HOST:PORT [MESSAGE...] [options]

Run a TCP or UDP client. Received data goes to stdout as it arrives.

ADDRESS is [tcp|udp|tls://]HOST:PORT, or unix:PATH for a Unix socket (a datagram socket with
-u). tls:// is TCP with TLS on top, the server's certificate verified by default.

Three modes:
  MESSAGE...         send each MESSAGE as it is, as one write (TCP) or one datagram (UDP)
  stdin piped        netcat: stdin to the socket, the socket to stdout (bytes as they are)
  stdin a terminal   an interactive prompt: each line typed is sent with its newline, replies
                     show up above the line being typed as they arrive; arrow keys edit and
                     recall earlier lines. Ctrl-D leaves politely: TCP sends FIN and shows what
                     still comes until the server closes, or until nothing has come for
                     --idle-timeout (default 2 s here); UDP waits --idle-timeout (1 s).
                     Ctrl-C leaves at once (exit 130). With stdout redirected the prompt is
                     drawn on stderr and the file gets only what is received.

When the session ends:
  TCP  after the last message (or stdin's end) the client half-closes (sends FIN) and keeps
       printing until the server closes its side, or until --idle-timeout.
  UDP  after the last message the client waits for replies until none has come for
       --idle-timeout (default 1 s), then exits.

Options:
  -W, --wait-reply        wait for a reply after each MESSAGE before sending the next; each reply
                          is printed on its own line. Over TCP the client first gives the server
                          --greeting-wait to greet: what arrives then is the greeting, not a reply.
                          Over TCP without --lines a reply is what the next read brings: a stream
                          keeps no boundaries, so a reply cut in two (or two in one read) shifts
                          onto the next message. The server closing instead of answering the
                          last MESSAGE ends the session (an exit word); closing earlier, with
                          messages left to send, is exit 1.
      --lines             TCP: messages and replies are lines: -W waits for a whole line, and
                          each MESSAGE gets a newline unless --eol says otherwise
      --timeout DURATION  how long to wait for a reply, or to connect (default 5s)
      --retries N         UDP with -W: send again up to N times if no reply comes (default 0)
      --greeting-wait DURATION
                          TCP with -W: time the server has to greet first (default 250ms)
      --idle-timeout DURATION
                          stop once nothing has been received for that long (TCP: no limit
                          by default, 2s after Ctrl-D at the prompt; UDP: 1s, none after the
                          last reply with -W). Durations take a unit: 500ms, 2s
      --eol lf|crlf|none  line ending appended to each MESSAGE (default none, lf with --lines)
                          and to each line typed at the prompt (default lf, as nc and telnet
                          send it; none sends the bare text, as the seeds' clients do)
  -u, --udp               HOST:PORT without a scheme is UDP (unix:PATH: a datagram socket)
  -v, --verbose           connection events on stderr (with TLS: protocol, cipher, ALPN,
                          whether the certificate was verified)
      --hex               show received bytes as a hex dump
      --json              one JSON event per line on stdout
  -h, --help              this help
${TLS_CLIENT_HELP}

Examples:
  socklab connect 127.0.0.1:9000 "Hello, TCP Server!"          send one message
  socklab connect 127.0.0.1:8081 Michael Tracy exit -W          ask, wait for each answer
  socklab connect 127.0.0.1:8081 --lines -W Michael Tracy exit  the same, one line each way
  socklab connect udp://127.0.0.1:9090 Michael Tracy Sarah -W --retries 2
  socklab connect 127.0.0.1:9000 < file.bin > reply.bin         pipe a file, save the answer
  printf 'GET / HTTP/1.0\\r\\n\\r\\n' | socklab connect example.com:80
  socklab connect 127.0.0.1:9000                                an interactive session
  socklab connect tls://localhost:8443 --no-tls-verify -v       TLS to a self-signed server
  socklab connect tls://example.com:443 --tls-alpn http/1.1     TLS, verified, with ALPN
  socklab connect unix:/run/app.sock                            a Unix stream socket
  socklab connect -u unix:/tmp/dgram.sock hello                 a Unix datagram socket

Exit status: 0 done (the server closing is not an error, unless MESSAGEs were left unsent or
stdin could not be sent) · 1 refused, unknown host, no reply within --timeout, TLS handshake
failed or certificate refused · 2 bad usage ·
130 Ctrl-C, 143 SIGTERM.
`;

const OPTIONS = {
  udp: { type: 'boolean', short: 'u' },
  'wait-reply': { type: 'boolean', short: 'W' },
  timeout: { type: 'string' },
  retries: { type: 'string' },
  'greeting-wait': { type: 'string' },
  'idle-timeout': { type: 'string' },
  eol: { type: 'string' },
  lines: { type: 'boolean' },
  verbose: { type: 'boolean', short: 'v' },
  hex: { type: 'boolean' },
  json: { type: 'boolean' },
  ...TLS_OPTIONS,
} as const;

const EOLS = { lf: '\n', crlf: '\r\n', none: '' } as const;
const DEFAULT_TIMEOUT_MS = 5000;
const DEFAULT_GREETING_WAIT_MS = 250;

export type ConnectOptions = ClientSessionOptions;

export function parse(argv: readonly string[]): ConnectOptions {
  const { values: v, positionals } = parseCommandLine(argv, OPTIONS);
  const [target, ...messages] = positionals;
  if (target === undefined) throw usageError('needs an address to connect to: HOST:PORT');
  connectHabit(positionals);
  const endpoint = parseAddress(target, { role: 'connect', defaultTransport: v.udp ? 'udp' : 'tcp' });
  atMostOne({ '--hex': v.hex, '--json': v.json });
  checkTlsFlags(v, { server: false, client: endpoint.tls === true });
  if (v.lines && endpoint.transport === 'udp') {
    throw usageError('--lines is for TCP (over UDP each datagram is a message already)');
  }
  if (v.eol !== undefined && !(v.eol in EOLS))
    throw usageError(`--eol: '${v.eol}' is not one of lf, crlf, none`);
  const given = v.eol === undefined ? undefined : EOLS[v.eol as keyof typeof EOLS];
  // MESSAGEs go as written (a newline with --lines); a line typed at the prompt keeps the newline
  // the user typed, as nc and telnet send it (--eol none sends the bare text, as the seeds do).
  const eol = given ?? (v.lines ? '\n' : '');
  const typedEol = given ?? '\n';
  const retries = optionalNumber('--retries', v.retries, { min: 0, max: 1000, integer: true }) ?? 0;
  if (v.retries !== undefined && endpoint.transport !== 'udp') {
    throw usageError('--retries is for UDP (TCP retransmits by itself)');
  }
  const idleMs = optionalDuration('--idle-timeout', v['idle-timeout']);
  const encoded = messages.map((m) => Buffer.concat([Buffer.from(m), Buffer.from(eol)]));
  if (endpoint.transport === 'udp') {
    const big = encoded.find((m) => m.length > MAX_UDP_PAYLOAD);
    if (big)
      throw usageError(
        `a message of ${big.length} bytes does not fit in one UDP datagram (max ${MAX_UDP_PAYLOAD})`,
      );
  }
  return {
    endpoint,
    ...(endpoint.tls === true ? { tls: tlsClientFrom(v) } : {}),
    messages: encoded,
    waitReply: v['wait-reply'] ?? false,
    lines: v.lines ?? false,
    timeoutMs: optionalDuration('--timeout', v.timeout, 1) ?? DEFAULT_TIMEOUT_MS,
    retries,
    greetingWaitMs: optionalDuration('--greeting-wait', v['greeting-wait']) ?? DEFAULT_GREETING_WAIT_MS,
    // UDP waits a while for more datagrams after the last message; with -W the reply it waited
    // for has come: nothing more to wait for (unless --idle-timeout says so).
    idleTimeoutMs:
      idleMs !== undefined
        ? idleMs
        : endpoint.transport === 'udp'
          ? v['wait-reply'] && messages.length > 0
            ? 0
            : DEFAULT_UDP_IDLE_MS
          : undefined,
    eol: typedEol,
    format: v.hex ? 'hex' : v.json ? 'json' : 'raw',
    verbose: v.verbose ?? false,
    flags: { timeout: '--timeout', retries: '--retries' },
  };
}

export function run(options: ConnectOptions, io: Io): Promise<number> {
  // MESSAGEs are what is sent: a file given on stdin as well would be silently left unsent.
  // (A pipe cannot be told apart from an idle one without reading it, so only a file is refused.)
  if (options.messages.length > 0 && io.stdinFile !== undefined) {
    throw usageError('MESSAGEs and a file on stdin: give one (stdin is not read when MESSAGEs are given)');
  }
  return runClientSession(options, io);
}
