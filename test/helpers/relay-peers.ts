/** Servers and clients on loopback for the relay's tests: plain node:net / node:dgram, port 0. */
import { createHash } from 'node:crypto';
import dgram from 'node:dgram';
import { once } from 'node:events';
import net from 'node:net';

/** Reject after `ms` with a message that says what was awaited. */
export async function within<T>(promise: Promise<T>, ms: number, what: string): Promise<T> {
  let timer: NodeJS.Timeout | undefined;
  const timeout = new Promise<never>((_, reject) => {
    timer = setTimeout(() => reject(new Error(`timed out after ${ms} ms waiting for ${what}`)), ms);
  });
  try {
    return await Promise.race([promise, timeout]);
  } finally {
    clearTimeout(timer);
  }
}

/** Poll `check` every few ms until it is true (bounded). For state that has no event. */
export async function until(check: () => boolean, ms: number, what: string): Promise<void> {
  const deadline = Date.now() + ms;
  while (!check()) {
    if (Date.now() > deadline) throw new Error(`timed out after ${ms} ms waiting for ${what}`);
    await new Promise((resolve) => setTimeout(resolve, 5));
  }
}

export interface TcpTestServer {
  readonly port: number;
  readonly server: net.Server;
  readonly sockets: Set<net.Socket>;
  close(): Promise<void>;
}

/** A TCP server running `handler` on each connection (allowHalfOpen). */
export async function tcpServer(handler: (socket: net.Socket) => void): Promise<TcpTestServer> {
  const sockets = new Set<net.Socket>();
  const server = net.createServer({ allowHalfOpen: true }, (socket) => {
    sockets.add(socket);
    socket.on('close', () => sockets.delete(socket));
    socket.on('error', () => undefined);
    handler(socket);
  });
  server.listen({ port: 0, host: '127.0.0.1', backlog: 4096 });
  await once(server, 'listening');
  return {
    port: (server.address() as net.AddressInfo).port,
    server,
    sockets,
    close: () =>
      new Promise<void>((resolve) => {
        for (const s of sockets) s.destroy();
        server.close(() => resolve());
      }),
  };
}

/** Echo, half-close included: the server ends its side when the client ends its. */
export const echo = (socket: net.Socket): void => {
  socket.pipe(socket);
};

/** Counts and hashes what arrives; at the client's FIN, answers `bytes sha256` and closes. */
export const hashSink = (socket: net.Socket): void => {
  const hash = createHash('sha256');
  let bytes = 0;
  socket.on('data', (chunk: Buffer) => {
    bytes += chunk.length;
    hash.update(chunk);
  });
  socket.on('end', () => socket.end(`${bytes} ${hash.digest('hex')}`));
};

export async function connect(port: number): Promise<net.Socket> {
  const socket = net.connect({ port, host: '127.0.0.1', allowHalfOpen: true });
  await within(once(socket, 'connect'), 5000, `a connection to port ${port}`);
  return socket;
}

/** A connection that may be reset at once (a relay whose target refuses): its end, however it comes. */
export function connectAndCollect(port: number): Promise<{ data: Buffer; error?: NodeJS.ErrnoException }> {
  return collect(net.connect({ port, host: '127.0.0.1', allowHalfOpen: true }));
}

/** Everything a socket receives until it closes (it ends its side at the peer's FIN), and how. */
export function collect(socket: net.Socket): Promise<{ data: Buffer; error?: NodeJS.ErrnoException }> {
  const chunks: Buffer[] = [];
  socket.on('data', (c: Buffer) => chunks.push(c));
  return new Promise((resolve) => {
    let error: NodeJS.ErrnoException | undefined;
    socket.on('error', (e: NodeJS.ErrnoException) => (error = e));
    socket.on('end', () => socket.end()); // as a client without allowHalfOpen would
    socket.on('close', () => resolve({ data: Buffer.concat(chunks), ...(error ? { error } : {}) }));
  });
}

/** Write `data` in 64 KiB writes with backpressure, then half-close. */
export async function writeAll(socket: net.Socket, data: Buffer): Promise<void> {
  for (let offset = 0; offset < data.length; offset += 65536) {
    if (!socket.write(data.subarray(offset, offset + 65536))) await once(socket, 'drain');
  }
  socket.end();
}

export interface UdpTestServer {
  readonly port: number;
  readonly socket: dgram.Socket;
  close(): Promise<void>;
}

/** A UDP server that answers each datagram with `reply(datagram)` at the sender's address. */
export async function udpServer(
  reply: (data: Buffer) => Buffer | undefined = (d) => d,
): Promise<UdpTestServer> {
  const socket = dgram.createSocket({ type: 'udp4', recvBufferSize: 4 << 20, sendBufferSize: 4 << 20 });
  socket.on('message', (msg, rinfo) => {
    const answer = reply(msg);
    if (answer) socket.send(answer, rinfo.port, rinfo.address);
  });
  socket.bind(0, '127.0.0.1');
  await once(socket, 'listening');
  return {
    port: socket.address().port,
    socket,
    close: () => new Promise<void>((resolve) => socket.close(() => resolve())),
  };
}

/** A UDP client connected to port, collecting what comes back. */
export async function udpClient(port: number) {
  const socket = dgram.createSocket({ type: 'udp4', recvBufferSize: 4 << 20, sendBufferSize: 4 << 20 });
  const received: Buffer[] = [];
  const waiters = new Set<() => void>();
  socket.on('message', (msg) => {
    received.push(msg);
    for (const w of waiters) w();
  });
  socket.connect(port, '127.0.0.1');
  await within(once(socket, 'connect'), 5000, 'a UDP connect');
  return {
    socket,
    received,
    send: (data: Buffer | string) => socket.send(data),
    /** Resolves once `n` datagrams have come back. */
    waitFor: (n: number, ms = 5000) =>
      within(
        new Promise<void>((resolve) => {
          const check = () => {
            if (received.length >= n) {
              waiters.delete(check);
              resolve();
            }
          };
          waiters.add(check);
          check();
        }),
        ms,
        `${n} datagrams back (got ${received.length})`,
      ),
    close: () => new Promise<void>((resolve) => socket.close(() => resolve())),
  };
}
