/**
 * limit-data (TCP), toxiproxy's limit_data: forward `limitBytes` in this direction, then close the
 * connection (FIN after the last byte; what arrives after it is counted as truncated). A declared
 * end of the stream, not a loss.
 */
import { defineFault } from '../fault.js';
import type { Stage } from '../stage.js';
import { formatSize, parseSize } from '../../measure/units.js';

export interface LimitDataParams {
  limitBytes: number;
}

export const limitData = defineFault<LimitDataParams>({
  type: 'limit-data',
  summary: 'close the connection after N bytes (toxiproxy limit_data)',
  transports: ['tcp'],
  rank: 35,
  params: {
    limitBytes: { kind: 'size', summary: 'bytes forwarded before the close', required: true },
  },
  flags: [
    {
      flag: 'limit-data',
      value: 'SIZE',
      summary: 'close the connection after SIZE bytes in this direction: 1mb',
      parse: (text, what) => ({ limitBytes: parseSize(what, text) }),
    },
  ],
  describe: (p) => formatSize(p.limitBytes), // `limit-data 64KiB`
  create(initial): Stage<LimitDataParams> {
    let p = initial;
    let sent = 0;
    let done = false;
    return {
      push(packet, ctx) {
        if (done) {
          ctx.count('truncated', packet);
          return;
        }
        const room = p.limitBytes - sent;
        if (packet.data.length > room) {
          ctx.count('truncated', { ...packet, data: packet.data.subarray(room) });
          packet.data = packet.data.subarray(0, room);
        }
        sent += packet.data.length;
        if (packet.data.length > 0) ctx.emit(packet);
        if (sent >= p.limitBytes) {
          done = true;
          ctx.end('close');
        }
      },
      end(ctx, action) {
        if (!done) ctx.end(action);
      },
      update(params, ctx) {
        p = params;
        if (!done && sent >= p.limitBytes) {
          done = true;
          ctx.end('close');
        }
      },
    };
  },
});
