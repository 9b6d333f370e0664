/**
 * A retry budget caps how many retries a client may make, as a fraction of its calls, so retries
 * cannot multiply the load on a downstream that is already failing.
 *
 * It follows Finagle's `RetryBudget` (and Envoy's retry budget): every call deposits a token worth
 * `ratio` retries, every retry withdraws one, a reserve of `minRetriesPerSecond * ttl` lets
 * low-traffic clients retry at all, and deposits and withdrawals expire after `ttl`. One budget can
 * be shared by many `Retry` (and `Hedge`) policies through their `budget` option.
 *
 * @since 0.1.0
 */
import type { Effect, Schema, Stream } from "effect"
import type { InvalidOptions } from "./Errors.js"
import type * as Policy from "./Policy.js"
import * as internal from "./internal/retryBudget.js"

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
 * A sliding-window token budget for retries. As a `Policy` it only records each run of the effect
 * as a call (a deposit); `Retry` and `Hedge` deposit and withdraw on their own when given the
 * budget in their options.
 *
 * @since 0.1.0
 * @category models
 */
export interface RetryBudget extends Policy.Policy<never, never> {
  readonly [TypeId]: TypeId
  /** The retries that may be made now (may be fractional; a retry needs at least 1). */
  readonly balance: Effect.Effect<number>
  /** The events of this budget: it ran dry, or recovered. */
  readonly events: Stream.Stream<RetryBudgetEvent>
  /** The current options. */
  readonly options: RetryBudgetOptions
  /** Records one call: a synchronous O(1) counter update. */
  unsafeDeposit(): void
  /** Takes one retry from the budget if there is one; `false` means the retry must not happen. */
  unsafeTryWithdraw(): boolean
  /** The synchronous form of `balance`. */
  unsafeBalance(): number
}

/**
 * The options of a retry budget. `ratio`: retries allowed per call (0.2 = one retry per five
 * calls); `minRetriesPerSecond`: a floor of retries per second whatever the traffic; `ttl`: how
 * long deposits and withdrawals count.
 *
 * @since 0.1.0
 * @category options
 */
export const RetryBudgetOptions = internal.RetryBudgetOptions

/**
 * @since 0.1.0
 * @category options
 */
export type RetryBudgetOptions = typeof RetryBudgetOptions.Type

/**
 * What `make` accepts: durations as `Duration`, milliseconds or strings such as `"10 seconds"`.
 *
 * @since 0.1.0
 * @category options
 */
export type RetryBudgetOptionsInput = typeof RetryBudgetOptions.Encoded

/**
 * The fields `update` can change live (`ttl` fixes the window's slices and cannot).
 *
 * @since 0.1.0
 * @category options
 */
export interface RetryBudgetUpdate {
  readonly ratio?: number
  readonly minRetriesPerSecond?: number
}

/**
 * The inline form of a budget in `Retry`/`Hedge` options: `{ ratio?, minRetriesPerSecond?, ttl? }`
 * without a name. Such a budget is private to that policy.
 *
 * @since 0.1.0
 * @category options
 */
export const RetryBudgetSpec: Schema.Struct<typeof internal.budgetFields> = internal.RetryBudgetSpec

/**
 * Published when the budget first refuses a retry (`Exhausted`) and when it allows one again
 * after that (`Replenished`).
 *
 * @since 0.1.0
 * @category events
 */
export type RetryBudgetEvent =
  | { readonly _tag: "Exhausted"; readonly name: string; readonly timestamp: number }
  | { readonly _tag: "Replenished"; readonly name: string; readonly timestamp: number }

/**
 * @since 0.1.0
 * @category guards
 */
export const isRetryBudget: (u: unknown) => u is RetryBudget = internal.isRetryBudget

/**
 * Makes a retry budget. The clock is captured here, so `TestClock` drives token expiry.
 *
 * @since 0.1.0
 * @category constructors
 * @example
 * import { Effect } from "effect"
 * import { Retry, RetryBudget } from "@rampart/resilience"
 *
 * const program = Effect.gen(function*() {
 *   const budget = yield* RetryBudget.make({ name: "users-api", ratio: 0.2, minRetriesPerSecond: 10, ttl: "10 seconds" })
 *   const retry = yield* Retry.make({ name: "get-user", maxAttempts: 4, budget })
 *   return yield* fetchUser.pipe(Retry.protect(retry))
 * })
 */
export const make: (options: RetryBudgetOptionsInput) => Effect.Effect<RetryBudget, InvalidOptions> = internal.make

/**
 * Records each run of `self` as a call (a deposit) in the budget. Use it on paths whose calls
 * should earn retry tokens without being retried themselves.
 *
 * @since 0.1.0
 * @category combinators
 */
export const protect: {
  (budget: RetryBudget): <A, E, R>(self: Effect.Effect<A, E, R>) => Effect.Effect<A, E, R>
  <A, E, R>(self: Effect.Effect<A, E, R>, budget: RetryBudget): Effect.Effect<A, E, R>
} = internal.protect

/**
 * Changes `ratio` and/or `minRetriesPerSecond` live; the tokens in the window are kept.
 *
 * @since 0.1.0
 * @category combinators
 */
export const update: (budget: RetryBudget, patch: RetryBudgetUpdate) => Effect.Effect<void, InvalidOptions> =
  internal.update

/**
 * The retries that may be made now.
 *
 * @since 0.1.0
 * @category getters
 */
export const balance = (budget: RetryBudget): Effect.Effect<number> => budget.balance
