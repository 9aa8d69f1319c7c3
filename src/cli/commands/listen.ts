/** `socklab listen ADDRESS... [options]`: a TCP and/or UDP server with pluggable behaviours. */
import { availableParallelism } from 'node:os';
import { formatAddress, formatHostPort, parseAddress, type Endpoint } from '../../address.js';
import type { Behaviour } from '../../behaviours/behaviour.js';
import { chat } from '../../behaviours/chat.js';
import { echo } from '../../behaviours/echo.js';
import { exitWord } from '../../behaviours/exit-word.js';
import { print, type PrintFormat } from '../../behaviours/print.js';
import { parseTemplate, reply, unescape } from '../../behaviours/reply.js';
import { save } from '../../behaviours/save.js';
import { welcome } from '../../behaviours/welcome.js';
import type net from 'node:net';
import { describeSystemError, isSocklabError } from '../../errors.js';
import { runForSocket, type ExecCommand } from '../../exec/exec.js';
import { listenStream } from '../../core/listen.js';
import {
  buildAccessControl,
  plainAddress,
  type AccessControl,
  type AccessSpecs,
} from '../../server/access.js';
import { codecs } from '../../core/framing.js';
import { resolveAll } from '../../core/resolve.js';
import { plural } from '../../format/plural.js';
import { TerminalLine } from '../../format/terminal.js';
import { listenTcp, type TcpServer } from '../../server/tcp-server.js';
import { listenUdp, type UdpServer } from '../../server/udp-server.js';
import { atMostOne, optionalDuration, optionalNumber, parseCommandLine, usageError } from '../args.js';
import type { Io } from '../io.js';
import { listenHabit } from '../netcat-habits.js';
import { OutputFile } from '../output-file.js';
import { formatSummary, type ServerTotals } from '../server-summary.js';
import { isWorker, leavePrimary, runPrimary, stopSignal, tellPrimary } from '../workers.js';
import { tlsServerIdentity, type TlsServerOptions } from '../../core/tls.js';
import { checkTlsFlags, TLS_OPTIONS, TLS_SERVER_HELP, tlsServerFrom } from '../tls-options.js';

export const help = `Usage: socklab listen ADDRESS... [options]

Run a server on one or more addresses, TCP and/or UDP, with the same behaviour on each.
By default it prints what it receives to stdout, raw, and serves until Ctrl-C.

ADDRESS is [tcp|udp|tls://]HOST:PORT or unix:PATH. A bare PORT binds 127.0.0.1 (nothing is
exposed to the network by accident); :PORT binds every interface, IPv4 and IPv6; [::1]:PORT is
IPv6; port 0 picks a free port. The real address is printed to stderr: "listening on
tcp://127.0.0.1:PORT". tls:// serves TLS over TCP (each client's handshake first; a client that
does not complete it in 10 s, or speaks plain TCP, is closed alone). unix:PATH is a Unix stream
socket, a datagram socket with -u (each sender answered at its own path); a stale socket file
is replaced, any other file refused, and the socket file is removed at exit.

What to do with each message (one of):
      --echo              send it back
      --reply TEMPLATE    answer with TEMPLATE: {msg} the message, {peer} the sender,
                          {n} the message's number on that connection; \\n \\r\\n \\t \\xHH escapes;
                          {{ and }} for braces. A message ending in a newline gets a reply
                          ending in the same newline.
      --chat              relay each TCP client's messages to all the others (like ncat --chat)
  -e, --exec COMMAND      run COMMAND for each TCP client, its stdin and stdout the connection
                          (split on spaces, backslash escapes, no shell; NCAT_REMOTE_ADDR,
                          NCAT_REMOTE_PORT, NCAT_LOCAL_ADDR, NCAT_LOCAL_PORT, NCAT_PROTO set)
  -c, --sh-exec COMMAND   the same through /bin/sh -c
Conversation (TCP):
      --welcome TEXT      send TEXT to each new client (escapes as in --reply)
      --exit-word WORD    close a client's connection when it sends WORD (trailing CR/LF ignored)
      --delay DURATION    wait this long before each reply: 5ms, 1s
Messages and limits:
      --lines             each line is a message (default: each chunk read, or each datagram)
      --max-message BYTES
                          longest message: a longer line closes that client, a longer
                          datagram is dropped (default 1048576 for lines)
      --max-conns N       refuse TCP connections beyond N at once
      --idle-timeout DURATION
                          close a TCP client silent this long: 30s, 500ms
      --once              serve one TCP client (or one UDP datagram), then exit
      --allow SPEC, --deny SPEC
                          who may connect or send: an address, a CIDR range, a host name;
                          repeated options add up; deny wins (as ncat's)
      --allowfile FILE, --denyfile FILE
                          the same, specs separated by spaces or newlines
Output:
  -q, --quiet             print nothing of what is received, only a count per address at exit
                          (with -o, or for benchmarks: received bytes are not even copied)
      --hex               print a hex dump of each message (for binary data: raw bytes sent to
                          a terminal are shown with control characters replaced, never as-is)
      --json              one JSON event per line on stdout (open, message, close)
  -o, --output FILE       also write the received bytes to FILE
  -v, --verbose           connection events on stderr
      --workers N|auto    serve from N processes (auto: one per core): TCP connections are
                          spread over them; UDP datagrams go to whichever is free (no order
                          per sender). Not with --once, --chat, -o; --max-conns is per worker
  -u, --udp               addresses without a scheme are UDP (unix:PATH: a datagram socket)
  -h, --help              this help
${TLS_SERVER_HELP}

Examples:
  socklab listen 9000                                  print what TCP clients send
  socklab listen 9000 --echo -v                        an echo server, with connection events
  socklab listen tcp://:9000 udp://:9000 --echo        TCP and UDP on one port number, all interfaces
  socklab listen -u 9090 --reply "Hello, {msg}!"       answer each datagram at its sender's address
  socklab listen 8081 --lines --welcome "Welcome!" --reply "Hello, {msg}!" \\
      --exit-word exit                                 seed 003's server
  socklab listen 0 --once -q -o received.bin           receive one upload into a file, then exit
  socklab listen 9000 --lines --json                   one JSON event per line received
  socklab listen :9000 --echo --workers auto           an echo server on every core
  socklab listen tls://localhost:8443 --echo -v        TLS with a self-signed certificate
  socklab listen tls://:443 --tls-cert site.pem        TLS with a certificate (and key) from a file
  socklab listen unix:/tmp/app.sock --echo             a Unix stream socket
  socklab listen -u unix:/tmp/dgram.sock --echo        a Unix datagram socket
  socklab listen 9000 --exec /bin/cat --allow 127.0.0.0/8
                                                       an echo server, one cat per client

Exit status: 0 done (--once) · 1 cannot listen, cannot write -o · 2 bad usage · 130 Ctrl-C.
`;

const OPTIONS = {
  udp: { type: 'boolean', short: 'u' },
  echo: { type: 'boolean' },
  reply: { type: 'string' },
  chat: { type: 'boolean' },
  welcome: { type: 'string' },
  'exit-word': { type: 'string' },
  delay: { type: 'string' },
  lines: { type: 'boolean' },
  'max-message': { type: 'string' },
  'max-conns': { type: 'string' },
  'idle-timeout': { type: 'string' },
  once: { type: 'boolean' },
  quiet: { type: 'boolean', short: 'q' },
  hex: { type: 'boolean' },
  json: { type: 'boolean' },
  output: { type: 'string', short: 'o' },
  verbose: { type: 'boolean', short: 'v' },
  workers: { type: 'string' },
  ...TLS_OPTIONS,
  allow: { type: 'string', multiple: true },
  allowfile: { type: 'string', multiple: true },
  deny: { type: 'string', multiple: true },
  denyfile: { type: 'string', multiple: true },
  exec: { type: 'string', short: 'e' },
  'sh-exec': { type: 'string', short: 'c' },
} as const;

export interface ListenOptions {
  readonly endpoints: readonly Endpoint[];
  readonly response?: { kind: 'echo' } | { kind: 'reply'; template: string } | { kind: 'chat' };
  readonly welcome?: Buffer;
  readonly exitWord?: string;
  readonly delayMs?: number;
  readonly lines: boolean;
  readonly maxMessageBytes?: number;
  readonly maxConnections?: number;
  readonly idleTimeoutMs?: number;
  readonly once: boolean;
  readonly output: 'quiet' | PrintFormat;
  readonly outputFile?: string;
  readonly verbose: boolean;
  /** Processes serving the addresses (TCP connections spread over them); 1 = this one. */
  readonly workers: number;
  /** For tls:// addresses (no cert: one self-signed certificate for all of them). */
  readonly tls?: TlsServerOptions;
  /** --allow/--deny/--allowfile/--denyfile (read when the server starts). */
  readonly access?: AccessSpecs;
  /** --exec / --sh-exec: a program per TCP connection instead of the behaviours. */
  readonly exec?: ExecCommand;
}

export function parse(argv: readonly string[]): ListenOptions {
  listenHabit(argv);
  const { values: v, positionals } = parseCommandLine(argv, OPTIONS);
  if (positionals.length === 0) throw usageError('needs at least one ADDRESS to listen on, e.g. 9000');
  const endpoints = positionals.map((text) =>
    parseAddress(text, { role: 'listen', defaultTransport: v.udp ? 'udp' : 'tcp' }),
  );
  atMostOne({
    '--echo': v.echo,
    '--reply': v.reply,
    '--chat': v.chat,
    '--exec': v.exec,
    '--sh-exec': v['sh-exec'],
  });
  const exec: ExecCommand | undefined =
    v.exec !== undefined
      ? { kind: 'exec', command: v.exec }
      : v['sh-exec'] !== undefined
        ? { kind: 'sh', command: v['sh-exec'] }
        : undefined;
  if (exec) {
    if (exec.command.trim() === '')
      throw usageError(`--${exec.kind === 'sh' ? 'sh-exec' : 'exec'}: the command is empty`);
    if (endpoints.some((e) => e.transport !== 'tcp'))
      throw usageError('--exec and --sh-exec serve TCP connections (for UDP: socklab nc -u -l --exec)');
    for (const [flag, set] of [
      ['--lines', v.lines],
      ['--welcome', v.welcome !== undefined],
      ['--exit-word', v['exit-word'] !== undefined],
      ['--delay', v.delay !== undefined],
      ['--once', v.once],
      ['--workers', v.workers !== undefined],
      ['--output', v.output !== undefined],
      ['--hex', v.hex],
      ['--json', v.json],
      ['--max-message', v['max-message'] !== undefined],
      ['--idle-timeout', v['idle-timeout'] !== undefined],
    ] as const) {
      if (set)
        throw usageError(
          `${flag} cannot be combined with --exec/--sh-exec (the program talks to the client)`,
        );
    }
  }
  const accessSpecs: AccessSpecs = {
    allow: v.allow ?? [],
    allowFiles: v.allowfile ?? [],
    deny: v.deny ?? [],
    denyFiles: v.denyfile ?? [],
  };
  const hasAccess = Object.values(accessSpecs).some((list: readonly string[]) => list.length > 0);
  atMostOne({ '--quiet': v.quiet, '--hex': v.hex, '--json': v.json });
  const hasTcp = endpoints.some((e) => e.transport === 'tcp');
  const hasTls = endpoints.some((e) => e.tls === true);
  checkTlsFlags(v, { server: hasTls, client: false });
  for (const [flag, set] of [
    ['--chat', v.chat],
    ['--welcome', v.welcome !== undefined],
    ['--exit-word', v['exit-word'] !== undefined],
    ['--max-conns', v['max-conns'] !== undefined],
    ['--idle-timeout', v['idle-timeout'] !== undefined],
  ] as const) {
    if (set && !hasTcp) throw usageError(`${flag} needs a TCP address (UDP has no connections)`);
  }
  if (v.reply === '') throw usageError('--reply: the template is empty, so nothing would ever be answered');
  if (v.reply !== undefined) parseTemplate(v.reply); // fail now, with exit 2, on a bad template
  const idleTimeoutMs = optionalDuration('--idle-timeout', v['idle-timeout']);
  const maxMessageBytes = optionalNumber('--max-message', v['max-message'], { min: 1, integer: true });
  const maxConnections = optionalNumber('--max-conns', v['max-conns'], { min: 1, integer: true });
  const delayMs = optionalDuration('--delay', v.delay);
  const workers =
    v.workers === 'auto'
      ? availableParallelism()
      : (optionalNumber('--workers', v.workers, { min: 1, max: 256, integer: true }) ?? 1);
  if (workers > 1) {
    for (const [flag, set] of [
      ['--once', v.once],
      ['--chat', v.chat],
      ['--output', v.output !== undefined],
      ['a unix: address', endpoints.some((e) => e.path !== undefined)],
      ['tls:// without --tls-cert', hasTls && v['tls-cert'] === undefined],
    ] as const) {
      if (set) throw usageError(`${flag} cannot be combined with --workers (each worker is its own process)`);
    }
  }
  return {
    endpoints,
    ...(v.echo ? { response: { kind: 'echo' as const } } : {}),
    ...(v.reply !== undefined ? { response: { kind: 'reply' as const, template: v.reply } } : {}),
    ...(v.chat ? { response: { kind: 'chat' as const } } : {}),
    ...(v.welcome !== undefined ? { welcome: unescape(v.welcome) } : {}),
    ...(v['exit-word'] !== undefined ? { exitWord: v['exit-word'] } : {}),
    ...(delayMs !== undefined ? { delayMs } : {}),
    lines: v.lines ?? false,
    ...(maxMessageBytes !== undefined ? { maxMessageBytes } : {}),
    ...(maxConnections !== undefined ? { maxConnections } : {}),
    ...(idleTimeoutMs !== undefined ? { idleTimeoutMs } : {}),
    once: v.once ?? false,
    output: v.quiet ? 'quiet' : v.hex ? 'hex' : v.json ? 'json' : 'raw',
    ...(v.output !== undefined ? { outputFile: v.output } : {}),
    verbose: v.verbose ?? false,
    workers,
    ...(hasTls ? { tls: tlsServerFrom(v) } : {}),
    ...(hasAccess ? { access: accessSpecs } : {}),
    ...(exec ? { exec } : {}),
  };
}

/** A library error as the user of this command knows its cause: with the flag that set the limit. */
function withFlag(err: Error): string {
  if (isSocklabError(err, 'SOCKLAB_ERR_TIMEOUT')) return `${err.message} (--idle-timeout)`;
  if (isSocklabError(err, 'SOCKLAB_ERR_MESSAGE_TOO_LARGE')) return `${err.message} (--max-message)`;
  return err.message;
}

/** `localhost:0` binds every address localhost has (127.0.0.1 and ::1), on one port. */
function expandHosts(endpoint: Endpoint): Promise<string[]> {
  if (endpoint.path !== undefined) return Promise.resolve(['']);
  return resolveAll(endpoint.host, { attempt: `cannot listen on ${formatAddress(endpoint)}` });
}

/** A bound server and its address as printed (a closed socket can no longer say). */
type Server =
  { kind: 'tcp'; server: TcpServer; where: string } | { kind: 'udp'; server: UdpServer; where: string };

export async function run(options: ListenOptions, io: Io): Promise<number> {
  const access = options.access !== undefined ? await buildAccessControl(options.access) : undefined;
  if (options.exec) return runExec(options, options.exec, access, io);
  const summary = options.verbose || options.output === 'quiet';
  if (options.workers > 1 && !isWorker) return runPrimary({ workers: options.workers, summary }, io);
  // A worker stops when the primary asks it to (or goes away): signals are the primary's (main.ts);
  // io.signal still says when its stdout has closed.
  const signal = isWorker ? AbortSignal.any([io.signal, stopSignal()]) : io.signal;
  const servers: Server[] = [];
  let finishOnce: () => void = () => undefined;
  const done = new Promise<void>((resolve) => (finishOnce = resolve));
  const file = options.outputFile !== undefined ? await OutputFile.open(options.outputFile) : undefined;
  file?.onError(() => finishOnce());
  const separator = options.lines ? '\n' : '';
  // On a terminal: where the cursor is, so events and the next client's text start a new line.
  const line = io.stdout.isTTY === true ? new TerminalLine() : undefined;
  const behaviours: Behaviour[] = [];
  if (options.output !== 'quiet') {
    behaviours.push(
      print({ out: io.stdout, format: options.output, terminal: io.stdout.isTTY === true, separator }),
    );
  }
  if (file) behaviours.push(save(file.stream, { separator }));
  if (options.welcome) behaviours.push(welcome(options.welcome));
  if (options.exitWord !== undefined) behaviours.push(exitWord(options.exitWord));
  const response = options.response;
  if (response?.kind === 'echo') behaviours.push(echo());
  if (response?.kind === 'reply') behaviours.push(reply(response.template));
  if (response?.kind === 'chat') behaviours.push(chat());

  const who = isWorker ? `[worker ${process.env.SOCKLAB_WORKER ?? '?'}] ` : '';
  const log = (text: string) => {
    if (!options.verbose) return;
    // Received text that has not ended its line on the terminal does not get the event glued on.
    if (line && io.stderr.isTTY === true) {
      const end = line.finish();
      if (end) io.stdout.write(end);
    }
    io.stderr.write(`${who}${text}\n`);
  };
  let onceTaken = false;

  const closeAll = async (force: boolean) => {
    await Promise.all(servers.map((s) => (s.kind === 'tcp' ? s.server.close({ force }) : s.server.close())));
  };

  try {
    // One certificate for every tls:// address (made once when there is no --tls-cert).
    let tls: TlsServerOptions | undefined;
    if (options.tls !== undefined) {
      const identity = await tlsServerIdentity(options.tls);
      tls = { ...options.tls, cert: identity.cert, key: identity.key };
      log(
        `TLS certificate: ${identity.selfSigned ? 'self-signed (temporary), ' : ''}${identity.subject}, valid until ${identity.validTo}`,
      );
      log(`TLS certificate SHA-256 fingerprint: ${identity.fingerprint256}`);
    }
    for (const endpoint of options.endpoints) {
      let port = endpoint.port;
      const path = endpoint.path !== undefined ? { path: endpoint.path } : {};
      for (const host of await expandHosts(endpoint)) {
        if (endpoint.transport === 'tcp') {
          const server = await listenTcp({
            host,
            port,
            ...path,
            ...(endpoint.tls === true && tls !== undefined ? { tls } : {}),
            behaviours,
            framing: options.lines ? codecs.lines : codecs.raw,
            ...(options.maxMessageBytes !== undefined ? { maxMessageBytes: options.maxMessageBytes } : {}),
            ...(options.maxConnections !== undefined ? { maxConnections: options.maxConnections } : {}),
            ...(options.idleTimeoutMs !== undefined ? { idleTimeoutMs: options.idleTimeoutMs } : {}),
            ...(options.delayMs !== undefined ? { delayMs: options.delayMs } : {}),
            ...(access !== undefined ? { access } : {}),
          });
          servers.push({ kind: 'tcp', server, where: formatAddress(server.address()) });
          server.on('denied', (peer) => log(`refused ${peer}: not allowed (--allow/--deny)`));
          server.on('connection', (conn) => {
            const tls = conn.tls;
            log(
              `connection from ${conn.peer} (#${conn.id})${
                tls
                  ? `: ${tls.protocol}, SNI ${tls.servername ?? '(none)'}, ALPN ${tls.alpnProtocol ?? '(none)'}`
                  : ''
              }`,
            );
            if (options.once && !onceTaken) {
              onceTaken = true;
              for (const s of servers) {
                if (s.kind === 'tcp') s.server.stopAccepting();
                else void s.server.close();
              }
            }
          });
          server.on('close', (conn, info) => {
            const why = info.error ? `: ${withFlag(info.error)}` : '';
            log(
              `closed ${conn.peer} (#${conn.id}): ${plural(info.bytesReceived, 'byte')} in, ${info.bytesSent} out${why}`,
            );
            if (options.once && server.connections === 0) finishOnce();
          });
          server.on('drop', (peer) => log(`refused ${peer}: --max-conns ${options.maxConnections} reached`));
          server.on('tlsError', (_peer, err) => log(err.message));
          port = server.address().port;
        } else {
          const server = await listenUdp({
            host,
            port,
            ...path,
            behaviours,
            ...(options.maxMessageBytes !== undefined ? { maxMessageBytes: options.maxMessageBytes } : {}),
            ...(options.delayMs !== undefined ? { delayMs: options.delayMs } : {}),
            ...(access !== undefined ? { access } : {}),
          });
          servers.push({ kind: 'udp', server, where: formatAddress(server.address()) });
          if (options.verbose) {
            server.on('message', (msg) => log(`datagram from ${msg.peer}: ${msg.data.length} bytes`));
          }
          server.on('drop', (peer, why, limit) =>
            log(
              `dropped a datagram from ${peer}: ${why}${limit === 'maxMessageBytes' ? ' (--max-message)' : ''}`,
            ),
          );
          server.on('sendError', (peer, err) =>
            log(`could not reply to ${peer}: ${describeSystemError(err)}`),
          );
          if (options.once) {
            server.on('handled', () => {
              if (!onceTaken) {
                onceTaken = true;
                void closeAll(false).then(finishOnce);
              }
            });
          }
          port = server.address().port;
        }
      }
    }
    // Only once every address is bound: `listen A B` that cannot bind B listens on nothing.
    if (!isWorker) for (const s of servers) io.stderr.write(`listening on ${s.where}\n`);
    // A worker told to stop while it was still binding served nobody: it reports nothing (with
    // port 0 it may even have been given another port than the others, the first ones gone).
    const stoppedEarly = isWorker && signal.aborted;
    if (isWorker && !stoppedEarly) {
      await tellPrimary({ type: 'socklab:listening', where: servers.map((s) => s.where) });
    }

    const aborted = new Promise<void>((resolve) => {
      if (signal.aborted) resolve();
      else signal.addEventListener('abort', () => resolve(), { once: true });
    });
    await Promise.race([done, aborted]);
    await closeAll(signal.aborted);
    const totals: ServerTotals[] = servers.map((s) =>
      s.kind === 'tcp'
        ? { kind: 'tcp', where: s.where, stats: s.server.stats }
        : { kind: 'udp', where: s.where, stats: s.server.stats },
    );
    if (isWorker) {
      await tellPrimary({ type: 'socklab:summary', totals: stoppedEarly ? [] : totals });
      leavePrimary();
    } else if (summary) for (const t of totals) io.stderr.write(`${formatSummary(t)}\n`);
  } finally {
    await closeAll(true);
    await file?.close();
  }
  return 0;
}

/**
 * `listen --exec/--sh-exec`: one program per TCP connection, its stdin and stdout the client
 * (exec/exec.ts). A program that cannot start closes that client; the server goes on.
 */
async function runExec(
  options: ListenOptions,
  exec: ExecCommand,
  access: AccessControl | undefined,
  io: Io,
): Promise<number> {
  const servers: net.Server[] = [];
  const sockets = new Set<net.Socket>();
  const log = (text: string) => {
    if (options.verbose) io.stderr.write(`${text}\n`);
  };
  const onConnection = (socket: net.Socket) => {
    const peer = formatHostPort(plainAddress(socket.remoteAddress ?? '?'), socket.remotePort ?? 0);
    if (access && !access.allows(socket.remoteAddress ?? '')) {
      log(`refused ${peer}: not allowed (--allow/--deny)`);
      socket.resetAndDestroy();
      return;
    }
    if (options.maxConnections !== undefined && sockets.size >= options.maxConnections) {
      log(`refused ${peer}: --max-conns ${options.maxConnections} reached`);
      socket.resetAndDestroy();
      return;
    }
    sockets.add(socket);
    log(`connection from ${peer}`);
    runForSocket(socket, exec, {
      remoteAddress: socket.remoteAddress ?? '',
      remotePort: socket.remotePort ?? 0,
      localAddress: socket.localAddress ?? '',
      localPort: socket.localPort ?? 0,
      proto: 'TCP',
    })
      .then(
        () => log(`closed ${peer}`),
        (err: unknown) =>
          io.stderr.write(`socklab listen: ${peer}: ${err instanceof Error ? err.message : String(err)}\n`),
      )
      .finally(() => sockets.delete(socket));
  };
  try {
    for (const endpoint of options.endpoints) {
      let port = endpoint.port;
      for (const host of await expandHosts(endpoint)) {
        const server = await listenStream({ host, port, onConnection });
        servers.push(server);
        port = (server.address() as net.AddressInfo).port;
      }
    }
    for (const server of servers) {
      const a = server.address() as net.AddressInfo;
      const where = formatAddress({ transport: 'tcp', host: a.address, port: a.port });
      io.stderr.write(`listening on ${where}\n`);
      if (!isLoopbackHost(a.address)) {
        io.stderr.write(
          `warning: anyone who can reach ${where} can run '${exec.command}' (--${exec.kind === 'sh' ? 'sh-exec' : 'exec'})\n`,
        );
      }
    }
    await new Promise<void>((resolve) => {
      if (io.signal.aborted) resolve();
      else io.signal.addEventListener('abort', () => resolve(), { once: true });
    });
  } finally {
    for (const server of servers) server.close();
    for (const socket of sockets) socket.destroy();
  }
  return 0;
}

function isLoopbackHost(address: string): boolean {
  const plain = plainAddress(address);
  return plain === '::1' || plain.startsWith('127.');
}
