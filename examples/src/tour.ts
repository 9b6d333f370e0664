/**
 * The Rampart tour: `npm start` runs every section on embedded defaults (memory, SQLite file),
 * with no server to install. Each section is an ordinary Effect program you can read and copy.
 */
import { Console, Effect } from "effect"
import { cacheTour, printCacheReport } from "./cache.js"
import { discoveryTour, printDiscoveryReport } from "./discovery.js"
import { printResilienceReport, resilienceTour } from "./resilience.js"
import { printTransactionReport, transactionTour } from "./transaction.js"

const banner = (title: string) => Console.log(`\n== ${title} ${"=".repeat(Math.max(0, 72 - title.length))}`)

const program = Effect.gen(function*() {
  yield* Console.log("Rampart: distributed-systems patterns for Effect")
  yield* banner("Resilience: a flaky downstream behind timeout > retry > circuit breaker > bulkhead")
  const report = yield* resilienceTour
  yield* printResilienceReport(report)
  yield* banner("Cache: eviction policies, a stampede, a penetration attack")
  yield* printCacheReport(yield* cacheTour)
  yield* banner("Transactions: a saga that compensates, a 2PC transfer that survives a crash")
  yield* printTransactionReport(yield* transactionTour)
  yield* banner("Discovery: three instances register, one hangs, a config change reaches a running service")
  yield* printDiscoveryReport(yield* discoveryTour)
  yield* Console.log("\nTour finished.")
})

Effect.runPromise(program).catch((error: unknown) => {
  console.error(error)
  process.exitCode = 1
})
