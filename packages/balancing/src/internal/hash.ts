/**
 * MurmurHash3 x86_32 (Austin Appleby, public domain) over the UTF-8 bytes of a string, encoded on
 * the fly so no byte array is allocated. The output is part of Rampart's stable formats (Bloom
 * filters, key placement), so this code must never change its results.
 */

const C1 = 0xcc9e2d51
const C2 = 0x1b873593

/** The second seed of a pair: a fixed offset (golden ratio), never equal to the first seed. */
export const pairSeed = (seed: number): number => (seed + 0x9e3779b9) >>> 0

const mixK = (k: number): number => {
  k = Math.imul(k, C1)
  k = (k << 15) | (k >>> 17)
  return Math.imul(k, C2)
}

const mixH = (h: number, k: number): number => {
  h ^= mixK(k)
  h = (h << 13) | (h >>> 19)
  return (Math.imul(h, 5) + 0xe6546b64) | 0
}

/** MurmurHash3's finaliser: a bijective avalanche of 32 bits. */
export const fmix32 = (h: number): number => {
  h ^= h >>> 16
  h = Math.imul(h, 0x85ebca6b)
  h ^= h >>> 13
  h = Math.imul(h, 0xc2b2ae35)
  h ^= h >>> 16
  return h >>> 0
}

/**
 * Walks the UTF-8 encoding of `input` (lone surrogates become U+FFFD, as `TextEncoder` does) and
 * feeds the bytes to one or two MurmurHash3 states that share the block mixing. Returns the first
 * hash; the second, when `out` is given, goes to `out[1]` (and the first to `out[0]`).
 */
const hashString = (input: string, seed: number, out: Uint32Array | undefined): number => {
  let h1 = seed | 0
  let h2 = out === undefined ? 0 : pairSeed(seed) | 0
  const two = out !== undefined
  let word = 0
  let shift = 0
  let length = 0
  const size = input.length
  for (let index = 0; index < size; index++) {
    // Fast path: four ASCII characters at a word boundary make one block.
    if (shift === 0 && index + 3 < size) {
      const c0 = input.charCodeAt(index)
      const c1 = input.charCodeAt(index + 1)
      const c2 = input.charCodeAt(index + 2)
      const c3 = input.charCodeAt(index + 3)
      if ((c0 | c1 | c2 | c3) < 0x80) {
        const k = c0 | (c1 << 8) | (c2 << 16) | (c3 << 24)
        h1 = mixH(h1, k)
        if (two) h2 = mixH(h2, k)
        length += 4
        index += 3
        continue
      }
    }
    let code = input.charCodeAt(index)
    // ASCII fast path: one byte.
    if (code < 0x80) {
      word |= code << shift
      length++
      shift += 8
      if (shift === 32) {
        const k = word
        h1 = mixH(h1, k)
        if (two) h2 = mixH(h2, k)
        word = 0
        shift = 0
      }
      continue
    }
    let bytes: number
    let count: number
    if (code < 0x800) {
      bytes = (0xc0 | (code >>> 6)) | ((0x80 | (code & 0x3f)) << 8)
      count = 2
    } else if (code >= 0xd800 && code <= 0xdfff) {
      const next = index + 1 < size ? input.charCodeAt(index + 1) : 0
      if (code <= 0xdbff && next >= 0xdc00 && next <= 0xdfff) {
        index++
        code = 0x10000 + ((code - 0xd800) << 10) + (next - 0xdc00)
        bytes = (0xf0 | (code >>> 18)) | ((0x80 | ((code >>> 12) & 0x3f)) << 8) |
          ((0x80 | ((code >>> 6) & 0x3f)) << 16) | ((0x80 | (code & 0x3f)) << 24)
        count = 4
      } else {
        // A lone surrogate encodes as U+FFFD (EF BF BD).
        bytes = 0xef | (0xbf << 8) | (0xbd << 16)
        count = 3
      }
    } else {
      bytes = (0xe0 | (code >>> 12)) | ((0x80 | ((code >>> 6) & 0x3f)) << 8) | ((0x80 | (code & 0x3f)) << 16)
      count = 3
    }
    for (let byte = 0; byte < count; byte++) {
      word |= ((bytes >>> (byte * 8)) & 0xff) << shift
      length++
      shift += 8
      if (shift === 32) {
        const k = word
        h1 = mixH(h1, k)
        if (two) h2 = mixH(h2, k)
        word = 0
        shift = 0
      }
    }
  }
  if (shift > 0) {
    const k = mixK(word)
    h1 ^= k
    h2 ^= k
  }
  const result = fmix32(h1 ^ length)
  if (two) {
    out[0] = result
    out[1] = fmix32(h2 ^ length)
  }
  return result
}

/** @internal */
export const murmur3 = (input: string, seed = 0): number => hashString(input, seed, undefined)

/** @internal */
export const murmur3Pair = (input: string, seed: number, out: Uint32Array): Uint32Array => {
  hashString(input, seed, out)
  return out
}

/** @internal */
export const murmur3Bytes = (input: Uint8Array, seed = 0): number => {
  let h = seed | 0
  const length = input.length
  const blocks = length & ~3
  let index = 0
  for (; index < blocks; index += 4) {
    h = mixH(h, input[index]! | (input[index + 1]! << 8) | (input[index + 2]! << 16) | (input[index + 3]! << 24))
  }
  const tail = length & 3
  if (tail > 0) {
    let k = input[index]!
    if (tail > 1) k |= input[index + 1]! << 8
    if (tail > 2) k |= input[index + 2]! << 16
    h ^= mixK(k)
  }
  return fmix32(h ^ length)
}

/**
 * MurmurHash3 of the 4 little-endian bytes of `b` seeded with `a`: mixes two 32-bit values into one
 * well-distributed 32-bit value (not symmetric). Used to score a
 * (key, node) pair from their separate hashes without hashing the concatenation.
 */
export const combine = (a: number, b: number): number => fmix32(mixH(a | 0, b) ^ 4)

/**
 * `combine` split in two for loops over many seeds with one value: `premix(b)` once, then
 * `combinePremixed(a, premix(b)) === combine(a, b)` for every `a`.
 */
export const premix = (b: number): number => mixK(b)

/** @internal */
export const combinePremixed = (a: number, premixed: number): number => {
  let h = a ^ premixed
  h = (h << 13) | (h >>> 19)
  return fmix32(((Math.imul(h, 5) + 0xe6546b64) | 0) ^ 4)
}
