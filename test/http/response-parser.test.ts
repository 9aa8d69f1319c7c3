import assert from 'node:assert/strict';
import { test } from 'node:test';
import { SocklabError } from '../../src/errors.js';
import { getHeader, type HttpHeader } from '../../src/http/headers.js';
import type { HttpMethod } from '../../src/http/request.js';
import { ResponseParser, type BodyFraming, type ResponseHead } from '../../src/http/response-parser.js';
import { mulberry32 } from '../helpers/random.js';

const SOURCE = 'http://x.test/';

interface Parsed {
  interims: number[];
  head?: ResponseHead;
  framing?: BodyFraming;
  body: string;
  trailers?: readonly HttpHeader[];
  /** Set when the parser was done before the connection closed (no end() needed). */
  doneBeforeEof: boolean;
}

/** Feed `bytes` cut into `pieces` (sizes), then the end of the connection; collect what came out. */
function parse(
  bytes: Buffer,
  pieces: readonly number[],
  method: HttpMethod = 'GET',
  maxHeaderBytes?: number,
): Parsed {
  const parser = new ResponseParser({
    method,
    source: SOURCE,
    ...(maxHeaderBytes ? { maxHeaderBytes } : {}),
  });
  const out: Parsed = { interims: [], body: '', doneBeforeEof: false };
  const body: Buffer[] = [];
  const take = (events: ReturnType<ResponseParser['push']>) => {
    for (const e of events) {
      if (e.type === 'interim') out.interims.push(e.head.status);
      else if (e.type === 'head') {
        assert.equal(out.head, undefined, 'one head only');
        out.head = e.head;
        out.framing = e.framing;
      } else if (e.type === 'body') {
        assert.ok(out.head, 'body after the head');
        body.push(Buffer.from(e.data)); // a copy: the parser hands out views
      } else {
        assert.equal(out.trailers, undefined, 'one end only');
        out.trailers = e.trailers;
      }
    }
  };
  let offset = 0;
  for (const size of pieces) {
    take(parser.push(bytes.subarray(offset, offset + size)));
    offset += size;
  }
  assert.equal(offset, bytes.length, 'the pieces cover the input');
  out.doneBeforeEof = parser.done;
  take(parser.end());
  out.body = Buffer.concat(body).toString('latin1');
  return out;
}

const whole = (bytes: Buffer) => [bytes.length];
const oneByOne = (bytes: Buffer) => Array.from({ length: bytes.length }, () => 1);
/** Random piece sizes from 1 to 17 bytes, the same on every run for a given seed. */
function randomPieces(bytes: Buffer, seed: number): number[] {
  const random = mulberry32(seed);
  const pieces: number[] = [];
  for (let left = bytes.length; left > 0;) {
    const size = Math.min(left, 1 + Math.floor(random() * 17));
    pieces.push(size);
    left -= size;
  }
  return pieces;
}

/** Every way of cutting the input we try: whole, at each single boundary, byte by byte, random. */
function splits(bytes: Buffer): [string, number[]][] {
  const all: [string, number[]][] = [
    ['whole', whole(bytes)],
    ['one byte at a time', oneByOne(bytes)],
  ];
  // Every two-piece cut is quadratic in the input: done for the small inputs (all but the bound tests).
  if (bytes.length <= 4096) {
    for (let cut = 1; cut < bytes.length; cut++) all.push([`cut at ${cut}`, [cut, bytes.length - cut]]);
  }
  for (const seed of [1, 2, 3, 42, 2024])
    all.push([`random pieces, seed ${seed}`, randomPieces(bytes, seed)]);
  return all;
}

/** The same result however the bytes are split. */
function parseEverySplit(text: string, method: HttpMethod = 'GET', maxHeaderBytes?: number): Parsed {
  const bytes = Buffer.from(text, 'latin1');
  const reference = parse(bytes, whole(bytes), method, maxHeaderBytes);
  for (const [name, pieces] of splits(bytes)) {
    assert.deepEqual(parse(bytes, pieces, method, maxHeaderBytes), reference, name);
  }
  return reference;
}

/** The same error, with the same message, however the bytes are split. */
function failsEverySplit(text: string, message: string | RegExp, maxHeaderBytes?: number): void {
  const bytes = Buffer.from(text, 'latin1');
  for (const [name, pieces] of splits(bytes)) {
    assert.throws(
      () => parse(bytes, pieces, 'GET', maxHeaderBytes),
      (err: unknown) => {
        assert.ok(err instanceof SocklabError, name);
        assert.equal(err.code, 'SOCKLAB_ERR_PROTOCOL', name);
        if (typeof message === 'string') assert.equal(err.message, message, name);
        else assert.match(err.message, message, name);
        return true;
      },
      name,
    );
  }
}

test('Content-Length: the body is exactly that long; bytes after it are ignored', () => {
  const r = parseEverySplit(
    'HTTP/1.1 200 OK\r\nContent-Type: text/plain\r\nContent-Length: 5\r\n\r\nhelloEXTRA',
  );
  assert.equal(r.head?.status, 200);
  assert.equal(r.head?.statusText, 'OK');
  assert.equal(r.head?.httpVersion, '1.1');
  assert.equal(r.head?.statusLine, 'HTTP/1.1 200 OK');
  assert.deepEqual(r.head?.headers, [
    ['Content-Type', 'text/plain'],
    ['Content-Length', '5'],
  ]);
  assert.equal(r.framing, 'length');
  assert.equal(r.body, 'hello');
  assert.equal(r.doneBeforeEof, true, 'complete without waiting for the close');
});

test('chunked: sizes in any case, extensions ignored, trailers kept', () => {
  const r = parseEverySplit(
    'HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\nTrailer: X-Checksum\r\n\r\n' +
      '5;name=value\r\nhello\r\n' +
      '7 ; a=b;c="d"\r\n, world\r\n' +
      'A\r\n0123456789\r\n' +
      '00000001\r\n!\r\n' +
      '0;last\r\nX-Checksum: abc\r\nX-Other:  1 \r\n\r\nnot part of it',
  );
  assert.equal(r.framing, 'chunked');
  assert.equal(r.body, 'hello, world0123456789!');
  assert.deepEqual(r.trailers, [
    ['X-Checksum', 'abc'],
    ['X-Other', '1'],
  ]);
  assert.equal(r.doneBeforeEof, true);
});

test('chunked with an empty body and no trailers', () => {
  const r = parseEverySplit('HTTP/1.1 200 OK\r\ntransfer-encoding: gzip, Chunked\r\n\r\n0\r\n\r\n');
  assert.equal(r.framing, 'chunked', 'the last coding decides');
  assert.equal(r.body, '');
  assert.deepEqual(r.trailers, []);
});

test('Transfer-Encoding wins over Content-Length', () => {
  const r = parseEverySplit(
    'HTTP/1.1 200 OK\r\nContent-Length: 100\r\nTransfer-Encoding: chunked\r\n\r\n2\r\nok\r\n0\r\n\r\n',
  );
  assert.equal(r.body, 'ok');
});

test('no length: the body runs until the connection closes (HTTP/1.0 style)', () => {
  const r = parseEverySplit('HTTP/1.0 200 OK\r\nServer: old\r\n\r\nline 1\r\nline 2\r\n');
  assert.equal(r.head?.httpVersion, '1.0');
  assert.equal(r.framing, 'close');
  assert.equal(r.body, 'line 1\r\nline 2\r\n');
  assert.equal(r.doneBeforeEof, false, 'only the close ends it');
  assert.deepEqual(r.trailers, []);
});

test('a non-chunked Transfer-Encoding also runs to the close, bytes as sent', () => {
  const r = parseEverySplit(
    'HTTP/1.1 200 OK\r\nTransfer-Encoding: gzip\r\nContent-Length: 3\r\n\r\n\x1f\x8b\x08\x00',
  );
  assert.equal(r.framing, 'close');
  assert.equal(r.body, '\x1f\x8b\x08\x00');
});

test('HEAD: no body, whatever Content-Length says', () => {
  const r = parseEverySplit('HTTP/1.1 200 OK\r\nContent-Length: 1000\r\n\r\n', 'HEAD');
  assert.equal(r.framing, 'none');
  assert.equal(r.body, '');
  assert.equal(r.doneBeforeEof, true);
});

test('204 and 304 have no body, even with a length or chunked', () => {
  for (const status of ['204 No Content', '304 Not Modified']) {
    const r = parseEverySplit(
      `HTTP/1.1 ${status}\r\nContent-Length: 10\r\nTransfer-Encoding: chunked\r\n\r\n`,
    );
    assert.equal(r.framing, 'none', status);
    assert.equal(r.doneBeforeEof, true, status);
  }
});

test('interim 1xx responses are reported and skipped; the final one follows', () => {
  const r = parseEverySplit(
    'HTTP/1.1 100 Continue\r\n\r\n' +
      'HTTP/1.1 103 Early Hints\r\nLink: </style.css>; rel=preload\r\n\r\n' +
      '\r\n' + // a stray empty line before the status line is tolerated
      'HTTP/1.1 200 OK\r\nContent-Length: 2\r\n\r\nok',
  );
  assert.deepEqual(r.interims, [100, 103]);
  assert.equal(r.head?.status, 200);
  assert.equal(r.body, 'ok');
});

test('101 is a final response without a body', () => {
  const r = parseEverySplit('HTTP/1.1 101 Switching Protocols\r\nUpgrade: x\r\n\r\n');
  assert.equal(r.head?.status, 101);
  assert.deepEqual(r.interims, []);
  assert.equal(r.framing, 'none');
});

test('header names keep their case and order; lookup ignores case; values are trimmed', () => {
  const r = parseEverySplit(
    'HTTP/1.1 404 Not Found\r\nX-B: 1\r\nx-a:2\r\nSet-Cookie: a=1\r\nSET-COOKIE: b=2\r\nX-Empty:\r\nX-Sp: \t v \t\r\nContent-Length: 0\r\n\r\n',
  );
  const headers = r.head?.headers ?? [];
  assert.deepEqual(
    headers.map(([n]) => n),
    ['X-B', 'x-a', 'Set-Cookie', 'SET-COOKIE', 'X-Empty', 'X-Sp', 'Content-Length'],
  );
  assert.equal(getHeader(headers, 'X-A'), '2');
  assert.equal(getHeader(headers, 'set-cookie'), 'a=1, b=2');
  assert.equal(getHeader(headers, 'x-empty'), '');
  assert.equal(getHeader(headers, 'x-sp'), 'v');
  assert.equal(getHeader(headers, 'missing'), undefined);
  assert.equal(r.head?.statusText, 'Not Found');
});

test('bare LF line endings, an empty reason phrase and obsolete line folding are accepted', () => {
  const r = parseEverySplit('HTTP/1.1 200\nX-Folded: one\n  two\n\tthree\nContent-Length: 1\n\n!');
  assert.equal(r.head?.status, 200);
  assert.equal(r.head?.statusText, '');
  assert.equal(getHeader(r.head?.headers ?? [], 'x-folded'), 'one two three');
  assert.equal(r.body, '!');
});

test('header bytes survive as latin1 (so they can be written back exactly)', () => {
  const r = parseEverySplit('HTTP/1.1 200 OK\r\nX-Name: caf\xc3\xa9\r\nContent-Length: 0\r\n\r\n');
  assert.equal(
    Buffer.from(getHeader(r.head?.headers ?? [], 'x-name') ?? '', 'latin1').toString('utf8'),
    'café',
  );
});

test('equal repeated Content-Lengths are one length; different ones are refused', () => {
  assert.equal(
    parseEverySplit('HTTP/1.1 200 OK\r\nContent-Length: 3, 3\r\nContent-Length: 3\r\n\r\nabc').body,
    'abc',
  );
  failsEverySplit(
    'HTTP/1.1 200 OK\r\nContent-Length: 3\r\nContent-Length: 4\r\n\r\nabcd',
    `bad Content-Length from ${SOURCE}: '3, 4'`,
  );
  failsEverySplit('HTTP/1.1 200 OK\r\nContent-Length: -1\r\n\r\n', `bad Content-Length from ${SOURCE}: '-1'`);
  failsEverySplit(
    'HTTP/1.1 200 OK\r\nContent-Length: 1e3\r\n\r\n',
    `bad Content-Length from ${SOURCE}: '1e3'`,
  );
});

test('malformed status lines', () => {
  failsEverySplit('FOO\r\n\r\n', `bad status line from ${SOURCE}: 'FOO'`);
  failsEverySplit('HTTP/1.1 2000 OK\r\n\r\n', `bad status line from ${SOURCE}: 'HTTP/1.1 2000 OK'`);
  failsEverySplit('HTTP/1.1 OK\r\n\r\n', `bad status line from ${SOURCE}: 'HTTP/1.1 OK'`);
  failsEverySplit('SSH-2.0-OpenSSH_9.6\r\n', `bad status line from ${SOURCE}: 'SSH-2.0-OpenSSH_9.6'`);
  failsEverySplit('HTTP/1.1 200 O\x00K\r\n\r\n', `bad status line from ${SOURCE}: 'HTTP/1.1 200 O\\x00K'`);
  failsEverySplit('HTTP/2.0 200 OK\r\n\r\n', `unsupported HTTP version from ${SOURCE}: 'HTTP/2.0 200 OK'`);
  failsEverySplit('HTTP/1.1 099 Low\r\n\r\n', `bad status code from ${SOURCE}: 'HTTP/1.1 099 Low'`);
  // A long garbage line is cut in the message: the error stays one readable line.
  failsEverySplit(`${'x'.repeat(200)}\r\n`, `bad status line from ${SOURCE}: '${'x'.repeat(80)}…'`);
});

test('malformed header lines, chunk sizes and chunk ends', () => {
  failsEverySplit(
    'HTTP/1.1 200 OK\r\nNo colon here\r\n\r\n',
    `bad header line from ${SOURCE}: 'No colon here'`,
  );
  failsEverySplit('HTTP/1.1 200 OK\r\nName : v\r\n\r\n', `bad header line from ${SOURCE}: 'Name : v'`);
  failsEverySplit('HTTP/1.1 200 OK\r\n: v\r\n\r\n', `bad header line from ${SOURCE}: ': v'`);
  failsEverySplit(
    'HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\nzz\r\n',
    `bad chunk size line from ${SOURCE}: 'zz'`,
  );
  failsEverySplit(
    'HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n-1\r\n',
    `bad chunk size line from ${SOURCE}: '-1'`,
  );
  failsEverySplit(
    'HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n10000000000000\r\n',
    `bad chunk size line from ${SOURCE}: '10000000000000'`,
  );
  failsEverySplit(
    'HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n2\r\nokX\r\n0\r\n\r\n',
    `missing CRLF after a chunk from ${SOURCE}: 'X'`,
  );
  failsEverySplit(
    'HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n0\r\nbad trailer\r\n\r\n',
    `bad trailer line from ${SOURCE}: 'bad trailer'`,
  );
});

test('the connection closing early is an error naming what was cut', () => {
  failsEverySplit('', `empty response from ${SOURCE} (connection closed before the status line)`);
  failsEverySplit(
    'HTTP/1.1 200 OK\r\nContent-Le',
    `connection closed in the middle of the response headers from ${SOURCE}`,
  );
  failsEverySplit(
    'HTTP/1.1 200 OK\r\nContent-Length: 10\r\n\r\nabc',
    `connection closed after 3 of 10 body bytes from ${SOURCE}`,
  );
  failsEverySplit(
    'HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n5\r\nab',
    `connection closed in the middle of the chunked body from ${SOURCE}`,
  );
  failsEverySplit(
    'HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n0\r\nX: 1\r\n',
    `connection closed in the middle of the chunked body from ${SOURCE}`,
  );
});

test('the header bound is exact: a head of N bytes passes with N, fails with N - 1, however split', () => {
  const text =
    'HTTP/1.1 100 Continue\r\n\r\nHTTP/1.1 200 OK\r\nX-Pad: 0123456789\r\nContent-Length: 0\r\n\r\n';
  const size = Buffer.byteLength(text);
  assert.equal(parseEverySplit(text, 'GET', size).head?.status, 200);
  failsEverySplit(text, `response headers larger than ${size - 1} bytes from ${SOURCE}`, size - 1);
});

test('oversized headers fail at the default 64 KiB bound, before the end of the head arrives', () => {
  const header = `X-Big: ${'a'.repeat(70 * 1024)}\r\n`;
  failsEverySplit(
    `HTTP/1.1 200 OK\r\n${header}\r\n`,
    `response headers larger than 65536 bytes from ${SOURCE}`,
  );
  // Without a line end at all: the bound holds on what is pending too.
  const parser = new ResponseParser({ source: SOURCE });
  assert.throws(() => parser.push(Buffer.alloc(65_536, 'a')), { code: 'SOCKLAB_ERR_PROTOCOL' });
  // Many small headers count together.
  const many = Array.from({ length: 5000 }, (_, i) => `X-H${i}: some value here\r\n`).join('');
  assert.throws(
    () => new ResponseParser().push(Buffer.from(`HTTP/1.1 200 OK\r\n${many}\r\n`)),
    /larger than 65536/,
  );
});

test('trailers have the same bound; chunk size lines have their own', () => {
  const trailer = `X-T: ${'t'.repeat(300)}\r\n`;
  failsEverySplit(
    `HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n0\r\n${trailer}\r\n`,
    `response trailers larger than 200 bytes from ${SOURCE}`,
    200,
  );
  const parser = new ResponseParser({ source: SOURCE });
  parser.push(Buffer.from('HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n'));
  assert.throws(() => parser.push(Buffer.from(`1;${'e'.repeat(9000)}\r\n`)), {
    message: `chunk size line longer than 8192 bytes from ${SOURCE}`,
  });
});

test('after an error the parser keeps failing the same way', () => {
  const parser = new ResponseParser();
  assert.throws(() => parser.push(Buffer.from('FOO\r\n')), {
    message: "bad status line from the server: 'FOO'",
  });
  assert.throws(() => parser.push(Buffer.from('HTTP/1.1 200 OK\r\n')), {
    message: "bad status line from the server: 'FOO'",
  });
  assert.throws(() => parser.end(), { message: "bad status line from the server: 'FOO'" });
});

test('a large chunked body in random pieces comes out byte for byte', () => {
  const random = mulberry32(7);
  const chunks: Buffer[] = [];
  let wire = 'HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n';
  for (let i = 0; i < 200; i++) {
    const data = Buffer.from(
      Array.from({ length: 1 + Math.floor(random() * 3000) }, () => Math.floor(random() * 256)),
    );
    chunks.push(data);
    wire += `${data.length.toString(16)}\r\n${data.toString('latin1')}\r\n`;
  }
  wire += '0\r\n\r\n';
  const bytes = Buffer.from(wire, 'latin1');
  const expected = Buffer.concat(chunks).toString('latin1');
  for (const seed of [11, 12, 13]) {
    const pieces: number[] = [];
    const r = mulberry32(seed);
    for (let left = bytes.length; left > 0;) {
      const size = Math.min(left, 1 + Math.floor(r() * 5000));
      pieces.push(size);
      left -= size;
    }
    assert.equal(parse(bytes, pieces).body, expected, `seed ${seed}`);
  }
});
