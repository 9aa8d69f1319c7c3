/**
 * Paired rounds: every variant of a figure runs once per round, in turn (socklab, peer, plain Node,
 * socklab, ...), so a machine that slows down or speeds up during the run hits them all alike; a
 * figure is the median of its rounds. A variant that fails is reported with its one-line error and
 * left out of the later rounds; the others go on.
 */
import { fmtRatio, median, meets, ratio, units } from './stats.js';

/** Thrown by a variant whose feature does not exist (yet): its row says so instead of failing. */
export class Unavailable extends Error {}

/** First line of an error, without the stack; what a row shows. */
export const oneLine = (err) =>
  String(err instanceof Error ? err.message : err)
    .split('\n')
    .find((l) => l.trim())
    ?.trim()
    .slice(0, 240) ?? 'unknown error';

/**
 * @param ctx the runner's context (rounds, log)
 * @param variants [{ key, label, run: async (round) => ({ value, commands?, ...extra }), unit? }]
 *   value: the figure's main number for that round; commands: the command lines it ran; the rest
 *   is kept with the raw numbers. unit: a key of stats.units (how the value is written).
 * @returns { [key]: { key, label, unit, samples, values, median, commands, error?, unavailable? } }
 */
export async function alternate(ctx, figureName, variants, { rounds = ctx.rounds, unit = 'count' } = {}) {
  const out = Object.fromEntries(
    variants.map((v) => [
      v.key,
      { key: v.key, label: v.label, unit: v.unit ?? unit, samples: [], values: [], commands: [] },
    ]),
  );
  for (let round = 1; round <= rounds; round++) {
    for (const variant of variants) {
      const slot = out[variant.key];
      if (slot.error || slot.unavailable) continue;
      const t0 = Date.now();
      try {
        const sample = await variant.run(round);
        if (!Number.isFinite(sample.value)) throw new Error(`no figure measured (got ${sample.value})`);
        const { commands = [], ...kept } = sample;
        if (slot.commands.length === 0) slot.commands = commands;
        slot.samples.push({ round, ...kept });
        slot.values.push(sample.value);
        ctx.log(
          `[${figureName}] round ${round}/${rounds} ${variant.label}: ${units[slot.unit](sample.value)} (${((Date.now() - t0) / 1000).toFixed(1)} s)`,
        );
      } catch (err) {
        if (err instanceof Unavailable) slot.unavailable = oneLine(err);
        else slot.error = oneLine(err);
        ctx.log(
          `[${figureName}] ${variant.label}: ${slot.unavailable ? 'not available' : 'error'}: ${oneLine(err)}`,
        );
      }
    }
  }
  for (const slot of Object.values(out)) slot.median = median(slot.values);
  return out;
}

/** What a table cell shows for a variant: its median, "not available", "error: ...", or "-". */
export function cell(slot, format = String) {
  if (!slot) return '-';
  if (slot.error) return `error: ${slot.error}`;
  if (slot.unavailable) return `not available: ${slot.unavailable}`;
  return format(slot.median);
}

/**
 * The usual row: socklab, peer and plain Node medians, and socklab's ratio to one of them.
 * compare: 'socklab/peer' | 'socklab/plain'; goal: { op: '>=' | '<=', ratio, text }; unit: a key of
 * stats.units.
 */
export function standardRow(
  v,
  { label, compare, goal, unit, socklab = 'socklab', peer = 'peer', plain = 'plain' },
) {
  const format = units[unit];
  const [num, den] = compare.split('/').map((k) => ({ socklab, peer, plain })[k] ?? k);
  const r = ratio(v[num]?.median, v[den]?.median);
  const broken = [v[num], v[den]].find((s) => s?.error || s?.unavailable);
  return {
    label,
    socklab: cell(v[socklab], format),
    peer: cell(v[peer], format),
    plain: cell(v[plain], format),
    ratio: r,
    ratioText: fmtRatio(r),
    compare,
    goal: goal.text,
    met: broken ? undefined : meets(r, goal),
    error: broken?.error,
    unavailable: broken?.unavailable,
  };
}
