import { describe, expect, it } from "@effect/vitest"
import { Deferred, Effect, Fiber, Metric, Option, TestClock } from "effect"
import * as BloomFilter from "../src/BloomFilter.js"
import * as ProtectedCache from "../src/ProtectedCache.js"
import { settle } from "./support/polling.js"

/** A backend that counts lookups per key; `rows` says which keys exist. */
const makeBackend = (rows: Record<string, string>) => {
  const lookups = new Map<string, number>()
  const lookup = (key: string) =>
    Effect.sync(() => {
      lookups.set(key, (lookups.get(key) ?? 0) + 1)
      return Option.fromNullable(rows[key])
    })
  return { lookup, lookups, count: (key: string) => lookups.get(key) ?? 0 }
}


describe("ProtectedCache", () => {
  it.scoped("serves a cached value until its TTL (with jitter) passes, then looks it up again", () =>
    Effect.gen(function*() {
      const backend = makeBackend({ a: "A" })
      const cache = yield* ProtectedCache.make({
        name: "ttl",
        ttl: "10 seconds",
        ttlJitter: 0.1,
        earlyRefresh: false,
        lookup: backend.lookup
      })
      expect(yield* ProtectedCache.get(cache, "a")).toEqual(Option.some("A"))
      yield* TestClock.adjust("8999 millis")
      expect(yield* ProtectedCache.get(cache, "a")).toEqual(Option.some("A"))
      expect(backend.count("a")).toBe(1)
      // Past the longest jittered TTL (11 s) the value must have been looked up again.
      yield* TestClock.adjust("2002 millis")
      expect(yield* ProtectedCache.get(cache, "a")).toEqual(Option.some("A"))
      expect(backend.count("a")).toBe(2)
    }))

  it.scoped("spreads the expiry of keys written together over ±jitter of the TTL", () =>
    Effect.gen(function*() {
      const keys = Array.from({ length: 200 }, (_, i) => `k${i}`)
      const backend = makeBackend(Object.fromEntries(keys.map((key) => [key, key])))
      const cache = yield* ProtectedCache.make({
        name: "jitter",
        ttl: "100 seconds",
        ttlJitter: 0.2,
        earlyRefresh: false,
        lookup: backend.lookup
      })
      yield* Effect.forEach(keys, (key) => ProtectedCache.get(cache, key), { discard: true })
      const expired = () => keys.filter((key) => backend.count(key) > 1).length
      const reloadAll = Effect.forEach(keys, (key) => ProtectedCache.get(cache, key), { discard: true })
      // Before 80 s nothing expired; after 120 s everything did; in between, some but not all.
      yield* TestClock.adjust("79 seconds")
      yield* reloadAll
      expect(expired()).toBe(0)
      yield* TestClock.adjust("21 seconds")
      yield* reloadAll
      const midway = expired()
      expect(midway).toBeGreaterThan(20)
      expect(midway).toBeLessThan(180)
    }))

  it.scoped("caches absence for the negative TTL, so a missing key reaches the backend once per period", () =>
    Effect.gen(function*() {
      const backend = makeBackend({})
      const cache = yield* ProtectedCache.make({
        name: "negative",
        ttl: "1 minute",
        negativeTtl: "5 seconds",
        ttlJitter: 0,
        lookup: backend.lookup
      })
      for (let i = 0; i < 50; i++) expect(yield* ProtectedCache.get(cache, "ghost")).toEqual(Option.none())
      expect(backend.count("ghost")).toBe(1)
      yield* TestClock.adjust("5001 millis")
      yield* ProtectedCache.get(cache, "ghost")
      expect(backend.count("ghost")).toBe(2)
      const stats = yield* ProtectedCache.stats(cache)
      expect(stats.negativeHits).toBe(49)
    }))

  it.scoped("with negative caching off, every lookup of a missing key reaches the backend", () =>
    Effect.gen(function*() {
      const backend = makeBackend({})
      const cache = yield* ProtectedCache.make({
        name: "no-negative",
        ttl: "1 minute",
        negativeTtl: false,
        lookup: backend.lookup
      })
      for (let i = 0; i < 5; i++) yield* ProtectedCache.get(cache, "ghost")
      expect(backend.count("ghost")).toBe(5)
    }))

  it.scoped("a Bloom filter gate answers absent for unknown keys without any lookup", () =>
    Effect.gen(function*() {
      const backend = makeBackend({ a: "A", b: "B" })
      const known = yield* BloomFilter.make({ expectedItems: 1000, falsePositiveRate: 0.01 })
      yield* BloomFilter.addAll(known, ["a", "b"])
      const cache = yield* ProtectedCache.make({
        name: "gate",
        ttl: "1 minute",
        bloomFilter: known,
        negativeTtl: false,
        lookup: backend.lookup
      })
      expect(yield* ProtectedCache.get(cache, "a")).toEqual(Option.some("A"))
      const probes = Array.from({ length: 1000 }, (_, i) => `attack-${i}`)
      yield* Effect.forEach(probes, (key) => ProtectedCache.get(cache, key), { discard: true })
      const reached = probes.filter((key) => backend.count(key) > 0).length
      // Only the filter's false positives (about 1%) may reach the backend.
      expect(reached).toBeLessThan(40)
      const stats = yield* ProtectedCache.stats(cache)
      expect(stats.bloomRejections).toBe(1000 - reached)
      // A key written through the cache passes the gate from then on.
      yield* ProtectedCache.set(cache, "c", "C")
      expect(yield* BloomFilter.mightContain(known, "c")).toBe(true)
      expect(yield* ProtectedCache.get(cache, "c")).toEqual(Option.some("C"))
    }))

  it.scoped("1,000 concurrent misses of one hot key run one lookup", () =>
    Effect.gen(function*() {
      let lookups = 0
      const gate = yield* Deferred.make<void>()
      const cache = yield* ProtectedCache.make({
        name: "stampede",
        ttl: "1 minute",
        lookup: (_key: string) =>
          Effect.zipRight(
            Effect.sync(() => lookups++),
            Effect.as(Deferred.await(gate), Option.some("hot"))
          )
      })
      const callers = yield* Effect.fork(
        Effect.all(Array.from({ length: 1000 }, () => ProtectedCache.get(cache, "hot")), {
          concurrency: "unbounded"
        })
      )
      // Every caller has missed before the one lookup is let go.
      yield* settle(() => Effect.runSync(ProtectedCache.stats(cache)).misses === 1000)
      yield* Deferred.succeed(gate, undefined)
      const results = yield* Fiber.join(callers)
      expect(lookups).toBe(1)
      expect(results.every((value) => Option.getOrNull(value) === "hot")).toBe(true)
      const stats = yield* ProtectedCache.stats(cache)
      expect(stats.coalesced).toBe(999)
    }))

  it.scoped("without single-flight, concurrent misses each run the lookup", () =>
    Effect.gen(function*() {
      let lookups = 0
      const gate = yield* Deferred.make<void>()
      const cache = yield* ProtectedCache.make({
        name: "no-single-flight",
        ttl: "1 minute",
        singleFlight: false,
        lookup: (_key: string) =>
          Effect.zipRight(Effect.sync(() => lookups++), Effect.as(Deferred.await(gate), Option.some("v")))
      })
      const callers = yield* Effect.fork(
        Effect.all(Array.from({ length: 10 }, () => ProtectedCache.get(cache, "k")), { concurrency: "unbounded" })
      )
      yield* settle(() => lookups === 10)
      yield* Deferred.succeed(gate, undefined)
      yield* Fiber.join(callers)
      expect(lookups).toBe(10)
    }))

  it.scoped("refreshes a hot key early in the background: callers keep the cached value and never wait", () =>
    Effect.gen(function*() {
      let version = 0
      const refreshGate = yield* Deferred.make<void>()
      const cache = yield* ProtectedCache.make({
        name: "xfetch",
        ttl: "10 seconds",
        ttlJitter: 0,
        // A large beta makes an early refresh near-certain once a lookup takes 100 ms and expiry is
        // a few seconds away.
        earlyRefresh: { beta: 1000 },
        lookup: (_key: string) =>
          Effect.gen(function*() {
            version++
            if (version === 1) {
              yield* Effect.sleep("100 millis")
            } else {
              yield* Deferred.await(refreshGate)
            }
            return Option.some(`v${version}`)
          })
      })
      const first = yield* Effect.fork(ProtectedCache.get(cache, "hot"))
      yield* TestClock.adjust("100 millis")
      expect(yield* Fiber.join(first)).toEqual(Option.some("v1"))
      yield* TestClock.adjust("7 seconds")
      // The refresh is blocked on its gate, yet every caller is served the cached value at once.
      for (let i = 0; i < 20; i++) expect(yield* ProtectedCache.get(cache, "hot")).toEqual(Option.some("v1"))
      const stats = yield* ProtectedCache.stats(cache)
      expect(stats.earlyRefreshes).toBe(1)
      yield* settle(() => version === 2)
      expect(version).toBe(2)
      expect(yield* ProtectedCache.get(cache, "hot")).toEqual(Option.some("v1"))
      yield* Deferred.succeed(refreshGate, undefined)
      yield* settle(() => Effect.runSync(ProtectedCache.stats(cache)).loads === 2 && version === 2)
      yield* settle(() => Option.getOrNull(Effect.runSync(cache.get("hot"))) === "v2")
      expect(yield* ProtectedCache.get(cache, "hot")).toEqual(Option.some("v2"))
    }))

  it.scoped("a failed lookup is not cached and fails the caller with its typed error", () =>
    Effect.gen(function*() {
      let calls = 0
      const cache = yield* ProtectedCache.make({
        name: "failing",
        ttl: "1 minute",
        lookup: (_key: string) =>
          Effect.suspend(() => ++calls === 1 ? Effect.fail("db down" as const) : Effect.succeed(Option.some(1)))
      })
      expect(yield* Effect.flip(ProtectedCache.get(cache, "k"))).toBe("db down")
      expect(yield* ProtectedCache.get(cache, "k")).toEqual(Option.some(1))
      const stats = yield* ProtectedCache.stats(cache)
      expect(stats.loadFailures).toBe(1)
    }))

  it.scoped("a failed background refresh keeps serving the cached value until it expires", () =>
    Effect.gen(function*() {
      let calls = 0
      const cache = yield* ProtectedCache.make({
        name: "refresh-fails",
        ttl: "10 seconds",
        ttlJitter: 0,
        earlyRefresh: { beta: 1000 },
        lookup: (_key: string) =>
          Effect.gen(function*() {
            calls++
            yield* Effect.sleep("100 millis")
            return calls === 1 ? Option.some("v1") : yield* Effect.fail("db down" as const)
          })
      })
      const first = yield* Effect.fork(ProtectedCache.get(cache, "k"))
      yield* TestClock.adjust("100 millis")
      yield* Fiber.join(first)
      yield* TestClock.adjust("9 seconds")
      expect(yield* ProtectedCache.get(cache, "k")).toEqual(Option.some("v1"))
      yield* settle(() => calls === 2)
      yield* TestClock.adjust("100 millis")
      yield* settle(() => Effect.runSync(ProtectedCache.stats(cache)).refreshFailures === 1)
      expect(yield* ProtectedCache.get(cache, "k")).toEqual(Option.some("v1"))
      expect((yield* ProtectedCache.stats(cache)).refreshFailures).toBe(1)
    }))

  it.scoped("publishes its counts to the Metrics within a second of activity, and on a stats read", () =>
    Effect.gen(function*() {
      const backend = makeBackend({ a: "A" })
      const cache = yield* ProtectedCache.make({ name: "metrics", ttl: "1 minute", lookup: backend.lookup })
      const countOf = (outcome: string) =>
        Effect.map(Metric.snapshot, (pairs) =>
          pairs.find((pair) =>
            pair.metricKey.name === "rampart_protected_cache_requests_total" &&
            pair.metricKey.tags.some((tag) => tag.key === "name" && tag.value === "metrics") &&
            pair.metricKey.tags.some((tag) => tag.key === "outcome" && tag.value === outcome)
          )?.metricState)
      for (let i = 0; i < 5; i++) yield* ProtectedCache.get(cache, "a")
      yield* TestClock.adjust("1 second")
      expect(yield* countOf("hits")).toMatchObject({ count: 4 })
      expect(yield* countOf("misses")).toMatchObject({ count: 1 })
      yield* ProtectedCache.get(cache, "a")
      expect((yield* ProtectedCache.stats(cache)).hits).toBe(5)
      expect(yield* countOf("hits")).toMatchObject({ count: 5 })
    }))

  it.scoped("invalidate drops the cached answer", () =>
    Effect.gen(function*() {
      const backend = makeBackend({ a: "A" })
      const cache = yield* ProtectedCache.make({ name: "invalidate", ttl: "1 minute", lookup: backend.lookup })
      yield* ProtectedCache.get(cache, "a")
      yield* ProtectedCache.invalidate(cache, "a")
      yield* ProtectedCache.get(cache, "a")
      expect(backend.count("a")).toBe(2)
    }))

  it.scoped("rejects bad options with a message naming each field", () =>
    Effect.gen(function*() {
      const error = yield* Effect.flip(
        ProtectedCache.make({
          name: "",
          ttl: 0,
          ttlJitter: 2,
          earlyRefresh: { beta: -1 },
          lookup: (_key: string) => Effect.succeed(Option.none())
        })
      )
      expect(error._tag).toBe("InvalidOptions")
      expect(error.message).toContain("name")
      expect(error.message).toContain("ttl:")
      expect(error.message).toContain("ttlJitter")
      expect(error.message).toContain("beta")
      const notAFilter = yield* Effect.flip(
        ProtectedCache.make({
          name: "x",
          ttl: "1 second",
          bloomFilter: {} as never,
          lookup: (_key: string) => Effect.succeed(Option.none())
        })
      )
      expect(notAFilter.message).toContain("bloomFilter")
    }))
})
