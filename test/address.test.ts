import assert from 'node:assert/strict';
import { test } from 'node:test';
import { formatAddress, parseAddress } from '../src/address.js';

const listen = { role: 'listen' } as const;
const connect = { role: 'connect' } as const;

test('the address forms of the spec, for listen', () => {
  const table: [string, { transport: string; host: string; port: number }][] = [
    ['8080', { transport: 'tcp', host: '127.0.0.1', port: 8080 }],
    [':8080', { transport: 'tcp', host: '::', port: 8080 }],
    ['tcp://:8080', { transport: 'tcp', host: '::', port: 8080 }],
    ['udp://:9999', { transport: 'udp', host: '::', port: 9999 }],
    ['[::1]:8080', { transport: 'tcp', host: '::1', port: 8080 }],
    ['udp://[::1]:0', { transport: 'udp', host: '::1', port: 0 }],
    ['localhost:0', { transport: 'tcp', host: 'localhost', port: 0 }],
    ['0.0.0.0:65535', { transport: 'tcp', host: '0.0.0.0', port: 65535 }],
    ['TCP://127.0.0.1:1', { transport: 'tcp', host: '127.0.0.1', port: 1 }],
  ];
  for (const [text, expected] of table) assert.deepEqual(parseAddress(text, listen), expected, text);
});

test('-u makes udp the default scheme; an explicit scheme wins', () => {
  assert.equal(parseAddress('9000', { ...listen, defaultTransport: 'udp' }).transport, 'udp');
  assert.equal(parseAddress('tcp://9000', { ...listen, defaultTransport: 'udp' }).transport, 'tcp');
});

test('connect needs a host and a real port', () => {
  assert.deepEqual(parseAddress('example.com:80', connect), {
    transport: 'tcp',
    host: 'example.com',
    port: 80,
  });
  for (const bad of ['8080', ':8080', '127.0.0.1:0']) {
    assert.throws(() => parseAddress(bad, connect), { code: 'SOCKLAB_ERR_ADDRESS' }, bad);
  }
});

test('bad addresses are usage errors that say what is wrong', () => {
  const cases: [string, RegExp][] = [
    ['', /empty/],
    ['127.0.0.1:65536', /out of range/],
    ['127.0.0.1:http', /not a number/],
    ['127.0.0.1', /HOST:PORT/],
    ['::1:80', /brackets/],
    ['[::1:80', /missing '\]'/],
    ['[127.0.0.1]:80', /not an IPv6/],
    ['http://x:80', /unknown scheme 'http'/],
    ['bad_host!:80', /not a valid host/],
    ['127.0.0.1:', /missing port/],
  ];
  for (const [text, why] of cases) {
    assert.throws(
      () => parseAddress(text, listen),
      (err: Error & { code?: string }) => err.code === 'SOCKLAB_ERR_ADDRESS' && why.test(err.message),
      text,
    );
  }
});

test('formatAddress brackets IPv6 and shows IPv4-mapped addresses as IPv4', () => {
  assert.equal(formatAddress({ transport: 'tcp', host: '127.0.0.1', port: 1 }), 'tcp://127.0.0.1:1');
  assert.equal(formatAddress({ transport: 'udp', host: '::1', port: 2 }), 'udp://[::1]:2');
  assert.equal(formatAddress({ transport: 'tcp', host: '::ffff:127.0.0.1', port: 3 }), 'tcp://127.0.0.1:3');
});

test('tls:// is TCP with TLS; with -u it is refused (no DTLS)', () => {
  assert.deepEqual(parseAddress('tls://localhost:443', connect), {
    transport: 'tcp',
    host: 'localhost',
    port: 443,
    tls: true,
  });
  assert.deepEqual(parseAddress('TLS://:8443', listen), {
    transport: 'tcp',
    host: '::',
    port: 8443,
    tls: true,
  });
  assert.equal(formatAddress(parseAddress('tls://[::1]:8443', listen)), 'tls://[::1]:8443');
  assert.throws(() => parseAddress('tls://127.0.0.1:1', { ...connect, defaultTransport: 'udp' }), {
    code: 'SOCKLAB_ERR_ADDRESS',
    message: "bad address 'tls://127.0.0.1:1': TLS over UDP (DTLS) is not supported: Node has no DTLS",
  });
});

test('unix:PATH: absolute, relative and unix:///; a stream socket, or a datagram socket with -u', () => {
  assert.deepEqual(parseAddress('unix:/run/app.sock', connect), {
    transport: 'tcp',
    host: '',
    port: 0,
    path: '/run/app.sock',
  });
  assert.equal(parseAddress('unix:rel/app.sock', listen).path, 'rel/app.sock');
  assert.equal(parseAddress('unix:///tmp/x.sock', listen).path, '/tmp/x.sock');
  assert.equal(parseAddress('unix:/tmp/d.sock', { ...listen, defaultTransport: 'udp' }).transport, 'udp');
  assert.equal(formatAddress(parseAddress('unix:/tmp/d.sock', listen)), 'unix:/tmp/d.sock');
  assert.throws(() => parseAddress('unix:', listen), /missing path after unix:/);
  assert.throws(
    () => parseAddress('ftp://x:1', listen),
    /unknown scheme 'ftp' \(use tcp:\/\/, udp:\/\/, tls:\/\/ or unix:\)/,
  );
});
