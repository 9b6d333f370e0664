/**
 * `npm run bench`: every suite, or the ones named on the command line (`npm run bench -- cache`).
 * Set BENCH_ITERATIONS / BENCH_ROUNDS to trade precision for time.
 */
import { balancingBench } from "./balancing.js"
import { distributedCacheBench } from "./cache/distributed.js"
import { discoveryBench } from "./discovery.js"
import { localCacheBench } from "./cache/local.js"
import { resilienceBench } from "./resilience.js"
import { transactionBench } from "./transaction.js"

const setting = (name: string, fallback: number) => Number(process.env[name] ?? fallback)

const suites: Record<string, () => Promise<unknown>> = {
  resilience: () =>
    resilienceBench({ iterations: setting("BENCH_ITERATIONS", 50_000), rounds: setting("BENCH_ROUNDS", 7) }),
  cache: async () => {
    await localCacheBench({ iterations: setting("BENCH_ITERATIONS", 200_000), rounds: setting("BENCH_ROUNDS", 5) })
    await distributedCacheBench({ iterations: setting("BENCH_ITERATIONS", 20_000), rounds: setting("BENCH_ROUNDS", 5) })
  },
  balancing: () =>
    balancingBench({ iterations: setting("BENCH_ITERATIONS", 100_000), rounds: setting("BENCH_ROUNDS", 5) }),
  discovery: () =>
    discoveryBench({
      lookups: setting("BENCH_ITERATIONS", 1_000_000),
      samples: setting("BENCH_SAMPLES", 1_000),
      rounds: setting("BENCH_ROUNDS", 5)
    }),
  transaction: () =>
    transactionBench({
      transactions: setting("BENCH_TRANSACTIONS", 400),
      sagas: setting("BENCH_SAGAS", 4_000),
      rounds: setting("BENCH_ROUNDS", 5)
    })
}

const wanted = process.argv.slice(2).filter((name) => name in suites)
const selected = wanted.length > 0 ? wanted : Object.keys(suites)

console.log(`Rampart benchmarks on Node ${process.version} (${process.arch}); suites: ${selected.join(", ")}`)
if ((globalThis as { gc?: unknown }).gc === undefined) console.log("(run with --expose-gc for memory figures)")
for (const name of selected) await suites[name]!()
