/**
 * The string hashing every Rampart structure uses for placement: MurmurHash3 x86_32 (Austin
 * Appleby) over the UTF-8 bytes of the string, encoded on the fly (no allocation; lone
 * surrogates hash as U+FFFD, like `TextEncoder`). The results are fixed forever: a Bloom filter
 * serialised by one process is read by another, and every process must place a key on the same
 * node, so these functions give the same numbers on every platform and in every Rampart version.
 *
 * For a 64-bit-quality hash (Bloom filter double hashing, jump hash keys) `murmur3Pair` computes
 * two MurmurHash3 values of the same bytes in one pass, under `seed` and under
 * `pairSeed(seed) = (seed + 0x9e3779b9) mod 2^32`.
 *
 * Not a cryptographic hash: do not use it where an attacker chooses keys to collide.
 *
 * @since 0.1.0
 */
import * as internal from "./internal/hash.js"

/**
 * MurmurHash3 x86_32 of the UTF-8 bytes of `input`, as an unsigned 32-bit integer. Same as the
 * reference `MurmurHash3_x86_32(utf8(input), seed)`.
 *
 * @since 0.1.0
 * @category hashing
 * @example
 * import { Hash } from "@rampart/balancing"
 *
 * Hash.murmur3("Hello, world!", 0x9747b28c) // 0x24884cba
 */
export const murmur3: (input: string, seed?: number) => number = internal.murmur3

/**
 * MurmurHash3 x86_32 of raw bytes.
 *
 * @since 0.1.0
 * @category hashing
 */
export const murmur3Bytes: (input: Uint8Array, seed?: number) => number = internal.murmur3Bytes

/**
 * Two independent-seed MurmurHash3 values of the UTF-8 bytes of `input` in one pass, written to
 * `out[0]` (under `seed`) and `out[1]` (under `pairSeed(seed)`); returns `out`. Pass a reused
 * `Uint32Array(2)` to stay allocation-free.
 *
 * @since 0.1.0
 * @category hashing
 * @example
 * import { Hash } from "@rampart/balancing"
 *
 * const scratch = new Uint32Array(2)
 * const [h1, h2] = Hash.murmur3Pair("user:42", 0, scratch)
 */
export const murmur3Pair: (input: string, seed: number, out: Uint32Array) => Uint32Array = internal.murmur3Pair

/**
 * The seed of the second hash of a pair: `(seed + 0x9e3779b9) mod 2^32`.
 *
 * @since 0.1.0
 * @category hashing
 */
export const pairSeed: (seed: number) => number = internal.pairSeed

/**
 * MurmurHash3's 32-bit finaliser: a bijective mix of an integer, for hashing integer keys.
 *
 * @since 0.1.0
 * @category hashing
 */
export const fmix32: (value: number) => number = internal.fmix32

/**
 * MurmurHash3 of the 4 little-endian bytes of `value` seeded with `seed`: mixes two 32-bit
 * numbers into one well-distributed 32-bit number (order matters).
 *
 * @since 0.1.0
 * @category hashing
 */
export const combine: (seed: number, value: number) => number = internal.combine
