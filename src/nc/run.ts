/**
 * `socklab nc`: sets up what a session needs (the access rules, the -o/-x files), then connects
 * or listens, TCP or UDP, and returns the exit status when the session is over.
 */
import { isIP } from 'node:net';
import type net from 'node:net';
import { formatAddress, formatHostPort } from '../address.js';
import type { SessionIo } from '../client/io.js';
import { connectDatagram, dialStream } from '../core/connect.js';
import { listenStream } from '../core/listen.js';
import { resolveAll } from '../core/resolve.js';
import { tlsInfo, tlsServerIdentity, type TlsClientOptions, type TlsServerOptions } from '../core/tls.js';
import { isSocklabError, SocklabError } from '../errors.js';
import { buildAccessControl, plainAddress } from '../server/access.js';
import { NcContext } from './context.js';
import { openUdpClient, probeUdp, runUdpClient, runUdpServer } from './datagram.js';
import type { NcOptions } from './options.js';
import { Recorder } from './record.js';
import { runExecFor, runSingle, StreamHub } from './stream.js';

export type { NcOptions } from './options.js';

/** The addresses to try or to bind, -4/-6 applied. */
async function addressesOf(host: string, family: 4 | 6 | undefined, attempt: string): Promise<string[]> {
  const all = await resolveAll(host, { attempt });
  const fitting = all.filter((a) => family === undefined || isIP(a) === family);
  if (fitting.length === 0)
    throw new SocklabError('SOCKLAB_ERR_DNS', `${attempt}: '${host}' has no IPv${family} address`);
  return fitting;
}

function isLoopback(host: string): boolean {
  const plain = plainAddress(host);
  return plain === '::1' || /^127\./.test(plain) || plain === 'localhost';
}

export async function runNc(options: NcOptions, io: SessionIo): Promise<number> {
  const access = await buildAccessControl(options.access);
  const recorder = await Recorder.open({
    ...(options.outputFile !== undefined ? { output: options.outputFile } : {}),
    ...(options.hexFile !== undefined ? { hex: options.hexFile } : {}),
    append: options.appendOutput,
  });
  const ctx = new NcContext(options, io, recorder, access);
  const onAbort = () => ctx.finish(130);
  if (io.signal.aborted) onAbort();
  else io.signal.addEventListener('abort', onAbort, { once: true });
  try {
    if (options.listen) await listen(ctx);
    else await connect(ctx);
    const code = await ctx.finished;
    // What was received is written out before the process exits.
    await new Promise<void>((resolve) => io.stdout.write('', () => resolve()));
    return code;
  } catch (err) {
    ctx.finish(0);
    if (options.zero && isSocklabError(err) && !err.isUsage) {
      ctx.log(err.message);
      return 1;
    }
    throw err;
  } finally {
    io.signal.removeEventListener('abort', onAbort);
    await recorder.close();
  }
}

/** The client's TLS settings for `host`: a host name given is what the certificate must match. */
function clientTls(ctx: NcContext, host: string): TlsClientOptions | undefined {
  const tls = ctx.options.tls;
  if (tls === undefined || !('client' in tls)) return undefined;
  const servername = tls.client.servername ?? (host !== '' && isIP(host) === 0 ? host : undefined);
  return { ...tls.client, ...(servername !== undefined ? { servername } : {}) };
}

/** -v: what the TLS handshake agreed on, and whether the certificate was checked (ncat says so too). */
function logTls(ctx: NcContext, socket: net.Socket): void {
  if (ctx.options.verbose === 0 || !('encrypted' in socket)) return;
  const info = tlsInfo(socket as Parameters<typeof tlsInfo>[0]);
  const verdict = info.authorized
    ? 'certificate verified'
    : `certificate not verified (${info.authorizationError ?? 'not checked'}; --ssl-verify checks it)`;
  ctx.log(
    `TLS: ${info.protocol}, ${info.cipher ?? '?'}${info.alpnProtocol !== undefined ? `, ALPN ${info.alpnProtocol}` : ''}, ${verdict}`,
  );
  ctx.log(
    `server certificate: ${info.peerSubject ?? '(no subject)'}, SHA-256 fingerprint ${info.peerFingerprint256 ?? '?'}`,
  );
}

/** A connected stream (TCP or Unix, TLS or not): -z, --exec, or stdin and stdout. */
function startStream(ctx: NcContext, socket: net.Socket): void {
  const { options } = ctx;
  if (options.zero) {
    socket.destroy();
    ctx.finish(0);
    return;
  }
  if (options.exec) {
    runExecFor(ctx, socket).then(
      () => ctx.finish(0),
      (err: unknown) => ctx.finish(err instanceof Error ? err : new Error(String(err))),
    );
    void ctx.finished.finally(() => socket.destroy()).catch(() => undefined);
    return;
  }
  runSingle(ctx, socket);
}

async function connectUnix(ctx: NcContext, path: string): Promise<void> {
  const { options } = ctx;
  const target = formatAddress({ transport: options.transport, host: '', port: 0, path });
  if (options.transport === 'udp') {
    if (options.exec)
      throw new SocklabError('SOCKLAB_ERR_USAGE', '--exec with -u is for servers (-l) in socklab nc');
    const socket = await connectDatagram({
      host: '',
      port: 0,
      path,
      batched: false,
      ...(options.sourceHost !== undefined ? { bindPath: options.sourceHost } : {}),
    });
    ctx.log(`sending to ${target} from ${socket.address().address || 'an unnamed socket'}`);
    runUdpClient(ctx, socket, target);
    return;
  }
  const tls = clientTls(ctx, '');
  const dialing = dialStream({
    host: '',
    port: 0,
    path,
    allowHalfOpen: true,
    ...(tls !== undefined ? { tls } : {}),
    ...(options.connectTimeoutMs !== undefined ? { timeoutMs: options.connectTimeoutMs } : {}),
    signal: ctx.io.signal,
  });
  await dialing.connected;
  ctx.log(`connected to ${target}`);
  logTls(ctx, dialing.socket);
  startStream(ctx, dialing.socket);
}

async function connect(ctx: NcContext): Promise<void> {
  const { options } = ctx;
  if (options.unixPath !== undefined) {
    await connectUnix(ctx, options.unixPath);
    return;
  }
  const host = options.host!;
  const target = formatAddress({ transport: options.transport, host, port: options.port });
  const addresses = await addressesOf(host, options.family, `cannot connect to ${target}`);
  if (options.transport === 'udp') {
    const address = addresses[0]!;
    if (options.zero) {
      ctx.finish(await probeUdp(ctx, address));
      return;
    }
    const socket = await openUdpClient(ctx, address);
    ctx.log(`sending to ${formatAddress({ transport: 'udp', host: address, port: options.port })}`);
    if (options.exec) {
      ctx.finish(new SocklabError('SOCKLAB_ERR_USAGE', '--exec with -u is for servers (-l) in socklab nc'));
      socket.close();
      return;
    }
    runUdpClient(ctx, socket, target);
    return;
  }
  const tls = clientTls(ctx, host);
  // `localhost` is tried at every address it has (127.0.0.1, then ::1), as ncat does.
  let socket: net.Socket | undefined;
  let lastError: unknown;
  for (const address of addresses) {
    const where = formatAddress({
      transport: 'tcp',
      host: address,
      port: options.port,
      ...(tls !== undefined ? { tls: true } : {}),
    });
    const dialing = dialStream({
      host: address,
      port: options.port,
      allowHalfOpen: true,
      where,
      ...(tls !== undefined ? { tls } : {}),
      ...(options.connectTimeoutMs !== undefined ? { timeoutMs: options.connectTimeoutMs } : {}),
      ...(options.sourceHost !== undefined ? { localAddress: options.sourceHost } : {}),
      ...(options.sourcePort !== undefined ? { localPort: options.sourcePort } : {}),
      signal: ctx.io.signal,
    });
    try {
      await dialing.connected;
      socket = dialing.socket;
      break;
    } catch (err) {
      lastError = err;
      // A server that answered (a refused certificate, a failed handshake) is not tried again elsewhere.
      if (isSocklabError(err, 'SOCKLAB_ERR_ABORTED') || isSocklabError(err, 'SOCKLAB_ERR_TLS')) break;
    }
  }
  if (!socket) throw lastError;
  ctx.log(
    `connected to ${formatAddress({ transport: 'tcp', host: socket.remoteAddress ?? host, port: options.port, ...(tls !== undefined ? { tls: true } : {}) })}`,
  );
  logTls(ctx, socket);
  startStream(ctx, socket);
}

/** The server's TLS settings, its certificate made or read now so that -v can show its fingerprint. */
async function serverTls(ctx: NcContext): Promise<TlsServerOptions | undefined> {
  const tls = ctx.options.tls;
  if (tls === undefined || !('server' in tls)) return undefined;
  const identity = await tlsServerIdentity(tls.server);
  ctx.log(
    `TLS certificate: ${identity.subject}${identity.selfSigned ? ' (temporary, self-signed: --ssl-cert and --ssl-key give a permanent one)' : ''}`,
  );
  ctx.log(`TLS certificate SHA-256 fingerprint: ${identity.fingerprint256}`);
  return { ...tls.server, cert: identity.cert, key: identity.key };
}

/** A refused client: reset where the socket can be (TCP), else closed (TLS, Unix). */
function refuse(socket: net.Socket): void {
  try {
    socket.resetAndDestroy();
  } catch {
    socket.destroy();
  }
}

async function listen(ctx: NcContext): Promise<void> {
  const { options, io } = ctx;
  const path = options.unixPath;
  // No address: every interface. One IPv6 socket takes IPv4 clients too (as ::ffff:a.b.c.d);
  // ncat opens two sockets (0.0.0.0 and ::), which is what chat's user numbers count.
  const hosts =
    path !== undefined
      ? []
      : options.host !== undefined
        ? await addressesOf(
            options.host,
            options.family,
            `cannot listen on ${formatAddress({ transport: options.transport, host: options.host, port: options.port })}`,
          )
        : [options.family === 4 ? '0.0.0.0' : '::'];
  const listenerCount =
    path !== undefined ? 1 : options.host === undefined && options.family === undefined ? 2 : hosts.length;
  if (options.exec && !hosts.every(isLoopback)) {
    io.stderr.write(
      `socklab nc: warning: anyone who can reach ${hosts.map((h) => formatHostPort(h, options.port)).join(', ')} can run '${options.exec.command}' (--${options.exec.kind === 'sh' ? 'sh-exec' : 'exec'})\n`,
    );
  }
  const announce = (where: string[]) => {
    for (const w of where) ctx.log(`listening on ${w}`);
    if (options.test) io.stderr.write('NCAT TEST: LISTEN\n');
  };
  if (options.transport === 'udp') {
    await runUdpServer(ctx, hosts, options.port, announce, path);
    return;
  }
  const tls = await serverTls(ctx);

  const servers: net.Server[] = [];
  const hub = options.keepOpen && !options.exec ? new StreamHub(ctx, 3 + listenerCount) : undefined;
  let children = 0;
  let taken = false;
  const stopListening = () => servers.forEach((s) => s.close());
  void ctx.finished.finally(stopListening).catch(() => undefined);

  const onConnection = (socket: net.Socket) => {
    const peer =
      path !== undefined
        ? 'a client'
        : formatHostPort(plainAddress(socket.remoteAddress ?? '?'), socket.remotePort ?? 0);
    if (ctx.done || (taken && !options.keepOpen)) {
      socket.destroy();
      return;
    }
    if (options.family === 6 && /^::ffff:/i.test(socket.remoteAddress ?? '')) {
      socket.destroy(); // -6: the dual-stack socket took an IPv4 client
      return;
    }
    ctx.touch();
    const current = hub ? hub.size : children + (taken ? 1 : 0);
    if (options.maxConnections !== undefined && current >= options.maxConnections) {
      ctx.log(`refused ${peer}: --max-conns ${options.maxConnections} reached`);
      refuse(socket);
      return;
    }
    if (path === undefined && !ctx.access.allows(socket.remoteAddress ?? '')) {
      ctx.log(`refused ${peer}: not allowed`);
      refuse(socket);
      return;
    }
    ctx.log(`connection from ${peer}`);
    if (options.exec) {
      children += 1;
      if (!options.keepOpen) {
        taken = true;
        stopListening();
      }
      runExecFor(ctx, socket).then(
        () => {
          children -= 1;
          if (!options.keepOpen) ctx.finish(0);
        },
        (err: unknown) => {
          children -= 1;
          io.stderr.write(`socklab nc: ${err instanceof Error ? err.message : String(err)}\n`);
          if (!options.keepOpen) ctx.finish(1);
        },
      );
      return;
    }
    if (hub) {
      hub.add(socket);
      return;
    }
    taken = true;
    stopListening();
    runSingle(ctx, socket);
  };
  // A client whose handshake failed is dropped alone; the server goes on waiting.
  const onTlsError = (_peer: string, err: SocklabError) => ctx.log(err.message);

  if (path !== undefined) {
    servers.push(
      await listenStream({ host: '', port: 0, path, onConnection, ...(tls ? { tls, onTlsError } : {}) }),
    );
    announce([formatAddress({ transport: 'tcp', host: '', port: 0, path })]);
    return;
  }
  let port = options.port;
  for (const host of hosts) {
    const server = await listenStream({ host, port, onConnection, ...(tls ? { tls, onTlsError } : {}) });
    servers.push(server);
    const a = server.address() as net.AddressInfo;
    port = a.port;
  }
  announce(
    servers.map((s) => {
      const a = s.address() as net.AddressInfo;
      return formatAddress({
        transport: 'tcp',
        host: a.address,
        port: a.port,
        ...(tls ? { tls: true } : {}),
      });
    }),
  );
}
