/**
 * Backpressure and load shedding: a bounded work queue between producers and a pool of worker
 * fibers. When the queue is full a new task is rejected, evicts the oldest queued task, or makes its
 * producer wait; with `codel` set, tasks that sat in a standing queue are shed at dequeue time
 * (CoDel, RFC 8289), so under overload the queue stays short and the work that does run is fresh.
 *
 * @since 0.1.0
 */
import type { Effect, Scope, Stream } from "effect"
import type { InvalidOptions, LoadShed } from "./Errors.js"
import * as internal from "./internal/backpressure.js"
import * as options from "./internal/backpressureOptions.js"
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
 * A bounded work queue with `workers` worker fibers. Submitted tasks run on a worker (with the
 * submitter's context), first in, first out; the submitter waits for the result. As a `Policy` it
 * submits the protected effect.
 *
 * @since 0.1.0
 * @category models
 */
export interface Backpressure extends Policy.Policy<LoadShed> {
  readonly [TypeId]: TypeId
  /** Shed tasks and CoDel state changes, as they happen. */
  readonly events: Stream.Stream<BackpressureEvent>
  /** Tasks waiting for a worker. */
  readonly queued: Effect.Effect<number>
  /** Tasks running on a worker. */
  readonly running: Effect.Effect<number>
  /** Producers waiting for room in the queue (strategy "suspend"). */
  readonly suspended: Effect.Effect<number>
  /** `queued`, read synchronously. */
  readonly unsafeQueued: () => number
  /** `running`, read synchronously. */
  readonly unsafeRunning: () => number
}

/**
 * A task was shed. `sojournMillis` is how long it had waited (undefined when refused on arrival).
 *
 * @since 0.1.0
 * @category events
 */
export interface Shed {
  readonly _tag: "Shed"
  readonly name: string
  readonly reason: LoadShed["reason"]
  readonly queued: number
  readonly sojournMillis: number | undefined
  readonly timestamp: number
}

/**
 * CoDel entered (`dropping: true`) or left its dropping state; for the adaptive-timeout variant,
 * the short timeout started or stopped applying.
 *
 * @since 0.1.0
 * @category events
 */
export interface DroppingChanged {
  readonly _tag: "DroppingChanged"
  readonly name: string
  readonly dropping: boolean
  readonly timestamp: number
}

/**
 * @since 0.1.0
 * @category events
 */
export type BackpressureEvent = Shed | DroppingChanged

/**
 * The options of a work queue:
 *
 * - `name`; `capacity`: how many tasks may wait (running ones not counted); `workers`: how many run
 *   at once.
 * - `strategy` when the queue is full: `"reject"` (default; the new task fails with `LoadShed`
 *   reason `QueueFull`), `"dropOldest"` (the oldest queued task fails with reason `Dropped`, the new
 *   one is queued), `"suspend"` (the producer waits for room; interrupting it leaves nothing behind).
 * - `codel` (off when absent): `{ target, interval, variant }`, default 5 ms, 100 ms,
 *   `"controlLaw"` (RFC 8289: once the sojourn time stayed above `target` for `interval`, shed at
 *   dequeue with reason `SojournTime`, the next after `interval / sqrt(count)`, until it falls below
 *   `target`); `"adaptiveTimeout"` (Facebook's variant: while the queue has not been empty for
 *   `interval`, shed tasks that waited more than `target`, else more than `interval`).
 *
 * @since 0.1.0
 * @category options
 */
export const BackpressureOptions = options.BackpressureOptions

/**
 * @since 0.1.0
 * @category options
 */
export type BackpressureOptions = typeof options.BackpressureOptions.Type

/**
 * What `make` accepts: durations as `Duration`, milliseconds or strings like "5 millis".
 *
 * @since 0.1.0
 * @category options
 */
export type BackpressureOptionsInput = typeof options.BackpressureOptions.Encoded

/**
 * Makes a work queue and starts its workers. Closing the scope stops them: queued tasks and
 * suspended producers are interrupted, running tasks are interrupted, and later submissions are
 * interrupted at once.
 *
 * @since 0.1.0
 * @category constructors
 * @example
 * import { Effect } from "effect"
 * import { Backpressure } from "@rampart/resilience"
 *
 * const program = Effect.scoped(Effect.gen(function*() {
 *   const queue = yield* Backpressure.make({
 *     name: "thumbnails",
 *     capacity: 100,
 *     workers: 4,
 *     strategy: "reject",
 *     codel: { target: "5 millis", interval: "100 millis" }
 *   })
 *   return yield* Backpressure.submit(queue, renderThumbnail(image))
 * }))
 */
export const make: (options: BackpressureOptionsInput) => Effect.Effect<Backpressure, InvalidOptions, Scope.Scope> =
  internal.make

/**
 * Submits a task and waits for its result. Fails with `LoadShed` when the task is shed (queue full
 * under "reject", evicted under "dropOldest", or waited too long under CoDel). Interrupting the
 * caller withdraws a queued task or interrupts a running one.
 *
 * @since 0.1.0
 * @category combinators
 * @example
 * const thumbnail = yield* Backpressure.submit(queue, renderThumbnail(image))
 */
export const submit: <A, E, R>(queue: Backpressure, effect: Effect.Effect<A, E, R>) => Effect.Effect<A, E | LoadShed, R> =
  internal.submit

/**
 * `submit` as a dual combinator, like every policy's `protect`.
 *
 * @since 0.1.0
 * @category combinators
 * @example
 * const thumbnail = yield* renderThumbnail(image).pipe(Backpressure.protect(queue))
 */
export const protect: {
  (queue: Backpressure): <A, E, R>(self: Effect.Effect<A, E, R>) => Effect.Effect<A, E | LoadShed, R>
  <A, E, R>(self: Effect.Effect<A, E, R>, queue: Backpressure): Effect.Effect<A, E | LoadShed, R>
} = internal.protect

/**
 * Changes `capacity`, `workers`, `strategy` or `codel` live. More capacity lets suspended producers
 * in; more workers start at once; fewer workers retire as they finish their current task. Queued
 * tasks are kept even when the new capacity is smaller. `name` cannot change.
 *
 * @since 0.1.0
 * @category combinators
 * @example
 * yield* Backpressure.update(queue, { workers: 8, codel: { target: "10 millis" } })
 */
export const update: (
  queue: Backpressure,
  options: Partial<BackpressureOptionsInput>
) => Effect.Effect<void, InvalidOptions> = internal.update

/**
 * @since 0.1.0
 * @category guards
 */
export const isBackpressure: (u: unknown) => u is Backpressure = internal.isBackpressure
