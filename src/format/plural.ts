/** `1 byte`, `20000 bytes`: a count and its noun (digits only, so scripts can parse the lines). */
export function plural(n: number, word: string): string {
  return `${n} ${word}${n === 1 ? '' : 's'}`;
}
