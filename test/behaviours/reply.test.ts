import assert from 'node:assert/strict';
import { test } from 'node:test';
import { parseTemplate, reply, unescape } from '../../src/behaviours/reply.js';
import type { Message } from '../../src/behaviours/behaviour.js';

const msg = (text: string, n = 1): Message => ({
  data: Buffer.from(text),
  peer: '127.0.0.1:5000',
  n,
  transport: 'tcp',
});

test('fields and escapes', () => {
  const t = parseTemplate('#{n} {peer} said {msg}\\r\\n{{ok}}\\t\\x41\\\\');
  assert.equal(t.render(msg('hi', 7)).toString(), '#7 127.0.0.1:5000 said hi\r\n{ok}\tA\\');
});

test('{msg} is the message without its line ending', () => {
  assert.equal(parseTemplate('Hello, {msg}!').render(msg('Tracy\r\n')).toString(), 'Hello, Tracy!');
});

test('UTF-8 passes through untouched', () => {
  const t = parseTemplate('Resposta do servidor: {msg}');
  assert.equal(t.render(msg('Olá, servidor!')).toString(), 'Resposta do servidor: Olá, servidor!');
});

test('bad templates are SOCKLAB_ERR_TEMPLATE with the reason', () => {
  for (const [source, why] of [
    ['{nope}', /unknown field/],
    ['{msg', /without '}'/],
    ['msg}', /without '{'/],
    ['\\q', /unknown escape/],
    ['\\x4', /two hex digits/],
    ['end\\', /trailing backslash/],
  ] as const) {
    assert.throws(
      () => parseTemplate(source),
      (e: Error & { code?: string }) => e.code === 'SOCKLAB_ERR_TEMPLATE' && why.test(e.message),
      source,
    );
  }
});

test('a message that ended in a newline gets a reply ending in the same newline', async () => {
  const sent: string[] = [];
  const send = (data: Buffer) => {
    sent.push(data.toString());
    return Promise.resolve();
  };
  const behaviour = reply('Hello, {msg}!');
  await behaviour.onMessage?.(msg('Tracy\r\n'), send);
  await behaviour.onMessage?.(msg('Sarah'), send);
  await reply('line\\n').onMessage?.(msg('x\n'), send);
  assert.deepEqual(sent, ['Hello, Tracy!\r\n', 'Hello, Sarah!', 'line\n']);
});

test('unescape is shared by --welcome', () => {
  assert.deepEqual(unescape('a\\nb\\0'), Buffer.from('a\nb\0'));
});
