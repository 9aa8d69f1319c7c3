/** sayOnceThenCount: the first line, then silence, then one line with the count per period. */
import assert from 'node:assert/strict';
import { test } from 'node:test';
import { sayOnceThenCount } from '../../src/format/repeats.js';
import { ManualClock } from '../../src/measure/clock.js';

test('said once, counted, and summed up by the first occurrence a period after the last line', () => {
  const clock = new ManualClock();
  const lines: string[] = [];
  const report = sayOnceThenCount((line) => lines.push(line), 1000, clock);
  const say = () =>
    report(
      () => 'first',
      (n) => `${n} more`,
    );
  for (let i = 0; i < 5; i++) say();
  assert.deepEqual(lines, ['first']);
  clock.advance(999);
  say();
  assert.deepEqual(lines, ['first'], 'within the period: counted only');
  clock.advance(1);
  say();
  assert.deepEqual(lines, ['first', '6 more'], 'this one included');
  say();
  clock.advance(1000);
  say();
  assert.deepEqual(lines, ['first', '6 more', '2 more']);
});
