/** The demo's pure parts: record checking, number formatting, wrapping and colour. */
import assert from 'node:assert/strict';
import { PassThrough } from 'node:stream';
import { test } from 'node:test';
import { bytes, count, ms, percent, plural } from '../../src/demo/format.js';
import { LINE_WIDTH, textNarrator, wantsColor, wrap } from '../../src/demo/narrator.js';
import { DatagramTally, makeRecord, StreamChecker } from '../../src/demo/records.js';

test('DatagramTally counts arrivals, duplicates, reordering and strangers', () => {
  const tally = new DatagramTally(10);
  for (const seq of [0, 1, 2, 5, 4, 4, 9]) tally.add(makeRecord(seq, 16));
  tally.add(Buffer.from('ab')); // too short to carry a number
  tally.add(makeRecord(99, 16)); // not one of ours
  assert.equal(tally.received, 6);
  assert.equal(tally.duplicates, 1);
  assert.equal(tally.outOfOrder, 1);
  assert.equal(tally.strangers, 2);
  assert.equal(tally.ranges(), '0-2, 4-5, 9');
  assert.equal(tally.ranges(2), '0-2, 4-5, … (3 ranges)');
});

test('StreamChecker: records cut anywhere, even inside a sequence number, check out', () => {
  const stream = Buffer.concat([0, 1, 2, 3].map((seq) => makeRecord(seq, 8)));
  const checker = new StreamChecker(8);
  let at = 0;
  // Pieces of 3, 1, 9, 2 and 17 bytes: cuts inside numbers, inside fillers, across records.
  for (const size of [3, 1, 9, 2, 17]) {
    checker.push(stream.subarray(at, at + size));
    at += size;
  }
  assert.equal(at, stream.length);
  assert.equal(checker.complete(4), true);
  assert.equal(checker.bytes, 32);

  const swapped = new StreamChecker(8);
  swapped.push(Buffer.concat([makeRecord(0, 8), makeRecord(2, 8), makeRecord(1, 8)]));
  assert.equal(swapped.complete(3), false);
  assert.equal(swapped.misordered, 2);

  const short = new StreamChecker(8);
  short.push(stream.subarray(0, 12));
  assert.equal(short.complete(1), false, 'half a record left over');
});

test('numbers for people', () => {
  assert.equal(count(20000), '20,000');
  assert.equal(bytes(65536), '64 KiB');
  assert.equal(bytes(20000 * 1024), '19.5 MiB');
  assert.equal(ms(0.04), '<0.1 ms');
  assert.equal(ms(2.34), '2.3 ms');
  assert.equal(ms(228.4), '228 ms');
  assert.equal(ms(1234), '1.23 s');
  assert.equal(percent(56, 20000), '0.3%');
  assert.equal(percent(1, 20000), '<0.1%');
  assert.equal(percent(19999, 20000), '>99.9%');
  assert.equal(percent(0, 0), '0%');
  assert.equal(plural(1, 'read'), '1 read');
  assert.equal(plural(3, 'read'), '3 reads');
});

test('wrap keeps lines within the width, with a hanging indent', () => {
  const text = 'word '.repeat(60).trim();
  const lines = wrap(text, '  ', '    ');
  assert.ok(lines.length > 1);
  for (const line of lines) assert.ok(line.length <= LINE_WIDTH, line);
  assert.ok(lines[0]!.startsWith('  word'));
  assert.ok(lines[1]!.startsWith('    word'));
});

test('colour only on a terminal, and never with NO_COLOR (even empty)', () => {
  assert.equal(wantsColor({ isTTY: true }, {}), true);
  assert.equal(wantsColor({ isTTY: true }, { NO_COLOR: '' }), false);
  assert.equal(wantsColor({ isTTY: true }, { NO_COLOR: '1' }), false);
  assert.equal(wantsColor({ isTTY: false }, {}), false);
  assert.equal(wantsColor({}, {}), false);

  const render = (color: boolean) => {
    const out = new PassThrough();
    let text = '';
    out.on('data', (c: Buffer) => (text += c.toString('utf8')));
    const narrator = textNarrator(out, { color });
    narrator.heading('1. Title');
    narrator.says('client', 'server', 'Hello, TCP Server!');
    narrator.measured('lost: 3 of 5');
    return text;
  };
  const plain = render(false);
  assert.equal(plain, '1. Title\n    client → server: Hello, TCP Server!\n    lost: 3 of 5\n');
  const coloured = render(true);
  const ESC = '\x1b';
  assert.ok(coloured.includes(`${ESC}[1m1. Title${ESC}[0m`), coloured);
  assert.ok(coloured.includes(`${ESC}[36mclient → server:${ESC}[0m Hello, TCP Server!`), coloured);
  // Colour codes aside, the text is the same.
  assert.equal(
    coloured
      .split(ESC)
      .map((part) => part.replace(/^\[\d+m/, ''))
      .join(''),
    plain,
  );
});
