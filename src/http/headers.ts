/**
 * HTTP header fields as they travel: a list of `[name, value]` pairs in the order received, with
 * the name's case as sent. Lookup ignores case (RFC 9110 §5.1); display keeps what the peer sent.
 */

/** One header field: `['Content-Type', 'text/html']`. */
export type HttpHeader = readonly [name: string, value: string];

// RFC 9110 §5.6.2: a field name is a token.
const TOKEN = /^[!#$%&'*+\-.^_`|~0-9A-Za-z]+$/;
// A field value may hold visible characters, spaces and tabs, and obs-text (bytes >= 0x80, here as
// latin1 characters); never CR, LF or NUL, which would end the field or smuggle another one.
// eslint-disable-next-line no-control-regex
const BAD_VALUE_CHAR = /[\x00-\x08\x0a-\x1f\x7f]/;

/** True if `name` may be a header field name. */
export function isHeaderName(name: string): boolean {
  return TOKEN.test(name);
}

/** True if `value` may be a header field value (no CR, LF, NUL or other control characters). */
export function isHeaderValue(value: string): boolean {
  return !BAD_VALUE_CHAR.test(value);
}

/**
 * `Name: value` → `['Name', 'value']` (surrounding spaces and tabs of the value dropped), or
 * `undefined` if the text is not a valid field: no colon, a bad name, whitespace before the colon
 * (RFC 9112 §5.1 forbids it, because peers disagree on what it means), or control characters.
 */
export function parseHeaderField(text: string): HttpHeader | undefined {
  const colon = text.indexOf(':');
  if (colon <= 0) return undefined;
  const name = text.slice(0, colon);
  const value = text.slice(colon + 1).replace(/^[ \t]+|[ \t]+$/g, '');
  if (!isHeaderName(name) || !isHeaderValue(value)) return undefined;
  return [name, value];
}

/** Every value of the field `name` (any case), in order. */
export function getHeaderValues(headers: readonly HttpHeader[], name: string): string[] {
  const wanted = name.toLowerCase();
  return headers.filter(([n]) => n.toLowerCase() === wanted).map(([, v]) => v);
}

/**
 * The value of the field `name` (any case); several fields of that name are joined with `, `
 * (RFC 9110 §5.3: the same meaning, except for `Set-Cookie`: use getHeaderValues for that one).
 */
export function getHeader(headers: readonly HttpHeader[], name: string): string | undefined {
  const values = getHeaderValues(headers, name);
  return values.length === 0 ? undefined : values.join(', ');
}
