/**
 * A problem that may come once per connection (a thousand at once) is said once, then counted:
 * its first line is logged; later ones only counted, until one comes at least `everyMs` after the
 * last line logged, which logs a line with the count (this occurrence included). One mechanism for
 * the relay command's lines and the relay API's log.
 */
import { realClock, type Clock } from '../measure/clock.js';

export type RepeatReport = (first: () => string, again: (count: number) => string) => void;

export function sayOnceThenCount(
  log: (line: string) => void,
  everyMs: number,
  clock: Clock = realClock,
): RepeatReport {
  let lastAt: number | undefined;
  let count = 0;
  return (first, again) => {
    const now = clock.now();
    if (lastAt === undefined) {
      lastAt = now;
      log(first());
      return;
    }
    count += 1;
    if (now - lastAt < everyMs) return;
    log(again(count));
    count = 0;
    lastAt = now;
  };
}
