/**
 * The receiving side of a UDP test: per datagram, its sequence number (loss, order, duplicates),
 * its send time (RFC 3550 jitter) and its size. Datagrams without the bench header are ignored
 * (counted apart), so a stray sender cannot corrupt the figures.
 */
import { setTimeout as sleep } from 'node:timers/promises';
import type { DatagramSocket } from '../core/datagram.js';
import type { Clock } from '../measure/clock.js';
import type { IntervalCounter } from '../measure/interval-counter.js';
import { JitterEstimator } from '../measure/jitter.js';
import { SequenceTracker } from '../measure/sequence-tracker.js';
import { readDatagramHeader } from './protocol.js';

/** How often the tail wait looks whether the last datagrams have come. */
const TAIL_POLL_MS = 5;

export interface TailOptions {
  /** Stop waiting once no bench datagram has arrived for this long. */
  readonly quietMs: number;
  /** Stop waiting after this long in any case. */
  readonly timeoutMs: number;
  readonly signal?: AbortSignal;
}

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
    const arrival = this.tracker.record(header.sequence);
    if (arrival !== 'duplicate' && arrival !== 'invalid') this.jitter.update(header.sendTimeMs, nowMs);
    return true;
  }

  /** Count what `socket` receives (its only message handler from now on). */
  attach(socket: DatagramSocket): void {
    socket.onMessage((datagram) => this.receive(datagram));
  }

  /** Milliseconds since the last bench datagram arrived (to wait for the tail of a test). */
  quietForMs(): number {
    return this.clock.now() - this.#lastArrivalMs;
  }

  /**
   * The end of a test: wait until `expected` datagrams have arrived, or none for `quietMs`, or
   * `timeoutMs` has passed, or the signal aborts, whichever comes first.
   */
  async tail(expected: number, options: TailOptions): Promise<void> {
    const polls = Math.ceil(options.timeoutMs / TAIL_POLL_MS);
    for (let i = 0; i < polls; i++) {
      if (this.tracker.received >= expected || this.quietForMs() >= options.quietMs) return;
      try {
        await sleep(TAIL_POLL_MS, undefined, { signal: options.signal });
      } catch {
        return; // aborted
      }
    }
  }
}
