/**
 * `npm run bench`: every suite, or the ones named on the command line (`npm run bench -- resilience`).
 * Set BENCH_ITERATIONS / BENCH_ROUNDS to trade precision for time.
 */
import { resilienceBench } from "./resilience.js"

const suites: Record<string, () => Promise<unknown>> = {
  resilience: () =>
    resilienceBench({
      iterations: Number(process.env["BENCH_ITERATIONS"] ?? 50_000),
      rounds: Number(process.env["BENCH_ROUNDS"] ?? 7)
    })
}

const wanted = process.argv.slice(2).filter((name) => name in suites)
const selected = wanted.length > 0 ? wanted : Object.keys(suites)

console.log(`Rampart benchmarks on Node ${process.version} (${process.arch}); suites: ${selected.join(", ")}`)
if ((globalThis as { gc?: unknown }).gc === undefined) console.log("(run with --expose-gc for memory figures)")
for (const name of selected) await suites[name]!()
