/**
 * An in-process cache bounded by entry count or weight, with W-TinyLFU (default), LRU, LFU or
 * FIFO eviction, expiry after write, after access or per entry (with TTL jitter), a removal
 * listener, statistics and Metrics, and a loading variant with single-flight loads,
 * refresh-after-write, stale-if-error and batched `getAll`.
 *
 * Everything rests on a synchronous core (`unsafeGet`, `unsafeSet`, ...) laid out like lru-cache:
 * a `Map` from key to slot and typed arrays for links, weights and deadlines, so a hit allocates
 * nothing and no entry owns an object or a timer. Expired entries are dropped when read and by a
 * timing wheel swept by the cache's one timer (following `TestClock`), which fires at the end of
 * the second of the next deadline, and a second after activity to flush the Metrics; an idle
 * cache arms no timer.
 *
 * @since 0.1.0
 */
import type { Config, ConfigError, Context, Duration, Effect, Layer, Option, Pipeable, Scope, Stream } from "effect"
import * as internal from "./internal/localCache.js"
import * as layers from "./internal/localCacheLayer.js"
import * as schemas from "./internal/localCacheOptions.js"
import type { InvalidOptions } from "@rampart/core/Options"

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
 * @since 0.1.0
 * @category symbols
 */
export const LoadingTypeId: unique symbol = internal.LoadingTypeId

/**
 * @since 0.1.0
 * @category symbols
 */
export type LoadingTypeId = typeof LoadingTypeId

/**
 * The eviction policy.
 *
 * - `wTinyLfu` (default): a small LRU window in front of a segmented LRU main space
 *   (probation/protected); an entry leaving the window enters the main space only if a
 *   count-min frequency sketch (with doorkeeper and periodic halving) says it is used more often
 *   than the main space's victim. The window size adapts by hill climbing (as in Caffeine).
 *   Resists scans and one-hit wonders; near-optimal on skewed workloads.
 * - `lru`: least recently used goes first (evicts exactly what lru-cache evicts).
 * - `lfu`: least frequently used goes first, least recent among equals.
 * - `fifo`: oldest write goes first; reads change nothing.
 *
 * @since 0.1.0
 * @category options
 */
export type Policy = "wTinyLfu" | "lru" | "lfu" | "fifo"

/**
 * Why an entry left the cache: it expired, was evicted to respect the size or weight bound, was
 * deleted (`invalidate`, `invalidateAll`), or its value was replaced by a `set`.
 *
 * @since 0.1.0
 * @category models
 */
export type RemovalCause = "Expired" | "Size" | "Explicit" | "Replaced"

/**
 * Counters since the cache was made.
 *
 * @since 0.1.0
 * @category models
 */
export interface CacheStats {
  readonly hits: number
  readonly misses: number
  /** hits / (hits + misses); 1 before any read. */
  readonly hitRate: number
  readonly loadSuccesses: number
  readonly loadFailures: number
  readonly totalLoadTimeMillis: number
  readonly evictions: { readonly [Cause in RemovalCause]: number }
  /** Entries held, including expired ones not yet swept. */
  readonly size: number
  /** Total weight held (the entry count without a weigher). */
  readonly weight: number
}

/**
 * An entry left the cache.
 *
 * @since 0.1.0
 * @category events
 */
export interface Evicted<K> {
  readonly _tag: "Evicted"
  readonly name: string
  /** Milliseconds since the epoch, from the cache's clock. */
  readonly timestamp: number
  readonly key: K
  readonly cause: RemovalCause
}

/**
 * A lookup (or one batched `lookupAll`) produced values.
 *
 * @since 0.1.0
 * @category events
 */
export interface Loaded<K> {
  readonly _tag: "Loaded"
  readonly name: string
  readonly timestamp: number
  readonly keys: ReadonlyArray<K>
  readonly durationMillis: number
}

/**
 * A lookup (or one batched `lookupAll`) failed.
 *
 * @since 0.1.0
 * @category events
 */
export interface LoadFailed<K> {
  readonly _tag: "LoadFailed"
  readonly name: string
  readonly timestamp: number
  readonly keys: ReadonlyArray<K>
  readonly durationMillis: number
}

/**
 * @since 0.1.0
 * @category events
 */
export type CacheEvent<K> = Evicted<K> | Loaded<K> | LoadFailed<K>

/**
 * A local cache. The `unsafe*` members are the synchronous core: no Effect, no allocation on a
 * hit. Values must not be `undefined` (it means "absent").
 *
 * @since 0.1.0
 * @category models
 */
export interface LocalCache<in out K, in out V> extends Pipeable.Pipeable {
  readonly [TypeId]: TypeId
  readonly name: string
  /** The fresh value of `key`; counts a hit or a miss and updates recency/frequency. */
  readonly unsafeGet: (key: K) => V | undefined
  /** The fresh value of `key`, without statistics or policy update. */
  readonly unsafePeek: (key: K) => V | undefined
  readonly unsafeHas: (key: K) => boolean
  /** Inserts or replaces; `ttlMillis` overrides expireAfterWrite for this entry (jittered too). */
  readonly unsafeSet: (key: K, value: V, ttlMillis?: number) => void
  /** Removes the entry (cause `Explicit`); false when there was no fresh entry. */
  readonly unsafeDelete: (key: K) => boolean
  /** Removes every entry (cause `Explicit`). */
  readonly unsafeClear: () => void
  readonly unsafeSize: () => number
  readonly unsafeStats: () => CacheStats
  /** Evictions and loads, as they happen (only built while someone listens). */
  readonly events: Stream.Stream<CacheEvent<K>>
}

/**
 * A cache that loads missing values itself with the `lookup` given at make.
 *
 * @since 0.1.0
 * @category models
 */
export interface LoadingCache<in out K, in out V, out E = never> extends LocalCache<K, V> {
  readonly [LoadingTypeId]: LoadingTypeId
  /**
   * The value of `key`, loaded on a miss (concurrent misses of one key share one lookup). With
   * refreshAfterWrite, an older value is served while one background reload runs.
   */
  readonly get: (key: K) => Effect.Effect<V, E>
  /** The values of `keys` (absent from the map when the lookup has none): missing keys are loaded
   * in one `lookupAll` call when given, otherwise one single-flight lookup each. */
  readonly getAll: (keys: Iterable<K>) => Effect.Effect<ReadonlyMap<K, V>, E>
  /** Reloads `key` now and returns the new value. */
  readonly refresh: (key: K) => Effect.Effect<V, E>
}

/**
 * The options of `make`, as a Schema (functions are declared fields).
 *
 * - `name` (required): labels metrics and events.
 * - `policy`: `"wTinyLfu"` (default), `"lru"`, `"lfu"`, `"fifo"`.
 * - `maximumSize` or `maximumWeight` + `weigher`: exactly one bound.
 * - `expireAfterWrite`, `expireAfterAccess`: durations (none by default).
 * - `ttlJitter`: spread of write TTLs, ±ratio (default 0.1).
 * - `onRemoval(key, value, cause)`: called once per entry that leaves, synchronously; it must not
 *   modify the cache.
 *
 * @since 0.1.0
 * @category options
 */
export const LocalCacheOptions = schemas.LocalCacheOptions

/**
 * `LocalCacheOptions` plus `lookup` (required), `lookupAll`, `refreshAfterWrite` (serve the value
 * while one background reload runs once it is that old) and `staleIfError` (how long past its
 * expiry an entry's last value may still be served when its reload fails).
 *
 * @since 0.1.0
 * @category options
 */
export const LoadingCacheOptions = schemas.LoadingCacheOptions

type DataFields<T> = Omit<T, "weigher" | "onRemoval" | "lookup" | "lookupAll">

/**
 * What `make` accepts: durations as `Duration`, milliseconds or strings like `"5 minutes"`.
 *
 * @since 0.1.0
 * @category options
 */
export type LocalCacheOptionsInput<K, V> = DataFields<typeof LocalCacheOptions.Encoded> & {
  readonly weigher?: (key: K, value: V) => number
  readonly onRemoval?: (key: K, value: V, cause: RemovalCause) => void
}

/**
 * What `makeLoading` accepts.
 *
 * @since 0.1.0
 * @category options
 */
export type LoadingCacheOptionsInput<K, V, E, R> = DataFields<typeof LoadingCacheOptions.Encoded> & {
  readonly weigher?: (key: K, value: V) => number
  readonly onRemoval?: (key: K, value: V, cause: RemovalCause) => void
  readonly lookup: (key: K) => Effect.Effect<V, E, R>
  readonly lookupAll?: (keys: ReadonlyArray<K>) => Effect.Effect<ReadonlyMap<K, V>, E, R>
}

/**
 * The options `layerConfig` reads from `Config` (durations as strings like "5 minutes").
 *
 * @since 0.1.0
 * @category options
 */
export interface LocalCacheConfig {
  readonly name: string
  readonly policy?: Policy
  readonly maximumSize?: number
  readonly maximumWeight?: number
  readonly expireAfterWrite?: string
  readonly expireAfterAccess?: string
  readonly ttlJitter?: number
  readonly refreshAfterWrite?: string
  readonly staleIfError?: string
}

/**
 * What `update` accepts: new limits for a live cache. `policy` may only repeat the current policy,
 * and a cache keeps the kind of bound it was made with (`maximumSize`, or `maximumWeight`).
 *
 * @since 0.1.0
 * @category options
 */
export type LocalCacheUpdate = Partial<
  Pick<
    typeof LocalCacheOptions.Encoded,
    "maximumSize" | "maximumWeight" | "expireAfterWrite" | "expireAfterAccess" | "ttlJitter" | "policy"
  >
>

/**
 * Per-entry options of `set`.
 *
 * @since 0.1.0
 * @category options
 */
export interface SetOptions {
  /** Overrides expireAfterWrite for this entry (jittered by ttlJitter). */
  readonly ttl?: Duration.DurationInput
}

/**
 * Makes a cache; its sweep timer stops when the scope closes. Bad options fail with
 * `InvalidOptions` naming the field.
 *
 * @since 0.1.0
 * @category constructors
 * @example
 * import { Effect } from "effect"
 * import { LocalCache } from "@rampart/cache"
 *
 * const program = Effect.gen(function*() {
 *   const cache = yield* LocalCache.make<string, User>({
 *     name: "users", maximumSize: 10_000, expireAfterWrite: "5 minutes"
 *   })
 *   yield* LocalCache.set(cache, "u1", user)
 *   const hit = yield* LocalCache.getOption(cache, "u1") // Option.some(user)
 *   const loaded = yield* LocalCache.getOrLoad(cache, "u2", fetchUser) // one fetch per key at a time
 * }).pipe(Effect.scoped)
 */
export const make: <K, V>(
  options: LocalCacheOptionsInput<K, V>
) => Effect.Effect<LocalCache<K, V>, InvalidOptions, Scope.Scope> = internal.make

/**
 * Makes a loading cache: `get` loads a missing key with `lookup` (the lookup's context `R` is
 * captured here).
 *
 * @since 0.1.0
 * @category constructors
 * @example
 * const users = yield* LocalCache.makeLoading({
 *   name: "users",
 *   maximumSize: 10_000,
 *   expireAfterWrite: "10 minutes",
 *   refreshAfterWrite: "1 minute",
 *   staleIfError: "30 minutes",
 *   lookup: (id: string) => fetchUser(id),
 *   lookupAll: (ids) => fetchUsers(ids) // Effect<ReadonlyMap<string, User>, FetchError>
 * })
 * const user = yield* LocalCache.get(users, "u1")
 */
export const makeLoading: <K, V, E = never, R = never>(
  options: LoadingCacheOptionsInput<K, V, E, R>
) => Effect.Effect<LoadingCache<K, V, E>, InvalidOptions, Scope.Scope | R> = internal.makeLoading

/**
 * @since 0.1.0
 * @category guards
 */
export const isLocalCache: (u: unknown) => u is LocalCache<unknown, unknown> = internal.isLocalCache

/**
 * @since 0.1.0
 * @category guards
 */
export const isLoadingCache: (u: unknown) => u is LoadingCache<unknown, unknown, unknown> = internal.isLoadingCache

/**
 * The fresh value of `key`, if any (counts a hit or a miss).
 *
 * @since 0.1.0
 * @category getters
 */
export const getOption: {
  <K>(key: K): <V>(cache: LocalCache<K, V>) => Effect.Effect<Option.Option<V>>
  <K, V>(cache: LocalCache<K, V>, key: K): Effect.Effect<Option.Option<V>>
} = internal.getOption

/**
 * Inserts or replaces a value (the old one leaves with cause `Replaced`); `ttl` gives this entry
 * its own time to live.
 *
 * @since 0.1.0
 * @category combinators
 * @example
 * yield* LocalCache.set(cache, "session:1", session, { ttl: "30 minutes" })
 */
export const set: {
  <K, V>(key: K, value: V, options?: SetOptions): (cache: LocalCache<K, V>) => Effect.Effect<void>
  <K, V>(cache: LocalCache<K, V>, key: K, value: V, options?: SetOptions): Effect.Effect<void>
} = internal.set

/**
 * Removes `key` (cause `Explicit`); true when a fresh entry was removed.
 *
 * @since 0.1.0
 * @category combinators
 */
export const invalidate: {
  <K>(key: K): <V>(cache: LocalCache<K, V>) => Effect.Effect<boolean>
  <K, V>(cache: LocalCache<K, V>, key: K): Effect.Effect<boolean>
} = internal.invalidate

/**
 * Removes every entry (cause `Explicit`).
 *
 * @since 0.1.0
 * @category combinators
 */
export const invalidateAll: <K, V>(cache: LocalCache<K, V>) => Effect.Effect<void> = internal.invalidateAll

/**
 * Reconfigures a live cache without recreating it or dropping entries: the patch is merged onto
 * the current options and validated with the same schema as `make` (a bad value fails with
 * `InvalidOptions` naming the field, and the cache is left unchanged).
 *
 * - `maximumSize` / `maximumWeight`: a smaller bound evicts at once (cause `Size`, in the policy's
 *   own victim order); W-TinyLFU's window and protected segment are rescaled with it (the
 *   frequency sketch keeps its size).
 * - `expireAfterWrite`, `ttlJitter`: apply to writes after the update; `expireAfterAccess` to
 *   reads and writes after it. Present entries keep their deadlines until then.
 * - Switching `policy`, or between `maximumSize` and `maximumWeight`, is refused with
 *   `InvalidOptions` (make a new cache); so is any other field.
 *
 * @since 0.1.0
 * @category combinators
 * @example
 * import { Effect } from "effect"
 * import { LocalCache } from "@rampart/cache"
 *
 * const program = Effect.gen(function*() {
 *   const cache = yield* LocalCache.make<string, number>({ name: "prices", maximumSize: 10_000 })
 *   // Under memory pressure: halve the cache (evicts 5,000 entries now if full) and shorten TTLs.
 *   yield* LocalCache.update(cache, { maximumSize: 5_000, expireAfterWrite: "1 minute" })
 * }).pipe(Effect.scoped)
 */
export const update: {
  (patch: LocalCacheUpdate): <K, V>(cache: LocalCache<K, V>) => Effect.Effect<void, InvalidOptions>
  <K, V>(cache: LocalCache<K, V>, patch: LocalCacheUpdate): Effect.Effect<void, InvalidOptions>
} = internal.update

/**
 * Entries held (expired ones not yet swept included).
 *
 * @since 0.1.0
 * @category getters
 */
export const size: <K, V>(cache: LocalCache<K, V>) => Effect.Effect<number> = internal.size

/**
 * Hits, misses, loads and evictions by cause so far; also flushes the counters to the Metrics.
 *
 * @since 0.1.0
 * @category getters
 */
export const stats: <K, V>(cache: LocalCache<K, V>) => Effect.Effect<CacheStats> = internal.stats

/**
 * The value of `key`, or the result of `lookup(key)` stored in the cache. Concurrent misses of
 * one key run one lookup and share its outcome. Hoist `lookup` (one function per call site) to
 * keep the hit path allocation-free.
 *
 * @since 0.1.0
 * @category combinators
 * @example
 * const fetchUser = (id: string) => Effect.tryPromise(() => db.user(id))
 * const user = yield* LocalCache.getOrLoad(cache, "u1", fetchUser)
 */
export const getOrLoad: {
  <K, V, E, R>(key: NoInfer<K>, lookup: (key: K) => Effect.Effect<V, E, R>): (cache: LocalCache<K, V>) => Effect.Effect<V, E, R>
  <K, V, E, R>(cache: LocalCache<K, V>, key: K, lookup: (key: K) => Effect.Effect<V, E, R>): Effect.Effect<V, E, R>
} = internal.getOrLoad

/**
 * `cache.get(key)` of a loading cache.
 *
 * @since 0.1.0
 * @category combinators
 */
export const get: {
  <K>(key: K): <V, E>(cache: LoadingCache<K, V, E>) => Effect.Effect<V, E>
  <K, V, E>(cache: LoadingCache<K, V, E>, key: K): Effect.Effect<V, E>
} = internal.get

/**
 * `cache.getAll(keys)` of a loading cache: one batched `lookupAll` for the missing keys.
 *
 * @since 0.1.0
 * @category combinators
 */
export const getAll: {
  <K>(keys: Iterable<K>): <V, E>(cache: LoadingCache<K, V, E>) => Effect.Effect<ReadonlyMap<K, V>, E>
  <K, V, E>(cache: LoadingCache<K, V, E>, keys: Iterable<K>): Effect.Effect<ReadonlyMap<K, V>, E>
} = internal.getAll

/**
 * `cache.refresh(key)` of a loading cache: reloads now (joining a reload in flight).
 *
 * @since 0.1.0
 * @category combinators
 */
export const refresh: {
  <K>(key: K): <V, E>(cache: LoadingCache<K, V, E>) => Effect.Effect<V, E>
  <K, V, E>(cache: LoadingCache<K, V, E>, key: K): Effect.Effect<V, E>
} = internal.refresh

/**
 * A typed service tag for a cache: `class UserCache extends LocalCache.Tag("app/UserCache")<UserCache, string, User>() {}`.
 *
 * @since 0.1.0
 * @category constructors
 * @example
 * class UserCache extends LocalCache.Tag("app/UserCache")<UserCache, string, User>() {}
 * const UserCacheLive = LocalCache.layer(UserCache, { name: "users", maximumSize: 10_000 })
 * const program = Effect.gen(function*() {
 *   const cache = yield* UserCache
 *   return cache.unsafeGet("u1")
 * }).pipe(Effect.provide(UserCacheLive))
 */
export const Tag: <const Id extends string>(
  id: Id
) => <Self, K, V>() => Context.TagClass<Self, Id, LocalCache<K, V>> = layers.Tag

/**
 * A typed service tag for a loading cache.
 *
 * @since 0.1.0
 * @category constructors
 */
export const LoadingTag: <const Id extends string>(
  id: Id
) => <Self, K, V, E = never>() => Context.TagClass<Self, Id, LoadingCache<K, V, E>> = layers.LoadingTag

/**
 * A scoped layer providing a cache under `tag`.
 *
 * @since 0.1.0
 * @category constructors
 */
export const layer: <Self, K, V>(
  tag: Context.Tag<Self, LocalCache<K, V>>,
  options: LocalCacheOptionsInput<K, V>
) => Layer.Layer<Self, InvalidOptions> = layers.layer

/**
 * A scoped layer providing a loading cache under `tag`; the lookup's context is required by the layer.
 *
 * @since 0.1.0
 * @category constructors
 */
export const layerLoading: <Self, K, V, E, R>(
  tag: Context.Tag<Self, LoadingCache<K, V, E>>,
  options: LoadingCacheOptionsInput<K, V, E, R>
) => Layer.Layer<Self, InvalidOptions, R> = layers.layerLoading

/**
 * Reads `LocalCacheConfig` from the `ConfigProvider`: keys `name`, `policy`, `maximumSize`,
 * `maximumWeight`, `expireAfterWrite`, `expireAfterAccess`, `ttlJitter`, `refreshAfterWrite`,
 * `staleIfError` (nest it with `Config.nested(LocalCache.config, "USERS_CACHE")`).
 *
 * @since 0.1.0
 * @category options
 */
export const config: Config.Config<LocalCacheConfig> = layers.config

/**
 * A scoped layer whose options come from `Config` (`LocalCache.config` unless given); functions
 * (weigher, listener) are passed in code.
 *
 * @since 0.1.0
 * @category constructors
 * @example
 * const UserCacheLive = LocalCache.layerConfig(UserCache, {
 *   config: Config.nested(LocalCache.config, "USERS_CACHE") // USERS_CACHE_MAXIMUMSIZE=10000 ...
 * })
 */
export const layerConfig: <Self, K, V>(
  tag: Context.Tag<Self, LocalCache<K, V>>,
  options?: {
    readonly config?: Config.Config<LocalCacheConfig>
    readonly weigher?: (key: K, value: V) => number
    readonly onRemoval?: (key: K, value: V, cause: RemovalCause) => void
  }
) => Layer.Layer<Self, InvalidOptions | ConfigError.ConfigError> = layers.layerConfig

/**
 * A scoped layer of a loading cache whose options come from `Config`; `lookup` and the other
 * functions are passed in code.
 *
 * @since 0.1.0
 * @category constructors
 */
export const layerLoadingConfig: <Self, K, V, E, R>(
  tag: Context.Tag<Self, LoadingCache<K, V, E>>,
  options: {
    readonly config?: Config.Config<LocalCacheConfig>
    readonly lookup: (key: K) => Effect.Effect<V, E, R>
    readonly lookupAll?: (keys: ReadonlyArray<K>) => Effect.Effect<ReadonlyMap<K, V>, E, R>
    readonly weigher?: (key: K, value: V) => number
    readonly onRemoval?: (key: K, value: V, cause: RemovalCause) => void
  }
) => Layer.Layer<Self, InvalidOptions | ConfigError.ConfigError, R> = layers.layerLoadingConfig
