/**
 * Keyed request coalescing ("single flight", after Go's `x/sync/singleflight`): concurrent
 * callers asking for the same key share one execution of the work and its `Exit`. Once that
 * execution completes, the next call for the key runs the work again: nothing is cached.
 *
 * The shared execution runs in its own fiber, so one caller being interrupted does not disturb
 * the others; when every waiting caller has been interrupted the execution is interrupted too.
 *
 * @since 0.1.0
 */
import type { Effect, Pipeable } from "effect"
import * as internal from "./internal/singleFlight.js"

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
 * A coalescer of executions keyed by `K` producing `A` or failing with `E`.
 *
 * @since 0.1.0
 * @category models
 */
export interface SingleFlight<in out K, in out A, in out E> extends Pipeable.Pipeable {
  readonly [TypeId]: TypeId
  /** Runs `effect` for `key`, or joins the execution already running for it. */
  readonly run: <R>(key: K, effect: Effect.Effect<A, E, R>) => Effect.Effect<A, E, R>
  /** How many keys have an execution in flight. */
  readonly unsafeInFlight: () => number
  /** Whether `key` has an execution in flight. */
  readonly unsafeIsInFlight: (key: K) => boolean
}

/**
 * Makes an empty coalescer.
 *
 * @since 0.1.0
 * @category constructors
 * @example
 * import { Effect } from "effect"
 * import { SingleFlight } from "@rampart/cache"
 *
 * const program = Effect.gen(function*() {
 *   const flights = yield* SingleFlight.make<string, User, DbError>()
 *   // 100 concurrent calls, one query.
 *   return yield* Effect.all(
 *     Array.from({ length: 100 }, () => SingleFlight.run(flights, "user:1", loadUser("1"))),
 *     { concurrency: "unbounded" }
 *   )
 * })
 */
export const make: <K, A, E = never>() => Effect.Effect<SingleFlight<K, A, E>> = internal.make

/**
 * The synchronous form of `make`.
 *
 * @since 0.1.0
 * @category constructors
 */
export const unsafeMake: <K, A, E = never>() => SingleFlight<K, A, E> = internal.unsafeMake

/**
 * Runs `effect` for `key`: when an execution for the key is already in flight the caller waits
 * for it and gets its `Exit` (success, failure or defect) instead of running the effect again.
 *
 * @since 0.1.0
 * @category combinators
 * @example
 * const user = yield* loadUser(id).pipe((load) => SingleFlight.run(flights, id, load))
 * const same = yield* flights.pipe(SingleFlight.run(id, loadUser(id)))
 */
export const run: {
  <K, A, E, R>(key: K, effect: Effect.Effect<A, E, R>): (self: SingleFlight<K, A, E>) => Effect.Effect<A, E, R>
  <K, A, E, R>(self: SingleFlight<K, A, E>, key: K, effect: Effect.Effect<A, E, R>): Effect.Effect<A, E, R>
} = internal.run

/**
 * How many keys have an execution in flight.
 *
 * @since 0.1.0
 * @category getters
 */
export const inFlight: <K, A, E>(self: SingleFlight<K, A, E>) => Effect.Effect<number> = internal.inFlight

/**
 * @since 0.1.0
 * @category guards
 */
export const isSingleFlight: (u: unknown) => u is SingleFlight<unknown, unknown, unknown> = internal.isSingleFlight
