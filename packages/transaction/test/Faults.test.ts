import { describe, expect, it } from "@effect/vitest"
import { Cause, Effect, Exit, Fiber, Option, TestClock } from "effect"
import * as Faults from "../src/Faults.js"

const provideFaults = Effect.provide(Faults.layer)

/** A participant call that counts how often it runs and answers with that count. */
const counter = () => {
  let runs = 0
  return {
    runs: () => runs,
    call: Effect.sync(() => ++runs)
  }
}

const message = (to: string, operation = "prepare", gid = "g1"): Faults.Message => ({ to, operation, gid })

describe("Faults", () => {
  it.effect("current is the no-op injector when no Faults layer is provided", () =>
    Effect.gen(function*() {
      const faults = yield* Faults.current
      expect(faults).toBe(Faults.none)
      yield* faults.arm("2pc.beforeDecision")
      yield* faults.crashPoint("2pc.beforeDecision")
      expect(yield* faults.message(message("a"), Effect.succeed(1))).toBe(1)
      expect(yield* faults.hits).toEqual([])
      expect(yield* faults.messages).toEqual([])
    }))

  it.effect("current is the provided injector", () =>
    Effect.gen(function*() {
      const provided = yield* Faults.Faults
      expect(yield* Faults.current).toBe(provided)
    }).pipe(provideFaults))

  it.effect("an armed crash point dies once with SimulatedCrash, which isCrash detects; then it passes", () =>
    Effect.gen(function*() {
      const faults = yield* Faults.current
      yield* faults.arm("2pc.afterDecision")
      yield* faults.crashPoint("2pc.beforeDecision")
      const exit = yield* Effect.exit(faults.crashPoint("2pc.afterDecision"))
      expect(Exit.isFailure(exit)).toBe(true)
      if (Exit.isFailure(exit)) {
        expect(Faults.isCrash(exit.cause)).toBe(true)
        const defect = Cause.squash(exit.cause)
        expect(defect).toBeInstanceOf(Faults.SimulatedCrash)
        expect((defect as Faults.SimulatedCrash).point).toBe("2pc.afterDecision")
        expect((defect as Faults.SimulatedCrash).message).toBe("simulated crash at \"2pc.afterDecision\"")
      }
      yield* faults.crashPoint("2pc.afterDecision")
      expect(yield* faults.hits).toEqual(["2pc.beforeDecision", "2pc.afterDecision", "2pc.afterDecision"])
    }).pipe(provideFaults))

  it.effect("arm with skip lets that many hits pass before the crash", () =>
    Effect.gen(function*() {
      const faults = yield* Faults.current
      yield* faults.arm("saga.afterAction", { skip: 2 })
      yield* faults.crashPoint("saga.afterAction")
      yield* faults.crashPoint("saga.afterAction")
      const exit = yield* Effect.exit(faults.crashPoint("saga.afterAction"))
      expect(Exit.isFailure(exit) && Faults.isCrash(exit.cause)).toBe(true)
      yield* faults.crashPoint("saga.afterAction")
    }).pipe(provideFaults))

  it.effect("disarmAll disarms every crash point", () =>
    Effect.gen(function*() {
      const faults = yield* Faults.current
      yield* faults.arm("a")
      yield* faults.arm("b")
      yield* faults.disarmAll
      yield* faults.crashPoint("a")
      yield* faults.crashPoint("b")
      expect(yield* faults.hits).toEqual(["a", "b"])
    }).pipe(provideFaults))

  it("isCrash is false for typed failures, other defects and interruptions", () => {
    expect(Faults.isCrash(Cause.fail(new Faults.SimulatedCrash({ point: "x" })))).toBe(false)
    expect(Faults.isCrash(Cause.die(new Error("boom")))).toBe(false)
    expect(Faults.isCrash(Cause.empty)).toBe(false)
    expect(Faults.isCrash(Cause.sequential(Cause.fail("e"), Cause.die(new Faults.SimulatedCrash({ point: "y" })))))
      .toBe(true)
  })

  it.effect("deliver runs the call once and returns its reply", () =>
    Effect.gen(function*() {
      const faults = yield* Faults.current
      const participant = counter()
      expect(yield* faults.message(message("a"), participant.call)).toBe(1)
      expect(participant.runs()).toBe(1)
    }).pipe(provideFaults))

  it.effect("dropRequest never runs the call and never answers", () =>
    Effect.gen(function*() {
      const faults = yield* Faults.current
      yield* faults.setNetwork(() => "dropRequest")
      const participant = counter()
      const fiber = yield* Effect.fork(faults.message(message("a"), participant.call))
      yield* TestClock.adjust("1 hour")
      expect(Option.isNone(yield* Fiber.poll(fiber))).toBe(true)
      expect(participant.runs()).toBe(0)
      yield* Fiber.interrupt(fiber)
    }).pipe(provideFaults))

  it.effect("dropReply runs the call once and never answers", () =>
    Effect.gen(function*() {
      const faults = yield* Faults.current
      yield* faults.setNetwork(() => "dropReply")
      const participant = counter()
      const fiber = yield* Effect.fork(faults.message(message("a"), participant.call))
      yield* TestClock.adjust("1 hour")
      expect(Option.isNone(yield* Fiber.poll(fiber))).toBe(true)
      expect(participant.runs()).toBe(1)
      yield* Fiber.interrupt(fiber)
    }).pipe(provideFaults))

  it.effect("duplicate runs the call twice in a row and returns the second reply", () =>
    Effect.gen(function*() {
      const faults = yield* Faults.current
      yield* faults.setNetwork(() => "duplicate")
      const participant = counter()
      expect(yield* faults.message(message("a"), participant.call)).toBe(2)
      expect(participant.runs()).toBe(2)
    }).pipe(provideFaults))

  it.effect("duplicate still returns the second reply when the first attempt failed", () =>
    Effect.gen(function*() {
      const faults = yield* Faults.current
      yield* faults.setNetwork(() => "duplicate")
      let runs = 0
      const call = Effect.suspend(() => (++runs === 1 ? Effect.fail("first fails") : Effect.succeed(runs)))
      expect(yield* faults.message(message("a"), call)).toBe(2)
    }).pipe(provideFaults))

  it.effect("duplicateConcurrent runs the call twice at once and returns the first reply", () =>
    Effect.gen(function*() {
      const faults = yield* Faults.current
      yield* faults.setNetwork(() => "duplicateConcurrent")
      let inFlight = 0
      let maxInFlight = 0
      let runs = 0
      const call = Effect.gen(function*() {
        const n = ++runs
        inFlight++
        maxInFlight = Math.max(maxInFlight, inFlight)
        yield* Effect.sleep(n === 1 ? "20 millis" : "10 millis")
        inFlight--
        return n
      })
      const fiber = yield* Effect.fork(faults.message(message("a"), call))
      yield* TestClock.adjust("20 millis")
      expect(yield* Fiber.join(fiber)).toBe(1)
      expect(runs).toBe(2)
      expect(maxInFlight).toBe(2)
    }).pipe(provideFaults))

  it.effect("delay delivers the message only after the delay (TestClock)", () =>
    Effect.gen(function*() {
      const faults = yield* Faults.current
      yield* faults.setNetwork(() => ({ delay: "5 seconds" }))
      const participant = counter()
      const fiber = yield* Effect.fork(faults.message(message("a"), participant.call))
      yield* TestClock.adjust("4999 millis")
      expect(participant.runs()).toBe(0)
      yield* TestClock.adjust("1 millis")
      expect(yield* Fiber.join(fiber)).toBe(1)
    }).pipe(provideFaults))

  it.effect("a plan sees n, the attempt number per (to, operation, gid): lose only the first attempt", () =>
    Effect.gen(function*() {
      const faults = yield* Faults.current
      yield* faults.setNetwork((_, n) => (n === 1 ? "dropRequest" : "deliver"))
      const participant = counter()
      const first = yield* Effect.fork(faults.message(message("a", "commit"), participant.call))
      yield* TestClock.adjust("1 second")
      yield* Fiber.interrupt(first)
      expect(yield* faults.message(message("a", "commit"), participant.call)).toBe(1)
      // Another gid is counted on its own.
      const other = yield* Effect.fork(faults.message(message("a", "commit", "g2"), participant.call))
      yield* TestClock.adjust("1 second")
      expect(Option.isNone(yield* Fiber.poll(other))).toBe(true)
      yield* Fiber.interrupt(other)
    }).pipe(provideFaults))

  it.effect("partition drops requests to the isolated participants and delivers the others", () =>
    Effect.gen(function*() {
      const faults = yield* Faults.current
      yield* faults.setNetwork(Faults.partition(["b", "c"]))
      const a = counter()
      const b = counter()
      expect(yield* faults.message(message("a"), a.call)).toBe(1)
      const fiber = yield* Effect.fork(faults.message(message("b"), b.call))
      yield* TestClock.adjust("1 minute")
      expect(Option.isNone(yield* Fiber.poll(fiber))).toBe(true)
      expect(b.runs()).toBe(0)
      yield* Fiber.interrupt(fiber)
      yield* faults.setNetwork(Faults.deliverAll)
      expect(yield* faults.message(message("b"), b.call)).toBe(1)
      expect(Faults.partition(["x"])(message("x"), 1)).toBe("dropRequest")
      expect(Faults.partition(["x"])(message("y"), 1)).toBe("deliver")
    }).pipe(provideFaults))

  it.effect("messages records every message with what the plan did to it, in order", () =>
    Effect.gen(function*() {
      const faults = yield* Faults.current
      yield* faults.setNetwork((m) => (m.operation === "abort" ? "duplicate" : "deliver"))
      yield* faults.message(message("a", "prepare"), Effect.void)
      yield* faults.message(message("b", "abort", "g7"), Effect.void)
      expect(yield* faults.messages).toEqual([
        { to: "a", operation: "prepare", gid: "g1", delivery: "deliver" },
        { to: "b", operation: "abort", gid: "g7", delivery: "duplicate" }
      ])
    }).pipe(provideFaults))

  it.effect("each Faults.layer build is a fresh injector", () =>
    Effect.gen(function*() {
      const first = yield* Effect.provide(Faults.current, Faults.layer)
      yield* first.crashPoint("x")
      const second = yield* Effect.provide(Faults.current, Faults.layer)
      expect(yield* second.hits).toEqual([])
      expect(yield* first.hits).toEqual(["x"])
    }))
})
