import { describe, expect, it } from "@effect/vitest"
import { Chunk, Duration, Effect, Either, Exit, FastCheck, Fiber, Option, Ref, Stream, TestClock } from "effect"
import * as Timeout from "../src/Timeout.js"

const sleepThen = <A>(millis: number, value: A) => Effect.as(Effect.sleep(Duration.millis(millis)), value)

describe("Timeout", () => {
  it.effect("returns the result of a call that finishes within its budget", () =>
    Effect.gen(function*() {
      const timeout = yield* Timeout.make({ name: "t", duration: "1 second" })
      const fiber = yield* Effect.fork(sleepThen(999, "ok").pipe(Timeout.protect(timeout)))
      yield* TestClock.adjust("999 millis")
      expect(yield* Fiber.join(fiber)).toBe("ok")
    }))

  it.effect("fails with TimeoutExceeded at the deadline and interrupts the work", () =>
    Effect.gen(function*() {
      const timeout = yield* Timeout.make({ name: "inventory", duration: 1000 })
      const interrupted = yield* Ref.make(false)
      const work = sleepThen(5000, "late").pipe(Effect.onInterrupt(() => Ref.set(interrupted, true)))
      const fiber = yield* Effect.fork(Effect.either(Timeout.protect(work, timeout)))
      yield* TestClock.adjust("999 millis")
      expect(fiber.unsafePoll()).toBeNull()
      yield* TestClock.adjust("1 millis")
      const result = yield* Fiber.join(fiber)
      expect(result._tag).toBe("Left")
      if (result._tag === "Left") {
        expect(result.left._tag).toBe("TimeoutExceeded")
        expect(result.left.timeout).toBe("inventory")
        expect(Duration.toMillis(result.left.after)).toBe(1000)
        expect(result.left.message).toContain("inventory")
      }
      expect(yield* Ref.get(interrupted)).toBe(true)
    }))

  it.effect("passes the work's own errors and defects through unchanged", () =>
    Effect.gen(function*() {
      const timeout = yield* Timeout.make({ name: "t", duration: "1 second" })
      const failed = yield* Effect.exit(Timeout.protect(Effect.fail("boom" as const), timeout))
      expect(failed).toEqual(Exit.fail("boom"))
      const died = yield* Effect.exit(Timeout.protect(Effect.die("defect"), timeout))
      expect(Exit.isFailure(died) && died.cause._tag === "Die").toBe(true)
    }))

  it.effect("an inner timeout never waits longer than what remains of the enclosing one", () =>
    Effect.gen(function*() {
      const outer = yield* Timeout.make({ name: "outer", duration: "1 second" })
      const inner = yield* Timeout.make({ name: "inner", duration: "5 seconds" })
      const program = Effect.gen(function*() {
        yield* Effect.sleep("400 millis")
        // 600 ms remain of the outer budget, so the inner call gets 600 ms, not 5 s.
        return yield* sleepThen(3000, "never").pipe(Timeout.protect(inner))
      }).pipe(Timeout.protect(outer))
      const fiber = yield* Effect.fork(Effect.either(program))
      yield* TestClock.adjust("999 millis")
      expect(fiber.unsafePoll()).toBeNull()
      yield* TestClock.adjust("1 millis")
      const result = yield* Fiber.join(fiber)
      expect(result._tag).toBe("Left")
      if (result._tag === "Left") {
        expect(result.left.timeout).toBe("inner")
        expect(Duration.toMillis(result.left.after)).toBe(600)
      }
    }))

  it.effect("an inner timeout shorter than the remaining outer budget keeps its own duration", () =>
    Effect.gen(function*() {
      const outer = yield* Timeout.make({ name: "outer", duration: "10 seconds" })
      const inner = yield* Timeout.make({ name: "inner", duration: "1 second" })
      const fiber = yield* Effect.fork(
        Effect.either(sleepThen(3000, "x").pipe(Timeout.protect(inner), Timeout.protect(outer)))
      )
      yield* TestClock.adjust("1 second")
      const result = yield* Fiber.join(fiber)
      expect(result._tag === "Left" && result.left.timeout).toBe("inner")
    }))

  it.effect("remaining tells the time left inside a timeout and None outside", () =>
    Effect.gen(function*() {
      const timeout = yield* Timeout.make({ name: "t", duration: "2 seconds" })
      expect(yield* Timeout.remaining).toEqual(Option.none())
      const fiber = yield* Effect.fork(
        Effect.zipRight(Effect.sleep("500 millis"), Timeout.remaining).pipe(Timeout.protect(timeout))
      )
      yield* TestClock.adjust("500 millis")
      const left = yield* Fiber.join(fiber)
      expect(Option.map(left, Duration.toMillis)).toEqual(Option.some(1500))
    }))

  it.effect("interrupting the caller interrupts the work", () =>
    Effect.gen(function*() {
      const timeout = yield* Timeout.make({ name: "t", duration: "10 seconds" })
      const interrupted = yield* Ref.make(false)
      const fiber = yield* Effect.fork(
        Effect.never.pipe(Effect.onInterrupt(() => Ref.set(interrupted, true)), Timeout.protect(timeout))
      )
      yield* TestClock.adjust("1 second")
      yield* Fiber.interrupt(fiber)
      expect(yield* Ref.get(interrupted)).toBe(true)
    }))

  it.effect("update changes the budget of later calls", () =>
    Effect.gen(function*() {
      const timeout = yield* Timeout.make({ name: "t", duration: "1 second" })
      yield* Timeout.update(timeout, { duration: "3 seconds" })
      const fiber = yield* Effect.fork(sleepThen(2000, "ok").pipe(Timeout.protect(timeout)))
      yield* TestClock.adjust("2 seconds")
      expect(yield* Fiber.join(fiber)).toBe("ok")
      const bad = yield* Effect.flip(Timeout.update(timeout, { duration: -5 }))
      expect(bad.message).toContain("duration")
    }))

  it.effect("emits a TimedOut event for each expired call", () =>
    Effect.gen(function*() {
      const timeout = yield* Timeout.make({ name: "evented", duration: 100 })
      const collector = yield* Effect.fork(Stream.runCollect(Stream.take(timeout.events, 2)))
      yield* Effect.repeatN(Effect.yieldNow(), 5)
      yield* Effect.fork(Effect.either(Timeout.protect(Effect.never, timeout)))
      yield* Effect.fork(Effect.either(Timeout.protect(Effect.never, timeout)))
      yield* TestClock.adjust("100 millis")
      const events = Chunk.toReadonlyArray(yield* Fiber.join(collector))
      expect(events.map((event) => [event._tag, event.name, event.after])).toEqual([
        ["TimedOut", "evented", 100],
        ["TimedOut", "evented", 100]
      ])
    }))

  it.effect.prop(
    "with many concurrent calls, exactly those slower than the budget time out",
    [FastCheck.array(FastCheck.integer({ min: 1, max: 3000 }), { minLength: 1, maxLength: 40 })],
    ([durations]) =>
      Effect.gen(function*() {
        const budget = 1000
        const timeout = yield* Timeout.make({ name: "many", duration: budget })
        const fibers = yield* Effect.forEach(durations, (millis) =>
          Effect.fork(Effect.either(sleepThen(millis, millis).pipe(Timeout.protect(timeout)))))
        yield* TestClock.adjust("4 seconds")
        const results = yield* Effect.forEach(fibers, Fiber.join)
        results.forEach((result, index) => {
          const millis = durations[index]!
          if (millis < budget) expect(result).toEqual(Either.right(millis))
          else if (millis > budget) expect(result._tag).toBe("Left")
        })
      }),
    { fastCheck: { numRuns: 50 } }
  )

  it.effect("rejects bad options with a message naming the field", () =>
    Effect.gen(function*() {
      const error = yield* Effect.flip(Timeout.make({ name: "", duration: "soon" }))
      expect(error._tag).toBe("InvalidOptions")
      expect(error.message).toContain("name")
      expect(error.message).toContain("duration")
      const zero = yield* Effect.flip(Timeout.make({ name: "t", duration: 0 }))
      expect(zero.message).toContain("duration")
    }))
})
