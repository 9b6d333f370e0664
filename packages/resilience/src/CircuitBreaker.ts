/**
 * A circuit breaker stops calling a failing dependency for a while, so it can recover and callers
 * fail fast instead of queueing behind timeouts. It trips on consecutive failures or on the
 * failure (and slow-call) rate of a count- or time-based sliding window, rejects calls with
 * `CircuitBreakerOpen` while open, then lets a few probe calls through (half-open) to decide
 * whether to close again.
 *
 * The closed-state success path is synchronous bookkeeping on plain fields: one
 * `Effect.suspend` plus one `Effect.matchCauseEffect` per call.
 *
 * @since 0.1.0
 */
import type { Effect, Schema, Stream } from "effect"
import type { CircuitBreakerOpen, InvalidOptions } from "./Errors.js"
import * as internal from "./internal/circuitBreaker.js"
import * as schemas from "./internal/circuitBreakerOptions.js"
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
 * The states of a breaker. `Closed`, `Open` and `HalfOpen` are driven by calls; `ForcedOpen`
 * (reject everything) and `Disabled` (let everything through, record nothing) are set by hand
 * with `forceOpen` and `disable` and left only with `reset`.
 *
 * @since 0.1.0
 * @category models
 */
export const State: Schema.Literal<["Closed", "Open", "HalfOpen", "ForcedOpen", "Disabled"]> = schemas.State

/**
 * @since 0.1.0
 * @category models
 */
export type State = typeof State.Type

/**
 * Trip after `threshold` failures in a row (any success resets the run). With slow-call detection
 * on, `threshold` slow calls in a row trip it too.
 *
 * @since 0.1.0
 * @category options
 */
export const Consecutive = schemas.Consecutive

/**
 * Trip when, over the last `size` calls (default 100), at least `minimumCalls` (default `size`)
 * were recorded and the failure rate reaches `failureRateThreshold` (default 0.5) or the slow-call
 * rate reaches `slowCallRateThreshold`. A ring buffer: O(1) per call. The default policy.
 *
 * @since 0.1.0
 * @category options
 */
export const CountWindow = schemas.CountWindow

/**
 * Trip when, over the last `duration` (default 60 seconds, kept in `buckets` fixed buckets,
 * default 60, so the window slides one bucket at a time), at least `minimumCalls` (default 100)
 * were recorded and the failure rate reaches `failureRateThreshold` (default 0.5) or the slow-call
 * rate reaches `slowCallRateThreshold`.
 *
 * @since 0.1.0
 * @category options
 */
export const TimeWindow = schemas.TimeWindow

/**
 * The rule that trips a breaker: one of `Consecutive`, `CountWindow`, `TimeWindow`, chosen by
 * `_tag`.
 *
 * @since 0.1.0
 * @category options
 */
export const TripPolicy = schemas.TripPolicy

/**
 * @since 0.1.0
 * @category options
 */
export type TripPolicy = typeof TripPolicy.Type

/**
 * A trip policy as `make` and `update` accept it (durations as `Duration`, millis or strings).
 *
 * @since 0.1.0
 * @category options
 */
export type TripPolicyInput = typeof TripPolicy.Encoded

/**
 * The options of a breaker. Every field but `name` has a default; see docs/CircuitBreaker.md for
 * the table.
 *
 * - `trip`: the `TripPolicy` (default `{ _tag: "CountWindow" }`: last 100 calls, 50% failures).
 * - `openDuration`: how long to stay open before probing: a duration, or a `Schedule` whose n-th
 *   delay is used for the n-th consecutive opening (default 60 seconds).
 * - `halfOpenPermits`: probes admitted at once when half-open; all must succeed to close (default 1).
 * - `slowCallDuration`: a call that takes longer is slow (default: no slow-call detection).
 * - `slowCallRateThreshold`: slow-call rate that trips a window policy (default 1).
 * - `isFailure`: which typed errors count as failures (default: all). Other errors count as
 *   successes: the dependency answered.
 * - `isResultFailure`: which success values count as failures (default: none), e.g. an HTTP 503.
 *
 * @since 0.1.0
 * @category options
 */
export const CircuitBreakerOptions = schemas.CircuitBreakerOptions

/**
 * The decoded options (defaults filled in, durations as `Duration`).
 *
 * @since 0.1.0
 * @category options
 */
export type CircuitBreakerOptions = typeof CircuitBreakerOptions.Type

/**
 * What `make` accepts: durations as `Duration`, milliseconds or strings like `"30 seconds"`.
 *
 * @since 0.1.0
 * @category options
 */
export type CircuitBreakerOptionsInput = typeof CircuitBreakerOptions.Encoded

/**
 * What `update` accepts: any options but `name`. A given `trip` replaces the whole trip policy
 * (its omitted fields take their defaults).
 *
 * @since 0.1.0
 * @category options
 */
export type CircuitBreakerUpdate = Partial<Omit<CircuitBreakerOptionsInput, "name">>

/**
 * A breaker's state as a plain, JSON-serialisable object: `snapshot` makes one, `restore` (after
 * validating it with this schema) resumes from it, e.g. in a restarted process.
 *
 * @since 0.1.0
 * @category models
 */
export const CircuitBreakerSnapshot = schemas.CircuitBreakerSnapshot

/**
 * @since 0.1.0
 * @category models
 */
export type CircuitBreakerSnapshot = typeof CircuitBreakerSnapshot.Type

/**
 * Why a breaker changed state.
 *
 * @since 0.1.0
 * @category events
 */
export type TransitionReason =
  | "ConsecutiveFailures"
  | "ConsecutiveSlowCalls"
  | "FailureRate"
  | "SlowCallRate"
  | "ProbeFailed"
  | "ProbeSlow"
  | "ProbesSucceeded"
  | "OpenDurationElapsed"
  | "Manual"
  | "Restored"

/**
 * The breaker moved from one state to another.
 *
 * @since 0.1.0
 * @category events
 */
export interface StateChanged {
  readonly _tag: "StateChanged"
  readonly name: string
  /** Milliseconds since the epoch, from the breaker's clock. */
  readonly timestamp: number
  readonly from: State
  readonly to: State
  readonly reason: TransitionReason
}

/**
 * The breaker rejected a call without running it.
 *
 * @since 0.1.0
 * @category events
 */
export interface CallRejected {
  readonly _tag: "CallRejected"
  readonly name: string
  readonly timestamp: number
  readonly state: "Open" | "HalfOpen" | "ForcedOpen"
  /** Milliseconds until a probe may be admitted (0: half-open and busy; Infinity: forced open). */
  readonly retryAfterMillis: number
}

/**
 * `update` applied new options.
 *
 * @since 0.1.0
 * @category events
 */
export interface Updated {
  readonly _tag: "Updated"
  readonly name: string
  readonly timestamp: number
}

/**
 * `restore` loaded a snapshot.
 *
 * @since 0.1.0
 * @category events
 */
export interface Restored {
  readonly _tag: "Restored"
  readonly name: string
  readonly timestamp: number
  readonly state: State
}

/**
 * @since 0.1.0
 * @category events
 */
export type CircuitBreakerEvent = StateChanged | CallRejected | Updated | Restored

/**
 * A circuit breaker. It is a `Policy`, so `Policy.compose` stacks it with other policies.
 *
 * @since 0.1.0
 * @category models
 */
export interface CircuitBreaker extends Policy.Policy<CircuitBreakerOpen> {
  readonly [TypeId]: TypeId
  /** The current state; an `Open` breaker whose open duration has elapsed reports (and becomes) `HalfOpen`. */
  readonly state: Effect.Effect<State>
  /** The synchronous form of `state`. */
  readonly unsafeState: () => State
  /** State changes, rejections, reconfigurations and restores, as they happen. */
  readonly events: Stream.Stream<CircuitBreakerEvent>
}

/**
 * Makes a breaker. Bad options fail with `InvalidOptions` naming each offending field.
 *
 * @since 0.1.0
 * @category constructors
 * @example
 * import { Effect, Schedule } from "effect"
 * import { CircuitBreaker } from "@rampart/resilience"
 *
 * const program = Effect.gen(function*() {
 *   const breaker = yield* CircuitBreaker.make({
 *     name: "payments",
 *     trip: { _tag: "CountWindow", size: 50, minimumCalls: 20, failureRateThreshold: 0.5 },
 *     openDuration: Schedule.exponential("5 seconds"),
 *     halfOpenPermits: 3,
 *     slowCallDuration: "2 seconds"
 *   })
 *   return yield* chargeCard.pipe(CircuitBreaker.protect(breaker))
 * })
 */
export const make: (options: CircuitBreakerOptionsInput) => Effect.Effect<CircuitBreaker, InvalidOptions> =
  internal.make

/**
 * Runs an effect through a breaker: rejected with `CircuitBreakerOpen` (without running it) when
 * the breaker is open, otherwise run and its outcome recorded. Interrupting a call records
 * nothing; an interrupted half-open probe gives its permit back.
 *
 * @since 0.1.0
 * @category combinators
 * @example
 * import { Effect } from "effect"
 * import { CircuitBreaker } from "@rampart/resilience"
 *
 * const guarded = fetchUser(id).pipe(CircuitBreaker.protect(breaker))
 * const same = CircuitBreaker.protect(fetchUser(id), breaker)
 */
export const protect: {
  (breaker: CircuitBreaker): <A, E, R>(self: Effect.Effect<A, E, R>) => Effect.Effect<A, E | CircuitBreakerOpen, R>
  <A, E, R>(self: Effect.Effect<A, E, R>, breaker: CircuitBreaker): Effect.Effect<A, E | CircuitBreakerOpen, R>
} = internal.protect

/**
 * @since 0.1.0
 * @category guards
 */
export const isCircuitBreaker: (u: unknown) => u is CircuitBreaker = internal.isCircuitBreaker

/**
 * The breaker's current state.
 *
 * @since 0.1.0
 * @category getters
 */
export const state: (breaker: CircuitBreaker) => Effect.Effect<State> = internal.state

/**
 * Puts the breaker in `ForcedOpen`: every call is rejected (with an infinite `retryAfter`) until
 * `reset`.
 *
 * @since 0.1.0
 * @category combinators
 */
export const forceOpen: (breaker: CircuitBreaker) => Effect.Effect<void> = internal.forceOpen

/**
 * Puts the breaker in `Disabled`: every call runs and nothing is recorded until `reset`.
 *
 * @since 0.1.0
 * @category combinators
 */
export const disable: (breaker: CircuitBreaker) => Effect.Effect<void> = internal.disable

/**
 * Closes the breaker from any state, empties its window and forgets past openings.
 *
 * @since 0.1.0
 * @category combinators
 */
export const reset: (breaker: CircuitBreaker) => Effect.Effect<void> = internal.reset

/**
 * Reconfigures a live breaker: merges `partial` onto its current options, validates them with
 * the same schema, and applies them without losing state. New thresholds apply from the next
 * recorded call. A new window of the same kind keeps the recorded outcomes (a smaller count window
 * keeps the newest; a time window re-buckets them); a window of another kind starts empty. A new
 * `openDuration` applies from the next opening.
 *
 * @since 0.1.0
 * @category combinators
 * @example
 * yield* CircuitBreaker.update(breaker, { trip: { _tag: "Consecutive", threshold: 3 }, halfOpenPermits: 2 })
 */
export const update: {
  (partial: CircuitBreakerUpdate): (breaker: CircuitBreaker) => Effect.Effect<void, InvalidOptions>
  (breaker: CircuitBreaker, partial: CircuitBreakerUpdate): Effect.Effect<void, InvalidOptions>
} = internal.update

/**
 * Takes a JSON-serialisable snapshot: state, window contents, open-until time and the count of
 * consecutive openings.
 *
 * @since 0.1.0
 * @category getters
 * @example
 * const saved = JSON.stringify(yield* CircuitBreaker.snapshot(breaker))
 * // ... in the restarted process:
 * yield* CircuitBreaker.restore(breaker, JSON.parse(saved))
 */
export const snapshot: (breaker: CircuitBreaker) => Effect.Effect<CircuitBreakerSnapshot> = internal.snapshot

/**
 * Resumes from a snapshot after validating it with `CircuitBreakerSnapshot` (a bad one fails with
 * `InvalidOptions` and changes nothing). Window contents load when the snapshot's window is of the
 * breaker's kind; a `HalfOpen` snapshot starts a fresh round of probes.
 *
 * @since 0.1.0
 * @category combinators
 */
export const restore: {
  (snapshot: unknown): (breaker: CircuitBreaker) => Effect.Effect<void, InvalidOptions>
  (breaker: CircuitBreaker, snapshot: unknown): Effect.Effect<void, InvalidOptions>
} = internal.restore
