/** `socklab bench`: throughput (TCP/UDP), ping-pong latency and many-connection tests; and the server. */
import { formatAddress, parseAddress, type Endpoint } from '../../address.js';
import {
  DEFAULT_HELLO_TIMEOUT_MS,
  DEFAULT_IDLE_TIMEOUT_MS,
  DEFAULT_MAX_TEST_DURATION_MS,
  DEFAULT_MAX_TESTS,
  MAX_SEND_WRITE_BYTES,
  startBenchServer,
  type BenchServerOptions,
} from '../../bench/server.js';
import { runPingPong, SOCKPERF_HEADER_BYTES } from '../../bench/pingpong.js';
import type { TestSpec } from '../../bench/protocol.js';
import {
  pingPongIntervalLine,
  pingPongJson,
  pingPongTable,
  throughputIntervalLine,
  throughputJson,
  throughputTable,
  type PingPongTest,
} from '../../bench/report.js';
import { runThroughput } from '../../bench/throughput-client.js';
import { realClock } from '../../measure/clock.js';
import { parseRateBitsPerSec, parseSizeBytes } from '../../measure/units.js';
import { atMostOne, optionalNumber, parseCommandLine, usageError } from '../args.js';
import type { Io } from '../io.js';
import { tlsServerIdentity, type TlsClientOptions, type TlsServerOptions } from '../../core/tls.js';
import {
  checkTlsFlags,
  TLS_CLIENT_HELP,
  TLS_OPTIONS,
  TLS_SERVER_HELP,
  tlsClientFrom,
  tlsServerFrom,
} from '../tls-options.js';

export const help = `Usage: socklab bench --server ADDRESS [--max-tests N] [--max-time SEC] ...
       socklab bench ADDRESS [-t SEC] [-P N] [-l BYTES] [--reverse]          TCP throughput
       socklab bench -u ADDRESS -b RATE [-t SEC] [-l BYTES] [--reverse]      UDP throughput
       socklab bench ADDRESS --pingpong [-l BYTES] [-t SEC | -n COUNT]       latency (any echo server)
       socklab bench ADDRESS --connections N [-l BYTES] [-t SEC]            N connections ping-ponging

Measure throughput and latency over TCP and UDP, like iperf3 and sockperf in one tool.
Throughput tests need 'socklab bench --server' at the other end: it reports what it really
received (UDP: lost, out-of-order and duplicated datagrams, RFC 3550 jitter). Ping-pong works
against any echo server ('socklab listen --echo', socat PIPE, the bench server).
TCP tests run over TLS with a tls:// ADDRESS, on both sides ('bench --server tls://:5201';
iperf3 has no TLS: socklab to socklab only); the bench server's UDP stays plain.

Options:
  -s, --server            run the bench server on ADDRESS (TCP and UDP on the same port)
  -t, --time SEC          test duration (default 10)
  -n, --count N           ping-pong: stop after N round trips instead of a duration
  -P, --parallel N        TCP streams at once (default 1)
  -l, --length BYTES      write size (TCP, default 128K), datagram size (UDP, default 1460),
                          message size (ping-pong, default 64); K and M suffixes
  -u, --udp               UDP (throughput or ping-pong)
  -b, --bitrate RATE      UDP target rate in bits/s with a unit: 100k, 10M, 1G; 0 = no limit
                          (default 1M, as iperf3)
  -R, --reverse           throughput: the server sends, the client receives
      --pingpong          one message in flight: round trips/s and latency percentiles
      --connections N     N concurrent TCP connections, each ping-ponging (up to 10000)
      --sockperf          ping-pong messages carry sockperf's 14-byte header, so that
                          'sockperf server' (which answers nothing else) is the echo server
  -i, --interval SEC      a progress line on stderr every SEC seconds (default 1; 0 = none)
      --hello-timeout MS  how long to wait for the server to answer or connect (default 3000);
                          with --server: how long a new connection has to send its
                          hello before it is closed (default ${DEFAULT_HELLO_TIMEOUT_MS})
      --json              the result as JSON on stdout (iperf3's key names where they mean the same)
  -h, --help              this help
${TLS_SERVER_HELP.replace('TLS (for tls:// addresses', 'TLS, --server side (tls:// ADDRESS')}
${TLS_CLIENT_HELP.replace('TLS (for tls:// addresses', 'TLS, client side (tls:// ADDRESS')}

Server limits (with --server: what one client can make the server do, whatever it asks):
      --max-tests N       tests at once; one more is refused with an error line (default ${DEFAULT_MAX_TESTS})
      --max-time SEC      the longest test; a longer one is refused (default ${DEFAULT_MAX_TEST_DURATION_MS / 1000})
      --max-bitrate RATE  the fastest the server sends in a UDP --reverse test, which
                          also gets this for -b 0 (default 1G)
      --idle-timeout SEC  a test in which no data moves, or an echo connection that is
                          silent, for SEC is ended (default ${DEFAULT_IDLE_TIMEOUT_MS / 1000})
  Always: a UDP test's socket takes datagrams only from the peer that sent the test's
  cookie from the control connection's IP address (--reverse: nothing is sent before it);
  a TCP test gets the streams its hello announced, no more; the server's buffers do not
  grow with -l (TCP writes of at most ${MAX_SEND_WRITE_BYTES / 1024 / 1024} MiB, UDP datagrams of at most 65507 bytes).

Examples:
  socklab bench --server 5201                          a bench server on 127.0.0.1:5201
  socklab bench 127.0.0.1:5201 -t 5 -P 2               two TCP streams for 5 seconds
  socklab bench -u 127.0.0.1:5201 -b 100M -l 1200      UDP at 100 Mbit/s: loss, order, jitter
  socklab bench 127.0.0.1:9000 --pingpong -n 100000    latency against 'socklab listen 9000 --echo'
  socklab bench 127.0.0.1:9000 --connections 1000 -t 5
  socklab bench 127.0.0.1:11111 --pingpong --sockperf   against 'sockperf server -p 11111 --tcp'
  socklab bench --server tls://127.0.0.1:5201          a bench server speaking TLS (self-signed)
  socklab bench tls://localhost:5201 --no-tls-verify -t 5   TCP throughput over TLS

Exit status: 0 done · 1 network failure (refused, timeout, not a bench server) · 2 bad usage.
`;

const OPTIONS = {
  server: { type: 'boolean', short: 's' },
  time: { type: 'string', short: 't' },
  count: { type: 'string', short: 'n' },
  parallel: { type: 'string', short: 'P' },
  length: { type: 'string', short: 'l' },
  udp: { type: 'boolean', short: 'u' },
  bitrate: { type: 'string', short: 'b' },
  reverse: { type: 'boolean', short: 'R' },
  pingpong: { type: 'boolean' },
  connections: { type: 'string' },
  sockperf: { type: 'boolean' },
  interval: { type: 'string', short: 'i' },
  'hello-timeout': { type: 'string' },
  'max-tests': { type: 'string' },
  'max-time': { type: 'string' },
  'max-bitrate': { type: 'string' },
  'idle-timeout': { type: 'string' },
  json: { type: 'boolean' },
  ...TLS_OPTIONS,
} as const;

export type BenchMode = 'server' | 'throughput' | 'pingpong' | 'connections';

export interface BenchOptions {
  readonly mode: BenchMode;
  readonly endpoint: Endpoint;
  readonly durationMs?: number;
  readonly count?: number;
  readonly streams: number;
  readonly lengthBytes: number;
  readonly rateBitsPerSec: number;
  readonly reverse: boolean;
  readonly connections: number;
  /** Ping-pong messages carry sockperf's header, so `sockperf server` answers them. */
  readonly sockperf: boolean;
  readonly intervalMs: number;
  readonly helloTimeoutMs: number;
  readonly json: boolean;
  /** --server: its limits (given flags only; the rest are the server's defaults). */
  readonly limits?: Pick<
    BenchServerOptions,
    'helloTimeoutMs' | 'idleTimeoutMs' | 'maxTests' | 'maxTestDurationMs' | 'maxSendRateBitsPerSec'
  >;
  /** tls:// as the server's ADDRESS. */
  readonly tlsServer?: TlsServerOptions;
  /** tls:// as the client's ADDRESS. */
  readonly tlsClient?: TlsClientOptions;
}

export function parse(argv: readonly string[]): BenchOptions {
  const { values: v, positionals } = parseCommandLine(argv, OPTIONS);
  if (positionals.length !== 1)
    throw usageError(
      positionals.length === 0
        ? 'needs an ADDRESS, e.g. 127.0.0.1:5201'
        : `one ADDRESS only, got ${positionals.length}`,
    );
  atMostOne({ '--server': v.server, '--pingpong': v.pingpong, '--connections': v.connections });
  const mode: BenchMode = v.server
    ? 'server'
    : v.pingpong
      ? 'pingpong'
      : v.connections !== undefined
        ? 'connections'
        : 'throughput';
  const endpoint = parseAddress(positionals[0]!, {
    role: mode === 'server' ? 'listen' : 'connect',
    defaultTransport: v.udp ? 'udp' : 'tcp',
  });
  const udp = endpoint.transport === 'udp';
  if (endpoint.path !== undefined) throw usageError('bench runs over TCP and UDP, not Unix sockets');
  const tls = endpoint.tls === true;
  checkTlsFlags(v, { server: tls && mode === 'server', client: tls && mode !== 'server' });
  if (tls && v.sockperf) throw usageError('--sockperf: sockperf has no TLS');
  if (mode === 'connections' && udp) throw usageError('--connections needs TCP (UDP has no connections)');
  const durationSec = optionalNumber('--time', v.time, { min: 0.01, max: 86_400 });
  const count = optionalNumber('--count', v.count, { min: 1, integer: true });
  if (count !== undefined && mode !== 'pingpong' && mode !== 'connections')
    throw usageError('--count is for --pingpong and --connections');
  if (count !== undefined && durationSec !== undefined)
    throw usageError('--time and --count cannot be used together');
  const streams = optionalNumber('--parallel', v.parallel, { min: 1, max: 128, integer: true }) ?? 1;
  // Throughput: iperf3's sizes (128 KiB writes, 1460-byte datagrams); ping-pong: 64 bytes, either way.
  let lengthBytes = mode === 'throughput' ? (udp ? 1460 : 128 * 1024) : 64;
  if (v.length !== undefined) {
    const size = parseSizeBytes(v.length);
    if (size === undefined || size < 1)
      throw usageError(`--length: '${v.length}' is not a size in bytes (e.g. 64, 128K)`);
    lengthBytes = size;
  }
  if (udp && mode === 'throughput' && (lengthBytes < 20 || lengthBytes > 65_507))
    throw usageError(`--length: ${lengthBytes} bytes is not a UDP datagram size for a test (20 to 65507)`);
  let rateBitsPerSec = udp ? 1e6 : 0; // iperf3's UDP default: 1 Mbit/s
  if (v.bitrate !== undefined) {
    const rate = parseRateBitsPerSec(v.bitrate);
    if (rate === undefined)
      throw usageError(`--bitrate: '${v.bitrate}' needs a unit: bits/s as 100k, 10M, 1G (or 0 for no limit)`);
    if (!udp) throw usageError('--bitrate is for UDP tests (-u)');
    rateBitsPerSec = rate;
  }
  const connections =
    optionalNumber('--connections', v.connections, { min: 1, max: 10_000, integer: true }) ?? 1;
  if (v.reverse && mode !== 'throughput')
    throw usageError('--reverse is for throughput tests (a ping-pong goes both ways already)');
  if (v.sockperf && mode !== 'pingpong' && mode !== 'connections')
    throw usageError('--sockperf is for --pingpong and --connections');
  if (v.sockperf && lengthBytes < SOCKPERF_HEADER_BYTES)
    throw usageError(`--length: sockperf messages are at least ${SOCKPERF_HEADER_BYTES} bytes`);
  const intervalSec = optionalNumber('--interval', v.interval, { min: 0, max: 3600 }) ?? 1;
  const helloTimeout = optionalNumber('--hello-timeout', v['hello-timeout'], { min: 1, max: 600_000 });
  const helloTimeoutMs = helloTimeout ?? 3000;
  const maxTests = optionalNumber('--max-tests', v['max-tests'], { min: 1, max: 10_000, integer: true });
  const maxTimeSec = optionalNumber('--max-time', v['max-time'], { min: 0.01, max: 86_400 });
  const idleSec = optionalNumber('--idle-timeout', v['idle-timeout'], { min: 0.01, max: 86_400 });
  let maxRate: number | undefined;
  if (v['max-bitrate'] !== undefined) {
    maxRate = parseRateBitsPerSec(v['max-bitrate']);
    if (maxRate === undefined || maxRate <= 0)
      throw usageError(`--max-bitrate: '${v['max-bitrate']}' needs a unit: bits/s as 100k, 10M, 1G`);
  }
  const limits = {
    ...(helloTimeout !== undefined ? { helloTimeoutMs: helloTimeout } : {}),
    ...(idleSec !== undefined ? { idleTimeoutMs: idleSec * 1000 } : {}),
    ...(maxTests !== undefined ? { maxTests } : {}),
    ...(maxTimeSec !== undefined ? { maxTestDurationMs: maxTimeSec * 1000 } : {}),
    ...(maxRate !== undefined ? { maxSendRateBitsPerSec: maxRate } : {}),
  };
  if (mode !== 'server' && Object.keys(limits).some((k) => k !== 'helloTimeoutMs'))
    throw usageError('--max-tests, --max-time, --max-bitrate and --idle-timeout are for --server');
  return {
    mode,
    endpoint,
    ...(count === undefined ? { durationMs: (durationSec ?? 10) * 1000 } : { count }),
    streams,
    lengthBytes,
    rateBitsPerSec,
    reverse: v.reverse ?? false,
    connections,
    sockperf: v.sockperf ?? false,
    intervalMs: intervalSec * 1000,
    helloTimeoutMs,
    json: v.json ?? false,
    ...(mode === 'server' ? { limits } : {}),
    ...(tls && mode === 'server' ? { tlsServer: tlsServerFrom(v) } : {}),
    ...(tls && mode !== 'server' ? { tlsClient: tlsClientFrom(v) } : {}),
  };
}

export async function run(options: BenchOptions, io: Io): Promise<number> {
  if (options.mode === 'server') return serve(options, io);
  const interval = options.intervalMs > 0 && !io.signal.aborted;
  const target = formatAddress(options.endpoint);
  if (options.mode === 'throughput') {
    const spec: TestSpec = {
      protocol: options.endpoint.transport,
      streams: options.streams,
      reverse: options.reverse,
      length_bytes: options.lengthBytes,
      rate_bits_per_sec: options.rateBitsPerSec,
    };
    const report = await runThroughput({
      host: options.endpoint.host,
      port: options.endpoint.port,
      ...(options.tlsClient !== undefined ? { tls: options.tlsClient } : {}),
      spec,
      durationMs: options.durationMs ?? 10_000,
      intervalMs: options.intervalMs > 0 ? options.intervalMs : 3_600_000,
      helloTimeoutMs: options.helloTimeoutMs,
      clock: realClock,
      signal: io.signal,
      onInterval: (s) => {
        if (interval) io.stderr.write(`${throughputIntervalLine(s, spec.protocol)}\n`);
      },
    });
    io.stdout.write(
      options.json
        ? `${JSON.stringify(throughputJson(report, target), null, 2)}\n`
        : throughputTable(report, target),
    );
    if (report.interrupted)
      io.stderr.write(
        `interrupted after ${report.local.seconds.toFixed(1)} s: the figures cover that part\n`,
      );
    return 0;
  }
  const test: PingPongTest = {
    mode: options.mode,
    transport: options.endpoint.transport,
    lengthBytes: options.lengthBytes,
    connections: options.mode === 'connections' ? options.connections : 1,
  };
  const report = await runPingPong({
    host: options.endpoint.host,
    port: options.endpoint.port,
    ...(options.tlsClient !== undefined ? { tls: options.tlsClient } : {}),
    transport: options.endpoint.transport,
    lengthBytes: options.lengthBytes,
    connections: test.connections,
    format: options.sockperf ? 'sockperf' : 'plain',
    ...(options.durationMs !== undefined ? { durationMs: options.durationMs } : {}),
    ...(options.count !== undefined ? { count: options.count } : {}),
    intervalMs: options.intervalMs > 0 ? options.intervalMs : 3_600_000,
    connectTimeoutMs:
      options.mode === 'connections' ? Math.max(options.helloTimeoutMs, 10_000) : options.helloTimeoutMs,
    clock: realClock,
    signal: io.signal,
    onInterval: (s) => {
      if (interval) io.stderr.write(`${pingPongIntervalLine(s)}\n`);
    },
  });
  io.stdout.write(
    options.json
      ? `${JSON.stringify(pingPongJson(report, test, target), null, 2)}\n`
      : pingPongTable(report, test, target),
  );
  if (report.interrupted)
    io.stderr.write(`interrupted after ${report.seconds.toFixed(1)} s: the figures cover that part\n`);
  return 0;
}

async function serve(options: BenchOptions, io: Io): Promise<number> {
  let tls = options.tlsServer;
  if (tls !== undefined) {
    const identity = await tlsServerIdentity(tls);
    tls = { ...tls, cert: identity.cert, key: identity.key };
    io.stderr.write(
      `TLS certificate: ${identity.selfSigned ? 'self-signed (temporary), ' : ''}${identity.subject}, SHA-256 fingerprint ${identity.fingerprint256}\n`,
    );
  }
  const server = await startBenchServer({
    host: options.endpoint.host,
    port: options.endpoint.port,
    ...(tls !== undefined ? { tls } : {}),
    log: (line) => io.stderr.write(`${line}\n`),
    ...options.limits,
  });
  const { host, port } = server.address();
  io.stderr.write(
    `listening on ${formatAddress({ transport: 'tcp', host, port, ...(tls ? { tls: true } : {}) })}\n`,
  );
  io.stderr.write(`listening on ${formatAddress({ transport: 'udp', host, port })}\n`);
  await new Promise<void>((resolve) => {
    if (io.signal.aborted) resolve();
    else io.signal.addEventListener('abort', () => resolve(), { once: true });
  });
  await server.close();
  return 0;
}
