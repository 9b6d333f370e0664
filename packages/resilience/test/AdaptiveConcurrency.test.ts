import { describe, expect, it } from "@effect/vitest"
import { Chunk, Deferred, Duration, Effect, Exit, Fiber, Stream, TestClock } from "effect"
import * as AdaptiveConcurrency from "../src/AdaptiveConcurrency.js"
import { ConcurrencyLimited, TimeoutExceeded } from "../src/Errors.js"
import * as Policy from "../src/Policy.js"
import { metricValues } from "./support/metrics.js"

const settle = Effect.repeatN(Effect.yieldNow(), 20)

/** Runs one call per latency, all at once; the call i sleeps `latencies[i]` ms (and fails with `error` if given). */
const burst = <E>(
  limiter: AdaptiveConcurrency.AdaptiveConcurrency,
  latencies: ReadonlyArray<number>,
  outcome: Effect.Effect<void, E> = Effect.void as Effect.Effect<void, E>
) =>
  Effect.gen(function*() {
    const fibers = yield* Effect.forEach(latencies, (latency) =>
      Effect.fork(AdaptiveConcurrency.protect(Effect.zipRight(Effect.sleep(latency), outcome), limiter)))
    yield* settle
    yield* TestClock.adjust(Math.max(0, ...latencies))
    return yield* Effect.forEach(fibers, Fiber.await)
  })

/** Fills the current limit with calls of the given latency, `rounds` times; returns the limit after each round. */
const rounds = (limiter: AdaptiveConcurrency.AdaptiveConcurrency, latency: number, count: number) =>
  Effect.gen(function*() {
    const limits: Array<number> = []
    for (let round = 0; round < count; round++) {
      yield* burst(limiter, Array.from({ length: limiter.unsafeLimit() }, () => latency))
      limits.push(limiter.unsafeLimit())
    }
    return limits
  })

describe("AdaptiveConcurrency", () => {
  describe("AIMD", () => {
    it.effect("adds one per good call while at least half the limit is in use", () =>
      Effect.gen(function*() {
        const limiter = yield* AdaptiveConcurrency.make({
          name: "aimd-grow",
          algorithm: { _tag: "AIMD", initialLimit: 4, minLimit: 1, maxLimit: 10 }
        })
        expect(yield* limiter.limit).toBe(4)
        // Calls start with 1, 2, 3, 4 in flight and finish in that order (10, 11, 12, 13 ms):
        // 1*2 < 4 keeps 4; 2*2 >= 4 -> 5; 3*2 >= 5 -> 6; 4*2 >= 6 -> 7.
        yield* burst(limiter, [10, 11, 12, 13])
        expect(yield* limiter.limit).toBe(7)
        // A lone call (1 in flight) says nothing about a limit of 7: no growth.
        yield* burst(limiter, [5])
        expect(yield* limiter.limit).toBe(7)
      }))

    it.effect("multiplies the limit by backoffRatio on a drop and on a call slower than timeout", () =>
      Effect.gen(function*() {
        const limiter = yield* AdaptiveConcurrency.make({
          name: "aimd-drop",
          algorithm: { _tag: "AIMD", initialLimit: 16, minLimit: 2, maxLimit: 20, backoffRatio: 0.5, timeout: "100 millis" }
        })
        const changes = yield* Effect.fork(Stream.runCollect(Stream.take(limiter.events, 3)))
        yield* settle
        const [dropped] = yield* burst(limiter, [1], Effect.fail(new TimeoutExceeded({ timeout: "t", after: Duration.millis(1) })))
        expect(Exit.isFailure(dropped!)).toBe(true)
        expect(yield* limiter.limit).toBe(8)
        yield* burst(limiter, [150])
        expect(yield* limiter.limit).toBe(4)
        yield* burst(limiter, [150])
        yield* burst(limiter, [150])
        expect(yield* limiter.limit).toBe(2)
        const events = Chunk.toReadonlyArray(yield* Fiber.join(changes))
        expect(events.map((event) => event._tag === "LimitChanged" ? [event.previous, event.limit] : [])).toEqual([
          [16, 8],
          [8, 4],
          [4, 2]
        ])
      }))

    it.effect("counts only the failures isDrop selects as drops; others are ordinary samples", () =>
      Effect.gen(function*() {
        const limiter = yield* AdaptiveConcurrency.make({
          name: "aimd-predicate",
          algorithm: { _tag: "AIMD", initialLimit: 2, minLimit: 1, maxLimit: 10, backoffRatio: 0.5 },
          isDrop: (error) => error === "overloaded"
        })
        yield* burst(limiter, [1], Effect.fail("not found"))
        expect(yield* limiter.limit).toBe(3)
        yield* burst(limiter, [1], Effect.fail("overloaded"))
        expect(yield* limiter.limit).toBe(1)
        // Defects and interruptions are not samples.
        yield* burst(limiter, [1], Effect.die("bug"))
        expect(yield* limiter.limit).toBe(1)
        expect(yield* limiter.inFlight).toBe(0)
      }))

    it.effect("by default treats overload errors as drops", () =>
      Effect.gen(function*() {
        expect(AdaptiveConcurrency.isOverloadError(new TimeoutExceeded({ timeout: "t", after: Duration.millis(1) }))).toBe(true)
        expect(AdaptiveConcurrency.isOverloadError(new ConcurrencyLimited({ limiter: "l", limit: 1, inFlight: 1 })))
          .toBe(true)
        expect(AdaptiveConcurrency.isOverloadError({ _tag: "NotFound" })).toBe(false)
        expect(AdaptiveConcurrency.isOverloadError("TimeoutExceeded")).toBe(false)
      }))
  })

  describe("Gradient2", () => {
    it.effect("shrinks when short-term latency rises above the long-term average and recovers when it falls", () =>
      Effect.gen(function*() {
        const limiter = yield* AdaptiveConcurrency.make({
          name: "gradient",
          algorithm: { _tag: "Gradient2", initialLimit: 10, minLimit: 2, maxLimit: 40 }
        })
        const steady = yield* rounds(limiter, 10, 5)
        const peak = steady[steady.length - 1]!
        expect(peak).toBeGreaterThan(10)
        // Latency jumps: the last calls are far slower than the long-term average.
        const loaded = yield* rounds(limiter, 50, 1)
        const trough = loaded[0]!
        expect(trough).toBeLessThan(peak)
        // Latency is back to normal: the limit grows again.
        const recovered = yield* rounds(limiter, 10, 5)
        expect(recovered[recovered.length - 1]!).toBeGreaterThan(trough)
        for (const limit of [...steady, ...loaded, ...recovered]) {
          expect(limit).toBeGreaterThanOrEqual(2)
          expect(limit).toBeLessThanOrEqual(40)
        }
      }))

    it.effect("does not grow while the limit is far from used", () =>
      Effect.gen(function*() {
        const limiter = yield* AdaptiveConcurrency.make({ name: "gradient-idle", algorithm: { _tag: "Gradient2" } })
        for (let call = 0; call < 20; call++) {
          yield* burst(limiter, [10])
        }
        expect(yield* limiter.limit).toBe(20)
      }))

    it.effect("shrinks on a drop", () =>
      Effect.gen(function*() {
        const limiter = yield* AdaptiveConcurrency.make({
          name: "gradient-drop",
          algorithm: { _tag: "Gradient2", initialLimit: 20, minLimit: 1, maxLimit: 40 }
        })
        yield* burst(limiter, [1], Effect.fail(new ConcurrencyLimited({ limiter: "downstream", limit: 1, inFlight: 1 })))
        // Halve the target, smoothed by 0.2: 20 * 0.8 + 10 * 0.2 = 18.
        expect(yield* limiter.limit).toBe(18)
      }))
  })

  it.effect("rejects with ConcurrencyLimited when the limit is reached", () =>
    Effect.gen(function*() {
      const limiter = yield* AdaptiveConcurrency.make({
        name: "full",
        algorithm: { _tag: "AIMD", initialLimit: 2, minLimit: 1, maxLimit: 5 }
      })
      const holders = yield* Effect.forEach([1, 2], () => Effect.fork(AdaptiveConcurrency.protect(Effect.never, limiter)))
      yield* settle
      let ran = false
      const error = yield* Effect.flip(AdaptiveConcurrency.protect(Effect.sync(() => (ran = true)), limiter))
      expect(ran).toBe(false)
      expect(error).toBeInstanceOf(ConcurrencyLimited)
      expect(error).toMatchObject({ limiter: "full", limit: 2, inFlight: 2 })
      yield* Fiber.interruptAll(holders)
      expect(yield* limiter.inFlight).toBe(0)
      // Interrupted calls are not samples.
      expect(yield* limiter.limit).toBe(2)
    }))

  it.effect("queues up to maxQueued calls and admits them as the limit allows", () =>
    Effect.gen(function*() {
      const limiter = yield* AdaptiveConcurrency.make({
        name: "queue",
        algorithm: { _tag: "AIMD", initialLimit: 1, minLimit: 1, maxLimit: 1 },
        maxQueued: 1,
        maxWait: "50 millis"
      })
      const gate = yield* Deferred.make<void>()
      const holder = yield* Effect.fork(AdaptiveConcurrency.protect(Deferred.await(gate), limiter))
      yield* settle
      const waiter = yield* Effect.fork(AdaptiveConcurrency.protect(Effect.succeed("queued"), limiter))
      yield* settle
      expect(yield* limiter.queued).toBe(1)
      const rejected = yield* Effect.flip(AdaptiveConcurrency.protect(Effect.void, limiter))
      expect(rejected._tag).toBe("ConcurrencyLimited")
      yield* Deferred.succeed(gate, undefined)
      yield* Fiber.join(holder)
      expect(yield* Fiber.join(waiter)).toBe("queued")
      const late = yield* Effect.fork(AdaptiveConcurrency.protect(Effect.never, limiter))
      yield* settle
      const expired = yield* Effect.fork(AdaptiveConcurrency.protect(Effect.void, limiter))
      yield* settle
      yield* TestClock.adjust("50 millis")
      expect((yield* Effect.flip(Fiber.join(expired)))._tag).toBe("ConcurrencyLimited")
      yield* Fiber.interrupt(late)
      expect(yield* limiter.inFlight).toBe(0)
      expect(yield* limiter.queued).toBe(0)
    }))

  it.effect("update clamps the limit into new bounds, carries it over to another algorithm, and resets it on an explicit initialLimit", () =>
    Effect.gen(function*() {
      const limiter = yield* AdaptiveConcurrency.make({
        name: "update",
        algorithm: { _tag: "AIMD", initialLimit: 10, minLimit: 1, maxLimit: 20 }
      })
      yield* AdaptiveConcurrency.update(limiter, { algorithm: { _tag: "AIMD", maxLimit: 6 } })
      expect(yield* limiter.limit).toBe(6)
      const config = yield* limiter.config
      expect(config.algorithm).toMatchObject({ _tag: "AIMD", minLimit: 1, maxLimit: 6, initialLimit: 6 })
      // Another algorithm starts from the current limit.
      yield* AdaptiveConcurrency.update(limiter, { algorithm: { _tag: "Gradient2", minLimit: 5, maxLimit: 8 } })
      expect(yield* limiter.limit).toBe(6)
      expect((yield* limiter.config).algorithm._tag).toBe("Gradient2")
      // An explicit initialLimit resets the limit.
      yield* AdaptiveConcurrency.update(limiter, { algorithm: { _tag: "Gradient2", initialLimit: 7 } })
      expect(yield* limiter.limit).toBe(7)
      const error = yield* Effect.flip(
        AdaptiveConcurrency.update(limiter, { algorithm: { _tag: "Gradient2", minLimit: 9 } })
      )
      expect(error.message).toContain("maxLimit")
      expect(yield* limiter.limit).toBe(7)
    }))

  it.effect("growing the limit admits queued calls at once", () =>
    Effect.gen(function*() {
      const limiter = yield* AdaptiveConcurrency.make({
        name: "grow-queue",
        algorithm: { _tag: "AIMD", initialLimit: 1, minLimit: 1, maxLimit: 1 },
        maxQueued: 2
      })
      const fibers = yield* Effect.forEach([1, 2, 3], () =>
        Effect.tap(Effect.fork(AdaptiveConcurrency.protect(Effect.never, limiter)), () => settle))
      expect(yield* limiter.queued).toBe(2)
      yield* AdaptiveConcurrency.update(limiter, { algorithm: { _tag: "AIMD", minLimit: 3, maxLimit: 3 } })
      expect(yield* limiter.inFlight).toBe(3)
      expect(yield* limiter.queued).toBe(0)
      yield* Fiber.interruptAll(fibers)
      expect(yield* limiter.inFlight).toBe(0)
    }))

  it.effect("records the limit, calls in flight and rejections as metrics labelled with the name", () =>
    Effect.gen(function*() {
      const limiter = yield* AdaptiveConcurrency.make({
        name: "adaptive-metered",
        algorithm: { _tag: "AIMD", initialLimit: 1, minLimit: 1, maxLimit: 1 }
      })
      const holder = yield* Effect.fork(AdaptiveConcurrency.protect(Effect.never, limiter))
      yield* settle
      yield* Effect.flip(AdaptiveConcurrency.protect(Effect.void, limiter))
      const values = yield* metricValues("adaptive-metered")
      expect(values.get("rampart_adaptive_concurrency_limit")).toBe(1)
      expect(values.get("rampart_adaptive_concurrency_in_flight")).toBe(1)
      expect(values.get("rampart_adaptive_concurrency_rejected_total{reason=LimitReached}")).toBe(1)
      yield* Fiber.interrupt(holder)
      expect((yield* metricValues("adaptive-metered")).get("rampart_adaptive_concurrency_in_flight")).toBe(0)
    }))

  it.effect("is a Policy and protect is dual", () =>
    Effect.gen(function*() {
      const limiter = yield* AdaptiveConcurrency.make({ name: "policy" })
      expect(AdaptiveConcurrency.isAdaptiveConcurrency(limiter)).toBe(true)
      expect(AdaptiveConcurrency.isAdaptiveConcurrency({})).toBe(false)
      expect(Policy.isPolicy(limiter)).toBe(true)
      expect(yield* Effect.succeed(1).pipe(AdaptiveConcurrency.protect(limiter))).toBe(1)
      const policy: Policy.Policy<ConcurrencyLimited> = limiter
      expect(yield* Policy.protect(Effect.succeed(2), policy)).toBe(2)
      expect((yield* limiter.config).algorithm).toMatchObject({
        _tag: "Gradient2",
        initialLimit: 20,
        minLimit: 1,
        maxLimit: 200,
        smoothing: 0.2,
        rttTolerance: 1.5,
        longWindow: 600,
        queueSize: 4
      })
    }))

  it.effect("fails with InvalidOptions naming each bad field", () =>
    Effect.gen(function*() {
      const ratio = yield* Effect.flip(
        AdaptiveConcurrency.make({ name: "bad", algorithm: { _tag: "AIMD", backoffRatio: 1.5 } })
      )
      expect(ratio._tag).toBe("InvalidOptions")
      expect(ratio.message).toContain("backoffRatio")
      const bounds = yield* Effect.flip(
        AdaptiveConcurrency.make({ name: "bad", algorithm: { _tag: "Gradient2", minLimit: 10, maxLimit: 5 } })
      )
      expect(bounds.message).toContain("maxLimit")
      const initial = yield* Effect.flip(
        AdaptiveConcurrency.make({ name: "bad", algorithm: { _tag: "AIMD", initialLimit: 500 } })
      )
      expect(initial.message).toContain("initialLimit")
      const smoothing = yield* Effect.flip(
        AdaptiveConcurrency.make({ name: "bad", algorithm: { _tag: "Gradient2", smoothing: 0, rttTolerance: 0.5 } })
      )
      expect(smoothing.message).toContain("smoothing")
      expect(smoothing.message).toContain("rttTolerance")
      const queue = yield* Effect.flip(AdaptiveConcurrency.make({ name: "bad", maxQueued: -1 }))
      expect(queue.message).toContain("maxQueued")
      const predicate = yield* Effect.flip(
        AdaptiveConcurrency.make({ name: "bad", isDrop: "yes" as unknown as (error: unknown) => boolean })
      )
      expect(predicate.message).toContain("isDrop")
      const name = yield* Effect.flip(AdaptiveConcurrency.make({ name: "" }))
      expect(name.message).toContain("name")
    }))
})

