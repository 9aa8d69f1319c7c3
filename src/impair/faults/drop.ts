/**
 * drop (UDP, link): drop exactly the packets numbered in a list, counted from 1 per direction
 * (per flow on the relay): `--drop 3,7` loses the 3rd and the 7th. Deterministic, so a lesson can
 * show one loss and how TCP recovers from it.
 */
import { defineFault, parseNumberList } from '../fault.js';
import type { Stage } from '../stage.js';

export interface DropParams {
  packets: readonly number[];
}

export const drop = defineFault<DropParams>({
  type: 'drop',
  summary: 'drop exactly the packets with these numbers (1 is the first of a direction)',
  transports: ['udp'],
  rank: 5,
  params: {
    packets: { kind: 'list', summary: 'the numbers of the packets to drop, from 1', required: true },
  },
  flags: [
    {
      flag: 'drop',
      value: 'N,M',
      list: true,
      summary: 'drop packets number N, M… of a direction (counted from 1): 3,7',
      parse: (text, what) => ({ packets: parseNumberList(text, what) }),
    },
  ],
  describe: (p) => `packets ${p.packets.join(',')}`,
  create(initial): Stage<DropParams> {
    let wanted = new Set(initial.packets);
    let n = 0;
    return {
      push(packet, ctx) {
        n += 1;
        if (wanted.has(n)) ctx.count('dropped', packet);
        else ctx.emit(packet);
      },
      update(params) {
        wanted = new Set(params.packets);
      },
    };
  },
});
