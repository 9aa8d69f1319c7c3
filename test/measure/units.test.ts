import assert from 'node:assert/strict';
import { test } from 'node:test';
import {
  formatDuration,
  formatRate,
  formatSize,
  looksLikeDuration,
  parseDuration,
  parseFraction,
  parseRate,
  parseSize,
} from '../../src/measure/units.js';

test('durations in netem spellings; a bare number (but 0) is refused: it means ms, s or us to different tools', () => {
  assert.equal(parseDuration('--delay', '40ms'), 40);
  assert.equal(parseDuration('--delay', '1.5s'), 1500);
  assert.equal(parseDuration('--delay', '250us'), 0.25);
  assert.equal(parseDuration('--delay', '10msec'), 10);
  assert.equal(parseDuration('--delay', '2sec'), 2000);
  assert.throws(() => parseDuration('--delay', '15'), { message: /needs a unit: 15ms or 15s/ });
  assert.equal(parseDuration('--delay', '0'), 0);
});

test('bad durations are usage errors that name the flag and the value', () => {
  assert.throws(() => parseDuration('--delay', '-5ms'), {
    code: 'SOCKLAB_ERR_USAGE',
    message: "--delay: '-5ms' is negative (a duration is 0 or more)",
  });
  assert.throws(() => parseDuration('--delay', '5 parsecs'), {
    code: 'SOCKLAB_ERR_USAGE',
    message: /unknown time unit 'parsecs'/,
  });
  assert.throws(() => parseDuration('--delay', 'soon'), {
    code: 'SOCKLAB_ERR_USAGE',
    message: /is not a duration/,
  });
  assert.throws(() => parseDuration('--delay', '2d'), { code: 'SOCKLAB_ERR_USAGE' });
  assert.throws(() => parseDuration('--delay', '100000s'), { message: /longer than a day/ });
});

test('fractions: 10%; 150% and a bare number (netem reads --loss 1 as 1%) are refused', () => {
  assert.equal(parseFraction('--loss', '10%'), 0.1);
  assert.throws(() => parseFraction('--loss', '0.1'), { message: /ambiguous: write 0.1%/ });
  assert.throws(() => parseFraction('--loss', '1'), {
    message: /ambiguous: write 1% \(netem reads a bare 1 as 1%\)/,
  });
  assert.equal(parseFraction('--loss', '0'), 0);
  assert.equal(parseFraction('--loss', '100%'), 1);
  assert.equal(parseFraction('--loss', '0%'), 0);
  assert.equal(parseFraction('--loss', '0.5%'), 0.005);
  assert.throws(() => parseFraction('--loss', '150%'), {
    code: 'SOCKLAB_ERR_USAGE',
    message: "--loss: '150%' is out of range (0% to 100%)",
  });
  assert.throws(() => parseFraction('--loss', '10'), { message: /ambiguous: write 10%/ });
  assert.throws(() => parseFraction('--loss', '-1%'), { message: /out of range/ });
});

test("rates: bit units are bits per second, bps units bytes per second (as in tc), iperf3's 10M bits; no bare number", () => {
  assert.equal(parseRate('--rate', '1mbit'), 125_000);
  assert.equal(parseRate('--rate', '100kbit'), 12_500);
  assert.equal(parseRate('--rate', '1gbit'), 125_000_000);
  assert.equal(parseRate('--rate', '100kbps'), 100_000);
  assert.equal(parseRate('--rate', '1mbps'), 1_000_000);
  assert.equal(parseRate('--rate', '1kibit'), 128);
  assert.equal(parseRate('--rate', '10M'), 1_250_000);
  assert.equal(parseRate('--rate', '100k'), 12_500);
  assert.throws(() => parseRate('--rate', '500'), {
    message: /needs a unit: 500kbit, 500mbit \(bits\/s\) or 500bps/,
  });
  assert.throws(() => parseRate('--rate', '0mbit'), { message: /too slow/ });
  assert.throws(() => parseRate('--rate', '1e-320bit'), { message: /too slow: a rate is at least 8bit/ });
  assert.throws(() => parseRate('--rate', '1furlong'), { message: /unknown rate unit/ });
  assert.throws(() => parseRate('--rate', '1kb'), { message: /unknown rate unit 'kb'/ });
});

test('sizes: tc powers of 1024', () => {
  assert.equal(parseSize('--slice', '1400'), 1400);
  assert.equal(parseSize('--slice', '1400b'), 1400);
  assert.equal(parseSize('--slice', '64kb'), 65536);
  assert.equal(parseSize('--slice', '64k'), 65536);
  assert.equal(parseSize('--slice', '1MiB'), 1 << 20);
  assert.equal(parseSize('--slice', '1MB'), 1 << 20);
  assert.equal(parseSize('--slice', '1gb'), 1 << 30);
  assert.throws(() => parseSize('--slice', '1.5'), { message: /not a whole number of bytes/ });
  assert.throws(() => parseSize('--slice', '-1'), { message: /negative/ });
});

test('duration or size: 2s and 500ms are durations, 1MB and 1000 are sizes', () => {
  assert.equal(looksLikeDuration('2s'), true);
  assert.equal(looksLikeDuration('500ms'), true);
  assert.equal(looksLikeDuration('1MB'), false);
  assert.equal(looksLikeDuration('1000'), false);
  assert.equal(looksLikeDuration('1m'), false);
});

test('formatting reads back', () => {
  assert.equal(formatDuration(40), '40ms');
  assert.equal(formatDuration(1500), '1.5s');
  assert.equal(formatDuration(0.25), '250us');
  assert.equal(formatRate(125_000), '1mbit');
  assert.equal(formatSize(65536), '64KiB');
  assert.equal(formatSize(1400), '1400B');
});
