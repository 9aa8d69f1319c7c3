import assert from 'node:assert/strict';
import { test } from 'node:test';
import { createRandom } from '../../src/impair/random.js';
import { mulberry32 } from '../helpers/random.js';

const draw = (n: number, next: () => number) => Array.from({ length: n }, next);

test('the relay generator is mulberry32, as the test helper', () => {
  const a = createRandom(42);
  assert.deepEqual(
    draw(10, () => a.next()),
    draw(10, mulberry32(42)),
  );
});

test('a seed replays the same stream; forks by label are reproducible and independent', () => {
  const a = createRandom(7);
  const b = createRandom(7);
  assert.deepEqual(
    draw(100, () => a.next()),
    draw(100, () => b.next()),
  );
  const f1 = createRandom(7).fork('3/up/loss');
  const f2 = createRandom(7).fork('3/up/loss');
  const other = createRandom(7).fork('3/down/loss');
  const s1 = draw(50, () => f1.next());
  assert.deepEqual(
    s1,
    draw(50, () => f2.next()),
  );
  assert.notDeepEqual(
    s1,
    draw(50, () => other.next()),
  );
  assert.notDeepEqual(
    s1,
    draw(50, () => createRandom(8).fork('3/up/loss').next()),
  );
});

test('normal() has mean 0 and standard deviation 1', () => {
  const r = createRandom(1);
  const xs = draw(100_000, () => r.normal());
  const mean = xs.reduce((s, x) => s + x, 0) / xs.length;
  const sd = Math.sqrt(xs.reduce((s, x) => s + (x - mean) ** 2, 0) / xs.length);
  assert.ok(Math.abs(mean) < 0.02, `mean ${mean}`);
  assert.ok(Math.abs(sd - 1) < 0.02, `sd ${sd}`);
});

test('below(n) stays in [0, n)', () => {
  const r = createRandom(3);
  const seen = new Set(draw(10_000, () => r.below(8)));
  assert.deepEqual([...seen].sort(), [0, 1, 2, 3, 4, 5, 6, 7]);
});
