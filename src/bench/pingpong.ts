/**
 * Ping-pong latency against any echo server: each connection keeps exactly one message in
 * flight, records its round trip in an HDR histogram, and sends the next at once. With
 * `connections` > 1 every connection does the same concurrently (total round trips/s).
 *
 * All connections share one read buffer (`onread`): Node reads one socket at a time and calls
 * back synchronously, so no Buffer is allocated per read, which is most of the client's cost.
 */
import { setMaxListeners } from 'node:events';
import type { Socket } from 'node:net';
import { setTimeout as sleep } from 'node:timers/promises';
import { formatAddress } from '../address.js';
import { isSocklabError, SocklabError } from '../errors.js';
import type { Clock } from '../measure/clock.js';
import { LatencyHistogram, type LatencySummary } from '../measure/latency-histogram.js';
import { connectDatagram, connectStream } from '../core/connect.js';
import type { TlsClientOptions } from '../core/tls.js';
import type { DatagramSocket } from '../core/datagram.js';

const READ_BUFFER_BYTES = 64 * 1024;
/**
 * sockperf's message header: sequence number (u64), flags (u16), whole message length (u32),
 * network byte order. Its server answers only messages flagged as a client's ping.
 */
export const SOCKPERF_HEADER_BYTES = 14;
const SOCKPERF_CLIENT_PING = 0x0003;
/** A UDP ping whose pong has not come back within this is counted lost and the next is sent. */
const UDP_REPLY_TIMEOUT_MS = 1_000;
/** How often the lost-ping watchdog looks (one timer for the run, not one per ping). */
const UDP_WATCHDOG_MS = 100;

export interface PingPongOptions {
  readonly host: string;
  readonly port: number;
  /** TCP over TLS. */
  readonly tls?: TlsClientOptions;
  readonly transport: 'tcp' | 'udp';
  readonly lengthBytes: number;
  readonly connections: number;
  /** 'sockperf': each message starts with sockperf's header (for `sockperf server`). */
  readonly format?: 'plain' | 'sockperf';
  readonly durationMs?: number;
  readonly count?: number;
  readonly intervalMs: number;
  readonly connectTimeoutMs: number;
  readonly clock: Clock;
  readonly signal: AbortSignal;
  readonly onInterval: (sample: PingPongInterval) => void;
}

export interface PingPongInterval {
  readonly startMs: number;
  readonly endMs: number;
  readonly roundTrips: number;
  readonly latency: LatencySummary;
}

export interface PingPongReport {
  readonly connections: number;
  readonly connectFailures: number;
  readonly establishMs: number;
  readonly roundTrips: number;
  readonly lost: number;
  readonly seconds: number;
  readonly latency: LatencySummary;
  readonly intervals: PingPongInterval[];
  /** Stopped by the signal (Ctrl-C) before its time or count: the figures cover the part that ran. */
  readonly interrupted?: boolean;
}

export async function runPingPong(options: PingPongOptions): Promise<PingPongReport> {
  const { clock, lengthBytes } = options;
  const message = Buffer.alloc(lengthBytes, 0x78); // 'x': never mistaken for a bench hello
  if (options.format === 'sockperf') {
    message.writeBigUInt64BE(1n, 0);
    message.writeUInt16BE(SOCKPERF_CLIENT_PING, 8);
    message.writeUInt32BE(lengthBytes, 10);
  }
  // Each round trip is recorded once, in the interval's histogram, which is added to the run's
  // at the end of the interval (recording costs more than adding, once a second).
  const total = new LatencyHistogram();
  const interval = new LatencyHistogram();
  const foldInterval = () => {
    total.add(interval);
    interval.reset();
  };
  const finished = new AbortController();
  const done = finished.signal;
  const onAbort = () => finished.abort();
  options.signal.addEventListener('abort', onAbort);
  let roundTrips = 0;
  let lost = 0;
  const count = options.count ?? Infinity;
  /** One round trip of `rttMs`; false once the run is over (no next ping then). */
  const record = (rttMs: number): boolean => {
    interval.recordMs(rttMs);
    if (++roundTrips >= count) finished.abort();
    return !done.aborted;
  };

  const sockets: Socket[] = [];
  let udp: DatagramSocket | undefined;
  let connectFailures = 0;
  const establishStartMs = clock.now();
  let establishMs = 0;
  try {
    if (options.transport === 'tcp') {
      // Per connection: bytes of the current pong received so far, and when its ping left.
      const pending = new Map<Socket, { received: number; sentAtMs: number }>();
      const buffer = Buffer.allocUnsafe(READ_BUFFER_BYTES);
      // Every connection in flight waits on the run's signal (Ctrl-C ends the attempts at once).
      const connecting = AbortSignal.any([options.signal]);
      setMaxListeners(options.connections + 1, connecting);
      let firstFailure: unknown;
      let allDns = true;
      const attempts = Array.from({ length: options.connections }, async () => {
        let self: Socket | undefined;
        const state = { received: 0, sentAtMs: 0 };
        try {
          self = await connectStream({
            host: options.host,
            port: options.port,
            timeoutMs: options.connectTimeoutMs,
            signal: connecting,
            ...(options.tls !== undefined ? { tls: options.tls } : {}),
            onread: {
              buffer,
              callback: (n: number) => {
                state.received += n;
                if (state.received < lengthBytes) return true;
                state.received -= lengthBytes;
                if (record(clock.now() - state.sentAtMs) && self) {
                  state.sentAtMs = clock.now();
                  self.write(message);
                }
                return true;
              },
            },
          });
          self.on('error', () => undefined);
          sockets.push(self);
          pending.set(self, state);
        } catch (err) {
          connectFailures++;
          firstFailure ??= err;
          allDns &&= isSocklabError(err, 'SOCKLAB_ERR_DNS');
          if (options.connections === 1) throw err;
        }
      });
      await Promise.all(attempts);
      establishMs = clock.now() - establishStartMs;
      if (options.signal.aborted) throw new SocklabError('SOCKLAB_ERR_ABORTED', 'interrupted');
      if (sockets.length === 0) {
        // One name that does not resolve fails every connection the same way: say so.
        if (allDns) throw firstFailure;
        throw new SocklabError(
          'SOCKLAB_ERR_CONNECT',
          `cannot connect to ${formatAddress({ transport: 'tcp', host: options.host, port: options.port })}: all ${options.connections} connections failed`,
          { cause: firstFailure },
        );
      }
      for (const socket of sockets) {
        const state = pending.get(socket)!;
        state.sentAtMs = clock.now();
        socket.write(message);
        // The echo server closing on us ends this connection's part of the run.
        socket.once('close', () => {
          if (sockets.every((s) => s.destroyed)) finished.abort();
        });
      }
    } else {
      // Batched through the native addon where it is built: each pong comes in one recvmmsg()
      // call and the next ping, sent from its handler, leaves with one sendmmsg() as it returns.
      const socket = await connectDatagram({ host: options.host, port: options.port });
      udp = socket;
      // "Port unreachable" and the like: the pings go unanswered, which the run reports.
      socket.onError(() => undefined);
      establishMs = clock.now() - establishStartMs;
      let sentAtMs = 0;
      const send = () => {
        sentAtMs = clock.now();
        socket.send(message);
      };
      socket.onMessage((msg) => {
        if (msg.length !== lengthBytes || done.aborted) return;
        if (record(clock.now() - sentAtMs)) send();
      });
      // A ping unanswered for UDP_REPLY_TIMEOUT_MS is lost: count it and send the next.
      const watchdog = setInterval(() => {
        if (done.aborted || clock.now() - sentAtMs < UDP_REPLY_TIMEOUT_MS) return;
        lost++;
        send();
      }, UDP_WATCHDOG_MS);
      done.addEventListener('abort', () => clearInterval(watchdog), { once: true });
      send();
    }

    const runStartMs = clock.now();
    const intervals: PingPongInterval[] = [];
    let intervalStartMs = runStartMs;
    let intervalTrips = 0;
    const takeInterval = () => {
      const nowMs = clock.now();
      const sample = {
        startMs: intervalStartMs - runStartMs,
        endMs: nowMs - runStartMs,
        roundTrips: roundTrips - intervalTrips,
        latency: interval.summary(),
      };
      foldInterval();
      intervalTrips = roundTrips;
      intervalStartMs = nowMs;
      intervals.push(sample);
      options.onInterval(sample);
    };
    const ticker = setInterval(takeInterval, options.intervalMs);
    if (options.durationMs !== undefined)
      await sleep(options.durationMs, undefined, { signal: done }).catch(() => undefined);
    else
      await new Promise<void>((resolve) => done.addEventListener('abort', () => resolve(), { once: true }));
    finished.abort();
    clearInterval(ticker);
    if (clock.now() - intervalStartMs >= options.intervalMs / 10) takeInterval();
    else foldInterval();
    // Ctrl-C after some round trips: the summary of those, as iperf3 and sockperf print it.
    const interrupted = options.signal.aborted;
    if (interrupted && roundTrips === 0) throw new SocklabError('SOCKLAB_ERR_ABORTED', 'interrupted');
    if (roundTrips === 0) {
      const where = formatAddress({ transport: options.transport, host: options.host, port: options.port });
      const closed = options.transport === 'tcp' && sockets.every((s) => s.destroyed);
      const why = closed
        ? 'it closed the connection without answering'
        : `nothing in ${((clock.now() - runStartMs) / 1000).toFixed(1)} s`;
      throw new SocklabError(
        'SOCKLAB_ERR_TIMEOUT',
        `no reply from ${where} (${why}): is it an echo server?` +
          (options.format === 'sockperf' ? '' : " (sockperf's server answers only --sockperf messages)"),
      );
    }
    return {
      connections: sockets.length || (udp ? 1 : 0),
      connectFailures,
      establishMs,
      roundTrips,
      lost,
      seconds: (clock.now() - runStartMs) / 1000,
      latency: total.summary(),
      intervals,
      interrupted,
    };
  } finally {
    options.signal.removeEventListener('abort', onAbort);
    finished.abort();
    for (const s of sockets) s.destroy();
    udp?.close();
  }
}
