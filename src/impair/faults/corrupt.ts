/**
 * corrupt: flip one random bit in some datagrams (netem `corrupt 0.1%`).
 *
 * On the link (whole IP packets) the bit is flipped past the IP header, so the packet still reaches
 * its host, and `checksum` says what happens next: `stale` leaves the transport checksum as it was,
 * so the receiving kernel finds the damage, drops the packet and counts it (InCsumErrors): what
 * "TCP and UDP are error-checked" means; `recompute` flips a bit of the payload and fixes the
 * checksum, as a broken middlebox that rewrites packets would: the damage is delivered to the
 * application, and nothing in TCP or UDP can tell.
 */
import { defineFault } from '../fault.js';
import { parseIpv4, payloadRange, recomputeTransportChecksum } from '../ip.js';
import type { Stage } from '../stage.js';
import { formatFraction, parseFraction } from '../../measure/units.js';

export interface CorruptParams {
  corruptRate: number;
  /** Link only: what becomes of the transport checksum. */
  checksum: 'stale' | 'recompute';
}

export const corrupt = defineFault<CorruptParams>({
  type: 'corrupt',
  summary: 'flip a random bit in some datagrams (netem corrupt)',
  transports: ['udp'],
  rank: 30,
  params: {
    corruptRate: { kind: 'fraction', summary: 'chance that a datagram gets one bit flipped', required: true },
    checksum: {
      kind: ['stale', 'recompute'],
      summary: 'link only: leave the checksum stale (the kernel drops it) or recompute it (delivered)',
      default: 'stale',
    },
  },
  flags: [
    {
      flag: 'corrupt',
      value: 'RATE',
      summary: 'flip one random bit in some datagrams: 0.1%',
      parse: (text, what) => ({ corruptRate: parseFraction(what, text) }),
    },
    {
      flag: 'corrupt-checksum',
      value: 'WHAT',
      summary: 'link only: stale (default: the receiving kernel drops the packet) or recompute',
      modifier: true,
      parse: (text) => ({ checksum: text }),
    },
  ],
  describe: (p) =>
    `${formatFraction(p.corruptRate)}${p.checksum === 'recompute' ? ' (checksum recomputed)' : ''}`,
  create(initial): Stage<CorruptParams> {
    let p = initial;
    return {
      push(packet, ctx) {
        if (packet.data.length > 0 && p.corruptRate > 0 && ctx.random.next() < p.corruptRate) {
          let start = 0;
          let end = packet.data.length;
          if (ctx.ip) {
            const range =
              p.checksum === 'recompute'
                ? payloadRange(packet.data)
                : ([parseIpv4(packet.data)?.headerBytes ?? 0, packet.data.length] as const);
            if (range === undefined || range[0] >= range[1]) {
              ctx.emit(packet); // nothing past the headers to damage (a pure ACK)
              return;
            }
            [start, end] = range;
          }
          const copy = Buffer.from(packet.data); // the original may be shared with a duplicate
          const at = start + ctx.random.below(end - start);
          copy[at] = copy[at]! ^ (1 << ctx.random.below(8));
          if (ctx.ip && p.checksum === 'recompute') recomputeTransportChecksum(copy);
          packet.data = copy;
          ctx.count('corrupted', packet);
        }
        ctx.emit(packet);
      },
      update(params) {
        p = params;
      },
    };
  },
});
