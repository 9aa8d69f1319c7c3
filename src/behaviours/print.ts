/**
 * print: write what is received to an output stream, as it is (raw), as a hex dump, or as one JSON
 * event per line. Returning a promise while the output is full makes the server stop reading
 * from that client until the output drains: nothing is dropped, nothing piles up.
 */
import { StringDecoder } from 'node:string_decoder';
import type { Writable } from 'node:stream';
import { writeOrWait } from '../core/backpressure.js';
import { hexdump } from '../format/hexdump.js';
import { messageHeader, messageJson as messageFields } from '../format/message.js';
import { sanitizeForTerminal, type TerminalLine } from '../format/terminal.js';
import type { Behaviour, CloseInfo, Connection, Message } from './behaviour.js';

export type PrintFormat = 'raw' | 'hex' | 'json';

export interface PrintOptions {
  readonly out: Writable;
  readonly format?: PrintFormat;
  /**
   * The output is a terminal: show control characters and invalid UTF-8 as visible marks
   * instead of sending them to the terminal (`--hex` shows the exact bytes), and end each
   * datagram with a newline.
   */
  readonly terminal?: boolean;
  /** Written after each message in raw format (`\n` when messages are lines). */
  readonly separator?: string;
  /**
   * On a terminal: where the cursor is, shared with whoever else writes there (listen's `-v`
   * events), so a connection's text that ends without a newline gets one at its close.
   */
  readonly line?: TerminalLine;
  /** Clock for JSON timestamps (tests inject one). */
  readonly now?: () => Date;
}

/** A received message as a JSON-ready object: text if it is valid UTF-8, base64 otherwise. */
export function messageJson(msg: Message): Record<string, unknown> {
  return messageFields(msg.data, msg);
}

export function print(options: PrintOptions): Behaviour {
  const { out, format = 'raw', terminal = false, separator = '' } = options;
  const now = options.now ?? (() => new Date());
  // Terminal text is decoded per sender so a character split across two reads stays whole.
  const decoders = new Map<string, StringDecoder>();

  const write = (text: string | Buffer) => writeOrWait(out, text);
  const line = (name: string, fields: Record<string, unknown>) =>
    JSON.stringify({ event: name, time: now().toISOString(), ...fields }) + '\n';
  const event = (name: string, fields: Record<string, unknown>) => write(line(name, fields));

  return {
    name: 'print',
    onConnection(conn: Connection) {
      if (format === 'json') return event('open', { transport: 'tcp', peer: conn.peer, id: conn.id });
    },
    onMessage(msg: Message) {
      switch (format) {
        case 'json':
          return event('message', messageJson(msg));
        case 'hex':
          return write(`${messageHeader(msg.data, msg)}\n${hexdump(msg.data)}`);
        case 'raw': {
          if (!terminal)
            return separator === ''
              ? write(msg.data)
              : write(Buffer.concat([msg.data, Buffer.from(separator)]));
          // A datagram or a line is whole; a chunk of a stream may end inside a character, which
          // waits (per connection) for the rest.
          const whole = msg.transport === 'udp' || separator !== '';
          let text: string;
          if (whole) text = sanitizeForTerminal(msg.data);
          else {
            let decoder = decoders.get(msg.peer);
            if (!decoder) decoders.set(msg.peer, (decoder = new StringDecoder('utf8')));
            text = sanitizeForTerminal(Buffer.from(decoder.write(msg.data)));
          }
          // On a terminal each datagram gets a line of its own, so two do not run together.
          const shown = text + (separator || (msg.transport === 'udp' && !text.endsWith('\n') ? '\n' : ''));
          options.line?.wrote(shown);
          return write(shown);
        }
      }
    },
    onClose(conn: Connection, info: CloseInfo) {
      const decoder = decoders.get(conn.peer);
      decoders.delete(conn.peer);
      if (format === 'raw' && terminal) {
        // At a close nothing waits for the output: a failed write shows on the stream.
        const tail = decoder ? sanitizeForTerminal(Buffer.from(decoder.end())) : '';
        options.line?.wrote(tail);
        // The next client's text, or an event, starts on a line of its own.
        const shown = tail + (options.line?.finish() ?? '');
        if (shown) out.write(shown);
      }
      if (format === 'json') {
        out.write(
          line('close', {
            transport: 'tcp',
            peer: conn.peer,
            id: conn.id,
            bytes_received: info.bytesReceived,
            bytes_sent: info.bytesSent,
            messages: info.messages,
            ...(info.error ? { error: info.error.message } : {}),
          }),
        );
      }
    },
  };
}
