/**
 * Sending numbered, timestamped datagrams at a target rate (or as fast as the socket takes them).
 *
 * Node has no sendmmsg, so each datagram is one send() (without a callback: the cheaper call); bursts of BURST_DATAGRAMS between
 * yields keep timers and the control connection alive. UDP has no backpressure: when libuv's send
 * queue holds MAX_QUEUED_SENDS datagrams the loop yields instead of queueing without limit.
 * Buffers come from a ring larger than that queue, so a buffer is only rewritten after the
 * kernel has taken it.
 */
import type { Socket } from 'node:dgram';
import type { Clock } from '../measure/clock.js';
import type { IntervalCounter } from '../measure/interval-counter.js';
import { pause, yieldToIo } from './pause.js';
import { DATAGRAM_HEADER_BYTES, writeDatagramHeader } from './protocol.js';

const BURST_DATAGRAMS = 256;
const MAX_QUEUED_SENDS = 512;
const RING_BUFFERS = 1024;

export interface UdpSendOptions {
  /** A connect()ed socket: send() without an address is the cheaper call. */
  readonly socket: Socket;
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
  const startMs = clock.nowMs();
  let sequence = 0;
  let failed: Error | undefined;
  // send() without a callback is the cheaper call (no closure, no completion per datagram); a
  // failed send surfaces as the socket's 'error' event instead.
  const onError = (err: Error) => (failed ??= err);
  socket.on('error', onError);
  try {
    while (!stop.aborted && failed === undefined) {
      let budget = BURST_DATAGRAMS;
      if (rateBitsPerSec > 0) {
        const due = Math.floor((clock.nowMs() - startMs) * datagramsPerMs) + 1;
        budget = Math.min(due - sequence, BURST_DATAGRAMS);
        if (budget <= 0) {
          const waitMs = (sequence + 1) / datagramsPerMs - (clock.nowMs() - startMs);
          // A timer has ~1 ms granularity: below that, yield instead (more CPU, steadier pacing).
          if (waitMs > 1.5) await pause(waitMs - 1, stop);
          else await yieldToIo();
          continue;
        }
      }
      for (let i = 0; i < budget; i++) {
        if (socket.getSendQueueCount() >= MAX_QUEUED_SENDS) break;
        const buf = ring[sequence % RING_BUFFERS]!;
        writeDatagramHeader(buf, sequence, clock.nowMs());
        socket.send(buf);
        sequence++;
        counter.add(length);
      }
      await yieldToIo();
    }
  } finally {
    socket.off('error', onError);
  }
  if (failed) throw failed;
}
