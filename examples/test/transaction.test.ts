import { describe, expect, it } from "@effect/vitest"
import { Effect } from "effect"
import { transactionTour } from "../src/transaction.js"

describe("tour: transactions", () => {
  it.live("the saga compensates every started step in reverse; 2PC recovers a logged commit after a crash", () =>
    Effect.gen(function*() {
      const { saga, twoPhase } = yield* transactionTour
      expect(saga.status).toBe("RolledBack")
      expect(saga.compensated).toEqual(["chargePayment", "reserveStock"])
      expect(saga.ran).not.toContain("shipOrder")
      expect(saga.stockLeft).toBe(10)

      expect(twoPhase.crashed).toBe(true)
      expect(twoPhase.decisionLogged).toBe("commit")
      expect(twoPhase.balancesAfterCrash).toEqual({ alice: 100, bob: 20 })
      expect(twoPhase.recovered).toEqual(["transfer-42"])
      expect(twoPhase.balancesAfterRecovery).toEqual({ alice: 70, bob: 50 })
    }))
})
