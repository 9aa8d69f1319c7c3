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
 *
 * What a client can make the server do is bounded too, whatever its hello asks: a hello must come
 * within helloTimeoutMs; at most maxTests tests run at once; a test lasts maxTestDurationMs at most
 * and ends when no data has moved for idleTimeoutMs; the server's buffers do not grow with
 * length_bytes (one datagram of at most MAX_UDP_PAYLOAD, TCP writes of MAX_SEND_WRITE_BYTES shared
 * by a test's streams); a TCP test gets the data connections its hello announced, no more. A UDP
 * test's socket takes datagrams from one peer only: the one that sent the test's cookie from the
 * control connection's IP address (then the socket is connected to it); in reverse mode nothing
 * is sent before that cookie, and never faster than maxSendRateBitsPerSec.
 */
import { randomBytes } from 'node:crypto';
import type { Server, Socket } from 'node:net';
import { DEFAULT_BACKLOG, bindDatagram, listenStream } from '../core/listen.js';
import { MAX_UDP_PAYLOAD, type DatagramSender, type DatagramSocket } from '../core/datagram.js';
import type { TlsServerOptions } from '../core/tls.js';
import { LineReader } from '../core/line-reader.js';
import { untilSettled } from '../core/wait.js';
import { SocklabError } from '../errors.js';
import { realClock, type Clock } from '../measure/clock.js';
import { IntervalCounter } from '../measure/interval-counter.js';
import {
  DATA_PREFIX,
  DATAGRAM_HEADER_BYTES,
  excerpt,
  MAX_CONTROL_LINE_BYTES,
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
/** How long a new connection has to say what it is (a hello, a data stream's cookie line). */
export const DEFAULT_HELLO_TIMEOUT_MS = 5_000;
/** A test in which no data has moved for this long is ended; an echo connection silent this long is closed. */
export const DEFAULT_IDLE_TIMEOUT_MS = 30_000;
/** Tests running at once; one more is refused with an error line. */
export const DEFAULT_MAX_TESTS = 16;
/** The longest test the server runs, whatever the hello says (one hour). */
export const DEFAULT_MAX_TEST_DURATION_MS = 3_600_000;
/** The fastest the server sends in a reverse UDP test (a hello asking 0 = no limit gets this); bench --help says 1G. */
export const DEFAULT_MAX_SEND_RATE_BITS_PER_SEC = 1e9;
/** The server's TCP writes in a reverse test: a hello's length_bytes beyond this is written in pieces of it. */
export const MAX_SEND_WRITE_BYTES = 1024 * 1024;
/**
 * TCP keepalive on a test's control connection after this much silence: a client whose host
 * vanished (no FIN, no RST) is found out by the kernel's probes, and its test (a reverse UDP
 * stream too) ends with the connection.
 */
const CONTROL_KEEPALIVE_MS = 5_000;
/** A reverse test's sending stops this long after the test's (capped) duration, "done" or not. */
const SEND_SLACK_MS = 3_000;

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
  /** How long a new connection has to send its hello or data line (DEFAULT_HELLO_TIMEOUT_MS). */
  readonly helloTimeoutMs?: number;
  /** A test without data moving, an echo connection without a byte, for this long: ended (DEFAULT_IDLE_TIMEOUT_MS). */
  readonly idleTimeoutMs?: number;
  /** Tests at once (DEFAULT_MAX_TESTS). */
  readonly maxTests?: number;
  /** The longest test, whatever the hello asks (DEFAULT_MAX_TEST_DURATION_MS). */
  readonly maxTestDurationMs?: number;
  /** Reverse UDP: the fastest the server sends (DEFAULT_MAX_SEND_RATE_BITS_PER_SEC). */
  readonly maxSendRateBitsPerSec?: number;
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
  /** Aborted when a reverse test must stop sending: at "done", or at its duration and SEND_SLACK_MS. */
  readonly sendStop: AbortSignal;
  /** Data connections accepted so far (at most spec.streams). */
  dataConnections: number;
  /** Reverse TCP: the one buffer every stream writes. */
  chunk?: Buffer;
  udp?: DatagramSocket;
  receiver?: UdpReceiver;
}

/** An IPv4 address as the IPv4-mapped IPv6 form says it (::ffff:127.0.0.1 is 127.0.0.1). */
function plainIp(address: string): string {
  return address.toLowerCase().startsWith('::ffff:') && address.includes('.') ? address.slice(7) : address;
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
  const helloTimeoutMs = options.helloTimeoutMs ?? DEFAULT_HELLO_TIMEOUT_MS;
  const idleTimeoutMs = options.idleTimeoutMs ?? DEFAULT_IDLE_TIMEOUT_MS;
  const maxTests = options.maxTests ?? DEFAULT_MAX_TESTS;
  const maxTestDurationMs = options.maxTestDurationMs ?? DEFAULT_MAX_TEST_DURATION_MS;
  const maxSendRate = options.maxSendRateBitsPerSec ?? DEFAULT_MAX_SEND_RATE_BITS_PER_SEC;
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
    // A connection that has not said what it is in time (a partial hello, nothing at all) is closed.
    const late = setTimeout(() => {
      socket.off('data', onData);
      if (head[0] === 0x7b /* { */) refuse(socket, `no complete hello within ${helloTimeoutMs} ms`);
      else socket.destroy();
    }, helloTimeoutMs);
    late.unref();
    socket.once('close', () => clearTimeout(late));
    const onData = (chunk: Buffer) => {
      head = head.length === 0 ? chunk : Buffer.concat([head, chunk]);
      const first = head[0];
      if (first === 0x7b /* { */) {
        const nl = head.indexOf(0x0a);
        if (nl < 0 && head.length < MAX_CONTROL_LINE_BYTES) return;
        socket.off('data', onData);
        clearTimeout(late);
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
        clearTimeout(late);
        data(
          socket,
          head.subarray(DATA_PREFIX.length, DATA_LINE_BYTES - 1).toString('latin1'),
          head.subarray(DATA_LINE_BYTES),
        );
      } else {
        socket.off('data', onData);
        clearTimeout(late);
        echo(socket, head);
      }
    };
    socket.on('data', onData);
  }

  function echo(socket: Socket, first: Buffer): void {
    socket.setTimeout(idleTimeoutMs, () => socket.destroy());
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
    const spec = hello.test;
    if (sessions.size >= maxTests) {
      const why = `busy: ${plural(sessions.size, 'test')} running, the most this server runs at once`;
      refuse(socket, why);
      options.log?.(`test from ${peerOf(socket)}: refused: ${why}`);
      return;
    }
    if (
      spec.protocol === 'udp' &&
      (spec.length_bytes < DATAGRAM_HEADER_BYTES || spec.length_bytes > MAX_UDP_PAYLOAD)
    ) {
      refuse(
        socket,
        `length_bytes ${spec.length_bytes} is not a datagram size for a test (${DATAGRAM_HEADER_BYTES} to ${MAX_UDP_PAYLOAD})`,
      );
      return;
    }
    if (spec.duration_ms !== undefined && spec.duration_ms > maxTestDurationMs) {
      refuse(
        socket,
        `a ${spec.duration_ms / 1000} s test is longer than this server runs (${maxTestDurationMs / 1000} s at most)`,
      );
      return;
    }
    socket.setKeepAlive(true, CONTROL_KEEPALIVE_MS);
    // Read from now on (what followed the hello is buffered), each line bounded in size.
    const lines = new LineReader(socket, { maxLineBytes: MAX_CONTROL_LINE_BYTES });
    const cookie = randomBytes(COOKIE_BYTES).toString('hex');
    // The test lasts what the hello says, at most maxTestDurationMs (no duration: that long).
    const durationMs = Math.min(spec.duration_ms ?? maxTestDurationMs, maxTestDurationMs);
    const stop = new AbortController();
    const sendDeadline = new AbortController();
    const sendTimer = setTimeout(() => sendDeadline.abort(), durationMs + SEND_SLACK_MS);
    sendTimer.unref();
    const session: Session = {
      spec,
      counter: new IntervalCounter(clock),
      stop,
      dataSockets: new Set(),
      pumps: [],
      sendStop: AbortSignal.any([stop.signal, sendDeadline.signal]),
      dataConnections: 0,
    };
    sessions.set(cookie, session);
    const startMs = clock.now();
    // No data moving for idleTimeoutMs (no stream connected, a UDP cookie that never came, a
    // receiver that stopped reading): the test is ended.
    const idle = new AbortController();
    let lastBytes = -1;
    let lastMoveMs = clock.now();
    const idleCheck = setInterval(
      () => {
        if (session.counter.bytes !== lastBytes) {
          lastBytes = session.counter.bytes;
          lastMoveMs = clock.now();
        } else if (clock.now() - lastMoveMs >= idleTimeoutMs) idle.abort();
      },
      Math.min(1_000, Math.max(10, idleTimeoutMs / 4)),
    );
    idleCheck.unref();
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
        if (!spec.reverse) session.receiver = new UdpReceiver(clock, session.counter);
        attachUdp(session, udp, cookie, socket.remoteAddress ?? '');
      }
      socket.write(
        `${JSON.stringify({ socklab_bench: PROTOCOL_VERSION, cookie, ...(udpPort !== undefined ? { udp_port: udpPort, cookie_ack: true } : {}) })}\n`,
      );
      let done: Done | undefined;
      try {
        const timeoutMs = durationMs + (options.doneSlackMs ?? DONE_SLACK_MS);
        done = await readDone(lines, socket, timeoutMs, AbortSignal.any([stop.signal, idle.signal]));
      } catch (err) {
        if (idle.signal.aborted && !stop.signal.aborted) {
          const why = `no data moved for ${idleTimeoutMs} ms: the test is ended (idle timeout)`;
          refuse(socket, why);
          options.log?.(`test from ${peerOf(socket)}: ${why}`);
          return;
        }
        if (!(err instanceof SocklabError) || err.code === 'SOCKLAB_ERR_ABORTED') throw err;
        refuse(socket, err.message);
        options.log?.(`test from ${peerOf(socket)}: ${err.message}`);
        return;
      }
      if (!done) return; // the client went away: nothing to report to
      clearInterval(idleCheck);
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
            invalid_packets: session.receiver.tracker.invalid(done.sent_packets),
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
      clearInterval(idleCheck);
      clearTimeout(sendTimer);
      session.stop.abort();
      session.udp?.close();
      for (const s of session.dataSockets) s.destroy();
      sessions.delete(cookie);
    }
  }

  /**
   * A UDP test's socket takes nothing before the test's cookie line, and that only from the control
   * connection's IP address; its sender is then the test's peer, and the socket is connected to it
   * (the kernel drops what others send). Forward: the cookie is acknowledged (sent back, again for
   * each repeat: an acknowledgement can be lost) and the peer's datagrams counted. Reverse: the
   * server starts sending, at most at maxSendRateBitsPerSec, until sendStop.
   */
  function attachUdp(session: Session, udp: DatagramSocket, cookie: string, controlAddress: string): void {
    const cookieLine = Buffer.from(`${DATA_PREFIX}${cookie}\n`, 'latin1');
    let peer: DatagramSender | undefined;
    let connected = false;
    udp.onMessage((datagram) => {
      if (peer === undefined) {
        // After "done" (stop) nothing starts; the tail of a forward test is still counted below.
        if (session.stop.signal.aborted || !datagram.equals(cookieLine)) return;
        const from = udp.sender();
        if (plainIp(from.address) !== plainIp(controlAddress)) return;
        const to = { address: from.address, port: from.port };
        peer = to;
        session.pumps.push(
          udp
            .connect(to.address, to.port)
            .then(() => {
              connected = true;
              if (!session.spec.reverse) {
                udp.send(cookieLine);
                return;
              }
              const asked = session.spec.rate_bits_per_sec;
              return sendDatagrams({
                socket: udp,
                lengthBytes: session.spec.length_bytes,
                rateBitsPerSec: asked > 0 ? Math.min(asked, maxSendRate) : maxSendRate,
                clock,
                counter: session.counter,
                stop: session.sendStop,
              });
            })
            .catch(() => undefined),
        );
        return;
      }
      if (!connected) {
        // Until connect() is done the kernel still delivers anyone's datagrams.
        const from = udp.sender();
        if (from.address !== peer.address || from.port !== peer.port) return;
      }
      if (session.spec.reverse) return; // the cookie, repeated until data came
      if (datagram.equals(cookieLine)) {
        if (connected) udp.send(cookieLine);
        return;
      }
      session.receiver?.receive(datagram);
    });
  }

  function data(socket: Socket, cookie: string, rest: Buffer): void {
    const session = sessions.get(cookie);
    if (!session || session.spec.protocol !== 'tcp') {
      socket.destroy();
      return;
    }
    // The streams the hello announced, no more.
    if (++session.dataConnections > session.spec.streams) {
      socket.destroy();
      return;
    }
    session.dataSockets.add(socket);
    socket.on('close', () => session.dataSockets.delete(socket));
    if (session.spec.reverse) {
      // One buffer for all the test's streams (write() never changes it), bounded whatever the hello asks.
      session.chunk ??= Buffer.alloc(Math.min(session.spec.length_bytes, MAX_SEND_WRITE_BYTES), 0x61);
      session.pumps.push(pumpTcp(socket, session.chunk, session.counter, session.sendStop));
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
