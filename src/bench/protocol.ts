/**
 * The bench control exchange, one JSON line each way, as iperf3 does with its control connection:
 *
 *   client → server  {"socklab_bench":1,"test":{protocol,streams,reverse,length_bytes,rate_bits_per_sec,duration_ms}}
 *   server → client  {"socklab_bench":1,"cookie":"…","udp_port":N,"cookie_ack":true}
 *                    or {"socklab_bench":1,"error":"…"} when the server cannot run the test
 *   data streams     each TCP data connection starts with "SLBD<cookie>\n"; a UDP client sends that
 *                    line as a datagram (repeated until it is answered) from the address of its
 *                    control connection, so the server learns its peer: in reverse mode the server
 *                    then sends, else (cookie_ack) it sends the line back and counts datagrams from
 *                    that peer only
 *   client → server  {"done":true,"sent_bytes":…,"sent_packets":…}  when the test time is over
 *   server → client  {"socklab_bench":1,"result":{…}}  what the server really received (or sent)
 *                    or {"socklab_bench":1,"error":"…"} (a done line that is not one, none in time)
 *
 * Anything else answering the hello (an echo server sends the hello back; a web server sends
 * HTML) is "not a bench server".
 */
import { SocklabError } from '../errors.js';

export const PROTOCOL_VERSION = 1;
export const DATA_PREFIX = 'SLBD';
/** Longest control line accepted; a peer sending more without a newline is not a bench peer. */
export const MAX_CONTROL_LINE_BYTES = 64 * 1024;
/** The longest test (`-t` 86,400 s): how long the server waits for "done" when the hello says nothing. */
export const MAX_TEST_DURATION_MS = 86_400_000;

/** UDP datagram header: magic, sequence number (2×u32), send time (f64 ms): 20 bytes. */
export const DATAGRAM_MAGIC = 0x534c4231; // "SLB1"
export const DATAGRAM_HEADER_BYTES = 20;

export interface TestSpec {
  readonly protocol: 'tcp' | 'udp';
  readonly streams: number;
  readonly reverse: boolean;
  readonly length_bytes: number;
  readonly rate_bits_per_sec: number;
  /**
   * How long the client will send (or receive) before it says done: the server waits that long
   * and some slack for "done". Optional (a hello without it gets MAX_TEST_DURATION_MS).
   */
  readonly duration_ms?: number;
}

export interface Hello {
  readonly socklab_bench: number;
  readonly test: TestSpec;
}

export interface Welcome {
  readonly socklab_bench: number;
  readonly cookie: string;
  readonly udp_port?: number;
  /** The server answers a UDP client's cookie datagram: wait for it before sending. */
  readonly cookie_ack?: boolean;
}

export interface Done {
  readonly done: true;
  readonly sent_bytes: number;
  readonly sent_packets: number;
}

/** What the server measured; the field names follow iperf3's JSON where the meaning is the same. */
export interface ServerResult {
  readonly bytes: number;
  readonly packets: number;
  readonly seconds: number;
  readonly lost_packets?: number;
  readonly out_of_order?: number;
  readonly duplicates?: number;
  /** Datagrams whose sequence number no honest sender sent (far ahead, or beyond sent_packets). */
  readonly invalid_packets?: number;
  readonly jitter_ms?: number;
  /** In reverse mode the server is the sender. */
  readonly sent_bytes?: number;
  readonly sent_packets?: number;
}

function isRecord(value: unknown): value is Record<string, unknown> {
  return typeof value === 'object' && value !== null && !Array.isArray(value);
}

function parseLine(line: string): unknown {
  try {
    return JSON.parse(line) as unknown;
  } catch {
    return undefined;
  }
}

/** A short, printable excerpt of what a peer sent, for an error message. */
export function excerpt(text: string, max = 60): string {
  const clean = text.replace(/[^\x20-\x7e]/g, '.');
  return clean.length > max ? `${clean.slice(0, max)}…` : clean;
}

function notBench(where: string, line: string): SocklabError {
  return new SocklabError(
    'SOCKLAB_ERR_PROTOCOL',
    `${where} is not a socklab bench server: it answered the hello with '${excerpt(line)}' (start one with 'socklab bench --server ADDRESS')`,
  );
}

/** The server's own error line (it could not run the test, or the client broke the protocol). */
function serverError(value: unknown, where: string): SocklabError | undefined {
  if (!isRecord(value) || value['socklab_bench'] !== PROTOCOL_VERSION) return undefined;
  const error = value['error'];
  if (typeof error !== 'string') return undefined;
  return new SocklabError('SOCKLAB_ERR_PROTOCOL', `${where} could not run the test: ${excerpt(error, 200)}`);
}

export function parseWelcome(line: string, where: string): Welcome {
  const value = parseLine(line);
  const refused = serverError(value, where);
  if (refused) throw refused;
  if (
    !isRecord(value) ||
    value['socklab_bench'] !== PROTOCOL_VERSION ||
    typeof value['cookie'] !== 'string' ||
    'test' in value
  ) {
    throw notBench(where, line);
  }
  const udpPort = value['udp_port'];
  return {
    socklab_bench: PROTOCOL_VERSION,
    cookie: value['cookie'],
    ...(typeof udpPort === 'number' ? { udp_port: udpPort } : {}),
    ...(value['cookie_ack'] === true ? { cookie_ack: true } : {}),
  };
}

export function parseResult(line: string, where: string): ServerResult {
  const value = parseLine(line);
  const refused = serverError(value, where);
  if (refused) throw refused;
  if (!isRecord(value) || !isRecord(value['result'])) {
    throw new SocklabError(
      'SOCKLAB_ERR_PROTOCOL',
      `${where} sent no result at the end of the test: '${excerpt(line)}'`,
    );
  }
  const r = value['result'];
  const num = (key: string) => (typeof r[key] === 'number' ? r[key] : undefined);
  const result: Record<string, number> = {};
  for (const key of [
    'bytes',
    'packets',
    'seconds',
    'lost_packets',
    'out_of_order',
    'duplicates',
    'invalid_packets',
    'jitter_ms',
    'sent_bytes',
    'sent_packets',
  ]) {
    const n = num(key);
    if (n !== undefined) result[key] = n;
  }
  return { bytes: 0, packets: 0, seconds: 0, ...result };
}

/** The hello as the server reads it; undefined when the line is not one (then: echo). */
export function parseHello(line: string): Hello | undefined {
  const value = parseLine(line);
  if (!isRecord(value) || value['socklab_bench'] !== PROTOCOL_VERSION || !isRecord(value['test']))
    return undefined;
  const t = value['test'];
  const protocol = t['protocol'];
  const streams = t['streams'];
  const length = t['length_bytes'];
  const rate = t['rate_bits_per_sec'];
  const duration = t['duration_ms'];
  if (
    (protocol !== 'tcp' && protocol !== 'udp') ||
    typeof streams !== 'number' ||
    !Number.isInteger(streams) ||
    streams < 1 ||
    streams > 128 ||
    typeof length !== 'number' ||
    !Number.isInteger(length) ||
    length < 1 ||
    length > 16 * 1024 * 1024 ||
    typeof rate !== 'number' ||
    rate < 0 ||
    (duration !== undefined &&
      (typeof duration !== 'number' ||
        !Number.isFinite(duration) ||
        duration < 0 ||
        duration > MAX_TEST_DURATION_MS))
  ) {
    return undefined;
  }
  return {
    socklab_bench: PROTOCOL_VERSION,
    test: {
      protocol,
      streams,
      reverse: t['reverse'] === true,
      length_bytes: length,
      rate_bits_per_sec: rate,
      ...(typeof duration === 'number' ? { duration_ms: duration } : {}),
    },
  };
}

export function parseDone(line: string): Done | undefined {
  const value = parseLine(line);
  if (!isRecord(value) || value['done'] !== true) return undefined;
  const sentBytes = value['sent_bytes'];
  const sentPackets = value['sent_packets'];
  return {
    done: true,
    sent_bytes: typeof sentBytes === 'number' ? sentBytes : 0,
    sent_packets: typeof sentPackets === 'number' ? sentPackets : 0,
  };
}

/** Writes the header into a datagram buffer (at least DATAGRAM_HEADER_BYTES long). */
export function writeDatagramHeader(buf: Buffer, sequence: number, sendTimeMs: number): void {
  buf.writeUInt32BE(DATAGRAM_MAGIC, 0);
  buf.writeUInt32BE(Math.floor(sequence / 2 ** 32), 4);
  buf.writeUInt32BE(sequence >>> 0, 8);
  buf.writeDoubleBE(sendTimeMs, 12);
}

export interface DatagramHeader {
  readonly sequence: number;
  readonly sendTimeMs: number;
}

export function readDatagramHeader(buf: Buffer): DatagramHeader | undefined {
  if (buf.length < DATAGRAM_HEADER_BYTES || buf.readUInt32BE(0) !== DATAGRAM_MAGIC) return undefined;
  return {
    sequence: buf.readUInt32BE(4) * 2 ** 32 + buf.readUInt32BE(8),
    sendTimeMs: buf.readDoubleBE(12),
  };
}
