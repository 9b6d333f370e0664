import { describe, expect, it } from "@effect/vitest"
import { Clock, Effect, Exit, FastCheck as fc, Scope } from "effect"
import * as LocalCache from "../src/LocalCache.js"

/** A clock moved by hand; its sleeps never end, so only lazy expiry runs in these properties. */
const manualClock = () => {
  let now = 1_000_000
  const clock: Clock.Clock = {
    [Clock.ClockTypeId]: Clock.ClockTypeId,
    unsafeCurrentTimeMillis: () => now,
    currentTimeMillis: Effect.sync(() => now),
    unsafeCurrentTimeNanos: () => BigInt(now) * 1_000_000n,
    currentTimeNanos: Effect.sync(() => BigInt(now) * 1_000_000n),
    sleep: () => Effect.never
  }
  return { clock, now: () => now, advance: (millis: number) => void (now += millis) }
}

type Command =
  | { readonly _tag: "set"; readonly key: number; readonly value: number; readonly ttl: number | undefined }
  | { readonly _tag: "get"; readonly key: number }
  | { readonly _tag: "delete"; readonly key: number }
  | { readonly _tag: "advance"; readonly millis: number }

const KEYS = 8
const command: fc.Arbitrary<Command> = fc.oneof(
  { weight: 4, arbitrary: fc.record({ _tag: fc.constant("set" as const), key: fc.nat(KEYS - 1), value: fc.integer({ min: 1, max: 5 }), ttl: fc.option(fc.integer({ min: 1, max: 3000 }), { nil: undefined }) }) },
  { weight: 4, arbitrary: fc.record({ _tag: fc.constant("get" as const), key: fc.nat(KEYS - 1) }) },
  { weight: 1, arbitrary: fc.record({ _tag: fc.constant("delete" as const), key: fc.nat(KEYS - 1) }) },
  { weight: 1, arbitrary: fc.record({ _tag: fc.constant("advance" as const), millis: fc.integer({ min: 1, max: 2000 }) }) }
)

interface ModelEntry {
  value: number
  expiresAt: number
}

interface Removal {
  readonly key: number
  readonly value: number
  readonly cause: LocalCache.RemovalCause
}

const EXPIRE_AFTER_WRITE = 2500

/**
 * The model: the last value written per key with its deadline, and (for LRU and FIFO) the exact
 * order in which the policy evicts. The cache must return exactly the model's fresh value, report
 * every removal once with the model's cause, and never hold more than its bound.
 */
const runModel = (policy: LocalCache.Policy, weighted: boolean, commands: ReadonlyArray<Command>) => {
  const manual = manualClock()
  const removals: Array<Removal> = []
  const scope = Effect.runSync(Scope.make())
  const maximum = weighted ? 10 : 4
  const cache = Effect.runSync(
    LocalCache.make<number, number>({
      name: "model",
      policy,
      ...(weighted ? { maximumWeight: maximum, weigher: (_key: number, value: number) => value } : { maximumSize: maximum }),
      expireAfterWrite: EXPIRE_AFTER_WRITE,
      ttlJitter: 0,
      onRemoval: (key, value, cause) => void removals.push({ key, value, cause })
    }).pipe(Scope.extend(scope), Effect.withClock(manual.clock))
  )
  const model = new Map<number, ModelEntry>()
  // Eviction order for LRU / FIFO: first = next victim.
  const order: Array<number> = []
  const exact = policy === "lru" || policy === "fifo"
  const touch = (key: number) => {
    order.splice(order.indexOf(key), 1)
    order.push(key)
  }
  const weightOf = () => [...model.values()].reduce((sum, entry) => sum + (weighted ? entry.value : 1), 0)

  /** Checks the removals reported since the last step against the model, and applies them. */
  const expectRemovals = (expected: ReadonlyArray<Removal>) => {
    const reported = removals.splice(0)
    const sizeEvictions = reported.filter((removal) => removal.cause === "Size")
    const others = reported.filter((removal) => removal.cause !== "Size")
    expect(others).toEqual(expected)
    for (const removal of sizeEvictions) {
      const entry = model.get(removal.key)
      expect(entry, `evicted key ${removal.key} must be held`).toBeDefined()
      expect(removal.value).toBe(entry!.value)
      if (exact) expect(removal.key).toBe(order[0])
      model.delete(removal.key)
      if (order.includes(removal.key)) order.splice(order.indexOf(removal.key), 1)
    }
    if (exact) {
      // Exactly as many victims as the bound requires.
      let total = weightOf()
      expect(total).toBeLessThanOrEqual(maximum)
      if (sizeEvictions.length > 0) {
        const lastVictim = sizeEvictions[sizeEvictions.length - 1]!
        total += weighted ? lastVictim.value : 1
        expect(total).toBeGreaterThan(maximum)
      }
    }
    expect(cache.unsafeStats().weight).toBeLessThanOrEqual(maximum)
    expect(cache.unsafeSize()).toBe(model.size)
  }

  for (const step of commands) {
    const now = manual.now()
    switch (step._tag) {
      case "set": {
        const existing = model.get(step.key)
        cache.unsafeSet(step.key, step.value, step.ttl)
        const expiresAt = now + (step.ttl ?? EXPIRE_AFTER_WRITE)
        model.set(step.key, { value: step.value, expiresAt })
        if (existing === undefined) order.push(step.key)
        else if (policy === "lru") touch(step.key)
        expectRemovals(existing === undefined ? [] : [{ key: step.key, value: existing.value, cause: "Replaced" }])
        break
      }
      case "get": {
        const entry = model.get(step.key)
        const got = cache.unsafeGet(step.key)
        if (entry === undefined) {
          expect(got).toBeUndefined()
          expectRemovals([])
        } else if (now >= entry.expiresAt) {
          expect(got).toBeUndefined()
          model.delete(step.key)
          order.splice(order.indexOf(step.key), 1)
          expectRemovals([{ key: step.key, value: entry.value, cause: "Expired" }])
        } else {
          expect(got).toBe(entry.value)
          if (policy === "lru") touch(step.key)
          expectRemovals([])
        }
        break
      }
      case "delete": {
        const entry = model.get(step.key)
        const deleted = cache.unsafeDelete(step.key)
        if (entry === undefined) {
          expect(deleted).toBe(false)
          expectRemovals([])
        } else {
          const fresh = now < entry.expiresAt
          expect(deleted).toBe(fresh)
          model.delete(step.key)
          order.splice(order.indexOf(step.key), 1)
          expectRemovals([{ key: step.key, value: entry.value, cause: fresh ? "Explicit" : "Expired" }])
        }
        break
      }
      case "advance":
        manual.advance(step.millis)
        break
    }
    // Never an expired value, whatever the policy.
    for (const [key, entry] of model) {
      expect(cache.unsafePeek(key)).toBe(manual.now() < entry.expiresAt ? entry.value : undefined)
    }
  }
  Effect.runSync(Scope.close(scope, Exit.void))
}

describe("LocalCache (model-based)", () => {
  const policies: ReadonlyArray<LocalCache.Policy> = ["lru", "fifo", "lfu", "wTinyLfu"]
  for (const policy of policies) {
    for (const weighted of [false, true]) {
      const exactly = policy === "lru" || policy === "fifo" ? "evicts exactly the model's victim, " : ""
      it(`${policy} by ${weighted ? "weight" : "count"}: ${exactly}never exceeds its bound, returns the last value written until it expires or is evicted, and reports each removal once with its cause`, () => {
        fc.assert(
          fc.property(fc.array(command, { minLength: 1, maxLength: 80 }), (commands) => {
            runModel(policy, weighted, commands)
          }),
          { numRuns: 150 }
        )
      })
    }
  }
})
