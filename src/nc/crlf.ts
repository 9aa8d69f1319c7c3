/**
 * `-C`: each bare LF sent to the network becomes CRLF; an LF that already follows a CR is left
 * alone, even when the CR ended the previous read. Received data is never changed.
 */
const CR = 0x0d;
const LF = 0x0a;

export class CrlfTranslator {
  /** Whether the last byte of the previous chunk was a CR. */
  #lastWasCr = false;

  translate(chunk: Buffer): Buffer {
    let bare = 0;
    for (let i = 0; i < chunk.length; i++) {
      if (chunk[i] === LF && (i === 0 ? !this.#lastWasCr : chunk[i - 1] !== CR)) bare += 1;
    }
    const wasCr = this.#lastWasCr;
    if (chunk.length > 0) this.#lastWasCr = chunk[chunk.length - 1] === CR;
    if (bare === 0) return chunk;
    const out = Buffer.allocUnsafe(chunk.length + bare);
    let o = 0;
    for (let i = 0; i < chunk.length; i++) {
      const byte = chunk[i]!;
      if (byte === LF && (i === 0 ? !wasCr : chunk[i - 1] !== CR)) out[o++] = CR;
      out[o++] = byte;
    }
    return out;
  }
}
