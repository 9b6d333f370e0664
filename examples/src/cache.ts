/**
 * The cache section of the tour: the eviction policies on one seeded Zipf trace against the
 * offline optimum, a hot key's stampede absorbed by single-flight, and a penetration attack
 * (lookups of ids that do not exist) stopped by a Bloom filter. Everything runs in memory.
 * `cacheTour` returns what happened as data; `printCacheReport` prints it.
 */
import { BloomFilter, LocalCache, ProtectedCache } from "@rampart/cache"
import { opt, zipfTrace } from "@rampart/testing/Traces"
import { Console, Deferred, Effect, Fiber, Option } from "effect"

export interface CacheReport {
  readonly trace: { readonly requests: number; readonly keys: number; readonly capacity: number }
  /** Hit ratio per policy, plus "OPT" (Bélády's optimum, computed offline). */
  readonly hitRatios: ReadonlyArray<{ readonly policy: string; readonly hitRatio: number }>
  readonly stampede: { readonly callers: number; readonly lookups: number }
  readonly penetration: {
    readonly probes: number
    readonly backendQueriesWithoutFilter: number
    readonly backendQueriesWithFilter: number
  }
}

const policies = ["wTinyLfu", "lru", "lfu", "fifo"] as const

/** Replays the trace through a cache: a miss loads the key (here: just stores it). */
const hitRatioOf = (policy: LocalCache.Policy, trace: Int32Array, capacity: number) =>
  Effect.scoped(
    Effect.gen(function*() {
      const cache = yield* LocalCache.make<number, number>({ name: `tour-${policy}`, policy, maximumSize: capacity })
      let hits = 0
      for (const key of trace) {
        if (cache.unsafeGet(key) !== undefined) hits++
        else cache.unsafeSet(key, key)
      }
      return hits / trace.length
    })
  )

const hitRatios = (trace: Int32Array, capacity: number) =>
  Effect.gen(function*() {
    const measured = yield* Effect.forEach(policies, (policy) =>
      Effect.map(hitRatioOf(policy, trace, capacity), (hitRatio) => ({ policy, hitRatio })))
    return [...measured, { policy: "OPT", hitRatio: opt(trace, capacity) / trace.length }]
  })

/** 500 callers ask for a hot key at the moment it is missing; the slow lookup runs once. */
const stampede = Effect.scoped(
  Effect.gen(function*() {
    let lookups = 0
    const release = yield* Deferred.make<void>()
    const cache = yield* LocalCache.makeLoading<string, string>({
      name: "tour-stampede",
      maximumSize: 100,
      lookup: (key) =>
        Effect.sync(() => lookups++).pipe(Effect.zipRight(Deferred.await(release)), Effect.as(`value of ${key}`))
    })
    const callers = 500
    const fiber = yield* Effect.fork(
      Effect.all(Array.from({ length: callers }, () => cache.get("hot")), { concurrency: "unbounded" })
    )
    // Let every caller arrive before the lookup finishes: all of them miss.
    for (let i = 0; i < 1000 && cache.unsafeStats().misses < callers; i++) yield* Effect.yieldNow()
    yield* Deferred.succeed(release, undefined)
    yield* Fiber.join(fiber)
    return { callers, lookups }
  })
)

/** 10,000 lookups of ids that do not exist, with and without a Bloom filter of the real ids. */
const penetration = Effect.scoped(
  Effect.gen(function*() {
    const existing = Array.from({ length: 5_000 }, (_, i) => `product-${i}`)
    const rows = new Set(existing)
    const probes = Array.from({ length: 10_000 }, (_, i) => `ghost-${i}`)
    const backend = () => {
      let queries = 0
      const lookup = (id: string) =>
        Effect.sync(() => {
          queries++
          return rows.has(id) ? Option.some(id) : Option.none<string>()
        })
      return { lookup, queries: () => queries }
    }

    const plainBackend = backend()
    const plain = yield* ProtectedCache.make({ name: "tour-plain", ttl: "1 minute", lookup: plainBackend.lookup })
    yield* Effect.forEach(probes, (id) => ProtectedCache.get(plain, id), { discard: true })

    const gatedBackend = backend()
    const known = yield* BloomFilter.make({ expectedItems: existing.length, falsePositiveRate: 0.01 })
    yield* BloomFilter.addAll(known, existing)
    const gated = yield* ProtectedCache.make({
      name: "tour-gated",
      ttl: "1 minute",
      bloomFilter: known,
      lookup: gatedBackend.lookup
    })
    yield* Effect.forEach(probes, (id) => ProtectedCache.get(gated, id), { discard: true })

    return {
      probes: probes.length,
      backendQueriesWithoutFilter: plainBackend.queries(),
      backendQueriesWithFilter: gatedBackend.queries()
    }
  })
)

export const cacheTour: Effect.Effect<CacheReport> = Effect.gen(function*() {
  const trace = { requests: 200_000, keys: 20_000, capacity: 200 }
  const requests = zipfTrace({ requests: trace.requests, keys: trace.keys, exponent: 0.9, seed: 42 })
  return {
    trace,
    hitRatios: yield* hitRatios(requests, trace.capacity),
    stampede: yield* stampede,
    penetration: yield* penetration
  }
}).pipe(Effect.orDie)

const percent = (ratio: number) => `${(ratio * 100).toFixed(1)}%`

export const printCacheReport = (report: CacheReport) =>
  Effect.gen(function*() {
    const { capacity, keys, requests } = report.trace
    yield* Console.log(
      `Zipf(0.9) trace, ${requests.toLocaleString("en")} requests over ${keys.toLocaleString("en")} keys, ` +
        `cache of ${capacity} entries (1%):`
    )
    const optimum = report.hitRatios.find((row) => row.policy === "OPT")?.hitRatio ?? 1
    for (const { hitRatio, policy } of report.hitRatios) {
      const bar = "#".repeat(Math.round(hitRatio * 50))
      const ofOpt = policy === "OPT" ? "" : ` (${percent(hitRatio / optimum)} of OPT)`
      yield* Console.log(`  ${policy.padEnd(9)} ${percent(hitRatio).padStart(6)} ${bar}${ofOpt}`)
    }
    const { callers, lookups } = report.stampede
    yield* Console.log(`Stampede: ${callers} callers missed a hot key at once; single-flight ran ${lookups} lookup.`)
    const { backendQueriesWithFilter, backendQueriesWithoutFilter, probes } = report.penetration
    yield* Console.log(
      `Penetration: ${probes.toLocaleString("en")} lookups of ids that do not exist reached the backend ` +
        `${backendQueriesWithoutFilter.toLocaleString("en")} times without a Bloom filter, ` +
        `${backendQueriesWithFilter} times with one (its false positives).`
    )
  })
