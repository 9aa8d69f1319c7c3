/**
 * Making received bytes safe to show on a terminal.
 *
 * Raw bytes can carry escape sequences that move the cursor, change colours, retitle the window
 * or switch the character set; printed as they are, binary data can leave a terminal unusable.
 * When stdout is a terminal, socklab shows text as text and replaces every control character
 * (except tab, newline and carriage return) and every invalid UTF-8 sequence with a visible mark.
 * `--hex` shows the exact bytes.
 */

// C0 controls but \t \n \r, DEL, and C1 controls (which some terminals obey too).
// eslint-disable-next-line no-control-regex
const UNSAFE = /[\x00-\x08\x0b\x0c\x0e-\x1f\x7f\u0080-\u009f]/g;

/** True if the bytes would show differently from what they are (controls, invalid UTF-8). */
export function isBinary(data: Buffer): boolean {
  UNSAFE.lastIndex = 0;
  const text = data.toString('utf8');
  return text.includes('\ufffd') || UNSAFE.test(text);
}

/** The bytes as UTF-8 text with unsafe characters replaced by '·' (U+00B7) and invalid sequences by '�'. */
export function sanitizeForTerminal(data: Buffer): string {
  return data.toString('utf8').replace(UNSAFE, '\u00b7');
}

/**
 * Where the cursor is on a terminal that stdout and stderr share: at the start of a line or not.
 * Received text that does not end in a newline would otherwise run into the next client's text,
 * or into a `-v` event line.
 */
export class TerminalLine {
  #atStart = true;

  /** Note what was just written. */
  wrote(text: string): void {
    if (text.length > 0) this.#atStart = text.endsWith('\n');
  }

  /** The newline that ends the current line, if the cursor is not at the start of one ('' if it is). */
  finish(): string {
    if (this.#atStart) return '';
    this.#atStart = true;
    return '\n';
  }
}
