/**
 * rate: a bandwidth limit (netem `rate 1mbit`): each packet leaves once the link has had the time
 * to send it, `bytes / rateBytesPerSec` after the previous one. TCP chunks are cut into pieces of
 * about 10 ms of sending each, so a slow rate trickles instead of bursting.
 *
 * Datagrams and IP packets wait in a queue for their turn; with `queuePackets` or `queueBytes` the
 * queue is bounded (droptail: a packet that finds it full is dropped, counted as overflowed), which
 * is what makes TCP through the link congestion-limited rather than timing out. A stream (the
 * relay's TCP) is never dropped from: it is held back by the pipeline's bound instead.
 */
import { defineFault, faultError } from '../fault.js';
import type { Stage } from '../stage.js';
import { formatRate, formatSize, parseCount, parseRate, parseSize } from '../../measure/units.js';

export interface RateParams {
  rateBytesPerSec: number;
  /** Datagrams waiting (or being sent) at most; more are dropped. */
  queuePackets?: number;
  /** Bytes waiting (or being sent) at most; more are dropped. */
  queueBytes?: number;
}

/** `100` (packets) or `64kb` (bytes). */
export function parseQueue(text: string, what: string): Partial<RateParams> {
  if (/^\s*\d+\s*(p|packets?)?\s*$/i.test(text)) {
    return { queuePackets: parseCount(what, text.replace(/[^\d]/g, ''), 1, 1_000_000) };
  }
  return { queueBytes: parseSize(what, text) };
}

export const rate = defineFault<RateParams>({
  type: 'rate',
  summary: 'limit the bandwidth (netem rate)',
  transports: ['tcp', 'udp'],
  rank: 60,
  params: {
    rateBytesPerSec: {
      kind: 'rate',
      summary: 'bandwidth in bytes per second (1mbit, 100kbps)',
      required: true,
    },
    queuePackets: {
      kind: 'count',
      summary: 'datagrams or packets queued at most (droptail)',
      min: 1,
      max: 1_000_000,
    },
    queueBytes: { kind: 'size', summary: 'bytes queued at most (droptail)' },
  },
  flags: [
    {
      flag: 'rate',
      value: 'RATE',
      summary: 'limit the bandwidth: 1mbit, 100kbps (bps = bytes/s, as in tc)',
      parse: (text, what) => ({ rateBytesPerSec: parseRate(what, text) }),
    },
    {
      flag: 'queue',
      value: 'N|SIZE',
      summary: 'the rate limit queue (droptail): N packets, or SIZE bytes (64kb); datagrams only',
      modifier: true,
      parse: (text, what) => parseQueue(text, what),
    },
  ],
  check(p, what) {
    if (p.queuePackets !== undefined && p.queueBytes !== undefined) {
      throw faultError(what, 'give the queue in packets or in bytes, not both');
    }
    if (p.queueBytes !== undefined && p.queueBytes < 1)
      throw faultError(what, 'a queue of 0 bytes takes nothing');
  },
  describe: (p) =>
    `${formatRate(p.rateBytesPerSec)}${
      p.queuePackets !== undefined
        ? ` queue ${p.queuePackets} packets`
        : p.queueBytes !== undefined
          ? ` queue ${formatSize(p.queueBytes)}`
          : ''
    }`,
  create(initial): Stage<RateParams> {
    let p = initial;
    /** When the simulated link is free again. */
    let freeAtMs = -Infinity;
    /** Datagrams: when each one queued finishes sending, oldest first (bounded by queuePackets). */
    const departures: number[] = [];
    let head = 0;
    return {
      push(packet, ctx) {
        const msPerByte = 1000 / p.rateBytesPerSec;
        const data = packet.data;
        if (ctx.transport !== 'tcp') {
          const at = packet.dueMs;
          while (head < departures.length && departures[head]! <= at) head++;
          if (head > 1024 && head * 2 > departures.length) {
            departures.splice(0, head);
            head = 0;
          }
          const waiting = departures.length - head;
          const backlogBytes = freeAtMs > at ? (freeAtMs - at) / msPerByte : 0;
          if (
            (p.queuePackets !== undefined && waiting >= p.queuePackets) ||
            (p.queueBytes !== undefined && backlogBytes + data.length > p.queueBytes)
          ) {
            ctx.count('overflowed', packet);
            return;
          }
          const done = Math.max(at, freeAtMs) + data.length * msPerByte;
          freeAtMs = done;
          packet.dueMs = done;
          if (p.queuePackets !== undefined) departures.push(done);
          ctx.emit(packet);
          return;
        }
        const piece = Math.min(65536, Math.max(1024, Math.floor(p.rateBytesPerSec / 100)));
        let start = Math.max(packet.dueMs, freeAtMs);
        if (data.length <= piece) {
          start += data.length * msPerByte;
          freeAtMs = start;
          packet.dueMs = start;
          ctx.emit(packet);
          return;
        }
        for (let offset = 0; offset < data.length; offset += piece) {
          const part = data.subarray(offset, offset + piece);
          start += part.length * msPerByte;
          ctx.emit({ data: part, arrivedMs: packet.arrivedMs, dueMs: start });
        }
        freeAtMs = start;
      },
      update(params) {
        p = params;
      },
    };
  },
});
