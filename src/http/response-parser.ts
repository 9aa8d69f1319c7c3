/**
 * An incremental HTTP/1.x response parser: push bytes as they arrive, in pieces of any size, get
 * back events (interim heads, the head, body pieces, the end). It never touches a socket, so a
 * test can feed it one byte at a time, and the caller decides when to read more (backpressure).
 *
 * Body framing follows RFC 9112 §6.3: no body for HEAD and for 1xx/204/304; else chunked when
 * Transfer-Encoding ends with chunked; else read to the close when Transfer-Encoding is set
 * otherwise; else Content-Length; else read to the close.
 */
import { SocklabError } from '../errors.js';
import { getHeaderValues, parseHeaderField, type HttpHeader } from './headers.js';
import type { HttpMethod } from './request.js';

/** Longest response head (status line and headers, interim responses included) accepted. */
export const DEFAULT_MAX_HEADER_BYTES = 64 * 1024;
/** Longest chunk-size line (size and extensions) accepted: no real server comes near it. */
export const MAX_CHUNK_LINE_BYTES = 8 * 1024;

export interface ResponseHead {
  /** `'1.1'` or `'1.0'`. */
  readonly httpVersion: string;
  readonly status: number;
  /** The reason phrase, possibly empty: `'Not Found'`. */
  readonly statusText: string;
  /** The status line as received, without its line ending: `'HTTP/1.1 404 Not Found'`. */
  readonly statusLine: string;
  /**
   * In the order received, names as sent. Header bytes are decoded as latin1, so that every byte
   * survives: `Buffer.from(value, 'latin1')` gives the exact bytes back.
   */
  readonly headers: readonly HttpHeader[];
}

/** How the body of a response is delimited. */
export type BodyFraming = 'none' | 'length' | 'chunked' | 'close';

export type ResponseEvent =
  /** A 1xx response (`100 Continue`, `103 Early Hints`): informational, the real one follows. */
  | { readonly type: 'interim'; readonly head: ResponseHead }
  | { readonly type: 'head'; readonly head: ResponseHead; readonly framing: BodyFraming }
  /** A piece of the decoded body (chunked framing removed); a view into the pushed bytes. */
  | { readonly type: 'body'; readonly data: Buffer }
  /** The response is complete; `trailers` are the fields after a chunked body, if any. */
  | { readonly type: 'end'; readonly trailers: readonly HttpHeader[] };

export interface ResponseParserOptions {
  /** The request's method: a response to HEAD has no body, whatever its headers say. */
  readonly method?: HttpMethod;
  /** Default DEFAULT_MAX_HEADER_BYTES; also the bound on trailers. */
  readonly maxHeaderBytes?: number;
  /** Where the response comes from, for error messages: a URL. Default `the server`. */
  readonly source?: string;
}

type State =
  | 'status'
  | 'headers'
  | 'length'
  | 'chunk-size'
  | 'chunk-data'
  | 'chunk-end'
  | 'trailers'
  | 'close'
  | 'done'
  | 'failed';

const LF = 0x0a;
const STATUS_LINE = /^HTTP\/(\d)\.(\d) (\d{3})(?: (.*))?$/;
const CHUNK_SIZE_LINE = /^([0-9A-Fa-f]+)[ \t]*(?:;.*)?$/;
// eslint-disable-next-line no-control-regex
const CONTROL = /[\x00-\x08\x0a-\x1f\x7f]/;

/** A line from the wire as a one-line, printable quote: `'FOO\x00'`, cut after 80 characters. */
export function quoteLine(line: string): string {
  const cut = line.length > 80 ? `${line.slice(0, 80)}…` : line;
  return `'${cut.replace(/[^\x20-\x7e…]/g, (c) => `\\x${c.charCodeAt(0).toString(16).padStart(2, '0')}`)}'`;
}

export class ResponseParser {
  readonly #method: HttpMethod;
  readonly #maxHeaderBytes: number;
  readonly #source: string;
  #state: State = 'status';
  #error: SocklabError | undefined;
  /** The start of a line whose LF has not arrived yet. */
  #pending: Buffer[] = [];
  #pendingBytes = 0;
  /** Bytes of heads so far (all interim responses and the final one), then of trailers. */
  #headBytes = 0;
  #receivedBytes = 0;
  #statusLine = '';
  #version = '';
  #status = 0;
  #statusText = '';
  #fields: [string, string][] = [];
  /** Bytes left in the Content-Length body or in the current chunk. */
  #remaining = 0;
  #contentLength = 0;

  constructor(options: ResponseParserOptions = {}) {
    this.#method = options.method ?? 'GET';
    this.#maxHeaderBytes = options.maxHeaderBytes ?? DEFAULT_MAX_HEADER_BYTES;
    this.#source = options.source ?? 'the server';
  }

  /** True once the whole response has been parsed; bytes pushed after that are ignored. */
  get done(): boolean {
    return this.#state === 'done';
  }

  /** Parse the next bytes; throws SOCKLAB_ERR_PROTOCOL (with a one-line reason) on a bad response. */
  push(chunk: Buffer): ResponseEvent[] {
    if (this.#error) throw this.#error;
    const events: ResponseEvent[] = [];
    this.#receivedBytes += chunk.length;
    let offset = 0;
    try {
      while (offset < chunk.length && this.#state !== 'done') {
        const state = this.#state;
        if (state === 'length' || state === 'chunk-data') {
          const take = Math.min(this.#remaining, chunk.length - offset);
          events.push({ type: 'body', data: chunk.subarray(offset, offset + take) });
          offset += take;
          this.#remaining -= take;
          if (this.#remaining === 0) {
            if (state === 'length') this.#finish(events, []);
            else this.#state = 'chunk-end';
          }
        } else if (state === 'close') {
          events.push({ type: 'body', data: chunk.subarray(offset) });
          offset = chunk.length;
        } else {
          const lf = chunk.indexOf(LF, offset);
          if (lf < 0) {
            this.#pending.push(chunk.subarray(offset));
            this.#pendingBytes += chunk.length - offset;
            // Checked before the LF arrives too, or a peer could make us buffer without end. The
            // LF still to come counts, so the verdict is the same however the bytes are split.
            this.#checkLineLength(this.#pendingBytes + 1);
            offset = chunk.length;
          } else {
            const piece = chunk.subarray(offset, lf);
            const bytes = this.#pending.length === 0 ? piece : Buffer.concat([...this.#pending, piece]);
            this.#pending = [];
            this.#pendingBytes = 0;
            offset = lf + 1;
            this.#checkLineLength(bytes.length + 1);
            this.#consumeLine(bytes, events);
          }
        }
      }
    } catch (err) {
      // Only our own errors are expected here; anything else is a bug and must show as one.
      if (err instanceof SocklabError) throw this.#fail(err);
      throw err;
    }
    return events;
  }

  /**
   * The connection has closed: completes a body that runs to the close; throws
   * SOCKLAB_ERR_PROTOCOL if the response was cut short.
   */
  end(): ResponseEvent[] {
    if (this.#error) throw this.#error;
    const events: ResponseEvent[] = [];
    switch (this.#state) {
      case 'done':
        return events;
      case 'close':
        this.#finish(events, []);
        return events;
      case 'status':
      case 'headers':
        throw this.#fail(
          this.#receivedBytes === 0
            ? this.#protocolError(
                `empty response from ${this.#source} (connection closed before the status line)`,
              )
            : this.#protocolError(
                `connection closed in the middle of the response headers from ${this.#source}`,
              ),
        );
      case 'length':
        throw this.#fail(
          this.#protocolError(
            `connection closed after ${this.#contentLength - this.#remaining} of ${this.#contentLength} body bytes from ${this.#source}`,
          ),
        );
      default:
        throw this.#fail(
          this.#protocolError(`connection closed in the middle of the chunked body from ${this.#source}`),
        );
    }
  }

  #protocolError(message: string): SocklabError {
    return new SocklabError('SOCKLAB_ERR_PROTOCOL', message);
  }

  /** Remembers the failure (later calls throw it again) and returns it, to be thrown. */
  #fail(err: SocklabError): SocklabError {
    this.#state = 'failed';
    this.#error = err;
    return err;
  }

  /** `lineBytes` counts the LF: the same measure whether the line is complete or still arriving. */
  #checkLineLength(lineBytes: number): void {
    if (this.#state === 'chunk-size' || this.#state === 'chunk-end') {
      if (lineBytes > MAX_CHUNK_LINE_BYTES) {
        throw this.#protocolError(
          `chunk size line longer than ${MAX_CHUNK_LINE_BYTES} bytes from ${this.#source}`,
        );
      }
    } else if (this.#headBytes + lineBytes > this.#maxHeaderBytes) {
      const what = this.#state === 'trailers' ? 'trailers' : 'headers';
      throw this.#protocolError(
        `response ${what} larger than ${this.#maxHeaderBytes} bytes from ${this.#source}`,
      );
    }
  }

  #consumeLine(bytes: Buffer, events: ResponseEvent[]): void {
    if (this.#state === 'status' || this.#state === 'headers' || this.#state === 'trailers') {
      this.#headBytes += bytes.length + 1;
    }
    // latin1: one character per byte, so nothing is lost and lengths stay byte counts.
    let line = bytes.toString('latin1');
    if (line.endsWith('\r')) line = line.slice(0, -1);
    switch (this.#state) {
      case 'status':
        // RFC 9112 §2.2: be lenient with empty lines before a message (some servers send an
        // extra CRLF after a 100 Continue).
        if (line !== '') this.#parseStatusLine(line);
        break;
      case 'headers':
        if (line === '') this.#endOfHead(events);
        else this.#addField(line, this.#fields, true);
        break;
      case 'chunk-size':
        this.#parseChunkSize(line);
        break;
      case 'chunk-end':
        if (line !== '')
          throw this.#protocolError(`missing CRLF after a chunk from ${this.#source}: ${quoteLine(line)}`);
        this.#state = 'chunk-size';
        break;
      case 'trailers':
        if (line === '') this.#finish(events, this.#fields);
        else this.#addField(line, this.#fields, false);
        break;
      default:
        throw new Error(`line in state ${this.#state}`); // unreachable: push() sends lines only here
    }
  }

  #parseStatusLine(line: string): void {
    const match = STATUS_LINE.exec(line);
    const reason = match?.[4] ?? '';
    if (!match || CONTROL.test(reason))
      throw this.#protocolError(`bad status line from ${this.#source}: ${quoteLine(line)}`);
    if (match[1] !== '1') {
      throw this.#protocolError(`unsupported HTTP version from ${this.#source}: ${quoteLine(line)}`);
    }
    const status = Number(match[3]);
    if (status < 100) throw this.#protocolError(`bad status code from ${this.#source}: ${quoteLine(line)}`);
    this.#statusLine = line;
    this.#version = `${match[1]}.${match[2]}`;
    this.#status = status;
    this.#statusText = reason.trim();
    this.#fields = [];
    this.#state = 'headers';
  }

  #addField(line: string, fields: [string, string][], allowFolding: boolean): void {
    const last = fields[fields.length - 1];
    if (allowFolding && (line.startsWith(' ') || line.startsWith('\t')) && last !== undefined) {
      // obs-fold (RFC 9112 §5.2): a user agent replaces it with a space.
      const more = line.trim();
      if (CONTROL.test(more))
        throw this.#protocolError(`bad header line from ${this.#source}: ${quoteLine(line)}`);
      last[1] = last[1] === '' ? more : `${last[1]} ${more}`;
      return;
    }
    const field = parseHeaderField(line);
    if (field === undefined) {
      const what = this.#state === 'trailers' ? 'trailer' : 'header';
      throw this.#protocolError(`bad ${what} line from ${this.#source}: ${quoteLine(line)}`);
    }
    fields.push([field[0], field[1]]);
  }

  #endOfHead(events: ResponseEvent[]): void {
    const head: ResponseHead = {
      httpVersion: this.#version,
      status: this.#status,
      statusText: this.#statusText,
      statusLine: this.#statusLine,
      headers: this.#fields,
    };
    // 101 Switching Protocols ends HTTP on this connection; we never ask for it, so it is final.
    if (head.status < 200 && head.status !== 101) {
      events.push({ type: 'interim', head });
      this.#fields = [];
      this.#state = 'status';
      return;
    }
    const framing = this.#framing(head);
    events.push({ type: 'head', head, framing });
    this.#fields = [];
    switch (framing) {
      case 'none':
        this.#finish(events, []);
        break;
      case 'chunked':
        this.#state = 'chunk-size';
        break;
      case 'close':
        this.#state = 'close';
        break;
      case 'length':
        this.#remaining = this.#contentLength;
        this.#state = 'length';
        if (this.#remaining === 0) this.#finish(events, []);
        break;
    }
  }

  #framing(head: ResponseHead): BodyFraming {
    if (this.#method === 'HEAD' || head.status < 200 || head.status === 204 || head.status === 304)
      return 'none';
    const codings = getHeaderValues(head.headers, 'transfer-encoding')
      .join(',')
      .split(',')
      .map((c) => c.trim().toLowerCase())
      .filter((c) => c !== '');
    // Transfer-Encoding overrides Content-Length (RFC 9112 §6.3, rule 3). Another final coding
    // than chunked leaves the body's end to the close; we do not decompress, the bytes go out as sent.
    if (codings.length > 0) return codings[codings.length - 1] === 'chunked' ? 'chunked' : 'close';
    const lengths = getHeaderValues(head.headers, 'content-length');
    if (lengths.length === 0) return 'close';
    // `Content-Length: 5, 5` and repeated equal fields are one length; different ones are an
    // attack or a bug (RFC 9112 §6.3, rule 5): refuse rather than guess where the body ends.
    const values = new Set(
      lengths
        .join(',')
        .split(',')
        .map((v) => v.trim()),
    );
    const [value] = values;
    if (
      values.size !== 1 ||
      value === undefined ||
      !/^\d+$/.test(value) ||
      !Number.isSafeInteger(Number(value))
    ) {
      throw this.#protocolError(`bad Content-Length from ${this.#source}: ${quoteLine(lengths.join(', '))}`);
    }
    this.#contentLength = Number(value);
    return 'length';
  }

  #parseChunkSize(line: string): void {
    const match = CHUNK_SIZE_LINE.exec(line);
    const hex = match?.[1]?.replace(/^0+(?=.)/, '');
    // 13 hex digits stay within Number.MAX_SAFE_INTEGER; no real chunk is near 2^52 bytes.
    if (hex === undefined || hex.length > 13) {
      throw this.#protocolError(`bad chunk size line from ${this.#source}: ${quoteLine(line)}`);
    }
    const size = parseInt(hex, 16);
    if (size === 0) {
      this.#headBytes = 0; // trailers get their own budget
      this.#fields = [];
      this.#state = 'trailers';
    } else {
      this.#remaining = size;
      this.#state = 'chunk-data';
    }
  }

  #finish(events: ResponseEvent[], trailers: readonly HttpHeader[]): void {
    events.push({ type: 'end', trailers });
    this.#state = 'done';
  }
}
