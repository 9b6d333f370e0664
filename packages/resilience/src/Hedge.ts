/**
 * Hedged requests ("The Tail at Scale", Dean & Barroso, 2013): when a call has not finished after
 * `delay`, start another copy of it, up to `maxAttempts` copies in all; the first copy to succeed
 * wins and the others are interrupted. It cuts tail latency at the price of some extra load, which
 * an optional budget bounds.
 *
 * Hedging is for slowness, not errors: a failed attempt does not start a hedge early, and when
 * every started attempt has failed the call fails with the error of the attempt that failed last.
 * Put a `Retry` around the `Hedge` to retry errors. Only hedge idempotent calls.
 *
 * @since 0.1.0
 */
import type { Duration, Effect, Stream } from "effect"
import type { InvalidOptions } from "./Errors.js"
import type * as Policy from "./Policy.js"
import * as internal from "./internal/hedge.js"

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
 * A hedging policy. It adds no error of its own.
 *
 * @since 0.1.0
 * @category models
 */
export interface Hedge extends Policy.Policy<never, never> {
  readonly [TypeId]: TypeId
  /** The current (decoded) options. */
  readonly options: HedgeOptions
  /** `Hedging` when an extra attempt starts, `Won` when a hedged call completes, `BudgetExhausted`. */
  readonly events: Stream.Stream<HedgeEvent>
}

/**
 * The options of a hedging policy.
 *
 * - `delay` (required): how long an attempt may run before the next one starts.
 * - `maxAttempts` (default 2, at most 10): attempts in total, the first included.
 * - `budget` (optional): a shared `RetryBudget`, or `{ ratio, minRetriesPerSecond, ttl }` for a
 *   private one. Every call deposits, every hedge withdraws; without a token no hedge starts.
 *
 * @since 0.1.0
 * @category options
 */
export const HedgeOptions = internal.HedgeOptions

/**
 * @since 0.1.0
 * @category options
 */
export type HedgeOptions = typeof HedgeOptions.Type

/**
 * What `make` accepts: durations as `Duration`, milliseconds or strings such as `"50 millis"`.
 *
 * @since 0.1.0
 * @category options
 */
export type HedgeOptionsInput = typeof HedgeOptions.Encoded

/**
 * The fields `update` can change live.
 *
 * @since 0.1.0
 * @category options
 */
export type HedgeUpdate = Partial<Pick<HedgeOptionsInput, "delay" | "maxAttempts">>

/**
 * `Hedging`: attempt number `attempt` (2 or more) starts. `Won`: a call in which `started`
 * attempts ran was won by attempt `attempt`. `BudgetExhausted`: the budget refused hedge `attempt`.
 *
 * @since 0.1.0
 * @category events
 */
export type HedgeEvent =
  | { readonly _tag: "Hedging"; readonly name: string; readonly timestamp: number; readonly attempt: number }
  | {
    readonly _tag: "Won"
    readonly name: string
    readonly timestamp: number
    readonly attempt: number
    readonly started: number
  }
  | { readonly _tag: "BudgetExhausted"; readonly name: string; readonly timestamp: number; readonly attempt: number }

/**
 * @since 0.1.0
 * @category guards
 */
export const isHedge: (u: unknown) => u is Hedge = internal.isHedge

/**
 * Makes a hedging policy. The clock is captured here, so `TestClock` drives the hedge delay.
 *
 * @since 0.1.0
 * @category constructors
 * @example
 * import { Effect } from "effect"
 * import { Hedge } from "@rampart/resilience"
 *
 * const program = Effect.gen(function*() {
 *   const hedge = yield* Hedge.make({ name: "search", delay: "50 millis", maxAttempts: 3, budget: { ratio: 0.1 } })
 *   return yield* searchReplica.pipe(Hedge.protect(hedge))
 * })
 */
export const make: (options: HedgeOptionsInput) => Effect.Effect<Hedge, InvalidOptions> = internal.make

/**
 * Runs an effect under a hedging policy. Each attempt runs in its own fiber with the caller's
 * context; interrupting the caller interrupts every attempt.
 *
 * @since 0.1.0
 * @category combinators
 */
export const protect: {
  (hedge: Hedge): <A, E, R>(self: Effect.Effect<A, E, R>) => Effect.Effect<A, E, R>
  <A, E, R>(self: Effect.Effect<A, E, R>, hedge: Hedge): Effect.Effect<A, E, R>
} = internal.protect

/**
 * Changes `delay` and/or `maxAttempts` live; calls in flight keep the attempts they started and
 * use the new values for the hedges still to come.
 *
 * @since 0.1.0
 * @category combinators
 */
export const update: (hedge: Hedge, patch: HedgeUpdate) => Effect.Effect<void, InvalidOptions> = internal.update

/**
 * The delay after which a hedge starts.
 *
 * @since 0.1.0
 * @category getters
 */
export const delay = (hedge: Hedge): Duration.Duration => hedge.options.delay
