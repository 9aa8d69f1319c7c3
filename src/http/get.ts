/**
 * `httpGet`: one HTTP/1.1 GET (or HEAD) written by hand over a TCP or TLS socket, as the seeds'
 * client does it, plus what that client leaves out: chunked bodies, timeouts, TLS, redirects.
 *
 * One request per connection (`Connection: close`), so the end of the connection is a valid end of
 * the body and nothing is left half-read on a kept-alive socket.
 */
import type { Writable } from 'node:stream';
import { describeSystemError, SocklabError } from '../errors.js';
import { openConnection, type ConnectionInfo } from './connection.js';
import { getHeader, type HttpHeader } from './headers.js';
import { formatRequest, type HttpMethod } from './request.js';
import { ResponseParser, type ResponseEvent, type ResponseHead } from './response-parser.js';
import { parseHttpUrl, resolveRedirect, sameOrigin, type HttpTarget } from './url.js';
import { untilSettled } from '../core/wait.js';

export const DEFAULT_HTTP_TIMEOUT_MS = 30_000;
export const DEFAULT_MAX_REDIRECTS = 10;
/** httpGet keeps the whole body in memory: refuse more than this by default. */
export const DEFAULT_MAX_BODY_BYTES = 64 * 1024 * 1024;

/** Why a redirect from https to http is not followed (without allowDowngrade). */
export const DOWNGRADE_REASON = 'it leaves https for plain http';

const REDIRECT_STATUSES: ReadonlySet<number> = new Set([301, 302, 303, 307, 308]);
/** Request headers that must not follow a redirect to another origin: they carry credentials. */
const ORIGIN_BOUND_HEADERS: ReadonlySet<string> = new Set([
  'authorization',
  'proxy-authorization',
  'cookie',
  'host',
]);

/** A response's status line and headers, and the URL that sent it. */
export interface HttpResponseHead extends ResponseHead {
  /** The URL this response answers (after redirects, the last one). */
  readonly url: string;
}

/** Where a body goes: a Writable (written with backpressure, never ended) or a function. */
export type BodySink = Writable | ((data: Buffer) => void | Promise<void>);

export interface HttpGetOptions {
  /** `'HEAD'` asks for the head only. Default `'GET'`. */
  readonly method?: HttpMethod;
  /**
   * Extra request headers. One named like a default (`Host`, `User-Agent`, `Accept`,
   * `Connection`) replaces it, or with an empty value removes it.
   */
  readonly headers?: readonly HttpHeader[];
  /**
   * Bound on connecting, on the TLS handshake, and on each silence while waiting for the
   * response (not on the whole transfer, which may be long). Default 30 s.
   */
  readonly timeoutMs?: number;
  readonly signal?: AbortSignal;
  /** PEM certificate(s) of a CA to trust for https, in addition to the built-in roots. */
  readonly ca?: string | Buffer;
  /** Do not verify the server's certificate (https only). */
  readonly insecure?: boolean;
  /** Follow 301/302/303/307/308 with a Location header. Default false: return the 3xx. */
  readonly followRedirects?: boolean;
  /**
   * With followRedirects: follow a redirect from https to plain http too. Default false: such a
   * redirect rejects with SOCKLAB_ERR_PROTOCOL before anything is sent in the clear.
   */
  readonly allowDowngrade?: boolean;
  /** With followRedirects: how many to follow before failing. Default 10. */
  readonly maxRedirects?: number;
  /** Longest response head accepted (status line and headers). Default 64 KiB. */
  readonly maxHeaderBytes?: number;
  /** The connection is up (and for https, the handshake done). */
  readonly onConnect?: (info: ConnectionInfo & { readonly url: string }) => void;
  /** The request head about to be sent, exactly (CRLF line endings). */
  readonly onRequest?: (request: string, url: string) => void;
  /** A 1xx interim response (`100 Continue`), which is skipped. */
  readonly onInterim?: (head: HttpResponseHead) => void;
}

export interface HttpGetStreamOptions extends HttpGetOptions {
  /**
   * Called with each response head, before its body. Returns where the body goes (`undefined`:
   * nowhere; the body is still read to the end). For a redirect that will be followed,
   * `redirectTo` is set and the return value is ignored: that body is not read at all.
   * Throwing (e.g. on an error status) stops the request: httpGetStream rejects with that error.
   */
  readonly onResponse: (
    head: HttpResponseHead,
    info: { readonly redirectTo?: string },
  ) => BodySink | undefined | Promise<BodySink | undefined>;
}

export interface HttpStreamResult extends HttpResponseHead {
  /** Decoded body bytes delivered (chunked framing removed). */
  readonly bodyBytes: number;
  /** Header fields sent after a chunked body. */
  readonly trailers: readonly HttpHeader[];
  /** How many redirects were followed. */
  readonly redirects: number;
}

export interface HttpResponse extends HttpResponseHead {
  readonly body: Buffer;
  readonly trailers: readonly HttpHeader[];
  readonly redirects: number;
}

type Hop =
  | { readonly kind: 'redirect'; readonly to: HttpTarget }
  | { readonly kind: 'done'; readonly result: HttpStreamResult };

function readError(target: HttpTarget, err: unknown): SocklabError {
  if (err instanceof SocklabError) return err;
  return new SocklabError(
    'SOCKLAB_ERR_SOCKET',
    `lost the connection to ${target.url}: ${describeSystemError(err)}`,
    {
      cause: err,
    },
  );
}

function sinkError(target: HttpTarget, err: unknown): SocklabError {
  if (err instanceof SocklabError) return err;
  return new SocklabError(
    'SOCKLAB_ERR_FILE',
    `cannot write the body of ${target.url}: ${describeSystemError(err)}`,
    {
      cause: err,
    },
  );
}

/** Writes to a Writable sink: waits on 'drain' when it is full, fails if it fails. */
function writableWriter(sink: Writable, target: HttpTarget, signal: AbortSignal | undefined) {
  let failure: unknown;
  let stopWaiting: (() => void) | undefined;
  // Without a listener an 'error' event would crash the process; here it fails the request instead.
  const onError = (err: unknown) => {
    failure ??= err;
    stopWaiting?.();
  };
  sink.on('error', onError);
  const aborted = () => new SocklabError('SOCKLAB_ERR_ABORTED', `request to ${target.url} aborted`);
  const write = async (data: Buffer): Promise<void> => {
    // An output that goes away (`| head`) aborts the signal too (cli/main.ts): that is the quiet
    // ending, so it wins over the write error it caused.
    if (signal?.aborted) throw aborted();
    if (failure !== undefined) throw sinkError(target, failure);
    if (sink.destroyed) throw sinkError(target, new Error('the output was closed'));
    if (sink.write(data)) return;
    await untilSettled(
      new Promise<void>((resolve) => {
        const done = () => {
          sink.off('drain', done);
          sink.off('close', done);
          stopWaiting = undefined;
          resolve();
        };
        stopWaiting = done;
        sink.on('drain', done);
        sink.on('close', done);
      }),
      // No timeout: a slow reader of our output is not the server's fault.
      { signal, onAbort: aborted },
    );
    if (signal?.aborted) throw aborted();
    if (failure !== undefined) throw sinkError(target, failure);
  };
  const release = () => {
    stopWaiting?.();
    sink.off('error', onError);
  };
  return { write, release };
}

async function exchange(
  target: HttpTarget,
  options: HttpGetStreamOptions,
  redirectsLeft: number,
  redirects: number,
): Promise<Hop> {
  const method = options.method ?? 'GET';
  const timeoutMs = options.timeoutMs ?? DEFAULT_HTTP_TIMEOUT_MS;
  const { signal } = options;
  const connection = await openConnection({
    target,
    timeoutMs,
    signal,
    ...(options.ca !== undefined ? { ca: options.ca } : {}),
    ...(options.insecure !== undefined ? { insecure: options.insecure } : {}),
  });
  const { socket } = connection;
  let release: () => void = () => undefined;
  try {
    options.onConnect?.({ ...connection.info, url: target.url });
    const request = formatRequest({
      method,
      target,
      ...(options.headers ? { headers: options.headers } : {}),
    });
    options.onRequest?.(request, target.url);
    // A write error (the server closing early) surfaces on the read side, as the lost connection.
    socket.write(Buffer.from(request, 'utf8'));

    const parser = new ResponseParser({
      method,
      source: target.url,
      ...(options.maxHeaderBytes !== undefined ? { maxHeaderBytes: options.maxHeaderBytes } : {}),
    });
    // Pulling from the async iterator reads only as fast as we consume: while a body piece waits
    // for the sink to drain, the socket is not read, and TCP flow control slows the server down.
    const reader = socket[Symbol.asyncIterator]() as AsyncIterator<Buffer, undefined>;
    let head: HttpResponseHead | undefined;
    let write: ((data: Buffer) => void | Promise<void>) | undefined;
    let bodyBytes = 0;
    for (;;) {
      const next = reader.next();
      const result = await untilSettled(
        next.catch((err: unknown) => Promise.reject(readError(target, err))),
        {
          timeoutMs,
          signal,
          onTimeout: () =>
            new SocklabError(
              'SOCKLAB_ERR_TIMEOUT',
              head === undefined
                ? `no response from ${target.url} within ${timeoutMs} ms`
                : `${target.url} stopped sending: nothing received for ${timeoutMs} ms (after ${bodyBytes} body bytes)`,
            ),
          onAbort: () => new SocklabError('SOCKLAB_ERR_ABORTED', `request to ${target.url} aborted`),
        },
      );
      const events: ResponseEvent[] = result.done === true ? parser.end() : parser.push(result.value);
      for (const event of events) {
        switch (event.type) {
          case 'interim':
            options.onInterim?.({ ...event.head, url: target.url });
            break;
          case 'head': {
            head = { ...event.head, url: target.url };
            const location = getHeader(head.headers, 'location');
            if (
              options.followRedirects === true &&
              REDIRECT_STATUSES.has(head.status) &&
              location !== undefined
            ) {
              const to = resolveRedirect(location, target);
              if (target.secure && !to.secure && options.allowDowngrade !== true) {
                throw new SocklabError(
                  'SOCKLAB_ERR_PROTOCOL',
                  `refusing to follow the redirect from ${target.url} to ${to.url}: ${DOWNGRADE_REASON}`,
                );
              }
              if (redirectsLeft <= 0) {
                throw new SocklabError(
                  'SOCKLAB_ERR_PROTOCOL',
                  `too many redirects: stopped after ${redirects} at ${target.url}, which redirects to ${to.url}`,
                );
              }
              await options.onResponse(head, { redirectTo: to.url });
              return { kind: 'redirect', to };
            }
            const sink = await options.onResponse(head, {});
            if (typeof sink === 'function') write = sink;
            else if (sink !== undefined) {
              const writer = writableWriter(sink, target, signal);
              write = writer.write;
              release = writer.release;
            }
            break;
          }
          case 'body':
            bodyBytes += event.data.length;
            if (write !== undefined) await write(event.data);
            break;
          case 'end':
            if (head === undefined) throw new Error('response ended before its head'); // parser guarantees a head
            return { kind: 'done', result: { ...head, bodyBytes, trailers: event.trailers, redirects } };
        }
      }
      // parser.end() either emits 'end' (handled above) or throws: the loop cannot spin on EOF.
    }
  } finally {
    release();
    socket.destroy();
  }
}

/** Request headers for the next hop: credentials stay with their origin. */
function headersFor(
  options: HttpGetOptions,
  from: HttpTarget,
  to: HttpTarget,
): readonly HttpHeader[] | undefined {
  if (options.headers === undefined || sameOrigin(from, to)) return options.headers;
  return options.headers.filter(([name]) => !ORIGIN_BOUND_HEADERS.has(name.toLowerCase()));
}

/**
 * GET (or HEAD) `url` and stream the body where `onResponse` says, with backpressure: memory stays
 * bounded however large the body. Resolves with the final head once the body is complete.
 *
 * Rejects with a SocklabError: SOCKLAB_ERR_USAGE (bad or non-http URL), _DNS, _CONNECT,
 * _TIMEOUT, _TLS (with the certificate problem), _PROTOCOL (a malformed response, too many
 * redirects), _SOCKET (the connection lost mid-response), _ABORTED (the signal), or whatever
 * `onResponse` throws.
 *
 * @example
 * ```ts
 * const res = await httpGetStream('http://127.0.0.1:8080/big.iso', {
 *   timeoutMs: 5_000,
 *   onResponse: () => createWriteStream('big.iso'),
 * });
 * ```
 */
export async function httpGetStream(
  url: string | URL,
  options: HttpGetStreamOptions,
): Promise<HttpStreamResult> {
  let target = parseHttpUrl(url.toString());
  const maxRedirects = options.maxRedirects ?? DEFAULT_MAX_REDIRECTS;
  let hopOptions: HttpGetStreamOptions = options;
  for (let redirects = 0; ; redirects++) {
    const hop = await exchange(target, hopOptions, maxRedirects - redirects, redirects);
    if (hop.kind === 'done') return hop.result;
    const headers = headersFor(hopOptions, target, hop.to);
    hopOptions = { ...hopOptions, ...(headers !== undefined ? { headers } : {}) };
    target = hop.to;
  }
}

/**
 * GET (or HEAD) `url` and return the whole response, body in memory (for small bodies: larger
 * than `maxBodyBytes` rejects with SOCKLAB_ERR_MESSAGE_TOO_LARGE). Errors as httpGetStream.
 *
 * @example
 * ```ts
 * const res = await httpGet('http://127.0.0.1:8080/', { timeoutMs: 5_000 });
 * console.log(res.status, getHeader(res.headers, 'content-type'), res.body.toString());
 * ```
 */
export async function httpGet(
  url: string | URL,
  options: HttpGetOptions & { readonly maxBodyBytes?: number } = {},
): Promise<HttpResponse> {
  const maxBodyBytes = options.maxBodyBytes ?? DEFAULT_MAX_BODY_BYTES;
  const chunks: Buffer[] = [];
  let size = 0;
  const result = await httpGetStream(url, {
    ...options,
    onResponse: (head) => (data: Buffer) => {
      size += data.length;
      if (size > maxBodyBytes) {
        throw new SocklabError(
          'SOCKLAB_ERR_MESSAGE_TOO_LARGE',
          `the body of ${head.url} is larger than ${maxBodyBytes} bytes (use httpGetStream for large bodies)`,
        );
      }
      chunks.push(data);
    },
  });
  const { bodyBytes: _bodyBytes, ...rest } = result;
  return { ...rest, body: Buffer.concat(chunks, size) };
}
