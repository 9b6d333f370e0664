/**
 * Model-based test: random sequences of calls (fast or slow, succeeding or failing) and clock
 * advances run against the real breaker on the TestClock and against a small model that keeps
 * every outcome in a plain array and recomputes everything from scratch. After every step the
 * two must agree on the state and on whether the call was admitted.
 */
import { describe, expect, it } from "@effect/vitest"
import { Duration, Effect, Either, Fiber, FastCheck as fc, Schedule, TestClock } from "effect"
import * as CircuitBreaker from "../src/CircuitBreaker.js"
import { CircuitBreakerOpen } from "../src/Errors.js"

const SLOW_MILLIS = 100

type Command =
  | { readonly _tag: "Call"; readonly fails: boolean; readonly slow: boolean }
  | { readonly _tag: "Advance"; readonly millis: number }

type Trip =
  | { readonly _tag: "Consecutive"; readonly threshold: number }
  | { readonly _tag: "CountWindow"; readonly size: number; readonly minimumCalls: number; readonly failureRateThreshold: number }
  | {
    readonly _tag: "TimeWindow"
    readonly bucketMillis: number
    readonly buckets: number
    readonly minimumCalls: number
    readonly failureRateThreshold: number
  }

interface Config {
  readonly trip: Trip
  readonly halfOpenPermits: number
  readonly slowCallRateThreshold: number
  /** Fixed open duration, or the base of an exponential schedule. */
  readonly openMillis: number
  readonly exponential: boolean
}

interface Recorded {
  readonly at: number
  readonly failure: boolean
  readonly slow: boolean
}

/** The obviously-correct breaker: a list of outcomes and a few numbers, everything recomputed. */
class Model {
  state: "Closed" | "Open" | "HalfOpen" = "Closed"
  now = 0
  openUntil = 0
  openings = 0
  probeSuccesses = 0
  recorded: Array<Recorded> = []

  constructor(readonly config: Config) {}

  observe() {
    if (this.state === "Open" && this.now >= this.openUntil) {
      this.state = "HalfOpen"
      this.probeSuccesses = 0
    }
    return this.state
  }

  /** Returns whether the call was admitted. */
  call(fails: boolean, slow: boolean): boolean {
    this.observe()
    const duration = slow ? SLOW_MILLIS + 1 : 0
    if (this.state === "Open") {
      this.now += duration
      return false
    }
    this.now += duration
    if (this.state === "HalfOpen") {
      if (fails || slow) {
        this.open()
      } else if (++this.probeSuccesses === this.config.halfOpenPermits) {
        this.state = "Closed"
        this.openings = 0
        this.recorded = []
      }
      return true
    }
    this.recorded.push({ at: this.now, failure: fails, slow })
    if (this.trips()) this.open()
    return true
  }

  private open() {
    this.openings++
    const delay = this.config.exponential
      ? this.config.openMillis * 2 ** (this.openings - 1)
      : this.config.openMillis
    this.openUntil = this.now + delay
    this.state = "Open"
  }

  private trips(): boolean {
    const trip = this.config.trip
    if (trip._tag === "Consecutive") {
      const trailing = (bad: (recorded: Recorded) => boolean) => {
        let count = 0
        for (let index = this.recorded.length - 1; index >= 0 && bad(this.recorded[index]!); index--) count++
        return count
      }
      return trailing((r) => r.failure) >= trip.threshold || trailing((r) => r.slow) >= trip.threshold
    }
    const window = trip._tag === "CountWindow"
      ? this.recorded.slice(-trip.size)
      : this.recorded.filter((r) =>
        Math.floor(r.at / trip.bucketMillis) > Math.floor(this.now / trip.bucketMillis) - trip.buckets
      )
    if (window.length < trip.minimumCalls) return false
    const failures = window.filter((r) => r.failure).length
    const slowCalls = window.filter((r) => r.slow).length
    return failures / window.length >= trip.failureRateThreshold ||
      slowCalls / window.length >= this.config.slowCallRateThreshold
  }
}

const toOptions = (config: Config): CircuitBreaker.CircuitBreakerOptionsInput => ({
  name: "model",
  trip: config.trip._tag === "TimeWindow"
    ? {
      _tag: "TimeWindow",
      duration: config.trip.bucketMillis * config.trip.buckets,
      buckets: config.trip.buckets,
      minimumCalls: config.trip.minimumCalls,
      failureRateThreshold: config.trip.failureRateThreshold
    }
    : config.trip,
  halfOpenPermits: config.halfOpenPermits,
  slowCallDuration: SLOW_MILLIS,
  slowCallRateThreshold: config.slowCallRateThreshold,
  openDuration: config.exponential ? Schedule.exponential(Duration.millis(config.openMillis)) : config.openMillis
})

const rate = fc.constantFrom(0.25, 0.5, 0.75, 1)

const consecutive = fc.record({
  _tag: fc.constant("Consecutive" as const),
  threshold: fc.integer({ min: 1, max: 4 })
})

const countWindow = fc.integer({ min: 1, max: 8 }).chain((size) =>
  fc.record({
    _tag: fc.constant("CountWindow" as const),
    size: fc.constant(size),
    minimumCalls: fc.integer({ min: 1, max: size }),
    failureRateThreshold: rate
  })
)

const timeWindow = fc.record({
  _tag: fc.constant("TimeWindow" as const),
  bucketMillis: fc.constantFrom(50, 100, 250),
  buckets: fc.integer({ min: 1, max: 6 }),
  minimumCalls: fc.integer({ min: 1, max: 6 }),
  failureRateThreshold: rate
})

const config = (trip: fc.Arbitrary<Trip>): fc.Arbitrary<Config> =>
  fc.record({
    trip,
    halfOpenPermits: fc.integer({ min: 1, max: 3 }),
    slowCallRateThreshold: rate,
    openMillis: fc.constantFrom(100, 300, 1_000),
    exponential: fc.boolean()
  })

const command: fc.Arbitrary<Command> = fc.oneof(
  { weight: 6, arbitrary: fc.record({ _tag: fc.constant("Call" as const), fails: fc.boolean(), slow: fc.boolean() }) },
  {
    weight: 2,
    arbitrary: fc.record({
      _tag: fc.constant("Advance" as const),
      // Mostly steps shorter than a bucket or an open duration, sometimes long jumps.
      millis: fc.oneof({ weight: 3, arbitrary: fc.integer({ min: 1, max: 300 }) }, fc.integer({ min: 1, max: 1_500 }))
    })
  }
)

const commands = fc.array(command, { minLength: 1, maxLength: 60 })

/** Runs one call on the real breaker and reports whether its effect ran. */
const realCall = (breaker: CircuitBreaker.CircuitBreaker, fails: boolean, slow: boolean) =>
  Effect.gen(function*() {
    let ran = false
    const body = Effect.suspend(() => {
      ran = true
      const result = fails ? Effect.fail("boom") : Effect.succeed(1)
      return slow ? Effect.zipRight(Effect.sleep(Duration.millis(SLOW_MILLIS + 1)), result) : result
    })
    if (!slow) {
      yield* Effect.either(CircuitBreaker.protect(body, breaker))
      return ran
    }
    const fiber = yield* Effect.fork(Effect.either(CircuitBreaker.protect(body, breaker)))
    for (let turn = 0; turn < 100 && !ran && fiber.unsafePoll() === null; turn++) yield* Effect.yieldNow()
    yield* TestClock.adjust(Duration.millis(SLOW_MILLIS + 1))
    const result = yield* Fiber.join(fiber)
    expect(Either.isLeft(result) && result.left instanceof CircuitBreakerOpen).toBe(!ran)
    return ran
  })

const check = (config: Config, steps: ReadonlyArray<Command>) =>
  Effect.gen(function*() {
    const breaker = yield* CircuitBreaker.make(toOptions(config))
    const model = new Model(config)
    for (const [index, step] of steps.entries()) {
      if (step._tag === "Advance") {
        yield* TestClock.adjust(Duration.millis(step.millis))
        model.now += step.millis
      } else {
        const admitted = yield* realCall(breaker, step.fails, step.slow)
        expect(admitted, `step ${index}: admitted`).toBe(model.call(step.fails, step.slow))
      }
      expect(yield* breaker.state, `step ${index}: state`).toBe(model.observe())
    }
  })

describe("CircuitBreaker model", () => {
  it.effect.prop(
    "a consecutive-failures breaker behaves like the model",
    [config(consecutive), commands],
    ([config, steps]) => check(config, steps),
    { fastCheck: { numRuns: 100 } }
  )

  it.effect.prop(
    "a count-window breaker behaves like the model",
    [config(countWindow), commands],
    ([config, steps]) => check(config, steps),
    { fastCheck: { numRuns: 100 } }
  )

  it.effect.prop(
    "a time-window breaker behaves like the model",
    [config(timeWindow), commands],
    ([config, steps]) => check(config, steps),
    { fastCheck: { numRuns: 100 } }
  )
})
