import { describe, expect, expectTypeOf, it } from "@effect/vitest"
import {
  Chunk,
  Clock,
  Data,
  Duration,
  Effect,
  Exit,
  FastCheck,
  Fiber,
  Random,
  Ref,
  Schedule,
  Stream,
  TestClock
} from "effect"
import { CircuitBreakerOpen, RateLimited } from "../src/Errors.js"
import * as Policy from "../src/Policy.js"
import * as Retry from "../src/Retry.js"
import * as RetryBudget from "../src/RetryBudget.js"
import { counter } from "./support/metrics.js"

class Unavailable extends Data.TaggedError("Unavailable")<{ readonly attempt: number }> {}
class BadRequest extends Data.TaggedError("BadRequest")<{}> {}

/**
 * A downstream that fails its first `failures` attempts with `Unavailable` (then succeeds), and
 * records the clock time at which each attempt started.
 */
const flaky = (failures: number) =>
  Effect.gen(function*() {
    const starts = yield* Ref.make<ReadonlyArray<number>>([])
    const call = Effect.gen(function*() {
      const now = yield* Clock.currentTimeMillis
      const previous = yield* Ref.getAndUpdate(starts, (all) => [...all, now])
      const attempt = previous.length + 1
      if (attempt <= failures) return yield* Effect.fail(new Unavailable({ attempt }))
      return `ok after ${attempt}`
    })
    return { call, starts: Ref.get(starts) }
  })

/** Runs `effect` in a fiber and moves the TestClock forward until it is done. */
const runToEnd = <A, E>(effect: Effect.Effect<A, E>, horizon: Duration.DurationInput = "1 hour") =>
  Effect.gen(function*() {
    const fiber = yield* Effect.fork(Effect.exit(effect))
    yield* TestClock.adjust(horizon)
    return yield* Fiber.join(fiber)
  })

const gaps = (starts: ReadonlyArray<number>) => starts.slice(1).map((start, index) => start - starts[index]!)

describe("Retry", () => {
  it.effect("waits exactly base * factor^(n-1), capped at max, between attempts when jitter is none", () =>
    Effect.gen(function*() {
      const retry = yield* Retry.make({
        name: "exp-none",
        maxAttempts: 7,
        backoff: { _tag: "Exponential", base: "100 millis", factor: 2, max: "1 second", jitter: "none" }
      })
      const downstream = yield* flaky(6)
      const exit = yield* runToEnd(Retry.protect(downstream.call, retry))
      expect(exit).toEqual(Exit.succeed("ok after 7"))
      expect(yield* downstream.starts).toEqual([0, 100, 300, 700, 1500, 2500, 3500])
    }))

  it.effect("a factor of 3 and a constant backoff give the configured delays too", () =>
    Effect.gen(function*() {
      const exponential = yield* Retry.make({
        name: "exp-3",
        maxAttempts: 4,
        backoff: { _tag: "Exponential", base: 10, factor: 3, max: "1 minute", jitter: "none" }
      })
      const first = yield* flaky(3)
      yield* runToEnd(Retry.protect(first.call, exponential))
      expect(gaps(yield* first.starts)).toEqual([10, 30, 90])

      const constant = yield* Retry.make({ name: "const", maxAttempts: 4, backoff: { _tag: "Constant", delay: 250 } })
      const second = yield* flaky(3)
      yield* runToEnd(Retry.protect(second.call, constant))
      expect(gaps(yield* second.starts)).toEqual([250, 250, 250])
    }))

  it.effect("stops after maxAttempts attempts and surfaces the last attempt's error", () =>
    Effect.gen(function*() {
      const retry = yield* Retry.make({ name: "max", maxAttempts: 4, backoff: { _tag: "Constant", delay: 10 } })
      const downstream = yield* flaky(100)
      const exit = yield* runToEnd(Retry.protect(downstream.call, retry))
      expect(exit).toEqual(Exit.fail(new Unavailable({ attempt: 4 })))
      expect((yield* downstream.starts).length).toBe(4)
    }))

  it.effect("maxAttempts 1 never retries", () =>
    Effect.gen(function*() {
      const retry = yield* Retry.make({ name: "once", maxAttempts: 1 })
      const downstream = yield* flaky(100)
      const exit = yield* Effect.exit(Retry.protect(downstream.call, retry))
      expect(exit).toEqual(Exit.fail(new Unavailable({ attempt: 1 })))
      expect(yield* downstream.starts).toEqual([0])
    }))

  it.effect("starts no attempt later than maxElapsed after the call started, the first attempt's time included", () =>
    Effect.gen(function*() {
      const retry = yield* Retry.make({
        name: "elapsed",
        maxAttempts: 100,
        backoff: { _tag: "Constant", delay: "1 second" },
        maxElapsed: "3500 millis"
      })
      const starts = yield* Ref.make<ReadonlyArray<number>>([])
      // Each attempt takes 300 ms before failing: attempts start at 0, 1300, 2600; the next
      // would start at 3900 > 3500, so the policy gives up when the third fails, at 2900.
      const slowFailure = Effect.gen(function*() {
        const now = yield* Clock.currentTimeMillis
        yield* Ref.update(starts, (all) => [...all, now])
        yield* Effect.sleep("300 millis")
        return yield* Effect.fail(new Unavailable({ attempt: 0 }))
      })
      const fiber = yield* Effect.fork(Effect.exit(Retry.protect(slowFailure, retry)))
      yield* TestClock.adjust("2899 millis")
      expect(fiber.unsafePoll()).toBeNull()
      yield* TestClock.adjust("1 millis")
      expect(Exit.isFailure(yield* Fiber.join(fiber))).toBe(true)
      expect(yield* Ref.get(starts)).toEqual([0, 1300, 2600])
    }))

  it.effect("retries only the errors retryOn accepts, as a predicate or as a list of tags", () =>
    Effect.gen(function*() {
      const byPredicate = yield* Retry.make({
        name: "predicate",
        maxAttempts: 5,
        backoff: { _tag: "Constant", delay: 1 },
        retryOn: (error) => error instanceof Unavailable
      })
      const byTags = yield* Retry.make({
        name: "tags",
        maxAttempts: 5,
        backoff: { _tag: "Constant", delay: 1 },
        retryOn: ["Unavailable"]
      })
      for (const retry of [byPredicate, byTags]) {
        const attempts = yield* Ref.make(0)
        const bad = Effect.zipRight(Ref.update(attempts, (n) => n + 1), Effect.fail(new BadRequest()))
        expect(yield* runToEnd(Retry.protect(bad, retry))).toEqual(Exit.fail(new BadRequest()))
        expect(yield* Ref.get(attempts)).toBe(1)

        const downstream = yield* flaky(2)
        expect(yield* runToEnd(Retry.protect(downstream.call, retry))).toEqual(Exit.succeed("ok after 3"))
      }
    }))

  it.effect("does not retry defects or interruptions", () =>
    Effect.gen(function*() {
      const retry = yield* Retry.make({ name: "defects", maxAttempts: 5, backoff: { _tag: "Constant", delay: 1 } })
      const attempts = yield* Ref.make(0)
      const count = Ref.update(attempts, (n) => n + 1)
      const died = yield* runToEnd(Retry.protect(Effect.zipRight(count, Effect.die("bug")), retry))
      expect(died).toEqual(Exit.die("bug"))
      const interrupted = yield* runToEnd(Retry.protect(Effect.zipRight(count, Effect.interrupt), retry))
      expect(Exit.isInterrupted(interrupted)).toBe(true)
      expect(yield* Ref.get(attempts)).toBe(2)
    }))

  it.effect("interrupting a call while it waits for its next attempt stops the retries", () =>
    Effect.gen(function*() {
      const retry = yield* Retry.make({ name: "interrupt", maxAttempts: 5, backoff: { _tag: "Constant", delay: 1000 } })
      const downstream = yield* flaky(100)
      const fiber = yield* Effect.fork(Retry.protect(downstream.call, retry))
      yield* TestClock.adjust("500 millis")
      yield* Fiber.interrupt(fiber)
      yield* TestClock.adjust("1 hour")
      expect(yield* downstream.starts).toEqual([0])
    }))

  it.effect("waits at least the retryAfter carried by RateLimited and CircuitBreakerOpen", () =>
    Effect.gen(function*() {
      const retry = yield* Retry.make({ name: "retry-after", maxAttempts: 3, backoff: { _tag: "Constant", delay: 100 } })
      const starts = yield* Ref.make<ReadonlyArray<number>>([])
      const errors = [
        new RateLimited({ limiter: "api", cost: 1, retryAfter: Duration.seconds(5) }),
        new CircuitBreakerOpen({ breaker: "db", state: "Open", retryAfter: Duration.millis(50) })
      ]
      const call = Effect.gen(function*() {
        const now = yield* Clock.currentTimeMillis
        const previous = yield* Ref.getAndUpdate(starts, (all) => [...all, now])
        const error = errors[previous.length]
        return error === undefined ? "done" : yield* Effect.fail(error)
      })
      expect(yield* runToEnd(Retry.protect(call, retry))).toEqual(Exit.succeed("done"))
      // 5 s from the rate limiter's retryAfter; then 100 ms, since the backoff exceeds the breaker's 50 ms.
      expect(yield* Ref.get(starts)).toEqual([0, 5000, 5100])
    }))

  it.effect("gives up at once when retryAfter exceeds what remains of maxElapsed", () =>
    Effect.gen(function*() {
      const retry = yield* Retry.make({ name: "retry-after-deadline", maxAttempts: 5, maxElapsed: "2 seconds" })
      const attempts = yield* Ref.make(0)
      const limited = new RateLimited({ limiter: "api", cost: 1, retryAfter: Duration.seconds(5) })
      const call = Effect.zipRight(Ref.update(attempts, (n) => n + 1), Effect.fail(limited))
      // No clock adjustment at all: the policy must fail without sleeping.
      expect(yield* Effect.exit(Retry.protect(call, retry))).toEqual(Exit.fail(limited))
      expect(yield* Ref.get(attempts)).toBe(1)
    }))

  it.effect("gives up at once on an infinite retryAfter (a breaker forced open), even with no maxElapsed", () =>
    Effect.gen(function*() {
      const retry = yield* Retry.make({ name: "forced-open", maxAttempts: 5 })
      const attempts = yield* Ref.make(0)
      const forcedOpen = new CircuitBreakerOpen({ breaker: "db", state: "ForcedOpen", retryAfter: Duration.infinity })
      const call = Effect.zipRight(Ref.update(attempts, (n) => n + 1), Effect.fail(forcedOpen))
      // No clock adjustment: without the check this call would sleep forever.
      expect(yield* Effect.exit(Retry.protect(call, retry))).toEqual(Exit.fail(forcedOpen))
      expect(yield* Ref.get(attempts)).toBe(1)
    }))

  it.effect("never builds the custom schedule on the success path", () =>
    Effect.gen(function*() {
      let built = 0
      let steps = 0
      const retry = yield* Retry.make({
        name: "lazy-schedule",
        maxAttempts: 5,
        schedule: () => {
          built++
          return Schedule.spaced("10 millis").pipe(Schedule.tapInput(() => Effect.sync(() => steps++)))
        }
      })
      for (let index = 0; index < 1000; index++) {
        expect(yield* Retry.protect(Effect.succeed(index), retry)).toBe(index)
      }
      expect(built).toBe(0)
      expect(steps).toBe(0)
      // The same policy on a failing call does build it, once, on the first failure: so the
      // counter above could have failed.
      const downstream = yield* flaky(2)
      yield* runToEnd(Retry.protect(downstream.call, retry))
      expect(built).toBe(1)
      expect(steps).toBe(2)
      expect(gaps(yield* downstream.starts)).toEqual([10, 10])
    }))

  it.effect("uses a custom Schedule as the backoff and stops when it is done", () =>
    Effect.gen(function*() {
      const retry = yield* Retry.make({
        name: "custom-schedule",
        maxAttempts: 10,
        schedule: Schedule.intersect(Schedule.exponential("100 millis", 3), Schedule.recurs(2))
      })
      const downstream = yield* flaky(100)
      const exit = yield* runToEnd(Retry.protect(downstream.call, retry))
      expect(exit).toEqual(Exit.fail(new Unavailable({ attempt: 3 })))
      expect(yield* downstream.starts).toEqual([0, 100, 400])
    }))

  it.effect.prop(
    "jittered delays stay within their bounds (full, equal, decorrelated), reproducibly for a seed",
    {
      seed: FastCheck.integer(),
      jitter: FastCheck.constantFrom("full" as const, "equal" as const, "decorrelated" as const),
      base: FastCheck.integer({ min: 1, max: 500 }),
      factor: FastCheck.double({ min: 1, max: 4, noNaN: true }),
      maxMultiple: FastCheck.integer({ min: 1, max: 50 })
    },
    ({ base, factor, jitter, maxMultiple, seed }) =>
      Effect.gen(function*() {
        const max = base * maxMultiple
        const observe = Effect.gen(function*() {
          const retry = yield* Retry.make({
            name: "jitter",
            maxAttempts: 8,
            backoff: { _tag: "Exponential", base, factor, max, jitter }
          }).pipe(Effect.withRandom(Random.make(seed)))
          const downstream = yield* flaky(100)
          yield* runToEnd(Retry.protect(downstream.call, retry), "1 day")
          return gaps(yield* downstream.starts)
        })
        const delays = yield* observe
        expect(delays.length).toBe(7)
        const epsilon = 1e-6
        let previous = base
        delays.forEach((delay, index) => {
          const capped = Math.min(max, base * Math.pow(factor, index))
          if (jitter === "full") {
            expect(delay).toBeGreaterThanOrEqual(-epsilon)
            expect(delay).toBeLessThanOrEqual(capped + epsilon)
          } else if (jitter === "equal") {
            expect(delay).toBeGreaterThanOrEqual(capped / 2 - epsilon)
            expect(delay).toBeLessThanOrEqual(capped + epsilon)
          } else {
            expect(delay).toBeGreaterThanOrEqual(base - epsilon)
            expect(delay).toBeLessThanOrEqual(Math.min(max, previous * 3) + epsilon)
            previous = delay
          }
        })
        // Same seed, same delays.
        yield* TestClock.setTime(0)
        expect(yield* observe).toEqual(delays)
      }),
    { fastCheck: { numRuns: 40 } }
  )

  it.effect("without a budget, N calls against a dead downstream make N * maxAttempts attempts", () =>
    Effect.gen(function*() {
      const retry = yield* Retry.make({ name: "no-budget", maxAttempts: 5, backoff: { _tag: "Constant", delay: 100 } })
      const attempts = yield* Ref.make(0)
      const dead = Effect.zipRight(Ref.update(attempts, (n) => n + 1), Effect.fail(new Unavailable({ attempt: 0 })))
      yield* Effect.forEach(Array.from({ length: 100 }), () => Effect.fork(Effect.exit(Retry.protect(dead, retry))))
      yield* TestClock.adjust("1 hour")
      expect(yield* Ref.get(attempts)).toBe(500)
    }))

  it.effect.prop(
    "a retry budget caps amplification: attempts <= N * (1 + ratio) + floor * (seconds + 2 * ttl)",
    {
      arrivals: FastCheck.array(FastCheck.integer({ min: 0, max: 20_000 }), { minLength: 1, maxLength: 250 }),
      ttlSeconds: FastCheck.integer({ min: 1, max: 10 }),
      floor: FastCheck.integer({ min: 0, max: 3 }),
      seed: FastCheck.integer()
    },
    ({ arrivals, floor, seed, ttlSeconds }) =>
      Effect.gen(function*() {
        const ratio = 0.2
        const budget = yield* RetryBudget.make({
          name: "amplification",
          ratio,
          minRetriesPerSecond: floor,
          ttl: Duration.seconds(ttlSeconds)
        })
        const retry = yield* Retry.make({
          name: "amplification",
          maxAttempts: 5,
          backoff: { _tag: "Exponential", base: 100, factor: 2, max: 1000, jitter: "full" },
          budget
        }).pipe(Effect.withRandom(Random.make(seed)))
        const attempts = yield* Ref.make(0)
        const dead = Effect.zipRight(Ref.update(attempts, (n) => n + 1), Effect.fail(new Unavailable({ attempt: 0 })))
        const sorted = [...arrivals].sort((a, b) => a - b)
        let now = 0
        for (const at of sorted) {
          if (at > now) {
            yield* TestClock.adjust(at - now)
            now = at
          }
          yield* Effect.fork(Effect.exit(Retry.protect(dead, retry)))
        }
        yield* TestClock.adjust("1 hour")
        // Retries can happen from the first arrival until at most 100+200+400+800 ms after the last.
        const seconds = (sorted[sorted.length - 1]! - sorted[0]! + 1500) / 1000
        const n = arrivals.length
        // Slack: the reserve (floor * ttl) is there from the start, and the window is cut into
        // slices, so an activity span touches at most ceil(span / ttl) + 1 whole windows: the
        // floor buys at most floor * ttl * (span / ttl + 2) retries.
        expect(yield* Ref.get(attempts)).toBeLessThanOrEqual(n * (1 + ratio) + floor * (seconds + 2 * ttlSeconds))
        // And the budget does let retries through when it has tokens.
        if (floor > 0) expect(yield* Ref.get(attempts)).toBeGreaterThan(n)
      }),
    { fastCheck: { numRuns: 25 } }
  )

  it.effect("updates maxAttempts and backoff live, without recreating the policy", () =>
    Effect.gen(function*() {
      const retry = yield* Retry.make({ name: "live", maxAttempts: 2, backoff: { _tag: "Constant", delay: 10 } })
      const first = yield* flaky(100)
      yield* runToEnd(Retry.protect(first.call, retry))
      expect((yield* first.starts).length).toBe(2)

      // Protected before the update, run after it: the effect reads the options at run time.
      const second = yield* flaky(100)
      const protectedEarlier = Retry.protect(second.call, retry)
      yield* Retry.update(retry, { maxAttempts: 4, backoff: { _tag: "Constant", delay: 30 } })
      expect(retry.options.maxAttempts).toBe(4)
      yield* runToEnd(protectedEarlier)
      expect(gaps(yield* second.starts)).toEqual([30, 30, 30])

      const rejected = yield* Effect.flip(Retry.update(retry, { maxAttempts: -1 }))
      expect(rejected.message).toContain("maxAttempts")
      expect(retry.options.maxAttempts).toBe(4)
    }))

  it.effect("rejects bad options with InvalidOptions naming the field", () =>
    Effect.gen(function*() {
      const message = (input: Retry.RetryOptionsInput) => Effect.map(Effect.flip(Retry.make(input)), (e) => e.message)
      expect(yield* message({ name: "" })).toContain("name")
      expect(yield* message({ name: "r", maxAttempts: 0 })).toContain("maxAttempts")
      expect(yield* message({ name: "r", maxAttempts: 1.5 })).toContain("maxAttempts")
      expect(yield* message({ name: "r", maxElapsed: "soon" })).toContain("maxElapsed")
      expect(
        yield* message({ name: "r", backoff: { _tag: "Exponential", base: "1 second", max: "10 millis" } })
      ).toContain("backoff.max")
      expect(yield* message({ name: "r", backoff: { _tag: "Exponential", factor: 0.5 } })).toContain("backoff.factor")
      expect(yield* message({ name: "r", backoff: { _tag: "Constant", delay: -5 } })).toContain("backoff.delay")
      expect(yield* message({ name: "r", retryOn: [] })).toContain("retryOn")
      expect(yield* message({ name: "r", budget: { ratio: 2 } })).toContain("budget")
      const error = yield* Effect.flip(Retry.make({ name: "r", maxAttempts: 0 }))
      expect(error._tag).toBe("InvalidOptions")
      expect(error.module).toBe("Retry")
    }))

  it.effect("accepts options decoded from JSON", () =>
    Effect.gen(function*() {
      const json = JSON.parse(
        `{"name":"from-json","maxAttempts":3,"backoff":{"_tag":"Exponential","base":"50 millis","factor":2,"max":1000,"jitter":"none"},"maxElapsed":"10 seconds","retryOn":["Unavailable"],"budget":{"ratio":0.5}}`
      ) as Retry.RetryOptionsInput
      const retry = yield* Retry.make(json)
      const downstream = yield* flaky(2)
      expect(yield* runToEnd(Retry.protect(downstream.call, retry))).toEqual(Exit.succeed("ok after 3"))
      expect(gaps(yield* downstream.starts)).toEqual([50, 100])
    }))

  it.effect("counts calls by outcome and attempts in metrics", () =>
    Effect.gen(function*() {
      const name = "metrics-retry"
      const budget = yield* RetryBudget.make({ name: "metrics-budget", ratio: 0, minRetriesPerSecond: 0.1, ttl: 10_000 })
      const retry = yield* Retry.make({ name, maxAttempts: 3, backoff: { _tag: "Constant", delay: 1 }, budget })
      yield* Retry.protect(Effect.succeed(1), retry)
      yield* runToEnd(Retry.protect((yield* flaky(1)).call, retry)) // 2 attempts: takes the budget's only token
      // runToEnd moved the clock an hour on, so the token is back: one retry, then the budget is empty.
      yield* runToEnd(Retry.protect((yield* flaky(100)).call, retry))
      const twin = yield* Retry.make({ name, maxAttempts: 1 }) // same name, same series
      yield* runToEnd(Retry.protect(Effect.fail(new BadRequest()), twin))
      const calls = (outcome: string) => counter("rampart_retry_calls_total", { name, outcome })
      expect(yield* calls("success_first_try")).toBe(1)
      expect(yield* calls("success_after_retry")).toBe(1)
      expect(yield* calls("budget_exhausted")).toBe(1)
      expect(yield* calls("failed")).toBe(1)
      expect(yield* counter("rampart_retry_attempts_total", { name })).toBe(1 + 2 + 2 + 1)
    }))

  it.effect("publishes Retrying before each retry and GaveUp when it stops", () =>
    Effect.gen(function*() {
      const retry = yield* Retry.make({
        name: "evented",
        maxAttempts: 3,
        backoff: { _tag: "Exponential", base: 100, jitter: "none" }
      })
      const collector = yield* Effect.fork(Stream.runCollect(Stream.take(retry.events, 3)))
      yield* Effect.repeatN(Effect.yieldNow(), 5)
      yield* runToEnd(Retry.protect((yield* flaky(100)).call, retry))
      const events = Chunk.toReadonlyArray(yield* Fiber.join(collector))
      expect(events.map((event) =>
        event._tag === "Retrying"
          ? [event._tag, event.attempt, Duration.toMillis(event.delay), event.errorTag, event.timestamp]
          : [event._tag, event.attempts, event.reason, event.errorTag, event.timestamp]
      )).toEqual([
        ["Retrying", 2, 100, "Unavailable", 0],
        ["Retrying", 3, 200, "Unavailable", 100],
        ["GaveUp", 3, "MaxAttempts", "Unavailable", 300]
      ])
    }))

  it.effect("is a Policy whose apply is protect", () =>
    Effect.gen(function*() {
      const retry = yield* Retry.make({ name: "policy" })
      expect(Retry.isRetry(retry)).toBe(true)
      expect(Retry.isRetry({})).toBe(false)
      expect(retry.name).toBe("policy")
      expect(yield* retry.apply(Effect.succeed(3))).toBe(3)
      expect(yield* Effect.succeed(4).pipe(Retry.protect(retry))).toBe(4)
      const budget = yield* RetryBudget.make({ name: "policy" })
      const pipeline = Policy.compose(retry, budget)
      expectTypeOf(pipeline).toEqualTypeOf<Policy.Policy<never, never>>()
      expect(yield* Policy.protect(Effect.succeed(5), pipeline)).toBe(5)
    }))
})
