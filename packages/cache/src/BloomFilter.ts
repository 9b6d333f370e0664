/**
 * A Bloom filter: a compact set that answers "definitely not added" or "probably added", with
 * no false negatives and a false-positive rate chosen up front. Use it in front of a cache or
 * store to skip lookups for keys that cannot exist (cache penetration), or to share "seen"
 * sets between processes.
 *
 * Sized from the expected item count n and target false-positive rate p: m = -n ln p / (ln 2)^2
 * bits (rounded up to whole bytes) and k = round(m / n × ln 2) hash probes (1% → 9.59 bits per
 * item, 7 probes). Probes come from one MurmurHash3 pair of the item's UTF-8 bytes
 * (`@rampart/balancing/Hash`) by enhanced double hashing, so any process, in any version, computes
 * the same bits: a filter serialised with `toBytes` / `toBase64` (a versioned, checksummed
 * format) can be loaded elsewhere or kept in Redis, and filters of the same shape merge into
 * their union.
 *
 * The core is synchronous (`unsafeAdd`, `unsafeMightContain`: one hash pass plus k bit probes,
 * no allocation); the Effect functions wrap it. A filter is mutable and not safe to share across
 * worker threads without copying.
 *
 * @since 0.1.0
 */
import type { InvalidOptions } from "@rampart/core/Options"
import { decodeOptions } from "@rampart/core/Options"
import { Effect, type Pipeable } from "effect"
import { dual } from "effect/Function"
import * as internal from "./internal/bloomFilter.js"
import * as errors from "./internal/bloomFilterErrors.js"

/**
 * @since 0.1.0
 * @category symbols
 */
export const TypeId: unique symbol = internal.TypeId

/**
 * @since 0.1.0
 * @category symbols
 */
export type TypeId = typeof TypeId

/**
 * A Bloom filter over strings.
 *
 * @since 0.1.0
 * @category models
 */
export interface BloomFilter extends Pipeable.Pipeable {
  readonly [TypeId]: TypeId
  /** m: the number of bits (a multiple of 8). */
  readonly bitCount: number
  /** k: the number of bit probes per item. */
  readonly hashCount: number
  /** The hash seed; filters merge only with the same seed. */
  readonly seed: number
  /** Adds an item; true when it set at least one new bit (so it was certainly not present). */
  readonly unsafeAdd: (item: string) => boolean
  /** False: never added. True: probably added (wrong with about the false-positive rate). */
  readonly unsafeMightContain: (item: string) => boolean
  /** How many times `unsafeAdd` ran (duplicates included; a merge adds both counts). */
  readonly unsafeInsertions: () => number
  /** How many bits are set. */
  readonly unsafeSetBits: () => number
  /** Distinct items added, estimated from the bits set: -(m / k) ln(1 - X / m). */
  readonly unsafeApproximateCount: () => number
  /** The current false-positive rate, (X / m)^k for X bits set; grows past the target when overfilled. */
  readonly unsafeFalsePositiveRate: () => number
}

/**
 * The options of a filter:
 *
 * | option | type | default | meaning |
 * | --- | --- | --- | --- |
 * | `expectedItems` | positive integer | (required) | n: how many distinct items it should hold at the target rate |
 * | `falsePositiveRate` | number in (0, 0.5) | (required) | p: the target false-positive rate at n items |
 * | `seed` | 32-bit unsigned integer | 0 | hash seed; independent filters for the same items |
 *
 * @since 0.1.0
 * @category options
 */
export const BloomFilterOptions = internal.BloomFilterOptions

/**
 * @since 0.1.0
 * @category options
 */
export type BloomFilterOptions = typeof BloomFilterOptions.Type

/**
 * @since 0.1.0
 * @category options
 */
export type BloomFilterOptionsInput = typeof BloomFilterOptions.Encoded

/**
 * Raised by `fromBytes` / `fromBase64` when the input is not a valid serialised filter (bad
 * magic, unknown version or hash scheme, impossible sizes, wrong length, checksum mismatch).
 *
 * @since 0.1.0
 * @category errors
 */
export const BloomFilterDecodeError = errors.BloomFilterDecodeError

/**
 * @since 0.1.0
 * @category errors
 */
export type BloomFilterDecodeError = errors.BloomFilterDecodeError

/**
 * Raised by `merge` when the filters differ in `bitCount`, `hashCount` or `seed` (`field` says
 * which; `left` and `right` carry the two values).
 *
 * @since 0.1.0
 * @category errors
 */
export const BloomFilterMismatch = errors.BloomFilterMismatch

/**
 * @since 0.1.0
 * @category errors
 */
export type BloomFilterMismatch = errors.BloomFilterMismatch

/**
 * The optimal size for n items at false-positive rate p: `bitCount` m = ⌈-n ln p / (ln 2)^2⌉
 * rounded up to a multiple of 8, `hashCount` k = round(m / n × ln 2).
 *
 * @since 0.1.0
 * @category constructors
 */
export const optimalSize: (
  expectedItems: number,
  falsePositiveRate: number
) => { readonly bitCount: number; readonly hashCount: number } = internal.optimalSize

const decode = decodeOptions("BloomFilter", BloomFilterOptions)

/**
 * An empty filter sized for the options. Fails with `InvalidOptions` naming the field on a
 * non-positive or fractional `expectedItems`, a rate outside (0, 0.5), or a filter over 512 MiB.
 *
 * @since 0.1.0
 * @category constructors
 * @example
 * import { BloomFilter } from "@rampart/cache"
 * import { Effect, type Pipeable } from "effect"
 *
 * const program = Effect.gen(function*() {
 *   const seen = yield* BloomFilter.make({ expectedItems: 1_000_000, falsePositiveRate: 0.01 })
 *   yield* BloomFilter.add(seen, "user:42")
 *   const maybe = yield* BloomFilter.mightContain(seen, "user:42") // true
 *   const encoded = BloomFilter.unsafeToBase64(seen)              // store it, e.g. in Redis
 *   const loaded = yield* BloomFilter.fromBase64(encoded)          // in another process
 *   return maybe && loaded.unsafeMightContain("user:42")
 * })
 */
export const make = (options: BloomFilterOptionsInput): Effect.Effect<BloomFilter, InvalidOptions> =>
  Effect.map(decode(options), internal.unsafeMake)

/**
 * @since 0.1.0
 * @category guards
 */
export const isBloomFilter: (u: unknown) => u is BloomFilter = internal.isBloomFilter

/**
 * Adds an item; succeeds with true when it set a new bit (the item was certainly not present).
 *
 * @since 0.1.0
 * @category combinators
 */
export const add: {
  (item: string): (self: BloomFilter) => Effect.Effect<boolean>
  (self: BloomFilter, item: string): Effect.Effect<boolean>
} = dual(2, (self: BloomFilter, item: string): Effect.Effect<boolean> => Effect.sync(() => self.unsafeAdd(item)))

/**
 * Adds every item.
 *
 * @since 0.1.0
 * @category combinators
 */
export const addAll: {
  (items: Iterable<string>): (self: BloomFilter) => Effect.Effect<void>
  (self: BloomFilter, items: Iterable<string>): Effect.Effect<void>
} = dual(2, (self: BloomFilter, items: Iterable<string>): Effect.Effect<void> =>
  Effect.sync(() => {
    for (const item of items) self.unsafeAdd(item)
  }))

/**
 * False when the item was never added; true when it probably was.
 *
 * @since 0.1.0
 * @category getters
 */
export const mightContain: {
  (item: string): (self: BloomFilter) => Effect.Effect<boolean>
  (self: BloomFilter, item: string): Effect.Effect<boolean>
} = dual(
  2,
  (self: BloomFilter, item: string): Effect.Effect<boolean> => Effect.sync(() => self.unsafeMightContain(item))
)

/**
 * The estimated number of distinct items added (from the bits set).
 *
 * @since 0.1.0
 * @category getters
 */
export const approximateCount = (self: BloomFilter): Effect.Effect<number> =>
  Effect.sync(() => self.unsafeApproximateCount())

/**
 * The current false-positive rate given the bits set.
 *
 * @since 0.1.0
 * @category getters
 */
export const falsePositiveRate = (self: BloomFilter): Effect.Effect<number> =>
  Effect.sync(() => self.unsafeFalsePositiveRate())

/**
 * A new filter holding the union of both (neither input changes): exactly the filter that adding
 * both filters' items would build. Fails with `BloomFilterMismatch` unless `bitCount`,
 * `hashCount` and `seed` agree.
 *
 * @since 0.1.0
 * @category combinators
 */
export const merge: {
  (that: BloomFilter): (self: BloomFilter) => Effect.Effect<BloomFilter, BloomFilterMismatch>
  (self: BloomFilter, that: BloomFilter): Effect.Effect<BloomFilter, BloomFilterMismatch>
} = internal.merge

/**
 * The serialised form: a 24-byte versioned header (magic "RBLF", version, hash scheme, k, m,
 * seed, insertions), the m / 8 bytes of bits, and a 4-byte MurmurHash3 checksum.
 *
 * @since 0.1.0
 * @category conversions
 */
export const unsafeToBytes: (self: BloomFilter) => Uint8Array = internal.unsafeToBytes

/**
 * @since 0.1.0
 * @category conversions
 */
export const toBytes = (self: BloomFilter): Effect.Effect<Uint8Array> => Effect.sync(() => internal.unsafeToBytes(self))

/**
 * Loads a filter from `toBytes` output (the bytes are copied). Fails with
 * `BloomFilterDecodeError` on anything else, including truncated or corrupted data.
 *
 * @since 0.1.0
 * @category conversions
 */
export const fromBytes: (bytes: Uint8Array) => Effect.Effect<BloomFilter, BloomFilterDecodeError> = internal.fromBytes

/**
 * The serialised form as standard base64 (for text stores such as Redis strings or JSON).
 *
 * @since 0.1.0
 * @category conversions
 */
export const unsafeToBase64: (self: BloomFilter) => string = internal.unsafeToBase64

/**
 * @since 0.1.0
 * @category conversions
 */
export const toBase64 = (self: BloomFilter): Effect.Effect<string> => Effect.sync(() => internal.unsafeToBase64(self))

/**
 * Loads a filter from `toBase64` output. Fails with `BloomFilterDecodeError` on invalid base64
 * or an invalid filter.
 *
 * @since 0.1.0
 * @category conversions
 */
export const fromBase64: (text: string) => Effect.Effect<BloomFilter, BloomFilterDecodeError> = internal.fromBase64
