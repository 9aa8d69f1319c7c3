/**
 * Sending numbered, timestamped datagrams at a target rate (or as fast as the socket takes them).
 *
 * Bursts of BURST_DATAGRAMS between yields keep timers and the control connection alive. With the
 * native addon a burst is corked and written with one sendmmsg(); on node:dgram each datagram is
 * one send() (without a callback: the cheaper call). UDP has no backpressure: when dgram's send
 * queue holds MAX_QUEUED_SENDS datagrams the loop yields instead of queueing without limit.
 * Buffers come from a ring larger than that queue, so a buffer is only rewritten after the
 * kernel has taken it (the addon copies at send() anyway).
 */
import { setImmediate as yieldToIo, setTimeout as sleep } from 'node:timers/promises';
import type { DatagramSocket } from '../core/datagram.js';
import type { Clock } from '../measure/clock.js';
import type { IntervalCounter } from '../measure/interval-counter.js';
import { DATAGRAM_HEADER_BYTES, writeDatagramHeader } from './protocol.js';

const BURST_DATAGRAMS = 256;
const MAX_QUEUED_SENDS = 512;
const RING_BUFFERS = 1024;

export interface UdpSendOptions {
  /** A connect()ed socket. */
  readonly socket: DatagramSocket;
  readonly lengthBytes: number;
  /** Payload bits per second; 0 = as fast as possible. */
  readonly rateBitsPerSec: number;
  readonly clock: Clock;
  readonly counter: IntervalCounter;
  /** Aborted when the test time is over. */
  readonly stop: AbortSignal;
}

export async function sendDatagrams(options: UdpSendOptions): Promise<void> {
  const { socket, lengthBytes, rateBitsPerSec, clock, counter, stop } = options;
  const length = Math.max(lengthBytes, DATAGRAM_HEADER_BYTES);
  const ring = Array.from({ length: RING_BUFFERS }, () => Buffer.alloc(length, 0x61));
  const datagramsPerMs = rateBitsPerSec / 8 / length / 1000;
  const startMs = clock.now();
  let sequence = 0;
  let failed: Error | undefined;
  // A failed send surfaces as the socket's error (dgram's 'error' event, or the addon's report).
  socket.onError((err) => (failed ??= err));
  while (!stop.aborted && failed === undefined) {
    let budget = BURST_DATAGRAMS;
    if (rateBitsPerSec > 0) {
      const due = Math.floor((clock.now() - startMs) * datagramsPerMs) + 1;
      budget = Math.min(due - sequence, BURST_DATAGRAMS);
      if (budget <= 0) {
        const waitMs = (sequence + 1) / datagramsPerMs - (clock.now() - startMs);
        // A timer has ~1 ms granularity: below that, yield instead (more CPU, steadier pacing).
        if (waitMs > 1.5) await sleep(waitMs - 1, undefined, { signal: stop }).catch(() => undefined);
        else await yieldToIo();
        continue;
      }
    }
    const droppedBefore = socket.dropped();
    let sent = 0;
    socket.cork();
    try {
      for (; sent < budget; sent++) {
        if (socket.queuedSends() >= MAX_QUEUED_SENDS) break;
        const buf = ring[sequence % RING_BUFFERS]!;
        writeDatagramHeader(buf, sequence, clock.now());
        socket.send(buf);
        sequence++;
      }
    } finally {
      socket.uncork();
    }
    // Only what the kernel took counts as sent (the addon drops what a full buffer refused).
    const written = sent - (socket.dropped() - droppedBefore);
    counter.add(written * length, written);
    await yieldToIo();
  }
  if (failed) throw failed;
}
