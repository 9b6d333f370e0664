import { Cause, Duration, Effect, Either, Exit, Predicate, Schema, type Stream } from "effect"
import { dual } from "effect/Function"
import type * as AdaptiveConcurrency from "../AdaptiveConcurrency.js"
import { ConcurrencyLimited, type InvalidOptions } from "../Errors.js"
import * as Policy from "../Policy.js"
import { Aimd, Gradient2, type LimitAlgorithm } from "./adaptiveLimit.js"
import { makeEventHub } from "@rampart/core/EventHub"
import { makeInstanceMetrics } from "@rampart/core/InstanceMetrics"
import {
  decodeOptions,
  decodeOptionsEither,
  Name,
  NonNegativeInt,
  PositiveDuration,
  PositiveInt,
  PositiveNumber
} from "@rampart/core/Options"
import { type Permit, PermitPool, type RejectReason } from "./permits.js"
import { makeTimers, type Timers } from "@rampart/core/Timers"

export const TypeId: AdaptiveConcurrency.TypeId = Symbol.for(
  "@rampart/resilience/AdaptiveConcurrency"
) as AdaptiveConcurrency.TypeId

const defaultBounds = { minLimit: 1, maxLimit: 200 }

const limitFields = {
  initialLimit: Schema.optionalWith(PositiveInt, { exact: true, default: () => 20 }),
  minLimit: Schema.optionalWith(PositiveInt, { exact: true, default: () => 1 }),
  maxLimit: Schema.optionalWith(PositiveInt, { exact: true, default: () => 200 })
}

const checkBounds = (limits: { readonly initialLimit: number; readonly minLimit: number; readonly maxLimit: number }) =>
  limits.minLimit > limits.maxLimit
    ? { path: ["maxLimit"], message: `Expected maxLimit >= minLimit (${limits.minLimit}), actual ${limits.maxLimit}` }
    : limits.initialLimit < limits.minLimit || limits.initialLimit > limits.maxLimit
    ? {
      path: ["initialLimit"],
      message: `Expected initialLimit between minLimit (${limits.minLimit}) and maxLimit (${limits.maxLimit}), actual ${limits.initialLimit}`
    }
    : true

export const AIMD = Schema.TaggedStruct("AIMD", {
  ...limitFields,
  backoffRatio: Schema.optionalWith(
    Schema.Number.pipe(Schema.greaterThanOrEqualTo(0.5), Schema.lessThan(1)),
    { exact: true, default: () => 0.9 }
  ),
  timeout: Schema.optionalWith(PositiveDuration, { exact: true, default: () => Duration.seconds(5) })
}).pipe(Schema.filter(checkBounds))

export const Gradient2Schema = Schema.TaggedStruct("Gradient2", {
  ...limitFields,
  smoothing: Schema.optionalWith(
    Schema.Number.pipe(Schema.greaterThan(0), Schema.lessThanOrEqualTo(1)),
    { exact: true, default: () => 0.2 }
  ),
  rttTolerance: Schema.optionalWith(
    PositiveNumber.pipe(Schema.greaterThanOrEqualTo(1)),
    { exact: true, default: () => 1.5 }
  ),
  longWindow: Schema.optionalWith(PositiveInt, { exact: true, default: () => 600 }),
  queueSize: Schema.optionalWith(NonNegativeInt, { exact: true, default: () => 4 })
}).pipe(Schema.filter(checkBounds))

export const Algorithm = Schema.Union(AIMD, Gradient2Schema)

const defaultAlgorithm = Schema.decodeSync(Gradient2Schema)({ _tag: "Gradient2" })

const DropPredicate = Schema.declare(
  (u: unknown): u is (error: unknown) => boolean => typeof u === "function",
  { identifier: "DropPredicate", description: "a function (error: unknown) => boolean" }
)

export const AdaptiveConcurrencyOptions = Schema.Struct({
  name: Name,
  algorithm: Schema.optionalWith(Algorithm, { exact: true, default: () => defaultAlgorithm }),
  maxQueued: Schema.optionalWith(NonNegativeInt, { exact: true, default: () => 0 }),
  maxWait: Schema.optionalWith(PositiveDuration, { exact: true, default: () => Duration.infinity }),
  isDrop: Schema.optionalWith(DropPredicate, { exact: true })
})

type Options = typeof AdaptiveConcurrencyOptions.Type
type Input = typeof AdaptiveConcurrencyOptions.Encoded
type AlgorithmOptions = typeof Algorithm.Type

const decode = decodeOptions("AdaptiveConcurrency", AdaptiveConcurrencyOptions)
const decodeEither = decodeOptionsEither("AdaptiveConcurrency", AdaptiveConcurrencyOptions)

const overloadTags: ReadonlySet<string> = new Set([
  "TimeoutExceeded",
  "BulkheadFull",
  "ConcurrencyLimited",
  "RateLimited",
  "LoadShed",
  "CircuitBreakerOpen"
])

export const isOverloadError = (error: unknown): boolean =>
  Predicate.hasProperty(error, "_tag") && typeof error._tag === "string" && overloadTags.has(error._tag)

const aimdConfig = (options: typeof AIMD.Type) => ({
  minLimit: options.minLimit,
  maxLimit: options.maxLimit,
  backoffRatio: options.backoffRatio,
  timeoutMillis: Duration.toMillis(options.timeout)
})

const gradient2Config = (options: typeof Gradient2Schema.Type) => ({
  minLimit: options.minLimit,
  maxLimit: options.maxLimit,
  smoothing: options.smoothing,
  rttTolerance: options.rttTolerance,
  longWindow: options.longWindow,
  queueSize: options.queueSize
})

/** Builds the algorithm for `options`, starting from `initial`. */
const makeAlgorithm = (options: AlgorithmOptions, initial: number): LimitAlgorithm =>
  options._tag === "AIMD" ? new Aimd(aimdConfig(options), initial) : new Gradient2(gradient2Config(options), initial)

/**
 * Applies new options to a live algorithm: the same kind is reconfigured in place (so Gradient2
 * keeps its RTT history), another kind starts from the current limit. `reset` sets the limit.
 */
const reconfigure = (algorithm: LimitAlgorithm, options: AlgorithmOptions, reset: number | undefined): LimitAlgorithm => {
  let next: LimitAlgorithm
  if (options._tag === "AIMD" && algorithm instanceof Aimd) {
    algorithm.config = aimdConfig(options)
    next = algorithm
  } else if (options._tag === "Gradient2" && algorithm instanceof Gradient2) {
    algorithm.config = gradient2Config(options)
    next = algorithm
  } else {
    next = makeAlgorithm(options, algorithm.estimate)
  }
  next.estimate = Math.min(options.maxLimit, Math.max(options.minLimit, reset ?? next.estimate))
  return next
}

/**
 * Latency needs sub-millisecond resolution, so on the live clock the stopwatch is the monotonic
 * `performance.now()`; on any other clock (`TestClock`) it is that clock's milliseconds, so tests
 * drive latency. Only differences are used, so the two origins never mix.
 */
const makeStopwatch = (timers: Timers): () => number => timers.live ? () => performance.now() : timers.now

const rejectReason = (reason: RejectReason): "LimitReached" | "MaxWaitExceeded" =>
  reason === "QueueFull" ? "LimitReached" : "MaxWaitExceeded"

class AdaptiveConcurrencyImpl implements AdaptiveConcurrency.AdaptiveConcurrency {
  readonly [TypeId]: AdaptiveConcurrency.TypeId = TypeId
  readonly [Policy.PolicyTypeId]: Policy.PolicyTypeId = Policy.PolicyTypeId
  readonly name: string
  readonly events: Stream.Stream<AdaptiveConcurrency.AdaptiveConcurrencyEvent>
  readonly limit: Effect.Effect<number>
  readonly inFlight: Effect.Effect<number>
  readonly queued: Effect.Effect<number>
  readonly config: Effect.Effect<Options>
  readonly apply: <A, E, R>(self: Effect.Effect<A, E, R>) => Effect.Effect<A, E | ConcurrencyLimited, R>
  readonly pool: PermitPool<ConcurrencyLimited>
  readonly publish: (event: AdaptiveConcurrency.AdaptiveConcurrencyEvent) => void
  readonly now: () => number
  private readonly limitGauge: (value: number) => void
  options: Options
  input: Input
  algorithm: LimitAlgorithm
  isDrop: (error: unknown) => boolean

  constructor(
    options: Options,
    input: Input,
    timers: Timers,
    hub: {
      readonly publish: (event: AdaptiveConcurrency.AdaptiveConcurrencyEvent) => void
      readonly stream: Stream.Stream<AdaptiveConcurrency.AdaptiveConcurrencyEvent>
    }
  ) {
    this.name = options.name
    this.options = options
    this.input = input
    this.events = hub.stream
    this.publish = hub.publish
    this.now = timers.now
    this.algorithm = makeAlgorithm(options.algorithm, options.algorithm.initialLimit)
    this.isDrop = options.isDrop ?? isOverloadError
    const metrics = makeInstanceMetrics(options.name)
    this.limitGauge = metrics.gauge("rampart_adaptive_concurrency_limit", "The adaptive concurrency limit")
    const inFlightGauge = metrics.gauge("rampart_adaptive_concurrency_in_flight", "Calls holding an adaptive permit")
    const queuedGauge = metrics.gauge("rampart_adaptive_concurrency_queued", "Calls waiting for an adaptive permit")
    const rejectedLimit = metrics.counter(
      "rampart_adaptive_concurrency_rejected_total",
      "Calls an adaptive concurrency limiter rejected",
      { reason: "LimitReached" }
    )
    const rejectedMaxWait = metrics.counter(
      "rampart_adaptive_concurrency_rejected_total",
      "Calls an adaptive concurrency limiter rejected",
      { reason: "MaxWaitExceeded" }
    )
    const reject = (poolReason: RejectReason): ConcurrencyLimited => {
      const pool = this.pool
      const reason = rejectReason(poolReason)
      ;(reason === "LimitReached" ? rejectedLimit : rejectedMaxWait)(1)
      this.publish({
        _tag: "Rejected",
        name: this.name,
        timestamp: this.now(),
        reason,
        limit: pool.limit,
        inFlight: pool.inFlight,
        queued: pool.queued
      })
      return new ConcurrencyLimited(
        { limiter: this.name, limit: pool.limit, inFlight: pool.inFlight },
        { disableValidation: true }
      )
    }
    const initialLimit = Math.floor(this.algorithm.estimate)
    this.pool = new PermitPool<ConcurrencyLimited>(timers, {
      limit: initialLimit,
      maxQueued: options.maxQueued,
      maxWaitMillis: Duration.toMillis(options.maxWait)
    }, {
      reject,
      onQueued: () => {},
      onInFlight: inFlightGauge,
      onQueuedCount: queuedGauge,
      onAdmitted: () => {}
    })
    this.limitGauge(initialLimit)
    inFlightGauge(0)
    queuedGauge(0)
    this.limit = Effect.sync(() => this.pool.limit)
    this.inFlight = Effect.sync(() => this.pool.inFlight)
    this.queued = Effect.sync(() => this.pool.queued)
    this.config = Effect.sync(() => this.options)

    const pool = this.pool
    const stopwatch = makeStopwatch(timers)
    /** The call's latency and load feed the algorithm before its permit is returned. */
    const measured = <A, E, R>(self: Effect.Effect<A, E, R>, permit: Permit): Effect.Effect<A, E, R> => {
      const start = stopwatch()
      const inFlight = pool.inFlight
      return Effect.matchCauseEffect(self, {
        onSuccess: (value) => {
          this.sample(stopwatch() - start, inFlight, false)
          permit.release()
          return Exit.succeed(value)
        },
        onFailure: (cause) => {
          this.onFailure(cause, stopwatch() - start, inFlight)
          permit.release()
          return Exit.failCause(cause)
        }
      })
    }
    this.apply = <A, E, R>(self: Effect.Effect<A, E, R>): Effect.Effect<A, E | ConcurrencyLimited, R> =>
      Effect.withFiberRuntime((fiber) => {
        const permit = pool.tryAcquire(fiber)
        return permit === undefined
          ? pool.waitThen((restore, permit) => measured(restore(self), permit))
          : measured(self, permit)
      })
  }

  private onFailure(cause: Cause.Cause<unknown>, rtt: number, inFlight: number): void {
    // Interruptions and defects say nothing about the downstream's capacity: no sample.
    const failure = Cause.failureOption(cause)
    if (failure._tag === "Some") {
      this.sample(rtt, inFlight, this.isDrop(failure.value))
    }
  }

  sample(rtt: number, inFlight: number, didDrop: boolean): void {
    this.algorithm.sample(rtt, inFlight, didDrop)
    this.applyLimit()
  }

  /** Moves the enforced limit to the algorithm's estimate (its floor), admitting waiters when it grows. */
  applyLimit(): void {
    const next = Math.floor(this.algorithm.estimate)
    const previous = this.pool.limit
    if (next !== previous) {
      this.pool.setLimit(next)
      this.limitGauge(next)
      this.publish({ _tag: "LimitChanged", name: this.name, timestamp: this.now(), previous, limit: next })
    }
  }

  unsafeLimit(): number {
    return this.pool.limit
  }

  unsafeInFlight(): number {
    return this.pool.inFlight
  }

  unsafeQueued(): number {
    return this.pool.queued
  }
}

export const make = (
  options: AdaptiveConcurrency.AdaptiveConcurrencyOptionsInput
): Effect.Effect<AdaptiveConcurrency.AdaptiveConcurrency, InvalidOptions> =>
  Effect.flatMap(decode(options), (decoded) =>
    Effect.zipWith(
      makeTimers,
      makeEventHub<AdaptiveConcurrency.AdaptiveConcurrencyEvent>(),
      (timers, hub) => new AdaptiveConcurrencyImpl(decoded, options, timers, hub)
    ))

export const isAdaptiveConcurrency = (u: unknown): u is AdaptiveConcurrency.AdaptiveConcurrency =>
  Predicate.hasProperty(u, TypeId)

export const protect: {
  (
    limiter: AdaptiveConcurrency.AdaptiveConcurrency
  ): <A, E, R>(self: Effect.Effect<A, E, R>) => Effect.Effect<A, E | ConcurrencyLimited, R>
  <A, E, R>(
    self: Effect.Effect<A, E, R>,
    limiter: AdaptiveConcurrency.AdaptiveConcurrency
  ): Effect.Effect<A, E | ConcurrencyLimited, R>
} = dual(
  2,
  <A, E, R>(
    self: Effect.Effect<A, E, R>,
    limiter: AdaptiveConcurrency.AdaptiveConcurrency
  ): Effect.Effect<A, E | ConcurrencyLimited, R> => limiter.apply(self)
)

export const update = (
  limiter: AdaptiveConcurrency.AdaptiveConcurrency,
  changes: AdaptiveConcurrency.AdaptiveConcurrencyUpdate
): Effect.Effect<void, InvalidOptions> =>
  Effect.suspend(() => {
    const impl = limiter as AdaptiveConcurrencyImpl
    const current = impl.input.algorithm ?? { _tag: impl.options.algorithm._tag }
    const requested = changes.algorithm
    // Same algorithm: merge the changed fields onto the current ones; another one: replace it.
    // `initialLimit`, when given, resets the limit; otherwise the current limit carries over.
    const merged = requested === undefined
      ? current
      : current._tag === requested._tag
      ? { ...current, ...requested }
      : requested
    const bounds = { ...defaultBounds, ...merged }
    const initialLimit = requested?.initialLimit ??
      Math.min(bounds.maxLimit, Math.max(bounds.minLimit, impl.pool.limit))
    const input = { ...impl.input, ...changes, name: impl.name, algorithm: { ...merged, initialLimit } } as Input
    return Either.match(decodeEither(input), {
      onLeft: Effect.fail,
      onRight: (options) => {
        impl.options = options
        impl.input = input
        impl.isDrop = options.isDrop ?? isOverloadError
        impl.algorithm = reconfigure(
          impl.algorithm,
          options.algorithm,
          changes.algorithm?.initialLimit === undefined ? undefined : options.algorithm.initialLimit
        )
        impl.pool.maxQueued = options.maxQueued
        impl.pool.maxWaitMillis = Duration.toMillis(options.maxWait)
        impl.applyLimit()
        return Effect.void
      }
    })
  })
