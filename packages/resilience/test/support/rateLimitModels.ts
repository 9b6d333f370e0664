import { FastCheck as fc } from "effect"
import type * as RateLimiterStore from "../../src/RateLimiterStore.js"

/**
 * Obviously-correct models: state per key, time advanced one millisecond at a time, no eviction.
 * `retryAfter` is found by stepping the model forward until the call would pass.
 */
export interface Model {
  readonly take: (key: string, cost: number, now: number) => RateLimiterStore.TakeResult
}

export const tokenBucketModel = (capacity: number, refillRate: number, period: number): Model => {
  // tokens × period, refilled by refillRate per millisecond (= refillRate tokens per period).
  const buckets = new Map<string, { tokens: number; time: number }>()
  const refill = (bucket: { tokens: number; time: number }, now: number) => {
    for (; bucket.time < now; bucket.time++) bucket.tokens = Math.min(capacity * period, bucket.tokens + refillRate)
  }
  return {
    take: (key, cost, now) => {
      const bucket = buckets.get(key) ?? { tokens: capacity * period, time: now }
      buckets.set(key, bucket)
      refill(bucket, now)
      if (bucket.tokens >= cost * period) {
        bucket.tokens -= cost * period
        return { allowed: true, remaining: Math.floor(bucket.tokens / period), retryAfterMillis: 0 }
      }
      let wait = 0
      for (let tokens = bucket.tokens; tokens < cost * period; wait++) tokens += refillRate
      return { allowed: false, remaining: Math.floor(bucket.tokens / period), retryAfterMillis: wait }
    }
  }
}

export const windowModel = (sliding: boolean, limit: number, window: number): Model => {
  const counts = new Map<string, number>()
  const count = (key: string, index: number) => counts.get(`${key}@${index}`) ?? 0
  /** previous × (window − elapsed) / window + current + cost ≤ limit, multiplied through by window. */
  const fits = (key: string, cost: number, at: number) => {
    const index = Math.floor(at / window)
    const previous = sliding ? count(key, index - 1) : 0
    return previous * (window - (at - index * window)) + (count(key, index) + cost) * window <= limit * window
  }
  return {
    take: (key, cost, now) => {
      const index = Math.floor(now / window)
      const previous = sliding ? count(key, index - 1) : 0
      const weight = previous * (window - (now - index * window))
      if (fits(key, cost, now)) {
        counts.set(`${key}@${index}`, count(key, index) + cost)
        return {
          allowed: true,
          remaining: Math.floor((limit * window - weight - count(key, index) * window) / window),
          retryAfterMillis: 0
        }
      }
      let wait = 1
      while (!fits(key, cost, now + wait)) wait++
      return {
        allowed: false,
        remaining: Math.max(0, Math.floor((limit * window - weight - count(key, index) * window) / window)),
        retryAfterMillis: wait
      }
    }
  }
}

/** Random command sequences: time advances, keys and costs. */
export const commands = fc.array(
  fc.record({
    advance: fc.oneof(fc.constant(0), fc.integer({ min: 1, max: 30 })),
    key: fc.constantFrom("a", "b", "c", "d"),
    cost: fc.integer({ min: 1, max: 6 })
  }),
  { minLength: 1, maxLength: 80 }
)

export type Algorithm = "TokenBucket" | "FixedWindow" | "SlidingWindow"

/** The store config and the model for one generated case. */
export const configAndModel = (
  algorithm: Algorithm,
  limit: number,
  rate: number,
  window: number,
  idleTimeout: number
): { readonly config: RateLimiterStore.RateLimitConfig; readonly model: Model } => ({
  config: algorithm === "TokenBucket"
    ? { _tag: algorithm, capacity: limit, refillRate: rate, refillPeriodMillis: window, idleTimeoutMillis: idleTimeout }
    : { _tag: algorithm, limit, windowMillis: window, idleTimeoutMillis: idleTimeout },
  model: algorithm === "TokenBucket"
    ? tokenBucketModel(limit, rate, window)
    : windowModel(algorithm === "SlidingWindow", limit, window)
})

/** The generated parameters of one case. */
export const caseArbitraries = {
  algorithm: fc.constantFrom("TokenBucket" as const, "FixedWindow" as const, "SlidingWindow" as const),
  limit: fc.integer({ min: 1, max: 6 }),
  rate: fc.integer({ min: 1, max: 5 }),
  window: fc.integer({ min: 1, max: 40 }),
  idleTimeout: fc.integer({ min: 0, max: 50 }),
  start: fc.integer({ min: 0, max: 1_000_000 }),
  commands
}
