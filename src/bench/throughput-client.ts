/**
 * The client of a throughput test against `socklab bench --server`: hello on a control
 * connection, P data streams (TCP) or one UDP socket, intervals while it runs, then "done" and
 * the server's own account of what it received (or, with --reverse, sent).
 */
import { createSocket } from 'node:dgram';
import type { Socket } from 'node:net';
import { SocklabError } from '../errors.js';
import type { Clock } from '../measure/clock.js';
import { IntervalCounter, type IntervalSample } from '../measure/interval-counter.js';
import { connectStream } from '../core/connect.js';
import { LineReader } from '../core/line-reader.js';
import { pause } from './pause.js';
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
import { openDatagramSocket } from '../core/datagram.js';

const RESULT_TIMEOUT_MS = 10_000;
const UDP_QUIET_MS = 50;
const REVERSE_UDP_HELLO_EVERY_MS = 50;

export interface ThroughputOptions {
  readonly host: string;
  readonly port: number;
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
}

export async function runThroughput(options: ThroughputOptions): Promise<ThroughputReport> {
  const { host, port, spec, clock } = options;
  const where = `tcp://${host}:${port}`;
  const control = await connectStream({
    host,
    port,
    timeoutMs: options.helloTimeoutMs,
    signal: options.signal,
  });
  const lines = new LineReader(control, { maxLineBytes: MAX_CONTROL_LINE_BYTES });
  const dataSockets: Socket[] = [];
  let udp: { close(): void } | undefined;
  const stop = new AbortController();
  const onAbort = () => stop.abort();
  options.signal.addEventListener('abort', onAbort);
  try {
    control.write(`${JSON.stringify({ socklab_bench: PROTOCOL_VERSION, test: spec })}\n`);
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
          host,
          port,
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
      const type = host.includes(':') ? 'udp6' : 'udp4';
      if (spec.reverse) {
        const socket = createSocket({ type });
        udp = socket;
        socket.on('error', () => undefined);
        await new Promise<void>((resolve) => socket.connect(welcome.udp_port!, host, resolve));
        socket.setRecvBufferSize(4 * 1024 * 1024);
        receiver = new UdpReceiver(clock, counter);
        receiver.attach(socket);
        // Tell the server where to send; repeat until data flows (a datagram can be lost).
        const r = receiver;
        work.push(
          (async () => {
            while (r.tracker.arrivals === 0 && !stop.signal.aborted) {
              socket.send(`${DATA_PREFIX}${welcome.cookie}\n`);
              await pause(REVERSE_UDP_HELLO_EVERY_MS, stop.signal);
            }
          })(),
        );
      } else {
        // Sending: batched through the native addon where it is built (one sendmmsg() a burst).
        const socket = openDatagramSocket({ type });
        udp = socket;
        await socket.connect(host, welcome.udp_port);
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
    if (options.signal.aborted) throw new SocklabError('SOCKLAB_ERR_ABORTED', 'interrupted');
    if (spec.protocol === 'tcp' && !spec.reverse) {
      await Promise.all(dataSockets.map((s) => new Promise<void>((resolve) => s.end(resolve))));
    }
    control.write(
      `${JSON.stringify({ done: true, sent_bytes: counter.bytes, sent_packets: counter.packets })}\n`,
    );
    const resultLine = await lines.next({
      timeoutMs: RESULT_TIMEOUT_MS,
      what: `${where} did not report the test's result`,
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
      const deadline = clock.now() + 1_000;
      while (receiver.tracker.received < (server.sent_packets ?? 0) && receiver.quietForMs() < UDP_QUIET_MS) {
        if (clock.now() > deadline) break;
        await pause(5);
      }
    }
    const local = { bytes: counter.bytes, packets: counter.packets, seconds };
    if (!spec.reverse) return { spec, local, sender: local, receiver: server, intervals };
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
          jitter_ms: receiver.jitter.jitterMs,
        }
      : { bytes: counter.bytes, packets: 0, seconds };
    return { spec, local, sender, receiver: received, intervals };
  } finally {
    options.signal.removeEventListener('abort', onAbort);
    stop.abort();
    for (const s of dataSockets) s.destroy();
    control.destroy();
    udp?.close();
  }
}
