/**
 * Durations, rates, sizes and percentages: parsed in one place for every command, with one rule.
 *
 * - durations: `40ms`, `1.5s`, `250us` (also `msec`, `sec`, `usec`). A bare number is refused
 *   (`5` is milliseconds to some tools, seconds to others, microseconds to tc).
 * - fractions: `10%`. A bare number is refused (`--loss 1` is 1% to netem, 100% as a fraction);
 *   numbers from 0 to 1 are accepted where a program, not a person, writes them (JSON, YAML).
 * - rates (bandwidth): `1mbit`, `100kbit`, `10gbit`, `8bit` are bits per second; `100kbps`,
 *   `1mbps`, `10bps` are bytes per second (as in tc: `bps` means bytes); iperf3's `10M`, `100k`,
 *   `1G` are bits per second too; 1k = 1000. A bare number is refused (tc reads bits, others bytes).
 * - sizes: `1400`, `1400b`, `64kb` / `64k` / `64K`, `1mb` / `1m`, `1gb` are powers of 1024 as in tc
 *   and iperf3; `64KiB`, `1MiB` too; `1MB` is also 1024² (tc's reading), never 10⁶. A bare number
 *   is bytes (nobody reads it otherwise).
 *
 * Every mistake is a usage error naming the flag (or the field) and the value. The formatters
 * write values back the same way (and iperf3's way, for bench's reports).
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
  if (unit === '' && value !== 0)
    throw unitError(
      what,
      text,
      `needs a unit: ${value}ms or ${value}s (a bare number means different things to different tools)`,
    );
  const scale = unit === '' ? 1 : DURATION_UNITS[unit];
  if (scale === undefined)
    throw unitError(what, text, `has an unknown time unit '${unit}' (use us, ms or s)`);
  if (value < 0) throw unitError(what, text, 'is negative (a duration is 0 or more)');
  const ms = value * scale;
  if (ms > MAX_DURATION_MS) throw unitError(what, text, 'is longer than a day');
  return ms;
}

/** `10%` → 0.1 (`0` is 0). Must lie in 0..1 (0 %..100 %). */
export function parseFraction(what: string, text: string): number {
  const { value, unit } = split(what, text, 'a percentage (e.g. 10%)');
  let fraction: number;
  if (unit === '%') fraction = value / 100;
  else if (unit === '' && value === 0) fraction = 0;
  else if (unit === '')
    throw unitError(what, text, `is ambiguous: write ${value}% (netem reads a bare ${value} as ${value}%)`);
  else throw unitError(what, text, `has an unknown unit '${unit}' (write 10%)`);
  if (fraction < 0 || fraction > 1) throw unitError(what, text, 'is out of range (0% to 100%)');
  return fraction;
}

const PREFIX: Record<string, number> = { '': 1, k: 1e3, m: 1e6, g: 1e9, t: 1e12 };
const BINARY_PREFIX: Record<string, number> = { ki: 1024, mi: 1024 ** 2, gi: 1024 ** 3, ti: 1024 ** 4 };

/** The slowest rate accepted: 1 byte per second (a slower one is a stall). */
export const MIN_RATE_BYTES_PER_SEC = 1;

/** `1mbit` → 125000 (bytes per second); `100kbps` → 100000; iperf3's `10M` → 1250000. */
export function parseRate(what: string, text: string): number {
  const { value, unit } = split(what, text, 'a rate (e.g. 1mbit, 100kbps)');
  if (unit === '') {
    throw unitError(
      what,
      text,
      `needs a unit: ${value}kbit, ${value}mbit (bits/s) or ${value}bps (bytes/s); tc reads a bare number as bits/s`,
    );
  }
  // tc's units, and iperf3's bare k/M/G (bits per second).
  const m = /^(k|m|g|t|ki|mi|gi|ti)?(bit|bps)?$/.exec(unit);
  if (!m || (m[2] === undefined && !/^[kmg]$/.test(unit))) {
    throw unitError(
      what,
      text,
      `has an unknown rate unit '${unit}' (use bit, kbit, mbit, gbit, bps, kbps, mbps, or 10M as iperf3)`,
    );
  }
  const prefix = m[1] ?? '';
  const scale = PREFIX[prefix] ?? BINARY_PREFIX[prefix] ?? 1;
  const bytesPerSec = m[2] === 'bps' ? value * scale : (value * scale) / 8;
  if (!(bytesPerSec >= MIN_RATE_BYTES_PER_SEC))
    throw unitError(what, text, 'is too slow: a rate is at least 8bit (1 byte per second)');
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

// ---- iperf3's spellings, for bench ---------------------------------------------------------

const RATE_MULTIPLIERS: Record<string, number> = { k: 1e3, K: 1e3, m: 1e6, M: 1e6, g: 1e9, G: 1e9 };
const SIZE_MULTIPLIERS: Record<string, number> = { k: 1024, K: 1024, m: 1024 ** 2, M: 1024 ** 2 };

/** `10M` → 10e6 bits/s; `0` → 0 (as fast as possible); undefined when the text is not a rate. */
export function parseRateBitsPerSec(text: string): number | undefined {
  if (text.trim() === '0') return 0;
  const match = /^(\d+(?:\.\d+)?)([kKmMgG])$/.exec(text.trim());
  if (!match) return undefined;
  return Number(match[1]) * RATE_MULTIPLIERS[match[2]!]!;
}

/** `128K` → 131072 bytes (binary, as iperf3's -l); a bare number is bytes. */
export function parseSizeBytes(text: string): number | undefined {
  const match = /^(\d+)([kKmM]?)$/.exec(text.trim());
  if (!match) return undefined;
  return Number(match[1]) * (match[2] ? SIZE_MULTIPLIERS[match[2]]! : 1);
}

/** 1234567890 → "1.23 Gbits/sec", as iperf3 prints rates (decimal units). */
export function formatBitsPerSec(bitsPerSec: number): string {
  const units = ['bits/sec', 'Kbits/sec', 'Mbits/sec', 'Gbits/sec', 'Tbits/sec'];
  let value = bitsPerSec;
  let unit = 0;
  while (value >= 1000 && unit < units.length - 1) {
    value /= 1000;
    unit++;
  }
  return `${value.toFixed(value < 10 ? 2 : value < 100 ? 1 : 0)} ${units[unit]!}`;
}

/** 1048576 → "1.00 MBytes", as iperf3 prints transfers (binary units). */
export function formatBytes(bytes: number): string {
  const units = ['Bytes', 'KBytes', 'MBytes', 'GBytes', 'TBytes'];
  let value = bytes;
  let unit = 0;
  while (value >= 1024 && unit < units.length - 1) {
    value /= 1024;
    unit++;
  }
  return `${value.toFixed(unit === 0 ? 0 : value < 10 ? 2 : value < 100 ? 1 : 0)} ${units[unit]!}`;
}

/** 123456 → "123.5 k"; for counts per second. */
export function formatCount(count: number): string {
  if (count >= 1e6) return `${(count / 1e6).toFixed(2)} M`;
  if (count >= 1e3) return `${(count / 1e3).toFixed(1)} k`;
  return count.toFixed(count < 10 && !Number.isInteger(count) ? 2 : 0);
}
