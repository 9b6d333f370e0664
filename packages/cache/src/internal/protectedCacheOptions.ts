/**
 * The option schema of a protected cache. The lookup and the bloom filter are declared fields,
 * checked at run time; their precise types come from the generic input type in ProtectedCache.ts.
 */
import { Schema } from "effect"
import { Name, PositiveDuration, PositiveInt, PositiveNumber, Ratio } from "@rampart/core/Options"
import { isBloomFilter } from "./bloomFilter.js"
import { Policy } from "./localCacheOptions.js"

const Lookup = Schema.declare(
  (u: unknown): u is (key: string) => unknown => typeof u === "function",
  { identifier: "Lookup", message: () => "Expected a function (key) => Effect<Option<V>>" }
)

const BloomFilterGate = Schema.declare(isBloomFilter, {
  identifier: "BloomFilter",
  message: () => "Expected a BloomFilter made with BloomFilter.make"
})

export const EarlyRefresh = Schema.Union(
  Schema.Struct({ beta: Schema.optionalWith(PositiveNumber, { default: () => 1, exact: true }) }),
  Schema.Literal(false)
)

export const ProtectedCacheOptions = Schema.Struct({
  name: Name,
  lookup: Lookup,
  ttl: PositiveDuration,
  maximumSize: Schema.optionalWith(PositiveInt, { default: () => 10_000, exact: true }),
  policy: Schema.optionalWith(Policy, { default: () => "wTinyLfu" as const, exact: true }),
  ttlJitter: Schema.optionalWith(Ratio, { default: () => 0.1, exact: true }),
  negativeTtl: Schema.optionalWith(Schema.Union(PositiveDuration, Schema.Literal(false)), { exact: true }),
  singleFlight: Schema.optionalWith(Schema.Boolean, { default: () => true, exact: true }),
  earlyRefresh: Schema.optionalWith(EarlyRefresh, { default: () => ({ beta: 1 }), exact: true }),
  bloomFilter: Schema.optionalWith(BloomFilterGate, { exact: true })
})
