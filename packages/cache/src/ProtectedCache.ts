/**
 * A cache-aside cache with every defence against the three classic cache failures, each one
 * switchable:
 *
 * - **penetration** (lookups of keys that do not exist reach the backend every time): a Bloom
 *   filter gate answers "absent" for keys it has never seen, and absent answers are cached with
 *   their own shorter TTL (negative caching);
 * - **breakdown** (a hot key expires and every caller hits the backend at once): concurrent misses
 *   of one key share one lookup (single-flight);
 * - **avalanche** (many keys written together expire together): TTLs are spread by jitter, and a
 *   hot key is refreshed in the background before it expires (probabilistic early refresh, XFetch),
 *   so callers keep getting the cached value and nobody waits.
 *
 * @since 0.1.0
 */
import type { Effect, Option, Scope } from "effect"
import type { InvalidOptions } from "@rampart/core/Options"
import type { BloomFilter } from "./BloomFilter.js"
import * as internal from "./internal/protectedCache.js"
import type { ProtectedCacheOptions } from "./internal/protectedCacheOptions.js"

/**
 * @since 0.1.0
 * @category symbols
 */
export const TypeId: unique symbol = internal.TypeId as never

/**
 * @since 0.1.0
 * @category symbols
 */
export type TypeId = typeof TypeId

/**
 * Counts of what happened to `get` calls since the cache was made.
 *
 * @since 0.1.0
 * @category models
 */
export interface ProtectedCacheStats {
  /** Served a cached value. */
  readonly hits: number
  /** Served a cached "absent". */
  readonly negativeHits: number
  /** Not cached (or expired) and let through to the lookup. */
  readonly misses: number
  /** Answered "absent" by the Bloom filter without a lookup. */
  readonly bloomRejections: number
  /** Lookups run (misses that ran one, and refreshes). */
  readonly loads: number
  /** Lookups that failed. */
  readonly loadFailures: number
  /** Misses that joined a lookup already running for the same key. */
  readonly coalesced: number
  /** Background refreshes started before expiry. */
  readonly earlyRefreshes: number
  /** Background refreshes that failed (the cached value stays until it expires). */
  readonly refreshFailures: number
}

/**
 * A protected cache of values `V` whose lookup fails with `E`.
 *
 * @since 0.1.0
 * @category models
 */
export interface ProtectedCache<in out V, out E> {
  readonly [TypeId]: TypeId
  readonly name: string
  /** The value for `key`, `None` when the backend says it does not exist. */
  readonly get: (key: string) => Effect.Effect<Option.Option<V>, E>
  /** Caches a value just written to the backend, and lets the key through the Bloom filter. */
  readonly set: (key: string, value: V) => Effect.Effect<void>
  /** Drops the cached answer for `key` (after the backend changed or deleted it). */
  readonly invalidate: (key: string) => Effect.Effect<void>
  readonly stats: Effect.Effect<ProtectedCacheStats>
}

/**
 * The options of a protected cache:
 *
 * | option | type | default | meaning |
 * | --- | --- | --- | --- |
 * | `name` | string | (required) | instance name for metrics |
 * | `lookup` | `(key) => Effect<Option<V>, E, R>` | (required) | reads the backend; `None` means the key does not exist |
 * | `ttl` | duration | (required) | how long a value is served |
 * | `ttlJitter` | ratio | `0.1` | each TTL is spread uniformly over ±this fraction |
 * | `negativeTtl` | duration or `false` | `ttl / 10` | how long "absent" is served; `false` turns negative caching off |
 * | `bloomFilter` | `BloomFilter` | none | keys the filter has never seen are answered "absent" without a lookup |
 * | `singleFlight` | boolean | `true` | concurrent misses of one key share one lookup |
 * | `earlyRefresh` | `{ beta }` or `false` | `{ beta: 1 }` | XFetch early refresh; a larger beta refreshes earlier |
 * | `maximumSize` | positive integer | `10000` | entries kept in the local cache |
 * | `policy` | `"wTinyLfu"`, `"lru"`, `"lfu"`, `"fifo"` | `"wTinyLfu"` | eviction policy of the local cache |
 *
 * @since 0.1.0
 * @category options
 */
export interface ProtectedCacheOptionsInput<V, E, R> extends
  Omit<typeof ProtectedCacheOptions.Encoded, "lookup" | "bloomFilter">
{
  readonly lookup: (key: string) => Effect.Effect<Option.Option<V>, E, R>
  readonly bloomFilter?: BloomFilter
}

/**
 * Makes a protected cache. The lookup's requirements `R` are captured here.
 *
 * @since 0.1.0
 * @category constructors
 * @example
 * import { Effect, Option } from "effect"
 * import { BloomFilter, ProtectedCache } from "@rampart/cache"
 *
 * const program = Effect.gen(function*() {
 *   const known = yield* BloomFilter.make({ expectedItems: 1_000_000, falsePositiveRate: 0.01 })
 *   yield* BloomFilter.addAll(known, yield* allProductIds)
 *   const products = yield* ProtectedCache.make({
 *     name: "products",
 *     ttl: "10 minutes",
 *     bloomFilter: known,
 *     lookup: (id) => findProduct(id) // Effect<Option<Product>, DbError>
 *   })
 *   return yield* ProtectedCache.get(products, "sku-42")
 * })
 */
export const make: <V, E = never, R = never>(
  options: ProtectedCacheOptionsInput<V, E, R>
) => Effect.Effect<ProtectedCache<V, E>, InvalidOptions, Scope.Scope | R> = internal.make

/**
 * Reads through the defences: cached value, cached absence, Bloom filter, then one shared lookup.
 *
 * @since 0.1.0
 * @category combinators
 */
export const get: {
  (key: string): <V, E>(self: ProtectedCache<V, E>) => Effect.Effect<Option.Option<V>, E>
  <V, E>(self: ProtectedCache<V, E>, key: string): Effect.Effect<Option.Option<V>, E>
} = internal.get

/**
 * Caches a value just written to the backend and adds its key to the Bloom filter.
 *
 * @since 0.1.0
 * @category combinators
 */
export const set: {
  <V>(key: string, value: V): <E>(self: ProtectedCache<V, E>) => Effect.Effect<void>
  <V, E>(self: ProtectedCache<V, E>, key: string, value: V): Effect.Effect<void>
} = internal.set

/**
 * Drops the cached answer for a key.
 *
 * @since 0.1.0
 * @category combinators
 */
export const invalidate: {
  (key: string): <V, E>(self: ProtectedCache<V, E>) => Effect.Effect<void>
  <V, E>(self: ProtectedCache<V, E>, key: string): Effect.Effect<void>
} = internal.invalidate

/**
 * @since 0.1.0
 * @category getters
 */
export const stats = <V, E>(self: ProtectedCache<V, E>): Effect.Effect<ProtectedCacheStats> => self.stats

/**
 * @since 0.1.0
 * @category guards
 */
export const isProtectedCache: (u: unknown) => u is ProtectedCache<unknown, unknown> = internal.isProtectedCache
