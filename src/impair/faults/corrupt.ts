/** corrupt (UDP): flip one random bit in some datagrams (netem `corrupt 0.1%`). */
import { defineFault } from '../fault.js';
import type { Stage } from '../stage.js';
import { formatFraction, parseFraction } from '../../measure/units.js';

export interface CorruptParams {
  corruptRate: number;
}

export const corrupt = defineFault<CorruptParams>({
  type: 'corrupt',
  summary: 'flip a random bit in some datagrams (netem corrupt)',
  transports: ['udp'],
  rank: 30,
  params: {
    corruptRate: { kind: 'fraction', summary: 'chance that a datagram gets one bit flipped', required: true },
  },
  flags: [
    {
      flag: 'corrupt',
      value: 'RATE',
      summary: 'flip one random bit in some datagrams: 0.1%',
      parse: (text, what) => ({ corruptRate: parseFraction(what, text) }),
    },
  ],
  describe: (p) => formatFraction(p.corruptRate),
  create(initial): Stage<CorruptParams> {
    let p = initial;
    return {
      push(packet, ctx) {
        if (packet.data.length > 0 && p.corruptRate > 0 && ctx.random.next() < p.corruptRate) {
          const copy = Buffer.from(packet.data); // the original may be shared with a duplicate
          const at = ctx.random.below(copy.length);
          copy[at] = copy[at]! ^ (1 << ctx.random.below(8));
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
