import { describe, expect, it } from "@effect/vitest"
import { Chunk, Effect, FastCheck, Fiber, Metric, Option, Schema, Stream, TestClock } from "effect"
import { InvalidOptions } from "@rampart/core/Options"
import * as CacheStore from "../src/CacheStore.js"
import * as DistributedCache from "../src/DistributedCache.js"

type Cache<V> = DistributedCache.DistributedCache<V>

const nodes = ["node-a", "node-b", "node-c"]

/** A memory store (recording calls) and the layer-free way to give it to `make`. */
const memoryStore = (options: CacheStore.MemoryCacheStoreOptionsInput = {}) =>
  CacheStore.makeMemory({ nodes, recordCalls: true, ...options })

const makeCache = <V = unknown>(
  store: CacheStore.MemoryCacheStore,
  options: Partial<DistributedCache.DistributedCacheOptionsInput<V>> = {}
) =>
  DistributedCache.make<V>({ name: "users", ...options }).pipe(Effect.provideService(CacheStore.CacheStore, store))

/** Keys spread over the nodes: `count` keys owned by each node of the cache. */
const keysPerNode = <V>(cache: Cache<V>, count: number): Map<string, Array<string>> => {
  const byNode = new Map<string, Array<string>>()
  for (let i = 0; [...byNode.values()].filter((keys) => keys.length >= count).length < nodes.length; i++) {
    const key = `key-${i}`
    const owner = cache.unsafeOwner(key)!
    const keys = byNode.get(owner) ?? []
    if (keys.length < count) keys.push(key)
    byNode.set(owner, keys)
  }
  return byNode
}

const some = <A>(value: A) => Option.some(value)

/** The value of a counter series labelled with the instance name, from Effect's metric registry. */
const counterValue = (metric: string, name: string) =>
  Effect.map(Metric.snapshot, (pairs) => {
    const pair = pairs.find((pair) =>
      pair.metricKey.name === metric && pair.metricKey.tags.some((tag) => tag.key === "name" && tag.value === name)
    )
    return (pair?.metricState as { readonly count?: number } | undefined)?.count
  })

describe("DistributedCache", () => {
  describe("reads and writes", () => {
    it.scoped("reads back what any instance wrote, and absent keys as none", () =>
      Effect.gen(function*() {
        const store = yield* memoryStore()
        const a = yield* makeCache<{ readonly name: string }>(store)
        const b = yield* makeCache<{ readonly name: string }>(store)
        expect(yield* DistributedCache.get(a, "u1")).toEqual(Option.none())
        yield* DistributedCache.set(a, "u1", { name: "Ada" })
        expect(yield* DistributedCache.get(b, "u1")).toEqual(some({ name: "Ada" }))
        expect(a.instanceId).not.toEqual(b.instanceId)
      }))

    it.scoped("stores each key on its owner only, under the key prefix", () =>
      Effect.gen(function*() {
        const store = yield* memoryStore()
        const cache = yield* makeCache(store)
        yield* Effect.forEach(["k1", "k2", "k3", "k4", "k5", "k6"], (key) => DistributedCache.set(cache, key, key))
        for (const key of ["k1", "k2", "k3", "k4", "k5", "k6"]) {
          const owner = cache.unsafeOwner(key)!
          for (const node of nodes) {
            expect(store.unsafeKeys(node).includes(`rampart:cache:users:${key}`)).toBe(node === owner)
          }
        }
      }))

    it.scoped("answers a repeated read from the near cache without calling the store", () =>
      Effect.gen(function*() {
        const store = yield* memoryStore()
        const writer = yield* makeCache(store)
        const reader = yield* makeCache(store)
        yield* DistributedCache.set(writer, "k", 1)
        store.unsafeResetCalls()
        expect(yield* DistributedCache.get(reader, "k")).toEqual(some(1))
        expect(yield* DistributedCache.get(reader, "k")).toEqual(some(1))
        expect(store.unsafeCalls().map((call) => call.operation)).toEqual(["get"])
        const stats = reader.unsafeStats()
        expect(stats.nearHits).toBe(1)
        expect(stats.nearMisses).toBe(1)
        expect(stats.remoteGets).toBe(1)
        expect(stats.nearFills).toBe(1)
      }))

    it.scoped("with the near cache off, every read goes to the store", () =>
      Effect.gen(function*() {
        const store = yield* memoryStore()
        const cache = yield* makeCache(store, { nearCache: false })
        expect(cache.nearCache).toBeUndefined()
        yield* DistributedCache.set(cache, "k", "v")
        store.unsafeResetCalls()
        yield* DistributedCache.get(cache, "k")
        yield* DistributedCache.get(cache, "k")
        expect(store.unsafeCalls().filter((call) => call.operation === "get")).toHaveLength(2)
      }))

    it.scoped("a writer keeps its own value in its near cache and ignores the echo of its invalidation", () =>
      Effect.gen(function*() {
        const store = yield* memoryStore()
        const cache = yield* makeCache(store)
        yield* DistributedCache.set(cache, "k", "v1")
        store.unsafeResetCalls()
        expect(yield* DistributedCache.get(cache, "k")).toEqual(some("v1"))
        expect(store.unsafeCalls()).toEqual([])
        expect(cache.unsafeStats().invalidationsSent).toBe(1)
        expect(cache.unsafeStats().invalidationsReceived).toBe(0)
      }))

    it.scoped("expires entries remotely and in the near cache after the ttl", () =>
      Effect.gen(function*() {
        const store = yield* memoryStore()
        const writer = yield* makeCache(store, { ttl: "1 minute" })
        const reader = yield* makeCache(store, { ttl: "1 minute" })
        yield* DistributedCache.set(writer, "k", "v")
        expect(yield* DistributedCache.get(reader, "k")).toEqual(some("v"))
        yield* TestClock.adjust("30 seconds")
        expect(yield* DistributedCache.get(writer, "k")).toEqual(some("v"))
        yield* TestClock.adjust("31 seconds")
        expect(yield* DistributedCache.get(writer, "k")).toEqual(Option.none())
        expect(yield* DistributedCache.get(reader, "k")).toEqual(Option.none())
      }))

    it.scoped("getOrLoad loads a missing key once and serves it from the cache afterwards", () =>
      Effect.gen(function*() {
        const store = yield* memoryStore()
        const cache = yield* makeCache<number>(store)
        let loads = 0
        const lookup = Effect.sync(() => ++loads * 10)
        expect(yield* DistributedCache.getOrLoad(cache, "k", lookup)).toBe(10)
        expect(yield* DistributedCache.getOrLoad(cache, "k", lookup)).toBe(10)
        expect(loads).toBe(1)
        const other = yield* makeCache<number>(store)
        expect(yield* DistributedCache.getOrLoad(other, "k", lookup)).toBe(10)
        expect(loads).toBe(1)
      }))

    it.scoped("getOrLoad answers from the source when the owning node is down", () =>
      Effect.gen(function*() {
        const store = yield* memoryStore()
        const cache = yield* makeCache<string>(store)
        store.unsafeDisconnect(cache.unsafeOwner("k")!)
        expect(yield* DistributedCache.getOrLoad(cache, "k", Effect.succeed("from source"))).toBe("from source")
        expect(cache.unsafeStats().storeErrors).toBe(2)
      }))

    it.scoped("invalidate deletes the key on its owner and in every near cache", () =>
      Effect.gen(function*() {
        const store = yield* memoryStore()
        const a = yield* makeCache(store)
        const b = yield* makeCache(store)
        yield* DistributedCache.set(a, "k", "v")
        expect(yield* DistributedCache.get(b, "k")).toEqual(some("v"))
        yield* DistributedCache.invalidate(a, "k")
        expect(yield* DistributedCache.get(a, "k")).toEqual(Option.none())
        expect(yield* DistributedCache.get(b, "k")).toEqual(Option.none())
        expect(store.unsafeKeys(a.unsafeOwner("k")!)).toEqual([])
      }))
  })

  describe("invalidation across instances", () => {
    it.scoped("a write through one instance drops the key from every other instance's near cache", () =>
      Effect.gen(function*() {
        const store = yield* memoryStore()
        const a = yield* makeCache(store)
        const b = yield* makeCache(store)
        yield* DistributedCache.set(a, "k", "v1")
        expect(yield* DistributedCache.get(b, "k")).toEqual(some("v1"))
        expect(b.nearCache!.unsafePeek("k")).toBe("v1")
        yield* DistributedCache.set(a, "k", "v2")
        expect(b.nearCache!.unsafePeek("k")).toBeUndefined()
        expect(yield* DistributedCache.get(b, "k")).toEqual(some("v2"))
        expect(b.unsafeStats().invalidationsReceived).toBe(2)
      }))

    it.scoped("publishes an InvalidationReceived event naming the node and the writer", () =>
      Effect.gen(function*() {
        const store = yield* memoryStore()
        const a = yield* makeCache(store)
        const b = yield* makeCache(store)
        const fiber = yield* Effect.fork(Stream.runCollect(Stream.take(b.events, 1)))
        yield* Effect.yieldNow()
        yield* Effect.yieldNow()
        yield* DistributedCache.set(a, "k", "v")
        const [event] = Chunk.toReadonlyArray(yield* Fiber.join(fiber))
        expect(event).toMatchObject({
          _tag: "InvalidationReceived",
          name: "users",
          node: a.unsafeOwner("k"),
          origin: a.instanceId,
          keys: 1
        })
      }))

    it.scoped("caches with different names do not invalidate each other", () =>
      Effect.gen(function*() {
        const store = yield* memoryStore()
        const users = yield* makeCache(store)
        const orders = yield* makeCache(store, { name: "orders" })
        const orders2 = yield* makeCache(store, { name: "orders" })
        yield* DistributedCache.set(orders2, "k", 1)
        expect(yield* DistributedCache.get(orders, "k")).toEqual(some(1))
        const received = orders.unsafeStats().invalidationsReceived
        yield* DistributedCache.set(users, "k", 2)
        expect(orders.unsafeStats().invalidationsReceived).toBe(received)
        expect(yield* DistributedCache.get(orders, "k")).toEqual(some(1))
      }))

    it.scoped("a value read before a concurrent write is returned but never kept in the near cache", () =>
      Effect.gen(function*() {
        const store = yield* memoryStore()
        const reader = yield* makeCache<string>(store)
        const writer = yield* makeCache<string>(store)
        yield* DistributedCache.set(writer, "k", "old")
        // The reader's remote read has fetched "old"; before it returns, the writer's new value
        // and its invalidation land.
        let fired = false
        store.unsafeSetReadHook(() =>
          Effect.suspend(() => {
            if (fired) return Effect.void
            fired = true
            return Effect.orDie(DistributedCache.set(writer, "k", "new"))
          })
        )
        expect(yield* DistributedCache.get(reader, "k")).toEqual(some("old"))
        store.unsafeSetReadHook(undefined)
        expect(reader.nearCache!.unsafePeek("k")).toBeUndefined()
        expect(reader.unsafeStats().nearFillsSkipped).toBe(1)
        expect(yield* DistributedCache.get(reader, "k")).toEqual(some("new"))
        expect(yield* DistributedCache.get(reader, "k")).toEqual(some("new"))
      }))

    it.scoped("a batched read racing a write does not keep the stale value either", () =>
      Effect.gen(function*() {
        const store = yield* memoryStore()
        const reader = yield* makeCache<string>(store)
        const writer = yield* makeCache<string>(store)
        yield* Effect.forEach(["x", "y", "z"], (key) => DistributedCache.set(writer, key, "old"))
        // The write lands while the MGET of y's node is in flight, after it read "old".
        let fired = false
        store.unsafeSetReadHook((_, keys) =>
          Effect.suspend(() => {
            if (fired || !keys.includes("rampart:cache:users:y")) return Effect.void
            fired = true
            return Effect.orDie(DistributedCache.set(writer, "y", "new"))
          })
        )
        const first = yield* DistributedCache.getMany(reader, ["x", "y", "z"])
        store.unsafeSetReadHook(undefined)
        expect(fired).toBe(true)
        expect(first).toEqual([some("old"), some("old"), some("old")])
        expect(reader.nearCache!.unsafePeek("y")).toBeUndefined()
        expect(yield* DistributedCache.getMany(reader, ["x", "y", "z"])).toEqual([some("old"), some("new"), some("old")])
      }))

    it.scoped("a read that was in flight when the writer itself wrote the key does not overwrite the new value", () =>
      Effect.gen(function*() {
        const store = yield* memoryStore()
        const cache = yield* makeCache<string>(store)
        const other = yield* makeCache<string>(store)
        yield* DistributedCache.set(other, "k", "old")
        let fired = false
        store.unsafeSetReadHook(() =>
          Effect.suspend(() => {
            if (fired) return Effect.void
            fired = true
            return Effect.orDie(DistributedCache.set(cache, "k", "new"))
          })
        )
        expect(yield* DistributedCache.get(cache, "k")).toEqual(some("old"))
        store.unsafeSetReadHook(undefined)
        expect(cache.nearCache!.unsafePeek("k")).toBe("new")
        expect(yield* DistributedCache.get(cache, "k")).toEqual(some("new"))
      }))

    it.scoped.prop(
      "any interleaving of writes, deletes and racing reads through two instances reads like one map",
      {
        commands: FastCheck.array(
          FastCheck.record({
            op: FastCheck.constantFrom("set", "invalidate", "get", "racingGet"),
            instance: FastCheck.constantFrom(0, 1),
            key: FastCheck.constantFrom("a", "b", "c", "d"),
            value: FastCheck.integer({ min: 0, max: 99 })
          }),
          { maxLength: 40 }
        )
      },
      ({ commands }) =>
        Effect.gen(function*() {
          const store = yield* memoryStore({ recordCalls: false })
          const caches: ReadonlyArray<Cache<number>> = [yield* makeCache<number>(store), yield* makeCache<number>(store)]
          const model = new Map<string, number>()
          for (const command of commands) {
            const cache = caches[command.instance]!
            const other = caches[1 - command.instance]!
            switch (command.op) {
              case "set":
                yield* DistributedCache.set(cache, command.key, command.value)
                model.set(command.key, command.value)
                break
              case "invalidate":
                yield* DistributedCache.invalidate(cache, command.key)
                model.delete(command.key)
                break
              case "get":
                expect(Option.getOrUndefined(yield* DistributedCache.get(cache, command.key))).toBe(model.get(command.key))
                break
              case "racingGet": {
                // The other instance writes while this read is in flight: either value may come back.
                const before = model.get(command.key)
                let fired = false
                store.unsafeSetReadHook(() =>
                  Effect.suspend(() => {
                    if (fired) return Effect.void
                    fired = true
                    return Effect.orDie(DistributedCache.set(other, command.key, command.value))
                  })
                )
                const read = Option.getOrUndefined(yield* DistributedCache.get(cache, command.key))
                store.unsafeSetReadHook(undefined)
                if (fired) model.set(command.key, command.value)
                expect([before, model.get(command.key)]).toContain(read)
                break
              }
            }
            // After every step, both instances read exactly what the model holds.
            for (const key of ["a", "b", "c", "d"]) {
              for (const each of caches) {
                expect(Option.getOrUndefined(yield* DistributedCache.get(each, key))).toBe(model.get(key))
              }
            }
          }
        }),
      { fastCheck: { numRuns: 100 } }
    )
  })

  describe("connection loss", () => {
    it.scoped("flushes the near cache when a node disconnects and fails reads of its keys until it is back", () =>
      Effect.gen(function*() {
        const store = yield* memoryStore()
        const cache = yield* makeCache<string>(store)
        const writer = yield* makeCache<string>(store)
        const byNode = keysPerNode(cache, 2)
        const allKeys = [...byNode.values()].flat()
        yield* Effect.forEach(allKeys, (key) => DistributedCache.set(writer, key, `v-${key}`))
        yield* Effect.forEach(allKeys, (key) => DistributedCache.get(cache, key))
        expect(cache.nearCache!.unsafeSize()).toBe(allKeys.length)

        const events = yield* Effect.fork(Stream.runCollect(Stream.take(cache.events, 2)))
        yield* Effect.yieldNow()
        yield* Effect.yieldNow()
        store.unsafeDisconnect("node-b")
        expect(cache.nearCache!.unsafeSize()).toBe(0)
        expect(cache.unsafeStats().nearFlushes).toBe(1)
        expect(Chunk.toReadonlyArray(yield* Fiber.join(events)).map((event) => event._tag)).toEqual([
          "NodeConnectionChanged",
          "NearCacheFlushed"
        ])

        const downKey = byNode.get("node-b")![0]!
        const upKey = byNode.get("node-a")![0]!
        const failure = yield* Effect.flip(DistributedCache.get(cache, downKey))
        expect(failure).toBeInstanceOf(CacheStore.CacheStoreError)
        expect(failure).toMatchObject({ node: "node-b", operation: "get" })
        expect(yield* DistributedCache.get(cache, upKey)).toEqual(some(`v-${upKey}`))

        // Back, but restarted empty: nothing stale survives in the near cache.
        store.unsafeReconnect("node-b", { lostData: true })
        expect(yield* DistributedCache.get(cache, downKey)).toEqual(Option.none())
        expect(yield* DistributedCache.get(cache, upKey)).toEqual(some(`v-${upKey}`))
      }))

    it.scoped("a read in flight across a disconnect and reconnect is returned but not kept", () =>
      Effect.gen(function*() {
        const store = yield* memoryStore()
        const cache = yield* makeCache<string>(store)
        yield* DistributedCache.set(cache, "k", "v")
        yield* DistributedCache.flushNearCache(cache)
        const owner = cache.unsafeOwner("k")!
        let fired = false
        store.unsafeSetReadHook(() =>
          Effect.sync(() => {
            if (fired) return
            fired = true
            store.unsafeDisconnect(owner)
            store.unsafeReconnect(owner)
          })
        )
        expect(yield* DistributedCache.get(cache, "k")).toEqual(some("v"))
        store.unsafeSetReadHook(undefined)
        expect(cache.nearCache!.unsafePeek("k")).toBeUndefined()
      }))
  })

  describe("batching", () => {
    it.scoped("getMany of keys on 3 nodes makes exactly one store call per node, in order", () =>
      Effect.gen(function*() {
        const store = yield* memoryStore()
        const cache = yield* makeCache<string>(store, { nearCache: false })
        const byNode = keysPerNode(cache, 4)
        const keys = [...byNode.values()].flat().sort()
        yield* Effect.forEach(keys, (key) => DistributedCache.set(cache, key, key.toUpperCase()))
        store.unsafeResetCalls()
        const values = yield* DistributedCache.getMany(cache, [...keys, "absent"])
        expect(values).toEqual([...keys.map((key) => some(key.toUpperCase())), Option.none()])
        const calls = store.unsafeCalls()
        expect(calls).toHaveLength(3)
        expect(calls.every((call) => call.operation === "getMany")).toBe(true)
        for (const call of calls) {
          expect(call.keys.every((key) => cache.unsafeOwner(key.slice("rampart:cache:users:".length)) === call.node))
            .toBe(true)
        }
        expect(new Set(calls.map((call) => call.node))).toEqual(new Set(nodes))
      }))

    it.scoped("getMany reads only the near-cache misses from the store", () =>
      Effect.gen(function*() {
        const store = yield* memoryStore()
        const writer = yield* makeCache<number>(store)
        const reader = yield* makeCache<number>(store)
        yield* Effect.forEach([1, 2, 3, 4, 5, 6], (i) => DistributedCache.set(writer, `k${i}`, i))
        yield* DistributedCache.get(reader, "k1")
        yield* DistributedCache.get(reader, "k2")
        store.unsafeResetCalls()
        const values = yield* DistributedCache.getMany(reader, ["k1", "k2", "k3", "k4", "k5", "k6"])
        expect(values).toEqual([1, 2, 3, 4, 5, 6].map(some))
        const requested = store.unsafeCalls().flatMap((call) => call.keys)
        expect(requested.sort()).toEqual(["k3", "k4", "k5", "k6"].map((key) => `rampart:cache:users:${key}`))
        store.unsafeResetCalls()
        expect(yield* DistributedCache.getMany(reader, ["k1", "k2", "k3", "k4", "k5", "k6"])).toEqual(
          [1, 2, 3, 4, 5, 6].map(some)
        )
        expect(store.unsafeCalls()).toEqual([])
      }))

    it.scoped("getBatched under Effect.forEach batching shares one store call per node", () =>
      Effect.gen(function*() {
        const store = yield* memoryStore()
        const cache = yield* makeCache<string>(store, { nearCache: false })
        const keys = [...keysPerNode(cache, 3).values()].flat()
        yield* Effect.forEach(keys, (key) => DistributedCache.set(cache, key, key))
        store.unsafeResetCalls()
        const values = yield* Effect.forEach(keys, (key) => DistributedCache.getBatched(cache, key), { batching: true })
        expect(values).toEqual(keys.map(some))
        expect(store.unsafeCalls().map((call) => call.operation)).toEqual(["getMany", "getMany", "getMany"])
      }))

    it.scoped("a node failing during getMany fails the call with that node's CacheStoreError", () =>
      Effect.gen(function*() {
        const store = yield* memoryStore()
        const cache = yield* makeCache<string>(store, { nearCache: false })
        const keys = [...keysPerNode(cache, 2).values()].flat()
        store.unsafeDisconnect("node-c")
        const error = yield* Effect.flip(DistributedCache.getMany(cache, keys))
        expect(error).toMatchObject({ _tag: "CacheStoreError", node: "node-c", operation: "getMany" })
      }))
  })

  describe("values", () => {
    const User = Schema.Struct({ id: Schema.String, age: Schema.Number })

    it.scoped("a schema codec decodes typed values and fails with CacheValueError on a mismatch", () =>
      Effect.gen(function*() {
        const store = yield* memoryStore()
        const typed = yield* makeCache(store, { codec: DistributedCache.schemaCodec(User) })
        const untyped = yield* makeCache(store)
        yield* DistributedCache.set(typed, "u1", { id: "u1", age: 36 })
        expect(yield* DistributedCache.get(typed, "u1")).toEqual(some({ id: "u1", age: 36 }))
        yield* DistributedCache.set(untyped, "u2", { id: "u2", age: "old" })
        const error = yield* Effect.flip(DistributedCache.get(typed, "u2"))
        expect(error).toBeInstanceOf(DistributedCache.CacheValueError)
        expect(error).toMatchObject({ cache: "users", key: "u2", operation: "decode" })
        expect(error.message).toContain("age")
        // getOrLoad treats an undecodable value as a miss and replaces it.
        const loaded = yield* DistributedCache.getOrLoad(typed, "u2", Effect.succeed({ id: "u2", age: 41 }))
        expect(loaded).toEqual({ id: "u2", age: 41 })
        expect(yield* DistributedCache.get(untyped, "u2")).toEqual(some({ id: "u2", age: 41 }))
      }))

    it.scoped("a value with no JSON form fails with CacheValueError and writes nothing", () =>
      Effect.gen(function*() {
        const store = yield* memoryStore()
        const cache = yield* makeCache<unknown>(store)
        store.unsafeResetCalls()
        const error = yield* Effect.flip(DistributedCache.set(cache, "k", 1n))
        expect(error).toMatchObject({ _tag: "CacheValueError", operation: "encode", key: "k" })
        expect(store.unsafeCalls()).toEqual([])
      }))
  })

  describe("membership", () => {
    it.scoped("adding a fourth node moves about a quarter of the keys, which are loaded again", () =>
      Effect.gen(function*() {
        const store = yield* memoryStore()
        const cache = yield* makeCache<number>(store)
        const keys = Array.from({ length: 2000 }, (_, i) => `key-${i}`)
        yield* Effect.forEach(keys, (key, i) => DistributedCache.set(cache, key, i))
        const before = keys.map((key) => cache.unsafeOwner(key))
        yield* DistributedCache.addNode(cache, { id: "node-d" })
        expect(store.nodeIds()).toContain("node-d")
        const moved = keys.filter((key, i) => cache.unsafeOwner(key) !== before[i])
        expect(moved.every((key) => cache.unsafeOwner(key) === "node-d")).toBe(true)
        expect(moved.length).toBeGreaterThan(2000 * 0.15)
        expect(moved.length).toBeLessThan(2000 * 0.35)
        // The near cache was flushed; unmoved keys still read from their owner, moved ones are loaded.
        expect(cache.nearCache!.unsafeSize()).toBe(0)
        let loads = 0
        const values = yield* Effect.forEach(keys, (key, i) =>
          DistributedCache.getOrLoad(cache, key, Effect.sync(() => {
            loads++
            return i
          })))
        expect(values).toEqual(keys.map((_, i) => i))
        expect(loads).toBe(moved.length)
      }))

    it.scoped("removing a node moves only its keys; the last node cannot be removed", () =>
      Effect.gen(function*() {
        const store = yield* memoryStore()
        const cache = yield* makeCache<number>(store)
        const keys = Array.from({ length: 1200 }, (_, i) => `key-${i}`)
        const before = keys.map((key) => cache.unsafeOwner(key))
        yield* DistributedCache.removeNode(cache, "node-b")
        const moved = keys.filter((key, i) => cache.unsafeOwner(key) !== before[i])
        expect(moved.length).toBe(before.filter((owner) => owner === "node-b").length)
        yield* DistributedCache.removeNode(cache, "node-c")
        const error = yield* Effect.flip(DistributedCache.removeNode(cache, "node-a"))
        expect(error).toBeInstanceOf(InvalidOptions)
        expect(error.message).toContain("last node")
      }))

    it.scoped("publishes MembershipChanged with the new node list", () =>
      Effect.gen(function*() {
        const store = yield* memoryStore()
        const cache = yield* makeCache(store)
        const fiber = yield* Effect.fork(
          Stream.runCollect(Stream.filter(cache.events, (event) => event._tag === "MembershipChanged").pipe(Stream.take(1)))
        )
        yield* Effect.yieldNow()
        yield* Effect.yieldNow()
        yield* DistributedCache.addNode(cache, { id: "node-d", weight: 2 })
        const [event] = Chunk.toReadonlyArray(yield* Fiber.join(fiber))
        expect(event).toMatchObject({ change: "Added", node: "node-d", nodes: [...nodes, "node-d"] })
      }))
  })

  describe("metrics and interruption", () => {
    it.scoped("publishes its counters as Effect metrics labelled with the cache name", () =>
      Effect.gen(function*() {
        const store = yield* memoryStore()
        const cache = yield* makeCache(store, { name: "metered" })
        yield* DistributedCache.set(cache, "k", 1)
        yield* DistributedCache.get(cache, "k")
        yield* DistributedCache.get(cache, "absent")
        // Counted in plain fields on the hot path; published every second (and on stats reads).
        yield* TestClock.adjust("1 second")
        expect(yield* counterValue("rampart_distributed_cache_near_hits_total", "metered")).toBe(1)
        expect(yield* counterValue("rampart_distributed_cache_near_misses_total", "metered")).toBe(1)
        expect(yield* counterValue("rampart_distributed_cache_remote_gets_total", "metered")).toBe(1)
        expect(yield* counterValue("rampart_distributed_cache_invalidations_sent_total", "metered")).toBe(1)
        expect(cache.unsafeStats()).toMatchObject({ nearHits: 1, nearMisses: 1, remoteGets: 1, remoteHits: 0 })
      }))

    it.scoped("an interrupted read leaves the cache working and fills nothing", () =>
      Effect.gen(function*() {
        const store = yield* memoryStore()
        const cache = yield* makeCache<string>(store)
        yield* DistributedCache.set(cache, "k", "v")
        yield* DistributedCache.flushNearCache(cache)
        let entered = false
        store.unsafeSetReadHook(() => Effect.zipRight(Effect.sync(() => {
          entered = true
        }), Effect.never))
        const fiber = yield* Effect.fork(DistributedCache.getMany(cache, ["k", "j"]))
        for (let turn = 0; turn < 1000 && !entered; turn++) yield* Effect.yieldNow()
        expect(entered).toBe(true)
        yield* Fiber.interrupt(fiber)
        store.unsafeSetReadHook(undefined)
        expect(cache.nearCache!.unsafeSize()).toBe(0)
        expect(yield* DistributedCache.get(cache, "k")).toEqual(some("v"))
        expect(yield* DistributedCache.getMany(cache, ["k", "j"])).toEqual([some("v"), Option.none()])
      }))
  })

  describe("options", () => {
    const invalid = (options: DistributedCache.DistributedCacheOptionsInput<unknown>) =>
      Effect.gen(function*() {
        const store = yield* memoryStore()
        const error = yield* Effect.flip(makeCache(store, options))
        expect(error).toBeInstanceOf(InvalidOptions)
        return error.message
      })

    it.scoped("rejects bad options with InvalidOptions naming the field", () =>
      Effect.gen(function*() {
        expect(yield* invalid({ name: "" })).toContain("name")
        expect(yield* invalid({ name: "c", ttl: -5 })).toContain("ttl")
        expect(yield* invalid({ name: "c", nearCache: { maximumSize: 0 } })).toContain("nearCache")
        expect(yield* invalid({ name: "c", nodes: [] })).toContain("nodes")
        expect(yield* invalid({ name: "c", partitioner: "roundRobin" as never })).toContain("partitioner")
        expect(yield* invalid({ name: "c", partitioner: { algorithm: "maglev", tableSize: 4 } })).toContain("tableSize")
        expect(yield* invalid({ name: "c", codec: JSON as never })).toContain("codec")
      }))

    it.scoped("update changes the ttl of later writes and rejects a bad one naming the field", () =>
      Effect.gen(function*() {
        const store = yield* memoryStore()
        const cache = yield* makeCache(store, { nearCache: false })
        yield* DistributedCache.set(cache, "forever", 1)
        yield* DistributedCache.update(cache, { ttl: "10 seconds" })
        yield* DistributedCache.set(cache, "brief", 2)
        yield* TestClock.adjust("11 seconds")
        expect(yield* DistributedCache.getMany(cache, ["forever", "brief"])).toEqual([some(1), Option.none()])
        const error = yield* Effect.flip(DistributedCache.update(cache, { ttl: 0 }))
        expect(error).toBeInstanceOf(InvalidOptions)
        expect(error.message).toContain("ttl")
      }))

    it.scoped("uses the given nodes and key prefix, adding unknown nodes to the store", () =>
      Effect.gen(function*() {
        const store = yield* memoryStore()
        const cache = yield* makeCache(store, { nodes: [{ id: "node-a" }, { id: "node-z", weight: 2 }], keyPrefix: "u:" })
        expect(cache.unsafePartitioner().nodes.map((node) => node.id)).toEqual(["node-a", "node-z"])
        expect(store.nodeIds()).toContain("node-z")
        yield* DistributedCache.set(cache, "k", 1)
        expect(store.unsafeKeys(cache.unsafeOwner("k")!)).toEqual(["u:k"])
      }))
  })
})
