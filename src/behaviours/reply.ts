/**
 * reply: answer each message with a template.
 *
 * `{msg}` is the message (without its trailing line ending), `{peer}` the sender's address, `{n}`
 * the message's number on that connection or from that sender. `{{` and `}}` are literal braces.
 * Escapes: `\n`, `\r`, `\t`, `\0`, `\\`, `\xHH`.
 *
 * A message that ended in a line ending gets a reply that ends in the same one (unless the template
 * already ends in a newline), so `nc` users see one answer per line.
 */
import { SocklabError } from '../errors.js';
import type { Behaviour, Message } from './behaviour.js';

type Part = { kind: 'text'; value: Buffer } | { kind: 'field'; name: 'msg' | 'peer' | 'n' };

export interface Template {
  readonly source: string;
  render(msg: Pick<Message, 'data' | 'peer' | 'n'>): Buffer;
}

const FIELDS = new Set(['msg', 'peer', 'n']);

function templateError(source: string, why: string): SocklabError {
  return new SocklabError('SOCKLAB_ERR_TEMPLATE', `bad template '${source}': ${why}`);
}

/** Expand backslash escapes: `\n`, `\r`, `\t`, `\0`, `\\`, `\xHH`. Shared by --reply and --welcome. */
export function unescape(text: string, what = text): Buffer {
  const out: number[] = [];
  const bytes = Buffer.from(text);
  for (let i = 0; i < bytes.length; i++) {
    const b = bytes[i]!;
    if (b !== 0x5c /* \ */) {
      out.push(b);
      continue;
    }
    const next = String.fromCharCode(bytes[i + 1] ?? 0);
    i += 1;
    switch (next) {
      case 'n':
        out.push(0x0a);
        break;
      case 'r':
        out.push(0x0d);
        break;
      case 't':
        out.push(0x09);
        break;
      case '0':
        out.push(0x00);
        break;
      case '\\':
        out.push(0x5c);
        break;
      case 'x': {
        const hex = bytes.subarray(i + 1, i + 3).toString('latin1');
        if (!/^[0-9a-f]{2}$/i.test(hex)) throw templateError(what, `'\\x' needs two hex digits`);
        out.push(parseInt(hex, 16));
        i += 2;
        break;
      }
      default:
        throw templateError(what, next === '\0' ? 'trailing backslash' : `unknown escape '\\${next}'`);
    }
  }
  return Buffer.from(out);
}

export function parseTemplate(source: string): Template {
  const parts: Part[] = [];
  let text = '';
  const flush = () => {
    if (text !== '') parts.push({ kind: 'text', value: unescape(text, source) });
    text = '';
  };
  for (let i = 0; i < source.length; i++) {
    const c = source[i]!;
    if (c === '{' && source[i + 1] === '{') {
      text += '{';
      i += 1;
    } else if (c === '}' && source[i + 1] === '}') {
      text += '}';
      i += 1;
    } else if (c === '{') {
      const close = source.indexOf('}', i);
      if (close < 0) throw templateError(source, "'{' without '}' (write '{{' for a literal brace)");
      const name = source.slice(i + 1, close);
      if (!FIELDS.has(name))
        throw templateError(source, `unknown field '{${name}}' (use {msg}, {peer} or {n})`);
      flush();
      parts.push({ kind: 'field', name: name as 'msg' | 'peer' | 'n' });
      i = close;
    } else if (c === '}') {
      throw templateError(source, "'}' without '{' (write '}}' for a literal brace)");
    } else {
      text += c;
    }
  }
  flush();
  return {
    source,
    render(msg) {
      const { body } = trimLineEnding(msg.data);
      return Buffer.concat(
        parts.map((p) => {
          if (p.kind === 'text') return p.value;
          if (p.name === 'msg') return body;
          return Buffer.from(p.name === 'peer' ? msg.peer : String(msg.n));
        }),
      );
    },
  };
}

/** Split a trailing `\n` or `\r\n` off a message. */
export function trimLineEnding(data: Buffer): { body: Buffer; ending: Buffer } {
  let end = data.length;
  if (end > 0 && data[end - 1] === 0x0a) {
    end -= 1;
    if (end > 0 && data[end - 1] === 0x0d) end -= 1;
  }
  return { body: data.subarray(0, end), ending: data.subarray(end) };
}

export function reply(template: string | Template): Behaviour {
  const t = typeof template === 'string' ? parseTemplate(template) : template;
  return {
    name: 'reply',
    onMessage(msg, send) {
      const out = t.render(msg);
      const { ending } = trimLineEnding(msg.data);
      const endsInNewline = out.length > 0 && out[out.length - 1] === 0x0a;
      return send(ending.length > 0 && !endsInNewline ? Buffer.concat([out, ending]) : out);
    },
  };
}
