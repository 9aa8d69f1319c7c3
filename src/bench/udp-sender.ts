/**
 * Sending numbered, timestamped datagrams at a target rate (or as fast as the socket takes them).
 *
 * Bursts of BURST_DATAGRAMS between yields keep timers and the control connection alive. With the
 * native addon a burst is corked and written with one sendmmsg(); on node:dgram each datagram is
 * one send() (without a callback: the cheaper call). UDP has no backpressure: when dgram's send
 * queue holds MAX_QUEUED_SENDS datagrams the loop yields instead of queueing without limit.
 * On node:dgram, buffers come from a ring larger than that queue (and at most RING_BYTES), so a
 * buffer is only rewritten after the kernel has taken it; the addon copies at send(), so one
 * buffer serves. The length is the caller's to bound (at most a datagram, MAX_UDP_PAYLOAD).
 */
import { setImmediate as yieldToIo, setTimeout as sleep } from 'node:timers/promises';
import type { DatagramSocket } from '../core/datagram.js';
import type { Clock } from '../measure/clock.js';
import type { IntervalCounter } from '../measure/interval-counter.js';
import { DATAGRAM_HEADER_BYTES, writeDatagramHeader } from './protocol.js';

const BURST_DATAGRAMS = 256;
const MAX_QUEUED_SENDS = 512;
const RING_BUFFERS = 1024;
/** The ring's bytes at most (node:dgram): 64 buffers of the largest datagram, 1024 of 4 KiB. */
const RING_BYTES = 4 * 1024 * 1024;

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
  // The addon copies each datagram at send(): one buffer will do. node:dgram holds on to what it
  // queues: a ring, bounded in bytes, and never more queued than the ring minus one.
  const ringBuffers = socket.batched
    ? 1
    : Math.max(2, Math.min(RING_BUFFERS, Math.floor(RING_BYTES / length)));
  const maxQueued = socket.batched ? MAX_QUEUED_SENDS : Math.min(MAX_QUEUED_SENDS, ringBuffers - 1);
  const ring = Array.from({ length: ringBuffers }, () => Buffer.alloc(length, 0x61));
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
        if (socket.queuedSends() >= maxQueued) break;
        const buf = ring[sequence % ringBuffers]!;
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
