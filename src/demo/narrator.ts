/**
 * The demo's voice: headings, who-says-what lines, short explanations and measured numbers,
 * as plain text wrapped to the terminal (under 100 columns; 80 into a pipe or a file), with colour only for a terminal (and never with
 * NO_COLOR set, https://no-color.org). Scenes call the narrator as things happen, so the order
 * on screen is the order on the wire.
 */
import type { Writable } from 'node:stream';

export interface Narrator {
  /** A scene's title: "1. Print servers (seed 000)". */
  heading(text: string): void;
  /** A part of a scene: "TCP", "a) Message boundaries". */
  part(text: string): void;
  /** One or two sentences for the learner. */
  explain(text: string): void;
  /** Bytes on the wire, and who sent them to whom: "client → server: Hello". */
  says(from: string, to: string, text: string): void;
  /** Something a program did or saw that is not a message: "server: connection from …". */
  event(who: string, text: string): void;
  /** A number measured in this run. */
  measured(text: string): void;
  /** A command line to type, never wrapped mid-word (continued with `\` before an option, so it can be copied). */
  command(text: string): void;
}

/** Longest line written; the narration stays readable in an 80–100 column terminal. */
export const LINE_WIDTH = 96;
const SCENE_INDENT = '  ';
const LINE_INDENT = '    ';
const HANGING_INDENT = '      ';

const ANSI = {
  bold: '\x1b[1m',
  cyan: '\x1b[36m',
  green: '\x1b[32m',
  yellow: '\x1b[33m',
  reset: '\x1b[0m',
} as const;

/** Colour for a terminal, unless NO_COLOR is set (to anything, even empty, as no-color.org says). */
export function wantsColor(
  out: { isTTY?: boolean },
  env: Readonly<Record<string, string | undefined>>,
): boolean {
  return out.isTTY === true && env['NO_COLOR'] === undefined;
}

/** Greedy word wrap: the first line starts with `first`, the others with `rest`. */
export function wrap(text: string, first: string, rest: string, width = LINE_WIDTH): string[] {
  const lines: string[] = [];
  let line = first;
  let empty = true;
  for (const word of text.split(/\s+/).filter((w) => w !== '')) {
    if (!empty && line.length + 1 + word.length > width) {
      lines.push(line);
      line = rest + word;
    } else {
      line += (empty ? '' : ' ') + word;
    }
    empty = false;
  }
  lines.push(line);
  return lines;
}

export function textNarrator(out: Writable, options: { color: boolean; width?: number }): Narrator {
  const width = Math.min(LINE_WIDTH, options.width ?? LINE_WIDTH);
  const paint = (code: string, text: string) => (options.color ? `${code}${text}${ANSI.reset}` : text);
  const roleColor = (who: string) =>
    /client|sender/.test(who) ? ANSI.cyan : /server|receiver/.test(who) ? ANSI.green : ANSI.yellow;
  let written = false;
  const write = (text: string) => {
    // Output is a few kilobytes; a full pipe buffer is waited out once, at the end (see demo.ts).
    // The blank line that opens a heading is not wanted at the very top.
    out.write(written ? text : text.replace(/^\n/, ''));
    written = true;
  };
  // A labelled line: the label is coloured, the rest wraps under the label's text.
  const labelled = (label: string, color: string, text: string) => {
    const lines = wrap(`${label} ${text}`, LINE_INDENT, HANGING_INDENT, width);
    const [firstLine = '', ...more] = lines;
    const start = LINE_INDENT.length;
    const head = LINE_INDENT + paint(color, firstLine.slice(start, start + label.length));
    write([head + firstLine.slice(start + label.length), ...more].join('\n') + '\n');
  };
  return {
    heading(text) {
      write(`\n${paint(ANSI.bold, text)}\n`);
    },
    part(text) {
      write(`\n${SCENE_INDENT}${paint(ANSI.bold, text)}\n`);
    },
    explain(text) {
      write(wrap(text, SCENE_INDENT, SCENE_INDENT, width).join('\n') + '\n');
    },
    says(from, to, text) {
      labelled(`${from} → ${to}:`, roleColor(from), text);
    },
    event(who, text) {
      labelled(`${who}:`, roleColor(who), text);
    },
    measured(text) {
      write(
        wrap(text, LINE_INDENT, HANGING_INDENT, width)
          .map((l) => paint(ANSI.yellow, l))
          .join('\n') + '\n',
      );
    },
    command(text) {
      // Too long for the line: continued with a backslash before an option, as a shell takes it.
      const lines: string[] = [];
      let line = `$ ${text}`;
      while (LINE_INDENT.length + line.length > width) {
        const cut = line.lastIndexOf(' --', width - LINE_INDENT.length - 2);
        if (cut <= 2) break;
        lines.push(`${line.slice(0, cut)} \\`);
        line = `    ${line.slice(cut + 1)}`;
      }
      lines.push(line);
      write(lines.map((l) => `${LINE_INDENT}${paint(ANSI.bold, l)}\n`).join(''));
    },
  };
}

/** For `--json`: the scenes run the same, and only their facts are printed. */
export const silentNarrator: Narrator = {
  heading: () => undefined,
  part: () => undefined,
  explain: () => undefined,
  says: () => undefined,
  event: () => undefined,
  measured: () => undefined,
  command: () => undefined,
};
