/**
 * Integration tests against real redis-server processes (started by @rampart/testing on loopback
 * ephemeral ports). Skipped with one loud line when redis-server is missing; a failure instead
 * with RAMPART_REQUIRE_SERVICES=1.
 */
import { describe, expect, it } from "@effect/vitest"
import { Duration, Effect, Option } from "effect"
import { RedisServer, Services } from "@rampart/testing"
import * as CacheStore from "../src/CacheStore.js"
import * as DistributedCache from "../src/DistributedCache.js"
import { waitFor } from "./support/polling.js"
import { commandCalls } from "./support/redis.js"

const redis = Services.check("redis-server")

/** A store with its own connections to the given servers (`id` = "n<i>"). */
const storeFor = (servers: ReadonlyArray<RedisServer.RedisServer>) =>
  CacheStore.makeRedis({ nodes: servers.map((server, i) => ({ id: `n${i}`, url: server.url })) })

const cacheOn = <V>(store: CacheStore.Service, options: Partial<DistributedCache.DistributedCacheOptionsInput<V>> = {}) =>
  DistributedCache.make<V>({ name: "users", ...options }).pipe(Effect.provideService(CacheStore.CacheStore, store))

describe.skipIf(!redis.available)("DistributedCache against real Redis", () => {
  it.scopedLive("two instances on separate connections see each other's invalidations", () =>
    Effect.gen(function*() {
      const server = yield* RedisServer.start()
      const a = yield* cacheOn<string>(yield* storeFor([server]))
      const b = yield* cacheOn<string>(yield* storeFor([server]))
      yield* DistributedCache.set(a, "k", "v1")
      yield* waitFor("b to hear a's first write", () => b.unsafeStats().invalidationsReceived === 1)
      expect(yield* DistributedCache.get(b, "k")).toEqual(Option.some("v1"))
      expect(b.nearCache!.unsafePeek("k")).toBe("v1")

      yield* DistributedCache.set(a, "k", "v2")
      yield* waitFor("b to hear a's invalidation", () => b.nearCache!.unsafePeek("k") === undefined)
      expect(yield* DistributedCache.get(b, "k")).toEqual(Option.some("v2"))
      expect(b.unsafeStats().invalidationsReceived).toBe(2)

      yield* DistributedCache.invalidate(b, "k")
      yield* waitFor("a to hear b's delete", () => a.nearCache!.unsafePeek("k") === undefined)
      expect(yield* DistributedCache.get(a, "k")).toEqual(Option.none())
      // Neither heard its own echo.
      expect(a.unsafeStats().invalidationsReceived).toBe(1)
      expect(b.unsafeStats().invalidationsReceived).toBe(2)
    }))

  it.scopedLive("a killed and restarted Redis leaves no stale near-cache entries", () =>
    Effect.gen(function*() {
      const server = yield* RedisServer.start()
      const store = yield* storeFor([server])
      const cache = yield* cacheOn<string>(store)
      yield* DistributedCache.set(cache, "k", "before the crash")
      expect(yield* DistributedCache.get(cache, "k")).toEqual(Option.some("before the crash"))
      expect(cache.nearCache!.unsafePeek("k")).toBe("before the crash")

      yield* server.kill
      yield* waitFor("the drop to be noticed", () => !store.isConnected("n0"))
      expect(cache.nearCache!.unsafeSize()).toBe(0)
      expect(cache.unsafeStats().nearFlushes).toBe(1)
      const whileDown = yield* Effect.flip(DistributedCache.get(cache, "k"))
      expect(whileDown).toMatchObject({ _tag: "CacheStoreError", node: "n0", reason: "disconnected" })

      yield* server.restart
      yield* waitFor("the reconnection", () => store.isConnected("n0"))
      // The restarted server is empty: the value must not come back from the near cache.
      expect(yield* DistributedCache.get(cache, "k")).toEqual(Option.none())

      // And invalidations flow again after the reconnection (the channel was resubscribed).
      const other = yield* cacheOn<string>(yield* storeFor([server]))
      yield* DistributedCache.set(cache, "j", "v1")
      yield* waitFor("other to hear the first write", () => other.unsafeStats().invalidationsReceived === 1)
      expect(yield* DistributedCache.get(other, "j")).toEqual(Option.some("v1"))
      yield* DistributedCache.set(other, "j", "v2")
      yield* waitFor("the invalidation after restart", () => cache.nearCache!.unsafePeek("j") === undefined)
      expect(yield* DistributedCache.get(cache, "j")).toEqual(Option.some("v2"))
    }), 30_000)

  it.scopedLive("adding a fourth node moves about K/4 keys; reads still answer and moved keys are re-fetched", () =>
    Effect.gen(function*() {
      const servers = yield* Effect.all([RedisServer.start(), RedisServer.start(), RedisServer.start()], {
        concurrency: "unbounded"
      })
      const store = yield* storeFor(servers)
      const cache = yield* cacheOn<number>(store, { nearCache: false })
      const K = 3000
      const keys = Array.from({ length: K }, (_, i) => `user:${i}`)
      yield* Effect.forEach(keys, (key, i) => DistributedCache.set(cache, key, i), { concurrency: 100 })
      const before = keys.map((key) => cache.unsafeOwner(key))
      for (const [i] of servers.entries()) {
        const owned = before.filter((owner) => owner === `n${i}`).length
        expect(owned).toBeGreaterThan(K / 3 * 0.8)
        expect(owned).toBeLessThan(K / 3 * 1.2)
      }

      const fourth = yield* RedisServer.start()
      yield* DistributedCache.addNode(cache, { id: "n3", url: fourth.url })
      const moved = keys.filter((key, i) => cache.unsafeOwner(key) !== before[i])
      expect(moved.length).toBeGreaterThan(K / 4 * 0.8)
      expect(moved.length).toBeLessThan(K / 4 * 1.2)
      expect(moved.every((key) => cache.unsafeOwner(key) === "n3")).toBe(true)

      // Unmoved keys still read from their owners; moved ones are absent on n3 and loaded again.
      const values = yield* DistributedCache.getMany(cache, keys)
      const found = values.filter(Option.isSome).length
      expect(found).toBe(K - moved.length)
      let loads = 0
      const loaded = yield* Effect.forEach(
        keys,
        (key, i) =>
          DistributedCache.getOrLoad(cache, key, Effect.sync(() => {
            loads++
            return i
          })),
        { concurrency: 100 }
      )
      expect(loaded).toEqual(keys.map((_, i) => i))
      expect(loads).toBe(moved.length)
      expect((yield* DistributedCache.getMany(cache, keys)).every(Option.isSome)).toBe(true)
    }), 30_000)

  it.scopedLive("getMany sends one MGET per node", () =>
    Effect.gen(function*() {
      const servers = yield* Effect.all([RedisServer.start(), RedisServer.start(), RedisServer.start()], {
        concurrency: "unbounded"
      })
      const cache = yield* cacheOn<string>(yield* storeFor(servers), { nearCache: false })
      const keys = Array.from({ length: 60 }, (_, i) => `k${i}`)
      yield* Effect.forEach(keys, (key) => DistributedCache.set(cache, key, key))
      const values = yield* DistributedCache.getMany(cache, [...keys, "absent"])
      expect(values).toEqual([...keys.map(Option.some), Option.none()])
      const mgets = yield* Effect.forEach(servers, (server) => commandCalls(server, "mget"))
      expect(mgets).toEqual([1, 1, 1])
    }))

  it.scopedLive("writes with a ttl expire on the server", () =>
    Effect.gen(function*() {
      const server = yield* RedisServer.start()
      const cache = yield* cacheOn<string>(yield* storeFor([server]), { ttl: "150 millis", nearCache: false })
      yield* DistributedCache.set(cache, "k", "v")
      expect(yield* DistributedCache.get(cache, "k")).toEqual(Option.some("v"))
      yield* Effect.sleep(Duration.millis(400))
      expect(yield* DistributedCache.get(cache, "k")).toEqual(Option.none())
    }))
})
