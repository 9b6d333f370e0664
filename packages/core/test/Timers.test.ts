import { describe, expect, it, vi } from "@effect/vitest"
import { Clock, Effect, TestClock } from "effect"
import { makeTimers } from "../src/Timers.js"

describe("internal timers", () => {
  it.effect("follow the TestClock: a task runs when the clock reaches its time, and cancel stops it", () =>
    Effect.gen(function*() {
      const timers = yield* makeTimers
      expect(timers.live).toBe(false)
      const fired: Array<string> = []
      timers.schedule(100, () => fired.push("a"))
      const cancel = timers.schedule(200, () => fired.push("b"))
      timers.schedule(Number.POSITIVE_INFINITY, () => fired.push("never"))
      yield* TestClock.adjust("100 millis")
      expect(fired).toEqual(["a"])
      cancel()
      yield* TestClock.adjust("1 hour")
      expect(fired).toEqual(["a"])
    }))

  it.effect("on the live clock, a timer beyond 2^31 - 1 ms is armed in steps Node can hold", () =>
    Effect.gen(function*() {
      const timers = yield* Effect.withClock(makeTimers, Clock.make())
      expect(timers.live).toBe(true)
      // Node fires a longer timeout after 1 ms; every delay handed to setTimeout must fit.
      const spy = vi.spyOn(globalThis, "setTimeout")
      try {
        const cancel = timers.schedule(2 ** 31 + 10, () => {})
        const delays = spy.mock.calls.map((call) => call[1])
        expect(delays).toEqual([2 ** 31 - 1])
        cancel()
      } finally {
        spy.mockRestore()
      }
    }))
})
