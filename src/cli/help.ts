/**
 * Help text fitted to the reader's terminal: the texts are written at up to 100 columns and
 * re-flowed here to the terminal's width (80 when the output is not a terminal), so no word is
 * broken in an 80-column window. A paragraph is re-wrapped as a whole: prose under its indent,
 * an option's description under its description column, an example's comment under its own.
 */

/** Width to fit: the terminal's, between 60 and 100 columns; 80 for a pipe or a file. */
export function helpWidth(out: { isTTY?: boolean; columns?: number }): number {
  if (out.isTTY !== true || out.columns === undefined) return 80;
  return Math.max(60, Math.min(100, out.columns));
}

interface Block {
  /** The first line's start (an option's names, an example's command, or the indent). */
  readonly head: string;
  /** The head is a line of its own (an example too long to share one with its comment). */
  readonly alone?: boolean;
  /** Where the text of the following lines starts. */
  readonly column: number;
  readonly words: string[];
  /** The lines as written: kept as they are when they all fit. */
  readonly lines: string[];
}

const GAP = /^(\s*\S.*?\S)( {2,})(\S.*)$/;

/** A heading such as `Options:` or `TCP and UDP:`: a line of its own, never joined. */
const isHeading = (line: string) => /^\S.{0,40}:$/.test(line);

function startBlock(line: string, width: number): Block {
  const gap = GAP.exec(line);
  if (gap && !isHeading(line)) {
    const column = gap[1]!.length + gap[2]!.length;
    // An option's description: aligned under its column. An example's comment, far to the right,
    // would be squeezed into a narrow column: it goes under the command instead.
    if (column <= Math.min(40, width - 24))
      return { head: line.slice(0, column), column, words: words(gap[3]!), lines: [line] };
    // A long example: the command whole on its line, its comment under it.
    if (gap[1]!.length <= width) {
      const indent = /^ */.exec(line)![0].length + 4;
      return { head: gap[1]!, alone: true, column: indent, words: words(gap[3]!), lines: [line] };
    }
  }
  const indent = /^ */.exec(line)![0].length;
  return { head: line.slice(0, indent), column: indent, words: words(line.slice(indent)), lines: [line] };
}

const words = (text: string) => text.split(/ +/).filter((w) => w !== '');

/** Does `line` carry on `block`'s text (same column, nothing before it, not a new item)? */
function continues(block: Block, line: string): boolean {
  if (line.trim() === '' || isHeading(line)) return false;
  const indent = /^ */.exec(line)![0].length;
  // A line with a gap of its own is an item (an option, an example): it starts afresh.
  return indent === block.column && !block.alone && !GAP.test(line.trimStart());
}

function render(block: Block, width: number): string[] {
  if (block.lines.every((l) => l.length <= width)) return block.lines;
  const lines: string[] = block.alone ? [block.head] : [];
  let line = block.alone ? ' '.repeat(block.column) : block.head;
  let fresh = true;
  for (const word of block.words) {
    if (!fresh && line.length + 1 + word.length > width) {
      lines.push(line);
      line = ' '.repeat(block.column) + word;
    } else {
      line += (fresh ? '' : ' ') + word;
    }
    fresh = false;
  }
  lines.push(line);
  return lines;
}

export function fitHelp(text: string, width: number): string {
  const out: string[] = [];
  let block: Block | undefined;
  const flush = () => {
    if (block) out.push(...render(block, width));
    block = undefined;
  };
  for (const line of text.split('\n')) {
    if (block && continues(block, line)) {
      block.words.push(...words(line));
      block.lines.push(line);
      continue;
    }
    flush();
    if (line.trim() === '' || isHeading(line)) out.push(line);
    else block = startBlock(line, width);
  }
  flush();
  return out.join('\n');
}
