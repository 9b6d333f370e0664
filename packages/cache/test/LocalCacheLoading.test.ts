import { describe, expect, it } from "@effect/vitest"
import { Context, Deferred, Effect, Exit, Fiber, TestClock } from "effect"
import * as LocalCache from "../src/LocalCache.js"

class LookupFailed {
  readonly _tag = "LookupFailed"
}

describe("LocalCache.makeLoading", () => {
  it.scoped("1,000 concurrent misses of one key run the lookup exactly once", () =>
    Effect.gen(function*() {
      const release = yield* Deferred.make<void>()
      let calls = 0
      const cache = yield* LocalCache.makeLoading({
        name: "single-flight",
        maximumSize: 10,
        lookup: (key: string) => Effect.as(Effect.zipRight(Effect.sync(() => calls++), Deferred.await(release)), key.length)
      })
      const fiber = yield* Effect.fork(
        Effect.all(Array.from({ length: 1000 }, () => LocalCache.get(cache, "abcd")), { concurrency: "unbounded" })
      )
      yield* Effect.yieldNow()
      yield* Deferred.succeed(release, undefined)
      const values = yield* Fiber.join(fiber)
      expect(values.length).toBe(1000)
      expect(values.every((value) => value === 4)).toBe(true)
      expect(calls).toBe(1)
      expect(cache.unsafeStats()).toMatchObject({ loadSuccesses: 1, misses: 1000 })
    }))

  it.scoped("a failed lookup is not cached: every waiter gets the failure and the next get tries again", () =>
    Effect.gen(function*() {
      let calls = 0
      const cache = yield* LocalCache.makeLoading({
        name: "failures",
        maximumSize: 10,
        lookup: (_key: string) => Effect.suspend(() => (calls++ === 0 ? Effect.fail(new LookupFailed()) : Effect.succeed(1)))
      })
      const first = yield* Effect.either(LocalCache.get(cache, "a"))
      expect(first._tag).toBe("Left")
      expect(yield* cache.get("a")).toBe(1)
      expect(calls).toBe(2)
      expect(cache.unsafeStats()).toMatchObject({ loadSuccesses: 1, loadFailures: 1 })
    }))

  it.scoped("refreshAfterWrite serves the stale value while exactly one background refresh runs", () =>
    Effect.gen(function*() {
      let version = 0
      let gate = yield* Deferred.make<void>()
      let calls = 0
      const cache = yield* LocalCache.makeLoading({
        name: "refresh",
        maximumSize: 10,
        refreshAfterWrite: "1 minute",
        lookup: (_key: string) =>
          Effect.suspend(() => {
            calls++
            return calls === 1 ? Effect.succeed(++version) : Effect.as(Deferred.await(gate), ++version)
          })
      })
      expect(yield* cache.get("k")).toBe(1)
      yield* TestClock.adjust("61 seconds")
      for (let i = 0; i < 20; i++) {
        expect(yield* cache.get("k")).toBe(1)
        yield* Effect.yieldNow()
      }
      expect(calls).toBe(2)
      yield* Deferred.succeed(gate, undefined)
      for (let i = 0; i < 10 && cache.unsafePeek("k") === 1; i++) yield* Effect.yieldNow()
      expect(yield* cache.get("k")).toBe(2)
      expect(calls).toBe(2)
      gate = yield* Deferred.make<void>()
    }))

  it.scoped("stale-if-error: a failed refresh keeps serving the last value, also past expiry within staleIfError", () =>
    Effect.gen(function*() {
      let failing = false
      let calls = 0
      const cache = yield* LocalCache.makeLoading({
        name: "stale-if-error",
        maximumSize: 10,
        ttlJitter: 0,
        refreshAfterWrite: "1 minute",
        expireAfterWrite: "5 minutes",
        staleIfError: "10 minutes",
        lookup: (_key: string) => Effect.suspend(() => (calls++, failing ? Effect.fail(new LookupFailed()) : Effect.succeed(calls)))
      })
      expect(yield* cache.get("k")).toBe(1)
      failing = true
      yield* TestClock.adjust("2 minutes")
      // The background refresh fails: the last value is still served.
      expect(yield* cache.get("k")).toBe(1)
      for (let i = 0; i < 5; i++) yield* Effect.yieldNow()
      expect(calls).toBe(2)
      expect(yield* cache.get("k")).toBe(1)
      // Expired: the load fails, the stale value is served within the grace.
      yield* TestClock.adjust("5 minutes")
      expect(yield* cache.get("k")).toBe(1)
      // Past expiry + staleIfError: the failure comes through.
      yield* TestClock.adjust("10 minutes")
      const late = yield* Effect.either(cache.get("k"))
      expect(late._tag).toBe("Left")
      expect(cache.unsafeStats().loadFailures).toBeGreaterThanOrEqual(3)
    }))

  it.scoped("without staleIfError an expired entry's failed load fails", () =>
    Effect.gen(function*() {
      let failing = false
      const cache = yield* LocalCache.makeLoading({
        name: "no-stale",
        maximumSize: 10,
        ttlJitter: 0,
        expireAfterWrite: "5 minutes",
        lookup: (_key: string) => (failing ? Effect.fail(new LookupFailed()) : Effect.succeed(1))
      })
      expect(yield* cache.get("k")).toBe(1)
      failing = true
      yield* TestClock.adjust("6 minutes")
      expect((yield* Effect.either(cache.get("k")))._tag).toBe("Left")
    }))

  it.scoped("getAll loads the missing keys in one batched lookupAll call, in request order", () =>
    Effect.gen(function*() {
      const batches: Array<ReadonlyArray<string>> = []
      let singles = 0
      const cache = yield* LocalCache.makeLoading({
        name: "get-all",
        maximumSize: 100,
        lookup: (key: string) => Effect.sync(() => (singles++, key.toUpperCase())),
        lookupAll: (keys) =>
          Effect.sync(() => {
            batches.push(keys)
            return new Map(keys.filter((key) => key !== "none").map((key) => [key, key.toUpperCase()]))
          })
      })
      yield* cache.get("b")
      const all = yield* LocalCache.getAll(cache, ["a", "b", "c", "a", "none"])
      expect([...all]).toEqual([["a", "A"], ["b", "B"], ["c", "C"]])
      expect(batches).toEqual([["a", "c", "none"]])
      expect(singles).toBe(1)
      const again = yield* cache.pipe(LocalCache.getAll(["c", "a"]))
      expect([...again]).toEqual([["c", "C"], ["a", "A"]])
      expect(batches.length).toBe(1)
    }))

  it.scoped("getAll without lookupAll loads each missing key through get", () =>
    Effect.gen(function*() {
      const cache = yield* LocalCache.makeLoading({ name: "get-all-single", maximumSize: 100, lookup: (key: number) => Effect.succeed(key * 2) })
      const all = yield* cache.getAll([1, 2, 3])
      expect([...all]).toEqual([[1, 2], [2, 4], [3, 6]])
      expect(cache.unsafeStats().loadSuccesses).toBe(3)
    }))

  it.scoped("refresh reloads a key now and returns the new value", () =>
    Effect.gen(function*() {
      let version = 0
      const cache = yield* LocalCache.makeLoading({ name: "refresh-now", maximumSize: 10, lookup: (_key: string) => Effect.sync(() => ++version) })
      expect(yield* cache.get("k")).toBe(1)
      expect(yield* LocalCache.refresh(cache, "k")).toBe(2)
      expect(yield* cache.get("k")).toBe(2)
    }))

  it.scoped("the lookup's context is captured at make", () =>
    Effect.gen(function*() {
      class Prefix extends Context.Tag("test/Prefix")<Prefix, string>() {}
      const cache = yield* LocalCache.makeLoading({
        name: "context",
        maximumSize: 10,
        lookup: (key: string) => Effect.map(Prefix, (prefix) => prefix + key)
      }).pipe(Effect.provideService(Prefix, "p:"))
      expect(yield* cache.get("k")).toBe("p:k")
    }))

  it.scoped("interrupting one of two waiters leaves the load running for the other", () =>
    Effect.gen(function*() {
      const release = yield* Deferred.make<void>()
      const cache = yield* LocalCache.makeLoading({ name: "interrupt", maximumSize: 10, lookup: (_key: string) => Effect.as(Deferred.await(release), 7) })
      const first = yield* Effect.fork(cache.get("k"))
      const second = yield* Effect.fork(cache.get("k"))
      yield* Effect.yieldNow()
      yield* Fiber.interrupt(first)
      yield* Deferred.succeed(release, undefined)
      expect(yield* Fiber.await(second)).toEqual(Exit.succeed(7))
      expect(cache.unsafePeek("k")).toBe(7)
    }))

  it.scoped("a hit after a replacement or a reused slot returns the current value, never a memoized old one", () =>
    Effect.gen(function*() {
      const cache = yield* LocalCache.makeLoading({ name: "memo", maximumSize: 10, lookup: (key: string) => Effect.succeed(key.length) })
      expect(yield* cache.get("abc")).toBe(3)
      expect(yield* cache.get("abc")).toBe(3)
      cache.unsafeSet("abc", 30)
      expect(yield* cache.get("abc")).toBe(30)
      cache.unsafeDelete("abc")
      cache.unsafeSet("xy", 20)
      expect(yield* cache.get("xy")).toBe(20)
      expect(yield* LocalCache.getOrLoad(cache, "xy", () => Effect.succeed(-1))).toBe(20)
      expect(yield* cache.get("abc")).toBe(3)
    }))

  it.effect("a LoadingTag and layerLoading provide a loading cache service", () =>
    Effect.gen(function*() {
      class Squares extends LocalCache.LoadingTag("test/Squares")<Squares, number, number>() {}
      const value = yield* Effect.flatMap(Squares, (cache) => cache.get(7)).pipe(
        Effect.provide(LocalCache.layerLoading(Squares, { name: "squares", maximumSize: 10, lookup: (n: number) => Effect.succeed(n * n) }))
      )
      expect(value).toBe(49)
    }))
})
