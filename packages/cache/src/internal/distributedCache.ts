import { Effect, Option, Random, type Scope } from "effect"
import { dual } from "effect/Function"
import * as Partitioner from "@rampart/balancing/Partitioner"
import { makeEventHub } from "@rampart/core/EventHub"
import { decodeOptions, type InvalidOptions } from "@rampart/core/Options"
import { makeTimers } from "@rampart/core/Timers"
import type * as DC from "../DistributedCache.js"
import * as LocalCache from "../LocalCache.js"
import { CacheStore, type CacheStoreError } from "./cacheStore.js"
import { type CacheError, DistributedCacheImpl, toMillis, TypeId } from "./distributedCacheInstance.js"
import { DistributedCacheOptions, jsonCodec, type ValueCodec } from "./distributedCacheOptions.js"

export { TypeId }

const decode = decodeOptions("DistributedCache", DistributedCacheOptions)

/** Publishes the metrics every second until the scope closes (timers follow the captured clock). */
const publishEverySecond = <V>(cache: DistributedCacheImpl<V>): Effect.Effect<void, never, Scope.Scope> =>
  Effect.flatMap(makeTimers, (timers) => {
    let cancel = () => {}
    const arm = () => {
      cancel = timers.schedule(1_000, () => {
        cache.publishMetrics()
        arm()
      })
    }
    arm()
    return Effect.addFinalizer(() =>
      Effect.sync(() => {
        cancel()
        cache.publishMetrics()
      })
    )
  })

const makeInstanceId = (name: string): Effect.Effect<string> =>
  Effect.map(
    Effect.all([Random.nextIntBetween(0, 0x10000000), Random.nextIntBetween(0, 0x10000000)]),
    ([high, low]) => `${name}#${high.toString(16).padStart(7, "0")}${low.toString(16).padStart(7, "0")}`
  )

export const make = <V>(
  input: DC.DistributedCacheOptionsInput<V>
): Effect.Effect<DC.DistributedCache<V>, InvalidOptions | CacheStoreError, Scope.Scope | CacheStore> =>
  Effect.gen(function*() {
    const options = yield* decode(input as DC.DistributedCacheOptionsInput<unknown>)
    const store = yield* CacheStore
    const nodes = options.nodes ?? store.nodeIds().map((id) => ({ id }))
    for (const node of nodes) {
      if (!store.nodeIds().includes(node.id)) yield* store.addNode({ id: node.id, url: "url" in node ? node.url : undefined })
    }
    const settings = typeof options.partitioner === "string" ? { algorithm: options.partitioner } : options.partitioner
    const partitioner = yield* Partitioner.make({
      ...settings,
      nodes: nodes.map((node) =>
        "weight" in node && node.weight !== undefined ? { id: node.id, weight: node.weight } : { id: node.id }
      )
    } as Partitioner.PartitionerOptionsInput)
    const ttlMillis = toMillis(options.ttl)
    const nearOptions = options.nearCache
    const nearTtlMillis = nearOptions === false ? undefined : toMillis(nearOptions.ttl) ?? ttlMillis
    const nearCache = nearOptions === false ? undefined : yield* LocalCache.make<string, V>({
      name: `${options.name}.near`,
      maximumSize: nearOptions.maximumSize,
      // No jitter: a near entry must not outlive the store's copy written with the same ttl.
      ttlJitter: 0,
      ...(nearOptions.policy === undefined ? {} : { policy: nearOptions.policy }),
      ...(nearTtlMillis === undefined ? {} : { expireAfterWrite: nearTtlMillis })
    })
    const cache = new DistributedCacheImpl<V>(
      options.name,
      yield* makeInstanceId(options.name),
      store,
      nearCache,
      (options.codec ?? jsonCodec<V>()) as ValueCodec<V>,
      options.keyPrefix ?? `rampart:cache:${options.name}:`,
      nearTtlMillis,
      partitioner,
      ttlMillis,
      yield* makeTimers,
      yield* makeEventHub<DC.DistributedCacheEvent>()
    )
    yield* store.subscribe(options.name, cache.subscriber)
    yield* publishEverySecond(cache)
    return cache
  })

export const isDistributedCache = (u: unknown): u is DC.DistributedCache<unknown> =>
  typeof u === "object" && u !== null && TypeId in u

const impl = <V>(cache: DC.DistributedCache<V>): DistributedCacheImpl<V> => cache as DistributedCacheImpl<V>

export const get: {
  (key: string): <V>(cache: DC.DistributedCache<V>) => Effect.Effect<Option.Option<V>, CacheError>
  <V>(cache: DC.DistributedCache<V>, key: string): Effect.Effect<Option.Option<V>, CacheError>
} = dual(2, <V>(cache: DC.DistributedCache<V>, key: string) => impl(cache).get(key))

export const getBatched: {
  (key: string): <V>(cache: DC.DistributedCache<V>) => Effect.Effect<Option.Option<V>, CacheError>
  <V>(cache: DC.DistributedCache<V>, key: string): Effect.Effect<Option.Option<V>, CacheError>
} = dual(2, <V>(cache: DC.DistributedCache<V>, key: string) => impl(cache).getBatched(key))

export const getMany: {
  (keys: Iterable<string>): <V>(cache: DC.DistributedCache<V>) => Effect.Effect<Array<Option.Option<V>>, CacheError>
  <V>(cache: DC.DistributedCache<V>, keys: Iterable<string>): Effect.Effect<Array<Option.Option<V>>, CacheError>
} = dual(2, <V>(cache: DC.DistributedCache<V>, keys: Iterable<string>) => impl(cache).getMany(keys))

export const set: {
  <V>(key: string, value: V): (cache: DC.DistributedCache<V>) => Effect.Effect<void, CacheError>
  <V>(cache: DC.DistributedCache<V>, key: string, value: V): Effect.Effect<void, CacheError>
} = dual(3, <V>(cache: DC.DistributedCache<V>, key: string, value: V) => impl(cache).set(key, value))

export const invalidate: {
  (key: string): <V>(cache: DC.DistributedCache<V>) => Effect.Effect<void, CacheStoreError>
  <V>(cache: DC.DistributedCache<V>, key: string): Effect.Effect<void, CacheStoreError>
} = dual(2, <V>(cache: DC.DistributedCache<V>, key: string) => impl(cache).invalidate(key))

export const getOrLoad: {
  <V, E, R>(key: string, lookup: Effect.Effect<V, E, R>): (cache: DC.DistributedCache<V>) => Effect.Effect<V, E, R>
  <V, E, R>(cache: DC.DistributedCache<V>, key: string, lookup: Effect.Effect<V, E, R>): Effect.Effect<V, E, R>
} = dual(3, <V, E, R>(cache: DC.DistributedCache<V>, key: string, lookup: Effect.Effect<V, E, R>) => {
  const self = impl(cache)
  const load = Effect.tap(lookup, (value) => Effect.ignore(self.set(key, value)))
  return Effect.matchEffect(self.get(key), {
    onFailure: () => load,
    onSuccess: (found) => (Option.isSome(found) ? Effect.succeed(found.value) : load)
  })
})

export const addNode: {
  (node: DC.CacheNodeInput): <V>(cache: DC.DistributedCache<V>) => Effect.Effect<void, CacheStoreError | InvalidOptions>
  <V>(cache: DC.DistributedCache<V>, node: DC.CacheNodeInput): Effect.Effect<void, CacheStoreError | InvalidOptions>
} = dual(2, <V>(cache: DC.DistributedCache<V>, node: DC.CacheNodeInput) => impl(cache).addNode(node))

export const removeNode: {
  (nodeId: string): <V>(cache: DC.DistributedCache<V>) => Effect.Effect<void, InvalidOptions>
  <V>(cache: DC.DistributedCache<V>, nodeId: string): Effect.Effect<void, InvalidOptions>
} = dual(2, <V>(cache: DC.DistributedCache<V>, nodeId: string) => impl(cache).removeNode(nodeId))

export const update: {
  (options: DC.DistributedCacheUpdate): <V>(cache: DC.DistributedCache<V>) => Effect.Effect<void, InvalidOptions>
  <V>(cache: DC.DistributedCache<V>, options: DC.DistributedCacheUpdate): Effect.Effect<void, InvalidOptions>
} = dual(2, <V>(cache: DC.DistributedCache<V>, options: DC.DistributedCacheUpdate) => impl(cache).update(options))

export const flushNearCache = <V>(cache: DC.DistributedCache<V>): Effect.Effect<void> =>
  Effect.sync(() => impl(cache).flush("Manual", undefined))
