import { describe, expect, it } from "@effect/vitest"
import { Effect } from "effect"
import { discoveryTour } from "../src/discovery.js"

describe("tour: discovery", () => {
  it.live("three instances register, the hung one leaves after its TTL, shutdown deregisters first, config reaches the service", () =>
    Effect.gen(function*() {
      const { config, registry, shutdown } = yield* discoveryTour
      expect(registry.views).toEqual([
        [],
        ["orders-1"],
        ["orders-1", "orders-2"],
        ["orders-1", "orders-2", "orders-3"],
        ["orders-1", "orders-2"],
        ["orders-1"]
      ])
      expect(registry.hung).toBe("orders-3")
      // Never before the lease lapses (how soon after is a benchmark figure, not a test assertion).
      expect(registry.departureMillis).toBeGreaterThanOrEqual(registry.ttlMillis - 1)

      expect(shutdown.leftWhileInFlight).toBe(true)
      expect(shutdown.refused).toContain("shutting down")
      expect(shutdown.reply).toBe("order #1042 accepted")

      expect(config.key).toBe("prod/orders/pool.max")
      expect(config.atStartup).toBe(10)
      expect(config.seen).toEqual([10, 25])
      expect(config.refusedMessage).toContain("between 1 and 100")
      expect(config.liveRead).toBe(25)
    }), 15_000)
})
