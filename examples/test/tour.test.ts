import { describe, expect, it } from "@effect/vitest"
import { Effect } from "effect"
import { resilienceTour } from "../src/resilience.js"

describe("tour: resilience", () => {
  // The tour runs on the real clock (it is a demonstration), so this test is live; it asserts the
  // story the tour tells, not its wording.
  it.live("the breaker opens, rejects fast, re-opens on a failed probe and recovers", () =>
    Effect.gen(function*() {
      const report = yield* resilienceTour
      expect(report.transitions).toEqual([
        "Closed -> Open",
        "Open -> HalfOpen",
        "HalfOpen -> Open",
        "Open -> HalfOpen",
        "HalfOpen -> Closed"
      ])
      expect(report.rejectedFast).toBeGreaterThan(0)
      expect(report.bulkhead).toEqual({ admitted: 6, rejected: 6 })
      expect(report.budget.attempts).toBeLessThan(report.budget.attemptsWithoutBudget / 2)
      expect(report.budget.attempts).toBeGreaterThanOrEqual(report.budget.calls)
    }))
})
