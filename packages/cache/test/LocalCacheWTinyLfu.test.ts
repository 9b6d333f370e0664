import { describe, expect, it } from "@effect/vitest"
import { Effect, Exit, FastCheck as fc, Scope } from "effect"
import * as LocalCache from "../src/LocalCache.js"

/**
 * A W-TinyLFU cache of `maximumSize` (1% window, protected 80% of main) driven through the sync
 * API, with every removal recorded. The hill climber samples 2 x 81,920 requests, far more than
 * these workloads make, so the segment sizes stay at their initial values.
 */
const makeCache = (maximumSize: number) => {
  const removals: Array<{ readonly key: number; readonly cause: LocalCache.RemovalCause }> = []
  const scope = Effect.runSync(Scope.make())
  const cache = Effect.runSync(
    LocalCache.make<number, number>({
      name: "w-tinylfu",
      maximumSize,
      onRemoval: (key, _value, cause) => void removals.push({ key, cause })
    }).pipe(Scope.extend(scope))
  )
  const close = () => Effect.runSync(Scope.close(scope, Exit.void))
  return { cache, removals, close }
}

describe("LocalCache W-TinyLFU protected segment (second chance)", () => {
  it("keeps a hot set resident while promotions of a warm set keep overflowing protected and one-hit keys stream through", () => {
    const maximumSize = 100
    const { cache, close, removals } = makeCache(maximumSize)
    // Hot: 10 keys read every round. Warm: 80 keys read round-robin, 16 a round (each every fifth
    // round). Hot + warm (90) fit in the cache but not in protected (79): warm keys are promoted,
    // demoted and promoted again, so protected overflows on most promotions and its clock hand keeps
    // meeting the hot keys, marked by their hit since its last pass (instrumented while writing this
    // test: ~6,000 overflows and ~950 second chances over these 400 rounds). Five one-hit keys a
    // round push the cache over its bound.
    const hot = Array.from({ length: 10 }, (_, i) => i)
    const warm = Array.from({ length: 80 }, (_, i) => 100 + i)
    const readOrWrite = (key: number) => {
      if (cache.unsafeGet(key) === undefined) cache.unsafeSet(key, key)
    }
    let next = 1_000
    for (let round = 0; round < 400; round++) {
      for (const key of hot) {
        if (round === 0) readOrWrite(key)
        else expect(cache.unsafeGet(key)).toBe(key)
      }
      for (let i = 0; i < 16; i++) readOrWrite(warm[(round * 16 + i) % warm.length]!)
      for (let i = 0; i < 5; i++) {
        cache.unsafeSet(next, next)
        next++
        expect(cache.unsafeSize()).toBeLessThanOrEqual(maximumSize)
      }
    }

    // The hot set never left.
    for (const key of hot) expect(cache.unsafePeek(key)).toBe(key)
    expect(removals.filter(({ key }) => key < 100)).toEqual([])
    // Every removal was an eviction, reported once, of a key no longer held.
    expect(removals.length).toBeGreaterThan(1_000)
    expect(removals.every(({ cause }) => cause === "Size")).toBe(true)
    const removed = new Set(removals.map(({ key }) => key))
    for (const key of removed) {
      if (key >= 1_000) expect(cache.unsafeHas(key)).toBe(false)
    }
    expect(new Set(removals.filter(({ key }) => key >= 1_000).map(({ key }) => key)).size)
      .toBe(removals.filter(({ key }) => key >= 1_000).length)
    expect(cache.unsafeSize()).toBe(maximumSize)
    expect(cache.unsafeStats().evictions.Size).toBe(removals.length)
    close()
  })

  // What the design guarantees to a key read "on every step": once written and read before the next
  // write, its sketch estimate (doorkeeper + one counter = 2) beats a one-hit key's (1), so it is
  // admitted to probation when it leaves the window (or enters unopposed while the cache is not
  // full); its next read promotes it to protected. One-hit keys are never promoted, so protected
  // never overflows and nothing demotes it; admission's victims come from probation's head, which
  // holds ~90 one-hit keys. So it survives whenever fewer one-hit keys than probation holds are
  // written between two reads (here at most 40, with a cache of 100), even if every one-hit
  // candidate were admitted (in fact they tie with the victim and are rejected). The read right
  // after the first write matters: without it the key ties with the victim and is rejected
  // (checked while writing this test: a third of such runs lose it). The one-hit keys are fixed
  // numbers, so the sketch's (hash-based, unseeded) estimates are the same on every run; only the
  // shape of the sequence is random, and it is far too short for the sketch to age.
  it.prop(
    "a key read between every burst of one-hit writes is never evicted",
    [fc.nat({ max: 150 }), fc.array(fc.nat({ max: 40 }), { minLength: 1, maxLength: 150 })],
    ([prefill, gaps]) => {
      const maximumSize = 100
      const { cache, close, removals } = makeCache(maximumSize)
      let next = 1_000
      for (let i = 0; i < prefill; i++) cache.unsafeSet(next++, 0)
      const hotKey = 1
      cache.unsafeSet(hotKey, 1)
      expect(cache.unsafeGet(hotKey)).toBe(1)
      for (const gap of gaps) {
        for (let i = 0; i < gap; i++) {
          cache.unsafeSet(next++, 0)
          expect(cache.unsafeSize()).toBeLessThanOrEqual(maximumSize)
        }
        expect(cache.unsafeGet(hotKey)).toBe(1)
      }
      expect(removals.some(({ key }) => key === hotKey)).toBe(false)
      expect(removals.every(({ cause }) => cause === "Size")).toBe(true)
      expect(new Set(removals.map(({ key }) => key)).size).toBe(removals.length)
      close()
    },
    { fastCheck: { numRuns: 100 } }
  )
})
