/**
 * The frequency estimator of W-TinyLFU: a count-min sketch of small saturating counters with a
 * doorkeeper in front and periodic aging ("TinyLFU: A Highly Efficient Cache Admission Policy",
 * Einziger, Friedman, Manes 2017; tuned like Caffeine's FrequencySketch).
 *
 * - Counters saturate at 15 (4-bit semantics; one byte each, so halving is one masked shift per
 *   four counters).
 * - Depth 4, blocked: the four counters of a key sit in one 64-byte block (one cache line), as in
 *   Caffeine, so an update touches one line instead of four.
 * - Conservative update: only the counters equal to the current minimum are incremented, which
 *   keeps over-estimation from collisions low.
 * - Doorkeeper: a Bloom filter that absorbs the first occurrence of a key, so one-hit wonders never
 *   reach the counters; an estimate adds one when the doorkeeper holds the key.
 * - Aging: after `sampleSize` recorded occurrences every counter is halved and the doorkeeper
 *   cleared, so the sketch follows a changing popularity distribution.
 */

const MAX_COUNTER = 15

/** A 32-bit finaliser (murmur3 fmix32). */
export const mix32 = (hash: number): number => {
  let h = hash | 0
  h ^= h >>> 16
  h = Math.imul(h, 0x85ebca6b)
  h ^= h >>> 13
  h = Math.imul(h, 0xc2b2ae35)
  h ^= h >>> 16
  return h
}

const nextPowerOfTwo = (value: number): number => {
  let power = 1
  while (power < value) power *= 2
  return power
}

export class FrequencySketch {
  private readonly counters: Uint8Array
  /** The same memory seen four counters at a time, for aging. */
  private readonly words: Uint32Array
  private readonly blockMask: number
  private readonly doorkeeper: Int32Array
  private readonly doorkeeperMask: number
  readonly sampleSize: number
  private additions = 0

  constructor(capacity: number, sampleSize: number) {
    // 8 counters per entry (the caller passes a generous capacity for small caches): with fewer,
    // the collisions of the long tail inflate the estimates of cold keys and admission turns into
    // a coin toss.
    const width = Math.min(nextPowerOfTwo(Math.max(capacity * 8, 1 << 14)), 1 << 26)
    this.counters = new Uint8Array(width)
    this.words = new Uint32Array(this.counters.buffer)
    this.blockMask = (width >>> 6) - 1
    // The doorkeeper sees at most `sampleSize` keys between resets: ~8 bits per key, 2 hashes.
    const bits = Math.min(nextPowerOfTwo(Math.max(sampleSize * 8, 1 << 12)), 1 << 28)
    this.doorkeeper = new Int32Array(bits >>> 5)
    this.doorkeeperMask = (bits >>> 5) - 1
    this.sampleSize = sampleSize
  }

  /** Records one occurrence of the key whose (already spread) hash is given. */
  increment(hash: number): void {
    const a = mix32(hash)
    const b = mix32(a ^ 0x9e3779b9)
    // Doorkeeper: a blocked Bloom filter, both bits in one word.
    const word = (a >>> 5) & this.doorkeeperMask
    const bits = (1 << (b & 31)) | (1 << ((b >>> 5) & 31))
    const dk = this.doorkeeper
    const seen = dk[word]!
    if ((seen & bits) !== bits) {
      dk[word] = seen | bits
    } else {
      // The four counters live in one 64-counter block (one cache line), picked by `a`; six bits
      // of `b` each pick a counter in it.
      const counters = this.counters
      const block = (a & this.blockMask) << 6
      const i0 = block + ((b >>> 10) & 63)
      const i1 = block + ((b >>> 16) & 63)
      const i2 = block + ((b >>> 22) & 63)
      const i3 = block + (((b >>> 28) | (a >>> 28) << 4) & 63)
      const c0 = counters[i0]!
      const c1 = counters[i1]!
      const c2 = counters[i2]!
      const c3 = counters[i3]!
      const min = Math.min(Math.min(c0, c1), Math.min(c2, c3))
      const below = (min - MAX_COUNTER) >>> 31
      counters[i0] = c0 + (((c0 - min - 1) >>> 31) & below)
      counters[i1] = c1 + (((c1 - min - 1) >>> 31) & below)
      counters[i2] = c2 + (((c2 - min - 1) >>> 31) & below)
      counters[i3] = c3 + (((c3 - min - 1) >>> 31) & below)
    }
    if (++this.additions >= this.sampleSize) this.age()
  }

  /** Where a key's counters sit: its block offset, kept per entry so a hit needs no hashing. */
  blockOf(hash: number): number {
    return (mix32(hash) & this.blockMask) << 6
  }

  /** Which counters of its block belong to the key, kept per entry beside `blockOf`. */
  spreadOf(hash: number): number {
    const a = mix32(hash)
    const b = mix32(a ^ 0x9e3779b9)
    return ((b >>> 10) & 0x3ffff) | ((((b >>> 28) | (a >>> 28) << 4) & 63) << 18)
  }

  /**
   * Records one occurrence of a key held by the cache, from its precomputed block and spread. Such
   * a key has passed the doorkeeper already, so its counters are bumped directly: one cache line
   * touched and no hashing on the hit path.
   */
  incrementResident(block: number, spread: number): void {
    const counters = this.counters
    const i0 = block + (spread & 63)
    const i1 = block + ((spread >>> 6) & 63)
    const i2 = block + ((spread >>> 12) & 63)
    const i3 = block + (spread >>> 18)
    const c0 = counters[i0]!
    const c1 = counters[i1]!
    const c2 = counters[i2]!
    const c3 = counters[i3]!
    // Branch-free conservative update: which counters equal the minimum is unpredictable, so
    // compare with arithmetic (x - min - 1 >>> 31 is 1 exactly when x equals the minimum) and
    // store all four.
    const min = Math.min(Math.min(c0, c1), Math.min(c2, c3))
    const below = (min - MAX_COUNTER) >>> 31
    counters[i0] = c0 + (((c0 - min - 1) >>> 31) & below)
    counters[i1] = c1 + (((c1 - min - 1) >>> 31) & below)
    counters[i2] = c2 + (((c2 - min - 1) >>> 31) & below)
    counters[i3] = c3 + (((c3 - min - 1) >>> 31) & below)
    if (++this.additions >= this.sampleSize) this.age()
  }

  /** The estimated recent frequency of the key, 0..16. */
  frequency(hash: number): number {
    const a = mix32(hash)
    const b = mix32(a ^ 0x9e3779b9)
    const bits = (1 << (b & 31)) | (1 << ((b >>> 5) & 31))
    if ((this.doorkeeper[(a >>> 5) & this.doorkeeperMask]! & bits) !== bits) return 0
    const counters = this.counters
    const block = (a & this.blockMask) << 6
    const c0 = counters[block + ((b >>> 10) & 63)]!
    const c1 = counters[block + ((b >>> 16) & 63)]!
    const c2 = counters[block + ((b >>> 22) & 63)]!
    const c3 = counters[block + (((b >>> 28) | (a >>> 28) << 4) & 63)]!
    let min = c0 < c1 ? c0 : c1
    if (c2 < min) min = c2
    if (c3 < min) min = c3
    return min + 1
  }

  /** Halves every counter and clears the doorkeeper. */
  private age(): void {
    this.additions = 0
    const words = this.words
    for (let i = 0; i < words.length; i++) words[i] = (words[i]! >>> 1) & 0x7f7f7f7f
    this.doorkeeper.fill(0)
  }

  clear(): void {
    this.additions = 0
    this.counters.fill(0)
    this.doorkeeper.fill(0)
  }
}
