/**
 * The schemas of a circuit breaker: its options, its states and its snapshot. The public module
 * re-exports them with documentation.
 */
import { Duration, Schedule, Schema } from "effect"
import { Name, NonNegativeInt, PositiveDuration, PositiveInt } from "@rampart/core/Options"

export const State = Schema.Literal("Closed", "Open", "HalfOpen", "ForcedOpen", "Disabled")
export type State = typeof State.Type

/**
 * An optional field that may also be given as `undefined` (so `update` can switch it off), with one
 * clear message instead of one per union member.
 */
const optionalOrUndefined = <A, I>(schema: Schema.Schema<A, I>, message: string) =>
  Schema.optionalWith(
    Schema.UndefinedOr(schema).annotations({ message: () => ({ message, override: true }) }),
    { exact: true }
  )

/** A rate threshold in (0, 1]: a zero threshold would trip on a window without failures. */
const RateThreshold = Schema.Number.pipe(
  Schema.greaterThan(0, { message: (issue) => `Expected a number greater than 0 and at most 1, actual ${issue.actual}` }),
  Schema.lessThanOrEqualTo(1, {
    message: (issue) => `Expected a number greater than 0 and at most 1, actual ${issue.actual}`
  })
)

export const Consecutive = Schema.TaggedStruct("Consecutive", {
  threshold: PositiveInt
})

export const CountWindow = Schema.TaggedStruct("CountWindow", {
  size: Schema.optionalWith(PositiveInt.pipe(Schema.lessThanOrEqualTo(1_000_000)), { default: () => 100, exact: true }),
  /** Defaults to `size`. */
  minimumCalls: optionalOrUndefined(PositiveInt, "Expected a positive integer"),
  failureRateThreshold: Schema.optionalWith(RateThreshold, { default: () => 0.5, exact: true })
}).pipe(
  Schema.filter((window) =>
    window.minimumCalls === undefined || window.minimumCalls <= window.size ||
    { path: ["minimumCalls"], message: `Expected at most size (${window.size}), actual ${window.minimumCalls}` }
  )
)

export const TimeWindow = Schema.TaggedStruct("TimeWindow", {
  duration: Schema.optionalWith(PositiveDuration, { default: () => Duration.seconds(60), exact: true }),
  buckets: Schema.optionalWith(PositiveInt.pipe(Schema.lessThanOrEqualTo(100_000)), { default: () => 60, exact: true }),
  minimumCalls: Schema.optionalWith(PositiveInt, { default: () => 100, exact: true }),
  failureRateThreshold: Schema.optionalWith(RateThreshold, { default: () => 0.5, exact: true })
}).pipe(
  Schema.filter((window) =>
    Duration.isFinite(window.duration) ||
    { path: ["duration"], message: "Expected a finite duration" }
  )
)

export const TripPolicy = Schema.Union(Consecutive, CountWindow, TimeWindow)
export type TripPolicy = typeof TripPolicy.Type

const isFunction = (u: unknown): u is (input: unknown) => boolean => typeof u === "function"

export const FailurePredicate = Schema.declare(isFunction, {
  identifier: "FailurePredicate",
  description: "a function (error) => boolean"
})

export const ResultPredicate = Schema.declare(isFunction, {
  identifier: "ResultPredicate",
  description: "a function (value) => boolean"
})

export const ScheduleSchema = Schema.declare(
  (u: unknown): u is Schedule.Schedule<unknown, unknown> => Schedule.isSchedule(u),
  { identifier: "Schedule", description: "an Effect Schedule" }
)

export const OpenDuration = Schema.Union(
  PositiveDuration.pipe(
    Schema.filter((duration) => Duration.isFinite(duration) || "Expected a finite duration")
  ),
  ScheduleSchema
).annotations({
  message: () => ({
    message: `Expected a finite duration greater than zero (a Duration, milliseconds, or a string like "30 seconds") or a Schedule`,
    override: true
  })
})

export const CircuitBreakerOptions = Schema.Struct({
  name: Name,
  trip: Schema.optionalWith(TripPolicy, {
    default: () => ({ _tag: "CountWindow", size: 100, failureRateThreshold: 0.5 }) as const,
    exact: true
  }),
  openDuration: Schema.optionalWith(OpenDuration, { default: () => Duration.seconds(60), exact: true }),
  halfOpenPermits: Schema.optionalWith(PositiveInt.pipe(Schema.lessThanOrEqualTo(1_000_000)), { default: () => 1, exact: true }),
  /** `undefined` (or absent) turns slow-call detection off; `update` can pass it explicitly. */
  slowCallDuration: optionalOrUndefined(
    PositiveDuration,
    `Expected a duration greater than zero (a Duration, milliseconds, or a string like "2 seconds")`
  ),
  slowCallRateThreshold: Schema.optionalWith(RateThreshold, { default: () => 1, exact: true }),
  isFailure: optionalOrUndefined(FailurePredicate, "Expected a function (error) => boolean"),
  isResultFailure: optionalOrUndefined(ResultPredicate, "Expected a function (value) => boolean")
})
export type CircuitBreakerOptions = typeof CircuitBreakerOptions.Type
export type CircuitBreakerOptionsInput = typeof CircuitBreakerOptions.Encoded

const Outcome = Schema.Literal("success", "failure", "slow_success", "slow_failure")

export const WindowSnapshot = Schema.Union(
  Schema.TaggedStruct("Consecutive", { failures: NonNegativeInt, slowCalls: NonNegativeInt }),
  Schema.TaggedStruct("CountWindow", { outcomes: Schema.Array(Outcome) }),
  Schema.TaggedStruct("TimeWindow", {
    buckets: Schema.Array(Schema.Struct({
      /** Start of the bucket, ms since the epoch. */
      start: Schema.Number,
      calls: NonNegativeInt,
      failures: NonNegativeInt,
      slowCalls: NonNegativeInt
    }))
  })
)
export type WindowSnapshot = typeof WindowSnapshot.Type

export const CircuitBreakerSnapshot = Schema.Struct({
  name: Schema.String,
  state: State,
  /** When an `Open` breaker may admit a probe, ms since the epoch (0 in other states). */
  openUntil: Schema.Number,
  /** Openings since the breaker was last closed; picks the next delay of a `Schedule` open duration. */
  reopenCount: NonNegativeInt,
  window: WindowSnapshot,
  /** When the snapshot was taken, ms since the epoch. */
  takenAt: Schema.Number
})
export type CircuitBreakerSnapshot = typeof CircuitBreakerSnapshot.Type
