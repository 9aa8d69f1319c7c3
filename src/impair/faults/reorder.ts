/**
 * reorder (UDP), as netem's `delay 10ms reorder 25% gap 5`: once `gap - 1` datagrams have gone
 * through delayed, each next one is, with probability `reorderRate`, sent at once, skipping the
 * delay, so it overtakes the ones still waiting. It needs a delay to overtake.
 */
import { defineFault } from '../fault.js';
import type { Stage } from '../stage.js';
import { formatFraction, parseCount, parseFraction } from '../../measure/units.js';

export interface ReorderParams {
  reorderRate: number;
  gap: number;
}

export const reorder = defineFault<ReorderParams>({
  type: 'reorder',
  summary: 'send some datagrams at once, ahead of delayed ones (netem reorder … gap …)',
  transports: ['udp'],
  rank: 50,
  requires: 'delay',
  params: {
    reorderRate: {
      kind: 'fraction',
      summary: 'chance that an eligible datagram is sent ahead',
      required: true,
    },
    gap: {
      kind: 'count',
      summary: 'every gap-th datagram is eligible (netem gap)',
      default: 1,
      min: 1,
      max: 1_000_000,
    },
  },
  flags: [
    {
      flag: 'reorder',
      value: 'RATE',
      summary: 'send some datagrams ahead of delayed ones: 25% (needs --delay)',
      parse: (text, what) => ({ reorderRate: parseFraction(what, text) }),
    },
    {
      flag: 'reorder-gap',
      value: 'N',
      summary: 'only every N-th datagram may be sent ahead (netem gap; default 1)',
      modifier: true,
      parse: (text, what) => ({ gap: parseCount(what, text, 1, 1_000_000) }),
    },
  ],
  describe: (p) => `${formatFraction(p.reorderRate)}${p.gap > 1 ? ` gap ${p.gap}` : ''}`,
  create(initial): Stage<ReorderParams> {
    let p = initial;
    let counter = 0;
    return {
      push(packet, ctx) {
        if (counter < p.gap - 1 || !(ctx.random.next() < p.reorderRate)) {
          counter += 1;
        } else {
          counter = 0;
          packet.dueMs = packet.arrivedMs;
          ctx.count('reordered', packet);
        }
        ctx.emit(packet);
      },
      update(params) {
        p = params;
      },
    };
  },
});
