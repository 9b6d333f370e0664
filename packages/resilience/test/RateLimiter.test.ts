import { describe, expect, it } from "@effect/vitest"
import {
  Chunk,
  Clock,
  Duration,
  Effect,
  Either,
  FastCheck as fc,
  Fiber,
  Metric,
  Stream,
  TestClock
} from "effect"
import type { InvalidOptions, RateLimited } from "../src/Errors.js"
import * as Policy from "../src/Policy.js"
import * as RateLimiter from "../src/RateLimiter.js"
import * as RateLimiterStore from "../src/RateLimiterStore.js"

const advance = (millis: number) => millis === 0 ? Effect.void : TestClock.adjust(Duration.millis(millis))

const now = Clock.currentTimeMillis

/** Runs `tryAcquire` and returns the refusal's retryAfter in ms, or undefined when admitted. */
const probe = (limiter: RateLimiter.RateLimiter, cost = 1) =>
  Effect.map(
    Effect.either(RateLimiter.tryAcquire(limiter, cost)),
    Either.match({
      onLeft: (error) => error._tag === "RateLimited" ? Duration.toMillis(error.retryAfter) : Number.NaN,
      onRight: () => undefined
    })
  )

const expectInvalid = <A>(
  effect: Effect.Effect<A, InvalidOptions | RateLimited>,
  field: string
) =>
  Effect.gen(function*() {
    const result = yield* Effect.flip(effect)
    expect(result._tag).toBe("InvalidOptions")
    expect(result.message).toContain(`${field}:`)
    return result
  })

/** Lets forked fibers and timer fibers run (TestClock only moves on `adjust`). */
const settle = Effect.repeatN(Effect.yieldNow(), 20)

type Algorithm = "tokenBucket" | "fixedWindow" | "slidingWindow"

const limiterFor = (algorithm: Algorithm, limit: number, window: number) =>
  algorithm === "tokenBucket"
    ? RateLimiter.make({ name: "prop", algorithm, capacity: limit, refillRate: limit, refillPeriod: window })
    : RateLimiter.make({ name: "prop", algorithm, limit, window })

const arrivalsArbitrary = {
  limit: fc.integer({ min: 1, max: 8 }),
  window: fc.integer({ min: 1, max: 40 }),
  arrivals: fc.array(
    // Half the arrivals coincide with the previous one (bursts; also fewer clock adjustments).
    fc.record({
      gap: fc.oneof(fc.constant(0), fc.integer({ min: 1, max: 25 })),
      cost: fc.integer({ min: 1, max: 4 })
    }),
    { minLength: 1, maxLength: 40 }
  )
}

/** Feeds arrivals to `tryAcquire` at their times; returns the admitted (time, cost) pairs. */
const admittedOf = (
  limiter: RateLimiter.RateLimiter,
  limit: number,
  arrivals: ReadonlyArray<{ readonly gap: number; readonly cost: number }>
) =>
  Effect.gen(function*() {
    const admitted: Array<{ readonly time: number; readonly cost: number }> = []
    for (const { cost, gap } of arrivals) {
      yield* advance(gap)
      const result = yield* Effect.either(RateLimiter.tryAcquire(limiter, Math.min(cost, limit)))
      if (Either.isRight(result)) admitted.push({ time: yield* now, cost: Math.min(cost, limit) })
    }
    return admitted
  })

const sumIn = (admitted: ReadonlyArray<{ time: number; cost: number }>, from: number, to: number) =>
  admitted.reduce((sum, { cost, time }) => time >= from && time < to ? sum + cost : sum, 0)

const counterValue = (name: string, limiter: string) =>
  Effect.map(Metric.snapshot, (pairs) => {
    const pair = pairs.find((p) =>
      p.metricKey.name === name && p.metricKey.tags.some((tag) => tag.key === "name" && tag.value === limiter)
    )
    const state = pair?.metricState as { readonly count?: number } | undefined
    return state?.count ?? 0
  })

describe("RateLimiter", () => {
  describe("options", () => {
    it.effect("make fails with InvalidOptions naming each bad field", () =>
      Effect.gen(function*() {
        yield* expectInvalid(
          RateLimiter.make({ name: "x", algorithm: "tokenBucket", capacity: 0, refillRate: 1 }),
          "capacity"
        )
        yield* expectInvalid(
          RateLimiter.make({ name: "x", algorithm: "tokenBucket", capacity: 5, refillRate: 1.5 }),
          "refillRate"
        )
        yield* expectInvalid(
          RateLimiter.make({ name: "x", algorithm: "fixedWindow", limit: 10, window: "whenever" }),
          "window"
        )
        yield* expectInvalid(
          RateLimiter.make({ name: "x", algorithm: "slidingWindow", limit: 10, window: 0 }),
          "window"
        )
        yield* expectInvalid(
          RateLimiter.make({ name: "", algorithm: "fixedWindow", limit: 10, window: 1000 }),
          "name"
        )
        yield* expectInvalid(
          RateLimiter.make({ name: "x", algorithm: "fixedWindow", limit: 10, window: 1000, onLimit: "maybe" as "fail" }),
          "onLimit"
        )
        yield* expectInvalid(
          RateLimiter.make({ name: "x", algorithm: "leakyBucket" as "fixedWindow", limit: 10, window: 1000 }),
          "algorithm"
        )
        yield* expectInvalid(
          RateLimiter.make({ name: "x", algorithm: "fixedWindow", limit: 2 ** 40, window: "100 days" }),
          "limit"
        )
        yield* expectInvalid(
          RateLimiter.keyed({ name: "x", algorithm: "fixedWindow", limit: 10, window: 1000, idleTimeout: -5 }),
          "idleTimeout"
        )
      }))

    it.effect("accepts durations as Duration, milliseconds or strings", () =>
      Effect.gen(function*() {
        const a = yield* RateLimiter.make({ name: "a", algorithm: "fixedWindow", limit: 1, window: "2 seconds" })
        const b = yield* RateLimiter.make({ name: "b", algorithm: "fixedWindow", limit: 1, window: 2000 })
        const c = yield* RateLimiter.make({ name: "c", algorithm: "fixedWindow", limit: 1, window: Duration.seconds(2) })
        for (const limiter of [a, b, c]) {
          expect(yield* probe(limiter)).toBeUndefined()
          expect(yield* probe(limiter)).toBe(2000)
        }
      }))
  })

  describe("token bucket", () => {
    it.effect("admits a burst of `capacity`, then refills `refillRate` per `refillPeriod`", () =>
      Effect.gen(function*() {
        const limiter = yield* RateLimiter.make({
          name: "tb",
          algorithm: "tokenBucket",
          capacity: 3,
          refillRate: 1,
          refillPeriod: "100 millis"
        })
        expect(yield* RateLimiter.tryAcquire(limiter)).toBe(2)
        expect(yield* RateLimiter.tryAcquire(limiter)).toBe(1)
        expect(yield* RateLimiter.tryAcquire(limiter)).toBe(0)
        const refused = yield* Effect.flip(RateLimiter.tryAcquire(limiter))
        expect(refused._tag).toBe("RateLimited")
        if (refused._tag === "RateLimited") {
          expect(refused.limiter).toBe("tb")
          expect(refused.cost).toBe(1)
          expect(Duration.toMillis(refused.retryAfter)).toBe(100)
          expect(refused.key).toBeUndefined()
        }
        yield* advance(250)
        expect(yield* RateLimiter.tryAcquire(limiter)).toBe(1)
        expect(yield* probe(limiter)).toBeUndefined()
        expect(yield* probe(limiter)).toBe(50)
      }))

    it.effect("a cost larger than the capacity fails with InvalidOptions instead of waiting forever", () =>
      Effect.gen(function*() {
        const limiter = yield* RateLimiter.make({ name: "tb", algorithm: "tokenBucket", capacity: 5, refillRate: 5 })
        const tooBig = yield* expectInvalid(RateLimiter.acquire(limiter, 6), "cost")
        expect(tooBig.message).toContain("exceeds the limiter's capacity of 5")
        yield* expectInvalid(RateLimiter.tryAcquire(limiter, 6), "cost")
        yield* expectInvalid(RateLimiter.tryAcquire(limiter, 0), "cost")
        yield* expectInvalid(RateLimiter.acquire(limiter, 1.5), "cost")
        expect(yield* RateLimiter.tryAcquire(limiter, 5)).toBe(0)
      }))
  })

  describe("fixed window", () => {
    it.effect("admits `limit` per aligned window and says when the window ends", () =>
      Effect.gen(function*() {
        const limiter = yield* RateLimiter.make({ name: "fw", algorithm: "fixedWindow", limit: 2, window: 1000 })
        yield* advance(300)
        expect(yield* RateLimiter.tryAcquire(limiter)).toBe(1)
        expect(yield* RateLimiter.tryAcquire(limiter)).toBe(0)
        expect(yield* probe(limiter)).toBe(700)
        yield* advance(700)
        expect(yield* RateLimiter.tryAcquire(limiter, 2)).toBe(0)
        expect(yield* probe(limiter)).toBe(1000)
      }))
  })

  describe("sliding window", () => {
    it.effect("weights the previous window by its overlap with the sliding window", () =>
      Effect.gen(function*() {
        const limiter = yield* RateLimiter.make({ name: "sw", algorithm: "slidingWindow", limit: 10, window: 1000 })
        expect(yield* RateLimiter.tryAcquire(limiter, 10)).toBe(0)
        // 25% into the next window the previous 10 still weigh 7.5, so 2 more fit (9.5) but 3 do not.
        yield* advance(1250)
        expect(yield* RateLimiter.tryAcquire(limiter, 2)).toBe(0)
        // 10 × (1000 − e) / 1000 + 3 ≤ 10 from e = 300, i.e. 50 ms from now.
        expect(yield* probe(limiter)).toBe(50)
        yield* advance(50)
        expect(yield* probe(limiter)).toBeUndefined()
      }))
  })

  describe("properties", () => {
    it.effect.prop(
      "fixed window: the admitted cost in every aligned window is at most the limit",
      arrivalsArbitrary,
      ({ arrivals, limit, window }) =>
        Effect.gen(function*() {
          const limiter = yield* limiterFor("fixedWindow", limit, window)
          const admitted = yield* admittedOf(limiter, limit, arrivals)
          for (const { time } of admitted) {
            const start = time - (time % window)
            expect(sumIn(admitted, start, start + window)).toBeLessThanOrEqual(limit)
          }
        }),
      { fastCheck: { numRuns: 100 } }
    )

    it.effect.prop(
      "token bucket: over any interval [s, e] at most capacity + rate × (e − s) is admitted",
      arrivalsArbitrary,
      ({ arrivals, limit, window }) =>
        Effect.gen(function*() {
          // capacity = limit, refillRate = limit per `window` ms
          const limiter = yield* limiterFor("tokenBucket", limit, window)
          const admitted = yield* admittedOf(limiter, limit, arrivals)
          for (let i = 0; i < admitted.length; i++) {
            let sum = 0
            for (let j = i; j < admitted.length; j++) {
              sum += admitted[j]!.cost
              const elapsed = admitted[j]!.time - admitted[i]!.time
              expect(sum * window).toBeLessThanOrEqual(limit * window + limit * elapsed)
            }
          }
        }),
      { fastCheck: { numRuns: 100 } }
    )

    it.effect.prop(
      "sliding window: at most limit per aligned window, and at most limit × (1 + f) in any [t, t + window)",
      arrivalsArbitrary,
      ({ arrivals, limit, window }) =>
        Effect.gen(function*() {
          const limiter = yield* limiterFor("slidingWindow", limit, window)
          const admitted = yield* admittedOf(limiter, limit, arrivals)
          for (const { time } of admitted) {
            const start = time - (time % window)
            expect(sumIn(admitted, start, start + window)).toBeLessThanOrEqual(limit)
            // Sliding intervals starting at an admission, and ending just after one.
            for (const from of [time, time - window + 1]) {
              const to = from + window
              // f: the fraction of the aligned window containing `to` that has passed by `to`.
              const f = (((to % window) + window) % window) / window
              expect(sumIn(admitted, from, to)).toBeLessThanOrEqual(limit * (1 + f) + 1e-9)
            }
          }
        }),
      { fastCheck: { numRuns: 100 } }
    )

    it.effect.prop(
      "retryAfter is exact: one millisecond earlier the call is still refused, at retryAfter it is admitted",
      {
        algorithm: fc.constantFrom<Array<Algorithm>>("tokenBucket", "fixedWindow", "slidingWindow"),
        ...arrivalsArbitrary
      },
      ({ algorithm, arrivals, limit, window }) =>
        Effect.gen(function*() {
          const limiter = yield* limiterFor(algorithm, limit, window)
          for (const { gap, cost: rawCost } of arrivals) {
            const cost = Math.min(rawCost, limit)
            yield* advance(gap)
            const retryAfter = yield* probe(limiter, cost)
            if (retryAfter === undefined) continue
            expect(retryAfter).toBeGreaterThanOrEqual(1)
            yield* advance(retryAfter - 1)
            if (retryAfter > 1) expect(yield* probe(limiter, cost)).toBe(1)
            yield* advance(1)
            expect(yield* probe(limiter, cost)).toBeUndefined()
          }
        }),
      { fastCheck: { numRuns: 100 } }
    )
  })

  describe("waiting", () => {
    it.effect("acquire waits for the clock and resumes exactly when the permits are free", () =>
      Effect.gen(function*() {
        const limiter = yield* RateLimiter.make({
          name: "wait",
          algorithm: "tokenBucket",
          capacity: 2,
          refillRate: 1,
          refillPeriod: "1 second"
        })
        yield* RateLimiter.acquire(limiter, 2)
        const fiber = yield* Effect.fork(RateLimiter.acquire(limiter, 2))
        yield* settle
        expect(yield* limiter.waiting).toBe(1)
        yield* advance(1999)
        yield* settle
        expect(fiber.unsafePoll()).toBeNull()
        yield* advance(1)
        expect(yield* Fiber.join(fiber)).toBe(0)
        expect(limiter.unsafeWaiting()).toBe(0)
      }))

    it.effect("waiters are served first come, first served, and a cheap later caller does not overtake", () =>
      Effect.gen(function*() {
        const limiter = yield* RateLimiter.make({ name: "fifo", algorithm: "fixedWindow", limit: 5, window: 100 })
        yield* RateLimiter.acquire(limiter, 5)
        const order: Array<string> = []
        const big = yield* Effect.fork(Effect.tap(RateLimiter.acquire(limiter, 5), () => order.push("big")))
        yield* settle
        const small = yield* Effect.fork(Effect.tap(RateLimiter.acquire(limiter, 1), () => order.push("small")))
        yield* settle
        // A fail-fast caller is refused while others wait, even though nothing is taken yet.
        expect(yield* probe(limiter)).toBe(100)
        yield* advance(100)
        yield* Fiber.join(big)
        yield* settle
        expect(order).toEqual(["big"])
        yield* advance(100)
        yield* Fiber.join(small)
        expect(order).toEqual(["big", "small"])
      }))

    it.effect("an interrupted waiter leaves nothing behind and the next waiter moves up", () =>
      Effect.gen(function*() {
        const limiter = yield* RateLimiter.make({ name: "int", algorithm: "fixedWindow", limit: 4, window: 100 })
        yield* RateLimiter.acquire(limiter, 4)
        const first = yield* Effect.fork(RateLimiter.acquire(limiter, 4))
        yield* settle
        const second = yield* Effect.fork(RateLimiter.acquire(limiter, 1))
        yield* settle
        expect(limiter.unsafeWaiting()).toBe(2)
        yield* Fiber.interrupt(first)
        expect(limiter.unsafeWaiting()).toBe(1)
        yield* advance(100)
        expect(yield* Fiber.join(second)).toBe(3)
        expect(limiter.unsafeWaiting()).toBe(0)
        // The interrupted caller took nothing: 3 permits are still there.
        expect(yield* RateLimiter.tryAcquire(limiter, 3)).toBe(0)
      }))

    it.effect("protect with onLimit \"wait\" delays the call instead of failing it", () =>
      Effect.gen(function*() {
        const limiter = yield* RateLimiter.make({
          name: "pw",
          algorithm: "fixedWindow",
          limit: 1,
          window: 500,
          onLimit: "wait"
        })
        expect(yield* RateLimiter.protect(Effect.succeed("a"), limiter)).toBe("a")
        const fiber = yield* Effect.fork(Effect.succeed("b").pipe(RateLimiter.protect(limiter)))
        yield* settle
        expect(fiber.unsafePoll()).toBeNull()
        yield* advance(500)
        expect(yield* Fiber.join(fiber)).toBe("b")
      }))

    it.effect("protect fails fast with RateLimited without running the effect", () =>
      Effect.gen(function*() {
        const limiter = yield* RateLimiter.make({ name: "pf", algorithm: "fixedWindow", limit: 1, window: 500 })
        let runs = 0
        const call = Effect.sync(() => ++runs)
        expect(yield* RateLimiter.protect(call, limiter)).toBe(1)
        const refused = yield* Effect.flip(call.pipe(RateLimiter.protect(limiter)))
        expect(refused._tag).toBe("RateLimited")
        expect(Duration.toMillis(refused.retryAfter)).toBe(500)
        expect(runs).toBe(1)
        // As a Policy, in a pipeline; apply is protect.
        yield* advance(500)
        expect(yield* Policy.protect(call, Policy.compose(limiter))).toBe(2)
        expect(yield* limiter.apply(call).pipe(Effect.either)).toMatchObject({ _tag: "Left" })
        expect(RateLimiter.isRateLimiter(limiter)).toBe(true)
        expect(Policy.isPolicy(limiter)).toBe(true)
        expect(RateLimiter.isRateLimiter({})).toBe(false)
      }))
  })

  describe("keyed", () => {
    it.effect("keeps one limit per key", () =>
      Effect.gen(function*() {
        const limiter = yield* RateLimiter.keyed({ name: "tenants", algorithm: "fixedWindow", limit: 2, window: 1000 })
        expect(yield* RateLimiter.tryAcquire(limiter, "a", 2)).toBe(0)
        const refused = yield* Effect.flip(RateLimiter.tryAcquire(limiter, "a"))
        expect(refused._tag === "RateLimited" && refused.key).toBe("a")
        expect(yield* RateLimiter.tryAcquire(limiter, "b")).toBe(1)
        expect(yield* Effect.succeed(1).pipe(RateLimiter.protectKeyed(limiter, "b"))).toBe(1)
        const viaPolicy = yield* Effect.flip(Policy.protect(Effect.succeed(1), RateLimiter.forKey(limiter, "b")))
        expect(viaPolicy.key).toBe("b")
        const waiter = yield* Effect.fork(RateLimiter.acquire(limiter, "a"))
        yield* settle
        // Key "a" has a waiter, key "c" does not care.
        expect(yield* RateLimiter.tryAcquire(limiter, "c")).toBe(1)
        yield* advance(1000)
        expect(yield* Fiber.join(waiter)).toBe(1)
        expect(RateLimiter.isKeyedRateLimiter(limiter)).toBe(true)
      }))

    it.effect("drops idle keys lazily, only once they have recovered, without changing any decision", () =>
      Effect.gen(function*() {
        const store = RateLimiterStore.makeMemory()
        const limiter = yield* RateLimiter.keyed({
          name: "idle",
          algorithm: "tokenBucket",
          capacity: 10,
          refillRate: 1,
          refillPeriod: 100,
          idleTimeout: 500
        }).pipe(Effect.provideService(RateLimiterStore.RateLimiterStore, store))
        for (let user = 0; user < 40; user++) {
          yield* RateLimiter.tryAcquire(limiter, `user-${user}`, 10)
        }
        expect(store.unsafeSize()).toBe(40)
        // Idle for 600 ms > idleTimeout, but the buckets need 1000 ms to refill: nothing may go.
        yield* advance(600)
        for (let i = 0; i < 30; i++) yield* Effect.either(RateLimiter.tryAcquire(limiter, "active"))
        expect(store.unsafeSize()).toBe(41)
        // Refilled: each call drops up to two idle keys.
        yield* advance(400)
        for (let i = 0; i < 20; i++) yield* Effect.either(RateLimiter.tryAcquire(limiter, "active"))
        expect(store.unsafeSize()).toBe(1)
        // A dropped key behaves exactly as the full bucket it had become.
        expect(yield* RateLimiter.tryAcquire(limiter, "user-3", 10)).toBe(0)
      }))
  })

  describe("update", () => {
    it.effect("changes the limit live and keeps the state", () =>
      Effect.gen(function*() {
        const limiter = yield* RateLimiter.make({ name: "up", algorithm: "fixedWindow", limit: 2, window: 1000 })
        yield* RateLimiter.acquire(limiter, 2)
        expect(yield* probe(limiter)).toBe(1000)
        yield* RateLimiter.update(limiter, { limit: 5 })
        // The two already taken still count.
        expect(yield* RateLimiter.tryAcquire(limiter, 3)).toBe(0)
        const bad = yield* Effect.flip(RateLimiter.update(limiter, { limit: -1 }))
        expect(bad.message).toContain("limit:")
        const switched = yield* Effect.flip(RateLimiter.update(limiter, { algorithm: "slidingWindow" }))
        expect(switched.message).toContain("algorithm:")
      }))

    it.effect("wakes waiters: a looser limit admits them at once, a tighter one fails those that can never fit", () =>
      Effect.gen(function*() {
        const limiter = yield* RateLimiter.make({
          name: "upw",
          algorithm: "tokenBucket",
          capacity: 4,
          refillRate: 1,
          refillPeriod: 1000
        })
        yield* RateLimiter.acquire(limiter, 4)
        const waiter = yield* Effect.fork(RateLimiter.acquire(limiter, 2))
        yield* settle
        yield* RateLimiter.update(limiter, { refillRate: 1000 })
        yield* advance(2)
        expect(yield* Fiber.join(waiter)).toBe(0)
        const keyedLimiter = yield* RateLimiter.keyed({ name: "upk", algorithm: "fixedWindow", limit: 4, window: 100 })
        yield* RateLimiter.acquire(keyedLimiter, "k", 4)
        const tooBig = yield* Effect.fork(RateLimiter.acquire(keyedLimiter, "k", 3))
        yield* settle
        yield* RateLimiter.update(keyedLimiter, { limit: 2 })
        const error = yield* Effect.flip(Fiber.join(tooBig))
        expect(error.message).toContain("cost: 3 exceeds the limiter's limit of 2")
        expect(keyedLimiter.unsafeWaiting()).toBe(0)
      }))
  })

  describe("observability", () => {
    it.effect("publishes Rejected events and counts permitted and rejected calls", () =>
      Effect.gen(function*() {
        const limiter = yield* RateLimiter.make({ name: "obs", algorithm: "fixedWindow", limit: 1, window: 100 })
        const events = yield* Effect.fork(Stream.runCollect(Stream.take(limiter.events, 1)))
        yield* settle
        yield* RateLimiter.tryAcquire(limiter)
        yield* Effect.either(RateLimiter.tryAcquire(limiter, 1))
        const [event] = Chunk.toReadonlyArray(yield* Fiber.join(events))
        expect(event).toMatchObject({ _tag: "Rejected", name: "obs", cost: 1, retryAfterMillis: 100 })
        expect(yield* counterValue("rampart_rate_limiter_permitted_total", "obs")).toBe(1)
        expect(yield* counterValue("rampart_rate_limiter_rejected_total", "obs")).toBe(1)
      }))
  })

  describe("stores", () => {
    const failingStore: RateLimiterStore.Service = {
      name: "broken",
      take: () => Effect.fail(new RateLimiterStore.RateLimiterStoreError({ store: "broken", reason: "connection refused" }))
    }

    it.effect("a store failure admits the call by default and is reported", () =>
      Effect.gen(function*() {
        const limiter = yield* RateLimiter.make({ name: "open", algorithm: "fixedWindow", limit: 1, window: 100 }).pipe(
          Effect.provideService(RateLimiterStore.RateLimiterStore, failingStore)
        )
        const events = yield* Effect.fork(Stream.runCollect(Stream.take(limiter.events, 1)))
        yield* settle
        expect(yield* RateLimiter.protect(Effect.succeed("ran"), limiter)).toBe("ran")
        const [event] = Chunk.toReadonlyArray(yield* Fiber.join(events))
        expect(event?._tag).toBe("StoreFailed")
      }))

    it.effect("with onStoreError \"reject\" a store failure refuses the call", () =>
      Effect.gen(function*() {
        const limiter = yield* RateLimiter.make({
          name: "closed",
          algorithm: "fixedWindow",
          limit: 10,
          window: 1000,
          onStoreError: "reject"
        }).pipe(Effect.provideService(RateLimiterStore.RateLimiterStore, failingStore))
        const refused = yield* Effect.flip(RateLimiter.protect(Effect.succeed("ran"), limiter))
        expect(refused._tag).toBe("RateLimited")
        // The mean spacing of permits at the configured rate: 1000 ms / 10.
        expect(Duration.toMillis(refused.retryAfter)).toBe(100)
      }))

    it.effect("works through a store that only has the Effect API, waiting included", () =>
      Effect.gen(function*() {
        const memory = RateLimiterStore.makeMemory()
        const asyncOnly: RateLimiterStore.Service = { name: "remote", take: memory.take }
        const limiter = yield* RateLimiter.make({ name: "remote", algorithm: "slidingWindow", limit: 2, window: 100 })
          .pipe(Effect.provideService(RateLimiterStore.RateLimiterStore, asyncOnly))
        expect(yield* RateLimiter.tryAcquire(limiter, 2)).toBe(0)
        // Next window: 2 × (100 − e) / 100 + 1 ≤ 2 from e = 50, i.e. 100 + 50 ms from now.
        expect(yield* probe(limiter)).toBe(150)
        const fiber = yield* Effect.fork(RateLimiter.acquire(limiter, 2))
        yield* advance(199)
        yield* settle
        expect(fiber.unsafePoll()).toBeNull()
        yield* advance(1)
        expect(yield* Fiber.join(fiber)).toBe(0)
      }))

    it.effect("limiters with the same name share state through a provided store", () =>
      Effect.gen(function*() {
        const [a, b] = yield* Effect.all([
          RateLimiter.make({ name: "shared", algorithm: "fixedWindow", limit: 3, window: 100 }),
          RateLimiter.make({ name: "shared", algorithm: "fixedWindow", limit: 3, window: 100 })
        ]).pipe(Effect.provide(RateLimiterStore.layerMemory))
        yield* RateLimiter.tryAcquire(a, 2)
        expect(yield* RateLimiter.tryAcquire(b)).toBe(0)
        expect(yield* probe(a)).toBe(100)
      }))
  })
})
