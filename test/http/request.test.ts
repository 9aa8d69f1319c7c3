import assert from 'node:assert/strict';
import { readFileSync } from 'node:fs';
import { test } from 'node:test';
import { parseHeaderField } from '../../src/http/headers.js';
import { buildRequest, formatRequest, USER_AGENT } from '../../src/http/request.js';
import { parseHttpUrl, resolveRedirect, sameOrigin, serverNameFor } from '../../src/http/url.js';
import { REPO_ROOT } from '../helpers/cli.js';

test('the request: GET path HTTP/1.1, Host, User-Agent, Accept, Connection: close, blank line', () => {
  const target = parseHttpUrl('http://127.0.0.1:8080/a/b?c=d&e#frag');
  assert.equal(
    formatRequest({ method: 'GET', target }),
    'GET /a/b?c=d&e HTTP/1.1\r\nHost: 127.0.0.1:8080\r\nUser-Agent: socklab/0.1.0\r\nAccept: */*\r\nConnection: close\r\n\r\n',
  );
  assert.equal(
    formatRequest({ method: 'HEAD', target: parseHttpUrl('http://example.com') })
      .split('\r\n')
      .slice(0, 2)
      .join('|'),
    'HEAD / HTTP/1.1|Host: example.com',
  );
});

test('User-Agent carries the version in package.json', () => {
  const pkg = JSON.parse(readFileSync(`${REPO_ROOT}package.json`, 'utf8')) as { version: string };
  assert.equal(USER_AGENT, `socklab/${pkg.version}`);
});

test('Host: the port only when not the default; IPv6 in brackets', () => {
  const host = (url: string) =>
    /\r\nHost: ([^\r]*)\r\n/.exec(formatRequest({ method: 'GET', target: parseHttpUrl(url) }))?.[1];
  assert.equal(host('http://example.com:80/'), 'example.com');
  assert.equal(host('https://example.com:443/'), 'example.com');
  assert.equal(host('https://example.com:80/'), 'example.com:80');
  assert.equal(host('http://[::1]:8080/'), '[::1]:8080');
  assert.equal(host('http://[::1]/'), '[::1]');
  assert.equal(host('http://EXAMPLE.com/'), 'example.com');
});

test('extra headers: appended, or replacing a default (any case), or removing it when empty', () => {
  const target = parseHttpUrl('http://h.test/');
  const request = formatRequest({
    method: 'GET',
    target,
    headers: [
      ['X-One', '1'],
      ['host', 'www.sina.com.cn'],
      ['User-Agent', ''],
      ['X-Empty', ''],
    ],
  });
  assert.equal(
    request,
    'GET / HTTP/1.1\r\nHost: www.sina.com.cn\r\nAccept: */*\r\nConnection: close\r\nX-One: 1\r\nX-Empty: \r\n\r\n',
  );
  assert.equal(
    buildRequest({ method: 'GET', target, headers: [['X', 'café']] }).includes(Buffer.from('café')),
    true,
  );
});

test('a header that could smuggle a line is refused', () => {
  const target = parseHttpUrl('http://h.test/');
  for (const header of [
    ['X', 'a\r\nEvil: 1'],
    ['X', 'a\nb'],
    ['Bad Name', 'v'],
    ['', 'v'],
  ] as const) {
    assert.throws(() => formatRequest({ method: 'GET', target, headers: [header] }), {
      code: 'SOCKLAB_ERR_USAGE',
    });
  }
});

test('parseHeaderField: Name: value, trimmed; bad names and no colon refused', () => {
  assert.deepEqual(parseHeaderField('Host: www.sina.com.cn'), ['Host', 'www.sina.com.cn']);
  assert.deepEqual(parseHeaderField('X-A:b:c'), ['X-A', 'b:c']);
  assert.deepEqual(parseHeaderField('X-Empty:'), ['X-Empty', '']);
  for (const bad of ['NoColon', ': v', 'Sp ace: v', 'X : v', 'X: a\rb'])
    assert.equal(parseHeaderField(bad), undefined, bad);
});

test('parseHttpUrl: what to connect to and what to ask for', () => {
  assert.deepEqual(parseHttpUrl('http://127.0.0.1:8080'), {
    url: 'http://127.0.0.1:8080/',
    secure: false,
    host: '127.0.0.1',
    port: 8080,
    path: '/',
    hostHeader: '127.0.0.1:8080',
  });
  assert.deepEqual(parseHttpUrl('https://[::1]/x y?q=1#f'), {
    url: 'https://[::1]/x%20y?q=1',
    secure: true,
    host: '::1',
    port: 443,
    path: '/x%20y?q=1',
    hostHeader: '[::1]',
  });
  assert.equal(parseHttpUrl('localhost:8080/x').url, 'http://localhost:8080/x', 'no scheme means http://');
  assert.equal(parseHttpUrl('HTTP://Example.COM').url, 'http://example.com/');
});

test('parseHttpUrl: bad URLs are usage errors that say why', () => {
  const table: [string, RegExp][] = [
    ['', /empty URL/],
    ['ftp://example.com/', /unsupported scheme 'ftp' \(use http:\/\/ or https:\/\/\)/],
    ['tcp://127.0.0.1:80', /unsupported scheme 'tcp'/],
    ['http://[zz/', /not a valid URL/],
    ['http://127.0.0.1:99999/', /port 99999 is out of range \(0-65535\)/],
    ['http://127.0.0.1:0/', /cannot connect to port 0/],
    ['http://user:pw@127.0.0.1/', /user:password@ in URLs is not supported/],
    ['http://', /not a valid URL/],
    ['https://:443/', /not a valid URL/],
  ];
  for (const [text, why] of table) {
    assert.throws(() => parseHttpUrl(text), { code: 'SOCKLAB_ERR_USAGE', message: why }, text);
  }
});

test('redirects resolve against the URL that answered; a bad Location is a protocol error', () => {
  const base = parseHttpUrl('http://a.test:8080/dir/page?x=1');
  assert.equal(resolveRedirect('/login', base).url, 'http://a.test:8080/login');
  assert.equal(resolveRedirect('other', base).url, 'http://a.test:8080/dir/other');
  assert.equal(resolveRedirect('../up', base).url, 'http://a.test:8080/up');
  assert.equal(resolveRedirect('?y=2', base).url, 'http://a.test:8080/dir/page?y=2');
  assert.equal(resolveRedirect('//b.test/p', base).url, 'http://b.test/p');
  assert.equal(resolveRedirect('https://c.test/', base).url, 'https://c.test/');
  assert.throws(() => resolveRedirect('ftp://c.test/', base), {
    code: 'SOCKLAB_ERR_PROTOCOL',
    message:
      "bad redirect from http://a.test:8080/dir/page?x=1: bad URL 'ftp://c.test/': unsupported scheme 'ftp' (use http:// or https://)",
  });
  assert.throws(() => resolveRedirect('http://[bad', base), {
    code: 'SOCKLAB_ERR_PROTOCOL',
    message: /is not a URL/,
  });
});

test('same origin: scheme, host and port', () => {
  const a = parseHttpUrl('http://a.test/x');
  assert.equal(sameOrigin(a, parseHttpUrl('http://A.test:80/y')), true);
  assert.equal(sameOrigin(a, parseHttpUrl('https://a.test/x')), false);
  assert.equal(sameOrigin(a, parseHttpUrl('http://a.test:81/x')), false);
  assert.equal(sameOrigin(a, parseHttpUrl('http://b.test/x')), false);
});

test('SNI: the host name, never an IP literal', () => {
  assert.equal(serverNameFor(parseHttpUrl('https://localhost/')), 'localhost');
  assert.equal(serverNameFor(parseHttpUrl('https://example.com./')), 'example.com');
  assert.equal(serverNameFor(parseHttpUrl('https://127.0.0.1/')), undefined);
  assert.equal(serverNameFor(parseHttpUrl('https://[::1]/')), undefined);
});
