/**
 * An adaptive concurrency limiter: a bulkhead whose limit follows what the protected service can
 * take. The limit grows while calls complete quickly and shrinks when latency builds up or calls
 * are dropped (time out, are shed, or are rejected downstream), after the algorithms of Netflix's
 * concurrency-limits: `AIMD` (loss based) and `Gradient2` (latency based). Calls over the limit
 * are rejected with `ConcurrencyLimited`, or wait in an optional small queue.
 *
 * It shares the `Bulkhead`'s permit machinery: a free permit is taken synchronously, and permits
 * come back however a call ends.
 *
 * @since 0.1.0
 */
import type { Effect, Stream } from "effect"
import type { ConcurrencyLimited, InvalidOptions } from "./Errors.js"
import * as internal from "./internal/adaptiveConcurrency.js"
import type * as Policy from "./Policy.js"

/**
 * @since 0.1.0
 * @category symbols
 */
export const TypeId: unique symbol = internal.TypeId

/**
 * @since 0.1.0
 * @category symbols
 */
export type TypeId = typeof TypeId

/**
 * Loss-based limit (additive increase, multiplicative decrease). Fields and defaults:
 * `initialLimit` 20, `minLimit` 1, `maxLimit` 200; `backoffRatio` 0.9 (in [0.5, 1): the limit is
 * multiplied by it on a drop); `timeout` 5 seconds (a call slower than this counts as a drop).
 * A good call adds one to the limit when at least half the limit was in use.
 *
 * @since 0.1.0
 * @category options
 */
export const AIMD: typeof internal.AIMD = internal.AIMD

/**
 * Latency-based limit. Fields and defaults: `initialLimit` 20, `minLimit` 1, `maxLimit` 200;
 * `smoothing` 0.2 (in (0, 1]: how far each sample moves the limit toward its target);
 * `rttTolerance` 1.5 (>= 1: how much slower than the long-term average a call may be before the
 * limit shrinks); `longWindow` 600 (samples in the long-term RTT average); `queueSize` 4 (how far
 * the limit may grow past the current one per step while latency holds).
 *
 * @since 0.1.0
 * @category options
 */
export const Gradient2: typeof internal.Gradient2Schema = internal.Gradient2Schema

/**
 * The limit algorithm: `{ _tag: "AIMD", ... }` or `{ _tag: "Gradient2", ... }`.
 *
 * @since 0.1.0
 * @category options
 */
export const Algorithm: typeof internal.Algorithm = internal.Algorithm

/**
 * The options of an adaptive concurrency limiter, as a `Schema`:
 *
 * - `name`: labels metrics, events and errors.
 * - `algorithm`: `AIMD` or `Gradient2` with their fields (default: `Gradient2` with its defaults).
 * - `maxQueued`: calls that may wait for a permit when the limit is reached (default `0`).
 * - `maxWait`: how long a queued call may wait (default: no bound).
 * - `isDrop`: which typed failures count as drops (default `isOverloadError`). Interruptions and
 *   defects are never samples; other failures are ordinary latency samples.
 *
 * @since 0.1.0
 * @category options
 */
export const AdaptiveConcurrencyOptions: typeof internal.AdaptiveConcurrencyOptions =
  internal.AdaptiveConcurrencyOptions

/**
 * The decoded options.
 *
 * @since 0.1.0
 * @category options
 */
export type AdaptiveConcurrencyOptions = typeof AdaptiveConcurrencyOptions.Type

/**
 * What `make` accepts.
 *
 * @since 0.1.0
 * @category options
 */
export type AdaptiveConcurrencyOptionsInput = typeof AdaptiveConcurrencyOptions.Encoded

/**
 * What `update` accepts: any options but the name. An `algorithm` of the same kind is merged
 * field by field onto the current one; an algorithm of the other kind replaces it (omitted fields
 * take their defaults) and starts from the current limit.
 *
 * @since 0.1.0
 * @category options
 */
export type AdaptiveConcurrencyUpdate = Partial<Omit<AdaptiveConcurrencyOptionsInput, "name" | "algorithm">> & {
  readonly algorithm?:
    | Partial<typeof AIMD.Encoded> & { readonly _tag: "AIMD" }
    | Partial<typeof Gradient2.Encoded> & { readonly _tag: "Gradient2" }
}

/**
 * The default drop predicate: the typed failures that signal overload, by tag
 * (`TimeoutExceeded`, `BulkheadFull`, `ConcurrencyLimited`, `RateLimited`, `LoadShed`,
 * `CircuitBreakerOpen`).
 *
 * @since 0.1.0
 * @category guards
 * @example
 * import { AdaptiveConcurrency } from "@rampart/resilience"
 *
 * const isDrop = (error: unknown) =>
 *   AdaptiveConcurrency.isOverloadError(error) || (error instanceof HttpError && error.status === 503)
 */
export const isOverloadError: (error: unknown) => boolean = internal.isOverloadError

/**
 * The limit moved.
 *
 * @since 0.1.0
 * @category events
 */
export interface LimitChangedEvent {
  readonly _tag: "LimitChanged"
  readonly name: string
  /** Milliseconds since the epoch, from the limiter's clock. */
  readonly timestamp: number
  readonly previous: number
  readonly limit: number
}

/**
 * A call was refused: the limit was reached (and the queue, if any, was full), or it waited
 * longer than `maxWait`.
 *
 * @since 0.1.0
 * @category events
 */
export interface RejectedEvent {
  readonly _tag: "Rejected"
  readonly name: string
  readonly timestamp: number
  readonly reason: "LimitReached" | "MaxWaitExceeded"
  readonly limit: number
  readonly inFlight: number
  readonly queued: number
}

/**
 * @since 0.1.0
 * @category events
 */
export type AdaptiveConcurrencyEvent = LimitChangedEvent | RejectedEvent

/**
 * A concurrency limiter whose limit adapts to latency and drops.
 *
 * @since 0.1.0
 * @category models
 */
export interface AdaptiveConcurrency extends Policy.Policy<ConcurrencyLimited> {
  readonly [TypeId]: TypeId
  /** The limit in force now. */
  readonly limit: Effect.Effect<number>
  /** Calls holding a permit now. */
  readonly inFlight: Effect.Effect<number>
  /** Calls waiting for a permit now. */
  readonly queued: Effect.Effect<number>
  /** The options in force (after any `update`). */
  readonly config: Effect.Effect<AdaptiveConcurrencyOptions>
  /** Limit changes and rejections. */
  readonly events: Stream.Stream<AdaptiveConcurrencyEvent>
  /** The limit in force now, read synchronously. */
  readonly unsafeLimit: () => number
  /** Calls holding a permit now, read synchronously. */
  readonly unsafeInFlight: () => number
  /** Calls waiting for a permit now, read synchronously. */
  readonly unsafeQueued: () => number
}

/**
 * Makes an adaptive concurrency limiter. Fails with `InvalidOptions` naming the field when an
 * option is out of range.
 *
 * @since 0.1.0
 * @category constructors
 * @example
 * import { Effect } from "effect"
 * import { AdaptiveConcurrency } from "@rampart/resilience"
 *
 * const program = Effect.gen(function*() {
 *   const limiter = yield* AdaptiveConcurrency.make({
 *     name: "inventory",
 *     algorithm: { _tag: "AIMD", initialLimit: 10, maxLimit: 100, timeout: "2 seconds" }
 *   })
 *   return yield* fetchStock("sku-1").pipe(AdaptiveConcurrency.protect(limiter))
 * })
 */
export const make: (
  options: AdaptiveConcurrencyOptionsInput
) => Effect.Effect<AdaptiveConcurrency, InvalidOptions> = internal.make

/**
 * Runs an effect under the limiter: at once when the limit allows, after waiting when the queue
 * has room, otherwise fails with `ConcurrencyLimited`. When the effect ends its latency (and
 * whether it was a drop) moves the limit.
 *
 * @since 0.1.0
 * @category combinators
 * @example
 * import { AdaptiveConcurrency } from "@rampart/resilience"
 *
 * const guarded = AdaptiveConcurrency.protect(fetchStock("sku-1"), limiter)
 */
export const protect: {
  (limiter: AdaptiveConcurrency): <A, E, R>(self: Effect.Effect<A, E, R>) => Effect.Effect<A, E | ConcurrencyLimited, R>
  <A, E, R>(self: Effect.Effect<A, E, R>, limiter: AdaptiveConcurrency): Effect.Effect<A, E | ConcurrencyLimited, R>
} = internal.protect

/**
 * Changes the options of a live limiter. The current limit is kept (clamped into new bounds);
 * a same-kind algorithm keeps its latency history.
 *
 * @since 0.1.0
 * @category combinators
 * @example
 * import { AdaptiveConcurrency } from "@rampart/resilience"
 *
 * const cap = AdaptiveConcurrency.update(limiter, { algorithm: { _tag: "Gradient2", maxLimit: 50 } })
 */
export const update: (
  limiter: AdaptiveConcurrency,
  changes: AdaptiveConcurrencyUpdate
) => Effect.Effect<void, InvalidOptions> = internal.update

/**
 * @since 0.1.0
 * @category guards
 */
export const isAdaptiveConcurrency: (u: unknown) => u is AdaptiveConcurrency = internal.isAdaptiveConcurrency
