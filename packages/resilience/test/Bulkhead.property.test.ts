import { describe, expect, it } from "@effect/vitest"
import { Cause, Effect, Exit, FastCheck, Fiber, Option, TestClock } from "effect"
import * as Bulkhead from "../src/Bulkhead.js"

const Call = FastCheck.record({
  /** When the call is made, in ms after the start. */
  startAt: FastCheck.integer({ min: 0, max: 30 }),
  /** How long the protected effect runs, in ms. */
  duration: FastCheck.integer({ min: 0, max: 20 }),
  /** When (if ever) the calling fiber is interrupted, in ms after the start. */
  interruptAt: FastCheck.option(FastCheck.integer({ min: 0, max: 60 }), { nil: undefined }),
  outcome: FastCheck.constantFrom("succeed", "fail", "die"),
  /** An uninterruptible finalizer around the call, in ms: the fiber outlives an interruption by this much. */
  finalizer: FastCheck.option(FastCheck.integer({ min: 0, max: 5 }), { nil: undefined })
})

describe("Bulkhead under random load", () => {
  it.effect.prop(
    "never runs more than maxConcurrent calls at once and leaks no permit under random calls and interruptions",
    {
      maxConcurrent: FastCheck.integer({ min: 1, max: 4 }),
      maxQueued: FastCheck.integer({ min: 0, max: 4 }),
      maxWait: FastCheck.option(FastCheck.integer({ min: 1, max: 30 }), { nil: undefined }),
      calls: FastCheck.array(Call, { minLength: 1, maxLength: 20 })
    },
    ({ calls, maxConcurrent, maxQueued, maxWait }) =>
      Effect.gen(function*() {
        const bulkhead = yield* Bulkhead.make({
          name: "property",
          maxConcurrent,
          maxQueued,
          ...(maxWait === undefined ? {} : { maxWait })
        })
        let running = 0
        let maxRunning = 0
        const violations: Array<string> = []
        const check = (where: string) => {
          if (running > maxConcurrent) violations.push(`${where}: ${running} running`)
          if (bulkhead.unsafeInFlight() > maxConcurrent) violations.push(`${where}: ${bulkhead.unsafeInFlight()} in flight`)
          if (bulkhead.unsafeInFlight() < running) violations.push(`${where}: fewer permits than running calls`)
          if (bulkhead.unsafeQueued() > maxQueued) violations.push(`${where}: ${bulkhead.unsafeQueued()} queued`)
        }
        const body = (call: typeof Call extends FastCheck.Arbitrary<infer A> ? A : never) =>
          Effect.suspend(() => {
            running++
            maxRunning = Math.max(maxRunning, running)
            check("enter")
            const end = call.outcome === "succeed"
              ? Effect.void
              : call.outcome === "fail"
              ? Effect.fail("boom" as const)
              : Effect.die("bug")
            return Effect.zipRight(Effect.sleep(call.duration), end).pipe(
              Effect.ensuring(Effect.sync(() => {
                running--
                check("leave")
              }))
            )
          })

        const fibers = yield* Effect.forEach(calls, (call) => {
          const protectedCall = Bulkhead.protect(body(call), bulkhead)
          const withFinalizer = call.finalizer === undefined
            ? protectedCall
            : Effect.ensuring(protectedCall, Effect.sleep(call.finalizer))
          return Effect.fork(Effect.zipRight(Effect.sleep(call.startAt), withFinalizer))
        })
        yield* Effect.forEach(calls, (call, index) =>
          call.interruptAt === undefined
            ? Effect.void
            : Effect.fork(Effect.zipRight(Effect.sleep(call.interruptAt), Fiber.interrupt(fibers[index]!))))

        // Fires every sleep in time order, letting the woken fibers run between two of them.
        yield* TestClock.adjust("10 seconds")
        const pending = fibers.filter((fiber) => fiber.unsafePoll() === null).length
        expect(pending).toBe(0)
        const exits = yield* Effect.forEach(fibers, Fiber.await)

        expect(violations).toEqual([])
        expect(maxRunning).toBeLessThanOrEqual(maxConcurrent)
        expect(bulkhead.unsafeInFlight()).toBe(0)
        expect(bulkhead.unsafeQueued()).toBe(0)
        for (const exit of exits) {
          if (Exit.isFailure(exit) && !Cause.isInterruptedOnly(exit.cause)) {
            const failure = Cause.failureOption(exit.cause)
            if (Option.isSome(failure)) {
              const error = failure.value
              expect(error === "boom" || error._tag === "BulkheadFull").toBe(true)
              if (error !== "boom") {
                expect(error.reason === "QueueFull" || maxWait !== undefined).toBe(true)
              }
            } else {
              expect(Cause.isDie(exit.cause)).toBe(true)
            }
          }
        }
        // Everything settled: the bulkhead still admits a call.
        expect(yield* Bulkhead.protect(Effect.succeed("after"), bulkhead)).toBe("after")
      }),
    { timeout: 120_000, fastCheck: { numRuns: 100 } }
  )
})
