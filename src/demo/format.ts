/** Numbers for people: 20,000 · 19.5 MiB · 1.2 ms · 99.7% (plain functions, no sockets). */

export function count(n: number): string {
  return n.toLocaleString('en-US');
}

export function bytes(n: number): string {
  if (n < 1024) return `${n} bytes`;
  if (n < 1024 * 1024) return `${round1(n / 1024)} KiB`;
  return `${round1(n / (1024 * 1024))} MiB`;
}

export function ms(value: number): string {
  if (value < 0.1) return '<0.1 ms';
  if (value >= 1000) return `${(value / 1000).toFixed(2)} s`;
  return `${value < 10 ? value.toFixed(1) : Math.round(value)} ms`;
}

/** `part` of `whole` as a percentage; never rounds a non-zero share down to "0%". */
export function percent(part: number, whole: number): string {
  if (whole === 0) return '0%';
  const p = (part / whole) * 100;
  if (p > 0 && p < 0.1) return '<0.1%';
  if (p < 100 && p > 99.9) return '>99.9%';
  return `${round1(p)}%`;
}

/** Milliseconds kept in facts: 0.1 ms is finer than anything the demo claims. */
export function round1(value: number): number {
  return Math.round(value * 10) / 10;
}

/** `n` and the noun, singular or plural: "1 read", "3 reads". */
export function plural(n: number, noun: string, nouns = `${noun}s`): string {
  return `${count(n)} ${n === 1 ? noun : nouns}`;
}
