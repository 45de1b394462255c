/**
 * Seeded pseudo-random number generator: xoshiro128** (Blackman & Vigna), seeded through
 * splitmix32. 32-bit integer arithmetic only (`Math.imul`, `>>>`), so a seed yields the same
 * sequence on every machine, Node version and platform.
 *
 * One seed determines a whole simulation run. Components that must not perturb each
 * other's sequences take a stream of their own from {@link Prng.derive} (seed + label),
 * which does not consume draws from the parent.
 */

/** A seed: a safe integer (as printed in failure messages) or any string. */
export type Seed = number | string;

const TWO_POW_32 = 0x1_0000_0000;

/** splitmix32 step: a good 32-bit mixer used to expand a seed into generator state. */
function splitmix32(state: number): [next: number, out: number] {
  const next = (state + 0x9e3779b9) | 0;
  let z = next;
  z = Math.imul(z ^ (z >>> 16), 0x85ebca6b);
  z = Math.imul(z ^ (z >>> 13), 0xc2b2ae35);
  z ^= z >>> 16;
  return [next, z >>> 0];
}

/** FNV-1a over UTF-16 code units, folded to 32 bits: turns a string or label into a word. */
function hashString(s: string, basis = 0x811c9dc5): number {
  let h = basis >>> 0;
  for (let i = 0; i < s.length; i++) {
    h ^= s.charCodeAt(i);
    h = Math.imul(h, 0x01000193) >>> 0;
  }
  return h >>> 0;
}

function seedWords(seed: Seed): [number, number] {
  if (typeof seed === 'string') return [hashString(seed), hashString(seed, 0x9747b28c)];
  if (!Number.isSafeInteger(seed) || seed < 0) {
    throw new RangeError(`seed must be a non-negative safe integer or a string, got ${seed}`);
  }
  return [seed >>> 0, Math.floor(seed / TWO_POW_32) >>> 0];
}

export class Prng {
  #s0 = 0;
  #s1 = 0;
  #s2 = 0;
  #s3 = 0;
  /** The seed this generator was created from (for failure messages). */
  readonly seed: Seed;

  constructor(seed: Seed) {
    this.seed = seed;
    const [lo, hi] = seedWords(seed);
    let st = lo ^ Math.imul(hi, 0x2545f491);
    let out: number;
    [st, out] = splitmix32(st);
    this.#s0 = out;
    [st, out] = splitmix32(st ^ hi);
    this.#s1 = out;
    [st, out] = splitmix32(st);
    this.#s2 = out;
    [, out] = splitmix32(st);
    this.#s3 = out;
    // xoshiro's state must not be all zero.
    if ((this.#s0 | this.#s1 | this.#s2 | this.#s3) === 0) this.#s0 = 1;
  }

  /** An independent generator for a named component, from a seed and a label. */
  static derive(seed: Seed, label: string): Prng {
    return new Prng(`${String(seed)}/${label}`);
  }

  /**
   * A generator with the given raw xoshiro128** state (not all zero), for conformance
   * tests against the reference implementation.
   */
  static fromState(s0: number, s1: number, s2: number, s3: number): Prng {
    if ((s0 | s1 | s2 | s3) === 0) throw new RangeError('xoshiro128** state must not be all zero');
    const g = new Prng(`state:${s0},${s1},${s2},${s3}`);
    g.#s0 = s0 | 0;
    g.#s1 = s1 | 0;
    g.#s2 = s2 | 0;
    g.#s3 = s3 | 0;
    return g;
  }

  /** The next 32-bit unsigned integer. */
  nextUint32(): number {
    const s0 = this.#s0;
    const s1 = this.#s1;
    const s2 = this.#s2;
    const s3 = this.#s3;
    const r = Math.imul(rotl(Math.imul(s1, 5), 7), 9) >>> 0;
    const t = s1 << 9;
    let n2 = s2 ^ s0;
    let n3 = s3 ^ s1;
    const n1 = s1 ^ n2;
    const n0 = s0 ^ n3;
    n2 ^= t;
    n3 = rotl(n3, 11);
    this.#s0 = n0;
    this.#s1 = n1;
    this.#s2 = n2;
    this.#s3 = n3;
    return r;
  }

  /** A float in [0, 1) with 53 random bits. */
  float(): number {
    const a = this.nextUint32() >>> 5; // 27 bits
    const b = this.nextUint32() >>> 6; // 26 bits
    return (a * 67108864 + b) / 9007199254740992;
  }

  /** An integer in [0, n), without modulo bias. n must be a positive integer ≤ 2^32. */
  int(n: number): number {
    if (!Number.isInteger(n) || n <= 0 || n > TWO_POW_32) {
      throw new RangeError(`int(n): n must be an integer in [1, 2^32], got ${n}`);
    }
    if (n === TWO_POW_32) return this.nextUint32();
    // Reject the top partial bucket so that every residue is equally likely.
    const limit = TWO_POW_32 - (TWO_POW_32 % n);
    for (;;) {
      const x = this.nextUint32();
      if (x < limit) return x % n;
    }
  }

  /** An integer in [min, max], both inclusive. */
  intBetween(min: number, max: number): number {
    if (max < min) throw new RangeError(`intBetween: max ${max} < min ${min}`);
    return min + this.int(max - min + 1);
  }

  /** A float in [min, max). */
  floatBetween(min: number, max: number): number {
    return min + (max - min) * this.float();
  }

  /** True with probability p (p ≤ 0 never draws true, p ≥ 1 always does; one draw either way). */
  chance(p: number): boolean {
    return this.float() < p;
  }

  /** A uniformly chosen element; throws on an empty array. */
  pick<T>(items: readonly T[]): T {
    if (items.length === 0) throw new RangeError('pick: empty array');
    return items[this.int(items.length)] as T;
  }

  /** Shuffles in place (Fisher–Yates) and returns the same array. */
  shuffle<T>(items: T[]): T[] {
    for (let i = items.length - 1; i > 0; i--) {
      const j = this.int(i + 1);
      const tmp = items[i] as T;
      items[i] = items[j] as T;
      items[j] = tmp;
    }
    return items;
  }

  /** Exponentially distributed value with the given mean. */
  exponential(mean: number): number {
    return -mean * Math.log(1 - this.float());
  }

  /** Normally distributed value (Box–Muller). */
  normal(mean: number, stddev: number): number {
    const u = 1 - this.float();
    const v = this.float();
    return mean + stddev * Math.sqrt(-2 * Math.log(u)) * Math.cos(2 * Math.PI * v);
  }

  /** A child generator seeded from this one's next draws (consumes two draws). */
  split(): Prng {
    const hi = this.nextUint32() & 0x1fffff;
    return new Prng(hi * TWO_POW_32 + this.nextUint32());
  }
}

function rotl(x: number, k: number): number {
  return (x << k) | (x >>> (32 - k));
}

/** A fresh random seed for a run that was not given one (the only non-deterministic call). */
export function randomSeed(): number {
  return Math.floor(Math.random() * 2 ** 48);
}
