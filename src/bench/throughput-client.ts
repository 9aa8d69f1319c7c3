/**
 * The client of a throughput test against `socklab bench --server`: hello on a control
 * connection, P data streams (TCP) or one UDP socket, intervals while it runs, then "done" and
 * the server's own account of what it received (or, with --reverse, sent).
 */
import type { Socket } from 'node:net';
import { setTimeout as sleep } from 'node:timers/promises';
import { formatAddress } from '../address.js';
import { SocklabError } from '../errors.js';
import type { Clock } from '../measure/clock.js';
import { IntervalCounter, type IntervalSample } from '../measure/interval-counter.js';
import { connectDatagram, connectStream } from '../core/connect.js';
import type { TlsClientOptions } from '../core/tls.js';
import type { DatagramSocket } from '../core/datagram.js';
import { LineReader } from '../core/line-reader.js';
import {
  DATA_PREFIX,
  excerpt,
  MAX_CONTROL_LINE_BYTES,
  parseResult,
  parseWelcome,
  PROTOCOL_VERSION,
  type ServerResult,
  type TestSpec,
} from './protocol.js';
import { pumpTcp } from './tcp-pump.js';
import { UdpReceiver } from './udp-receiver.js';
import { sendDatagrams } from './udp-sender.js';

const RESULT_TIMEOUT_MS = 10_000;
/** After Ctrl-C, how long the server has to report what it measured before the client gives up. */
const INTERRUPTED_RESULT_TIMEOUT_MS = 2_000;
const UDP_QUIET_MS = 50;
/** After the server's result (reverse UDP), how long its last datagrams may still be on the way. */
const UDP_TAIL_MS = 1_000;
const REVERSE_UDP_HELLO_EVERY_MS = 50;

/** Waits `ms`, or less if the signal aborts first (never rejects). */
const pause = (ms: number, signal: AbortSignal) => sleep(ms, undefined, { signal }).catch(() => undefined);

export interface ThroughputOptions {
  readonly host: string;
  readonly port: number;
  /** TCP tests over TLS (control and data connections); UDP tests stay plain. */
  readonly tls?: TlsClientOptions;
  readonly spec: TestSpec;
  readonly durationMs: number;
  readonly intervalMs: number;
  readonly helloTimeoutMs: number;
  readonly clock: Clock;
  readonly signal: AbortSignal;
  readonly onInterval: (sample: IntervalSample) => void;
}

export interface ThroughputReport {
  readonly spec: TestSpec;
  /** What this client did: bytes sent (forward) or received (reverse). */
  readonly local: { bytes: number; packets: number; seconds: number };
  /** The receiver's figures (UDP loss, order, jitter), whichever side received. */
  readonly receiver: ServerResult;
  readonly sender: { bytes: number; packets: number; seconds: number };
  readonly intervals: IntervalSample[];
  /** Stopped by the signal (Ctrl-C) before its time: the figures cover the part that ran. */
  readonly interrupted?: boolean;
}

/**
 * Forward UDP: send the test's cookie line (every REVERSE_UDP_HELLO_EVERY_MS: a datagram can be
 * lost) until the server sends it back, `timeoutMs` at most; the server counts datagrams from the
 * peer that sent it only.
 */
async function sendCookie(
  socket: DatagramSocket,
  cookieLine: Buffer,
  options: { timeoutMs: number; where: string; signal: AbortSignal },
): Promise<void> {
  let acked = false;
  let wake: () => void = () => undefined;
  const answered = new Promise<void>((resolve) => (wake = resolve));
  socket.onMessage((datagram) => {
    if (datagram.equals(cookieLine)) {
      acked = true;
      wake();
    }
  });
  socket.onError(() => undefined); // an ICMP error before the server is up: try again
  const startMs = performance.now();
  const tries = Math.ceil(options.timeoutMs / REVERSE_UDP_HELLO_EVERY_MS) + 1;
  for (let i = 0; i < tries && !acked && !options.signal.aborted; i++) {
    if (performance.now() - startMs > options.timeoutMs) break;
    socket.send(cookieLine);
    await Promise.race([answered, pause(REVERSE_UDP_HELLO_EVERY_MS, options.signal)]);
  }
  if (acked) return;
  if (options.signal.aborted) throw new SocklabError('SOCKLAB_ERR_ABORTED', `${options.where}: interrupted`);
  throw new SocklabError(
    'SOCKLAB_ERR_TIMEOUT',
    `${options.where} did not answer the UDP test's cookie within ${options.timeoutMs} ms (is UDP to its test port blocked?)`,
  );
}

export async function runThroughput(options: ThroughputOptions): Promise<ThroughputReport> {
  const { host, port, spec, clock } = options;
  const where = formatAddress({ transport: 'tcp', host, port, ...(options.tls ? { tls: true } : {}) });
  const tls = options.tls !== undefined ? { tls: options.tls } : {};
  const control = await connectStream({
    host,
    port,
    ...tls,
    timeoutMs: options.helloTimeoutMs,
    signal: options.signal,
  });
  // The data streams and the UDP socket go to the address the control connection reached.
  const peer = control.remoteAddress ?? host;
  const lines = new LineReader(control, { maxLineBytes: MAX_CONTROL_LINE_BYTES });
  const dataSockets: Socket[] = [];
  let udp: DatagramSocket | undefined;
  const stop = new AbortController();
  const onAbort = () => stop.abort();
  options.signal.addEventListener('abort', onAbort);
  try {
    // The duration tells the server how long to wait for "done".
    const test: TestSpec = { ...spec, duration_ms: options.durationMs };
    control.write(`${JSON.stringify({ socklab_bench: PROTOCOL_VERSION, test })}\n`);
    const answer = await lines.next({
      timeoutMs: options.helloTimeoutMs,
      what: `${where} did not answer the bench hello`,
      signal: options.signal,
    });
    if (answer.line === undefined) {
      throw new SocklabError(
        'SOCKLAB_ERR_PROTOCOL',
        `${where} is not a socklab bench server: it closed the connection after the hello${answer.partial ? ` (sent '${excerpt(answer.partial)}')` : ''}`,
      );
    }
    const welcome = parseWelcome(answer.line, where);
    const counter = new IntervalCounter(clock);
    const intervals: IntervalSample[] = [];
    const work: Promise<void>[] = [];
    let receiver: UdpReceiver | undefined;

    if (spec.protocol === 'tcp') {
      const dataLine = Buffer.from(`${DATA_PREFIX}${welcome.cookie}\n`, 'latin1');
      for (let i = 0; i < spec.streams; i++) {
        const socket = await connectStream({
          host: peer,
          port,
          where,
          // The data connections go to the address the control reached: the name is still the one checked.
          ...(options.tls !== undefined
            ? { tls: { ...(peer !== host ? { servername: host } : {}), ...options.tls } }
            : {}),
          timeoutMs: options.helloTimeoutMs,
          signal: options.signal,
          ...(spec.reverse
            ? {
                onread: {
                  buffer: Buffer.allocUnsafe(256 * 1024),
                  callback: (n: number) => {
                    counter.add(n, 0);
                    return true;
                  },
                },
              }
            : {}),
        });
        socket.on('error', () => undefined);
        dataSockets.push(socket);
        socket.write(dataLine);
      }
      if (!spec.reverse) {
        const chunk = Buffer.alloc(spec.length_bytes, 0x61);
        for (const socket of dataSockets) work.push(pumpTcp(socket, chunk, counter, stop.signal));
      }
    } else {
      if (welcome.udp_port === undefined)
        throw new SocklabError('SOCKLAB_ERR_PROTOCOL', `${where} offered no UDP port for a UDP test`);
      // Batched through the native addon where it is built (recvmmsg()/sendmmsg()).
      const socket = await connectDatagram({ host: peer, port: welcome.udp_port });
      udp = socket;
      if (spec.reverse) {
        socket.onError(() => undefined);
        receiver = new UdpReceiver(clock, counter);
        receiver.attach(socket);
        // Tell the server where to send; repeat until data flows (a datagram can be lost), at
        // most until the test is over.
        const r = receiver;
        const hello = Buffer.from(`${DATA_PREFIX}${welcome.cookie}\n`, 'latin1');
        work.push(
          (async () => {
            while (r.tracker.arrivals === 0 && !stop.signal.aborted) {
              socket.send(hello);
              await pause(REVERSE_UDP_HELLO_EVERY_MS, stop.signal);
            }
          })(),
        );
      } else {
        if (welcome.cookie_ack === true) {
          await sendCookie(socket, Buffer.from(`${DATA_PREFIX}${welcome.cookie}\n`, 'latin1'), {
            timeoutMs: options.helloTimeoutMs,
            where,
            signal: options.signal,
          });
        }
        work.push(
          sendDatagrams({
            socket,
            lengthBytes: spec.length_bytes,
            rateBitsPerSec: spec.rate_bits_per_sec,
            clock,
            counter,
            stop: stop.signal,
          }),
        );
      }
    }

    const ticker = setInterval(() => {
      const sample = counter.take();
      intervals.push(sample);
      options.onInterval(sample);
    }, options.intervalMs);
    await pause(options.durationMs, options.signal);
    clearInterval(ticker);
    const last = counter.take();
    if (last.endMs - last.startMs >= options.intervalMs / 10) {
      intervals.push(last);
      options.onInterval(last);
    }
    stop.abort();
    await Promise.all(work);
    const seconds = counter.elapsedMs() / 1000;
    // Ctrl-C: as iperf3 does, the test ends now and both sides still report what they measured.
    const interrupted = options.signal.aborted;
    if (spec.protocol === 'tcp' && !spec.reverse) {
      await Promise.all(dataSockets.map((s) => new Promise<void>((resolve) => s.end(resolve))));
    }
    control.write(
      `${JSON.stringify({ done: true, sent_bytes: counter.bytes, sent_packets: counter.packets })}\n`,
    );
    const resultLine = await lines
      .next({
        timeoutMs: interrupted ? INTERRUPTED_RESULT_TIMEOUT_MS : RESULT_TIMEOUT_MS,
        what: `${where} did not report the test's result`,
        ...(interrupted ? {} : { signal: options.signal }),
      })
      .catch((err: unknown) => {
        if (interrupted) throw new SocklabError('SOCKLAB_ERR_ABORTED', 'interrupted', { cause: err });
        throw err;
      });
    if (resultLine.line === undefined)
      throw new SocklabError(
        'SOCKLAB_ERR_PROTOCOL',
        `${where} closed the control connection without a result`,
      );
    const server = parseResult(resultLine.line, where);
    if (spec.protocol === 'tcp' && spec.reverse) {
      await Promise.all(
        dataSockets.map((s) =>
          s.closed ? Promise.resolve() : new Promise<void>((resolve) => s.once('close', () => resolve())),
        ),
      );
    }
    if (receiver) {
      await receiver.tail(server.sent_packets ?? 0, {
        quietMs: UDP_QUIET_MS,
        timeoutMs: UDP_TAIL_MS,
        signal: options.signal,
      });
    }
    const local = { bytes: counter.bytes, packets: counter.packets, seconds };
    if (!spec.reverse) return { spec, local, sender: local, receiver: server, intervals, interrupted };
    const sender = {
      bytes: server.sent_bytes ?? 0,
      packets: server.sent_packets ?? 0,
      seconds: server.seconds,
    };
    const received: ServerResult = receiver
      ? {
          bytes: counter.bytes,
          packets: counter.packets,
          seconds,
          lost_packets: receiver.tracker.lost(server.sent_packets),
          out_of_order: receiver.tracker.outOfOrder,
          duplicates: receiver.tracker.duplicates,
          invalid_packets: receiver.tracker.invalid(server.sent_packets),
          jitter_ms: receiver.jitter.jitterMs,
        }
      : { bytes: counter.bytes, packets: 0, seconds };
    return { spec, local, sender, receiver: received, intervals, interrupted };
  } finally {
    options.signal.removeEventListener('abort', onAbort);
    stop.abort();
    for (const s of dataSockets) s.destroy();
    control.destroy();
    udp?.close();
  }
}
