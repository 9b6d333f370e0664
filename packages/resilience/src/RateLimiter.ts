/**
 * Rate limiting: at most so many calls (or units of cost) per unit of time, by token bucket, fixed
 * window or sliding-window counter. A limiter refuses fast with `RateLimited` (carrying the exact
 * `retryAfter`) or makes callers wait in FIFO order; a keyed limiter keeps one limit per user or
 * tenant and forgets idle keys. State lives in a `RateLimiterStore`: memory by default (synchronous,
 * nothing to set up), or a shared remote store.
 *
 * @since 0.1.0
 */
import type { Effect, Stream } from "effect"
import type { InvalidOptions, RateLimited } from "./Errors.js"
import * as internal from "./internal/rateLimiter.js"
import * as options from "./internal/rateLimiterOptions.js"
import type * as Policy from "./Policy.js"
import type { RateLimiterStoreError } from "./RateLimiterStore.js"

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
 * @since 0.1.0
 * @category symbols
 */
export const KeyedTypeId: unique symbol = internal.KeyedTypeId

/**
 * @since 0.1.0
 * @category symbols
 */
export type KeyedTypeId = typeof KeyedTypeId

/**
 * Limits the rate of calls. As a `Policy` it admits each call at a cost of one permit, refusing
 * with `RateLimited` (or waiting, with `onLimit: "wait"`) when none is free.
 *
 * @since 0.1.0
 * @category models
 */
export interface RateLimiter extends Policy.Policy<RateLimited> {
  readonly [TypeId]: TypeId
  /** Rejections and store failures, as they happen. */
  readonly events: Stream.Stream<RateLimiterEvent>
  /** How many callers are waiting for permits now. */
  readonly waiting: Effect.Effect<number>
  /** `waiting`, read synchronously. */
  readonly unsafeWaiting: () => number
}

/**
 * One rate limit per key (user, tenant, IP): every key gets its own bucket or window, created on
 * first use and dropped once idle.
 *
 * @since 0.1.0
 * @category models
 */
export interface KeyedRateLimiter {
  readonly [KeyedTypeId]: KeyedTypeId
  readonly name: string
  readonly events: Stream.Stream<RateLimiterEvent>
  /** How many callers are waiting for permits now, over all keys. */
  readonly waiting: Effect.Effect<number>
  readonly unsafeWaiting: () => number
}

/**
 * A call was refused. `key` is set for keyed limiters.
 *
 * @since 0.1.0
 * @category events
 */
export interface Rejected {
  readonly _tag: "Rejected"
  readonly name: string
  readonly key: string | undefined
  readonly cost: number
  readonly retryAfterMillis: number
  readonly timestamp: number
}

/**
 * The store failed to answer; the call was admitted or refused according to `onStoreError`.
 *
 * @since 0.1.0
 * @category events
 */
export interface StoreFailed {
  readonly _tag: "StoreFailed"
  readonly name: string
  readonly key: string | undefined
  readonly error: RateLimiterStoreError
  readonly timestamp: number
}

/**
 * @since 0.1.0
 * @category events
 */
export type RateLimiterEvent = Rejected | StoreFailed

/**
 * The options of a rate limiter, one variant per `algorithm`:
 *
 * - `"tokenBucket"`: `capacity` (burst size), `refillRate` tokens per `refillPeriod` (default 1
 *   second), refilled continuously. In any interval of length `d` it admits at most
 *   `capacity + refillRate × d / refillPeriod`.
 * - `"fixedWindow"`: at most `limit` in each `window`, windows aligned on the epoch (so processes
 *   sharing a store agree). Up to `2 × limit` may pass around a window boundary.
 * - `"slidingWindow"`: the sliding-window counter (the previous window's count weighted by its
 *   overlap with the sliding window). At most `limit` per aligned window, and for any interval
 *   `[t, t + window)` at most `limit × (1 + f)` where `f` is the fraction of the aligned window
 *   containing `t + window` that has passed; O(1) state per key.
 *
 * Common fields: `name`; `onLimit` ("fail", the default: refuse with `RateLimited`; "wait": wait in
 * FIFO order) for `protect`; `onStoreError` ("allow", the default: admit the call when the store
 * cannot answer; "reject": refuse it).
 *
 * @since 0.1.0
 * @category options
 */
export const RateLimiterOptions = options.RateLimiterOptions

/**
 * @since 0.1.0
 * @category options
 */
export type RateLimiterOptions = typeof options.RateLimiterOptions.Type

/**
 * What `make` accepts: durations as `Duration`, milliseconds or strings like "1 minute".
 *
 * @since 0.1.0
 * @category options
 */
export type RateLimiterOptionsInput = typeof options.RateLimiterOptions.Encoded

/**
 * The options of a keyed limiter: those of `RateLimiterOptions` plus `idleTimeout` (default 1
 * minute): a key unused that long is dropped, once its state has recovered anyway (bucket full,
 * windows over), so eviction never loosens the limit.
 *
 * @since 0.1.0
 * @category options
 */
export const KeyedRateLimiterOptions = options.KeyedRateLimiterOptions

/**
 * @since 0.1.0
 * @category options
 */
export type KeyedRateLimiterOptions = typeof options.KeyedRateLimiterOptions.Type

/**
 * @since 0.1.0
 * @category options
 */
export type KeyedRateLimiterOptionsInput = typeof options.KeyedRateLimiterOptions.Encoded

/**
 * Makes a rate limiter. Its state lives in the `RateLimiterStore` in context, or in a private
 * memory store when there is none.
 *
 * @since 0.1.0
 * @category constructors
 * @example
 * import { Effect } from "effect"
 * import { RateLimiter } from "@rampart/resilience"
 *
 * const program = Effect.gen(function*() {
 *   const limiter = yield* RateLimiter.make({
 *     name: "search",
 *     algorithm: "tokenBucket",
 *     capacity: 20,
 *     refillRate: 10,
 *     refillPeriod: "1 second"
 *   })
 *   return yield* search("rampart").pipe(RateLimiter.protect(limiter))
 * })
 */
export const make: (options: RateLimiterOptionsInput) => Effect.Effect<RateLimiter, InvalidOptions> = internal.make

/**
 * Makes a keyed rate limiter: one limit per key.
 *
 * @since 0.1.0
 * @category constructors
 * @example
 * import { Effect } from "effect"
 * import { RateLimiter } from "@rampart/resilience"
 *
 * const program = Effect.gen(function*() {
 *   const perTenant = yield* RateLimiter.keyed({
 *     name: "per-tenant",
 *     algorithm: "slidingWindow",
 *     limit: 100,
 *     window: "1 minute",
 *     idleTimeout: "10 minutes"
 *   })
 *   yield* RateLimiter.tryAcquire(perTenant, "tenant-42", 5)
 * })
 */
export const keyed: (options: KeyedRateLimiterOptionsInput) => Effect.Effect<KeyedRateLimiter, InvalidOptions> =
  internal.keyed

/**
 * Runs an effect once the limiter admits it (cost 1). With `onLimit: "fail"` (the default) a call
 * with no permit fails with `RateLimited` without running; with `onLimit: "wait"` it waits its turn.
 *
 * @since 0.1.0
 * @category combinators
 * @example
 * const result = yield* fetchQuote.pipe(RateLimiter.protect(limiter))
 */
export const protect: {
  (limiter: RateLimiter): <A, E, R>(self: Effect.Effect<A, E, R>) => Effect.Effect<A, E | RateLimited, R>
  <A, E, R>(self: Effect.Effect<A, E, R>, limiter: RateLimiter): Effect.Effect<A, E | RateLimited, R>
} = internal.protect

/**
 * `protect` for one key of a keyed limiter.
 *
 * @since 0.1.0
 * @category combinators
 * @example
 * const result = yield* handleRequest.pipe(RateLimiter.protectKeyed(perTenant, tenantId))
 */
export const protectKeyed: {
  (limiter: KeyedRateLimiter, key: string): <A, E, R>(
    self: Effect.Effect<A, E, R>
  ) => Effect.Effect<A, E | RateLimited, R>
  <A, E, R>(self: Effect.Effect<A, E, R>, limiter: KeyedRateLimiter, key: string): Effect.Effect<A, E | RateLimited, R>
} = internal.protectKeyed

/**
 * The policy of one key of a keyed limiter, for `Policy.compose`.
 *
 * @since 0.1.0
 * @category combinators
 */
export const forKey: (limiter: KeyedRateLimiter, key: string) => Policy.Policy<RateLimited> = internal.forKey

/**
 * Takes `cost` permits (default 1), waiting as long as needed. Waiters of one key are served first
 * come, first served, and a later caller never overtakes them. Succeeds with the permits left.
 * Fails with `InvalidOptions` when `cost` is not a positive integer or exceeds the capacity (such a
 * call could never be admitted; it fails instead of hanging). Interrupting a waiter removes it.
 *
 * @since 0.1.0
 * @category combinators
 * @example
 * yield* RateLimiter.acquire(limiter, 5)
 * yield* RateLimiter.acquire(perTenant, "tenant-42")
 */
export const acquire: {
  (limiter: RateLimiter, cost?: number): Effect.Effect<number, InvalidOptions>
  (limiter: KeyedRateLimiter, key: string, cost?: number): Effect.Effect<number, InvalidOptions>
} = internal.acquire

/**
 * Takes `cost` permits (default 1) now or fails with `RateLimited`, whose `retryAfter` is exact:
 * the same call made `retryAfter` later succeeds if nothing else takes permits meanwhile, and made
 * any earlier it fails. While other callers are waiting it fails too (it does not overtake them),
 * with `retryAfter` the time until the first waiter next tries. Succeeds with the permits left.
 *
 * @since 0.1.0
 * @category combinators
 * @example
 * const remaining = yield* RateLimiter.tryAcquire(limiter)
 */
export const tryAcquire: {
  (limiter: RateLimiter, cost?: number): Effect.Effect<number, RateLimited | InvalidOptions>
  (limiter: KeyedRateLimiter, key: string, cost?: number): Effect.Effect<number, RateLimited | InvalidOptions>
} = internal.tryAcquire

/**
 * Changes the limits live (merged onto the current options and validated). State is kept: a token
 * bucket keeps its tokens (capped at the new capacity), windows keep their counts. `name` and
 * `algorithm` cannot change. Waiters re-check their cost against the new limit at once.
 *
 * @since 0.1.0
 * @category combinators
 * @example
 * yield* RateLimiter.update(limiter, { refillRate: 50 })
 */
export const update: {
  (limiter: RateLimiter, options: Partial<RateLimiterOptionsInput>): Effect.Effect<void, InvalidOptions>
  (limiter: KeyedRateLimiter, options: Partial<KeyedRateLimiterOptionsInput>): Effect.Effect<void, InvalidOptions>
} = internal.update

/**
 * @since 0.1.0
 * @category guards
 */
export const isRateLimiter: (u: unknown) => u is RateLimiter = internal.isRateLimiter

/**
 * @since 0.1.0
 * @category guards
 */
export const isKeyedRateLimiter: (u: unknown) => u is KeyedRateLimiter = internal.isKeyedRateLimiter
