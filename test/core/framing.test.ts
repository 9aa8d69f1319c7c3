import assert from 'node:assert/strict';
import { test } from 'node:test';
import { lengthPrefixed, lines, messagesBefore, raw } from '../../src/core/framing.js';
import { mulberry32 } from '../helpers/random.js';

/** Feed `stream` to a decoder in pieces of random size (seeded), collecting the messages. */
function decodeInPieces(codec: typeof lines, stream: Buffer, seed: number, max?: number): string[] {
  const random = mulberry32(seed);
  const decoder = codec.createDecoder(max !== undefined ? { maxMessageBytes: max } : {});
  const out: Buffer[] = [];
  for (let at = 0; at < stream.length;) {
    const size = 1 + Math.floor(random() * 7);
    out.push(...decoder.push(stream.subarray(at, at + size)));
    at += size;
  }
  out.push(...decoder.end());
  return out.map((b) => b.toString());
}

test('lines: LF and CRLF end a line, wherever the chunks are cut', () => {
  const stream = Buffer.from('alpha\nbeta\r\n\ngamma\r\ndelta');
  for (let seed = 1; seed <= 50; seed++) {
    assert.deepEqual(decodeInPieces(lines, stream, seed), ['alpha', 'beta', '', 'gamma', 'delta']);
  }
});

test('lines: a line over the limit is an error, even before its newline arrives', () => {
  const decoder = lines.createDecoder({ maxMessageBytes: 8 });
  assert.deepEqual(decoder.push(Buffer.from('12345678\n')).map(String), ['12345678']);
  assert.throws(() => decoder.push(Buffer.from('123456789')), { code: 'SOCKLAB_ERR_MESSAGE_TOO_LARGE' });
  assert.throws(() => lines.createDecoder({ maxMessageBytes: 3 }).push(Buffer.from('abcd\n')), {
    code: 'SOCKLAB_ERR_MESSAGE_TOO_LARGE',
  });
  // The lines the same chunk completed before the oversized one are not lost with it.
  let err: unknown;
  try {
    lines.createDecoder({ maxMessageBytes: 3 }).push(Buffer.from('ab\ncd\nlong\n'));
  } catch (e) {
    err = e;
  }
  assert.equal((err as { code?: string }).code, 'SOCKLAB_ERR_MESSAGE_TOO_LARGE');
  assert.deepEqual(messagesBefore(err).map(String), ['ab', 'cd']);
});

test('length-prefixed frames survive any cut, and encode/decode round-trip', () => {
  const messages = ['', 'a', 'hello', 'x'.repeat(300)];
  const stream = Buffer.concat(messages.map((m) => lengthPrefixed.encode(Buffer.from(m))));
  for (let seed = 1; seed <= 30; seed++)
    assert.deepEqual(decodeInPieces(lengthPrefixed, stream, seed), messages);
  assert.throws(
    () => lengthPrefixed.createDecoder({ maxMessageBytes: 10 }).push(lengthPrefixed.encode(Buffer.alloc(11))),
    {
      code: 'SOCKLAB_ERR_MESSAGE_TOO_LARGE',
    },
  );
  const cut = lengthPrefixed.createDecoder();
  cut.push(lengthPrefixed.encode(Buffer.from('hello')).subarray(0, 6));
  assert.throws(() => cut.end(), { code: 'SOCKLAB_ERR_PROTOCOL' });
});

test('raw: a chunk is a message; --max-message splits it rather than failing', () => {
  assert.deepEqual(raw.createDecoder().push(Buffer.from('abc')).map(String), ['abc']);
  assert.deepEqual(raw.createDecoder({ maxMessageBytes: 2 }).push(Buffer.from('abcde')).map(String), [
    'ab',
    'cd',
    'e',
  ]);
  assert.deepEqual(raw.createDecoder().end(), []);
});
