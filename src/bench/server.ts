/**
 * `socklab bench --server`: one TCP listener and one UDP socket on the same port number.
 *
 * A TCP connection is classified by its first bytes: `{` is a control connection (a test's hello),
 * `SLBD<cookie>` a data stream of that test, anything else is echoed (so ping-pong clients and
 * `socklab connect` work against the bench server too). UDP datagrams on the main port are echoed;
 * a UDP test gets its own socket (port in the welcome), so concurrent tests never mix.
 *
 * Every wait is bounded: the client's "done" line in size (MAX_CONTROL_LINE_BYTES) and in time (the
 * test's duration and some slack), the tail of a test in time (TAIL_WAIT_MS). A client that breaks
 * the protocol, or a test the server cannot set up (no UDP socket to be had), gets one error line
 * and the connection closed; the server goes on.
 */
import { randomBytes } from 'node:crypto';
import type { Server, Socket } from 'node:net';
import { DEFAULT_BACKLOG, bindDatagram, listenStream } from '../core/listen.js';
import type { TlsServerOptions } from '../core/tls.js';
import type { DatagramSocket } from '../core/datagram.js';
import { LineReader } from '../core/line-reader.js';
import { untilSettled } from '../core/wait.js';
import { SocklabError } from '../errors.js';
import { realClock, type Clock } from '../measure/clock.js';
import { IntervalCounter } from '../measure/interval-counter.js';
import {
  DATA_PREFIX,
  excerpt,
  MAX_CONTROL_LINE_BYTES,
  MAX_TEST_DURATION_MS,
  parseDone,
  parseHello,
  PROTOCOL_VERSION,
  type Done,
  type ServerResult,
  type TestSpec,
} from './protocol.js';
import { pumpTcp } from './tcp-pump.js';
import { UdpReceiver } from './udp-receiver.js';
import { sendDatagrams } from './udp-sender.js';
import { plural } from '../format/plural.js';

/**
 * Kernel accept queue asked for (Linux caps it at net.core.somaxconn): a 10,000-connect burst.
 * Bigger than the floor's DEFAULT_BACKLOG on purpose: `bench --connections` opens them all at once.
 */
export const LISTEN_BACKLOG = Math.max(65_535, DEFAULT_BACKLOG);
const COOKIE_BYTES = 16;
const DATA_LINE_BYTES = DATA_PREFIX.length + COOKIE_BYTES * 2 + 1;
/** After the client's "done", how long data may still trickle in before the result is sent. */
const TAIL_WAIT_MS = 2_000;
const UDP_QUIET_MS = 50;
/**
 * How long after the test's duration the client's "done" may still come: the client connects its
 * streams before its clock starts, and flushes what it wrote before it says done.
 */
export const DONE_SLACK_MS = 60_000;
/** A refused client has this long to read the error line and close before it is cut off. */
const REFUSE_GRACE_MS = 1_000;

export interface BenchServerOptions {
  readonly host: string;
  readonly port: number;
  /** TCP (control and data) over TLS; the UDP socket on the same port stays plain. */
  readonly tls?: TlsServerOptions;
  readonly clock?: Clock;
  /** One line per finished test (for the server's stderr). */
  readonly log?: (line: string) => void;
  /** How long after the test's duration "done" may come (default DONE_SLACK_MS). */
  readonly doneSlackMs?: number;
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
  udp?: DatagramSocket;
  receiver?: UdpReceiver;
}

/** One error line, then the connection closed: at once if the client closes, after a grace if not. */
function refuse(socket: Socket, message: string): void {
  if (socket.destroyed) return;
  socket.pause(); // read no more of what it sends
  socket.end(`${JSON.stringify({ socklab_bench: PROTOCOL_VERSION, error: message })}\n`);
  setTimeout(() => socket.destroy(), REFUSE_GRACE_MS).unref();
}

function peerOf(socket: Socket): string {
  return `${socket.remoteAddress ?? '?'}:${socket.remotePort ?? '?'}`;
}

export async function startBenchServer(options: BenchServerOptions): Promise<BenchServer> {
  const clock = options.clock ?? realClock;
  const sessions = new Map<string, Session>();
  const sockets = new Set<Socket>();
  const closing = new AbortController();

  const server: Server = await listenStream({
    host: options.host,
    port: options.port,
    ...(options.tls !== undefined ? { tls: options.tls } : {}),
    backlog: LISTEN_BACKLOG,
    onConnection: (socket) => {
      sockets.add(socket);
      socket.on('close', () => sockets.delete(socket));
      socket.on('error', () => undefined); // a client vanishing ends only its own connection
      // The floor's listener allows half-open connections; bench's peers close both ways.
      socket.on('end', () => socket.end());
      classify(socket);
    },
  });
  // UDP on the address TCP got (the same port; `::` may have fallen back to 0.0.0.0).
  const bound = server.address();
  const host = typeof bound === 'object' && bound ? bound.address : options.host;
  const port = typeof bound === 'object' && bound ? bound.port : options.port;
  let udpMain: DatagramSocket;
  try {
    udpMain = await bindDatagram({ host, port });
  } catch (err) {
    server.close();
    throw err;
  }
  udpMain.onMessage((data) => udpMain.sendTo(data, udpMain.sender()));
  udpMain.onError(() => undefined);

  function classify(socket: Socket): void {
    let head: Buffer = Buffer.alloc(0);
    const onData = (chunk: Buffer) => {
      head = head.length === 0 ? chunk : Buffer.concat([head, chunk]);
      const first = head[0];
      if (first === 0x7b /* { */) {
        const nl = head.indexOf(0x0a);
        if (nl < 0 && head.length < MAX_CONTROL_LINE_BYTES) return;
        socket.off('data', onData);
        const line = head.subarray(0, nl < 0 ? head.length : nl).toString('utf8');
        // What came after the hello is read by the control's line reader.
        if (nl >= 0 && nl + 1 < head.length) socket.unshift(head.subarray(nl + 1));
        control(socket, line).catch((err: unknown) => {
          // Never an unhandled rejection: whatever went wrong ends this client's test only.
          if (!closing.signal.aborted)
            options.log?.(`test from ${peerOf(socket)}: ${err instanceof Error ? err.message : String(err)}`);
          socket.destroy();
        });
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
  }

  async function control(socket: Socket, line: string): Promise<void> {
    const hello = parseHello(line);
    if (!hello) {
      refuse(socket, 'not a valid bench hello');
      return;
    }
    // Read from now on (what followed the hello is buffered), each line bounded in size.
    const lines = new LineReader(socket, { maxLineBytes: MAX_CONTROL_LINE_BYTES });
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
        let udp: DatagramSocket;
        try {
          udp = await bindDatagram({ host, port: 0 });
        } catch (err) {
          // Out of sockets (EMFILE) and the like: this test cannot run; the server goes on.
          const why = err instanceof Error ? err.message : String(err);
          refuse(socket, why);
          options.log?.(`test from ${peerOf(socket)}: refused: ${why}`);
          return;
        }
        session.udp = udp;
        udp.onError(() => undefined);
        udpPort = udp.address().port;
        if (spec.reverse) startReverseUdp(session, udp);
        else {
          const receiver = new UdpReceiver(clock, session.counter);
          session.receiver = receiver;
          receiver.attach(udp);
        }
      }
      socket.write(
        `${JSON.stringify({ socklab_bench: PROTOCOL_VERSION, cookie, ...(udpPort !== undefined ? { udp_port: udpPort } : {}) })}\n`,
      );
      let done: Done | undefined;
      try {
        const timeoutMs = (spec.duration_ms ?? MAX_TEST_DURATION_MS) + (options.doneSlackMs ?? DONE_SLACK_MS);
        done = await readDone(lines, socket, timeoutMs, session.stop.signal);
      } catch (err) {
        if (!(err instanceof SocklabError) || err.code === 'SOCKLAB_ERR_ABORTED') throw err;
        refuse(socket, err.message);
        options.log?.(`test from ${peerOf(socket)}: ${err.message}`);
        return;
      }
      if (!done) return; // the client went away: nothing to report to
      session.stop.abort();
      await Promise.all(session.pumps);
      if (spec.protocol === 'tcp') {
        if (spec.reverse) for (const s of session.dataSockets) s.end();
        await waitAllClosed(session.dataSockets, TAIL_WAIT_MS, closing.signal);
      } else if (session.receiver) {
        await session.receiver.tail(done.sent_packets, {
          quietMs: UDP_QUIET_MS,
          timeoutMs: TAIL_WAIT_MS,
          signal: closing.signal,
        });
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
        `test from ${peerOf(socket)}: ${spec.protocol}${spec.reverse ? ' reverse' : ''}, ${plural(spec.streams, 'stream')}: ${JSON.stringify(result)}`,
      );
    } finally {
      session.stop.abort();
      session.udp?.close();
      for (const s of session.dataSockets) s.destroy();
      sessions.delete(cookie);
    }
  }

  /** Reverse UDP: the client's first datagram (its cookie line) tells where to send. */
  function startReverseUdp(session: Session, udp: DatagramSocket): void {
    let started = false;
    udp.onMessage(() => {
      if (started || session.stop.signal.aborted) return;
      started = true;
      const { address, port: clientPort } = udp.sender();
      session.pumps.push(
        udp
          .connect(address, clientPort)
          .then(() =>
            sendDatagrams({
              socket: udp,
              lengthBytes: session.spec.length_bytes,
              rateBitsPerSec: session.spec.rate_bits_per_sec,
              clock,
              counter: session.counter,
              stop: session.stop.signal,
            }),
          )
          .catch(() => undefined),
      );
    });
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
    }
  }

  return {
    address: () => ({ host: options.host, port }),
    async close() {
      closing.abort();
      for (const session of sessions.values()) session.stop.abort();
      const closed = new Promise<void>((resolve) => server.close(() => resolve()));
      for (const s of sockets) s.destroy();
      udpMain.close();
      await closed;
    },
  };
}

/**
 * The client's "done" line: undefined if the client went away first. A line that is not one (or is
 * longer than a control line may be) is SOCKLAB_ERR_PROTOCOL; none within `timeoutMs` (the test's
 * duration and DONE_SLACK_MS) is SOCKLAB_ERR_TIMEOUT.
 */
async function readDone(
  lines: LineReader,
  socket: Socket,
  timeoutMs: number,
  signal: AbortSignal,
): Promise<Done | undefined> {
  const next = await lines.next({
    timeoutMs,
    what: `the client at ${peerOf(socket)} did not say done`,
    signal,
  });
  if (next.line === undefined) return undefined;
  const done = parseDone(next.line);
  if (!done) {
    throw new SocklabError(
      'SOCKLAB_ERR_PROTOCOL',
      `expected the client's done line (at most ${MAX_CONTROL_LINE_BYTES} bytes), got '${excerpt(next.line)}'`,
    );
  }
  return done;
}

/** Until every socket of the set has closed, `timeoutMs` at most. */
async function waitAllClosed(sockets: ReadonlySet<Socket>, timeoutMs: number, signal: AbortSignal) {
  const open = [...sockets].filter((s) => !s.closed);
  if (open.length === 0) return;
  const allClosed = Promise.all(open.map((s) => new Promise<void>((resolve) => s.once('close', resolve))));
  await untilSettled(allClosed, {
    timeoutMs,
    signal,
    onAbort: () => new Error('the server is closing'),
  }).catch(() => undefined); // what has not closed by then is destroyed with the session
}
