/**
 * UDP sessions: connect mode (each read of stdin is one datagram; stdin's end ends the session,
 * as in ncat: UDP has no half-close) and listen mode (the first allowed sender becomes the peer,
 * as ncat's "connected UDP"; with --exec one program per sender, many with -k).
 */
import { isIP } from 'node:net';
import { formatAddress, formatHostPort } from '../address.js';
import { connectDatagram } from '../core/connect.js';
import { openDatagramSocket, type DatagramSender, type DatagramSocket } from '../core/datagram.js';
import { bindDatagram } from '../core/listen.js';
import { datagramType } from '../core/resolve.js';
import { describeSystemError, SocklabError } from '../errors.js';
import { execError, startChild } from '../exec/exec.js';
import { plainAddress } from '../server/access.js';
import type { NcContext } from './context.js';
import { StdinPump } from './stdin.js';

/** A UDP socket connected to the target, bound first to -s/-p when given. */
export async function openUdpClient(ctx: NcContext, address: string): Promise<DatagramSocket> {
  const { options } = ctx;
  if (options.sourceHost === undefined && options.sourcePort === undefined) {
    return connectDatagram({ host: address, port: options.port });
  }
  const socket = openDatagramSocket({ type: datagramType(address), batched: false });
  const where = formatAddress({ transport: 'udp', host: address, port: options.port });
  try {
    await socket.bind(
      options.sourceHost ?? (datagramType(address) === 'udp6' ? '::' : '0.0.0.0'),
      options.sourcePort ?? 0,
    );
    await socket.connect(address, options.port);
  } catch (err) {
    socket.close();
    throw new SocklabError(
      'SOCKLAB_ERR_CONNECT',
      `cannot open udp to ${where}: ${describeSystemError(err)}`,
      { cause: err },
    );
  }
  return socket;
}

function refused(where: string, err: unknown): SocklabError {
  return new SocklabError('SOCKLAB_ERR_CONNECT', `no server at ${where}: ${describeSystemError(err)}`, {
    cause: err,
  });
}

/** -z over UDP: a datagram, then ICMP "port unreachable" (exit 1) or silence (open, exit 0). */
export async function probeUdp(ctx: NcContext, address: string): Promise<number> {
  const socket = await openUdpClient(ctx, address);
  const waitMs = ctx.options.connectTimeoutMs ?? 1000;
  try {
    return await new Promise<number>((resolve) => {
      const timer = setTimeout(() => resolve(0), waitMs);
      socket.onError((err) => {
        clearTimeout(timer);
        ctx.log(`udp ${formatHostPort(address, ctx.options.port)}: ${describeSystemError(err)}`);
        resolve(1); // port unreachable (ECONNREFUSED), or any other error: not open
      });
      socket.onMessage(() => {
        clearTimeout(timer);
        resolve(0);
      });
      socket.send(Buffer.alloc(1));
    });
  } finally {
    socket.close();
  }
}

/** Connect mode over UDP. */
export function runUdpClient(ctx: NcContext, socket: DatagramSocket, where: string): void {
  const { options } = ctx;
  const stdin = new StdinPump(
    ctx,
    (chunk) => {
      const out = ctx.outgoing(chunk);
      ctx.recorder.record(out);
      socket.send(out);
    },
    () => ctx.finish(0),
  );
  socket.onMessage((data) => {
    ctx.touch();
    if (options.sendOnly) return;
    ctx.recorder.record(data);
    ctx.io.stdout.write(Buffer.from(data));
  });
  socket.onError((err) => ctx.finish(refused(where, err)));
  if (!options.recvOnly) stdin.start();
  void ctx.finished
    .finally(() => {
      stdin.stop();
      socket.close();
    })
    .catch(() => undefined);
}

/** Listen mode over UDP, on one or more bound sockets. */
export async function runUdpServer(
  ctx: NcContext,
  hosts: readonly string[],
  port: number,
  onListening: (where: string[]) => void,
  /** -U: a Unix datagram socket at this path instead (`hosts` unused). */
  path?: string,
): Promise<void> {
  const { options } = ctx;
  const sockets: DatagramSocket[] = [];
  if (path !== undefined) sockets.push(await bindDatagram({ host: '', port: 0, path, batched: false }));
  for (const host of path === undefined ? hosts : []) {
    const socket = await bindDatagram({ host, port: port, batched: false });
    sockets.push(socket);
    port = socket.address().port;
  }
  void ctx.finished.finally(() => sockets.forEach((s) => s.close())).catch(() => undefined);
  onListening(
    sockets.map((s) =>
      path !== undefined
        ? formatAddress({ transport: 'udp', host: '', port: 0, path })
        : formatAddress({ transport: 'udp', host: s.address().address, port: s.address().port }),
    ),
  );

  let peer: { socket: DatagramSocket; to: DatagramSender; key: string } | undefined;
  const children = new Map<string, { write: (d: Buffer) => void }>();
  const stdin = new StdinPump(
    ctx,
    (chunk) => {
      if (!peer) return;
      const out = ctx.outgoing(chunk);
      ctx.recorder.record(out);
      peer.socket.sendTo(out, peer.to);
    },
    // As ncat 7.93: the end of stdin does not end a UDP server (there is nothing to half-close,
    // and the peer may still send); Ctrl-C or -i does.
    () => undefined,
  );
  void ctx.finished.finally(() => stdin.stop()).catch(() => undefined);

  const admit = (from: DatagramSender): boolean => {
    if (options.maxConnections !== undefined && children.size + (peer ? 1 : 0) >= options.maxConnections) {
      ctx.log(`dropped a datagram from ${senderName(from)}: --max-conns ${options.maxConnections} reached`);
      return false;
    }
    if (!ctx.access.allows(from.address)) {
      ctx.log(`dropped a datagram from ${senderName(from)}: not allowed`);
      return false;
    }
    return true;
  };

  for (const socket of sockets) {
    socket.onMessage((data) => {
      const s = socket.sender();
      const from = { address: s.address, port: s.port };
      const key = `${from.address}|${from.port}`;
      if (options.family === 6 && /^::ffff:/i.test(from.address)) return; // -6: not IPv4 senders
      ctx.touch();
      if (options.exec) {
        let child = children.get(key);
        if (!child) {
          if (!options.keepOpen && children.size > 0) return; // one sender without -k
          if (!admit(from)) return;
          child = startUdpChild(ctx, socket, from, key, children);
        }
        child.write(Buffer.from(data));
        return;
      }
      if (!peer) {
        if (!admit(from)) return;
        peer = { socket, to: from, key };
        ctx.log(`datagrams from ${senderName(from)}`);
        if (from.address === '' && from.port === 0)
          ctx.log('that Unix socket is not bound to a name: nothing can be sent back to it');
        if (!options.recvOnly) stdin.start();
      }
      if (peer.key !== key || peer.socket !== socket) return; // ncat's socket is connected to the peer
      if (options.sendOnly) return;
      ctx.recorder.record(data);
      ctx.io.stdout.write(Buffer.from(data));
    });
    socket.onError((err) => ctx.log(`udp: ${describeSystemError(err)}`));
  }
}

/** A sender as -v names it: HOST:PORT, or a Unix socket's path (`@name` abstract). */
function senderName(from: DatagramSender): string {
  if (from.port === 0 && isIP(plainAddress(from.address)) === 0)
    return from.address === '' ? 'an unnamed Unix socket' : `unix:${from.address}`;
  return formatHostPort(plainAddress(from.address), from.port);
}

function startUdpChild(
  ctx: NcContext,
  socket: DatagramSocket,
  from: DatagramSender,
  key: string,
  children: Map<string, { write: (d: Buffer) => void }>,
): { write: (d: Buffer) => void } {
  const exec = ctx.options.exec!;
  const local = socket.address();
  const entry = { write: (_d: Buffer) => undefined as void };
  children.set(key, entry);
  let child;
  try {
    child = startChild(exec, {
      remoteAddress: from.address,
      remotePort: from.port,
      localAddress: local.address,
      localPort: local.port,
      proto: 'UDP',
    });
  } catch (err) {
    ctx.io.stderr.write(`socklab nc: ${execError(exec, err).message}\n`);
    return entry;
  }
  const proc = child;
  proc.stdin!.on('error', () => undefined);
  entry.write = (d) => {
    if (proc.stdin!.writable) proc.stdin!.write(d);
  };
  proc.stdout!.on('data', (chunk: Buffer) => socket.sendTo(ctx.outgoing(chunk), from));
  proc.once('error', (err) => {
    ctx.io.stderr.write(`socklab nc: ${execError(exec, err).message}\n`);
    children.delete(key);
    if (!ctx.options.keepOpen) ctx.finish(1);
  });
  proc.once('close', () => {
    children.delete(key);
    if (!ctx.options.keepOpen) ctx.finish(0);
  });
  void ctx.finished.finally(() => proc.kill('SIGTERM')).catch(() => undefined);
  return entry;
}
