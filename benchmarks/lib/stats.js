/** Numbers for the report: medians, ratios, and how figures are written. */

export function median(xs) {
  const s = xs.filter((x) => Number.isFinite(x)).sort((a, b) => a - b);
  if (s.length === 0) return NaN;
  return s.length % 2 ? s[(s.length - 1) / 2] : (s[s.length / 2 - 1] + s[s.length / 2]) / 2;
}

export const best = (xs) => Math.max(...xs.filter((x) => Number.isFinite(x)));

/** a / b, NaN when either is missing. */
export const ratio = (a, b) => (Number.isFinite(a) && Number.isFinite(b) && b !== 0 ? a / b : NaN);

/** Does `value` meet `goal` ({ op: '>=' | '<=', ratio })? undefined when there is nothing to judge. */
export function meets(value, goal) {
  if (!goal || !Number.isFinite(value)) return undefined;
  return goal.op === '<=' ? value <= goal.ratio : value >= goal.ratio;
}

/** 3 significant digits, with k/M/G: 23.4 G, 612 k, 0.981. */
export function si(x, unit = '') {
  if (!Number.isFinite(x)) return '-';
  const abs = Math.abs(x);
  const [div, prefix] = abs >= 1e9 ? [1e9, 'G'] : abs >= 1e6 ? [1e6, 'M'] : abs >= 1e3 ? [1e3, 'k'] : [1, ''];
  const v = x / div;
  const digits = Math.abs(v) >= 100 ? 0 : Math.abs(v) >= 10 ? 1 : 2;
  return `${v.toFixed(digits)} ${prefix}${unit}`.trimEnd();
}

/** How each kind of figure is written in the table. */
export const units = {
  bitsPerSecond: (x) => si(x, 'bit/s'),
  perSecond: (x) => `${si(x)}/s`,
  bytes: (x) => (Number.isFinite(x) ? `${(x / 1048576).toFixed(1)} MiB` : '-'),
  ms: (x) => (Number.isFinite(x) ? `${x.toFixed(x >= 100 ? 0 : 1)} ms` : '-'),
  us: (x) => (Number.isFinite(x) ? `${x.toFixed(1)} us` : '-'),
  count: (x) => (Number.isFinite(x) ? String(Math.round(x)) : '-'),
  percent: (x) => (Number.isFinite(x) ? `${x.toFixed(2)}%` : '-'),
  ratio: (x) => (Number.isFinite(x) ? x.toFixed(2) : '-'),
};

export const fmtRatio = (x) => (Number.isFinite(x) ? `${x.toFixed(2)}x` : '-');
