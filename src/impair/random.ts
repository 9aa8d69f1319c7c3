/**
 * The relay's one source of randomness: mulberry32 (a small, well-known generator; the tests
 * use it too, through test/helpers/random.ts), seeded by `--seed`.
 *
 * A relay has one seed. Each stage of each connection or flow draws from its own stream, forked
 * from that seed by a label (`"3/up/loss"`): the 3rd connection's upstream loss pattern is then the
 * same on every run with that seed, whatever the other connections do and however their events
 * interleave.
 */

export interface Random {
  /** The seed this stream was made from (for replaying it). */
  readonly seed: number;
  /** A float in [0, 1). */
  next(): number;
  /** An integer in [0, n). */
  below(n: number): number;
  /** A standard normal sample (mean 0, standard deviation 1). */
  normal(): number;
  /** An independent stream, reproducible from this one's seed and `label`. */
  fork(label: string): Random;
}

export function mulberry32(seed: number): () => number {
  let a = seed >>> 0;
  return () => {
    a = (a + 0x6d2b79f5) >>> 0;
    let t = a;
    t = Math.imul(t ^ (t >>> 15), t | 1);
    t ^= t + Math.imul(t ^ (t >>> 7), t | 61);
    return ((t ^ (t >>> 14)) >>> 0) / 4294967296;
  };
}

/** FNV-1a over the label, mixed with the seed and finished with murmur3's avalanche. */
function deriveSeed(seed: number, label: string): number {
  let h = (0x811c9dc5 ^ seed) >>> 0;
  for (let i = 0; i < label.length; i++) {
    h ^= label.charCodeAt(i);
    h = Math.imul(h, 0x01000193);
  }
  h ^= h >>> 16;
  h = Math.imul(h, 0x85ebca6b);
  h ^= h >>> 13;
  h = Math.imul(h, 0xc2b2ae35);
  h ^= h >>> 16;
  return h >>> 0;
}

export function createRandom(seed: number): Random {
  const s = seed >>> 0;
  const next = mulberry32(s);
  let spare: number | undefined;
  return {
    seed: s,
    next,
    below: (n) => Math.floor(next() * n),
    normal() {
      // Box-Muller, keeping the second sample for the next call.
      if (spare !== undefined) {
        const v = spare;
        spare = undefined;
        return v;
      }
      let u = 0;
      while (u === 0) u = next();
      const v = next();
      const r = Math.sqrt(-2 * Math.log(u));
      spare = r * Math.sin(2 * Math.PI * v);
      return r * Math.cos(2 * Math.PI * v);
    },
    fork: (label) => createRandom(deriveSeed(s, label)),
  };
}

/** A seed for a run that was not given one (printed, so the run can be replayed). */
export function randomSeed(): number {
  return Math.floor(Math.random() * 2 ** 31);
}
