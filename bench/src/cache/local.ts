/**
 * LocalCache against lru-cache, a plain Map and effect's `Cache`, all measured in this one run:
 *
 * 1. Hit ratios on seeded traces of 1e6 requests over 1e5 keys (Zipf 0.9, and Zipf 0.9 with a
 *    10,000-key scan of new keys every 23,000 requests) at 1% and 10% of the keys, for every
 *    policy, lru-cache, and Bélády's offline optimum (OPT).
 * 2. Throughput: synchronous hits and misses-with-eviction, and an Effect `get` of a hit.
 */
import * as LocalCache from "@rampart/cache/LocalCache"
import { Cache, Effect, Exit, Scope } from "effect"
import { LRUCache } from "lru-cache"
import { type Case, formatNs, measure } from "../harness.js"
import { opt, scanTrace, zipfTrace } from "@rampart/testing/Traces"

const REQUESTS = 1_000_000
const KEYS = 100_000
const SEED = 42
const POLICIES: ReadonlyArray<LocalCache.Policy> = ["wTinyLfu", "lru", "lfu", "fifo"]

const scope = Effect.runSync(Scope.make())

const makeCache = <K, V>(options: LocalCache.LocalCacheOptionsInput<K, V>): LocalCache.LocalCache<K, V> =>
  Effect.runSync(Scope.extend(LocalCache.make(options), scope))

const replay = (get: (key: number) => number | undefined, set: (key: number) => void, trace: Int32Array): number => {
  let hits = 0
  for (let i = 0; i < trace.length; i++) {
    const key = trace[i]!
    if (get(key) !== undefined) hits++
    else set(key)
  }
  return hits
}

export interface HitRatioRow {
  readonly trace: string
  readonly capacity: number
  readonly opt: number
  readonly lruCache: number
  readonly policies: ReadonlyArray<{ readonly policy: LocalCache.Policy; readonly hits: number }>
}

/** Replays every trace through every policy, lru-cache and OPT; returns hit counts. */
export const hitRatios = (): ReadonlyArray<HitRatioRow> => {
  const base = { requests: REQUESTS, keys: KEYS, exponent: 0.9, seed: SEED }
  const traces: ReadonlyArray<[string, Int32Array]> = [
    ["Zipf 0.9", zipfTrace(base)],
    ["Zipf 0.9 + scans", scanTrace({ ...base, every: 23_000, scanLength: 10_000 })]
  ]
  const rows: Array<HitRatioRow> = []
  for (const [name, trace] of traces) {
    for (const capacity of [KEYS / 100, KEYS / 10]) {
      const lru = new LRUCache<number, number>({ max: capacity })
      const lruCache = replay((key) => lru.get(key), (key) => lru.set(key, key), trace)
      const policies = POLICIES.map((policy) => {
        const cache = makeCache<number, number>({ name: `bench-${policy}`, policy, maximumSize: capacity })
        return { policy, hits: replay(cache.unsafeGet, (key) => cache.unsafeSet(key, key), trace) }
      })
      rows.push({ trace: name, capacity, opt: opt(trace, capacity), lruCache, policies })
    }
  }
  return rows
}

const percent = (hits: number) => `${(100 * hits / REQUESTS).toFixed(1)}%`
const ofOpt = (hits: number, optimum: number) => `${percent(hits)} (${(hits / optimum).toFixed(2)})`

const printHitRatios = (rows: ReadonlyArray<HitRatioRow>) => {
  console.log(`\n### LocalCache hit ratio (${REQUESTS / 1e6}M requests over ${KEYS / 1000}k keys; in parentheses: fraction of OPT)\n`)
  const header = ["trace", "size", "OPT", "lru-cache", ...POLICIES.map((policy) => (policy === "wTinyLfu" ? "wTinyLfu (default)" : policy))]
  const lines = rows.map((row) => [
    row.trace,
    `${row.capacity} (${(100 * row.capacity / KEYS).toFixed(0)}%)`,
    percent(row.opt),
    ofOpt(row.lruCache, row.opt),
    ...row.policies.map(({ hits, policy }) =>
      `${ofOpt(hits, row.opt)}${policy === "lru" ? (hits === row.lruCache ? " =" : " ≠ lru-cache") : ""}`
    )
  ])
  const widths = header.map((cell, column) => Math.max(cell.length, ...lines.map((line) => line[column]!.length)))
  const format = (cells: ReadonlyArray<string>) => `| ${cells.map((cell, column) => cell.padEnd(widths[column]!)).join(" | ")} |`
  console.log(format(header))
  console.log(`| ${widths.map((width) => "-".repeat(width)).join(" | ")} |`)
  for (const line of lines) console.log(format(line))
  console.log("\n`=`: the same hit count as lru-cache, exactly.")
}

const HOT_KEYS = 1 << 12
const hotKeys = Array.from({ length: HOT_KEYS }, (_, i) => `key:${i}`)
const coldKeys = Array.from({ length: 1 << 17 }, (_, i) => `cold:${i}`)

const syncCase = (name: string, run: (iterations: number) => number): Case => ({
  name,
  family: "sync",
  run: (iterations) => {
    const sink = run(iterations)
    if (sink === -1) console.log(sink)
    return Promise.resolve()
  }
})

/** N calls in one Effect program, driven by `Effect.whileLoop` (cheaper per step than a generator). */
const effectCase = (name: string, call: (key: string) => Effect.Effect<unknown, unknown>): Case => ({
  name,
  family: "effect",
  run: (iterations) => {
    let i = 0
    let count = 0
    return Effect.runPromise(
      Effect.whileLoop({
        while: () => i < iterations,
        body: () => call(hotKeys[i++ & (HOT_KEYS - 1)]!),
        step: (value) => {
          if (value !== undefined) count++
        }
      }) as Effect.Effect<void>
    ).then(() => {
      if (count === -1) console.log(count)
    })
  }
})

const throughputCases = async () => {
  // Hits: every key of the loop is held.
  const lruHit = new LRUCache<string, number>({ max: 10_000 })
  const mapHit = new Map<string, number>()
  const tinyHit = makeCache<string, number>({ name: "bench-hit", maximumSize: 10_000 })
  const lruModeHit = makeCache<string, number>({ name: "bench-hit-lru", policy: "lru", maximumSize: 10_000 })
  for (const [i, key] of hotKeys.entries()) {
    lruHit.set(key, i)
    mapHit.set(key, i)
    tinyHit.unsafeSet(key, i)
    lruModeHit.unsafeSet(key, i)
  }
  const hitLoop = (get: (key: string) => number | undefined) => (iterations: number) => {
    let sum = 0
    for (let i = 0; i < iterations; i++) sum += get(hotKeys[i & (HOT_KEYS - 1)]!) ?? 0
    return sum
  }
  // Misses with eviction: 1,000 entries, keys never held (a cycle of 131,072).
  const lruMiss = new LRUCache<string, number>({ max: 1000 })
  const mapMiss = new Map<string, number>()
  const tinyMiss = makeCache<string, number>({ name: "bench-miss", maximumSize: 1000 })
  const lruModeMiss = makeCache<string, number>({ name: "bench-miss-lru", policy: "lru", maximumSize: 1000 })
  let cursor = 0
  const missLoop = (get: (key: string) => number | undefined, set: (key: string, value: number) => void) =>
  (iterations: number) => {
    let sum = 0
    for (let i = 0; i < iterations; i++) {
      const key = coldKeys[cursor++ & ((1 << 17) - 1)]!
      const value = get(key)
      if (value === undefined) set(key, i)
      else sum += value
    }
    return sum
  }
  const mapFifoSet = (key: string, value: number) => {
    mapMiss.set(key, value)
    if (mapMiss.size > 1000) mapMiss.delete(mapMiss.keys().next().value!)
  }
  const sync: ReadonlyArray<Case> = [
    syncCase("hit: Map.get", hitLoop((key) => mapHit.get(key))),
    syncCase("hit: lru-cache get", hitLoop((key) => lruHit.get(key))),
    syncCase("hit: LocalCache unsafeGet (wTinyLfu)", hitLoop(tinyHit.unsafeGet)),
    syncCase("hit: LocalCache unsafeGet (lru)", hitLoop(lruModeHit.unsafeGet)),
    syncCase("miss+evict: Map (FIFO by keys())", missLoop((key) => mapMiss.get(key), mapFifoSet)),
    syncCase("miss+evict: lru-cache", missLoop((key) => lruMiss.get(key), (key, value) => lruMiss.set(key, value))),
    syncCase("miss+evict: LocalCache (wTinyLfu)", missLoop(tinyMiss.unsafeGet, tinyMiss.unsafeSet)),
    syncCase("miss+evict: LocalCache (lru)", missLoop(lruModeMiss.unsafeGet, lruModeMiss.unsafeSet))
  ]
  // Effect API: a hit through our loading cache, getOption, and effect's Cache.get.
  const loading = Effect.runSync(Scope.extend(
    LocalCache.makeLoading({ name: "bench-loading", maximumSize: 10_000, lookup: (key: string) => Effect.succeed(key.length) }),
    scope
  ))
  const effectCache = await Effect.runPromise(
    Cache.make({ capacity: 10_000, timeToLive: Infinity, lookup: (key: string) => Effect.succeed(key.length) })
  )
  for (const key of hotKeys) {
    Effect.runSync(loading.get(key))
    await Effect.runPromise(effectCache.get(key))
  }
  const effect: ReadonlyArray<Case> = [
    effectCase("loop baseline: Effect.succeed", (key) => Effect.succeed(key)),
    effectCase("hit: effect Cache.get", (key) => effectCache.get(key)),
    effectCase("hit: LocalCache.get (loading)", loading.get),
    effectCase("hit: LocalCache.getOption", (key) => LocalCache.getOption(tinyHit, key))
  ]
  return { sync, effect }
}

const printThroughput = (
  title: string,
  results: ReadonlyArray<{ readonly name: string; readonly nsPerCall: number }>,
  against: (name: string) => string | undefined
) => {
  const byName = new Map(results.map((result) => [result.name, result]))
  console.log(`\n### ${title}\n`)
  const header = ["case", "ns/op", "ops/s", "vs reference"]
  const lines = results.map((result) => {
    const reference = against(result.name)
    const other = reference === undefined ? undefined : byName.get(reference)
    const ratio = other === undefined || other === result ? "" : `${(other.nsPerCall / result.nsPerCall).toFixed(2)}× ${reference}`
    return [result.name, formatNs(result.nsPerCall), `${(1000 / result.nsPerCall).toFixed(1)}M`, ratio]
  })
  const widths = header.map((cell, column) => Math.max(cell.length, ...lines.map((line) => line[column]!.length)))
  const format = (cells: ReadonlyArray<string>) => `| ${cells.map((cell, column) => cell.padEnd(widths[column]!)).join(" | ")} |`
  console.log(format(header))
  console.log(`| ${widths.map((width) => "-".repeat(width)).join(" | ")} |`)
  for (const line of lines) console.log(format(line))
}

export const localCacheBench = async (options: { readonly iterations: number; readonly rounds: number }) => {
  printHitRatios(hitRatios())
  const { effect, sync } = await throughputCases()
  const syncResults = await measure(sync, {
    iterations: options.iterations * 20,
    rounds: options.rounds,
    warmup: options.iterations * 20
  })
  printThroughput("LocalCache synchronous throughput (ratio: reference ns / ours, >1 = faster)", syncResults, (name) =>
    name.startsWith("hit:") ? "hit: lru-cache get" : "miss+evict: lru-cache")
  const effectResults = await measure(effect, { iterations: options.iterations, rounds: options.rounds, warmup: options.iterations })
  printThroughput("LocalCache Effect get of a hit (inside one Effect program)", effectResults, () => "hit: effect Cache.get")
  await Effect.runPromise(Scope.close(scope, Exit.void))
}
