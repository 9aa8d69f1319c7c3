/**
 * The client session that `connect` runs (and `nc` will): messages from the command line, stdin
 * piped (netcat), or an interactive prompt on a terminal; half-close after the last message;
 * what is received goes to stdout through one presenter (output.ts).
 *
 * Its errors name no command-line flag; the command that runs it passes its flags' names
 * (`flags`) for the hints it prints.
 */
import { readSync } from 'node:fs';
import { formatAddress, formatHostPort, type Endpoint } from '../address.js';
import { SocklabError, isSocklabError } from '../errors.js';
import { MAX_UDP_PAYLOAD } from '../core/datagram.js';
import { lines, type Decoder } from '../core/framing.js';
import { plural } from '../format/plural.js';
import type { SessionIo as Io } from './io.js';
import { ClientOutput, type ReceivedFormat } from './output.js';
import type { TLSSocket } from 'node:tls';
import { tlsInfo, type TlsClientOptions, type TlsInfo } from '../core/tls.js';
import { connectTcp, type TcpClient } from './tcp-client.js';
import { openUdp } from './udp-client.js';

/** Read size for a file on stdin. */
const FILE_CHUNK_BYTES = 1024 * 1024;
export const DEFAULT_UDP_IDLE_MS = 1000;
/** After Ctrl-D at the prompt (TCP), how long to wait in silence for the server to close. */
export const DEFAULT_LEAVE_WAIT_MS = 2000;

export interface ClientSessionOptions {
  /** Where to: TCP, UDP, `tls: true` (then `tls` below applies), or a Unix socket (`path`). */
  readonly endpoint: Endpoint;
  /** TLS settings for a `tls` endpoint (verification on by default). */
  readonly tls?: TlsClientOptions;
  /** Unix datagram: the path the client binds (answers come there). */
  readonly bindPath?: string;
  readonly messages: readonly Buffer[];
  readonly waitReply: boolean;
  readonly timeoutMs: number;
  readonly retries: number;
  readonly greetingWaitMs: number;
  /** Undefined: no limit (TCP default). */
  readonly idleTimeoutMs: number | undefined;
  /** Appended to each line typed at the prompt (MESSAGEs come with their own). */
  readonly eol: string;
  /**
   * TCP: replies are lines, so `waitReply` waits for a whole line (what follows it waits for
   * the next message). Without it a reply is whatever the next read brings: a TCP stream keeps
   * no message boundaries, so a reply cut in two, or two in one read, shift onto the next message.
   */
  readonly lines?: boolean;
  readonly format: ReceivedFormat;
  readonly verbose: boolean;
  /** How the caller's command line names the options, for hints in errors (`--timeout`). */
  readonly flags?: { readonly timeout?: string; readonly retries?: string };
}

/** Run a session to its end: the exit status (0, or 130 after Ctrl-C at the prompt); failures are thrown. */
export async function runClientSession(options: ClientSessionOptions, io: Io): Promise<number> {
  const out = new ClientOutput(io, {
    transport: options.endpoint.transport,
    format: options.format,
    verbose: options.verbose,
  });
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

/** `TLS: TLSv1.3, TLS_AES_256_GCM_SHA384, ALPN h2, certificate verified`. */
export function describeTls(info: TlsInfo): string {
  const alpn = info.alpnProtocol !== undefined ? `, ALPN ${info.alpnProtocol}` : '';
  const verdict = info.authorized
    ? 'certificate verified'
    : `certificate NOT verified${info.authorizationError !== undefined ? ` (${info.authorizationError})` : ''}`;
  return `TLS: ${info.protocol}${info.cipher !== undefined ? `, ${info.cipher}` : ''}${alpn}, ${verdict}`;
}

/** A timeout that ends the wait for more data normally (idle), not as a failure. */
function isTimeout(err: unknown): boolean {
  return isSocklabError(err, 'SOCKLAB_ERR_TIMEOUT');
}

async function runTcp(options: ClientSessionOptions, io: Io, out: ClientOutput, mode: Mode): Promise<number> {
  const { endpoint } = options;
  const client = await connectTcp({
    host: endpoint.host,
    port: endpoint.port,
    ...(endpoint.path !== undefined ? { path: endpoint.path } : {}),
    ...(endpoint.tls === true ? { tls: options.tls ?? {} } : {}),
    connectTimeoutMs: options.timeoutMs,
    signal: io.signal,
  });
  const localAddress = client.localAddress();
  const local = endpoint.path !== undefined ? 'an unnamed socket' : formatAddress(localAddress);
  const remote = formatAddress({ ...endpoint, host: client.socket.remoteAddress ?? endpoint.host });
  const from =
    endpoint.path !== undefined
      ? `unix:${endpoint.path}`
      : formatHostPort(client.socket.remoteAddress ?? endpoint.host, endpoint.port);
  // JSON events in listen's words: open / message / close, with the transport and the peer.
  const closed = { event: 'close', transport: 'tcp', peer: from, by: 'server' } as const;
  out.note(`connected to ${remote} from ${local}`, {
    event: 'open',
    transport: 'tcp',
    peer: from,
    local: endpoint.path !== undefined ? '' : formatHostPort(localAddress.host, localAddress.port),
  });
  if (endpoint.tls === true) {
    const info = tlsInfo(client.socket as TLSSocket);
    out.note(describeTls(info), { event: 'tls', ...info });
    if (info.peerFingerprint256 !== undefined) {
      out.note(
        `server certificate: ${info.peerSubject ?? '(no subject)'}, SHA-256 fingerprint ${info.peerFingerprint256}`,
      );
    }
  }
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
      out.note(`${remote} closed the connection`, closed);
    } catch (err) {
      if (!isTimeout(err)) throw err;
      out.note(`nothing received for ${options.idleTimeoutMs} ms: leaving`, { event: 'idle' });
    }
  };

  try {
    if (mode === 'messages') {
      const replies = new ReplyReader(client, options.lines === true, io.signal);
      const remaining = (from: number) => plural(options.messages.length - from, 'message');
      if (options.waitReply && !(await readGreeting(replies, options, out, from))) {
        throw new SocklabError(
          'SOCKLAB_ERR_SOCKET',
          `${remote} closed the connection before the first message was sent; ${remaining(0)} not sent`,
        );
      }
      for (const [i, message] of options.messages.entries()) {
        await client.send(message);
        if (!options.waitReply) continue;
        const reply = await replies.next(options.timeoutMs).catch((err: unknown) => {
          if (isTimeout(err)) {
            throw new SocklabError(
              'SOCKLAB_ERR_TIMEOUT',
              `no reply from ${remote} within ${options.timeoutMs} ms${options.flags?.timeout ? ` (${options.flags.timeout})` : ''}`,
            );
          }
          throw err;
        });
        if (reply !== null) {
          await out.received(reply, { from, whole: true });
          continue;
        }
        // Closing instead of answering the last message is how a server takes an exit word
        // (seed 003's "exit"); before the last one, messages would be silently lost.
        if (i + 1 < options.messages.length) {
          throw new SocklabError(
            'SOCKLAB_ERR_SOCKET',
            `${remote} closed the connection before replying to ${quote(message)}; ${remaining(i + 1)} not sent`,
          );
        }
        out.note(`${remote} closed the connection`, closed);
        return 0;
      }
      // Whole lines already read, and a line begun, are shown before the rest of the stream.
      for (const rest of replies.leftover()) await out.received(rest.data, { from, whole: rest.whole });
      await client.end();
      out.note('sent FIN (half-close); reading until the server closes', { event: 'half-close' });
      await printRest();
      return 0;
    }
    if (mode === 'pipe') {
      // The two directions are independent, as in TCP itself: the server's FIN ends only what we
      // receive, so stdin is sent to its end whatever the server does; then we half-close.
      let read = 0;
      let sent = false;
      const sending = (
        io.stdinFile !== undefined
          ? pumpFile(io.stdinFile, client, io.signal, (n) => (read += n))
          : pumpStdin(io, (c) => {
              read += c.length;
              return client.send(c);
            })
      ).then(async () => {
        sent = true;
        if (io.signal.aborted) return;
        await client.end();
        out.note('stdin ended: sent FIN (half-close)', { event: 'half-close' });
      });
      try {
        // A reset is thrown by read() (before the server's FIN: data may be lost) or by a send;
        // a normal close (FIN) ends only the receiving side.
        await Promise.all([printRest(), sending]);
      } catch (err) {
        sending.catch(() => undefined);
        if (sent || !isSocklabError(err, 'SOCKLAB_ERR_SOCKET')) throw err;
        const unsent = read - client.bytesFlushed;
        throw new SocklabError(
          'SOCKLAB_ERR_SOCKET',
          `${err.message}: ${plural(unsent, 'byte')} read from stdin not sent, and the rest of stdin not read`,
          { cause: err },
        );
      }
      return 0;
    }
    // The prompt (readline and terminal handling) is loaded only when a terminal is there.
    const { runInteractive } = await import('./interactive.js');
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

/** Over TCP a server may greet first (seed 003's "Welcome!"): take that as the greeting. False: it closed. */
async function readGreeting(
  replies: ReplyReader,
  options: ClientSessionOptions,
  out: ClientOutput,
  from: string,
): Promise<boolean> {
  if (options.greetingWaitMs <= 0) return true;
  let greeting: Buffer | null;
  try {
    greeting = await replies.next(options.greetingWaitMs);
  } catch (err) {
    if (!isTimeout(err)) throw err;
    // A greeting need not be a whole line (seed 003 says "Welcome!" without one).
    const begun = replies.partial();
    if (begun === undefined) return true;
    greeting = begun;
  }
  if (greeting === null) return false;
  await out.received(greeting, { from, whole: true });
  return true;
}

/**
 * Replies to `-W`, one at a time: a whole line when replies are lines (what follows it is kept
 * for the next), otherwise whatever has arrived by the next read.
 */
class ReplyReader {
  readonly #decoder: Decoder | undefined;
  readonly #waiting: Buffer[] = [];

  constructor(
    private readonly client: TcpClient,
    lineFramed: boolean,
    private readonly signal: AbortSignal,
  ) {
    this.#decoder = lineFramed ? lines.createDecoder() : undefined;
  }

  /** The next reply, or null if the server closed first; SOCKLAB_ERR_TIMEOUT after `timeoutMs`. */
  async next(timeoutMs: number): Promise<Buffer | null> {
    const deadline = performance.now() + timeoutMs;
    const read = () =>
      this.client.read({ timeoutMs: Math.max(1, deadline - performance.now()), signal: this.signal });
    if (!this.#decoder) {
      const chunk = await read();
      return chunk === null ? null : Buffer.concat([chunk, this.client.readAvailable()]);
    }
    for (;;) {
      const line = this.#waiting.shift();
      if (line !== undefined) return line;
      const chunk = await read();
      if (chunk === null) return this.#decoder.end()[0] ?? null;
      this.#waiting.push(...this.#decoder.push(chunk));
    }
  }

  /** The start of a line read so far (taken: the next line starts after it), if any. */
  partial(): Buffer | undefined {
    const begun = this.#decoder?.end()[0];
    return begun && begun.length > 0 ? begun : undefined;
  }

  /** What was read and not handed out: whole lines, then the start of the next line. */
  leftover(): { data: Buffer; whole: boolean }[] {
    const whole = this.#waiting.splice(0).map((data) => ({ data, whole: true }));
    const begun = this.partial();
    return begun ? [...whole, { data: begun, whole: false }] : whole;
  }
}

/** `'ping'`: a message as an error names it (its line ending left out, long ones cut). */
function quote(message: Buffer): string {
  const text = message.toString('utf8').replace(/\r?\n$/, '');
  const shown = text.length > 40 ? `${text.slice(0, 40)}…` : text;
  // eslint-disable-next-line no-control-regex -- control characters are what is escaped
  return `'${shown.replace(/[\x00-\x1f\x7f]/g, (c) => `\\x${c.charCodeAt(0).toString(16).padStart(2, '0')}`)}'`;
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
async function pumpFile(
  fd: number,
  client: TcpClient,
  signal: AbortSignal,
  onRead: (n: number) => void,
): Promise<void> {
  const buffer = Buffer.allocUnsafe(FILE_CHUNK_BYTES);
  while (!signal.aborted) {
    const n = readSync(fd, buffer, 0, buffer.length, null);
    if (n === 0) return;
    onRead(n);
    await client.sendAll(n === buffer.length ? buffer : buffer.subarray(0, n));
  }
}

async function runUdp(options: ClientSessionOptions, io: Io, out: ClientOutput, mode: Mode): Promise<number> {
  const { endpoint } = options;
  const client = await openUdp({
    host: endpoint.host,
    port: endpoint.port,
    ...(endpoint.path !== undefined ? { path: endpoint.path } : {}),
    ...(options.bindPath !== undefined ? { bindPath: options.bindPath } : {}),
    signal: io.signal,
  });
  const remote = formatAddress(endpoint);
  const localAddress = client.localAddress();
  const peer = client.socket.remoteAddress();
  out.note(`sending to ${remote} from ${formatAddress(localAddress)}`, {
    event: 'open',
    transport: 'udp',
    peer: formatHostPort(peer.address, peer.port),
    local: localAddress.path ?? formatHostPort(localAddress.host, localAddress.port),
  });
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
                `no reply from ${remote} within ${options.timeoutMs} ms (${tries} ${tries === 1 ? 'try' : 'tries'}; UDP may lose datagrams${options.flags?.retries ? `: try ${options.flags.retries}` : ''})`,
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
    const { runInteractive } = await import('./interactive.js');
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
