/**
 * delay: hold each packet `delayMs` (± `jitterMs`) after its arrival, as netem's `delay 40ms 10ms
 * distribution normal`. Computed from the arrival time, so latency costs no throughput.
 * On TCP the order is kept (a chunk never leaves before the one before it); on UDP a jitter larger
 * than the gap between datagrams reorders them, as netem does.
 */
import { defineFault } from '../fault.js';
import type { Random } from '../random.js';
import type { Stage } from '../stage.js';
import { formatDuration, parseDuration } from '../../measure/units.js';

export const DISTRIBUTIONS = ['uniform', 'normal', 'pareto', 'paretonormal'] as const;
export type Distribution = (typeof DISTRIBUTIONS)[number];

export interface DelayParams {
  delayMs: number;
  jitterMs: number;
  distribution: Distribution;
}

/** Pareto with shape 3 (x ≥ 1), shifted and scaled to mean 0 and standard deviation 1. */
function pareto(random: Random): number {
  const x = Math.pow(1 - random.next(), -1 / 3);
  return (x - 1.5) / Math.sqrt(0.75);
}

/** A sample with mean 0 whose spread is 1: ±1 for uniform, the standard deviation otherwise. */
export function sample(distribution: Distribution, random: Random): number {
  switch (distribution) {
    case 'uniform':
      return 2 * random.next() - 1;
    case 'normal':
      return random.normal();
    case 'pareto':
      return pareto(random);
    case 'paretonormal':
      return 0.5 * random.normal() + Math.sqrt(0.75) * pareto(random);
  }
}

export const delay = defineFault<DelayParams>({
  type: 'delay',
  summary: 'hold each packet for a time after it arrives (netem delay), with jitter',
  transports: ['tcp', 'udp'],
  rank: 40,
  params: {
    delayMs: { kind: 'duration', summary: 'added latency', required: true },
    jitterMs: { kind: 'duration', summary: 'random variation around delayMs', default: 0 },
    distribution: { kind: DISTRIBUTIONS, summary: 'how the jitter is spread', default: 'uniform' },
  },
  flags: [
    {
      flag: 'delay',
      value: 'DURATION',
      summary: 'add latency: 40ms, 1s',
      parse: (text, what) => ({ delayMs: parseDuration(what, text) }),
    },
    {
      flag: 'jitter',
      value: 'DURATION',
      summary: 'vary the delay: ± this (uniform), or this standard deviation',
      modifier: true,
      parse: (text, what) => ({ jitterMs: parseDuration(what, text) }),
    },
    {
      flag: 'distribution',
      value: 'NAME',
      summary: 'jitter distribution: uniform (default), normal, pareto, paretonormal',
      modifier: true,
      parse: (text) => ({ distribution: text }),
    },
  ],
  describe: (p) =>
    `${formatDuration(p.delayMs)}${p.jitterMs > 0 ? ` ±${formatDuration(p.jitterMs)}` : ''}${
      p.jitterMs > 0 && p.distribution !== 'uniform' ? ` (${p.distribution})` : ''
    }`,
  create(initial): Stage<DelayParams> {
    let p = initial;
    return {
      push(packet, ctx) {
        let ms = p.delayMs;
        if (p.jitterMs > 0) ms += p.jitterMs * sample(p.distribution, ctx.random);
        if (ms > 0) packet.dueMs += ms;
        ctx.emit(packet);
      },
      update(params) {
        p = params;
      },
    };
  },
});
