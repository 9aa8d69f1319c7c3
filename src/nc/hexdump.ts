/**
 * ncat's `-x` layout: each chunk sent or received is dumped on its own, offsets from 0000, 16
 * bytes a row in two groups of 8, then the bytes as text (`.` for anything but a visible
 * character; a space is a `.` too), the rows padded to full width:
 *
 *     0000   68 65 6c 6c 6f 20 77 6f  72 6c 64 0a              hello.world.
 */
export function ncatHexdump(data: Buffer): string {
  let out = '';
  for (let at = 0; at < data.length; at += 16) {
    let hex = '';
    let text = '';
    for (let i = 0; i < 16; i++) {
      const byte = data[at + i];
      if (i === 8) hex += ' ';
      if (byte === undefined) {
        hex += '   ';
        text += ' ';
      } else {
        hex += byte.toString(16).padStart(2, '0') + ' ';
        text += byte > 0x20 && byte < 0x7f ? String.fromCharCode(byte) : '.';
      }
    }
    out += `${at.toString(16).padStart(4, '0')}   ${hex} ${text}\n`;
  }
  return out;
}
