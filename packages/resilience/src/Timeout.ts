/**
 * Bounds how long a call may run. A call past its budget is interrupted and fails with
 * `TimeoutExceeded`. Deadlines propagate: a timeout nested inside another never waits longer
 * than what remains of the enclosing one, and `remaining` tells user code how much is left (to
 * pass on to a downstream service, say).
 *
 * @since 0.1.0
 */
import type { Duration, Effect, Option, Schema, Stream } from "effect"
import type { InvalidOptions, TimeoutExceeded } from "./Errors.js"
import * as internal from "./internal/timeout.js"
import type * as Policy from "./Policy.js"

export {
  /**
   * @since 0.1.0
   * @category errors
   */
  TimeoutExceeded
} from "./Errors.js"

/**
 * @since 0.1.0
 * @category symbols
 */
export const TypeId: unique symbol = internal.TypeId as TypeId

/**
 * @since 0.1.0
 * @category symbols
 */
export type TypeId = typeof TypeId

/**
 * Options of a timeout.
 *
 * | option | type | default | meaning |
 * | --- | --- | --- | --- |
 * | `name` | string | required | labels metrics, events and errors |
 * | `duration` | Duration, millis or `"5 seconds"` | required | the time budget of one call |
 *
 * @since 0.1.0
 * @category options
 */
export const TimeoutOptions: typeof internal.TimeoutOptions = internal.TimeoutOptions

/**
 * What `make` accepts: the encoded side of `TimeoutOptions`.
 *
 * @since 0.1.0
 * @category options
 */
export type TimeoutOptionsInput = Schema.Schema.Encoded<typeof internal.TimeoutOptions>

/**
 * @since 0.1.0
 * @category events
 */
export interface TimedOut {
  readonly _tag: "TimedOut"
  readonly name: string
  /** The budget the call had, in milliseconds. */
  readonly after: number
  readonly at: number
}

/**
 * @since 0.1.0
 * @category events
 */
export type TimeoutEvent = TimedOut

/**
 * @since 0.1.0
 * @category models
 */
export interface Timeout extends Policy.Policy<TimeoutExceeded> {
  readonly [TypeId]: TypeId
  /** The configured time budget. */
  readonly duration: Duration.Duration
  /** Every call that ran past its budget. */
  readonly events: Stream.Stream<TimeoutEvent>
  /** Changes the budget of calls that start from now on. */
  readonly update: (options: Partial<TimeoutOptionsInput>) => Effect.Effect<void, InvalidOptions>
}

/**
 * Makes a timeout. Time and timers come from the `Clock` in context when it is made, so
 * `TestClock` drives it in tests.
 *
 * @since 0.1.0
 * @category constructors
 * @example
 * import { Effect } from "effect"
 * import { Timeout } from "@rampart/resilience"
 *
 * const program = Effect.gen(function*() {
 *   const timeout = yield* Timeout.make({ name: "inventory", duration: "2 seconds" })
 *   return yield* fetchInventory.pipe(Timeout.protect(timeout))
 * })
 */
export const make: (options: TimeoutOptionsInput) => Effect.Effect<Timeout, InvalidOptions> = internal.make

/**
 * Runs an effect under a timeout: if it has not finished within the budget (or within what
 * remains of an enclosing timeout, whichever is nearer) it is interrupted, and the result is
 * `TimeoutExceeded`. The caller waits for the interrupted work's finalizers to finish.
 *
 * @since 0.1.0
 * @category combinators
 */
export const protect: {
  (timeout: Timeout): <A, E, R>(self: Effect.Effect<A, E, R>) => Effect.Effect<A, E | TimeoutExceeded, R>
  <A, E, R>(self: Effect.Effect<A, E, R>, timeout: Timeout): Effect.Effect<A, E | TimeoutExceeded, R>
} = internal.protect

/**
 * Changes the budget of a live timeout.
 *
 * @since 0.1.0
 * @category combinators
 */
export const update = (timeout: Timeout, options: Partial<TimeoutOptionsInput>): Effect.Effect<void, InvalidOptions> =>
  timeout.update(options)

/**
 * The time left before the innermost enclosing timeout expires, or `None` outside any timeout.
 *
 * @since 0.1.0
 * @category getters
 */
export const remaining: Effect.Effect<Option.Option<Duration.Duration>> = internal.remaining

/**
 * @since 0.1.0
 * @category guards
 */
export const isTimeout = (u: unknown): u is Timeout => typeof u === "object" && u !== null && TypeId in u
