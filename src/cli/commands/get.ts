/** `socklab get URL`: HTTP/1.1 GET written by hand over a TCP (or TLS) socket, curl-style output. */
import { readFile } from 'node:fs/promises';
import type { Writable } from 'node:stream';
import { describeSystemError, isSocklabError, SocklabError } from '../../errors.js';
import { isCertificateError } from '../../http/connection.js';
import {
  DEFAULT_HTTP_TIMEOUT_MS,
  DEFAULT_MAX_REDIRECTS,
  httpGetStream,
  type HttpResponseHead,
  DOWNGRADE_REASON,
} from '../../http/get.js';
import { getHeader, parseHeaderField, type HttpHeader } from '../../http/headers.js';
import { parseHttpUrl } from '../../http/url.js';
import { optionalDuration, parseCommandLine, usageError } from '../args.js';
import type { Io } from '../io.js';
import { OutputFile } from '../output-file.js';

export const help = `Usage: socklab get URL [options]

Fetch URL with HTTP/1.1 written by hand over a TCP socket (TLS for https://), as the
tutorials' raw-socket client does, and write the body to stdout as raw bytes. Chunked bodies
are decoded. One request per connection (Connection: close).

URL is http://HOST[:PORT][/PATH] or https://…; without a scheme it means http://.

Options:
  -i, --include           print the status line and headers, a blank line, then the body
  -I, --head              send HEAD instead of GET (as curl -I does) and print only the status
                          line and headers
  -v, --verbose           print the request sent on stderr, each line prefixed with "> ", and the
                          response headers with "< " (as curl -v does)
  -H, --header 'N: V'     add a request header (repeatable); one named like a default (Host,
                          User-Agent, Accept, Connection) replaces it; 'Name:' alone removes it
  -L, --location          follow redirects (301 302 303 307 308 with Location, up to ${DEFAULT_MAX_REDIRECTS});
                          without -L a redirect is printed like any response; a redirect
                          from https:// to http:// is refused (exit 1)
      --allow-downgrade   -L: follow a redirect from https:// to http:// too
      --fail              exit 1 on HTTP status >= 400, without printing the body (as curl -f)
      --timeout DURATION  bound on connecting, on the TLS handshake and on each silence while
                          waiting for data: 500ms, 10s (default ${DEFAULT_HTTP_TIMEOUT_MS / 1000}s)
  -k, --insecure          https: do not verify the server's certificate
      --cacert FILE       https: also trust the CA certificate(s) in FILE (PEM)
  -o, --output FILE       write the output to FILE instead of stdout
  -h, --help              this help

Examples:
  socklab get http://127.0.0.1:8080/                     the body, raw, on stdout
  socklab get http://127.0.0.1:8080/ -i                  status line and headers, then the body
  socklab get https://example.com/ -I                    HEAD: status line and headers only
  socklab get http://127.0.0.1:8080/ -v -o page.html     show the conversation, save the body
  socklab get http://127.0.0.1:8080/old -L               follow redirects to the final page
  socklab get http://127.0.0.1:8080/ -H 'Host: www.sina.com.cn'   the tutorial's request
  socklab get https://localhost:8443/ --cacert ca.pem    trust a private CA

Exit status: 0 any HTTP response (also 404 or 500, unless --fail) · 1 network failure (host not
found, connection refused, timeout, TLS, malformed response) or --fail on status >= 400 ·
2 bad usage or bad URL · 130 Ctrl-C.
`;

const OPTIONS = {
  include: { type: 'boolean', short: 'i' },
  head: { type: 'boolean', short: 'I' },
  verbose: { type: 'boolean', short: 'v' },
  header: { type: 'string', short: 'H', multiple: true },
  location: { type: 'boolean', short: 'L' },
  'allow-downgrade': { type: 'boolean' },
  fail: { type: 'boolean' },
  timeout: { type: 'string' },
  insecure: { type: 'boolean', short: 'k' },
  cacert: { type: 'string' },
  output: { type: 'string', short: 'o' },
} as const;

export interface GetOptions {
  /** The URL as typed (checked by parse). */
  readonly url: string;
  /** Print the head before the body (-i); implied by -I. */
  readonly include: boolean;
  /** Send HEAD and print the head only (-I). */
  readonly head: boolean;
  readonly verbose: boolean;
  readonly headers: readonly HttpHeader[];
  readonly followRedirects: boolean;
  /** -L may follow a redirect from https to plain http (--allow-downgrade). */
  readonly allowDowngrade: boolean;
  readonly fail: boolean;
  readonly timeoutMs: number;
  readonly insecure: boolean;
  readonly caFile?: string;
  readonly outputFile?: string;
}

function parseHeaderOption(text: string): HttpHeader {
  const field = parseHeaderField(text);
  if (field === undefined)
    throw usageError(`-H '${text}': expected 'Name: value' (no spaces in Name, one line)`);
  return field;
}

export function parse(argv: readonly string[]): GetOptions {
  const { values: v, positionals } = parseCommandLine(argv, OPTIONS);
  if (positionals.length === 0) throw usageError('needs a URL, e.g. http://127.0.0.1:8080/');
  if (positionals.length > 1)
    throw usageError(`one URL at a time (got ${positionals.length}: ${positionals.join(' ')})`);
  const url = positionals[0]!;
  parseHttpUrl(url); // a bad URL fails now, with exit 2
  const timeoutMs = optionalDuration('--timeout', v.timeout, 1);
  if (v['allow-downgrade'] === true && v.location !== true)
    throw usageError('--allow-downgrade is for -L (following redirects)');
  return {
    url,
    include: v.include === true || v.head === true,
    head: v.head ?? false,
    verbose: v.verbose ?? false,
    headers: (v.header ?? []).map(parseHeaderOption),
    followRedirects: v.location ?? false,
    allowDowngrade: v['allow-downgrade'] ?? false,
    fail: v.fail ?? false,
    timeoutMs: timeoutMs ?? DEFAULT_HTTP_TIMEOUT_MS,
    insecure: v.insecure ?? false,
    ...(v.cacert !== undefined ? { caFile: v.cacert } : {}),
    ...(v.output !== undefined ? { outputFile: v.output } : {}),
  };
}

/** Head text as received: header bytes were decoded as latin1, so encoding back gives them exactly. */
function headText(head: HttpResponseHead, prefix: string): Buffer {
  const lines = [head.statusLine, ...head.headers.map(([name, value]) => `${name}: ${value}`)];
  return Buffer.from(lines.map((line) => `${prefix}${line}\n`).join(''), 'latin1');
}

async function readCa(path: string): Promise<string> {
  let text: string;
  try {
    text = await readFile(path, 'utf8');
  } catch (err) {
    throw new SocklabError('SOCKLAB_ERR_FILE', `cannot read --cacert ${path}: ${describeSystemError(err)}`, {
      cause: err,
    });
  }
  if (!text.includes('-----BEGIN CERTIFICATE-----')) {
    throw new SocklabError(
      'SOCKLAB_ERR_FILE',
      `--cacert ${path}: no PEM certificate in it (-----BEGIN CERTIFICATE-----)`,
    );
  }
  return text;
}

export async function run(options: GetOptions, io: Io): Promise<number> {
  const ca = options.caFile !== undefined ? await readCa(options.caFile) : undefined;
  // Opened before connecting, as curl does: a bad path fails before any network traffic.
  const file = options.outputFile !== undefined ? await OutputFile.open(options.outputFile) : undefined;
  const out: Writable = file?.stream ?? io.stdout;
  const verbose = (text: string | Buffer) => {
    if (options.verbose) io.stderr.write(text);
  };
  try {
    await httpGetStream(options.url, {
      method: options.head ? 'HEAD' : 'GET',
      headers: options.headers,
      timeoutMs: options.timeoutMs,
      signal: io.signal,
      ...(ca !== undefined ? { ca } : {}),
      insecure: options.insecure,
      followRedirects: options.followRedirects,
      allowDowngrade: options.allowDowngrade,
      onConnect: (info) => {
        verbose(`* connected to ${info.remoteAddress} port ${info.remotePort} (${info.url})\n`);
        if (info.tls) {
          const check = info.tls.authorized
            ? 'certificate verified'
            : `certificate NOT verified (${info.tls.authorizationError ?? 'unknown reason'})`;
          verbose(`* ${info.tls.protocol}, ${check}\n`);
        }
      },
      onRequest: (request) => {
        const lines = request.split('\r\n').slice(0, -1); // the head ends with an empty line
        verbose(Buffer.from(lines.map((line) => (line === '' ? '>\n' : `> ${line}\n`)).join(''), 'utf8'));
      },
      onInterim: (head) => {
        verbose(Buffer.concat([headText(head, '< '), Buffer.from('<\n')]));
        // curl -i shows interim responses too: they were received.
        if (options.include) out.write(Buffer.concat([headText(head, ''), Buffer.from('\n')]));
      },
      onResponse: (head, info) => {
        verbose(Buffer.concat([headText(head, '< '), Buffer.from('<\n')]));
        if (info.redirectTo !== undefined) verbose(`* following the redirect to ${info.redirectTo}\n`);
        if (options.fail && info.redirectTo === undefined && head.status >= 400) {
          const reason = head.statusText === '' ? '' : ` ${head.statusText}`;
          throw new SocklabError('SOCKLAB_ERR_HTTP_STATUS', `${head.url}: HTTP ${head.status}${reason}`);
        }
        if (options.include) out.write(Buffer.concat([headText(head, ''), Buffer.from('\n')]));
        const location =
          head.status >= 300 && head.status < 400 ? getHeader(head.headers, 'location') : undefined;
        if (location !== undefined && !options.followRedirects) {
          // Printed like any response (as curl does), but its body is often empty: say where to go.
          io.stderr.write(`socklab get: ${head.url} redirects to ${location} (-L follows redirects)\n`);
        }
        return options.head ? undefined : out;
      },
    });
  } catch (err) {
    // With --fail nothing is written: leave no empty file behind (curl -f -o does not create it).
    if (isSocklabError(err, 'SOCKLAB_ERR_HTTP_STATUS')) await file?.discard();
    throw withHint(err, options.url);
  } finally {
    await file?.close();
  }
  return 0;
}

/** The hints belong to the CLI: the library's options are named differently. */
function withHint(err: unknown, url: string): unknown {
  // A TLS server closes (or resets) on a plain HTTP request without a word of HTTP.
  const plainToTls =
    !/^https:/i.test(url) &&
    err instanceof SocklabError &&
    /empty response|reset by peer|ECONNRESET/.test(err.message);
  if (plainToTls) {
    return new SocklabError(err.code, `${err.message} (does this port speak https://?)`, {
      cause: err.cause,
    });
  }
  if (err instanceof SocklabError && err.message.endsWith(DOWNGRADE_REASON)) {
    return new SocklabError(err.code, `${err.message} (--allow-downgrade follows it)`, { cause: err.cause });
  }
  if (isCertificateError(err) && err instanceof SocklabError) {
    return new SocklabError(
      err.code,
      `${err.message}; use --cacert FILE to trust its CA, or -k to skip verification`,
      {
        cause: err.cause,
      },
    );
  }
  return err;
}
