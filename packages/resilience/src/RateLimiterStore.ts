/**
 * Where rate limiter state lives. A store answers one atomic question: "may key K take `cost`
 * permits at time T under limit C?", and updates its state in the same step. That single call is
 * what a remote store implements atomically (a Redis Lua script, say), so several processes can
 * share one limit. The memory store is the default: it is synchronous, and the rate limiter calls
 * its `unsafeTake` directly so the hot path pays no Effect operation for it.
 *
 * @since 0.1.0
 */
import type { InvalidOptions } from "@rampart/core/Options"
import type { RedisConnection } from "@rampart/core/Redis"
import { Context, type Effect, Layer, Schema } from "effect"
import * as internal from "./internal/rateLimiterStore.js"
import * as redis from "./internal/rateLimiterStoreRedis.js"

/**
 * A token bucket: `capacity` tokens at most, `refillRate` tokens added every `refillPeriodMillis`
 * (continuously, in whole milliseconds).
 *
 * @since 0.1.0
 * @category models
 */
export interface TokenBucketConfig {
  readonly _tag: "TokenBucket"
  readonly capacity: number
  readonly refillRate: number
  readonly refillPeriodMillis: number
  /** Keep an unused key at least this long (it is dropped only once it has recovered anyway). */
  readonly idleTimeoutMillis: number
}

/**
 * A fixed window: at most `limit` permits in each window `[k·windowMillis, (k+1)·windowMillis)`
 * aligned on the epoch.
 *
 * @since 0.1.0
 * @category models
 */
export interface FixedWindowConfig {
  readonly _tag: "FixedWindow"
  readonly limit: number
  readonly windowMillis: number
  readonly idleTimeoutMillis: number
}

/**
 * A sliding-window counter: the previous aligned window's count is weighted by how much of it
 * still overlaps the sliding window ending now.
 *
 * @since 0.1.0
 * @category models
 */
export interface SlidingWindowConfig {
  readonly _tag: "SlidingWindow"
  readonly limit: number
  readonly windowMillis: number
  readonly idleTimeoutMillis: number
}

/**
 * The limit a store enforces for one call: plain data (integers), so a remote store can pass it
 * to a script as arguments.
 *
 * @since 0.1.0
 * @category models
 */
export type RateLimitConfig = TokenBucketConfig | FixedWindowConfig | SlidingWindowConfig

/**
 * The answer to one `take`.
 *
 * @since 0.1.0
 * @category models
 */
export interface TakeResult {
  /** Whether the permits were taken. */
  readonly allowed: boolean
  /** Whole permits left after this call (or now, when refused). */
  readonly remaining: number
  /**
   * When refused: the exact number of milliseconds after which the same call would succeed if
   * nothing else took permits meanwhile (always at least 1). Zero when allowed.
   */
  readonly retryAfterMillis: number
}

/**
 * Raised by a store that could not answer (network, script error). The rate limiter turns it into
 * an admission decision according to its `onStoreError` option.
 *
 * @since 0.1.0
 * @category errors
 */
export class RateLimiterStoreError extends Schema.TaggedError<RateLimiterStoreError>(
  "@rampart/resilience/RateLimiterStoreError"
)("RateLimiterStoreError", {
  store: Schema.String,
  reason: Schema.String,
  cause: Schema.optional(Schema.Defect)
}) {
  override get message(): string {
    return `rate limiter store "${this.store}" failed: ${this.reason}`
  }
}

/**
 * The store interface. `take` must be atomic per key: check and update in one step.
 *
 * @since 0.1.0
 * @category models
 */
export interface Service {
  /** A short name for errors and events ("memory", "redis"). */
  readonly name: string
  /**
   * Tries to take `cost` permits for `key` at `nowMillis` under `config`. `key` is already
   * namespaced by the limiter (`"<limiter name>"` or `"<limiter name>:<key>"`). A remote store may
   * use its own clock instead of `nowMillis` so that all clients agree.
   */
  readonly take: (
    key: string,
    cost: number,
    nowMillis: number,
    config: RateLimitConfig
  ) => Effect.Effect<TakeResult, RateLimiterStoreError>
  /** The same operation, synchronous; only stores that can answer without I/O provide it. */
  readonly unsafeTake?: (key: string, cost: number, nowMillis: number, config: RateLimitConfig) => TakeResult
}

/**
 * The in-process store, with its size for inspection.
 *
 * @since 0.1.0
 * @category models
 */
export interface MemoryRateLimiterStore extends Service {
  readonly unsafeTake: (key: string, cost: number, nowMillis: number, config: RateLimitConfig) => TakeResult
  /** How many keys the store holds now (idle keys are dropped lazily, as calls arrive). */
  readonly unsafeSize: () => number
}

/**
 * The rate limiter store service. Without it in context, each rate limiter uses a private memory
 * store; provide one to share state between limiters with the same name, or a remote store to
 * share it between processes.
 *
 * @since 0.1.0
 * @category models
 * @example
 * import { Effect } from "effect"
 * import { RateLimiter, RateLimiterStore } from "@rampart/resilience"
 *
 * const program = Effect.gen(function*() {
 *   const limiter = yield* RateLimiter.make({ name: "api", algorithm: "fixedWindow", limit: 100, window: "1 minute" })
 *   yield* RateLimiter.acquire(limiter)
 * }).pipe(Effect.provide(RateLimiterStore.layerMemory))
 */
export class RateLimiterStore extends Context.Tag("@rampart/resilience/RateLimiterStore")<RateLimiterStore, Service>() {}

/**
 * Makes a memory store: integer arithmetic (exact `retryAfterMillis`), idle keys dropped by an
 * amortised sweep of a least-recently-used list (no timer per key, no scan).
 *
 * @since 0.1.0
 * @category constructors
 */
export const makeMemory: () => MemoryRateLimiterStore = internal.makeMemory

/**
 * A layer with one memory store, shared by every rate limiter made under it.
 *
 * @since 0.1.0
 * @category constructors
 */
export const layerMemory: Layer.Layer<RateLimiterStore> = Layer.sync(RateLimiterStore, makeMemory)

/**
 * Options of the Redis store.
 *
 * | option | type | default | meaning |
 * | --- | --- | --- | --- |
 * | `keyPrefix` | string | `"rampart:rl:"` | prepended to every limiter key (`<prefix><limiter>[:<key>]`) |
 * | `time` | `"server"` or `"caller"` | `"server"` | whose clock the algorithms use: Redis `TIME`, so every process agrees, or the `nowMillis` the limiter passes (its `Clock`; for tests with `TestClock`) |
 *
 * @since 0.1.0
 * @category options
 */
export const RedisStoreOptions = redis.RedisStoreOptions

/**
 * @since 0.1.0
 * @category options
 */
export type RedisStoreOptions = typeof RedisStoreOptions.Type

/**
 * What `makeRedis` and `layerRedis` accept.
 *
 * @since 0.1.0
 * @category options
 */
export type RedisStoreOptionsInput = typeof RedisStoreOptions.Encoded

/**
 * Makes a store on the `RedisConnection` in context, so several processes share one limit. Each
 * `take` is one atomic Lua script (EVALSHA, falling back to EVAL when the server does not have it
 * cached) with the memory store's integer arithmetic, so both stores give identical answers; the
 * key's state is written with an expiry of max(idle timeout, time to recover). A Redis failure
 * (down, timeout, script error) fails with `RateLimiterStoreError`, which the rate limiter turns
 * into a decision with its `onStoreError` option.
 *
 * @since 0.1.0
 * @category constructors
 * @example
 * import { Effect } from "effect"
 * import { Redis } from "@rampart/core"
 * import { RateLimiter, RateLimiterStore } from "@rampart/resilience"
 *
 * const program = Effect.gen(function*() {
 *   const store = yield* RateLimiterStore.makeRedis({ keyPrefix: "shop:rl:" })
 *   const limiter = yield* RateLimiter.make({ name: "checkout", algorithm: "tokenBucket", capacity: 20, refillRate: 10 })
 *     .pipe(Effect.provideService(RateLimiterStore.RateLimiterStore, store))
 *   yield* RateLimiter.acquire(limiter)
 * }).pipe(Effect.provide(Redis.layer({ url: "redis://127.0.0.1:6379/0" })))
 */
export const makeRedis: (
  options?: RedisStoreOptionsInput
) => Effect.Effect<Service, InvalidOptions, RedisConnection> = redis.makeRedis

/**
 * A layer with one Redis store on the `RedisConnection` in context.
 *
 * @since 0.1.0
 * @category constructors
 * @example
 * import { Layer } from "effect"
 * import { Redis } from "@rampart/core"
 * import { RateLimiterStore } from "@rampart/resilience"
 *
 * const StoreLive = RateLimiterStore.layerRedis({ keyPrefix: "shop:rl:" }).pipe(
 *   Layer.provide(Redis.layer({ url: "redis://127.0.0.1:6379/0", name: "rate-limits" }))
 * )
 */
export const layerRedis = (
  options: RedisStoreOptionsInput = {}
): Layer.Layer<RateLimiterStore, InvalidOptions, RedisConnection> => Layer.effect(RateLimiterStore, makeRedis(options))
