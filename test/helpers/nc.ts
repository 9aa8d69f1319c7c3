/**
 * The same scenario against real ncat (Debian's /usr/bin/ncat) and `socklab nc`: each
 * implementation started the same way, with the same argv. Servers are started on a port that
 * was free a moment ago (ncat cannot report one it got from port 0), with ncat's hidden `--test`
 * flag, which both print as `NCAT TEST: LISTEN` once listening; a server that lost the port race
 * is started again on another port.
 */
import dgram from 'node:dgram';
import { once } from 'node:events';
import net from 'node:net';
import { fileURLToPath } from 'node:url';
import { BIN } from './cli.js';
import { PYTHON } from './python.js';
import { freePort } from './ports.js';
import { findExecutable, runProcess, startProcess, type ProcessResult, type Spawned } from './spawn.js';

export interface NcImpl {
  readonly name: 'ncat' | 'socklab';
  readonly command: string;
  readonly prefix: readonly string[];
}

export const SOCKLAB_NC: NcImpl = { name: 'socklab', command: process.execPath, prefix: [BIN, 'nc'] };

/** socklab, and ncat when it is installed (CI installs it: .ci/run). */
export async function ncImpls(): Promise<NcImpl[]> {
  const ncat = (await findExecutable('/usr/bin/ncat')) ?? (await findExecutable('ncat'));
  return ncat ? [{ name: 'ncat', command: ncat, prefix: [] }, SOCKLAB_NC] : [SOCKLAB_NC];
}

/**
 * Through test/fixtures/peers/pipe-stdin.py: the program's stdin is a real pipe, as from a shell
 * (Node would give it a socketpair, on which ncat behaves differently).
 */
const PIPE_STDIN = fileURLToPath(new URL('../../../test/fixtures/peers/pipe-stdin.py', import.meta.url));

function argv(impl: NcImpl, args: readonly string[]): string[] {
  return ['-u', '-B', PIPE_STDIN, impl.command, ...impl.prefix, ...args];
}

export function startNc(impl: NcImpl, args: readonly string[], lifetimeMs = 30_000): Spawned {
  return startProcess(PYTHON, argv(impl, args), { lifetimeMs });
}

export function runNc(
  impl: NcImpl,
  args: readonly string[],
  options: { input?: string | Buffer; timeoutMs?: number } = {},
): Promise<ProcessResult> {
  return runProcess(PYTHON, argv(impl, args), {
    timeoutMs: options.timeoutMs ?? 15_000,
    lifetimeMs: (options.timeoutMs ?? 15_000) + 5_000,
    ...(options.input !== undefined ? { input: options.input } : {}),
  });
}

export interface NcServer extends Spawned {
  readonly port: number;
}

const IN_USE = /address already in use/i;

/** `impl -l ... PORT --test`, resolved once it listens. `args(port)` is the argv without --test. */
export async function listenNc(
  impl: NcImpl,
  transport: 'tcp' | 'udp',
  args: (port: number) => string[],
): Promise<NcServer> {
  let last: unknown;
  for (let attempt = 1; attempt <= 5; attempt++) {
    const port = await freePort(transport);
    const proc = startNc(impl, [...args(port), '--test']);
    try {
      await proc.waitFor('NCAT TEST: LISTEN', 'stderr', 10_000);
      return Object.assign(proc, { port });
    } catch (err) {
      last = err;
      await proc.stop('SIGKILL');
      if (!IN_USE.test(proc.stderr())) throw err;
    }
  }
  throw last;
}

/** Whether `proc` is still running `ms` after now (the other side has just closed). */
export async function stillRunningAfter(proc: Spawned, ms: number): Promise<boolean> {
  if (proc.hasExited()) return false;
  const timer = new Promise<'running'>((resolve) => setTimeout(() => resolve('running'), ms));
  const exited = proc.exited(ms + 60_000).then(() => 'exited' as const);
  return (await Promise.race([timer, exited])) === 'running';
}

/** A TCP client in the test: what it received, and whether the server half-closed (FIN) or reset. */
export interface TestClient {
  readonly socket: net.Socket;
  received(): Buffer;
  /** Resolves when the server's FIN has arrived (or the connection is gone), with how it ended. */
  ended(timeoutMs?: number): Promise<'end' | 'reset' | 'close'>;
  /** Resolves once `text` has been received. */
  waitFor(text: string, timeoutMs?: number): Promise<void>;
}

export async function connectTestClient(
  port: number,
  options: { host?: string; localAddress?: string } = {},
): Promise<TestClient> {
  const socket = net.connect({
    host: options.host ?? '127.0.0.1',
    port,
    allowHalfOpen: true,
    ...(options.localAddress !== undefined ? { localAddress: options.localAddress } : {}),
  });
  await new Promise<void>((resolve, reject) => {
    socket.once('connect', () => {
      socket.off('error', reject);
      resolve();
    });
    socket.once('error', reject);
  });
  const chunks: Buffer[] = [];
  let how: 'end' | 'reset' | 'close' | undefined;
  const waiters = new Set<() => void>();
  const notify = () => waiters.forEach((w) => w());
  socket.on('data', (c: Buffer) => {
    chunks.push(c);
    notify();
  });
  socket.on('end', () => {
    how ??= 'end';
    notify();
  });
  socket.on('error', () => {
    how ??= 'reset';
    notify();
  });
  socket.on('close', () => {
    how ??= 'close';
    notify();
  });
  const received = () => Buffer.concat(chunks);
  const until = <T>(check: () => T | undefined, what: string, timeoutMs: number) =>
    new Promise<T>((resolve, reject) => {
      const run = () => {
        const value = check();
        if (value !== undefined) {
          cleanup();
          resolve(value);
        }
      };
      const timer = setTimeout(() => {
        cleanup();
        reject(
          new Error(
            `timed out after ${timeoutMs} ms waiting for ${what}; received ${JSON.stringify(received().toString())}`,
          ),
        );
      }, timeoutMs);
      const cleanup = () => {
        clearTimeout(timer);
        waiters.delete(run);
      };
      waiters.add(run);
      run();
    });
  return {
    socket,
    received,
    ended: (timeoutMs = 10_000) => until(() => how, 'the end of the connection', timeoutMs),
    waitFor: (text, timeoutMs = 10_000) =>
      until(
        () => (received().toString('latin1').includes(text) ? true : undefined),
        JSON.stringify(text),
        timeoutMs,
      ).then(() => undefined),
  };
}

/** A TCP server in the test, on port 0, with a handler per connection. */
export async function testServer(
  onConnection: (socket: net.Socket) => void,
): Promise<net.Server & { port: number }> {
  const server = net.createServer({ allowHalfOpen: true }, (socket) => {
    socket.on('error', () => undefined);
    onConnection(socket);
  });
  server.listen(0, '127.0.0.1');
  await once(server, 'listening');
  return Object.assign(server, { port: (server.address() as net.AddressInfo).port });
}

/** Everything a socket receives until it ends, and whether it ended with a FIN. */
export function collect(socket: net.Socket): Promise<{ data: Buffer; fin: boolean }> {
  const chunks: Buffer[] = [];
  socket.on('data', (c: Buffer) => chunks.push(c));
  return new Promise((resolve) => {
    let fin = false;
    socket.on('end', () => {
      fin = true;
      resolve({ data: Buffer.concat(chunks), fin });
    });
    socket.on('close', () => resolve({ data: Buffer.concat(chunks), fin }));
  });
}

/** A UDP socket in the test, bound on 127.0.0.1. */
export async function udpSocket(host = '127.0.0.1'): Promise<dgram.Socket & { port: number }> {
  const socket = dgram.createSocket('udp4');
  socket.bind(0, host);
  await once(socket, 'listening');
  return Object.assign(socket, { port: socket.address().port });
}

/** The next datagram on `socket`, within `timeoutMs`. */
export function nextDatagram(
  socket: dgram.Socket,
  timeoutMs = 10_000,
): Promise<{ data: Buffer; rinfo: dgram.RemoteInfo }> {
  return new Promise((resolve, reject) => {
    const timer = setTimeout(() => {
      socket.off('message', onMessage);
      reject(new Error(`no datagram within ${timeoutMs} ms`));
    }, timeoutMs);
    const onMessage = (data: Buffer, rinfo: dgram.RemoteInfo) => {
      clearTimeout(timer);
      resolve({ data, rinfo });
    };
    socket.once('message', onMessage);
  });
}
