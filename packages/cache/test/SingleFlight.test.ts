import { describe, expect, it } from "@effect/vitest"
import { Deferred, Effect, Exit, Fiber } from "effect"
import * as SingleFlight from "../src/SingleFlight.js"
import { settle } from "./support/polling.js"


describe("SingleFlight", () => {
  it.effect("1,000 concurrent callers of one key share one execution and its value", () =>
    Effect.gen(function*() {
      const flights = yield* SingleFlight.make<string, number>()
      const release = yield* Deferred.make<void>()
      let runs = 0
      const work = Effect.zipRight(Effect.sync(() => runs++), Effect.as(Deferred.await(release), 42))
      const fiber = yield* Effect.fork(
        Effect.all(Array.from({ length: 1000 }, () => SingleFlight.run(flights, "k", work)), { concurrency: "unbounded" })
      )
      yield* settle(() => runs === 1)
      expect(flights.unsafeInFlight()).toBe(1)
      yield* Deferred.succeed(release, undefined)
      const values = yield* Fiber.join(fiber)
      expect(values.every((value) => value === 42)).toBe(true)
      expect(runs).toBe(1)
      expect(yield* SingleFlight.inFlight(flights)).toBe(0)
    }))

  it.effect("once an execution completes, the next call for the key runs again; other keys run apart", () =>
    Effect.gen(function*() {
      const flights = yield* SingleFlight.make<string, number>()
      let runs = 0
      const work = Effect.sync(() => ++runs)
      expect(yield* SingleFlight.run(flights, "a", work)).toBe(1)
      expect(yield* flights.pipe(SingleFlight.run("a", work))).toBe(2)
      expect(yield* SingleFlight.run(flights, "b", work)).toBe(3)
    }))

  it.effect("every waiter gets the same failure Exit", () =>
    Effect.gen(function*() {
      const flights = yield* SingleFlight.make<string, number, string>()
      const release = yield* Deferred.make<void>()
      let runs = 0
      const work = Effect.zipRight(Effect.sync(() => runs++), Effect.zipRight(Deferred.await(release), Effect.fail("boom")))
      const fibers = yield* Effect.forEach([1, 2, 3], () => Effect.fork(SingleFlight.run(flights, "k", work)))
      yield* Effect.yieldNow()
      yield* Deferred.succeed(release, undefined)
      for (const fiber of fibers) expect(yield* Fiber.await(fiber)).toEqual(Exit.fail("boom"))
      expect(runs).toBe(1)
    }))

  it.effect("one interrupted caller does not disturb the others", () =>
    Effect.gen(function*() {
      const flights = yield* SingleFlight.make<string, number>()
      const release = yield* Deferred.make<void>()
      const work = Effect.as(Deferred.await(release), 1)
      const first = yield* Effect.fork(SingleFlight.run(flights, "k", work))
      const second = yield* Effect.fork(SingleFlight.run(flights, "k", work))
      yield* Effect.yieldNow()
      yield* Fiber.interrupt(first)
      yield* Deferred.succeed(release, undefined)
      expect(yield* Fiber.await(second)).toEqual(Exit.succeed(1))
    }))

  it.effect("when every waiter is interrupted the shared execution is interrupted and the key is free again", () =>
    Effect.gen(function*() {
      const flights = yield* SingleFlight.make<string, number>()
      const interrupted = yield* Deferred.make<void>()
      const work = Effect.onInterrupt(Effect.never, () => Deferred.succeed(interrupted, undefined))
      let started = 0
      const fibers = yield* Effect.forEach([1, 2], () =>
        Effect.fork(Effect.zipRight(Effect.sync(() => started++), SingleFlight.run(flights, "k", work))))
      yield* settle(() => started === 2)
      yield* Effect.yieldNow()
      expect(flights.unsafeIsInFlight("k")).toBe(true)
      yield* Fiber.interrupt(fibers[0]!)
      expect(flights.unsafeIsInFlight("k")).toBe(true)
      yield* Fiber.interrupt(fibers[1]!)
      yield* Deferred.await(interrupted)
      expect(flights.unsafeInFlight()).toBe(0)
      expect(yield* SingleFlight.run(flights, "k", Effect.succeed(5))).toBe(5)
    }))

  it.effect("isSingleFlight recognises a coalescer", () =>
    Effect.sync(() => {
      expect(SingleFlight.isSingleFlight(SingleFlight.unsafeMake())).toBe(true)
      expect(SingleFlight.isSingleFlight({})).toBe(false)
    }))
})
