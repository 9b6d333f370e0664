/**
 * The remote side of a `DistributedCache`: a set of named nodes (shards) that hold serialised
 * values, plus the invalidation channel that tells every cache instance when another instance
 * changed a key, and a connection signal so near caches can drop what they can no longer trust.
 *
 * Two backends: `layerMemory` (in-process nodes, one `Map` each and an in-process bus; for tests
 * and `npm start`, and able to take a node down) and `layerRedis` (one ioredis connection per
 * node for commands, one more per node for pub/sub).
 *
 * @since 0.1.0
 */
import { type Effect, Layer, type Schema, type Scope } from "effect"
import type { InvalidOptions } from "@rampart/core/Options"
import * as internal from "./internal/cacheStore.js"
import * as memory from "./internal/cacheStoreMemory.js"
import * as redis from "./internal/cacheStoreRedis.js"

/**
 * Raised when a store node could not answer: unknown node, node down or disconnected, or a server
 * error. `node` and `operation` say which shard and which call.
 *
 * @since 0.1.0
 * @category errors
 */
export const CacheStoreError: typeof internal.CacheStoreError = internal.CacheStoreError

/**
 * @since 0.1.0
 * @category errors
 */
export type CacheStoreError = internal.CacheStoreError

/**
 * "These keys of this cache changed": sent by the instance that wrote or deleted them, on the
 * channel of the node that owns them.
 *
 * @since 0.1.0
 * @category models
 */
export interface Invalidation {
  /** The cache's name (each cache has its own channel). */
  readonly cache: string
  /** The id of the instance that made the change, so it can ignore its own echo. */
  readonly origin: string
  /** The cache keys that changed (not the prefixed store keys). */
  readonly keys: ReadonlyArray<string>
}

/**
 * What a cache instance registers with `subscribe`. Both callbacks are called synchronously, in
 * the order the store learns things, and must not block: a near cache bumps counters and drops
 * entries in them.
 *
 * @since 0.1.0
 * @category models
 */
export interface Subscriber {
  /** An invalidation arrived on `node`'s channel (including this instance's own echo). */
  readonly onInvalidation: (node: string, invalidation: Invalidation) => void
  /**
   * `node` went down (`false`: its invalidations may have been missed) or came back and is
   * subscribed again (`true`).
   */
  readonly onConnectionChange: (node: string, connected: boolean) => void
}

/**
 * A node to add to a store: its id and, for Redis, its URL (`redis://127.0.0.1:6379/0`).
 *
 * @since 0.1.0
 * @category models
 */
export interface StoreNode {
  readonly id: string
  readonly url?: string | undefined
}

/**
 * The store interface. Values are strings (the cache serialises them); keys are store keys (the
 * cache prefixes them). Every operation names the node it talks to: partitioning is the cache's job.
 *
 * @since 0.1.0
 * @category models
 */
export interface Service {
  /** "memory" or "redis". */
  readonly backend: string
  /** The ids of the nodes the store knows, in the order they were added. */
  readonly nodeIds: () => ReadonlyArray<string>
  /** Whether `node` is up and its invalidations are being received (synchronous). */
  readonly isConnected: (node: string) => boolean
  /** The value of `key` on `node`, or `null`. */
  readonly get: (node: string, key: string) => Effect.Effect<string | null, CacheStoreError>
  /** The values of `keys` on `node` in one round trip (Redis `MGET`), `null` where absent. */
  readonly getMany: (node: string, keys: ReadonlyArray<string>) => Effect.Effect<ReadonlyArray<string | null>, CacheStoreError>
  /**
   * Stores `value` under `key` on `node`, expiring after `ttlMillis` when given. With an
   * `invalidation`, publishes it on the node's channel after the write, in the same round trip.
   */
  readonly set: (
    node: string,
    key: string,
    value: string,
    ttlMillis: number | undefined,
    invalidation: Invalidation | undefined
  ) => Effect.Effect<void, CacheStoreError>
  /** Deletes `keys` on `node`, then publishes `invalidation` when given (same round trip). */
  readonly delete: (
    node: string,
    keys: ReadonlyArray<string>,
    invalidation: Invalidation | undefined
  ) => Effect.Effect<void, CacheStoreError>
  /** Publishes an invalidation on `node`'s channel. */
  readonly publish: (node: string, invalidation: Invalidation) => Effect.Effect<void, CacheStoreError>
  /**
   * Listens to `cache`'s invalidations on every node (present and future) and to connection
   * changes, until the scope closes.
   */
  readonly subscribe: (cache: string, subscriber: Subscriber) => Effect.Effect<void, CacheStoreError, Scope.Scope>
  /** Adds a node (Redis: opens its connections); adding a known id does nothing. */
  readonly addNode: (node: StoreNode) => Effect.Effect<void, CacheStoreError>
  /** Removes a node (Redis: closes its connections); an unknown id does nothing. */
  readonly removeNode: (node: string) => Effect.Effect<void>
}

/**
 * The cache store service.
 *
 * @since 0.1.0
 * @category models
 * @example
 * import { Effect } from "effect"
 * import { CacheStore, DistributedCache } from "@rampart/cache"
 *
 * const program = Effect.gen(function*() {
 *   const users = yield* DistributedCache.make({ name: "users" })
 *   yield* DistributedCache.set(users, "u1", { name: "Ada" })
 * }).pipe(Effect.scoped, Effect.provide(CacheStore.layerMemory({ nodes: ["a", "b", "c"] })))
 */
export const CacheStore: typeof internal.CacheStore = internal.CacheStore

/**
 * @since 0.1.0
 * @category models
 */
export type CacheStore = internal.CacheStore

/**
 * One call the memory store answered, recorded when `recordCalls` is on (for tests).
 *
 * @since 0.1.0
 * @category models
 */
export interface StoreCall {
  readonly operation: "get" | "getMany" | "set" | "delete" | "publish"
  readonly node: string
  readonly keys: ReadonlyArray<string>
}

/**
 * The in-process store, with controls for tests: take a node down and back, inspect its keys,
 * record calls, and run an effect in the middle of a read.
 *
 * @since 0.1.0
 * @category models
 */
export interface MemoryCacheStore extends Service {
  /** Takes `node` down: its operations fail and subscribers hear `onConnectionChange(node, false)`. */
  readonly unsafeDisconnect: (node: string) => void
  /** Brings `node` back (`lostData`: as a restarted server without persistence, empty). */
  readonly unsafeReconnect: (node: string, options?: { readonly lostData?: boolean }) => void
  /** The store keys `node` holds now (expired ones excluded). */
  readonly unsafeKeys: (node: string) => ReadonlyArray<string>
  /** The calls answered so far (empty unless `recordCalls`). */
  readonly unsafeCalls: () => ReadonlyArray<StoreCall>
  readonly unsafeResetCalls: () => void
  /**
   * Runs `hook` inside every `get`/`getMany`, after the values were read and before they are
   * returned: a deterministic way to let a write land in the middle of a read.
   */
  readonly unsafeSetReadHook: (
    hook: ((node: string, keys: ReadonlyArray<string>) => Effect.Effect<void>) | undefined
  ) => void
}

/**
 * Options of the memory store.
 *
 * - `nodes`: the node ids to start with (default `["node-1"]`; more can be added).
 * - `recordCalls`: keep a log of calls for `unsafeCalls` (default false).
 *
 * @since 0.1.0
 * @category options
 */
export const MemoryCacheStoreOptions = memory.MemoryCacheStoreOptions

/**
 * @since 0.1.0
 * @category options
 */
export type MemoryCacheStoreOptionsInput = typeof MemoryCacheStoreOptions.Encoded

/**
 * Options of the Redis store.
 *
 * - `nodes`: `{ id, url }` per node (at least one).
 * - `connectTimeout`: how long to wait for each connection to become ready (default 5 seconds).
 * - `batchGets`: coalesce the single-key `get`s of a node issued in the same tick into one MGET
 *   (default true; the DataLoader trick, what keeps a distributed `get` at raw ioredis speed).
 * - `maxBatchSize`: keys per coalesced MGET (default 512).
 *
 * @since 0.1.0
 * @category options
 */
export const RedisCacheStoreOptions: Schema.Schema<
  redis.RedisCacheStoreOptions,
  redis.RedisCacheStoreOptionsInput
> = redis.RedisCacheStoreOptions

/**
 * @since 0.1.0
 * @category options
 */
export type RedisCacheStoreOptionsInput = redis.RedisCacheStoreOptionsInput

/**
 * Makes a memory store. Its clock (for TTLs) is the one in context when it is made.
 *
 * @since 0.1.0
 * @category constructors
 */
export const makeMemory: (options?: MemoryCacheStoreOptionsInput) => Effect.Effect<MemoryCacheStore, InvalidOptions> =
  memory.makeMemory

/**
 * A layer with one memory store.
 *
 * @since 0.1.0
 * @category constructors
 */
export const layerMemory = (options?: MemoryCacheStoreOptionsInput): Layer.Layer<CacheStore, InvalidOptions> =>
  Layer.effect(CacheStore, makeMemory(options))

/**
 * Makes a Redis store: for every node, a command connection (auto-pipelined) and a subscriber
 * connection; both are closed when the scope closes. A node counts as connected while both are
 * ready and the subscriber has (re)subscribed every cache channel; when either drops,
 * subscribers hear `onConnectionChange(node, false)` and the node's operations fail fast with
 * `CacheStoreError` until it is back.
 *
 * @since 0.1.0
 * @category constructors
 */
export const makeRedis: (
  options: RedisCacheStoreOptionsInput
) => Effect.Effect<Service, CacheStoreError | InvalidOptions, Scope.Scope> = redis.makeRedis

/**
 * A layer with one Redis store.
 *
 * @since 0.1.0
 * @category constructors
 * @example
 * import { CacheStore } from "@rampart/cache"
 *
 * const StoreLive = CacheStore.layerRedis({
 *   nodes: [
 *     { id: "a", url: "redis://10.0.0.1:6379" },
 *     { id: "b", url: "redis://10.0.0.2:6379" }
 *   ]
 * })
 */
export const layerRedis = (
  options: RedisCacheStoreOptionsInput
): Layer.Layer<CacheStore, CacheStoreError | InvalidOptions> => Layer.scoped(CacheStore, makeRedis(options))
