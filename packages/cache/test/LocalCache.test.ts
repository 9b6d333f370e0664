import { describe, expect, it } from "@effect/vitest"
import { ConfigProvider, Effect, Either, Fiber, Layer, Metric, Option, Stream, TestClock } from "effect"
import * as LocalCache from "../src/LocalCache.js"

const recordRemovals = () => {
  const removals: Array<[unknown, unknown, LocalCache.RemovalCause]> = []
  return { removals, onRemoval: (key: unknown, value: unknown, cause: LocalCache.RemovalCause) => void removals.push([key, value, cause]) }
}

describe("LocalCache", () => {
  it.scoped("LRU mode keeps the key just used: capacity 2, get a, get b, get a, get c evicts b (effect's Cache evicts a)", () =>
    Effect.gen(function*() {
      const { onRemoval, removals } = recordRemovals()
      const cache = yield* LocalCache.makeLoading({
        name: "regression",
        policy: "lru",
        maximumSize: 2,
        onRemoval,
        lookup: (key: string) => Effect.succeed(key.toUpperCase())
      })
      for (const key of ["a", "b", "a", "c"]) yield* LocalCache.get(cache, key)
      expect(removals).toEqual([["b", "B", "Size"]])
      expect(cache.unsafePeek("a")).toBe("A")
      expect(cache.unsafePeek("c")).toBe("C")
      expect(cache.unsafeHas("b")).toBe(false)
    }))

  it.scoped("getOption, set, invalidate and invalidateAll work data-first and data-last", () =>
    Effect.gen(function*() {
      const { onRemoval, removals } = recordRemovals()
      const cache = yield* LocalCache.make<string, number>({ name: "basic", maximumSize: 10, onRemoval })
      yield* LocalCache.set(cache, "a", 1)
      yield* cache.pipe(LocalCache.set("b", 2))
      expect(yield* LocalCache.getOption(cache, "a")).toEqual(Option.some(1))
      expect(yield* cache.pipe(LocalCache.getOption("zz"))).toEqual(Option.none())
      yield* LocalCache.set(cache, "a", 3)
      expect(yield* LocalCache.invalidate(cache, "a")).toBe(true)
      expect(yield* LocalCache.invalidate(cache, "a")).toBe(false)
      yield* LocalCache.set(cache, "c", 4)
      yield* LocalCache.invalidateAll(cache)
      expect(yield* LocalCache.size(cache)).toBe(0)
      expect(removals).toEqual([
        ["a", 1, "Replaced"],
        ["a", 3, "Explicit"],
        ["b", 2, "Explicit"],
        ["c", 4, "Explicit"]
      ])
      expect(LocalCache.isLocalCache(cache)).toBe(true)
      expect(LocalCache.isLoadingCache(cache)).toBe(false)
    }))

  it.scoped("expireAfterWrite: an entry is served until its TTL and never after", () =>
    Effect.gen(function*() {
      const cache = yield* LocalCache.make<string, number>({ name: "ttl", maximumSize: 10, expireAfterWrite: "1 minute", ttlJitter: 0 })
      cache.unsafeSet("a", 1)
      yield* TestClock.adjust("59 seconds")
      expect(cache.unsafeGet("a")).toBe(1)
      yield* TestClock.adjust("1 second")
      expect(cache.unsafeGet("a")).toBeUndefined()
      expect(cache.unsafeStats().evictions.Expired).toBe(1)
    }))

  it.scoped("expireAfterAccess: each read extends the entry's life; an idle entry expires", () =>
    Effect.gen(function*() {
      const cache = yield* LocalCache.make<string, number>({ name: "tti", maximumSize: 10, expireAfterAccess: "10 seconds" })
      cache.unsafeSet("a", 1)
      for (let i = 0; i < 5; i++) {
        yield* TestClock.adjust("8 seconds")
        expect(cache.unsafeGet("a")).toBe(1)
      }
      yield* TestClock.adjust("10 seconds")
      expect(cache.unsafeGet("a")).toBeUndefined()
    }))

  it.scoped("a per-entry TTL on set overrides expireAfterWrite", () =>
    Effect.gen(function*() {
      const cache = yield* LocalCache.make<string, number>({ name: "per-entry", maximumSize: 10, expireAfterWrite: "1 hour", ttlJitter: 0 })
      yield* LocalCache.set(cache, "short", 1, { ttl: "5 seconds" })
      yield* LocalCache.set(cache, "long", 2)
      yield* TestClock.adjust("5 seconds")
      expect(cache.unsafeGet("short")).toBeUndefined()
      expect(cache.unsafeGet("long")).toBe(2)
    }))

  it.scoped("a per-entry TTL works on a cache without expiry options", () =>
    Effect.gen(function*() {
      const cache = yield* LocalCache.make<string, number>({ name: "per-entry-only", maximumSize: 10, ttlJitter: 0 })
      cache.unsafeSet("plain", 1)
      cache.unsafeSet("short", 2, 1000)
      yield* TestClock.adjust("1 second")
      expect(cache.unsafeGet("short")).toBeUndefined()
      expect(cache.unsafeGet("plain")).toBe(1)
    }))

  it.scoped("the sweep removes an expired entry within a second without any read", () =>
    Effect.gen(function*() {
      const { onRemoval, removals } = recordRemovals()
      const cache = yield* LocalCache.make<string, number>({
        name: "sweep",
        maximumSize: 100,
        expireAfterWrite: "3 seconds",
        ttlJitter: 0,
        onRemoval
      })
      cache.unsafeSet("a", 1)
      yield* TestClock.adjust("2500 millis")
      cache.unsafeSet("b", 2, 60_000)
      expect(removals).toEqual([])
      yield* TestClock.adjust("1500 millis")
      expect(removals).toEqual([["a", 1, "Expired"]])
      expect(cache.unsafeSize()).toBe(1)
      // Far in the future (several turns of the wheel): still swept once due.
      yield* TestClock.adjust("59 seconds")
      expect(removals).toEqual([["a", 1, "Expired"], ["b", 2, "Expired"]])
    }))

  it.scoped("TTL jitter spreads expiries within ±ttlJitter of the TTL", () =>
    Effect.gen(function*() {
      const cache = yield* LocalCache.make<number, number>({ name: "jitter", maximumSize: 1000, expireAfterWrite: "100 seconds", ttlJitter: 0.2 })
      for (let key = 0; key < 500; key++) cache.unsafeSet(key, key)
      const alive = () => Array.from({ length: 500 }, (_, key) => cache.unsafePeek(key)).filter((v) => v !== undefined).length
      yield* TestClock.adjust("79999 millis")
      expect(alive()).toBe(500)
      yield* TestClock.adjust("20001 millis")
      const atTtl = alive()
      expect(atTtl).toBeGreaterThan(150)
      expect(atTtl).toBeLessThan(350)
      yield* TestClock.adjust("20 seconds")
      expect(alive()).toBe(0)
    }))

  it.scoped("a weigher bounds the total weight; an entry heavier than the bound is not kept", () =>
    Effect.gen(function*() {
      const { onRemoval, removals } = recordRemovals()
      const cache = yield* LocalCache.make<string, string>({
        name: "weight",
        policy: "lru",
        maximumWeight: 10,
        weigher: (_key, value) => value.length,
        onRemoval
      })
      cache.unsafeSet("a", "xxxx")
      cache.unsafeSet("b", "xxxx")
      cache.unsafeSet("c", "xxxx")
      expect(removals).toEqual([["a", "xxxx", "Size"]])
      cache.unsafeSet("huge", "x".repeat(11))
      expect(cache.unsafeHas("huge")).toBe(false)
      expect(cache.unsafeStats().weight).toBeLessThanOrEqual(10)
    }))

  it.scoped("stats and Metrics count hits, misses and evictions by cause", () =>
    Effect.gen(function*() {
      const cache = yield* LocalCache.make<string, number>({ name: "stats-metrics", policy: "lru", maximumSize: 1 })
      cache.unsafeSet("a", 1)
      cache.unsafeGet("a")
      cache.unsafeGet("a")
      cache.unsafeGet("b")
      cache.unsafeSet("b", 2)
      const stats = yield* LocalCache.stats(cache)
      expect(stats).toMatchObject({ hits: 2, misses: 1, size: 1, evictions: { Size: 1, Expired: 0, Explicit: 0, Replaced: 0 } })
      const snapshot = yield* Metric.snapshot
      const value = (name: string, extra?: [string, string]) =>
        snapshot.find((pair) =>
          pair.metricKey.name === name &&
          pair.metricKey.tags.some((tag) => tag.key === "name" && tag.value === "stats-metrics") &&
          (extra === undefined || pair.metricKey.tags.some((tag) => tag.key === extra[0] && tag.value === extra[1]))
        )?.metricState
      expect(value("rampart_cache_hits_total")).toMatchObject({ count: 2 })
      expect(value("rampart_cache_misses_total")).toMatchObject({ count: 1 })
      expect(value("rampart_cache_evictions_total", ["cause", "Size"])).toMatchObject({ count: 1 })
      expect(value("rampart_cache_size")).toMatchObject({ value: 1 })
    }))

  it.scoped("the timer flushes hit and miss counts to the Metrics within a second, without a stats read", () =>
    Effect.gen(function*() {
      const cache = yield* LocalCache.make<string, number>({ name: "timer-flush", maximumSize: 10 })
      cache.unsafeSet("a", 1)
      cache.unsafeGet("a")
      cache.unsafeGet("zz")
      const hitsOf = Effect.map(Metric.snapshot, (pairs) =>
        pairs.find((pair) =>
          pair.metricKey.name === "rampart_cache_hits_total" &&
          pair.metricKey.tags.some((tag) => tag.key === "name" && tag.value === "timer-flush")
        )?.metricState)
      yield* TestClock.adjust("1 second")
      expect(yield* hitsOf).toMatchObject({ count: 1 })
      // Idle afterwards: a long stretch of time wakes nothing and changes nothing.
      yield* TestClock.adjust("1 day")
      expect(yield* hitsOf).toMatchObject({ count: 1 })
      expect(cache.unsafeGet("a")).toBe(1)
    }))

  it.scoped("getOrLoad runs one lookup for concurrent misses of a key and caches its value", () =>
    Effect.gen(function*() {
      const cache = yield* LocalCache.make<string, number>({ name: "get-or-load", maximumSize: 10 })
      let calls = 0
      const lookup = (key: string) => Effect.as(Effect.sleep("10 millis"), key.length + calls++)
      const fiber = yield* Effect.fork(Effect.all(Array.from({ length: 50 }, () => LocalCache.getOrLoad(cache, "abc", lookup)), { concurrency: "unbounded" }))
      yield* TestClock.adjust("10 millis")
      const values = yield* fiber
      expect(new Set(values)).toEqual(new Set([3]))
      expect(calls).toBe(1)
      expect(yield* cache.pipe(LocalCache.getOrLoad("abc", lookup))).toBe(3)
      expect(calls).toBe(1)
      expect(cache.unsafeStats()).toMatchObject({ loadSuccesses: 1 })
    }))

  it.scoped("events report evictions while subscribed", () =>
    Effect.gen(function*() {
      const cache = yield* LocalCache.make<string, number>({ name: "events", policy: "fifo", maximumSize: 1 })
      const fiber = yield* Effect.fork(Stream.runCollect(Stream.take(cache.events, 1)))
      // Keep evicting until the subscription is live and has seen one.
      for (let i = 0; i < 100 && fiber.unsafePoll() === null; i++) {
        cache.unsafeSet(`k${i}`, i)
        yield* Effect.yieldNow()
      }
      const events = yield* Fiber.join(fiber)
      expect([...events]).toMatchObject([{ _tag: "Evicted", name: "events", cause: "Size" }])
    }))

  it.effect("bad options fail with InvalidOptions naming the field", () =>
    Effect.gen(function*() {
      const messageOf = (options: unknown) =>
        Effect.scoped(LocalCache.make(options as LocalCache.LocalCacheOptionsInput<string, number>)).pipe(
          Effect.either,
          Effect.map(Either.match({ onLeft: (error) => error.message, onRight: () => "ok" }))
        )
      expect(yield* messageOf({ name: "x" })).toMatch(/maximumSize: Expected exactly one of maximumSize or maximumWeight, got neither/)
      expect(yield* messageOf({ name: "x", maximumSize: 1, maximumWeight: 2, weigher: () => 1 })).toMatch(/maximumSize: .*got both/)
      expect(yield* messageOf({ name: "x", maximumWeight: 2 })).toMatch(/weigher: Expected a weigher/)
      expect(yield* messageOf({ name: "x", maximumSize: 0 })).toMatch(/maximumSize/)
      expect(yield* messageOf({ name: "x", maximumSize: 10, policy: "random" })).toMatch(/policy/)
      expect(yield* messageOf({ name: "x", maximumSize: 10, ttlJitter: 1.5 })).toMatch(/ttlJitter/)
      expect(yield* messageOf({ name: "x", maximumSize: 10, expireAfterWrite: "soon" })).toMatch(/expireAfterWrite/)
      expect(yield* messageOf({ name: "", maximumSize: 10 })).toMatch(/name/)
      expect(yield* messageOf({ name: "x", maximumSize: 10, onRemoval: 3 })).toMatch(/onRemoval/)
      const loading = yield* Effect.scoped(
        LocalCache.makeLoading({ name: "x", maximumSize: 10 } as unknown as LocalCache.LoadingCacheOptionsInput<string, number, never, never>)
      ).pipe(Effect.flip)
      expect(loading.message).toMatch(/invalid LoadingCache options: lookup/)
      const refresh = yield* Effect.scoped(
        LocalCache.makeLoading({ name: "x", maximumSize: 10, lookup: Effect.succeed, refreshAfterWrite: -1 })
      ).pipe(Effect.flip)
      expect(refresh.message).toMatch(/refreshAfterWrite/)
    }))

  it.effect("a Tag and layer provide a typed cache service", () =>
    Effect.gen(function*() {
      class Users extends LocalCache.Tag("test/Users")<Users, string, number>() {}
      const value = yield* Effect.gen(function*() {
        const cache = yield* Users
        cache.unsafeSet("a", 1)
        return cache.unsafeGet("a")
      }).pipe(Effect.provide(LocalCache.layer(Users, { name: "users", maximumSize: 10 })))
      expect(value).toBe(1)
    }))

  it.effect("layerConfig reads the options from the ConfigProvider", () =>
    Effect.gen(function*() {
      class Sessions extends LocalCache.Tag("test/Sessions")<Sessions, string, number>() {}
      const provider = ConfigProvider.fromMap(new Map([["name", "sessions"], ["policy", "lru"], ["maximumSize", "1"]]))
      const evicted = yield* Effect.gen(function*() {
        const cache = yield* Sessions
        cache.unsafeSet("a", 1)
        cache.unsafeSet("b", 2)
        return { name: cache.name, a: cache.unsafeHas("a"), b: cache.unsafeHas("b") }
      }).pipe(
        Effect.provide(LocalCache.layerConfig(Sessions).pipe(Layer.provide(Layer.setConfigProvider(provider))))
      )
      expect(evicted).toEqual({ name: "sessions", a: false, b: true })
      const bad = yield* Effect.gen(function*() {
        yield* Sessions
      }).pipe(
        Effect.provide(LocalCache.layerConfig(Sessions).pipe(
          Layer.provide(Layer.setConfigProvider(ConfigProvider.fromMap(new Map([["name", "s"], ["maximumSize", "1"], ["ttlJitter", "3"]]))))
        )),
        Effect.flip
      )
      expect(bad.message).toMatch(/ttlJitter/)
    }))
})

describe("LocalCache.update", () => {
  for (const policy of ["wTinyLfu", "lru", "lfu", "fifo"] as const) {
    it.scoped(`${policy}: shrinking maximumSize evicts down to the new bound at once, each removal reported once with cause Size`, () =>
      Effect.gen(function*() {
        const { onRemoval, removals } = recordRemovals()
        const cache = yield* LocalCache.make<number, number>({ name: `shrink-${policy}`, policy, maximumSize: 100, onRemoval })
        for (let key = 0; key < 100; key++) cache.unsafeSet(key, key)
        expect(cache.unsafeSize()).toBe(100)
        yield* LocalCache.update(cache, { maximumSize: 30 })
        expect(cache.unsafeSize()).toBe(30)
        expect(removals).toHaveLength(70)
        expect(removals.every(([, , cause]) => cause === "Size")).toBe(true)
        expect(new Set(removals.map(([key]) => key)).size).toBe(70)
        for (const [key] of removals) expect(cache.unsafeHas(key as number)).toBe(false)
        if (policy === "lru" || policy === "fifo") {
          // The policy's own order: the 70 oldest go.
          expect(removals.map(([key]) => key)).toEqual(Array.from({ length: 70 }, (_, i) => i))
        }
        // The new bound holds for later writes.
        for (let key = 100; key < 200; key++) {
          cache.unsafeSet(key, key)
          expect(cache.unsafeSize()).toBeLessThanOrEqual(30)
        }
        expect((yield* LocalCache.stats(cache)).evictions.Size).toBe(removals.length)
      }))
  }

  it.scoped("wTinyLfu: shrinking keeps the promoted (frequently used) keys and evicts from probation first", () =>
    Effect.gen(function*() {
      const { onRemoval, removals } = recordRemovals()
      const cache = yield* LocalCache.make<number, number>({ name: "shrink-hot", maximumSize: 100, onRemoval })
      for (let key = 0; key < 100; key++) cache.unsafeSet(key, key)
      const hot = [3, 17, 42, 58, 64, 77, 81, 90, 95, 96]
      for (let pass = 0; pass < 2; pass++) for (const key of hot) expect(cache.unsafeGet(key)).toBe(key)
      yield* cache.pipe(LocalCache.update({ maximumSize: 20 }))
      expect(cache.unsafeSize()).toBe(20)
      expect(removals).toHaveLength(80)
      for (const key of hot) expect(cache.unsafePeek(key)).toBe(key)
    }))

  it.scoped("growing maximumSize admits more entries without evicting", () =>
    Effect.gen(function*() {
      for (const policy of ["wTinyLfu", "lru", "lfu", "fifo"] as const) {
        const { onRemoval, removals } = recordRemovals()
        const cache = yield* LocalCache.make<number, number>({ name: `grow-${policy}`, policy, maximumSize: 10, onRemoval })
        for (let key = 0; key < 10; key++) cache.unsafeSet(key, key)
        yield* LocalCache.update(cache, { maximumSize: 50 })
        for (let key = 10; key < 50; key++) cache.unsafeSet(key, key)
        expect(cache.unsafeSize()).toBe(50)
        expect(removals).toEqual([])
        cache.unsafeSet(50, 50)
        expect(cache.unsafeSize()).toBe(50)
        expect(removals).toHaveLength(1)
      }
    }))

  it.scoped("maximumWeight shrinks by weight", () =>
    Effect.gen(function*() {
      const { onRemoval, removals } = recordRemovals()
      const cache = yield* LocalCache.make<string, number>({
        name: "weights",
        policy: "lru",
        maximumWeight: 100,
        weigher: (_key, value) => value,
        onRemoval
      })
      for (const [key, weight] of [["a", 30], ["b", 30], ["c", 30]] as const) cache.unsafeSet(key, weight)
      yield* LocalCache.update(cache, { maximumWeight: 50 })
      expect(removals).toEqual([["a", 30, "Size"], ["b", 30, "Size"]])
      expect((yield* LocalCache.stats(cache)).weight).toBe(30)
    }))

  it.scoped("a bad patch fails with InvalidOptions naming the field and leaves the cache unchanged", () =>
    Effect.gen(function*() {
      const { onRemoval, removals } = recordRemovals()
      const cache = yield* LocalCache.make<number, number>({ name: "bad", policy: "lru", maximumSize: 10, expireAfterWrite: "1 minute", ttlJitter: 0, onRemoval })
      for (let key = 0; key < 10; key++) cache.unsafeSet(key, key)
      const cases: ReadonlyArray<readonly [LocalCache.LocalCacheUpdate, RegExp]> = [
        [{ maximumSize: 0 }, /maximumSize/],
        [{ maximumSize: 2.5 }, /maximumSize/],
        [{ ttlJitter: 2 }, /ttlJitter/],
        [{ expireAfterWrite: -5 }, /expireAfterWrite/],
        [{ expireAfterAccess: "soon" }, /expireAfterAccess/],
        [{ maximumSize: 5, ttlJitter: -1 }, /ttlJitter/],
        [{ policy: "lfu" }, /policy: cannot switch a live cache from "lru" to "lfu"/],
        [{ maximumWeight: 5 }, /maximumWeight: this cache is bounded by maximumSize/],
        [{ name: "other" } as LocalCache.LocalCacheUpdate, /name: cannot be changed/]
      ]
      for (const [patch, field] of cases) {
        const error = yield* Effect.flip(LocalCache.update(cache, patch))
        expect(error._tag).toBe("InvalidOptions")
        expect(error.message).toMatch(field)
      }
      // Unchanged: all entries, the old bound, the old TTL.
      expect(removals).toEqual([])
      expect(cache.unsafeSize()).toBe(10)
      cache.unsafeSet(10, 10)
      expect(cache.unsafeSize()).toBe(10)
      expect(removals).toEqual([[0, 0, "Size"]])
      yield* TestClock.adjust("59 seconds")
      expect(cache.unsafePeek(10)).toBe(10)
      yield* TestClock.adjust("1 second")
      expect(cache.unsafePeek(10)).toBeUndefined()
      // The same policy is accepted.
      yield* LocalCache.update(cache, { policy: "lru", maximumSize: 12 })
    }))

  it.scoped("a weighted cache refuses switching to maximumSize", () =>
    Effect.gen(function*() {
      const cache = yield* LocalCache.make<string, number>({ name: "w", maximumWeight: 10, weigher: (_k, v) => v })
      const error = yield* Effect.flip(LocalCache.update(cache, { maximumSize: 5 }))
      expect(error.message).toMatch(/maximumSize: this cache is bounded by maximumWeight/)
    }))

  it.scoped("a new expireAfterWrite applies to writes after the update; present entries keep their deadline", () =>
    Effect.gen(function*() {
      const cache = yield* LocalCache.make<string, number>({ name: "ttl", maximumSize: 10, expireAfterWrite: "1 minute", ttlJitter: 0 })
      yield* LocalCache.set(cache, "before", 1)
      yield* LocalCache.update(cache, { expireAfterWrite: "10 seconds" })
      yield* LocalCache.set(cache, "after", 2)
      yield* TestClock.adjust("11 seconds")
      expect(cache.unsafePeek("after")).toBeUndefined()
      expect(cache.unsafePeek("before")).toBe(1)
      yield* TestClock.adjust("49 seconds")
      expect(cache.unsafePeek("before")).toBeUndefined()
      // The sweep removes both for good.
      yield* TestClock.adjust("2 seconds")
      expect(cache.unsafeSize()).toBe(0)
    }))

  it.scoped("expiry can be switched on for a cache made without it", () =>
    Effect.gen(function*() {
      const cache = yield* LocalCache.make<string, number>({ name: "ttl-on", maximumSize: 10 })
      yield* LocalCache.set(cache, "forever", 1)
      yield* LocalCache.update(cache, { expireAfterWrite: "5 seconds", ttlJitter: 0 })
      yield* LocalCache.set(cache, "short", 2)
      yield* TestClock.adjust("6 seconds")
      expect(cache.unsafePeek("short")).toBeUndefined()
      expect(cache.unsafePeek("forever")).toBe(1)
    }))

  it.scoped("a new expireAfterAccess applies to reads and writes after the update", () =>
    Effect.gen(function*() {
      const cache = yield* LocalCache.make<string, number>({ name: "tta", maximumSize: 10 })
      yield* LocalCache.set(cache, "old", 1)
      yield* LocalCache.set(cache, "unread", 3)
      yield* LocalCache.update(cache, { expireAfterAccess: "5 seconds" })
      yield* LocalCache.set(cache, "new", 2)
      expect(cache.unsafeGet("old")).toBe(1)
      yield* TestClock.adjust("4 seconds")
      expect(cache.unsafeGet("new")).toBe(2)
      yield* TestClock.adjust("4 seconds")
      // "old" was last read 8 s ago, "new" 4 s ago; "unread" has had no access since the update.
      expect(cache.unsafeGet("old")).toBeUndefined()
      expect(cache.unsafeGet("new")).toBe(2)
      expect(cache.unsafeGet("unread")).toBe(3)
      yield* TestClock.adjust("6 seconds")
      expect(cache.unsafePeek("new")).toBeUndefined()
      expect(cache.unsafePeek("unread")).toBeUndefined()
    }))

  it.scoped("a loading cache keeps its lookup and entries across an update", () =>
    Effect.gen(function*() {
      let calls = 0
      const cache = yield* LocalCache.makeLoading({
        name: "loading-update",
        policy: "lru",
        maximumSize: 4,
        lookup: (key: number) => Effect.sync(() => (calls++, key * 2))
      })
      for (let key = 0; key < 4; key++) yield* LocalCache.get(cache, key)
      yield* LocalCache.update(cache, { maximumSize: 2 })
      expect(cache.unsafeSize()).toBe(2)
      expect(yield* LocalCache.get(cache, 3)).toBe(6)
      expect(calls).toBe(4)
      const error = yield* Effect.flip(LocalCache.update(cache, { maximumSize: -1 }))
      expect(error.message).toMatch(/LoadingCache.*maximumSize/)
    }))
})
