/**
 * Retries a failing effect with backoff: exponential (with full, equal, decorrelated or no
 * jitter), constant, or any `Schedule`; bounded by a number of attempts, an elapsed-time budget
 * and optionally a shared `RetryBudget`; honouring the `retryAfter` an error carries.
 *
 * The success path costs one `matchCauseEffect` (plus one `suspend` when a budget or `maxElapsed`
 * is set): no `Schedule` is built and no state is allocated until an attempt fails. Only typed
 * failures are retried; defects and interruptions pass through untouched.
 *
 * @since 0.1.0
 */
import type { Duration, Effect, Schedule, Stream } from "effect"
import type { InvalidOptions } from "./Errors.js"
import type * as Policy from "./Policy.js"
import * as internal from "./internal/retry.js"
import * as backoff from "./internal/retryBackoff.js"

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
 * A retry policy. It adds no error of its own: when it gives up, the last attempt's error surfaces.
 *
 * @since 0.1.0
 * @category models
 */
export interface Retry extends Policy.Policy<never, never> {
  readonly [TypeId]: TypeId
  /** The current (decoded) options. */
  readonly options: RetryOptions
  /** `Retrying` before each retry, `GaveUp` when a retryable error is not retried any more. */
  readonly events: Stream.Stream<RetryEvent>
}

/**
 * Exponential backoff: the n-th retry waits `min(max, base * factor^(n-1))`, then jitter applies
 * (see `Jitter`). Defaults: base 100 ms, factor 2, max 10 s, jitter "full".
 *
 * @since 0.1.0
 * @category options
 */
export const ExponentialBackoff = backoff.ExponentialBackoff

/**
 * A fixed delay between attempts.
 *
 * @since 0.1.0
 * @category options
 */
export const ConstantBackoff = backoff.ConstantBackoff

/**
 * `{ _tag: "Exponential", base?, factor?, max?, jitter? } | { _tag: "Constant", delay }`.
 *
 * @since 0.1.0
 * @category options
 */
export const Backoff = backoff.Backoff

/**
 * @since 0.1.0
 * @category options
 */
export type Backoff = typeof Backoff.Type

/**
 * Jitter kinds from "Exponential Backoff And Jitter" (AWS Architecture Blog): with `d` the
 * capped exponential delay, "none" waits `d`, "full" a uniform `[0, d)`, "equal" `d/2 + [0, d/2)`,
 * "decorrelated" `min(max, uniform[base, 3 * previous))` (starting from `base`; `factor` unused).
 *
 * @since 0.1.0
 * @category options
 */
export const Jitter = backoff.Jitter

/**
 * @since 0.1.0
 * @category options
 */
export type Jitter = typeof Jitter.Type

/**
 * A custom backoff: a `Schedule` fed with each error (as `unknown`), or a function returning a
 * fresh one. The function is called once per failing call, on its first failure.
 *
 * @since 0.1.0
 * @category options
 */
export type ScheduleInput = Schedule.Schedule<unknown, unknown> | (() => Schedule.Schedule<unknown, unknown>)

/**
 * The options of a retry policy. The plain-data fields (`name`, `maxAttempts`, `backoff`,
 * `maxElapsed`, `retryOn` as a list of tags, `budget` as `{ ratio, minRetriesPerSecond, ttl }`)
 * can come from JSON; `retryOn` may also be a predicate, `schedule` a `Schedule`, and `budget` a
 * shared `RetryBudget`.
 *
 * - `maxAttempts` (default 3): attempts in total, the first included.
 * - `backoff` (default exponential 100 ms x2 up to 10 s, full jitter); ignored when `schedule` is set.
 * - `maxElapsed` (default none): no attempt starts later than this after the call started.
 * - `retryOn` (default every typed error): the errors worth retrying.
 *
 * @since 0.1.0
 * @category options
 */
export const RetryOptions = internal.RetryOptions

/**
 * @since 0.1.0
 * @category options
 */
export type RetryOptions = typeof RetryOptions.Type

/**
 * What `make` accepts: durations as `Duration`, milliseconds or strings such as `"2 seconds"`.
 *
 * @since 0.1.0
 * @category options
 */
export type RetryOptionsInput = typeof RetryOptions.Encoded

/**
 * The fields `update` can change live.
 *
 * @since 0.1.0
 * @category options
 */
export type RetryUpdate = Partial<Pick<RetryOptionsInput, "maxAttempts" | "backoff" | "maxElapsed">>

/**
 * `Retrying`: a retry is about to wait `delay` and then make attempt number `attempt`.
 * `GaveUp`: a retryable error surfaced because attempts, elapsed time, the schedule or the budget
 * ran out (`reason`).
 *
 * @since 0.1.0
 * @category events
 */
export type RetryEvent =
  | {
    readonly _tag: "Retrying"
    readonly name: string
    readonly timestamp: number
    readonly attempt: number
    readonly delay: Duration.Duration
    readonly errorTag: string
  }
  | {
    readonly _tag: "GaveUp"
    readonly name: string
    readonly timestamp: number
    readonly attempts: number
    readonly reason: "MaxAttempts" | "MaxElapsed" | "ScheduleDone" | "BudgetExhausted"
    readonly errorTag: string
  }

/**
 * @since 0.1.0
 * @category guards
 */
export const isRetry: (u: unknown) => u is Retry = internal.isRetry

/**
 * Makes a retry policy. The clock and the `Random` service are captured here: `TestClock` drives
 * the delays and a seeded `Random` makes jitter reproducible.
 *
 * @since 0.1.0
 * @category constructors
 * @example
 * import { Effect } from "effect"
 * import { Retry } from "@rampart/resilience"
 *
 * const program = Effect.gen(function*() {
 *   const retry = yield* Retry.make({
 *     name: "users-api",
 *     maxAttempts: 4,
 *     backoff: { _tag: "Exponential", base: "100 millis", factor: 2, max: "2 seconds", jitter: "full" },
 *     maxElapsed: "5 seconds",
 *     retryOn: ["Unavailable", "RateLimited"]
 *   })
 *   return yield* fetchUser.pipe(Retry.protect(retry))
 * })
 */
export const make: (options: RetryOptionsInput) => Effect.Effect<Retry, InvalidOptions> = internal.make

/**
 * Runs an effect under a retry policy.
 *
 * @since 0.1.0
 * @category combinators
 * @example
 * const user = yield* fetchUser.pipe(Retry.protect(retry))
 */
export const protect: {
  (retry: Retry): <A, E, R>(self: Effect.Effect<A, E, R>) => Effect.Effect<A, E, R>
  <A, E, R>(self: Effect.Effect<A, E, R>, retry: Retry): Effect.Effect<A, E, R>
} = internal.protect

/**
 * Changes `maxAttempts`, `backoff` and/or `maxElapsed` live. Calls already retrying use the new
 * values from their next failure on.
 *
 * @since 0.1.0
 * @category combinators
 */
export const update: (retry: Retry, patch: RetryUpdate) => Effect.Effect<void, InvalidOptions> = internal.update
