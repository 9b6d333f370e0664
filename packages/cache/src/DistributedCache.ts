/**
 * A cache shared by many processes: keys are partitioned across store nodes (a hash ring by
 * default, so adding or removing one of n nodes moves only about 1/n of the keys), and each
 * instance keeps a near cache (a `LocalCache`) in front of the remote store.
 *
 * Coherence: every write or delete through any instance publishes an invalidation on the owning
 * node's channel, and every instance drops the key from its near cache when it arrives. A value
 * read remotely is kept in the near cache only if no invalidation of its key, no connection change
 * and no membership change happened while the read was in flight, so a stale value can never be
 * written into the near cache after its invalidation. When a node's connection drops (its
 * invalidations may be lost) the near cache is flushed.
 *
 * Cache-aside: on a membership change keys are not migrated; a key whose owner changed reads as
 * absent from its new owner and is loaded again from the source (`getOrLoad`).
 *
 * @since 0.1.0
 */
import type { Effect, Option, Schema, Scope, Stream } from "effect"
import type * as Partitioner from "@rampart/balancing/Partitioner"
import type { InvalidOptions } from "@rampart/core/Options"
import type { CacheStore, CacheStoreError, Service as CacheStoreService } from "./CacheStore.js"
import * as internal from "./internal/distributedCache.js"
import * as errors from "./internal/distributedCacheError.js"
import * as schemas from "./internal/distributedCacheOptions.js"
import type { LocalCache } from "./LocalCache.js"

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
 * A stored value could not be decoded (or a value could not be encoded): `operation` says which.
 *
 * @since 0.1.0
 * @category errors
 */
export const CacheValueError: typeof errors.CacheValueError = errors.CacheValueError

/**
 * @since 0.1.0
 * @category errors
 */
export type CacheValueError = errors.CacheValueError

/**
 * What the read and write operations can fail with.
 *
 * @since 0.1.0
 * @category errors
 */
export type DistributedCacheError = CacheStoreError | CacheValueError

/**
 * How values are turned into the strings a store holds, and back.
 *
 * @since 0.1.0
 * @category models
 */
export type ValueCodec<V> = schemas.ValueCodec<V>

/**
 * Plain JSON (the default): the decoded value is trusted to be a `V`.
 *
 * @since 0.1.0
 * @category constructors
 */
export const jsonCodec: <V = unknown>() => ValueCodec<V> = schemas.jsonCodec

/**
 * JSON checked by a Schema both ways: a stored value that does not match the schema fails with
 * `CacheValueError` (and `getOrLoad` loads it again).
 *
 * @since 0.1.0
 * @category constructors
 * @example
 * import { Schema } from "effect"
 * import { DistributedCache } from "@rampart/cache"
 *
 * const User = Schema.Struct({ id: Schema.String, name: Schema.String })
 * const users = DistributedCache.make({ name: "users", codec: DistributedCache.schemaCodec(User) })
 */
export const schemaCodec: <A, I>(schema: Schema.Schema<A, I>) => ValueCodec<A> = schemas.schemaCodec

/**
 * A node of the partition: its id, its URL when the store must open a connection to it (Redis),
 * and its weight (default 1).
 *
 * @since 0.1.0
 * @category options
 */
export interface CacheNodeInput {
  readonly id: string
  readonly url?: string | undefined
  readonly weight?: number | undefined
}

/**
 * The options of a distributed cache; see docs/DistributedCache.md for the table.
 *
 * - `name` (required): also the invalidation channel (`rampart:cache:invalidate:<name>`).
 * - `nodes`: the partition's nodes (default: every node of the store).
 * - `partitioner`: `"hashRing"` (default), `"rendezvous"`, `"jumpHash"` or `"maglev"`, or that
 *   algorithm's options without `nodes` (`{ algorithm: "hashRing", virtualNodes: 500 }`).
 * - `nearCache`: `false`, or `{ maximumSize (default 10 000), ttl (default: the cache's ttl),
 *   policy (the LocalCache eviction policy, default "wTinyLfu") }`.
 * - `ttl`: how long the store keeps an entry (default: no expiry).
 * - `keyPrefix`: prepended to every store key (default `rampart:cache:<name>:`).
 * - `codec`: `jsonCodec()` (default) or `schemaCodec(schema)`.
 *
 * @since 0.1.0
 * @category options
 */
export const DistributedCacheOptions = schemas.DistributedCacheOptions

/**
 * The decoded options.
 *
 * @since 0.1.0
 * @category options
 */
export type DistributedCacheOptions = typeof DistributedCacheOptions.Type

/**
 * What `make` accepts, with the codec typed by the cache's value type.
 *
 * @since 0.1.0
 * @category options
 */
export type DistributedCacheOptionsInput<V> = Omit<typeof DistributedCacheOptions.Encoded, "codec" | "partitioner"> & {
  readonly partitioner?: PartitionerSettings | undefined
  readonly codec?: ValueCodec<V> | undefined
}

/**
 * Partitioner options without `nodes`: an algorithm name, or the full options of one algorithm
 * (e.g. `{ algorithm: "hashRing", virtualNodes: 500 }`).
 *
 * @since 0.1.0
 * @category options
 */
export type PartitionerSettings =
  | Partitioner.PartitionerOptionsInput["algorithm"]
  | (Partitioner.PartitionerOptionsInput extends infer O ? O extends unknown ? Omit<O, "nodes"> : never : never)

/**
 * What `update` accepts: a new `ttl` for the writes made from now on (entries already written keep
 * theirs).
 *
 * @since 0.1.0
 * @category options
 */
export type DistributedCacheUpdate = typeof schemas.DistributedCacheUpdate.Encoded

/**
 * Counters of one instance since it was made.
 *
 * @since 0.1.0
 * @category models
 */
export interface DistributedCacheStats {
  readonly nearHits: number
  readonly nearMisses: number
  /** Keys read from the store. */
  readonly remoteGets: number
  /** Keys read from the store and found there. */
  readonly remoteHits: number
  /** Remote reads kept in the near cache. */
  readonly nearFills: number
  /** Remote reads not kept because the key was invalidated (or a connection changed) meanwhile. */
  readonly nearFillsSkipped: number
  /** Keys this instance invalidated on other instances (writes and deletes). */
  readonly invalidationsSent: number
  /** Keys other instances invalidated here. */
  readonly invalidationsReceived: number
  readonly nearFlushes: number
  readonly storeErrors: number
}

/**
 * Another instance changed keys; they were dropped from the near cache.
 *
 * @since 0.1.0
 * @category events
 */
export interface InvalidationReceived {
  readonly _tag: "InvalidationReceived"
  readonly name: string
  readonly timestamp: number
  readonly node: string
  /** The instance id of the writer. */
  readonly origin: string
  readonly keys: number
}

/**
 * The near cache was emptied: a node's connection dropped, the membership changed, or by hand.
 *
 * @since 0.1.0
 * @category events
 */
export interface NearCacheFlushed {
  readonly _tag: "NearCacheFlushed"
  readonly name: string
  readonly timestamp: number
  readonly reason: "Disconnected" | "MembershipChanged" | "Manual"
  readonly node: string | undefined
  /** Entries dropped. */
  readonly entries: number
}

/**
 * A store node went down (`connected: false`) or came back.
 *
 * @since 0.1.0
 * @category events
 */
export interface NodeConnectionChanged {
  readonly _tag: "NodeConnectionChanged"
  readonly name: string
  readonly timestamp: number
  readonly node: string
  readonly connected: boolean
}

/**
 * A node was added to or removed from the partition.
 *
 * @since 0.1.0
 * @category events
 */
export interface MembershipChanged {
  readonly _tag: "MembershipChanged"
  readonly name: string
  readonly timestamp: number
  readonly change: "Added" | "Removed"
  readonly node: string
  /** The node ids after the change. */
  readonly nodes: ReadonlyArray<string>
}

/**
 * @since 0.1.0
 * @category events
 */
export type DistributedCacheEvent = InvalidationReceived | NearCacheFlushed | NodeConnectionChanged | MembershipChanged

/**
 * One instance of a distributed cache.
 *
 * @since 0.1.0
 * @category models
 */
export interface DistributedCache<V> {
  readonly [TypeId]: TypeId
  readonly name: string
  /** Unique per instance (`<name>#<random hex>`): invalidations carry it, so an instance skips its own. */
  readonly instanceId: string
  /** The store this instance talks to. */
  readonly store: CacheStoreService
  /** The near cache, or undefined when it is off. */
  readonly nearCache: LocalCache<string, V> | undefined
  readonly events: Stream.Stream<DistributedCacheEvent>
  readonly stats: Effect.Effect<DistributedCacheStats>
  readonly unsafeStats: () => DistributedCacheStats
  /** The node that owns `key` now (undefined with no nodes). */
  readonly unsafeOwner: (key: string) => string | undefined
  /** The current partitioner (an immutable value; membership changes replace it). */
  readonly unsafePartitioner: () => Partitioner.Partitioner
}

/**
 * @since 0.1.0
 * @category guards
 */
export const isDistributedCache: (u: unknown) => u is DistributedCache<unknown> = internal.isDistributedCache

/**
 * Makes an instance: builds the partition (adding to the store any node it does not know yet),
 * the near cache, and subscribes to the cache's invalidations until the scope closes.
 *
 * @since 0.1.0
 * @category constructors
 * @example
 * import { Effect, Schema } from "effect"
 * import { CacheStore, DistributedCache } from "@rampart/cache"
 *
 * const User = Schema.Struct({ id: Schema.String, name: Schema.String })
 *
 * const program = Effect.gen(function*() {
 *   const users = yield* DistributedCache.make({
 *     name: "users",
 *     ttl: "10 minutes",
 *     nearCache: { maximumSize: 50_000, ttl: "30 seconds" },
 *     codec: DistributedCache.schemaCodec(User)
 *   })
 *   const ada = yield* DistributedCache.getOrLoad(users, "u1", Effect.succeed({ id: "u1", name: "Ada" }))
 * }).pipe(Effect.scoped, Effect.provide(CacheStore.layerMemory({ nodes: ["a", "b", "c"] })))
 */
export const make: <V = unknown>(
  options: DistributedCacheOptionsInput<V>
) => Effect.Effect<DistributedCache<V>, InvalidOptions | CacheStoreError, Scope.Scope | CacheStore> = internal.make

/**
 * Reads a key: from the near cache when it holds it, otherwise from the owning node (one GET).
 *
 * @since 0.1.0
 * @category combinators
 */
export const get: {
  (key: string): <V>(cache: DistributedCache<V>) => Effect.Effect<Option.Option<V>, DistributedCacheError>
  <V>(cache: DistributedCache<V>, key: string): Effect.Effect<Option.Option<V>, DistributedCacheError>
} = internal.get

/**
 * Reads a key through the cache's request resolver: under `Effect.forEach(..., { batching: true })`
 * (or any batched composition) the remote reads of one node become one MGET.
 *
 * @since 0.1.0
 * @category combinators
 * @example
 * const values = yield* Effect.forEach(ids, (id) => DistributedCache.getBatched(users, id), { batching: true })
 */
export const getBatched: {
  (key: string): <V>(cache: DistributedCache<V>) => Effect.Effect<Option.Option<V>, DistributedCacheError>
  <V>(cache: DistributedCache<V>, key: string): Effect.Effect<Option.Option<V>, DistributedCacheError>
} = internal.getBatched

/**
 * Reads many keys, in order: near hits first, then one MGET per node for the rest, all nodes in
 * parallel.
 *
 * @since 0.1.0
 * @category combinators
 */
export const getMany: {
  (keys: Iterable<string>): <V>(cache: DistributedCache<V>) => Effect.Effect<Array<Option.Option<V>>, DistributedCacheError>
  <V>(cache: DistributedCache<V>, keys: Iterable<string>): Effect.Effect<Array<Option.Option<V>>, DistributedCacheError>
} = internal.getMany

/**
 * Writes a key to its owner (with the cache's TTL) and invalidates it on every other instance,
 * in one round trip; this instance's near cache keeps the new value.
 *
 * @since 0.1.0
 * @category combinators
 */
export const set: {
  <V>(key: string, value: V): (cache: DistributedCache<V>) => Effect.Effect<void, DistributedCacheError>
  <V>(cache: DistributedCache<V>, key: string, value: V): Effect.Effect<void, DistributedCacheError>
} = internal.set

/**
 * Deletes a key from its owner and from every instance's near cache.
 *
 * @since 0.1.0
 * @category combinators
 */
export const invalidate: {
  (key: string): <V>(cache: DistributedCache<V>) => Effect.Effect<void, CacheStoreError>
  <V>(cache: DistributedCache<V>, key: string): Effect.Effect<void, CacheStoreError>
} = internal.invalidate

/**
 * Cache-aside: the cached value, or `lookup`'s result, which is then written to the cache. A
 * store or decoding failure counts as a miss (the source answers instead), and a failed write
 * after the lookup is ignored: the cache never makes a read fail that the source could answer.
 *
 * @since 0.1.0
 * @category combinators
 */
export const getOrLoad: {
  <V, E, R>(key: string, lookup: Effect.Effect<V, E, R>): (cache: DistributedCache<V>) => Effect.Effect<V, E, R>
  <V, E, R>(cache: DistributedCache<V>, key: string, lookup: Effect.Effect<V, E, R>): Effect.Effect<V, E, R>
} = internal.getOrLoad

/**
 * Adds a node to the partition (opening store connections to it if the store does not know it).
 * About 1/n of the keys change owner; they are not migrated: they read as absent from their new
 * owner until loaded again. The near cache is flushed. Adding an id already in the partition
 * does nothing.
 *
 * @since 0.1.0
 * @category combinators
 */
export const addNode: {
  (node: CacheNodeInput): <V>(cache: DistributedCache<V>) => Effect.Effect<void, CacheStoreError | InvalidOptions>
  <V>(cache: DistributedCache<V>, node: CacheNodeInput): Effect.Effect<void, CacheStoreError | InvalidOptions>
} = internal.addNode

/**
 * Removes a node from the partition (its keys move to the remaining nodes, about 1/n of all; the
 * store keeps its connection). Removing the last node fails with `InvalidOptions`; removing an id
 * that is not in the partition does nothing. The near cache is flushed.
 *
 * @since 0.1.0
 * @category combinators
 */
export const removeNode: {
  (nodeId: string): <V>(cache: DistributedCache<V>) => Effect.Effect<void, InvalidOptions>
  <V>(cache: DistributedCache<V>, nodeId: string): Effect.Effect<void, InvalidOptions>
} = internal.removeNode

/**
 * Changes the ttl of the writes made from now on, without recreating the instance. A bad value
 * fails with `InvalidOptions` naming the field.
 *
 * @since 0.1.0
 * @category combinators
 */
export const update: {
  (options: DistributedCacheUpdate): <V>(cache: DistributedCache<V>) => Effect.Effect<void, InvalidOptions>
  <V>(cache: DistributedCache<V>, options: DistributedCacheUpdate): Effect.Effect<void, InvalidOptions>
} = internal.update

/**
 * Empties this instance's near cache.
 *
 * @since 0.1.0
 * @category combinators
 */
export const flushNearCache: <V>(cache: DistributedCache<V>) => Effect.Effect<void> = internal.flushNearCache
