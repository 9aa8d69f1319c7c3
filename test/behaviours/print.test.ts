import assert from 'node:assert/strict';
import { PassThrough } from 'node:stream';
import { test } from 'node:test';
import type { Connection, Message } from '../../src/behaviours/behaviour.js';
import { print } from '../../src/behaviours/print.js';
import { TerminalLine } from '../../src/format/terminal.js';

function capture() {
  const out = new PassThrough();
  const chunks: Buffer[] = [];
  out.on('data', (c: Buffer) => chunks.push(c));
  return { out, text: () => Buffer.concat(chunks).toString('utf8'), bytes: () => Buffer.concat(chunks) };
}
const msg = (data: Buffer, transport: 'tcp' | 'udp' = 'tcp'): Message => ({
  data,
  peer: '127.0.0.1:1',
  n: 1,
  transport,
});

test('raw to a pipe: bytes exactly as received', async () => {
  const c = capture();
  const p = print({ out: c.out });
  const data = Buffer.from([0x1b, 0x5b, 0x32, 0x4a, 0x00, 0xff]);
  await p.onMessage?.(msg(data), () => Promise.resolve());
  assert.ok(c.bytes().equals(data));
});

test('raw to a terminal: escape sequences and invalid UTF-8 are made visible, never sent', async () => {
  const c = capture();
  const p = print({ out: c.out, terminal: true });
  await p.onMessage?.(
    msg(Buffer.concat([Buffer.from('\x1b[2J\x1b]0;pwned\x07ok\t\n'), Buffer.from([0xff])])),
    () => Promise.resolve(),
  );
  assert.equal(c.text(), '·[2J·]0;pwned·ok\t\n\ufffd');
  assert.ok(!c.text().includes('\x1b'), 'no ESC reaches the terminal');
});

test('a character split across two reads is shown whole on a terminal', async () => {
  const c = capture();
  const p = print({ out: c.out, terminal: true });
  const bytes = Buffer.from('Olá');
  await p.onMessage?.(msg(bytes.subarray(0, 3)), () => Promise.resolve());
  await p.onMessage?.(msg(bytes.subarray(3)), () => Promise.resolve());
  assert.equal(c.text(), 'Olá');
});

test('on a terminal each datagram ends its line', async () => {
  const c = capture();
  const p = print({ out: c.out, terminal: true });
  await p.onMessage?.(msg(Buffer.from('Hello, UDP Server!'), 'udp'), () => Promise.resolve());
  await p.onMessage?.(msg(Buffer.from('again\n'), 'udp'), () => Promise.resolve());
  assert.equal(c.text(), 'Hello, UDP Server!\nagain\n');
});

test('hex dump names the sender and the size', async () => {
  const c = capture();
  const p = print({ out: c.out, format: 'hex' });
  await p.onMessage?.(msg(Buffer.from('AB\x00')), () => Promise.resolve());
  assert.equal(
    c.text(),
    'tcp://127.0.0.1:1 #1, 3 bytes\n00000000  41 42 00                                          |AB.|\n',
  );
});

test('on a terminal, a connection whose text ends without a newline gets one at its close', async () => {
  const c = capture();
  const line = new TerminalLine();
  const p = print({ out: c.out, terminal: true, line });
  const conn = (id: number, peer: string): Connection => ({
    id,
    peer,
    transport: 'tcp',
    send: () => Promise.resolve(),
    sendMessage: () => Promise.resolve(),
    end: () => undefined,
    destroy: () => undefined,
  });
  const info = { bytesReceived: 5, bytesSent: 0, messages: 1 };
  for (const [id, peer] of [
    [1, '127.0.0.1:1'],
    [2, '127.0.0.1:2'],
  ] as const) {
    await p.onMessage?.({ ...msg(Buffer.from('hello')), peer }, () => Promise.resolve());
    p.onClose?.(conn(id, peer), info);
  }
  // A -v event written by someone else in the middle of a line starts on a line of its own.
  await p.onMessage?.(msg(Buffer.from('half')), () => Promise.resolve());
  assert.equal(line.finish(), '\n');
  assert.equal(line.finish(), '', 'already at the start of a line');
  assert.equal(c.text(), 'hello\nhello\nhalf');
});
