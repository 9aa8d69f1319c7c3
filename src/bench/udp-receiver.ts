/**
 * The receiving side of a UDP test: per datagram, its sequence number (loss, order, duplicates),
 * its send time (RFC 3550 jitter) and its size. Datagrams without the bench header are ignored
 * (counted apart), so a stray sender cannot corrupt the figures.
 */
import type { Socket } from 'node:dgram';
import type { Clock } from '../measure/clock.js';
import type { IntervalCounter } from '../measure/interval-counter.js';
import { JitterEstimator } from '../measure/jitter.js';
import { SequenceTracker } from '../measure/sequence-tracker.js';
import { readDatagramHeader } from './protocol.js';

export class UdpReceiver {
  readonly tracker = new SequenceTracker();
  readonly jitter = new JitterEstimator();
  foreign = 0;
  #lastArrivalMs: number;

  constructor(
    private readonly clock: Clock,
    private readonly counter: IntervalCounter,
  ) {
    this.#lastArrivalMs = clock.now();
  }

  /** Feed one datagram; returns false if it was not a bench datagram. */
  receive(datagram: Buffer): boolean {
    const header = readDatagramHeader(datagram);
    if (!header) {
      this.foreign++;
      return false;
    }
    const nowMs = this.clock.now();
    this.#lastArrivalMs = nowMs;
    this.counter.add(datagram.length);
    if (this.tracker.record(header.sequence) !== 'duplicate') this.jitter.update(header.sendTimeMs, nowMs);
    return true;
  }

  attach(socket: Socket): void {
    socket.on('message', (msg) => this.receive(msg));
  }

  /** Milliseconds since the last bench datagram arrived (to wait for the tail of a test). */
  quietForMs(): number {
    return this.clock.now() - this.#lastArrivalMs;
  }
}
