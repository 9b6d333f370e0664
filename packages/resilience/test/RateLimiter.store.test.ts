import { describe, expect, it } from "@effect/vitest"
import * as RateLimiterStore from "../src/RateLimiterStore.js"
import { caseArbitraries, configAndModel } from "./support/rateLimitModels.js"

describe("RateLimiterStore memory", () => {
  it.prop(
    "agrees with a millisecond-stepping model on every answer (allowed, remaining, exact retryAfter), idle eviction included",
    caseArbitraries,
    ({ algorithm, commands, idleTimeout, limit, rate, start, window }) => {
      const store = RateLimiterStore.makeMemory()
      const { config, model } = configAndModel(algorithm, limit, rate, window, idleTimeout)
      let now = start
      for (const { advance, cost, key } of commands) {
        now += advance
        const c = Math.min(cost, limit)
        expect(store.unsafeTake(key, c, now, config)).toEqual(model.take(key, c, now))
      }
      expect(store.unsafeSize()).toBeLessThanOrEqual(4)
    },
    { fastCheck: { numRuns: 200 } }
  )
})
