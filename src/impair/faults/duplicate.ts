/** duplicate (UDP): send an extra copy of some datagrams (netem `duplicate 1%`). */
import { defineFault } from '../fault.js';
import type { Stage } from '../stage.js';
import { formatFraction, parseFraction } from '../../measure/units.js';

export interface DuplicateParams {
  duplicateRate: number;
}

export const duplicate = defineFault<DuplicateParams>({
  type: 'duplicate',
  summary: 'send some datagrams twice (netem duplicate)',
  transports: ['udp'],
  rank: 20,
  params: {
    duplicateRate: { kind: 'fraction', summary: 'chance that a datagram is sent twice', required: true },
  },
  flags: [
    {
      flag: 'duplicate',
      value: 'RATE',
      summary: 'send some datagrams twice: 1%',
      parse: (text, what) => ({ duplicateRate: parseFraction(what, text) }),
    },
  ],
  describe: (p) => formatFraction(p.duplicateRate),
  create(initial): Stage<DuplicateParams> {
    let p = initial;
    return {
      push(packet, ctx) {
        const twice = p.duplicateRate > 0 && ctx.random.next() < p.duplicateRate;
        ctx.emit(packet);
        if (twice) {
          const copy = { data: packet.data, arrivedMs: packet.arrivedMs, dueMs: packet.arrivedMs };
          ctx.count('duplicated', copy);
          ctx.emit(copy);
        }
      },
      update(params) {
        p = params;
      },
    };
  },
});
