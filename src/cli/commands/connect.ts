/**
 * `socklab connect ADDRESS [MESSAGE...]`: a TCP or UDP client in three modes —
 * messages from the command line, stdin piped (netcat), or an interactive prompt on a terminal.
 */
import { readSync } from 'node:fs';
import { formatAddress, parseAddress, type Endpoint } from '../../address.js';
import { SocklabError, isSocklabError } from '../../errors.js';
import { connectTcp, type TcpClient } from '../../core/tcp.js';
import { MAX_UDP_PAYLOAD, openUdp } from '../../core/udp.js';
import { optionalNumber, parseCommandLine, usageError, atMostOne } from '../args.js';
import type { Io } from '../io.js';
import { ClientOutput, type ReceivedFormat } from '../output.js';

/** Read size for a file on stdin. */
const FILE_CHUNK_BYTES = 1024 * 1024;

export const help = `Usage: socklab connect HOST:PORT [MESSAGE...] [options]

Run a TCP or UDP client. Received data goes to stdout as it arrives.

Three modes:
  MESSAGE...         send each MESSAGE as it is, as one write (TCP) or one datagram (UDP)
  stdin piped        netcat: stdin to the socket, the socket to stdout (bytes as they are)
  stdin a terminal   an interactive prompt: each line typed is sent (with --eol), replies
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
      --timeout MS        how long to wait for a reply, or to connect (default 5000)
      --retries N         UDP with -W: send again up to N times if no reply comes (default 0)
      --greeting-wait MS  TCP with -W: time the server has to greet first (default 250)
      --idle-timeout SEC  stop once nothing has been received for SEC seconds
                          (TCP: no limit by default, 2 after Ctrl-D at the prompt; UDP: 1)
      --eol lf|crlf|none  line ending appended to each message or typed line (default none)
  -u, --udp               HOST:PORT without a scheme is UDP
  -v, --verbose           connection events on stderr
      --hex               show received bytes as a hex dump
      --json              one JSON event per line on stdout
  -h, --help              this help

Examples:
  socklab connect 127.0.0.1:9000 "Hello, TCP Server!"          send one message
  socklab connect 127.0.0.1:8081 Michael Tracy exit -W          ask, wait for each answer
  socklab connect udp://127.0.0.1:9090 Michael Tracy Sarah -W --retries 2
  socklab connect 127.0.0.1:9000 < file.bin > reply.bin         pipe a file, save the answer
  printf 'GET / HTTP/1.0\\r\\n\\r\\n' | socklab connect example.com:80
  socklab connect 127.0.0.1:9000                                an interactive session

Exit status: 0 done (the server closing is not an error) · 1 refused, unknown host, no reply
within --timeout · 2 bad usage · 130 Ctrl-C.
`;

const OPTIONS = {
  udp: { type: 'boolean', short: 'u' },
  'wait-reply': { type: 'boolean', short: 'W' },
  timeout: { type: 'string' },
  retries: { type: 'string' },
  'greeting-wait': { type: 'string' },
  'idle-timeout': { type: 'string' },
  eol: { type: 'string' },
  verbose: { type: 'boolean', short: 'v' },
  hex: { type: 'boolean' },
  json: { type: 'boolean' },
} as const;

const EOLS = { lf: '\n', crlf: '\r\n', none: '' } as const;
const DEFAULT_TIMEOUT_MS = 5000;
const DEFAULT_GREETING_WAIT_MS = 250;
const DEFAULT_UDP_IDLE_MS = 1000;
/** After Ctrl-D at the prompt (TCP), how long to wait in silence for the server to close. */
const DEFAULT_LEAVE_WAIT_MS = 2000;

export interface ConnectOptions {
  readonly endpoint: Endpoint;
  readonly messages: readonly Buffer[];
  readonly waitReply: boolean;
  readonly timeoutMs: number;
  readonly retries: number;
  readonly greetingWaitMs: number;
  /** Undefined: no limit (TCP default). */
  readonly idleTimeoutMs: number | undefined;
  readonly eol: string;
  readonly format: ReceivedFormat;
  readonly verbose: boolean;
}

export function parse(argv: readonly string[]): ConnectOptions {
  const { values: v, positionals } = parseCommandLine(argv, OPTIONS);
  const [target, ...messages] = positionals;
  if (target === undefined) throw usageError('needs an address to connect to: HOST:PORT');
  const endpoint = parseAddress(target, { role: 'connect', defaultTransport: v.udp ? 'udp' : 'tcp' });
  atMostOne({ '--hex': v.hex, '--json': v.json });
  const eolName = v.eol ?? 'none';
  if (!(eolName in EOLS)) throw usageError(`--eol: '${eolName}' is not one of lf, crlf, none`);
  const eol = EOLS[eolName as keyof typeof EOLS];
  const retries = optionalNumber('--retries', v.retries, { min: 0, max: 1000, integer: true }) ?? 0;
  if (v.retries !== undefined && endpoint.transport !== 'udp') {
    throw usageError('--retries is for UDP (TCP retransmits by itself)');
  }
  const idleSec = optionalNumber('--idle-timeout', v['idle-timeout'], { min: 0 });
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
    messages: encoded,
    waitReply: v['wait-reply'] ?? false,
    timeoutMs: optionalNumber('--timeout', v.timeout, { min: 1 }) ?? DEFAULT_TIMEOUT_MS,
    retries,
    greetingWaitMs:
      optionalNumber('--greeting-wait', v['greeting-wait'], { min: 0 }) ?? DEFAULT_GREETING_WAIT_MS,
    idleTimeoutMs:
      idleSec !== undefined ? idleSec * 1000 : endpoint.transport === 'udp' ? DEFAULT_UDP_IDLE_MS : undefined,
    eol,
    format: v.hex ? 'hex' : v.json ? 'json' : 'raw',
    verbose: v.verbose ?? false,
  };
}

export async function run(options: ConnectOptions, io: Io): Promise<number> {
  const out = new ClientOutput(io, { format: options.format, verbose: options.verbose });
  const mode = options.messages.length > 0 ? 'messages' : io.stdin.isTTY ? 'interactive' : 'pipe';
  try {
    return options.endpoint.transport === 'tcp'
      ? await runTcp(options, io, out, mode)
      : await runUdp(options, io, out, mode);
  } finally {
    out.finish();
  }
}

type Mode = 'messages' | 'interactive' | 'pipe';

/** A timeout that ends the wait for more data normally (idle), not as a failure. */
function isTimeout(err: unknown): boolean {
  return isSocklabError(err, 'SOCKLAB_ERR_TIMEOUT');
}

async function runTcp(options: ConnectOptions, io: Io, out: ClientOutput, mode: Mode): Promise<number> {
  const { endpoint } = options;
  const client = await connectTcp({
    host: endpoint.host,
    port: endpoint.port,
    connectTimeoutMs: options.timeoutMs,
    signal: io.signal,
  });
  const local = formatAddress(client.localAddress());
  const remote = formatAddress({ ...endpoint, host: client.socket.remoteAddress ?? endpoint.host });
  out.note(`connected to ${remote} from ${local}`, { event: 'connected', remote, local });
  const from = remote;
  const readOpts = {
    signal: io.signal,
    ...(options.idleTimeoutMs !== undefined ? { timeoutMs: options.idleTimeoutMs } : {}),
  };

  /** Print until the server closes (or idle timeout). */
  const printRest = async () => {
    try {
      for (let chunk = await client.read(readOpts); chunk !== null; chunk = await client.read(readOpts)) {
        await out.received(chunk, { from, whole: false });
      }
      out.note(`${remote} closed the connection`, { event: 'closed', by: 'server' });
    } catch (err) {
      if (!isTimeout(err)) throw err;
      out.note(`nothing received for ${options.idleTimeoutMs} ms: leaving`, { event: 'idle' });
    }
  };

  try {
    if (mode === 'messages') {
      let open = true;
      if (options.waitReply) open = await readGreeting(client, options, out, from, io.signal);
      for (const message of options.messages) {
        if (!open) break;
        await client.send(message);
        if (!options.waitReply) continue;
        const reply = await client
          .read({ timeoutMs: options.timeoutMs, signal: io.signal })
          .catch((err: unknown) => {
            if (isTimeout(err)) {
              throw new SocklabError(
                'SOCKLAB_ERR_TIMEOUT',
                `no reply from ${remote} within ${options.timeoutMs} ms (--timeout)`,
              );
            }
            throw err;
          });
        if (reply === null) {
          out.note(`${remote} closed the connection`, { event: 'closed', by: 'server' });
          open = false;
          break;
        }
        await out.received(Buffer.concat([reply, client.readAvailable()]), { from, whole: true });
      }
      if (open) {
        await client.end();
        out.note('sent FIN (half-close); reading until the server closes', { event: 'half-close' });
        await printRest();
      }
      return 0;
    }
    if (mode === 'pipe') {
      let sendError: Error | undefined;
      const pumped =
        io.stdinFile !== undefined
          ? pumpFile(io.stdinFile, client, io.signal)
          : pumpStdin(io, (c) => client.send(c));
      void pumped.then(
        async () => {
          await client.end();
          out.note('stdin ended: sent FIN (half-close); reading until the server closes', {
            event: 'half-close',
          });
        },
        (err: unknown) => {
          sendError = err instanceof Error ? err : new Error(String(err));
        },
      );
      // A reset is thrown by read() here; a normal close (FIN) ends the session.
      await printRest();
      // If the server closed before stdin ended, the rest of stdin is not sent (netcat does the
      // same), and a write that failed on the closed connection is part of that, not an error.
      // A failure to read stdin itself is.
      io.stdin.pause();
      if (sendError !== undefined && !isSocklabError(sendError, 'SOCKLAB_ERR_SOCKET')) throw sendError;
      return 0;
    }
    // The prompt (readline and terminal handling) is loaded only when a terminal is there.
    const { runInteractive } = await import('../interactive.js');
    return await runInteractive(io, {
      send: (line) => client.send(line),
      nextReply: async () => {
        // A reset (not a normal close) is thrown by read(): the user learns the server did not close normally.
        const chunk = await client.read({ signal: io.signal });
        return chunk === null ? null : { data: chunk, from };
      },
      leave: async () => {
        await client.end();
        out.note('sent FIN (half-close); reading until the server closes', { event: 'half-close' });
      },
      lingerMs: options.idleTimeoutMs ?? DEFAULT_LEAVE_WAIT_MS,
      datagrams: false,
      eol: options.eol,
      out,
      prompt: `${remote}> `,
    });
  } finally {
    client.destroy();
  }
}

/** Over TCP a server may greet first (seed 003's "Welcome!"): take that as the greeting. */
async function readGreeting(
  client: TcpClient,
  options: ConnectOptions,
  out: ClientOutput,
  from: string,
  signal: AbortSignal,
): Promise<boolean> {
  if (options.greetingWaitMs <= 0) return true;
  try {
    const greeting = await client.read({ timeoutMs: options.greetingWaitMs, signal });
    if (greeting === null) return false;
    await out.received(Buffer.concat([greeting, client.readAvailable()]), { from, whole: true });
  } catch (err) {
    if (!isTimeout(err)) throw err;
  }
  return true;
}

/** Read stdin to its end, handing each chunk to `send` (which applies the socket's backpressure). */
async function pumpStdin(io: Io, send: (chunk: Buffer) => Promise<void>): Promise<void> {
  for await (const chunk of io.stdin) {
    if (io.signal.aborted) return;
    await send(typeof chunk === 'string' ? Buffer.from(chunk) : (chunk as Buffer));
  }
}

/**
 * A regular file on stdin (`< file.bin`): read it straight into one reused 1 MiB buffer and
 * send each piece once the previous one is in the kernel's hands. No Buffer is allocated per
 * chunk (a fresh 1 MiB allocation is page faults on every use), and a read from a file does
 * not block for long: it is done synchronously, without a thread-pool round trip.
 */
async function pumpFile(fd: number, client: TcpClient, signal: AbortSignal): Promise<void> {
  const buffer = Buffer.allocUnsafe(FILE_CHUNK_BYTES);
  while (!signal.aborted) {
    const n = readSync(fd, buffer, 0, buffer.length, null);
    if (n === 0) return;
    await client.sendAll(n === buffer.length ? buffer : buffer.subarray(0, n));
  }
}

async function runUdp(options: ConnectOptions, io: Io, out: ClientOutput, mode: Mode): Promise<number> {
  const { endpoint } = options;
  const client = await openUdp({ host: endpoint.host, port: endpoint.port, signal: io.signal });
  const remote = formatAddress(endpoint);
  out.note(`sending to ${remote} from ${formatAddress(client.localAddress())}`, { event: 'open', remote });
  const idleMs = options.idleTimeoutMs ?? DEFAULT_UDP_IDLE_MS;

  /** Print datagrams until none has come for idleMs. */
  const printUntilIdle = async () => {
    try {
      for (;;) {
        const d = await client.receive({ timeoutMs: idleMs, signal: io.signal });
        if (d === null) return;
        await out.received(d.data, { from: d.from, whole: true });
      }
    } catch (err) {
      if (!isTimeout(err)) throw err;
      out.note(`no datagram for ${idleMs} ms: leaving`, { event: 'idle' });
    }
  };

  try {
    if (mode === 'messages') {
      for (const message of options.messages) {
        if (!options.waitReply) {
          await client.send(message);
          continue;
        }
        const reply = await client
          .request(message, { timeoutMs: options.timeoutMs, retries: options.retries, signal: io.signal })
          .catch((err: unknown) => {
            if (isTimeout(err)) {
              const tries = options.retries + 1;
              throw new SocklabError(
                'SOCKLAB_ERR_TIMEOUT',
                `no reply from ${remote} within ${options.timeoutMs} ms (${tries} ${tries === 1 ? 'try' : 'tries'}; UDP may lose datagrams: try --retries)`,
              );
            }
            throw err;
          });
        await out.received(reply.data, { from: reply.from, whole: true });
      }
      await printUntilIdle();
      return 0;
    }
    if (mode === 'pipe') {
      await pumpStdin(io, async (chunk) => {
        for (let at = 0; at < chunk.length; at += MAX_UDP_PAYLOAD) {
          await client.send(chunk.subarray(at, at + MAX_UDP_PAYLOAD));
        }
      });
      // Replies that came while sending are queued in the client; print them, then wait for more.
      await printUntilIdle();
      return 0;
    }
    // The prompt (readline and terminal handling) is loaded only when a terminal is there.
    const { runInteractive } = await import('../interactive.js');
    return await runInteractive(io, {
      send: (line) => client.send(line),
      nextReply: async () => {
        const d = await client.receive({ signal: io.signal });
        return d === null ? null : { data: d.data, from: d.from };
      },
      // UDP has no goodbye to send: replies still on their way are shown until idleMs of silence.
      leave: () => Promise.resolve(),
      lingerMs: idleMs,
      datagrams: true,
      eol: options.eol,
      out,
      prompt: `${remote}> `,
    });
  } finally {
    await client.close();
  }
}
