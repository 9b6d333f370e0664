import { describe, expect, it } from "@effect/vitest"
import { Effect } from "effect"
import * as Bulkhead from "../src/Bulkhead.js"
import * as CircuitBreaker from "../src/CircuitBreaker.js"
import type { BulkheadFull, CircuitBreakerOpen, TimeoutExceeded } from "../src/Errors.js"
import * as Policy from "../src/Policy.js"
import * as Timeout from "../src/Timeout.js"

describe("Policy types", () => {
  it.effect("compose collects the errors of its members and adds no requirements", () =>
    Effect.gen(function*() {
      const timeout = yield* Timeout.make({ name: "t", duration: 1000 })
      const breaker = yield* CircuitBreaker.make({ name: "b" })
      const bulkhead = yield* Bulkhead.make({ name: "h", maxConcurrent: 1 })
      const pipeline = Policy.compose(timeout, breaker, bulkhead)
      const protectedCall: Effect.Effect<number, "boom" | TimeoutExceeded | CircuitBreakerOpen | BulkheadFull, never> =
        Effect.fail("boom" as const).pipe(Effect.as(1), Policy.protect(pipeline))
      const exit = yield* Effect.exit(protectedCall)
      expect(exit._tag).toBe("Failure")
    }))
})
