/**
 * A Bloom filter (Bloom 1970) over a byte array. Item positions use double hashing from one
 * MurmurHash3 pair (Kirsch & Mitzenmacher 2006) in its enhanced form (Dillinger & Manolios 2004:
 * the step grows by i each probe, so probes do not cycle when gcd(step, m) > 1):
 *   x = h1 mod m, y = h2 mod m; probe x; then k - 1 times: x = (x + y) mod m, y = (y + i) mod m.
 * Bit i lives in byte i >>> 3 at mask 1 << (i & 7), so the serialised bits are the array itself.
 */
import { PositiveInt } from "@rampart/core/Options"
import { murmur3Bytes, murmur3Pair } from "@rampart/balancing/Hash"
import { Effect, Either, Encoding, Schema } from "effect"
import { dual } from "effect/Function"
import { pipeArguments } from "effect/Pipeable"
import type * as BF from "../BloomFilter.js"
import { BloomFilterDecodeError, BloomFilterMismatch } from "./bloomFilterErrors.js"

/** @internal */
export const TypeId: BF.TypeId = Symbol.for("@rampart/cache/BloomFilter") as BF.TypeId

/** The most bits a filter may hold (512 MiB); fits the header's u32 and the 32-bit hashes. */
export const maxBits = 4294967288

/** The most hash functions; far beyond any useful rate (k = 30 is p ≈ 1e-9). */
export const maxHashCount = 64

const LN2 = Math.LN2
const LN2_SQUARED = LN2 * LN2

/** Optimal sizing: m = -n ln p / (ln 2)^2 rounded up to whole bytes, k = round(m / n × ln 2). */
export const optimalSize = (
  expectedItems: number,
  falsePositiveRate: number
): { readonly bitCount: number; readonly hashCount: number } => {
  const exact = Math.ceil((-expectedItems * Math.log(falsePositiveRate)) / LN2_SQUARED)
  const bitCount = Math.max(8, Math.ceil(exact / 8) * 8)
  const hashCount = Math.min(maxHashCount, Math.max(1, Math.round((bitCount / expectedItems) * LN2)))
  return { bitCount, hashCount }
}

/** @internal */
export const Seed = Schema.Int.pipe(
  Schema.between(0, 4294967295, { message: () => "Expected a 32-bit unsigned integer (0 to 4294967295)" })
)

/** @internal */
export const BloomFilterOptions = Schema.Struct({
  expectedItems: PositiveInt,
  falsePositiveRate: Schema.Number.pipe(
    Schema.greaterThan(0, { message: () => "Expected a false-positive rate greater than 0 and less than 0.5" }),
    Schema.lessThan(0.5, { message: () => "Expected a false-positive rate greater than 0 and less than 0.5" })
  ),
  seed: Schema.optionalWith(Seed, { default: () => 0 })
}).pipe(
  Schema.filter((options) =>
    optimalSize(options.expectedItems, options.falsePositiveRate).bitCount <= maxBits ? undefined : {
      path: ["expectedItems"],
      message: `Expected a filter of at most ${maxBits} bits (512 MiB); lower expectedItems or raise falsePositiveRate`
    }
  )
)

const scratch = new Uint32Array(2)

/** @internal */
export class BloomFilterImpl implements BF.BloomFilter {
  readonly [TypeId]: BF.TypeId = TypeId
  /** Bits set to one; kept exact so the fill-based estimates are O(1). */
  private setBits: number
  constructor(
    readonly bitCount: number,
    readonly hashCount: number,
    readonly seed: number,
    readonly bits: Uint8Array,
    private insertions: number,
    setBits: number
  ) {
    this.setBits = setBits
  }

  readonly unsafeAdd = (item: string): boolean => {
    murmur3Pair(item, this.seed, scratch)
    const bits = this.bits
    const m = this.bitCount
    let x = scratch[0]! % m
    let y = scratch[1]! % m
    let added = false
    for (let probe = 0; ; ) {
      const mask = 1 << (x & 7)
      const byte = bits[x >>> 3]!
      if ((byte & mask) === 0) {
        bits[x >>> 3] = byte | mask
        this.setBits++
        added = true
      }
      if (++probe === this.hashCount) break
      x += y
      if (x >= m) x -= m
      y += probe
      if (y >= m) y %= m
    }
    this.insertions++
    return added
  }

  readonly unsafeMightContain = (item: string): boolean => {
    murmur3Pair(item, this.seed, scratch)
    const bits = this.bits
    const m = this.bitCount
    let x = scratch[0]! % m
    let y = scratch[1]! % m
    for (let probe = 0; ; ) {
      if ((bits[x >>> 3]! & (1 << (x & 7))) === 0) return false
      if (++probe === this.hashCount) return true
      x += y
      if (x >= m) x -= m
      y += probe
      if (y >= m) y %= m
    }
  }

  readonly unsafeInsertions = (): number => this.insertions

  readonly unsafeSetBits = (): number => this.setBits

  /** Swamidass & Baldi 2007: n ≈ -(m / k) ln(1 - X / m) for X bits set. */
  readonly unsafeApproximateCount = (): number => {
    const ones = Math.min(this.setBits, this.bitCount - 0.5)
    return Math.round((-this.bitCount / this.hashCount) * Math.log(1 - ones / this.bitCount))
  }

  /** The chance a never-added item is reported present now: (X / m)^k. */
  readonly unsafeFalsePositiveRate = (): number => Math.pow(this.setBits / this.bitCount, this.hashCount)

  pipe() {
    // eslint-disable-next-line prefer-rest-params
    return pipeArguments(this, arguments)
  }

  toString(): string {
    return `BloomFilter(${this.bitCount} bits, ${this.hashCount} hashes, ~${this.unsafeApproximateCount()} items)`
  }
}

const popCount = (bits: Uint8Array): number => {
  let count = 0
  for (let index = 0; index < bits.length; index++) {
    let byte = bits[index]!
    byte = byte - ((byte >>> 1) & 0x55)
    byte = (byte & 0x33) + ((byte >>> 2) & 0x33)
    count += (byte + (byte >>> 4)) & 0x0f
  }
  return count
}

/** @internal */
export const unsafeMake = (options: BF.BloomFilterOptions): BloomFilterImpl => {
  const { bitCount, hashCount } = optimalSize(options.expectedItems, options.falsePositiveRate)
  return new BloomFilterImpl(bitCount, hashCount, options.seed, new Uint8Array(bitCount / 8), 0, 0)
}

/** @internal */
export const isBloomFilter = (u: unknown): u is BF.BloomFilter => typeof u === "object" && u !== null && TypeId in u

const impl = (filter: BF.BloomFilter): BloomFilterImpl => filter as BloomFilterImpl

// ---------------------------------------------------------------------------------------------
// Merge
// ---------------------------------------------------------------------------------------------

/** @internal */
export const merge: {
  (that: BF.BloomFilter): (self: BF.BloomFilter) => Effect.Effect<BF.BloomFilter, BloomFilterMismatch>
  (self: BF.BloomFilter, that: BF.BloomFilter): Effect.Effect<BF.BloomFilter, BloomFilterMismatch>
} = dual(2, (self: BF.BloomFilter, that: BF.BloomFilter): Effect.Effect<BF.BloomFilter, BloomFilterMismatch> =>
  Effect.suspend(() => {
    const left = impl(self)
    const right = impl(that)
    if (left.bitCount !== right.bitCount) {
      return Effect.fail(new BloomFilterMismatch({ field: "bitCount", left: left.bitCount, right: right.bitCount }))
    }
    if (left.hashCount !== right.hashCount) {
      return Effect.fail(new BloomFilterMismatch({ field: "hashCount", left: left.hashCount, right: right.hashCount }))
    }
    if (left.seed !== right.seed) {
      return Effect.fail(new BloomFilterMismatch({ field: "seed", left: left.seed, right: right.seed }))
    }
    const bits = new Uint8Array(left.bits.length)
    for (let index = 0; index < bits.length; index++) bits[index] = left.bits[index]! | right.bits[index]!
    return Effect.succeed<BF.BloomFilter>(
      new BloomFilterImpl(
        left.bitCount,
        left.hashCount,
        left.seed,
        bits,
        left.unsafeInsertions() + right.unsafeInsertions(),
        popCount(bits)
      )
    )
  }))

// ---------------------------------------------------------------------------------------------
// Serialised form
// ---------------------------------------------------------------------------------------------

/**
 * Layout, little-endian:
 *   0  magic "RBLF" (52 42 4C 46)        4  version (u8) = 1
 *   5  hash scheme (u8) = 1: MurmurHash3 x86_32 pair over UTF-8, enhanced double hashing
 *   6  hashCount k (u16)                 8  bitCount m (u32, a multiple of 8)
 *   12 seed (u32)                        16 insertions (f64)
 *   24 bits (m / 8 bytes; bit i = byte i >>> 3, mask 1 << (i & 7))
 *   24 + m / 8: checksum (u32) = MurmurHash3 x86_32 (seed 0) of every byte before it
 */
const MAGIC = 0x464c4252 // "RBLF" read as a little-endian u32
const VERSION = 1
const HASH_SCHEME = 1
const HEADER_BYTES = 24
const CHECKSUM_BYTES = 4

/** @internal */
export const unsafeToBytes = (self: BF.BloomFilter): Uint8Array => {
  const filter = impl(self)
  const bytes = new Uint8Array(HEADER_BYTES + filter.bits.length + CHECKSUM_BYTES)
  const view = new DataView(bytes.buffer)
  view.setUint32(0, MAGIC, true)
  view.setUint8(4, VERSION)
  view.setUint8(5, HASH_SCHEME)
  view.setUint16(6, filter.hashCount, true)
  view.setUint32(8, filter.bitCount, true)
  view.setUint32(12, filter.seed, true)
  view.setFloat64(16, filter.unsafeInsertions(), true)
  bytes.set(filter.bits, HEADER_BYTES)
  const end = HEADER_BYTES + filter.bits.length
  view.setUint32(end, murmur3Bytes(bytes.subarray(0, end), 0), true)
  return bytes
}

const decodeFailure = (reason: string) => Either.left(new BloomFilterDecodeError({ reason }))

/** @internal */
export const decodeBytes = (bytes: Uint8Array): Either.Either<BF.BloomFilter, BloomFilterDecodeError> => {
  if (bytes.length < HEADER_BYTES + CHECKSUM_BYTES) {
    return decodeFailure(`expected at least ${HEADER_BYTES + CHECKSUM_BYTES} bytes, got ${bytes.length}`)
  }
  const view = new DataView(bytes.buffer, bytes.byteOffset, bytes.byteLength)
  if (view.getUint32(0, true) !== MAGIC) return decodeFailure("not a Rampart Bloom filter (bad magic)")
  const version = view.getUint8(4)
  if (version !== VERSION) return decodeFailure(`unsupported version ${version} (this build reads ${VERSION})`)
  const scheme = view.getUint8(5)
  if (scheme !== HASH_SCHEME) return decodeFailure(`unsupported hash scheme ${scheme}`)
  const hashCount = view.getUint16(6, true)
  const bitCount = view.getUint32(8, true)
  const seed = view.getUint32(12, true)
  const insertions = view.getFloat64(16, true)
  if (hashCount < 1 || hashCount > maxHashCount) return decodeFailure(`hash count ${hashCount} out of range`)
  if (bitCount < 8 || bitCount % 8 !== 0 || bitCount > maxBits) {
    return decodeFailure(`bit count ${bitCount} is not a positive multiple of 8`)
  }
  const end = HEADER_BYTES + bitCount / 8
  if (bytes.length !== end + CHECKSUM_BYTES) {
    return decodeFailure(`expected ${end + CHECKSUM_BYTES} bytes for ${bitCount} bits, got ${bytes.length}`)
  }
  if (view.getUint32(end, true) !== murmur3Bytes(bytes.subarray(0, end), 0)) {
    return decodeFailure("checksum mismatch (corrupted or truncated data)")
  }
  if (!Number.isInteger(insertions) || insertions < 0) return decodeFailure(`bad insertion count ${insertions}`)
  const bits = bytes.slice(HEADER_BYTES, end)
  return Either.right(new BloomFilterImpl(bitCount, hashCount, seed, bits, insertions, popCount(bits)))
}

/** @internal */
export const fromBytes = (bytes: Uint8Array): Effect.Effect<BF.BloomFilter, BloomFilterDecodeError> =>
  Effect.suspend(() => decodeBytes(bytes))

/** @internal */
export const unsafeToBase64 = (self: BF.BloomFilter): string => Encoding.encodeBase64(unsafeToBytes(self))

/** @internal */
export const fromBase64 = (text: string): Effect.Effect<BF.BloomFilter, BloomFilterDecodeError> =>
  Effect.suspend(() =>
    Either.match(Encoding.decodeBase64(text), {
      onLeft: () => Effect.fail(new BloomFilterDecodeError({ reason: "not valid base64" })),
      onRight: (bytes) => decodeBytes(bytes)
    })
  )
