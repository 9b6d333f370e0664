import { describe, expect, it } from "@effect/vitest"
import { Chunk, Data, Duration, Effect, FastCheck, Fiber, Ref, Stream, TestClock } from "effect"
import * as Retry from "../src/Retry.js"
import * as RetryBudget from "../src/RetryBudget.js"

class Unavailable extends Data.TaggedError("Unavailable")<{}> {}

/** The budget cuts its ttl into this many slices; a deposit expires with its slice. */
const SLICES = 10

type Command =
  | { readonly _tag: "Advance"; readonly millis: number }
  | { readonly _tag: "Deposit"; readonly count: number }
  | { readonly _tag: "Withdraw"; readonly count: number }

const command: FastCheck.Arbitrary<Command> = FastCheck.oneof(
  FastCheck.record({ _tag: FastCheck.constant("Advance" as const), millis: FastCheck.integer({ min: 0, max: 4000 }) }),
  FastCheck.record({ _tag: FastCheck.constant("Deposit" as const), count: FastCheck.integer({ min: 1, max: 20 }) }),
  FastCheck.record({ _tag: FastCheck.constant("Withdraw" as const), count: FastCheck.integer({ min: 1, max: 10 }) })
)

/**
 * The obviously-correct model: every deposit and withdrawal kept with the slice it fell in, and
 * counted while its slice is one of the newest SLICES.
 */
class Model {
  readonly entries: Array<{ slice: number; kind: "deposit" | "withdrawal" }> = []
  constructor(readonly ratio: number, readonly reserve: number, readonly sliceMillis: number) {}
  balance(now: number) {
    const current = Math.floor(now / this.sliceMillis)
    const live = this.entries.filter((entry) => entry.slice > current - SLICES)
    const deposits = live.filter((entry) => entry.kind === "deposit").length
    return this.reserve + this.ratio * deposits - (live.length - deposits)
  }
  deposit(now: number) {
    this.entries.push({ slice: Math.floor(now / this.sliceMillis), kind: "deposit" })
  }
  withdraw(now: number) {
    if (this.balance(now) < 1 - 1e-9) return false
    this.entries.push({ slice: Math.floor(now / this.sliceMillis), kind: "withdrawal" })
    return true
  }
}

describe("RetryBudget", () => {
  it.effect.prop(
    "matches a model that keeps every token, after every command",
    {
      commands: FastCheck.array(command, { minLength: 1, maxLength: 80 }),
      ratio: FastCheck.constantFrom(0, 0.1, 0.2, 0.5, 1),
      minRetriesPerSecond: FastCheck.constantFrom(0, 0.5, 1, 5),
      ttlMillis: FastCheck.constantFrom(1000, 5000, 10_000)
    },
    ({ commands, minRetriesPerSecond, ratio, ttlMillis }) =>
      Effect.gen(function*() {
        const budget = yield* RetryBudget.make({ name: "model", ratio, minRetriesPerSecond, ttl: ttlMillis })
        const model = new Model(ratio, minRetriesPerSecond * ttlMillis / 1000, ttlMillis / SLICES)
        let now = 0
        for (const step of commands) {
          switch (step._tag) {
            case "Advance":
              yield* TestClock.adjust(step.millis)
              now += step.millis
              break
            case "Deposit":
              for (let i = 0; i < step.count; i++) {
                budget.unsafeDeposit()
                model.deposit(now)
              }
              break
            case "Withdraw":
              for (let i = 0; i < step.count; i++) {
                expect(budget.unsafeTryWithdraw()).toBe(model.withdraw(now))
              }
          }
          expect(yield* RetryBudget.balance(budget)).toBeCloseTo(model.balance(now), 9)
        }
      }),
    { fastCheck: { numRuns: 150 } }
  )

  it.effect.prop(
    "however retries are attempted, withdrawals <= ratio * deposits + floor * (span + 2 * ttl)",
    {
      commands: FastCheck.array(command, { minLength: 1, maxLength: 120 }),
      ratio: FastCheck.constantFrom(0, 0.1, 0.2, 0.5),
      minRetriesPerSecond: FastCheck.constantFrom(0, 1, 3),
      ttlMillis: FastCheck.constantFrom(1000, 3000)
    },
    ({ commands, minRetriesPerSecond, ratio, ttlMillis }) =>
      Effect.gen(function*() {
        const budget = yield* RetryBudget.make({ name: "bound", ratio, minRetriesPerSecond, ttl: ttlMillis })
        let now = 0
        let deposits = 0
        let withdrawals = 0
        for (const step of commands) {
          if (step._tag === "Advance") {
            yield* TestClock.adjust(step.millis)
            now += step.millis
          } else if (step._tag === "Deposit") {
            for (let i = 0; i < step.count; i++) budget.unsafeDeposit()
            deposits += step.count
          } else {
            // Greedy: try far more retries than the budget should allow.
            for (let i = 0; i < step.count * 10; i++) if (budget.unsafeTryWithdraw()) withdrawals++
          }
        }
        // `now` is the whole span of activity; the reserve is there from the start and each ttl
        // window (at most span/ttl + 2 of them, counting partial ones) brings it back once.
        const bound = ratio * deposits + minRetriesPerSecond * (now / 1000 + 2 * ttlMillis / 1000) + 1e-9
        expect(withdrawals).toBeLessThanOrEqual(bound)
      }),
    { fastCheck: { numRuns: 150 } }
  )

  it.effect("tokens expire after ttl: spent retries come back, deposits stop counting", () =>
    Effect.gen(function*() {
      const budget = yield* RetryBudget.make({ name: "ttl", ratio: 0.5, minRetriesPerSecond: 1, ttl: "10 seconds" })
      // Reserve: 1/s over 10 s = 10 retries.
      let allowed = 0
      while (budget.unsafeTryWithdraw()) allowed++
      expect(allowed).toBe(10)
      yield* TestClock.adjust("9 seconds")
      expect(budget.unsafeTryWithdraw()).toBe(false)
      yield* TestClock.adjust("1 second")
      // The withdrawals expired: the reserve is whole again.
      expect(yield* RetryBudget.balance(budget)).toBe(10)

      for (let i = 0; i < 4; i++) budget.unsafeDeposit()
      expect(yield* RetryBudget.balance(budget)).toBe(12)
      yield* TestClock.adjust("10 seconds")
      expect(yield* RetryBudget.balance(budget)).toBe(10)
    }))

  it.effect("every call deposits, so ratio 0.2 allows one retry per five calls beyond the floor", () =>
    Effect.gen(function*() {
      const budget = yield* RetryBudget.make({ name: "ratio", ratio: 0.2, minRetriesPerSecond: 0 })
      expect(budget.unsafeTryWithdraw()).toBe(false)
      for (let i = 0; i < 5; i++) yield* RetryBudget.protect(Effect.void, budget)
      expect(budget.unsafeTryWithdraw()).toBe(true)
      expect(budget.unsafeTryWithdraw()).toBe(false)
      yield* Effect.void.pipe(RetryBudget.protect(budget), Effect.repeatN(9))
      expect(yield* RetryBudget.balance(budget)).toBeCloseTo(2, 9)
    }))

  it.effect("one budget shared by two Retry policies caps their retries together", () =>
    Effect.gen(function*() {
      const budget = yield* RetryBudget.make({ name: "shared", ratio: 0, minRetriesPerSecond: 0.3, ttl: "10 seconds" })
      const backoff = { _tag: "Constant", delay: 10 } as const
      const left = yield* Retry.make({ name: "left", maxAttempts: 10, backoff, budget })
      const right = yield* Retry.make({ name: "right", maxAttempts: 10, backoff, budget })
      const attempts = yield* Ref.make(0)
      const dead = Effect.zipRight(Ref.update(attempts, (n) => n + 1), Effect.fail(new Unavailable()))
      yield* Effect.fork(Effect.exit(Retry.protect(dead, left)))
      yield* Effect.fork(Effect.exit(Retry.protect(dead, right)))
      yield* TestClock.adjust("1 second")
      // Two first attempts plus the 3 retries the shared reserve holds, not 2 * 10 attempts.
      expect(yield* Ref.get(attempts)).toBe(5)
    }))

  it.effect("publishes Exhausted when it first refuses and Replenished when it allows again", () =>
    Effect.gen(function*() {
      const budget = yield* RetryBudget.make({ name: "evented", ratio: 0, minRetriesPerSecond: 0.1, ttl: 10_000 })
      const collector = yield* Effect.fork(Stream.runCollect(Stream.take(budget.events, 2)))
      yield* Effect.repeatN(Effect.yieldNow(), 5)
      expect(budget.unsafeTryWithdraw()).toBe(true)
      expect(budget.unsafeTryWithdraw()).toBe(false)
      expect(budget.unsafeTryWithdraw()).toBe(false)
      yield* TestClock.adjust("10 seconds")
      expect(budget.unsafeTryWithdraw()).toBe(true)
      const events = Chunk.toReadonlyArray(yield* Fiber.join(collector))
      expect(events).toEqual([
        { _tag: "Exhausted", name: "evented", timestamp: 0 },
        { _tag: "Replenished", name: "evented", timestamp: 10_000 }
      ])
    }))

  it.effect("updates ratio and floor live, keeping the tokens in the window", () =>
    Effect.gen(function*() {
      const budget = yield* RetryBudget.make({ name: "live", ratio: 0.1, minRetriesPerSecond: 0 })
      for (let i = 0; i < 10; i++) budget.unsafeDeposit()
      expect(yield* RetryBudget.balance(budget)).toBeCloseTo(1, 9)
      yield* RetryBudget.update(budget, { ratio: 0.5 })
      expect(yield* RetryBudget.balance(budget)).toBeCloseTo(5, 9)
      yield* RetryBudget.update(budget, { minRetriesPerSecond: 1 })
      expect(yield* RetryBudget.balance(budget)).toBeCloseTo(15, 9)
      expect(budget.options.ratio).toBe(0.5)
      const rejected = yield* Effect.flip(RetryBudget.update(budget, { ratio: 1.5 }))
      expect(rejected.message).toContain("ratio")
      expect(budget.options.ratio).toBe(0.5)
    }))

  it.effect("rejects bad options with InvalidOptions naming the field", () =>
    Effect.gen(function*() {
      const message = (input: RetryBudget.RetryBudgetOptionsInput) =>
        Effect.map(Effect.flip(RetryBudget.make(input)), (e) => e.message)
      expect(yield* message({ name: "" })).toContain("name")
      expect(yield* message({ name: "b", ratio: -0.1 })).toContain("ratio")
      expect(yield* message({ name: "b", ratio: 2 })).toContain("ratio")
      expect(yield* message({ name: "b", minRetriesPerSecond: -1 })).toContain("minRetriesPerSecond")
      expect(yield* message({ name: "b", ttl: 0 })).toContain("ttl")
      expect(yield* message({ name: "b", ttl: Duration.infinity })).toContain("ttl")
      const error = yield* Effect.flip(RetryBudget.make({ name: "b", ratio: 2 }))
      expect(error._tag).toBe("InvalidOptions")
      expect(error.module).toBe("RetryBudget")
    }))

  it.effect("is a Policy that records calls", () =>
    Effect.gen(function*() {
      const budget = yield* RetryBudget.make({ name: "policy", ratio: 1, minRetriesPerSecond: 0 })
      expect(RetryBudget.isRetryBudget(budget)).toBe(true)
      expect(RetryBudget.isRetryBudget({})).toBe(false)
      expect(yield* budget.apply(Effect.succeed(1))).toBe(1)
      expect(yield* RetryBudget.balance(budget)).toBe(1)
    }))
})
