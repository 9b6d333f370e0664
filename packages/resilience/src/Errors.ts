/**
 * The typed errors every resilience policy can raise. They are `Schema.TaggedError`s: each has a
 * stable `_tag`, carries the data a caller needs to act (which instance, when to retry), and can
 * be encoded to JSON and decoded back with its schema.
 *
 * @since 0.1.0
 */
import { Duration, Predicate, Schema } from "effect"

/**
 * Raised when a circuit breaker rejects a call without running it.
 *
 * @since 0.1.0
 * @category errors
 */
export class CircuitBreakerOpen extends Schema.TaggedError<CircuitBreakerOpen>("@rampart/resilience/CircuitBreakerOpen")(
  "CircuitBreakerOpen",
  {
    /** The breaker's name. */
    breaker: Schema.String,
    /** The state that rejected the call. */
    state: Schema.Literal("Open", "HalfOpen", "ForcedOpen"),
    /** How long until the breaker may admit a probe (zero when a half-open breaker is only busy). */
    retryAfter: Schema.DurationFromMillis
  }
) {
  override get message(): string {
    return `circuit breaker "${this.breaker}" is ${this.state}; retry after ${Duration.format(this.retryAfter)}`
  }
}

/**
 * Raised when a bulkhead has no free permit and its wait queue is full, or a queued call waited
 * longer than `maxWait`.
 *
 * @since 0.1.0
 * @category errors
 */
export class BulkheadFull extends Schema.TaggedError<BulkheadFull>("@rampart/resilience/BulkheadFull")(
  "BulkheadFull",
  {
    bulkhead: Schema.String,
    reason: Schema.Literal("QueueFull", "MaxWaitExceeded"),
    inFlight: Schema.Number,
    queued: Schema.Number,
    maxConcurrent: Schema.Number,
    maxQueued: Schema.Number
  }
) {
  override get message(): string {
    return this.reason === "QueueFull"
      ? `bulkhead "${this.bulkhead}" is full: ${this.inFlight}/${this.maxConcurrent} in flight, ${this.queued}/${this.maxQueued} queued`
      : `bulkhead "${this.bulkhead}": waited too long for a permit (${this.inFlight}/${this.maxConcurrent} in flight)`
  }
}

/**
 * Raised by an adaptive concurrency limiter when the current limit is reached.
 *
 * @since 0.1.0
 * @category errors
 */
export class ConcurrencyLimited extends Schema.TaggedError<ConcurrencyLimited>("@rampart/resilience/ConcurrencyLimited")(
  "ConcurrencyLimited",
  {
    limiter: Schema.String,
    limit: Schema.Number,
    inFlight: Schema.Number
  }
) {
  override get message(): string {
    return `adaptive limiter "${this.limiter}" is at its limit of ${this.limit} (${this.inFlight} in flight)`
  }
}

/**
 * Raised when a rate limiter refuses a call; `retryAfter` says when enough permits will be free.
 *
 * @since 0.1.0
 * @category errors
 */
export class RateLimited extends Schema.TaggedError<RateLimited>("@rampart/resilience/RateLimited")(
  "RateLimited",
  {
    limiter: Schema.String,
    key: Schema.optional(Schema.String),
    cost: Schema.Number,
    retryAfter: Schema.DurationFromMillis
  }
) {
  override get message(): string {
    const key = this.key === undefined ? "" : ` for key "${this.key}"`
    return `rate limiter "${this.limiter}" refused a call of cost ${this.cost}${key}; retry after ${
      Duration.format(this.retryAfter)
    }`
  }
}

/**
 * Raised when a call runs longer than its time budget; the call was interrupted.
 *
 * @since 0.1.0
 * @category errors
 */
export class TimeoutExceeded extends Schema.TaggedError<TimeoutExceeded>("@rampart/resilience/TimeoutExceeded")(
  "TimeoutExceeded",
  {
    timeout: Schema.String,
    /** The budget the call had: the configured timeout, or less when an enclosing deadline was nearer. */
    after: Schema.DurationFromMillis
  }
) {
  override get message(): string {
    return `timeout "${this.timeout}" exceeded after ${Duration.format(this.after)}`
  }
}

/**
 * Raised when a work queue sheds a task instead of running it.
 *
 * @since 0.1.0
 * @category errors
 */
export class LoadShed extends Schema.TaggedError<LoadShed>("@rampart/resilience/LoadShed")(
  "LoadShed",
  {
    queue: Schema.String,
    /** `QueueFull`: rejected on arrival; `Dropped`: evicted by a newer task; `SojournTime`: waited past the CoDel target. */
    reason: Schema.Literal("QueueFull", "Dropped", "SojournTime"),
    queued: Schema.Number
  }
) {
  override get message(): string {
    return `work queue "${this.queue}" shed a task (${this.reason}, ${this.queued} queued)`
  }
}

/**
 * Raised by a constructor or `update` when its options do not decode; `message` names each
 * offending field. Shared by every Rampart package.
 *
 * @since 0.1.0
 * @category errors
 */
export { InvalidOptions } from "@rampart/core/Options"

/**
 * An error that says when trying again may succeed. `Retry` waits at least this long before the
 * next attempt.
 *
 * @since 0.1.0
 * @category models
 */
export interface HasRetryAfter {
  readonly retryAfter: Duration.Duration
}

/**
 * @since 0.1.0
 * @category guards
 */
export const hasRetryAfter = (u: unknown): u is HasRetryAfter =>
  Predicate.hasProperty(u, "retryAfter") && Duration.isDuration(u.retryAfter)
