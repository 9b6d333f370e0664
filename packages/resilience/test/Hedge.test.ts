import { describe, expect, expectTypeOf, it } from "@effect/vitest"
import {
  Chunk,
  Clock,
  Context,
  Duration,
  Effect,
  Exit,
  FastCheck,
  Fiber,
  Ref,
  Stream,
  TestClock
} from "effect"
import * as Hedge from "../src/Hedge.js"
import * as Policy from "../src/Policy.js"
import * as RetryBudget from "../src/RetryBudget.js"
import { counter } from "./support/metrics.js"

/** What attempt number n does: run `after` ms, then succeed or fail with `value`. */
interface Step {
  readonly after: number
  readonly value: string
  readonly fails?: boolean
}

/**
 * A downstream whose n-th attempt follows `script[n-1]` (the last step repeats). It records when
 * each attempt started and which attempts were interrupted.
 */
const scripted = (script: ReadonlyArray<Step>) =>
  Effect.gen(function*() {
    const starts = yield* Ref.make<ReadonlyArray<number>>([])
    const interrupted = yield* Ref.make<ReadonlyArray<number>>([])
    const call = Effect.gen(function*() {
      const now = yield* Clock.currentTimeMillis
      const attempt = (yield* Ref.getAndUpdate(starts, (all) => [...all, now])).length + 1
      const step = script[Math.min(attempt, script.length) - 1]!
      yield* Effect.sleep(Duration.millis(step.after)).pipe(
        Effect.onInterrupt(() => Ref.update(interrupted, (all) => [...all, attempt]))
      )
      return step.fails === true ? yield* Effect.fail(step.value) : step.value
    })
    return { call, starts: Ref.get(starts), interrupted: Ref.get(interrupted) }
  })

describe("Hedge", () => {
  it.effect("starts a second attempt after delay; the first success wins and the loser is interrupted", () =>
    Effect.gen(function*() {
      const hedge = yield* Hedge.make({ name: "second-wins", delay: "200 millis" })
      const downstream = yield* scripted([{ after: 1000, value: "slow" }, { after: 100, value: "fast" }])
      const fiber = yield* Effect.fork(Hedge.protect(downstream.call, hedge))
      yield* TestClock.adjust("199 millis")
      expect(yield* downstream.starts).toEqual([0])
      yield* TestClock.adjust("1 millis")
      expect(yield* downstream.starts).toEqual([0, 200])
      yield* TestClock.adjust("99 millis")
      expect(fiber.unsafePoll()).toBeNull()
      yield* TestClock.adjust("1 millis")
      expect(yield* Fiber.join(fiber)).toBe("fast")
      // The loser's interruption has completed by the time the caller resumes.
      expect(yield* downstream.interrupted).toEqual([1])
    }))

  it.effect("when the first attempt wins after hedging, the hedge is interrupted", () =>
    Effect.gen(function*() {
      const hedge = yield* Hedge.make({ name: "first-wins", delay: 200 })
      const downstream = yield* scripted([{ after: 250, value: "first" }, { after: 10_000, value: "second" }])
      const fiber = yield* Effect.fork(Hedge.protect(downstream.call, hedge))
      yield* TestClock.adjust("250 millis")
      expect(yield* Fiber.join(fiber)).toBe("first")
      expect(yield* downstream.starts).toEqual([0, 200])
      expect(yield* downstream.interrupted).toEqual([2])
    }))

  it.effect("does not hedge when the first attempt finishes before the delay", () =>
    Effect.gen(function*() {
      const hedge = yield* Hedge.make({ name: "no-hedge", delay: 200, maxAttempts: 3 })
      const downstream = yield* scripted([{ after: 150, value: "quick" }])
      const fiber = yield* Effect.fork(Hedge.protect(downstream.call, hedge))
      yield* TestClock.adjust("150 millis")
      expect(yield* Fiber.join(fiber)).toBe("quick")
      yield* TestClock.adjust("1 hour")
      expect(yield* downstream.starts).toEqual([0])
      expect(yield* downstream.interrupted).toEqual([])
    }))

  it.effect("passes results, failures and defects of instant effects through", () =>
    Effect.gen(function*() {
      const hedge = yield* Hedge.make({ name: "sync", delay: 10 })
      expect(yield* Hedge.protect(Effect.succeed(1), hedge)).toBe(1)
      expect(yield* Effect.exit(Hedge.protect(Effect.fail("no"), hedge))).toEqual(Exit.fail("no"))
      expect(yield* Effect.exit(Hedge.protect(Effect.die("bug"), hedge))).toEqual(Exit.die("bug"))
    }))

  it.effect("starts at most maxAttempts attempts, one per delay, and interrupting the caller stops them all", () =>
    Effect.gen(function*() {
      const hedge = yield* Hedge.make({ name: "bounded", delay: 100, maxAttempts: 3 })
      const downstream = yield* scripted([{ after: 1_000_000, value: "never" }])
      const fiber = yield* Effect.fork(Hedge.protect(downstream.call, hedge))
      yield* TestClock.adjust("10 seconds")
      expect(yield* downstream.starts).toEqual([0, 100, 200])
      yield* Fiber.interrupt(fiber)
      expect([...(yield* downstream.interrupted)].sort()).toEqual([1, 2, 3])
      yield* TestClock.adjust("10 seconds")
      expect((yield* downstream.starts).length).toBe(3)
    }))

  it.effect("interrupting the caller stops the attempts at once, even where the caller itself goes on", () =>
    Effect.gen(function*() {
      const hedge = yield* Hedge.make({ name: "masked", delay: 100, maxAttempts: 2 })
      const downstream = yield* scripted([{ after: 1_000_000, value: "never" }])
      const afterwards = yield* Ref.make<ReadonlyArray<number>>([])
      // The caller survives the interruption of the hedged region (uninterruptible rest), and
      // checks from there which attempts are already stopped.
      const caller = Effect.uninterruptibleMask((restore) =>
        Effect.gen(function*() {
          const exit = yield* Effect.exit(restore(Hedge.protect(downstream.call, hedge)))
          expect(Exit.isInterrupted(exit)).toBe(true)
          yield* Effect.yieldNow()
          yield* Ref.set(afterwards, yield* downstream.interrupted)
          yield* Effect.sleep("1 hour")
        })
      )
      const fiber = yield* Effect.fork(caller)
      yield* TestClock.adjust("150 millis")
      expect(yield* downstream.starts).toEqual([0, 100])
      yield* Fiber.interruptFork(fiber)
      yield* Effect.repeatN(Effect.yieldNow(), 10)
      expect([...(yield* Ref.get(afterwards))].sort()).toEqual([1, 2])
      yield* TestClock.adjust("1 hour")
      yield* Fiber.await(fiber)
    }))

  it.effect("a failed attempt does not start a hedge early: alone, it fails the call at once", () =>
    Effect.gen(function*() {
      const hedge = yield* Hedge.make({ name: "fail-fast", delay: 100, maxAttempts: 3 })
      const downstream = yield* scripted([{ after: 50, value: "boom", fails: true }])
      const fiber = yield* Effect.fork(Effect.exit(Hedge.protect(downstream.call, hedge)))
      yield* TestClock.adjust("50 millis")
      expect(yield* Fiber.join(fiber)).toEqual(Exit.fail("boom"))
      yield* TestClock.adjust("1 hour")
      expect(yield* downstream.starts).toEqual([0])
    }))

  it.effect("keeps waiting for the other attempts when one fails, and fails with the error that came last", () =>
    Effect.gen(function*() {
      const hedge = yield* Hedge.make({ name: "all-fail", delay: 100, maxAttempts: 2 })
      const downstream = yield* scripted([
        { after: 300, value: "first failed", fails: true },
        { after: 50, value: "second failed", fails: true }
      ])
      const fiber = yield* Effect.fork(Effect.exit(Hedge.protect(downstream.call, hedge)))
      yield* TestClock.adjust("150 millis")
      expect(fiber.unsafePoll()).toBeNull()
      yield* TestClock.adjust("150 millis")
      expect(yield* Fiber.join(fiber)).toEqual(Exit.fail("first failed"))

      const recovering = yield* scripted([
        { after: 300, value: "first ok" },
        { after: 50, value: "second failed", fails: true }
      ])
      const second = yield* Effect.fork(Hedge.protect(recovering.call, hedge))
      yield* TestClock.adjust("300 millis")
      expect(yield* Fiber.join(second)).toBe("first ok")
    }))

  it.effect("attempts see the caller's services", () =>
    Effect.gen(function*() {
      class Region extends Context.Tag("Region")<Region, string>() {}
      const hedge = yield* Hedge.make({ name: "context", delay: 10, maxAttempts: 2 })
      const call = Effect.zipRight(Effect.sleep("1 second"), Region)
      const fiber = yield* Effect.fork(Hedge.protect(call, hedge).pipe(Effect.provideService(Region, "eu-west")))
      yield* TestClock.adjust("2 seconds")
      expect(yield* Fiber.join(fiber)).toBe("eu-west")
    }))

  it.effect("starts no hedge when its budget has no token", () =>
    Effect.gen(function*() {
      const budget = yield* RetryBudget.make({ name: "hedge-budget", ratio: 0, minRetriesPerSecond: 0.1, ttl: 10_000 })
      const hedge = yield* Hedge.make({ name: "budgeted", delay: 100, maxAttempts: 3, budget })
      const collector = yield* Effect.fork(Stream.runCollect(Stream.take(hedge.events, 3)))
      yield* Effect.repeatN(Effect.yieldNow(), 5)
      const downstream = yield* scripted([{ after: 1000, value: "slow" }])
      const fiber = yield* Effect.fork(Hedge.protect(downstream.call, hedge))
      yield* TestClock.adjust("1 second")
      expect(yield* Fiber.join(fiber)).toBe("slow")
      // One token (0.1/s over 10 s): the second attempt starts, the third is refused.
      expect(yield* downstream.starts).toEqual([0, 100])
      const events = Chunk.toReadonlyArray(yield* Fiber.join(collector))
      expect(events.map((event) => [event._tag, event.attempt, event.timestamp])).toEqual([
        ["Hedging", 2, 100],
        ["BudgetExhausted", 3, 200],
        ["Won", 1, 1000]
      ])
    }))

  it.effect("updates delay and maxAttempts live", () =>
    Effect.gen(function*() {
      const hedge = yield* Hedge.make({ name: "live", delay: 100, maxAttempts: 2 })
      yield* Hedge.update(hedge, { delay: "300 millis", maxAttempts: 3 })
      expect(Duration.toMillis(Hedge.delay(hedge))).toBe(300)
      const downstream = yield* scripted([{ after: 10_000, value: "slow" }])
      const fiber = yield* Effect.fork(Hedge.protect(downstream.call, hedge))
      yield* TestClock.adjust("10 seconds")
      expect(yield* Fiber.join(fiber)).toBe("slow")
      expect(yield* downstream.starts).toEqual([0, 300, 600])
      const rejected = yield* Effect.flip(Hedge.update(hedge, { maxAttempts: 0 }))
      expect(rejected.message).toContain("maxAttempts")
      expect(hedge.options.maxAttempts).toBe(3)
    }))

  it.effect("a delay shortened while calls wait still hedges every call at its own deadline", () =>
    Effect.gen(function*() {
      const hedge = yield* Hedge.make({ name: "shortened", delay: 300 })
      const slow = yield* scripted([{ after: 10_000, value: "a" }])
      const other = yield* scripted([{ after: 10_000, value: "b" }])
      const first = yield* Effect.fork(Hedge.protect(slow.call, hedge))
      yield* TestClock.adjust("50 millis")
      yield* Hedge.update(hedge, { delay: 100 })
      const second = yield* Effect.fork(Hedge.protect(other.call, hedge))
      yield* TestClock.adjust("1 minute")
      expect(yield* Fiber.join(first)).toBe("a")
      expect(yield* Fiber.join(second)).toBe("b")
      expect(yield* slow.starts).toEqual([0, 300])
      expect(yield* other.starts).toEqual([50, 150])
    }))

  it.effect("counts attempts and wins by attempt in metrics", () =>
    Effect.gen(function*() {
      const name = "hedge-metrics"
      const hedge = yield* Hedge.make({ name, delay: 100 })
      const downstream = yield* scripted([{ after: 50, value: "a" }, { after: 1000, value: "b" }, { after: 10, value: "c" }])
      const first = yield* Effect.fork(Hedge.protect(downstream.call, hedge)) // attempt 1 wins at 50
      yield* TestClock.adjust("50 millis")
      yield* Fiber.join(first)
      const second = yield* Effect.fork(Hedge.protect(downstream.call, hedge)) // 2nd call: its hedge wins
      yield* TestClock.adjust("200 millis")
      expect(yield* Fiber.join(second)).toBe("c")
      expect(yield* counter("rampart_hedge_attempts_total", { name })).toBe(3)
      expect(yield* counter("rampart_hedge_wins_total", { name, attempt: "1" })).toBe(1)
      expect(yield* counter("rampart_hedge_wins_total", { name, attempt: "2" })).toBe(1)
    }))

  it.effect.prop(
    "whatever the attempt durations, the earliest-finishing started attempt wins and every other one is interrupted",
    {
      // Times are chosen so no two events coincide: hedge starts are multiples of 8, attempt k
      // finishes at a time = 2k-1 (mod 8). Ties would make the expected winner ambiguous.
      slots: FastCheck.array(FastCheck.integer({ min: 0, max: 120 }), { minLength: 4, maxLength: 4 }),
      delaySlots: FastCheck.integer({ min: 0, max: 50 }),
      maxAttempts: FastCheck.integer({ min: 1, max: 4 })
    },
    ({ delaySlots, maxAttempts, slots }) =>
      Effect.gen(function*() {
        const delay = 8 * delaySlots
        const durations = slots.map((slot, index) => 8 * slot + 2 * (index + 1) - 1)
        const hedge = yield* Hedge.make({ name: "model", delay, maxAttempts })
        const downstream = yield* scripted(durations.map((after, index) => ({ after, value: `attempt ${index + 1}` })))
        const fiber = yield* Effect.fork(Hedge.protect(downstream.call, hedge))
        yield* TestClock.adjust("1 hour")
        const result = yield* Fiber.join(fiber)

        // Model: attempt k starts at (k-1)*delay unless some attempt has finished by then.
        let winner = 1
        let finish = durations[0]!
        const starts = [0]
        for (let k = 2; k <= maxAttempts; k++) {
          const start = (k - 1) * delay
          if (start > finish) break
          starts.push(start)
          if (start + durations[k - 1]! < finish) {
            finish = start + durations[k - 1]!
            winner = k
          }
        }
        expect(result).toBe(`attempt ${winner}`)
        expect(yield* downstream.starts).toEqual(starts)
        const losers = starts.map((_, index) => index + 1).filter((attempt) => attempt !== winner)
        expect([...(yield* downstream.interrupted)].sort()).toEqual(losers)
      }),
    { fastCheck: { numRuns: 100 } }
  )

  it.effect.prop(
    "with many overlapping calls, each call hedges exactly when its own first attempt outlives the delay",
    {
      // Even start times and odd durations against an even delay: no event coincides with another.
      calls: FastCheck.array(
        FastCheck.record({
          start: FastCheck.integer({ min: 0, max: 500 }).map((n) => 2 * n),
          duration: FastCheck.integer({ min: 0, max: 300 }).map((n) => 2 * n + 1)
        }),
        { minLength: 1, maxLength: 25 }
      )
    },
    ({ calls }) =>
      Effect.gen(function*() {
        const delay = 200
        const hedge = yield* Hedge.make({ name: "overlapping", delay })
        const starts = yield* Ref.make<ReadonlyArray<ReadonlyArray<number>>>(calls.map(() => []))
        const call = (id: number) =>
          Effect.gen(function*() {
            const now = yield* Clock.currentTimeMillis
            const all = yield* Ref.updateAndGet(starts, (all) => all.map((s, i) => (i === id ? [...s, now] : s)))
            // The first attempt takes its duration; a hedge would take far longer (so never wins).
            yield* Effect.sleep(Duration.millis(all[id]!.length === 1 ? calls[id]!.duration : 100_000))
            return id
          })
        const order = calls.map((_, id) => id).sort((a, b) => calls[a]!.start - calls[b]!.start)
        const fibers: Array<Fiber.RuntimeFiber<number>> = []
        let now = 0
        for (const id of order) {
          yield* TestClock.adjust(calls[id]!.start - now)
          now = calls[id]!.start
          fibers.push(yield* Effect.fork(Hedge.protect(call(id), hedge)))
        }
        yield* TestClock.adjust("1 hour")
        for (const fiber of fibers) yield* Fiber.join(fiber)
        const recorded = yield* Ref.get(starts)
        calls.forEach(({ duration, start }, id) => {
          expect(recorded[id]).toEqual(duration > delay ? [start, start + delay] : [start])
        })
      }),
    { fastCheck: { numRuns: 40 } }
  )

  it.effect("rejects bad options with InvalidOptions naming the field", () =>
    Effect.gen(function*() {
      const message = (input: Hedge.HedgeOptionsInput) => Effect.map(Effect.flip(Hedge.make(input)), (e) => e.message)
      expect(yield* message({ name: "h", delay: -1 })).toContain("delay")
      expect(yield* message({ name: "h", delay: "whenever" })).toContain("delay")
      expect(yield* message({ name: "h", delay: 10, maxAttempts: 0 })).toContain("maxAttempts")
      expect(yield* message({ name: "h", delay: 10, maxAttempts: 11 })).toContain("maxAttempts")
      expect(yield* message({ name: "h", delay: 10, budget: { ratio: -1 } })).toContain("budget")
      expect(yield* message({ name: "", delay: 10 })).toContain("name")
    }))

  it.effect("is a Policy whose apply is protect", () =>
    Effect.gen(function*() {
      const hedge = yield* Hedge.make({ name: "policy", delay: 10 })
      expect(Hedge.isHedge(hedge)).toBe(true)
      expect(Hedge.isHedge({})).toBe(false)
      expect(yield* hedge.apply(Effect.succeed(3))).toBe(3)
      expect(yield* Effect.succeed(4).pipe(Hedge.protect(hedge))).toBe(4)
      expectTypeOf(Policy.compose(hedge, Policy.identity)).toEqualTypeOf<Policy.Policy<never, never>>()
    }))
})
