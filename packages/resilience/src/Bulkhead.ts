/**
 * A bulkhead limits how many calls run at once. A call that finds every permit taken waits in a
 * bounded FIFO queue (for at most `maxWait`) or is rejected with `BulkheadFull`, so one slow
 * dependency cannot take every fiber, connection or socket with it.
 *
 * A free permit is taken synchronously, with no extra fiber, lock or timer; only queued calls pay
 * for waiting. Permits are returned on success, failure, defect and interruption. The permit of a
 * call interrupted while it runs comes back when its fiber ends: at once for a call that loses a
 * race, times out or is interrupted with `Fiber.interrupt`, after the fiber's finalizers when it
 * has uninterruptible finalizers to run (this is what keeps the success path free of
 * `uninterruptibleMask`).
 *
 * @since 0.1.0
 */
import type { Duration, Effect, Stream } from "effect"
import type { BulkheadFull, InvalidOptions } from "./Errors.js"
import * as internal from "./internal/bulkhead.js"
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
 * The options of a bulkhead, as a `Schema`:
 *
 * - `name`: labels metrics, events and errors.
 * - `maxConcurrent`: calls that may run at once (a positive integer).
 * - `maxQueued`: calls that may wait for a permit (default `0`: reject at once when full).
 * - `maxWait`: how long a queued call may wait before it fails with `BulkheadFull`
 *   (`MaxWaitExceeded`); a `Duration`, milliseconds or a string such as `"2 seconds"`
 *   (default: no bound, a queued call waits until a permit is free).
 *
 * @since 0.1.0
 * @category options
 */
export const BulkheadOptions: typeof internal.BulkheadOptions = internal.BulkheadOptions

/**
 * The decoded options of a bulkhead.
 *
 * @since 0.1.0
 * @category options
 */
export type BulkheadOptions = typeof BulkheadOptions.Type

/**
 * What `make` accepts: `maxWait` as a `Duration`, milliseconds or a string like `"2 seconds"`.
 *
 * @since 0.1.0
 * @category options
 */
export type BulkheadOptionsInput = typeof BulkheadOptions.Encoded

/**
 * What `update` accepts: any options but the name.
 *
 * @since 0.1.0
 * @category options
 */
export type BulkheadUpdate = Partial<Omit<BulkheadOptionsInput, "name">>

/**
 * A call was refused: the queue was full, or it waited longer than `maxWait`.
 *
 * @since 0.1.0
 * @category events
 */
export interface RejectedEvent {
  readonly _tag: "Rejected"
  readonly name: string
  /** Milliseconds since the epoch, from the bulkhead's clock. */
  readonly timestamp: number
  readonly reason: "QueueFull" | "MaxWaitExceeded"
  readonly inFlight: number
  readonly queued: number
}

/**
 * A call found no free permit and started waiting.
 *
 * @since 0.1.0
 * @category events
 */
export interface QueuedEvent {
  readonly _tag: "Queued"
  readonly name: string
  readonly timestamp: number
  /** Calls waiting, this one included. */
  readonly queued: number
}

/**
 * The limits were changed with `update`.
 *
 * @since 0.1.0
 * @category events
 */
export interface UpdatedEvent {
  readonly _tag: "Updated"
  readonly name: string
  readonly timestamp: number
  readonly maxConcurrent: number
  readonly maxQueued: number
  readonly maxWait: Duration.Duration
}

/**
 * @since 0.1.0
 * @category events
 */
export type BulkheadEvent = RejectedEvent | QueuedEvent | UpdatedEvent

/**
 * Limits how many calls run at once; extra calls wait in a bounded FIFO queue, then are rejected.
 *
 * @since 0.1.0
 * @category models
 */
export interface Bulkhead extends Policy.Policy<BulkheadFull> {
  readonly [TypeId]: TypeId
  /** Calls holding a permit now. */
  readonly inFlight: Effect.Effect<number>
  /** Calls waiting for a permit now. */
  readonly queued: Effect.Effect<number>
  /** The options in force (after any `update`). */
  readonly config: Effect.Effect<BulkheadOptions>
  /** Rejections, queued calls and option changes. */
  readonly events: Stream.Stream<BulkheadEvent>
  /** Calls holding a permit now, read synchronously. */
  readonly unsafeInFlight: () => number
  /** Calls waiting for a permit now, read synchronously. */
  readonly unsafeQueued: () => number
}

/**
 * Makes a bulkhead. Fails with `InvalidOptions` naming the field when an option is out of range.
 *
 * @since 0.1.0
 * @category constructors
 * @example
 * import { Effect } from "effect"
 * import { Bulkhead } from "@rampart/resilience"
 *
 * const program = Effect.gen(function*() {
 *   const bulkhead = yield* Bulkhead.make({ name: "payments", maxConcurrent: 10, maxQueued: 50, maxWait: "2 seconds" })
 *   return yield* chargeCard.pipe(Bulkhead.protect(bulkhead))
 * })
 */
export const make: (options: BulkheadOptionsInput) => Effect.Effect<Bulkhead, InvalidOptions> = internal.make

/**
 * Runs an effect under a bulkhead: it runs at once when a permit is free, waits in line when the
 * queue has room, and otherwise fails with `BulkheadFull`. The permit is returned however the
 * effect ends; if the fiber is interrupted while the effect runs, the permit comes back when that
 * fiber ends (see the module docs).
 *
 * @since 0.1.0
 * @category combinators
 * @example
 * import { Effect } from "effect"
 * import { Bulkhead } from "@rampart/resilience"
 *
 * const guarded = Effect.gen(function*() {
 *   const bulkhead = yield* Bulkhead.make({ name: "search", maxConcurrent: 4 })
 *   return yield* Bulkhead.protect(search("rampart"), bulkhead)
 * })
 */
export const protect: {
  (bulkhead: Bulkhead): <A, E, R>(self: Effect.Effect<A, E, R>) => Effect.Effect<A, E | BulkheadFull, R>
  <A, E, R>(self: Effect.Effect<A, E, R>, bulkhead: Bulkhead): Effect.Effect<A, E | BulkheadFull, R>
} = internal.protect

/**
 * Changes the limits of a live bulkhead. Growing `maxConcurrent` admits queued calls at once;
 * shrinking it lets the calls in flight finish and admits no new one until they are under the
 * new limit. A smaller `maxQueued` refuses new waiters but keeps the ones already queued; a new
 * `maxWait` applies to calls queued from now on.
 *
 * @since 0.1.0
 * @category combinators
 * @example
 * import { Effect } from "effect"
 * import { Bulkhead } from "@rampart/resilience"
 *
 * const widen = (bulkhead: Bulkhead.Bulkhead) => Bulkhead.update(bulkhead, { maxConcurrent: 20 })
 */
export const update: (bulkhead: Bulkhead, changes: BulkheadUpdate) => Effect.Effect<void, InvalidOptions> =
  internal.update

/**
 * @since 0.1.0
 * @category guards
 */
export const isBulkhead: (u: unknown) => u is Bulkhead = internal.isBulkhead
