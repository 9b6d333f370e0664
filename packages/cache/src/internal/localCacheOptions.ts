/**
 * The option schemas of a local cache. Functions (weigher, listener, lookups) are declared
 * fields, checked to be functions; their precise types come from the generic input types in
 * LocalCache.ts.
 */
import { Schema } from "effect"
import { Name, PositiveDuration, PositiveInt, PositiveNumber, Ratio } from "@rampart/core/Options"

const isFunction = (u: unknown): u is (...args: ReadonlyArray<never>) => unknown => typeof u === "function"

const fn = (identifier: string, description: string) =>
  Schema.declare(isFunction, {
    identifier,
    description,
    message: () => `Expected a function ${description}`
  })

export const Policy = Schema.Literal("wTinyLfu", "lru", "lfu", "fifo")

const Duration = PositiveDuration.annotations({
  message: () => ({
    message: `Expected a duration greater than zero (a Duration, milliseconds, or a string like "5 minutes")`,
    override: true
  })
})

const baseFields = {
  name: Name,
  policy: Schema.optionalWith(Policy, { default: () => "wTinyLfu" as const, exact: true }),
  maximumSize: Schema.optionalWith(PositiveInt, { exact: true }),
  maximumWeight: Schema.optionalWith(PositiveNumber, { exact: true }),
  weigher: Schema.optionalWith(fn("Weigher", "(key, value) => number"), { exact: true }),
  expireAfterWrite: Schema.optionalWith(Duration, { exact: true }),
  expireAfterAccess: Schema.optionalWith(Duration, { exact: true }),
  ttlJitter: Schema.optionalWith(Ratio, { default: () => 0.1, exact: true }),
  onRemoval: Schema.optionalWith(fn("RemovalListener", "(key, value, cause) => void"), { exact: true })
}

interface Bounds {
  readonly maximumSize?: number | undefined
  readonly maximumWeight?: number | undefined
  readonly weigher?: unknown
}

/** Exactly one of maximumSize / maximumWeight, and a weigher exactly with maximumWeight. */
const checkBounds = (options: Bounds) => {
  if (options.maximumSize !== undefined && options.maximumWeight !== undefined) {
    return { path: ["maximumSize"], message: "Expected exactly one of maximumSize or maximumWeight, got both" }
  }
  if (options.maximumSize === undefined && options.maximumWeight === undefined) {
    return { path: ["maximumSize"], message: "Expected exactly one of maximumSize or maximumWeight, got neither" }
  }
  if (options.maximumWeight !== undefined && options.weigher === undefined) {
    return { path: ["weigher"], message: "Expected a weigher with maximumWeight" }
  }
  if (options.maximumSize !== undefined && options.weigher !== undefined) {
    return { path: ["weigher"], message: "A weigher needs maximumWeight, not maximumSize" }
  }
  return true
}

export const LocalCacheOptions = Schema.Struct(baseFields).pipe(Schema.filter(checkBounds))

export const LoadingCacheOptions = Schema.Struct({
  ...baseFields,
  lookup: fn("Lookup", "(key) => Effect"),
  lookupAll: Schema.optionalWith(fn("LookupAll", "(keys) => Effect<ReadonlyMap>"), { exact: true }),
  refreshAfterWrite: Schema.optionalWith(Duration, { exact: true }),
  staleIfError: Schema.optionalWith(Duration, { exact: true })
}).pipe(Schema.filter(checkBounds))
