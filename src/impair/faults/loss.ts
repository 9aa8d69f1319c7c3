/**
 * loss (UDP): drop datagrams, at random (netem `loss 10%`) or in bursts with the Gilbert-Elliott
 * model (netem `loss gemodel p r 1-h 1-k`): a good and a bad state; each datagram may switch the
 * state (good → bad with p, bad → good with r), then is lost with 1-k in the good state and 1-h in
 * the bad one. Defaults as in tc: r = 100 %, 1-h = 100 %, 1-k = 0 %.
 */
import { defineFault, faultError } from '../fault.js';
import type { Stage } from '../stage.js';
import { formatFraction, parseFraction } from '../../measure/units.js';

export interface LossParams {
  model: 'random' | 'gemodel';
  /** random: the chance that each datagram is lost. */
  lossRate: number;
  /** gemodel p: good → bad. */
  goodToBadRate: number;
  /** gemodel r: bad → good. */
  badToGoodRate: number;
  /** gemodel 1-h: loss in the bad state. */
  badLossRate: number;
  /** gemodel 1-k: loss in the good state. */
  goodLossRate: number;
}

/** `10%`, `random 10%`, `gemodel 1% 30% [70% [0.1%]]` (spaces or commas). */
export function parseLoss(text: string, what: string): Partial<LossParams> {
  const words = text
    .trim()
    .split(/[\s,]+/)
    .filter(Boolean);
  const model = words[0]?.toLowerCase();
  if (model === 'gemodel') {
    const [p, r, h, k, extra] = words.slice(1);
    if (p === undefined || extra !== undefined) {
      throw faultError(what, `'${text}': write gemodel P [R [1-H [1-K]]], e.g. 'gemodel 1% 30%'`);
    }
    return {
      model: 'gemodel',
      goodToBadRate: parseFraction(what, p),
      ...(r !== undefined ? { badToGoodRate: parseFraction(what, r) } : {}),
      ...(h !== undefined ? { badLossRate: parseFraction(what, h) } : {}),
      ...(k !== undefined ? { goodLossRate: parseFraction(what, k) } : {}),
    };
  }
  const rateText = model === 'random' ? words[1] : words[0];
  if (rateText === undefined || words.length > (model === 'random' ? 2 : 1)) {
    throw faultError(what, `'${text}': write a percentage (10%) or 'gemodel P R'`);
  }
  return { model: 'random', lossRate: parseFraction(what, rateText) };
}

/** The long-run loss rate of these parameters. */
export function expectedLossRate(p: LossParams): number {
  if (p.model === 'random') return p.lossRate;
  const total = p.goodToBadRate + p.badToGoodRate;
  const bad = total === 0 ? 0 : p.goodToBadRate / total;
  return bad * p.badLossRate + (1 - bad) * p.goodLossRate;
}

export const loss = defineFault<LossParams>({
  type: 'loss',
  summary: 'drop datagrams at random or in bursts (netem loss, loss gemodel)',
  transports: ['udp'],
  rank: 10,
  params: {
    model: {
      kind: ['random', 'gemodel'],
      summary: 'random, or gemodel (Gilbert-Elliott)',
      default: 'random',
    },
    lossRate: { kind: 'fraction', summary: 'random: chance of loss', default: 0 },
    goodToBadRate: { kind: 'fraction', summary: 'gemodel p: good → bad', default: 0 },
    badToGoodRate: { kind: 'fraction', summary: 'gemodel r: bad → good', default: 1 },
    badLossRate: { kind: 'fraction', summary: 'gemodel 1-h: loss in the bad state', default: 1 },
    goodLossRate: { kind: 'fraction', summary: 'gemodel 1-k: loss in the good state', default: 0 },
  },
  flags: [
    {
      flag: 'loss',
      value: 'RATE',
      summary: "drop datagrams: 10%, or 'gemodel P R [1-H [1-K]]' for bursts (UDP)",
      parse: (text, what) => parseLoss(text, what),
    },
  ],
  describe: (p) =>
    p.model === 'random'
      ? formatFraction(p.lossRate)
      : `gemodel ${[p.goodToBadRate, p.badToGoodRate, p.badLossRate, p.goodLossRate].map(formatFraction).join(' ')}`,
  create(initial): Stage<LossParams> {
    let p = initial;
    let bad = false;
    return {
      push(packet, ctx) {
        const random = ctx.random;
        let lost: boolean;
        if (p.model === 'random') {
          lost = p.lossRate > 0 && random.next() < p.lossRate;
        } else if (!bad) {
          // netem's loss_gilb_ell(): switch state, then lose with the old state's rate.
          if (random.next() < p.goodToBadRate) bad = true;
          lost = random.next() < p.goodLossRate;
        } else {
          if (random.next() < p.badToGoodRate) bad = false;
          lost = random.next() < p.badLossRate;
        }
        if (lost) ctx.count('dropped', packet);
        else ctx.emit(packet);
      },
      update(params) {
        p = params;
      },
    };
  },
});
