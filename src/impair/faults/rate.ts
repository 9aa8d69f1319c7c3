/**
 * rate: a bandwidth limit (netem `rate 1mbit`): each packet leaves once the link has had the time
 * to send it, `bytes / rateBytesPerSec` after the previous one. TCP chunks are cut into pieces of
 * about 10 ms of sending each, so a slow rate trickles instead of bursting.
 */
import { defineFault } from '../fault.js';
import type { Stage } from '../stage.js';
import { formatRate, parseRate } from '../../measure/units.js';

export interface RateParams {
  rateBytesPerSec: number;
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
  },
  flags: [
    {
      flag: 'rate',
      value: 'RATE',
      summary: 'limit the bandwidth: 1mbit, 100kbps (bps = bytes/s, as in tc)',
      parse: (text, what) => ({ rateBytesPerSec: parseRate(what, text) }),
    },
  ],
  describe: (p) => formatRate(p.rateBytesPerSec),
  create(initial): Stage<RateParams> {
    let p = initial;
    /** When the simulated link is free again. */
    let freeAtMs = -Infinity;
    return {
      push(packet, ctx) {
        const msPerByte = 1000 / p.rateBytesPerSec;
        const data = packet.data;
        const piece =
          ctx.transport === 'tcp'
            ? Math.min(65536, Math.max(1024, Math.floor(p.rateBytesPerSec / 100)))
            : data.length;
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
