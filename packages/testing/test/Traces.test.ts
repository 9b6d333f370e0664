import { describe, expect, it } from "@effect/vitest"
import { FastCheck as fc } from "effect"
import { opt, scanTrace, zipfTrace } from "../src/Traces.js"

/** Bélády by the book: on a miss with a full cache, evict the key whose next use is furthest away. */
const naiveOpt = (trace: ReadonlyArray<number>, capacity: number): number => {
  const cache = new Set<number>()
  let hits = 0
  trace.forEach((key, i) => {
    if (cache.has(key)) {
      hits++
      return
    }
    cache.add(key)
    if (cache.size <= capacity) return
    const nextUse = (candidate: number) => {
      const at = trace.indexOf(candidate, i + 1)
      return at < 0 ? Number.POSITIVE_INFINITY : at
    }
    let victim = key
    for (const candidate of cache) if (nextUse(candidate) > nextUse(victim)) victim = candidate
    cache.delete(victim)
  })
  return hits
}

describe("Traces", () => {
  it.prop(
    "opt matches a by-the-book Bélády simulation",
    [fc.array(fc.integer({ min: 0, max: 12 }), { maxLength: 200 }), fc.integer({ min: 1, max: 8 })],
    ([trace, capacity]) => {
      expect(opt(Int32Array.from(trace), capacity)).toBe(naiveOpt(trace, capacity))
    }
  )

  it("traces are seeded: the same options give the same requests", () => {
    const options = { requests: 5_000, keys: 1_000, exponent: 0.9, seed: 7 }
    expect(zipfTrace(options)).toEqual(zipfTrace(options))
    expect(zipfTrace(options)).not.toEqual(zipfTrace({ ...options, seed: 8 }))
  })

  it("a Zipf trace favours low keys; a scan trace inserts runs of never-seen keys", () => {
    const trace = zipfTrace({ requests: 20_000, keys: 1_000, exponent: 0.9, seed: 1 })
    const count = (key: number) => trace.filter((k) => k === key).length
    expect(count(0)).toBeGreaterThan(count(10) * 5)
    const scan = scanTrace({ requests: 3_000, keys: 1_000, exponent: 0.9, seed: 1, every: 1_000, scanLength: 500 })
    expect(Array.from(scan.slice(1_000, 1_500))).toEqual(Array.from({ length: 500 }, (_, i) => 1_000 + i))
  })
})
