/** Seeded randomness for tests: the same generator as the relay's, so random inputs repeat on every run. */
import { mulberry32 } from '../../src/impair/random.js';

export { mulberry32 };

/** `size` pseudo-random bytes from `seed`. */
export function randomBytes(size: number, seed: number): Buffer {
  const random = mulberry32(seed);
  const out = Buffer.allocUnsafe(size);
  for (let i = 0; i < size; i += 4) {
    const word = (random() * 4294967296) >>> 0;
    for (let j = 0; j < 4 && i + j < size; j++) out[i + j] = (word >>> (8 * j)) & 0xff;
  }
  return out;
}
