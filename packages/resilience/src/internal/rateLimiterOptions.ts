import { Duration, Schema } from "effect"
import type { RateLimitConfig } from "../RateLimiterStore.js"
import { Name, NonNegativeDuration, PositiveDuration, PositiveInt } from "@rampart/core/Options"

/** A duration of at least one millisecond and finite: limits are computed in whole milliseconds. */
const Period = PositiveDuration.pipe(
  Schema.filter((d) =>
    (Duration.isFinite(d) && Duration.toMillis(d) >= 1) || "Expected a finite duration of at least 1 millisecond"
  )
)

const common = {
  name: Name,
  onLimit: Schema.optionalWith(Schema.Literal("fail", "wait"), { default: () => "fail" as const }),
  onStoreError: Schema.optionalWith(Schema.Literal("allow", "reject"), { default: () => "allow" as const })
}

const tokenBucket = {
  algorithm: Schema.Literal("tokenBucket"),
  capacity: PositiveInt,
  refillRate: PositiveInt,
  refillPeriod: Schema.optionalWith(Period, { default: () => Duration.seconds(1) })
}

const window = {
  limit: PositiveInt,
  window: Period
}

const toMillis = (d: Duration.Duration): number => Math.max(1, Math.round(Duration.toMillis(d)))

/**
 * The arithmetic is exact in doubles while these products stay below 2^53; real limits are many
 * orders of magnitude smaller.
 */
const boundsCheck = (
  options:
    | { readonly algorithm: "tokenBucket"; readonly capacity: number; readonly refillPeriod: Duration.Duration }
    | { readonly algorithm: "fixedWindow" | "slidingWindow"; readonly limit: number; readonly window: Duration.Duration }
) =>
  options.algorithm === "tokenBucket"
    ? options.capacity * toMillis(options.refillPeriod) <= Number.MAX_SAFE_INTEGER ||
      { path: ["capacity"], message: "capacity × refillPeriod (in milliseconds) must stay below 2^53" }
    : options.limit * toMillis(options.window) <= Number.MAX_SAFE_INTEGER ||
      { path: ["limit"], message: "limit × window (in milliseconds) must stay below 2^53" }

export const RateLimiterOptions = Schema.Union(
  Schema.Struct({ ...common, ...tokenBucket }),
  Schema.Struct({ ...common, algorithm: Schema.Literal("fixedWindow"), ...window }),
  Schema.Struct({ ...common, algorithm: Schema.Literal("slidingWindow"), ...window })
).pipe(Schema.filter(boundsCheck))

const keyed = {
  idleTimeout: Schema.optionalWith(NonNegativeDuration, { default: () => Duration.minutes(1) })
}

export const KeyedRateLimiterOptions = Schema.Union(
  Schema.Struct({ ...common, ...keyed, ...tokenBucket }),
  Schema.Struct({ ...common, ...keyed, algorithm: Schema.Literal("fixedWindow"), ...window }),
  Schema.Struct({ ...common, ...keyed, algorithm: Schema.Literal("slidingWindow"), ...window })
).pipe(Schema.filter(boundsCheck))

export type RateLimiterOptions = typeof RateLimiterOptions.Type
export type RateLimiterOptionsInput = typeof RateLimiterOptions.Encoded
export type KeyedRateLimiterOptions = typeof KeyedRateLimiterOptions.Type
export type KeyedRateLimiterOptionsInput = typeof KeyedRateLimiterOptions.Encoded

/** The store's view of the options: plain integers. */
export const toConfig = (
  options: RateLimiterOptions | KeyedRateLimiterOptions,
  idleTimeout: Duration.Duration
): RateLimitConfig => {
  const idle = Duration.toMillis(idleTimeout)
  const idleTimeoutMillis = Number.isFinite(idle) ? Math.max(0, Math.round(idle)) : Number.POSITIVE_INFINITY
  switch (options.algorithm) {
    case "tokenBucket":
      return {
        _tag: "TokenBucket",
        capacity: options.capacity,
        refillRate: options.refillRate,
        refillPeriodMillis: toMillis(options.refillPeriod),
        idleTimeoutMillis
      }
    case "fixedWindow":
      return { _tag: "FixedWindow", limit: options.limit, windowMillis: toMillis(options.window), idleTimeoutMillis }
    case "slidingWindow":
      return { _tag: "SlidingWindow", limit: options.limit, windowMillis: toMillis(options.window), idleTimeoutMillis }
  }
}

/** The largest cost a single call may have under `config`. */
export const maxCost = (config: RateLimitConfig): number =>
  config._tag === "TokenBucket" ? config.capacity : config.limit

/**
 * The mean spacing between `cost` permits at the configured rate: the `retryAfter` given when the
 * store failed and `onStoreError` is "reject", and the pause before a waiter asks a failed store again.
 */
export const meanIntervalMillis = (config: RateLimitConfig, cost: number): number =>
  config._tag === "TokenBucket"
    ? Math.max(1, Math.ceil((cost * config.refillPeriodMillis) / config.refillRate))
    : Math.max(1, Math.ceil((cost * config.windowMillis) / config.limit))
