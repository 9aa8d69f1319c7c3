/**
 * TCP sessions: stdin and stdout joined to one connection (connect mode, `-l` without `-k`) or
 * to many (`-lk`: stdin to every client, every client to stdout), or clients joined to each other
 * (`--broker`, `--chat`).
 *
 * When a session ends (one connection):
 * - stdin's end half-closes the connection (not with --no-shutdown); with --send-only it ends the
 *   session.
 * - the connection's end ends a client's session once stdin has ended too (with --recv-only at
 *   once), and a server's (-l) at once, as in ncat. ncat 7.93 in connect mode exits on stdin's end
 *   without waiting for the reply (a known bug); socklab waits for the server's end.
 */
import { once } from 'node:events';
import type net from 'node:net';
import { formatHostPort } from '../address.js';
import { describeSystemError, SocklabError } from '../errors.js';
import { execError, runForSocket } from '../exec/exec.js';
import { plainAddress } from '../server/access.js';
import type { NcContext } from './context.js';
import { StdinPump } from './stdin.js';

function peerOf(socket: net.Socket): string {
  // A Unix socket's peer has no address.
  if (socket.remoteAddress === undefined) return 'the peer';
  return formatHostPort(plainAddress(socket.remoteAddress), socket.remotePort ?? 0);
}

function writeTo(socket: net.Socket, data: Buffer): Promise<void> | void {
  if (socket.destroyed || !socket.writable) return;
  if (!socket.write(data))
    return once(socket, 'drain').then(
      () => undefined,
      () => undefined,
    );
}

/** stdout, with backpressure: a promise when it is full. */
function toStdout(ctx: NcContext, data: Buffer): Promise<void> | void {
  const out = ctx.io.stdout;
  if (!out.write(data))
    return once(out, 'drain').then(
      () => undefined,
      () => undefined,
    );
}

function resetError(peer: string, err: unknown): SocklabError {
  return new SocklabError('SOCKLAB_ERR_SOCKET', `connection with ${peer}: ${describeSystemError(err)}`, {
    cause: err,
  });
}

/** One connection joined to stdin and stdout until both directions are done. */
export function runSingle(ctx: NcContext, socket: net.Socket): void {
  const { options } = ctx;
  const peer = peerOf(socket);
  let socketEnded = false;
  let stdinEnded = options.recvOnly;
  const done = () => {
    stdin.stop();
    // What was read from stdin goes out before the connection is closed (end, not destroy).
    if (socket.writable && !socket.writableEnded && !options.noShutdown) socket.end(() => ctx.finish(0));
    // Ended already, not yet all out (TLS encrypts and writes later): destroying now would lose it.
    else if (socket.writableEnded && !socket.writableFinished && !socket.destroyed)
      socket.once('finish', () => ctx.finish(0));
    else if (socket.writableNeedDrain) socket.once('drain', () => ctx.finish(0));
    else ctx.finish(0);
  };
  const stdin = new StdinPump(
    ctx,
    (chunk) => {
      const out = ctx.outgoing(chunk);
      ctx.recorder.record(out);
      return writeTo(socket, out);
    },
    () => {
      stdinEnded = true;
      if (options.sendOnly) {
        socket.end(() => done());
        return;
      }
      if (!options.noShutdown) socket.end();
      if (socketEnded) done();
    },
  );
  socket.on('data', (chunk: Buffer) => {
    ctx.touch();
    if (options.sendOnly) return;
    ctx.recorder.record(chunk);
    const full = toStdout(ctx, chunk);
    if (full) {
      socket.pause();
      void full.then(() => socket.resume());
    }
  });
  socket.on('end', () => {
    socketEnded = true;
    // ncat: a server (-l without -k) is done when its client is; a client waits for stdin too.
    if (options.listen || options.recvOnly || stdinEnded) done();
  });
  socket.on('error', (err) => ctx.finish(resetError(peer, err)));
  socket.on('close', () => {
    // Closed without an end (destroyed by us at the finish): nothing more to do.
    if (!socketEnded && !ctx.done && !socket.errored) ctx.finish(0);
  });
  if (!options.recvOnly) stdin.start();
  void ctx.finished
    .finally(() => {
      stdin.stop();
      socket.destroy();
    })
    .catch(() => undefined);
}

/** A program for one connection (--exec, --sh-exec). */
export function runExecFor(ctx: NcContext, socket: net.Socket): Promise<void> {
  const exec = ctx.options.exec!;
  return runForSocket(
    socket,
    exec,
    {
      remoteAddress: socket.remoteAddress ?? '',
      remotePort: socket.remotePort ?? 0,
      localAddress: socket.localAddress ?? '',
      localPort: socket.localPort ?? 0,
      proto: 'TCP',
    },
    ctx.crlf ? { transform: (chunk) => ctx.outgoing(chunk) } : {},
  ).catch((err: unknown) => {
    throw err instanceof SocklabError ? err : execError(exec, err);
  });
}

interface Client {
  readonly socket: net.Socket;
  readonly peer: string;
  /** Chat's user number (ncat: the client's file descriptor). */
  readonly user: number;
}

/**
 * Many clients (`-lk`, `--broker`, `--chat`). `userBase`: the first chat user number (ncat's
 * first free file descriptor: 3 + the number of listening sockets).
 */
export class StreamHub {
  readonly #clients = new Map<net.Socket, Client>();
  readonly #stdin: StdinPump;
  #stdinEnded = false;

  constructor(
    readonly ctx: NcContext,
    readonly userBase: number,
  ) {
    this.#stdin = new StdinPump(
      ctx,
      (chunk) => this.#fromStdin(chunk),
      () => this.#stdinEnd(),
    );
    void ctx.finished
      .finally(() => {
        this.#stdin.stop();
        for (const c of this.#clients.keys()) c.destroy();
      })
      .catch(() => undefined);
  }

  get size(): number {
    return this.#clients.size;
  }

  #nextUser(): number {
    const taken = new Set([...this.#clients.values()].map((c) => c.user));
    let n = this.userBase;
    while (taken.has(n)) n += 1;
    return n;
  }

  #chat(text: string, except?: Client): void {
    void this.#broadcast(Buffer.from(text), except);
  }

  #broadcast(data: Buffer, except?: Client): Promise<void> | void {
    const waits: Promise<void>[] = [];
    for (const client of this.#clients.values()) {
      if (client === except) continue;
      const full = writeTo(client.socket, data);
      if (full) waits.push(full);
    }
    if (waits.length > 0) return Promise.all(waits).then(() => undefined);
  }

  #fromStdin(chunk: Buffer): Promise<void> | void {
    const { options } = this.ctx;
    let out = this.ctx.outgoing(chunk);
    if (options.chat) out = Buffer.concat([Buffer.from('<user0> '), chatEscape(out)]);
    if (!options.broker) this.ctx.recorder.record(out);
    return this.#broadcast(out);
  }

  #stdinEnd(): void {
    this.#stdinEnded = true;
    const { options } = this.ctx;
    if (options.broker) return;
    if (options.sendOnly) {
      // Nothing more to send, nothing to receive: done once what is queued has gone out.
      void Promise.all([...this.#clients.keys()].map((s) => new Promise<void>((r) => s.end(() => r())))).then(
        () => this.ctx.finish(0),
      );
      return;
    }
    if (!options.noShutdown) for (const c of this.#clients.keys()) c.end();
  }

  add(socket: net.Socket): void {
    const { ctx } = this;
    const { options } = ctx;
    const client: Client = { socket, peer: peerOf(socket), user: this.#nextUser() };
    this.#clients.set(socket, client);
    socket.on('error', () => undefined); // a reset ends this client only
    socket.on('data', (chunk: Buffer) => {
      ctx.touch();
      if (options.sendOnly) return;
      if (options.broker) {
        const out = options.chat
          ? Buffer.concat([Buffer.from(`<user${client.user}> `), chatEscape(chunk)])
          : chunk;
        const full = this.#broadcast(out, client);
        if (full) {
          socket.pause();
          void full.then(() => socket.resume());
        }
        return;
      }
      ctx.recorder.record(chunk);
      const full = toStdout(ctx, chunk);
      if (full) {
        socket.pause();
        void full.then(() => socket.resume());
      }
    });
    socket.on('end', () => socket.end());
    socket.once('close', () => {
      this.#clients.delete(socket);
      if (options.chat) this.#chat(`<announce> <user${client.user}> is disconnected.\n`);
    });
    if (options.chat) {
      const others = [...this.#clients.values()].filter((c) => c !== client);
      const list =
        others.length === 0 ? 'nobody' : others.map((c) => `${hostOf(c.peer)} as <user${c.user}>`).join(', ');
      this.#chat(
        `<announce> ${hostOf(client.peer)} is connected as <user${client.user}>.\n<announce> already connected: ${list}.\n`,
      );
    }
    if (!options.recvOnly && !this.#stdinEnded) this.#stdin.start();
  }
}

function hostOf(peer: string): string {
  return peer.replace(/:\d+$/, '').replace(/^\[(.*)\]$/, '$1');
}

/** ncat's chat escapes control characters (not CR, LF, tab) as \ooo. */
export function chatEscape(data: Buffer): Buffer {
  let plain = true;
  for (const b of data) if (!(b >= 0x20 && b < 0x7f) && b !== 0x0d && b !== 0x0a && b !== 0x09) plain = false;
  if (plain) return data;
  let out = '';
  for (const b of data) {
    out +=
      (b >= 0x20 && b < 0x7f) || b === 0x0d || b === 0x0a || b === 0x09
        ? String.fromCharCode(b)
        : `\\${b.toString(8).padStart(3, '0')}`;
  }
  return Buffer.from(out, 'latin1');
}
