/**
 * Framing codecs: how a TCP byte stream is cut into messages, and how a message is written back.
 *
 * - `raw`: each chunk read from the socket is one message (what netcat does). Chunk boundaries are
 *   wherever the kernel put them: TCP is a stream and does not keep the sender's write boundaries.
 * - `lines`: each line is one message; the `\n` (or `\r\n`) ends it and is not part of it.
 * - `length`: a 4-byte big-endian length, then that many bytes.
 *
 * Every decoder is bounded: a message longer than `maxMessageBytes` raises
 * `SOCKLAB_ERR_MESSAGE_TOO_LARGE` (raw chunks are split instead, since raw has no message size),
 * carrying the messages completed before it (`messagesBefore(err)`).
 */
import { SocklabError } from '../errors.js';

export type FramingName = 'raw' | 'lines' | 'length';

export interface Decoder {
  /** Feed bytes; get the complete messages they finish, in order. */
  push(chunk: Buffer): Buffer[];
  /** The stream ended: the unterminated tail, if any, as a last message. */
  end(): Buffer[];
  /** Lines: how the last complete line ended (`\r\n` or `\n`), so an answer can end the same way. */
  readonly lineEnding?: string;
}

export interface Codec {
  readonly name: FramingName;
  createDecoder(options?: { maxMessageBytes?: number }): Decoder;
  /** The bytes that carry `message` on the wire (lines: ended by `lineEnding`, `\n` by default). */
  encode(message: Buffer, lineEnding?: string): Buffer;
}

/** Default bound on one message (a line, a length-prefixed frame). */
export const DEFAULT_MAX_MESSAGE_BYTES = 1024 * 1024;

/**
 * An oversized message. The messages the same chunk completed before it ride along on the
 * error (`messagesBefore`), so a server serves them before it closes the client: what is
 * served must not depend on how TCP happened to cut the stream.
 */
function tooLarge(size: number, max: number, before: Buffer[] = []): SocklabError {
  return Object.assign(
    new SocklabError(
      'SOCKLAB_ERR_MESSAGE_TOO_LARGE',
      `message of ${size} bytes or more exceeds the limit of ${max} bytes`,
    ),
    { [BEFORE]: before },
  );
}

const BEFORE = Symbol('socklab.messagesBefore');

/** The complete messages a `push()` decoded before the oversized one it threw for. */
export function messagesBefore(err: unknown): Buffer[] {
  const before =
    typeof err === 'object' && err !== null ? (err as { [BEFORE]?: Buffer[] })[BEFORE] : undefined;
  return before ?? [];
}

/** Raw framing keeps no state: connections with the same limit share one decoder. */
const rawDecoders = new Map<number, Decoder>();

export const raw: Codec = {
  name: 'raw',
  createDecoder({ maxMessageBytes = Infinity } = {}) {
    let shared = rawDecoders.get(maxMessageBytes);
    if (shared === undefined) {
      if (rawDecoders.size > 64) rawDecoders.clear();
      shared = rawDecoder(maxMessageBytes);
      rawDecoders.set(maxMessageBytes, shared);
    }
    return shared;
  },
  encode: (message) => message,
};

function rawDecoder(maxMessageBytes: number): Decoder {
  return {
    push(chunk) {
      if (chunk.length <= maxMessageBytes) return [chunk];
      const parts: Buffer[] = [];
      for (let at = 0; at < chunk.length; at += maxMessageBytes) {
        parts.push(chunk.subarray(at, at + maxMessageBytes));
      }
      return parts;
    },
    end: () => [],
  };
}

const LF = 0x0a;
const CR = 0x0d;

export const lines: Codec = {
  name: 'lines',
  createDecoder({ maxMessageBytes = DEFAULT_MAX_MESSAGE_BYTES } = {}) {
    let pending: Buffer[] = [];
    let pendingBytes = 0;
    let lineEnding: string | undefined;
    const take = (tail: Buffer, ended: boolean): Buffer => {
      const line = pending.length === 0 ? tail : Buffer.concat([...pending, tail]);
      pending = [];
      pendingBytes = 0;
      const crlf = line.length > 0 && line[line.length - 1] === CR;
      if (ended) lineEnding = crlf ? '\r\n' : '\n';
      return crlf ? line.subarray(0, -1) : line;
    };
    return {
      get lineEnding() {
        return lineEnding;
      },
      push(chunk) {
        const out: Buffer[] = [];
        let start = 0;
        for (let nl = chunk.indexOf(LF); nl >= 0; nl = chunk.indexOf(LF, start)) {
          if (pendingBytes + nl - start > maxMessageBytes)
            throw tooLarge(pendingBytes + nl - start, maxMessageBytes, out);
          out.push(take(chunk.subarray(start, nl), true));
          start = nl + 1;
        }
        if (start < chunk.length) {
          const rest = chunk.subarray(start);
          pendingBytes += rest.length;
          if (pendingBytes > maxMessageBytes) throw tooLarge(pendingBytes, maxMessageBytes, out);
          pending.push(rest);
        }
        return out;
      },
      end() {
        return pendingBytes > 0 ? [take(Buffer.alloc(0), false)] : [];
      },
    };
  },
  encode: (message, lineEnding = '\n') => Buffer.concat([message, Buffer.from(lineEnding)]),
};

const HEADER_BYTES = 4;

export const lengthPrefixed: Codec = {
  name: 'length',
  createDecoder({ maxMessageBytes = DEFAULT_MAX_MESSAGE_BYTES } = {}) {
    let buffered: Buffer = Buffer.alloc(0);
    return {
      push(chunk) {
        buffered = buffered.length === 0 ? chunk : Buffer.concat([buffered, chunk]);
        const out: Buffer[] = [];
        while (buffered.length >= HEADER_BYTES) {
          const size = buffered.readUInt32BE(0);
          if (size > maxMessageBytes) throw tooLarge(size, maxMessageBytes, out);
          if (buffered.length < HEADER_BYTES + size) break;
          out.push(buffered.subarray(HEADER_BYTES, HEADER_BYTES + size));
          buffered = buffered.subarray(HEADER_BYTES + size);
        }
        return out;
      },
      end() {
        if (buffered.length === 0) return [];
        throw new SocklabError(
          'SOCKLAB_ERR_PROTOCOL',
          `stream ended inside a length-prefixed frame (${buffered.length} bytes left over)`,
        );
      },
    };
  },
  encode(message) {
    const header = Buffer.allocUnsafe(HEADER_BYTES);
    header.writeUInt32BE(message.length, 0);
    return Buffer.concat([header, message]);
  },
};

export const codecs: Readonly<Record<FramingName, Codec>> = { raw, lines, length: lengthPrefixed };
