import { describe, expect, it } from "@effect/vitest"
import { Effect } from "effect"
import { cacheTour } from "../src/cache.js"

describe("tour: cache", () => {
  it.effect("W-TinyLFU beats LRU on the trace, single-flight runs one lookup, the Bloom filter stops penetration", () =>
    Effect.gen(function*() {
      const report = yield* cacheTour
      const ratio = (policy: string) => report.hitRatios.find((row) => row.policy === policy)?.hitRatio ?? Number.NaN
      expect(ratio("wTinyLfu")).toBeGreaterThan(ratio("lru"))
      expect(ratio("OPT")).toBeGreaterThanOrEqual(ratio("wTinyLfu"))
      expect(report.stampede.lookups).toBe(1)
      expect(report.penetration.backendQueriesWithoutFilter).toBe(report.penetration.probes)
      // Only the filter's false positives (target 1%) reach the backend.
      expect(report.penetration.backendQueriesWithFilter).toBeLessThan(report.penetration.probes * 0.03)
    }))
})
