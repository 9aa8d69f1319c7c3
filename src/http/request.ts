/**
 * The bytes of an HTTP/1.1 request, written by hand: request line, headers, blank line. No body:
 * socklab only sends GET and HEAD.
 */
import { SocklabError } from '../errors.js';
import { isHeaderName, isHeaderValue, type HttpHeader } from './headers.js';
import type { HttpTarget } from './url.js';

/** Kept in step with package.json by a test (reading package.json here would tie src to its path). */
export const SOCKLAB_VERSION = '0.1.0';
export const USER_AGENT = `socklab/${SOCKLAB_VERSION}`;

export type HttpMethod = 'GET' | 'HEAD';

export interface BuildRequestOptions {
  readonly method: HttpMethod;
  readonly target: HttpTarget;
  /**
   * Extra header fields, sent after the defaults. One with the name of a default (`Host`,
   * `User-Agent`, `Accept`, `Connection`, any case) replaces it; with an empty value it removes it
   * (as curl's `-H 'Name:'`). Extra fields with an empty value are sent as they are.
   */
  readonly headers?: readonly HttpHeader[];
}

/**
 * The request's header fields in the order they will be sent. `Connection: close` makes the
 * server end the connection after the response, so a body without framing ends at the close
 * and one request never waits on a kept-alive connection.
 */
export function requestHeaders(options: BuildRequestOptions): HttpHeader[] {
  const extra = options.headers ?? [];
  for (const [name, value] of extra) {
    // Checked here too, not only by the CLI: a CR or LF in a header would let a caller smuggle
    // a second request or header into the stream.
    if (!isHeaderName(name) || !isHeaderValue(value)) {
      throw new SocklabError('SOCKLAB_ERR_USAGE', `bad request header '${name}: ${value}'`);
    }
  }
  const defaults: HttpHeader[] = [
    ['Host', options.target.hostHeader],
    ['User-Agent', USER_AGENT],
    ['Accept', '*/*'],
    ['Connection', 'close'],
  ];
  const overridden = (name: string) => extra.find(([n]) => n.toLowerCase() === name.toLowerCase());
  const headers: HttpHeader[] = [];
  for (const field of defaults) {
    const replacement = overridden(field[0]);
    if (replacement === undefined) headers.push(field);
    else if (replacement[1] !== '') headers.push([field[0], replacement[1]]);
  }
  const isDefault = (name: string) => defaults.some(([n]) => n.toLowerCase() === name.toLowerCase());
  for (const field of extra) if (!isDefault(field[0])) headers.push(field);
  return headers;
}

/** The request head as text: `GET /path HTTP/1.1\r\nHost: …\r\n…\r\n\r\n`. */
export function formatRequest(options: BuildRequestOptions): string {
  const lines = [`${options.method} ${options.target.path} HTTP/1.1`];
  for (const [name, value] of requestHeaders(options)) lines.push(`${name}: ${value}`);
  return `${lines.join('\r\n')}\r\n\r\n`;
}

/**
 * The request as bytes. The path and host are ASCII by now (the URL parser percent-encodes and
 * punycodes them); header values typed on a command line are UTF-8, and are sent as such, as curl does.
 */
export function buildRequest(options: BuildRequestOptions): Buffer {
  return Buffer.from(formatRequest(options), 'utf8');
}
