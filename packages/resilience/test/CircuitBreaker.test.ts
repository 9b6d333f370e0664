import { describe, expect, it } from "@effect/vitest"
import { Duration, Effect, Either, Exit, Fiber, Metric, Schedule, Stream, TestClock } from "effect"
import * as CircuitBreaker from "../src/CircuitBreaker.js"
import { CircuitBreakerOpen, InvalidOptions } from "../src/Errors.js"
import * as Policy from "../src/Policy.js"

type Breaker = CircuitBreaker.CircuitBreaker

const succeed = (breaker: Breaker) => Effect.either(CircuitBreaker.protect(Effect.succeed("ok"), breaker))
const fail = (breaker: Breaker, error: unknown = "boom") => Effect.either(CircuitBreaker.protect(Effect.fail(error), breaker))
const repeat = <A, E>(times: number, effect: Effect.Effect<A, E>) => Effect.replicateEffect(effect, times)

/** Yields until `done()` holds, so forked fibers get to run (no sleeps, no real time). */
const waitUntil = (done: () => boolean) =>
  Effect.gen(function*() {
    for (let turn = 0; turn < 1000 && !done(); turn++) yield* Effect.yieldNow()
    expect(done()).toBe(true)
  })

/**
 * Runs one call that takes `millis` on the TestClock: forks it, waits until it has started (or
 * was rejected), then moves the clock.
 */
const timedCall = <A, E>(breaker: Breaker, millis: number, result: Effect.Effect<A, E>) =>
  Effect.gen(function*() {
    let started = false
    const body = Effect.suspend(() => {
      started = true
      return Effect.zipRight(Effect.sleep(Duration.millis(millis)), result)
    })
    const fiber = yield* Effect.fork(CircuitBreaker.protect(body, breaker))
    yield* waitUntil(() => started || fiber.unsafePoll() !== null)
    yield* TestClock.adjust(Duration.millis(millis))
    return yield* Effect.either(Fiber.join(fiber))
  })

/**
 * Subscribes to a breaker's events. Subscribing is asynchronous, so nudge the breaker (an empty
 * `update` publishes `Updated`) until the subscriber sees something, then start clean.
 */
const collectEvents = (breaker: Breaker) =>
  Effect.gen(function*() {
    const seen: Array<CircuitBreaker.CircuitBreakerEvent> = []
    yield* Effect.fork(Stream.runForEach(breaker.events, (event) => Effect.sync(() => seen.push(event))))
    for (let turn = 0; turn < 100 && seen.length === 0; turn++) {
      yield* CircuitBreaker.update(breaker, {})
      yield* Effect.yieldNow()
    }
    expect(seen.length).toBeGreaterThan(0)
    seen.length = 0
    return seen
  })

const rejection = <A>(result: Either.Either<A, unknown>): CircuitBreakerOpen => {
  expect(Either.isLeft(result)).toBe(true)
  const error = Either.isLeft(result) ? result.left : undefined
  expect(error).toBeInstanceOf(CircuitBreakerOpen)
  return error as CircuitBreakerOpen
}

const invalid = (options: CircuitBreaker.CircuitBreakerOptionsInput) =>
  Effect.gen(function*() {
    const error = yield* Effect.flip(CircuitBreaker.make(options))
    expect(error).toBeInstanceOf(InvalidOptions)
    return error.message
  })

/** The value of one labelled series of a counter, read from Effect's metric registry. */
const counterValue = (name: string, labels: Record<string, string>) =>
  Effect.map(Metric.snapshot, (pairs) => {
    const pair = pairs.find((pair) =>
      pair.metricKey.name === name &&
      Object.entries(labels).every(([key, value]) =>
        pair.metricKey.tags.some((tag) => tag.key === key && tag.value === value)
      ) && pair.metricKey.tags.length === Object.keys(labels).length
    )
    const state = pair?.metricState as { readonly count?: number; readonly value?: number } | undefined
    return state?.count ?? state?.value
  })

describe("CircuitBreaker", () => {
  describe("consecutive failures", () => {
    it.effect("opens after 5 consecutive failures and rejects without calling the effect", () =>
      Effect.gen(function*() {
        const breaker = yield* CircuitBreaker.make({ name: "consecutive", trip: { _tag: "Consecutive", threshold: 5 } })
        yield* repeat(4, fail(breaker))
        yield* succeed(breaker) // a success resets the run
        yield* repeat(4, fail(breaker))
        expect(yield* breaker.state).toBe("Closed")
        yield* fail(breaker)
        expect(yield* breaker.state).toBe("Open")

        let calls = 0
        const result = yield* Effect.either(CircuitBreaker.protect(Effect.sync(() => calls++), breaker))
        const error = rejection(result)
        expect(calls).toBe(0)
        expect(error.breaker).toBe("consecutive")
        expect(error.state).toBe("Open")
      }))

    it.effect("counts defects as failures and interruptions as neither", () =>
      Effect.gen(function*() {
        const breaker = yield* CircuitBreaker.make({ name: "defects", trip: { _tag: "Consecutive", threshold: 2 } })
        yield* Effect.exit(CircuitBreaker.protect(Effect.die("bug"), breaker))
        yield* repeat(5, Effect.exit(CircuitBreaker.protect(Effect.interrupt, breaker)))
        expect(yield* breaker.state).toBe("Closed")
        yield* Effect.exit(CircuitBreaker.protect(Effect.die("bug"), breaker))
        expect(yield* breaker.state).toBe("Open")
      }))
  })

  describe("count window", () => {
    it.effect("waits for minimumCalls, then trips when the failure rate reaches the threshold", () =>
      Effect.gen(function*() {
        const breaker = yield* CircuitBreaker.make({
          name: "count-minimum",
          trip: { _tag: "CountWindow", size: 10, minimumCalls: 5, failureRateThreshold: 0.5 }
        })
        yield* repeat(4, fail(breaker))
        expect(yield* breaker.state).toBe("Closed") // 4 calls < minimumCalls
        yield* succeed(breaker)
        expect(yield* breaker.state).toBe("Open") // 4 of 5 failed
      }))

    it.effect("only the last `size` outcomes count", () =>
      Effect.gen(function*() {
        const breaker = yield* CircuitBreaker.make({
          name: "count-ring",
          trip: { _tag: "CountWindow", size: 10, failureRateThreshold: 0.5 }
        })
        yield* repeat(4, fail(breaker))
        yield* repeat(10, succeed(breaker)) // pushes the failures out of the ring
        yield* repeat(4, fail(breaker))
        expect(yield* breaker.state).toBe("Closed") // 4 of the last 10
        yield* fail(breaker)
        expect(yield* breaker.state).toBe("Open") // 5 of the last 10
      }))
  })

  describe("time window", () => {
    it.effect("counts only the calls of the last duration", () =>
      Effect.gen(function*() {
        const breaker = yield* CircuitBreaker.make({
          name: "time",
          trip: { _tag: "TimeWindow", duration: "10 seconds", buckets: 10, minimumCalls: 4, failureRateThreshold: 0.5 }
        })
        yield* repeat(3, fail(breaker))
        yield* TestClock.adjust("10 seconds") // those failures age out
        yield* fail(breaker)
        yield* repeat(3, succeed(breaker))
        expect(yield* breaker.state).toBe("Closed") // 1 of 4
        yield* TestClock.adjust("5 seconds")
        yield* fail(breaker)
        expect(yield* breaker.state).toBe("Closed") // 2 of 5
        yield* fail(breaker)
        expect(yield* breaker.state).toBe("Open") // 3 of 6
      }))
  })

  describe("open and half-open", () => {
    it.effect("CircuitBreakerOpen carries retryAfter; the breaker turns half-open once openDuration elapsed", () =>
      Effect.gen(function*() {
        const breaker = yield* CircuitBreaker.make({
          name: "retry-after",
          trip: { _tag: "Consecutive", threshold: 1 },
          openDuration: "10 seconds"
        })
        yield* fail(breaker)
        yield* TestClock.adjust("3 seconds")
        const error = rejection(yield* succeed(breaker))
        expect(error.state).toBe("Open")
        expect(Duration.toMillis(error.retryAfter)).toBe(7_000)
        expect(error.message).toContain("retry-after")
        yield* TestClock.adjust("7 seconds")
        expect(yield* breaker.state).toBe("HalfOpen")
        expect(breaker.unsafeState()).toBe("HalfOpen")
      }))

    it.effect("half-open admits exactly N probes concurrently and closes after they all succeed", () =>
      Effect.gen(function*() {
        const breaker = yield* CircuitBreaker.make({
          name: "probes",
          trip: { _tag: "Consecutive", threshold: 1 },
          openDuration: "1 second",
          halfOpenPermits: 3
        })
        yield* fail(breaker)
        yield* TestClock.adjust("1 second")
        let started = 0
        const probe = Effect.suspend(() => {
          started++
          return Effect.as(Effect.sleep("100 millis"), "probed")
        })
        const fibers = yield* Effect.forEach(
          [1, 2, 3, 4, 5],
          () => Effect.fork(Effect.either(CircuitBreaker.protect(probe, breaker)))
        )
        yield* waitUntil(() => started === 3 && fibers.filter((fiber) => fiber.unsafePoll() !== null).length === 2)
        yield* TestClock.adjust("100 millis")
        const results = yield* Fiber.joinAll(fibers)
        expect(results.filter(Either.isRight)).toHaveLength(3)
        const busy = results.filter(Either.isLeft).map((result) => result.left)
        expect(busy).toHaveLength(2)
        for (const error of busy) {
          expect(error).toBeInstanceOf(CircuitBreakerOpen)
          expect(error.state).toBe("HalfOpen")
          expect(Duration.toMillis(error.retryAfter)).toBe(0)
        }
        expect(yield* breaker.state).toBe("Closed")
      }))

    it.effect("stays half-open until all N probes succeed", () =>
      Effect.gen(function*() {
        const breaker = yield* CircuitBreaker.make({
          name: "probes-sequential",
          trip: { _tag: "Consecutive", threshold: 1 },
          openDuration: "1 second",
          halfOpenPermits: 2
        })
        yield* fail(breaker)
        yield* TestClock.adjust("1 second")
        yield* succeed(breaker)
        expect(yield* breaker.state).toBe("HalfOpen")
        yield* succeed(breaker)
        expect(yield* breaker.state).toBe("Closed")
      }))

    it.effect("re-opens on a probe failure", () =>
      Effect.gen(function*() {
        const breaker = yield* CircuitBreaker.make({
          name: "probe-fails",
          trip: { _tag: "Consecutive", threshold: 1 },
          openDuration: "1 second",
          halfOpenPermits: 2
        })
        yield* fail(breaker)
        yield* TestClock.adjust("1 second")
        yield* succeed(breaker)
        yield* fail(breaker)
        expect(yield* breaker.state).toBe("Open")
        expect(Duration.toMillis(rejection(yield* succeed(breaker)).retryAfter)).toBe(1_000)
      }))

    it.effect("a Schedule open duration grows across consecutive re-openings and restarts after closing", () =>
      Effect.gen(function*() {
        const breaker = yield* CircuitBreaker.make({
          name: "schedule",
          trip: { _tag: "Consecutive", threshold: 1 },
          openDuration: Schedule.exponential("1 second")
        })
        const retryAfter = Effect.map(succeed(breaker), (result) => Duration.toMillis(rejection(result).retryAfter))
        yield* fail(breaker)
        expect(yield* retryAfter).toBe(1_000)
        yield* TestClock.adjust("1 second")
        yield* fail(breaker)
        expect(yield* retryAfter).toBe(2_000)
        yield* TestClock.adjust("2 seconds")
        yield* fail(breaker)
        expect(yield* retryAfter).toBe(4_000)
        yield* TestClock.adjust("4 seconds")
        yield* succeed(breaker)
        expect(yield* breaker.state).toBe("Closed")
        yield* fail(breaker)
        expect(yield* retryAfter).toBe(1_000)
      }))

    it.effect("an interrupted half-open probe gives its permit back", () =>
      Effect.gen(function*() {
        const breaker = yield* CircuitBreaker.make({
          name: "interrupted-probe",
          trip: { _tag: "Consecutive", threshold: 1 },
          openDuration: "1 second"
        })
        yield* fail(breaker)
        yield* TestClock.adjust("1 second")
        let started = false
        const hang = Effect.zipRight(Effect.sync(() => (started = true)), Effect.never)
        const probe = yield* Effect.fork(CircuitBreaker.protect(hang, breaker))
        yield* waitUntil(() => started)
        expect(rejection(yield* succeed(breaker)).state).toBe("HalfOpen") // the only permit is taken
        yield* Fiber.interrupt(probe)
        expect(yield* breaker.state).toBe("HalfOpen")
        expect(yield* succeed(breaker)).toEqual(Either.right("ok"))
        expect(yield* breaker.state).toBe("Closed")
      }))

    it.effect("a call admitted while closed that fails during half-open neither re-opens nor counts", () =>
      Effect.gen(function*() {
        const breaker = yield* CircuitBreaker.make({
          name: "stale-call",
          trip: { _tag: "Consecutive", threshold: 1 },
          openDuration: "1 second"
        })
        const late = yield* Effect.fork(
          Effect.either(CircuitBreaker.protect(Effect.zipRight(Effect.sleep("5 seconds"), Effect.fail("late")), breaker))
        )
        yield* Effect.yieldNow()
        yield* fail(breaker)
        yield* TestClock.adjust("1 second")
        expect(yield* breaker.state).toBe("HalfOpen")
        yield* TestClock.adjust("4 seconds")
        expect(yield* Fiber.join(late)).toEqual(Either.left("late"))
        expect(yield* breaker.state).toBe("HalfOpen")
        yield* succeed(breaker)
        expect(yield* breaker.state).toBe("Closed")
      }))
  })

  describe("slow calls", () => {
    it.effect("trip a window when the slow-call rate reaches its threshold", () =>
      Effect.gen(function*() {
        const breaker = yield* CircuitBreaker.make({
          name: "slow-window",
          trip: { _tag: "CountWindow", size: 4 },
          slowCallDuration: "1 second",
          slowCallRateThreshold: 0.5
        })
        yield* timedCall(breaker, 2_000, Effect.succeed(1)) // slow success
        yield* timedCall(breaker, 500, Effect.succeed(1))
        yield* timedCall(breaker, 1_000, Effect.succeed(1)) // exactly the limit is not slow
        expect(yield* breaker.state).toBe("Closed")
        yield* timedCall(breaker, 1_001, Effect.fail("late")) // slow failure
        expect(yield* breaker.state).toBe("Open") // 2 of 4 slow (and 1 of 4 failed)
        expect(yield* counterValue("rampart_circuit_breaker_calls_total", { name: "slow-window", outcome: "slow_success" }))
          .toBe(1)
        expect(yield* counterValue("rampart_circuit_breaker_calls_total", { name: "slow-window", outcome: "slow_failure" }))
          .toBe(1)
      }))

    it.effect("trip a consecutive breaker after `threshold` slow calls in a row", () =>
      Effect.gen(function*() {
        const breaker = yield* CircuitBreaker.make({
          name: "slow-consecutive",
          trip: { _tag: "Consecutive", threshold: 3 },
          slowCallDuration: "100 millis"
        })
        const events = yield* collectEvents(breaker)
        yield* repeat(2, timedCall(breaker, 200, Effect.succeed(1)))
        yield* timedCall(breaker, 10, Effect.succeed(1))
        yield* repeat(2, timedCall(breaker, 200, Effect.succeed(1)))
        expect(yield* breaker.state).toBe("Closed")
        yield* timedCall(breaker, 200, Effect.succeed(1))
        expect(yield* breaker.state).toBe("Open")
        yield* waitUntil(() => events.length === 1)
        expect(events[0]).toMatchObject({ _tag: "StateChanged", from: "Closed", to: "Open", reason: "ConsecutiveSlowCalls" })
      }))

    it.effect("a slow probe re-opens the breaker", () =>
      Effect.gen(function*() {
        const breaker = yield* CircuitBreaker.make({
          name: "slow-probe",
          trip: { _tag: "Consecutive", threshold: 1 },
          openDuration: "1 second",
          slowCallDuration: "100 millis"
        })
        yield* fail(breaker)
        yield* TestClock.adjust("1 second")
        expect(yield* timedCall(breaker, 200, Effect.succeed(1))).toEqual(Either.right(1))
        expect(yield* breaker.state).toBe("Open")
      }))
  })

  describe("predicates", () => {
    it.effect("isFailure decides which typed errors count; the others count as successes", () =>
      Effect.gen(function*() {
        const breaker = yield* CircuitBreaker.make({
          name: "is-failure",
          trip: { _tag: "Consecutive", threshold: 2 },
          isFailure: (error) => error !== "NotFound"
        })
        yield* fail(breaker, "Unavailable")
        yield* fail(breaker, "NotFound") // resets the run: the dependency answered
        yield* fail(breaker, "Unavailable")
        expect(yield* breaker.state).toBe("Closed")
        yield* fail(breaker, "Unavailable")
        expect(yield* breaker.state).toBe("Open")
      }))

    it.effect("isResultFailure counts a success value as a failure but still returns it", () =>
      Effect.gen(function*() {
        const breaker = yield* CircuitBreaker.make({
          name: "is-result-failure",
          trip: { _tag: "Consecutive", threshold: 2 },
          isResultFailure: (response) => (response as { status: number }).status >= 500
        })
        const call = (status: number) => CircuitBreaker.protect(Effect.succeed({ status }), breaker)
        expect(yield* call(503)).toEqual({ status: 503 })
        expect(yield* call(200)).toEqual({ status: 200 })
        yield* call(503)
        expect(yield* breaker.state).toBe("Closed")
        yield* call(503)
        expect(yield* breaker.state).toBe("Open")
      }))
  })

  describe("manual states", () => {
    it.effect("ForcedOpen rejects every call with an infinite retryAfter until reset", () =>
      Effect.gen(function*() {
        const breaker = yield* CircuitBreaker.make({ name: "forced" })
        yield* CircuitBreaker.forceOpen(breaker)
        yield* TestClock.adjust("1 day")
        const error = rejection(yield* succeed(breaker))
        expect(error.state).toBe("ForcedOpen")
        expect(Duration.isFinite(error.retryAfter)).toBe(false)
        expect(yield* breaker.state).toBe("ForcedOpen")
        yield* CircuitBreaker.reset(breaker)
        expect(yield* succeed(breaker)).toEqual(Either.right("ok"))
      }))

    it.effect("Disabled lets every call through and records nothing", () =>
      Effect.gen(function*() {
        const breaker = yield* CircuitBreaker.make({ name: "disabled", trip: { _tag: "Consecutive", threshold: 1 } })
        yield* CircuitBreaker.disable(breaker)
        yield* repeat(10, fail(breaker))
        expect(yield* breaker.state).toBe("Disabled")
        yield* CircuitBreaker.reset(breaker)
        expect(yield* breaker.state).toBe("Closed")
        yield* fail(breaker)
        expect(yield* breaker.state).toBe("Open")
      }))
  })

  describe("snapshot and restore", () => {
    it.effect("a restarted breaker resumes from a snapshot sent through JSON", () =>
      Effect.gen(function*() {
        const options: CircuitBreaker.CircuitBreakerOptionsInput = {
          name: "snapshot",
          trip: { _tag: "CountWindow", size: 4, minimumCalls: 2 },
          openDuration: Schedule.exponential("1 second"),
          slowCallDuration: "1 second"
        }
        const before = yield* CircuitBreaker.make(options)
        yield* fail(before)
        yield* fail(before)
        yield* TestClock.adjust("1 second")
        yield* fail(before) // probe fails: second opening, 2 seconds
        yield* TestClock.adjust("500 millis")
        const saved = JSON.stringify(yield* CircuitBreaker.snapshot(before))

        const after = yield* CircuitBreaker.make(options)
        yield* CircuitBreaker.restore(after, JSON.parse(saved))
        expect(yield* CircuitBreaker.snapshot(after)).toEqual(JSON.parse(saved))
        const error = rejection(yield* succeed(after))
        expect(Duration.toMillis(error.retryAfter)).toBe(1_500)
        // The schedule resumes where it was: the next opening waits 4 seconds.
        yield* TestClock.adjust("1500 millis")
        yield* fail(after)
        expect(Duration.toMillis(rejection(yield* succeed(after)).retryAfter)).toBe(4_000)
      }))

    it.effect("window contents survive the round trip for every trip policy", () =>
      Effect.gen(function*() {
        const trips: ReadonlyArray<CircuitBreaker.TripPolicyInput> = [
          { _tag: "Consecutive", threshold: 5 },
          { _tag: "CountWindow", size: 5 },
          { _tag: "TimeWindow", duration: "10 seconds", buckets: 5, minimumCalls: 10 }
        ]
        for (const trip of trips) {
          const before = yield* CircuitBreaker.make({ name: "round-trip", trip, slowCallDuration: "1 second" })
          yield* succeed(before)
          yield* TestClock.adjust("2 seconds")
          yield* fail(before)
          yield* timedCall(before, 1_500, Effect.fail("slow"))
          const saved = JSON.parse(JSON.stringify(yield* CircuitBreaker.snapshot(before)))
          const after = yield* CircuitBreaker.make({ name: "round-trip", trip, slowCallDuration: "1 second" })
          yield* CircuitBreaker.restore(after, saved)
          expect(yield* CircuitBreaker.snapshot(after)).toEqual(saved)
        }
      }))

    it.effect("a half-open snapshot restores as a fresh round of probes", () =>
      Effect.gen(function*() {
        const options: CircuitBreaker.CircuitBreakerOptionsInput = {
          name: "snapshot-half-open",
          trip: { _tag: "Consecutive", threshold: 1 },
          openDuration: "1 second",
          halfOpenPermits: 1
        }
        const before = yield* CircuitBreaker.make(options)
        yield* fail(before)
        yield* TestClock.adjust("1 second")
        const hung = yield* Effect.fork(CircuitBreaker.protect(Effect.never, before)) // holds the only permit
        yield* waitUntil(() => before.unsafeState() === "HalfOpen")
        const saved = JSON.parse(JSON.stringify(yield* CircuitBreaker.snapshot(before)))
        expect(saved.state).toBe("HalfOpen")
        yield* Fiber.interrupt(hung)

        const after = yield* CircuitBreaker.make(options)
        yield* CircuitBreaker.restore(after, saved)
        expect(yield* after.state).toBe("HalfOpen")
        expect(yield* succeed(after)).toEqual(Either.right("ok"))
        expect(yield* after.state).toBe("Closed")
      }))

    it.effect("restore rejects a snapshot that does not match the schema and changes nothing", () =>
      Effect.gen(function*() {
        const breaker = yield* CircuitBreaker.make({ name: "bad-snapshot" })
        const good = yield* CircuitBreaker.snapshot(breaker)
        const error = yield* Effect.flip(CircuitBreaker.restore(breaker, { ...good, state: "Ajar", reopenCount: -1 }))
        expect(error).toBeInstanceOf(InvalidOptions)
        expect(error.message).toContain("state")
        expect(error.message).toContain("reopenCount")
        expect(yield* breaker.state).toBe("Closed")
      }))
  })

  describe("update", () => {
    it.effect("changes thresholds live and keeps the recorded outcomes", () =>
      Effect.gen(function*() {
        const breaker = yield* CircuitBreaker.make({ name: "update", trip: { _tag: "Consecutive", threshold: 5 } })
        yield* repeat(2, fail(breaker))
        yield* CircuitBreaker.update(breaker, { trip: { _tag: "Consecutive", threshold: 3 } })
        expect(yield* breaker.state).toBe("Closed")
        yield* fail(breaker)
        expect(yield* breaker.state).toBe("Open")
      }))

    it.effect("a smaller count window keeps the newest outcomes", () =>
      Effect.gen(function*() {
        const breaker = yield* CircuitBreaker.make({ name: "update-resize", trip: { _tag: "CountWindow", size: 10 } })
        yield* repeat(3, fail(breaker))
        yield* repeat(3, succeed(breaker))
        yield* CircuitBreaker.update(breaker, { trip: { _tag: "CountWindow", size: 4 } })
        const snapshot = yield* CircuitBreaker.snapshot(breaker)
        expect(snapshot.window).toEqual({ _tag: "CountWindow", outcomes: ["failure", "success", "success", "success"] })
      }))

    it.effect("fewer half-open permits than probes already succeeded closes the breaker", () =>
      Effect.gen(function*() {
        const breaker = yield* CircuitBreaker.make({
          name: "update-permits",
          trip: { _tag: "Consecutive", threshold: 1 },
          openDuration: "1 second",
          halfOpenPermits: 3
        })
        yield* fail(breaker)
        yield* TestClock.adjust("1 second")
        yield* succeed(breaker)
        yield* CircuitBreaker.update(breaker, { halfOpenPermits: 1 })
        expect(yield* breaker.state).toBe("Closed")
      }))

    it.effect("rejects bad values, naming the field, and keeps the old options", () =>
      Effect.gen(function*() {
        const breaker = yield* CircuitBreaker.make({ name: "update-bad", trip: { _tag: "Consecutive", threshold: 1 } })
        const error = yield* Effect.flip(CircuitBreaker.update(breaker, { halfOpenPermits: 0 }))
        expect(error.message).toContain("halfOpenPermits")
        yield* fail(breaker)
        expect(yield* breaker.state).toBe("Open")
      }))
  })

  describe("observability", () => {
    it.effect("publishes state changes and rejections, and counts calls and transitions", () =>
      Effect.gen(function*() {
        const breaker = yield* CircuitBreaker.make({
          name: "observed",
          trip: { _tag: "Consecutive", threshold: 1 },
          openDuration: "1 second"
        })
        const collected = yield* collectEvents(breaker)
        yield* succeed(breaker)
        yield* fail(breaker)
        yield* succeed(breaker) // rejected
        yield* TestClock.adjust("1 second")
        yield* succeed(breaker) // probe
        yield* waitUntil(() => collected.length === 4)
        expect(collected.map((event) => event._tag)).toEqual([
          "StateChanged",
          "CallRejected",
          "StateChanged",
          "StateChanged"
        ])
        expect(collected[0]).toEqual({
          _tag: "StateChanged",
          name: "observed",
          timestamp: 0,
          from: "Closed",
          to: "Open",
          reason: "ConsecutiveFailures"
        })
        expect(collected[1]).toMatchObject({ _tag: "CallRejected", state: "Open", retryAfterMillis: 1_000 })
        expect(collected[2]).toMatchObject({ from: "Open", to: "HalfOpen", reason: "OpenDurationElapsed" })
        expect(collected[3]).toMatchObject({ from: "HalfOpen", to: "Closed", reason: "ProbesSucceeded" })

        const calls = (outcome: string) =>
          counterValue("rampart_circuit_breaker_calls_total", { name: "observed", outcome })
        expect(yield* calls("success")).toBe(2)
        expect(yield* calls("failure")).toBe(1)
        expect(yield* calls("rejected")).toBe(1)
        expect(
          yield* counterValue("rampart_circuit_breaker_transitions_total", { name: "observed", from: "Closed", to: "Open" })
        ).toBe(1)
        expect(yield* counterValue("rampart_circuit_breaker_state", { name: "observed" })).toBe(0)
      }))
  })

  describe("policy shape", () => {
    it.effect("protect is dual, and a breaker composes as a Policy", () =>
      Effect.gen(function*() {
        const breaker = yield* CircuitBreaker.make({ name: "policy" })
        expect(CircuitBreaker.isCircuitBreaker(breaker)).toBe(true)
        expect(CircuitBreaker.isCircuitBreaker({})).toBe(false)
        expect(Policy.isPolicy(breaker)).toBe(true)
        expect(breaker.name).toBe("policy")
        expect(yield* CircuitBreaker.protect(Effect.succeed(1), breaker)).toBe(1)
        expect(yield* Effect.succeed(2).pipe(CircuitBreaker.protect(breaker))).toBe(2)
        // Annotated: Policy.ErrorOf/ContextOf cannot yet infer E and R through an interface that extends Policy.
        const policy: Policy.Policy<CircuitBreakerOpen> = breaker
        expect(yield* Effect.succeed(3).pipe(Policy.protect(Policy.compose(Policy.identity, policy)))).toBe(3)
        const exit = yield* Effect.exit(CircuitBreaker.protect(Effect.fail("typed" as const), breaker))
        expect(exit).toEqual(Exit.fail("typed"))
      }))
  })

  describe("options", () => {
    it.effect("bad options fail with InvalidOptions naming the field", () =>
      Effect.gen(function*() {
        expect(yield* invalid({ name: "x", trip: { _tag: "CountWindow", failureRateThreshold: 1.5 } }))
          .toContain("trip.failureRateThreshold")
        expect(yield* invalid({ name: "x", halfOpenPermits: 0 })).toContain("halfOpenPermits")
        expect(yield* invalid({ name: "x", trip: { _tag: "CountWindow", size: 5, minimumCalls: 6 } }))
          .toContain("trip.minimumCalls")
        expect(yield* invalid({ name: "x", trip: { _tag: "Consecutive", threshold: 0 } })).toContain("trip.threshold")
        expect(yield* invalid({ name: "x", openDuration: "soon" })).toContain("openDuration")
        expect(yield* invalid({ name: "x", slowCallRateThreshold: 0 })).toContain("slowCallRateThreshold")
        expect(yield* invalid({ name: "x", trip: { _tag: "TimeWindow", buckets: 0 } })).toContain("trip.buckets")
        expect(yield* invalid({ name: "" })).toContain("name")
      }))

    it.effect("defaults to a count window of 100 calls at a 50% failure rate", () =>
      Effect.gen(function*() {
        const breaker = yield* CircuitBreaker.make({ name: "defaults" })
        yield* repeat(50, succeed(breaker))
        yield* repeat(49, fail(breaker))
        expect(yield* breaker.state).toBe("Closed")
        yield* fail(breaker)
        expect(yield* breaker.state).toBe("Open")
        const error = rejection(yield* succeed(breaker))
        expect(Duration.toMillis(error.retryAfter)).toBe(60_000)
      }))
  })
})
