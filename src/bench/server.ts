/**
 * `socklab bench --server`: one TCP listener and one UDP socket on the same port number.
 *
 * A TCP connection is classified by its first bytes: `{` is a control connection (a test's hello),
 * `SLBD<cookie>` a data stream of that test, anything else is echoed (so ping-pong clients and
 * `socklab connect` work against the bench server too). UDP datagrams on the main port are echoed;
 * a UDP test gets its own socket (port in the welcome), so concurrent tests never mix.
 */
import { randomBytes } from 'node:crypto';
import { createSocket, type Socket as UdpSocket } from 'node:dgram';
import { once } from 'node:events';
import { createServer, isIPv6, type Server, type Socket } from 'node:net';
import { describeSystemError, SocklabError } from '../errors.js';
import { realClock, type Clock } from '../measure/clock.js';
import { IntervalCounter } from '../measure/interval-counter.js';
import { pause } from './pause.js';
import {
  DATA_PREFIX,
  MAX_CONTROL_LINE_BYTES,
  parseDone,
  parseHello,
  PROTOCOL_VERSION,
  type ServerResult,
  type TestSpec,
} from './protocol.js';
import { pumpTcp } from './tcp-pump.js';
import { UdpReceiver } from './udp-receiver.js';
import { sendDatagrams } from './udp-sender.js';
import { wrapDgram } from '../core/datagram.js';

/** Kernel accept queue asked for (Linux caps it at net.core.somaxconn): a 10,000-connect burst. */
export const LISTEN_BACKLOG = 65_535;
const COOKIE_BYTES = 16;
const DATA_LINE_BYTES = DATA_PREFIX.length + COOKIE_BYTES * 2 + 1;
/** After the client's "done", how long data may still trickle in before the result is sent. */
const TAIL_WAIT_MS = 2_000;
const UDP_QUIET_MS = 50;

export interface BenchServerOptions {
  readonly host: string;
  readonly port: number;
  readonly clock?: Clock;
  /** One line per finished test (for the server's stderr). */
  readonly log?: (line: string) => void;
}

export interface BenchServer {
  address(): { host: string; port: number };
  close(): Promise<void>;
}

interface Session {
  readonly spec: TestSpec;
  readonly counter: IntervalCounter;
  readonly stop: AbortController;
  readonly dataSockets: Set<Socket>;
  readonly pumps: Promise<void>[];
  udp?: UdpSocket;
  receiver?: UdpReceiver;
}

export async function startBenchServer(options: BenchServerOptions): Promise<BenchServer> {
  const clock = options.clock ?? realClock;
  const sessions = new Map<string, Session>();
  const sockets = new Set<Socket>();
  const server: Server = createServer({ noDelay: true });
  const udpMain = createSocket({ type: isIPv6(options.host) ? 'udp6' : 'udp4' });

  server.on('connection', (socket) => {
    sockets.add(socket);
    socket.on('close', () => sockets.delete(socket));
    socket.on('error', () => undefined); // a client vanishing ends only its own connection
    socket.setNoDelay(true);
    classify(socket);
  });

  function classify(socket: Socket): void {
    let head: Buffer = Buffer.alloc(0);
    const onData = (chunk: Buffer) => {
      head = head.length === 0 ? chunk : Buffer.concat([head, chunk]);
      const first = head[0];
      if (first === 0x7b /* { */) {
        const nl = head.indexOf(0x0a);
        if (nl < 0 && head.length < MAX_CONTROL_LINE_BYTES) return;
        socket.off('data', onData);
        void control(
          socket,
          head.subarray(0, nl < 0 ? head.length : nl).toString('utf8'),
          head.subarray(nl + 1),
        );
      } else if (
        head.subarray(0, DATA_PREFIX.length).toString('latin1') === DATA_PREFIX.slice(0, head.length)
      ) {
        if (head.length < DATA_LINE_BYTES) return;
        socket.off('data', onData);
        data(
          socket,
          head.subarray(DATA_PREFIX.length, DATA_LINE_BYTES - 1).toString('latin1'),
          head.subarray(DATA_LINE_BYTES),
        );
      } else {
        socket.off('data', onData);
        echo(socket, head);
      }
    };
    socket.on('data', onData);
  }

  function echo(socket: Socket, first: Buffer): void {
    socket.write(first);
    socket.on('data', (chunk: Buffer) => {
      if (!socket.write(chunk)) {
        socket.pause();
        socket.once('drain', () => socket.resume());
      }
    });
    socket.on('end', () => socket.end());
  }

  async function control(socket: Socket, line: string, rest: Buffer): Promise<void> {
    const hello = parseHello(line);
    if (!hello) {
      socket.end(
        `${JSON.stringify({ socklab_bench: PROTOCOL_VERSION, error: 'not a valid bench hello' })}\n`,
      );
      return;
    }
    const spec = hello.test;
    const cookie = randomBytes(COOKIE_BYTES).toString('hex');
    const session: Session = {
      spec,
      counter: new IntervalCounter(clock),
      stop: new AbortController(),
      dataSockets: new Set(),
      pumps: [],
    };
    sessions.set(cookie, session);
    const startMs = clock.now();
    try {
      let udpPort: number | undefined;
      if (spec.protocol === 'udp') {
        const udp = createSocket({ type: isIPv6(options.host) ? 'udp6' : 'udp4' });
        session.udp = udp;
        udp.on('error', () => undefined);
        await new Promise<void>((resolve, reject) => {
          udp.once('error', reject);
          udp.bind(0, options.host, () => resolve());
        });
        udp.setRecvBufferSize(4 * 1024 * 1024);
        udpPort = udp.address().port;
        if (spec.reverse) {
          // The client's first datagram carries the cookie: then we know where to send.
          udp.once('message', (_msg, rinfo) => {
            udp.connect(rinfo.port, rinfo.address, () => {
              session.pumps.push(
                sendDatagrams({
                  socket: wrapDgram(udp),
                  lengthBytes: spec.length_bytes,
                  rateBitsPerSec: spec.rate_bits_per_sec,
                  clock,
                  counter: session.counter,
                  stop: session.stop.signal,
                }).catch(() => undefined),
              );
            });
          });
        } else {
          session.receiver = new UdpReceiver(clock, session.counter);
          session.receiver.attach(udp);
        }
      }
      socket.write(
        `${JSON.stringify({ socklab_bench: PROTOCOL_VERSION, cookie, ...(udpPort !== undefined ? { udp_port: udpPort } : {}) })}\n`,
      );
      const done = await readDone(socket, rest);
      if (!done) return; // the client went away: nothing to report to
      session.stop.abort();
      await Promise.all(session.pumps);
      if (spec.protocol === 'tcp') {
        if (spec.reverse) for (const s of session.dataSockets) s.end();
        await waitAllClosed(session.dataSockets, TAIL_WAIT_MS);
      } else if (session.receiver) {
        const receiver = session.receiver;
        const deadline = clock.now() + TAIL_WAIT_MS;
        while (receiver.tracker.received < done.sent_packets && receiver.quietForMs() < UDP_QUIET_MS) {
          if (clock.now() > deadline) break;
          await pause(5);
        }
      }
      const seconds = (clock.now() - startMs) / 1000;
      const result: ServerResult = session.receiver
        ? {
            bytes: session.counter.bytes,
            packets: session.counter.packets,
            seconds,
            lost_packets: session.receiver.tracker.lost(done.sent_packets),
            out_of_order: session.receiver.tracker.outOfOrder,
            duplicates: session.receiver.tracker.duplicates,
            jitter_ms: session.receiver.jitter.jitterMs,
          }
        : spec.reverse
          ? {
              bytes: 0,
              packets: 0,
              seconds,
              sent_bytes: session.counter.bytes,
              sent_packets: session.counter.packets,
            }
          : { bytes: session.counter.bytes, packets: session.counter.packets, seconds };
      socket.end(`${JSON.stringify({ socklab_bench: PROTOCOL_VERSION, result })}\n`);
      options.log?.(
        `test from ${socket.remoteAddress ?? '?'}:${socket.remotePort ?? '?'}: ${spec.protocol}${spec.reverse ? ' reverse' : ''}, ${spec.streams} stream(s): ${JSON.stringify(result)}`,
      );
    } finally {
      session.stop.abort();
      session.udp?.close();
      for (const s of session.dataSockets) s.destroy();
      sessions.delete(cookie);
    }
  }

  function data(socket: Socket, cookie: string, rest: Buffer): void {
    const session = sessions.get(cookie);
    if (!session || session.spec.protocol !== 'tcp') {
      socket.destroy();
      return;
    }
    session.dataSockets.add(socket);
    socket.on('close', () => session.dataSockets.delete(socket));
    if (session.spec.reverse) {
      const chunk = Buffer.alloc(session.spec.length_bytes, 0x61);
      session.pumps.push(pumpTcp(socket, chunk, session.counter, session.stop.signal));
      socket.resume();
    } else {
      session.counter.add(rest.length, 0);
      socket.on('data', (chunk: Buffer) => session.counter.add(chunk.length, 0));
      socket.on('end', () => socket.end());
    }
  }

  udpMain.on('message', (msg, rinfo) => udpMain.send(msg, rinfo.port, rinfo.address));
  udpMain.on('error', () => undefined);

  await new Promise<void>((resolve, reject) => {
    server.once('error', (err) => {
      reject(
        new SocklabError(
          'SOCKLAB_ERR_BIND',
          `cannot listen on tcp://${options.host}:${options.port}: ${describeSystemError(err)}`,
          { cause: err },
        ),
      );
    });
    server.listen({ host: options.host, port: options.port, backlog: LISTEN_BACKLOG }, () => resolve());
  });
  const address = server.address();
  const port = typeof address === 'object' && address ? address.port : options.port;
  try {
    await new Promise<void>((resolve, reject) => {
      udpMain.once('error', reject);
      udpMain.bind(port, options.host, () => resolve());
    });
  } catch (err) {
    server.close();
    throw new SocklabError(
      'SOCKLAB_ERR_BIND',
      `cannot listen on udp://${options.host}:${port}: ${describeSystemError(err)}`,
      { cause: err },
    );
  }

  return {
    address: () => ({ host: options.host, port }),
    async close() {
      for (const session of sessions.values()) session.stop.abort();
      const closed = once(server, 'close');
      server.close();
      for (const s of sockets) s.destroy();
      udpMain.close();
      await closed;
    },
  };
}

async function readDone(socket: Socket, rest: Buffer): Promise<ReturnType<typeof parseDone>> {
  let buffered = rest.toString('utf8');
  for (;;) {
    const nl = buffered.indexOf('\n');
    if (nl >= 0) {
      const done = parseDone(buffered.slice(0, nl));
      if (done) return done;
      buffered = buffered.slice(nl + 1);
      continue;
    }
    if (socket.destroyed || socket.readableEnded) return undefined;
    const chunk = await new Promise<Buffer | undefined>((resolve) => {
      const onData = (c: Buffer) => finish(c);
      const onEnd = () => finish(undefined);
      const finish = (c: Buffer | undefined) => {
        socket.off('data', onData);
        socket.off('end', onEnd);
        socket.off('close', onEnd);
        resolve(c);
      };
      socket.on('data', onData);
      socket.on('end', onEnd);
      socket.on('close', onEnd);
    });
    if (chunk === undefined) return undefined;
    buffered += chunk.toString('utf8');
  }
}

async function waitAllClosed(sockets: Set<Socket>, timeoutMs: number): Promise<void> {
  const deadline = Date.now() + timeoutMs;
  while (sockets.size > 0 && Date.now() < deadline) {
    const open = [...sockets];
    await Promise.race([
      Promise.all(open.map((s) => once(s, 'close').catch(() => undefined))),
      pause(deadline - Date.now()),
    ]);
  }
}
