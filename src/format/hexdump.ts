/** A hex dump like `xxd`/`hexdump -C`: offset, 16 bytes in hex, then the printable ASCII. */
export function hexdump(data: Buffer, startOffset = 0): string {
  const rows: string[] = [];
  for (let at = 0; at < data.length; at += 16) {
    const row = data.subarray(at, at + 16);
    let hex = '';
    let text = '';
    for (let i = 0; i < 16; i++) {
      const byte = row[i];
      if (i === 8) hex += ' ';
      hex += byte === undefined ? '   ' : byte.toString(16).padStart(2, '0') + ' ';
      if (byte !== undefined) text += byte >= 0x20 && byte < 0x7f ? String.fromCharCode(byte) : '.';
    }
    rows.push(`${(startOffset + at).toString(16).padStart(8, '0')}  ${hex} |${text}|\n`);
  }
  return rows.join('');
}
