/**
 * Rates and sizes as iperf3 spells them: `10M` = 10,000,000 bits/s, `100k`, `1G`, `0` = no limit.
 * A rate without a unit (other than 0) is refused: `-b 100` is ambiguous (bits? bytes? packets?).
 */
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
