/**
 * Durations, rates, sizes and percentages, parsed in one place with netem's (tc's) spellings.
 *
 * - durations: `40ms`, `1.5s`, `250us` (also `msec`, `sec`, `usec`); a bare number is milliseconds.
 * - fractions: `10%`, or a number from 0 to 1 (`0.1`). A bare `10` is refused: write `10%`.
 * - rates (bandwidth): `1mbit`, `100kbit`, `10gbit`, `8bit` are bits per second; `100kbps`,
 *   `1mbps`, `10bps` are bytes per second (as in tc: `bps` means bytes); 1k = 1000. A bare number
 *   is bytes per second.
 * - sizes: `1400`, `1400b`, `64kb` / `64k`, `1mb` / `1m`, `1gb` are powers of 1024 as in tc;
 *   `64KiB`, `1MiB` too; `1MB` is also 1024² (tc's reading), never 10⁶.
 *
 * Every mistake is a usage error naming the flag (or the field) and the value.
 */
import { SocklabError } from '../errors.js';

export function unitError(what: string, text: string, why: string): SocklabError {
  return new SocklabError('SOCKLAB_ERR_USAGE', `${what}: '${text}' ${why}`);
}

const NUMBER = /^([+-]?(?:\d+\.?\d*|\.\d+)(?:e[+-]?\d+)?)\s*([a-z%]*)$/i;

function split(what: string, text: string, expected: string): { value: number; unit: string } {
  const m = NUMBER.exec(text.trim());
  if (!m) throw unitError(what, text, `is not ${expected}`);
  const value = Number(m[1]);
  if (!Number.isFinite(value)) throw unitError(what, text, `is not ${expected}`);
  return { value, unit: (m[2] ?? '').toLowerCase() };
}

const DURATION_UNITS: Record<string, number> = {
  '': 1,
  us: 0.001,
  usec: 0.001,
  ms: 1,
  msec: 1,
  s: 1000,
  sec: 1000,
  secs: 1000,
};

/** The longest duration accepted anywhere: one day. */
export const MAX_DURATION_MS = 86_400_000;

/** `40ms` → 40; `1.5s` → 1500; `250us` → 0.25. Never negative. */
export function parseDuration(what: string, text: string): number {
  const { value, unit } = split(what, text, 'a duration (e.g. 40ms, 1.5s, 250us)');
  const scale = DURATION_UNITS[unit];
  if (scale === undefined)
    throw unitError(what, text, `has an unknown time unit '${unit}' (use us, ms or s)`);
  if (value < 0) throw unitError(what, text, 'is negative (a duration is 0 or more)');
  const ms = value * scale;
  if (ms > MAX_DURATION_MS) throw unitError(what, text, 'is longer than a day');
  return ms;
}

/** `10%` → 0.1; `0.1` → 0.1. Must lie in 0..1 (0 %..100 %). */
export function parseFraction(what: string, text: string): number {
  const { value, unit } = split(what, text, 'a percentage (e.g. 10%) or a fraction from 0 to 1');
  let fraction: number;
  if (unit === '%') fraction = value / 100;
  else if (unit === '') {
    if (value > 1)
      throw unitError(
        what,
        text,
        `is ambiguous: write ${value}% for a percentage, or a fraction from 0 to 1`,
      );
    fraction = value;
  } else throw unitError(what, text, `has an unknown unit '${unit}' (write 10% or 0.1)`);
  if (fraction < 0 || fraction > 1) throw unitError(what, text, 'is out of range (0% to 100%)');
  return fraction;
}

const PREFIX: Record<string, number> = { '': 1, k: 1e3, m: 1e6, g: 1e9, t: 1e12 };
const BINARY_PREFIX: Record<string, number> = { ki: 1024, mi: 1024 ** 2, gi: 1024 ** 3, ti: 1024 ** 4 };

/** `1mbit` → 125000 (bytes per second); `100kbps` → 100000. More than 0. */
export function parseRate(what: string, text: string): number {
  const { value, unit } = split(what, text, 'a rate (e.g. 1mbit, 100kbps)');
  const m = /^(k|m|g|t|ki|mi|gi|ti)?(bit|bps)?$/.exec(unit);
  if (!m || (unit !== '' && m[2] === undefined)) {
    throw unitError(
      what,
      text,
      `has an unknown rate unit '${unit}' (use bit, kbit, mbit, gbit, bps, kbps, mbps)`,
    );
  }
  const prefix = m[1] ?? '';
  const scale = PREFIX[prefix] ?? BINARY_PREFIX[prefix] ?? 1;
  const bytesPerSec = m[2] === 'bit' ? (value * scale) / 8 : value * scale;
  if (!(bytesPerSec > 0)) throw unitError(what, text, 'must be more than 0');
  return bytesPerSec;
}

const SIZE_UNITS: Record<string, number> = {
  '': 1,
  b: 1,
  k: 1024,
  kb: 1024,
  kib: 1024,
  m: 1024 ** 2,
  mb: 1024 ** 2,
  mib: 1024 ** 2,
  g: 1024 ** 3,
  gb: 1024 ** 3,
  gib: 1024 ** 3,
};

/** `1400` → 1400; `64kb` → 65536; `1MiB` → 1048576. A whole number of bytes, 0 or more. */
export function parseSize(what: string, text: string): number {
  const { value, unit } = split(what, text, 'a size (e.g. 1400, 64kb, 1MiB)');
  const scale = SIZE_UNITS[unit];
  if (scale === undefined)
    throw unitError(what, text, `has an unknown size unit '${unit}' (use b, kb, mb, gb)`);
  if (value < 0) throw unitError(what, text, 'is negative');
  const bytes = value * scale;
  if (!Number.isInteger(bytes)) throw unitError(what, text, 'is not a whole number of bytes');
  if (!Number.isSafeInteger(bytes)) throw unitError(what, text, 'is too large');
  return bytes;
}

/** True when the text reads as a duration (`2s`, `500ms`) rather than a size (`1MB`, `1000`). */
export function looksLikeDuration(text: string): boolean {
  const m = NUMBER.exec(text.trim());
  const unit = (m?.[2] ?? '').toLowerCase();
  return unit !== '' && DURATION_UNITS[unit] !== undefined && SIZE_UNITS[unit] === undefined;
}

/** A whole number in [min, max]. */
export function parseCount(what: string, text: string, min = 0, max = Number.MAX_SAFE_INTEGER): number {
  const trimmed = text.trim();
  if (!/^\d+$/.test(trimmed)) throw unitError(what, text, 'is not a whole number');
  const n = Number(trimmed);
  if (n < min || n > max) throw unitError(what, text, `is out of range (${min} to ${max})`);
  return n;
}

/** 40 → "40ms", 1500 → "1.5s", 0.25 → "250us". */
export function formatDuration(ms: number): string {
  if (ms !== 0 && ms < 1) return `${round(ms * 1000)}us`;
  if (ms >= 1000 && ms % 100 === 0) return `${round(ms / 1000)}s`;
  return `${round(ms)}ms`;
}

/** 0.1 → "10%". */
export function formatFraction(fraction: number): string {
  return `${round(fraction * 100)}%`;
}

/** 125000 → "1mbit". */
export function formatRate(bytesPerSec: number): string {
  const bits = bytesPerSec * 8;
  for (const [unit, scale] of [
    ['gbit', 1e9],
    ['mbit', 1e6],
    ['kbit', 1e3],
  ] as const) {
    if (bits >= scale) return `${round(bits / scale)}${unit}`;
  }
  return `${round(bits)}bit`;
}

/** 65536 → "64KiB". */
export function formatSize(bytes: number): string {
  for (const [unit, scale] of [
    ['GiB', 1024 ** 3],
    ['MiB', 1024 ** 2],
    ['KiB', 1024],
  ] as const) {
    if (bytes >= scale && bytes % scale === 0) return `${round(bytes / scale)}${unit}`;
  }
  return `${bytes}B`;
}

function round(n: number): string {
  return String(Math.round(n * 1000) / 1000);
}
