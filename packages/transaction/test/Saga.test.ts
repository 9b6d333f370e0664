import { describe, expect, it } from "@effect/vitest"
import { Cause, Effect, Exit, FastCheck, Fiber, Metric, MetricLabel, Option, Schedule, type Schema, Stream, TestClock } from "effect"
import * as Faults from "../src/Faults.js"
import * as Saga from "../src/Saga.js"
import * as TransactionLog from "../src/TransactionLog.js"
import { drive, inEffect, Input, type Ledger, ledgerStep, makeLedger, testLayer } from "./support/saga.js"

const input = { order: "o-1" }

/** Runs to the end, failing only with typed errors; returns the exit. */
const runExit = <A, E, R>(effect: Effect.Effect<A, E, R>) => Effect.exit(effect)

const failureOf = <A, E>(exit: Exit.Exit<A, E>): E | undefined =>
  Exit.isFailure(exit) ? Option.getOrUndefined(Cause.failureOption(exit.cause)) : undefined

describe("Saga", () => {
  describe("forward phase", () => {
    it.effect("runs every step in order and returns their outputs", () =>
      Effect.gen(function*() {
        const ledger = makeLedger()
        const saga = yield* Saga.make({
          name: "order",
          input: Input,
          steps: [ledgerStep(ledger, "reserve"), ledgerStep(ledger, "charge"), ledgerStep(ledger, "ship")]
        })
        const outputs = yield* Saga.run(saga, input, { sagaId: "s1" })
        expect(outputs.reserve).toEqual({ step: "reserve", key: "s1:reserve" })
        expect(outputs.ship.key).toBe("s1:ship")
        expect(ledger.effects).toEqual(["do:reserve", "do:charge", "do:ship"])
        expect(yield* Saga.status(saga, "s1")).toBe("Completed")
        const log = yield* TransactionLog.TransactionLog
        expect(yield* log.active()).toEqual([])
      }).pipe(Effect.provide(testLayer)))

    it.effect("logs a step's start before its action runs", () =>
      Effect.gen(function*() {
        const log = yield* TransactionLog.TransactionLog
        const seen: Array<ReadonlyArray<string>> = []
        const probe = Saga.step({
          name: "probe",
          action: (ctx: Saga.StepContext<unknown>) =>
            Effect.flatMap(log.get(ctx.sagaId), (record) =>
              Effect.sync(() => {
                seen.push(Option.getOrThrow(record).entries.map((e) => e.kind))
              })),
          compensate: () => Effect.void
        })
        const saga = yield* Saga.make({ name: "order", input: Input, steps: [probe] })
        yield* Saga.run(saga, input, { sagaId: "s1" })
        expect(seen).toEqual([["step.started"]])
      }).pipe(Effect.provide(testLayer)))
  })

  describe("scenario 13: a step fails or its outcome is unknown", () => {
    it.effect("compensates every started step once, in reverse, and fails with SagaRolledBack", () =>
      Effect.gen(function*() {
        const ledger = makeLedger()
        ledger.script("ship").failAlways = true
        const saga = yield* Saga.make({
          name: "order",
          input: Input,
          steps: [ledgerStep(ledger, "reserve"), ledgerStep(ledger, "charge"), ledgerStep(ledger, "ship")]
        })
        const error = failureOf(yield* runExit(Saga.run(saga, input, { sagaId: "s1" })))
        expect(error?._tag).toBe("SagaRolledBack")
        if (error?._tag !== "SagaRolledBack") return
        expect(error.failedStep).toBe("ship")
        expect(error.compensated).toEqual(["ship", "charge", "reserve"])
        expect(ledger.calls).toEqual([
          "action:reserve",
          "action:charge",
          "action:ship",
          "compensate:ship",
          "compensate:charge",
          "compensate:reserve"
        ])
        expect(ledger.effects).toEqual(["do:reserve", "do:charge", "undo:charge", "undo:reserve"])
        expect(yield* Saga.status(saga, "s1")).toBe("RolledBack")
      }).pipe(Effect.provide(testLayer)))

    it.effect("compensates a step that took effect and then timed out", () =>
      Effect.gen(function*() {
        const ledger = makeLedger()
        ledger.script("charge").hangAfterApply = 1
        const saga = yield* Saga.make({
          name: "order",
          input: Input,
          steps: [ledgerStep(ledger, "reserve"), ledgerStep(ledger, "charge", { timeout: "1 second" })]
        })
        const fiber = yield* Effect.fork(runExit(Saga.run(saga, input, { sagaId: "s1" })))
        yield* TestClock.adjust("1 second")
        const error = failureOf(yield* Fiber.join(fiber))
        expect(error?._tag).toBe("SagaRolledBack")
        if (error?._tag !== "SagaRolledBack") return
        expect(error.reason).toContain("did not answer within 1000 ms")
        expect(ledger.effects).toEqual(["do:reserve", "do:charge", "undo:charge", "undo:reserve"])
      }).pipe(Effect.provide(testLayer)))

    it.effect("compensates a step whose reply was lost (outcome unknown), passing no output", () =>
      Effect.gen(function*() {
        const ledger = makeLedger()
        const outputsSeen: Array<Option.Option<unknown>> = []
        const faults = yield* Faults.Faults
        yield* faults.setNetwork((message) =>
          message.to === "charge" && message.operation === "action" ? "dropReply" : "deliver"
        )
        const saga = yield* Saga.make({
          name: "order",
          input: Input,
          steps: [
            ledgerStep(ledger, "reserve"),
            ledgerStep(ledger, "charge", {
              timeout: 500,
              compensate: (_ctx, output) => Effect.sync(() => void outputsSeen.push(output))
            })
          ]
        })
        const fiber = yield* Effect.fork(runExit(Saga.run(saga, input, { sagaId: "s1" })))
        yield* TestClock.adjust("1 second")
        expect(failureOf(yield* Fiber.join(fiber))?._tag).toBe("SagaRolledBack")
        expect(outputsSeen).toEqual([Option.none()])
        expect(ledger.effects).toEqual(["do:reserve", "do:charge", "undo:reserve"])
      }).pipe(Effect.provide(testLayer)))

    it.effect("a compensation with nothing to undo (the action failed before taking effect) succeeds", () =>
      Effect.gen(function*() {
        const ledger = makeLedger()
        ledger.script("reserve").failAlways = true
        const saga = yield* Saga.make({ name: "order", input: Input, steps: [ledgerStep(ledger, "reserve")] })
        const error = failureOf(yield* runExit(Saga.run(saga, input, { sagaId: "s1" })))
        expect(error?._tag).toBe("SagaRolledBack")
        expect(ledger.calls).toEqual(["action:reserve", "compensate:reserve"])
        expect(ledger.effects).toEqual([])
      }).pipe(Effect.provide(testLayer)))

    it.effect("retries a failing step per its schedule with the same idempotency key", () =>
      Effect.gen(function*() {
        const ledger = makeLedger()
        ledger.script("charge").failAttempts = 2
        const attempts: Array<number> = []
        const saga = yield* Saga.make({
          name: "order",
          input: Input,
          steps: [ledgerStep(ledger, "charge", { retry: Schedule.spaced("1 second").pipe(Schedule.intersect(Schedule.recurs(3))) })]
        })
        const events = yield* Stream.runCollect(saga.events.pipe(Stream.take(8))).pipe(Effect.fork)
        yield* Effect.yieldNow()
        const fiber = yield* Effect.fork(Saga.run(saga, input, { sagaId: "s1" }))
        yield* TestClock.adjust("2 seconds")
        const outputs = yield* Fiber.join(fiber)
        expect(outputs.charge.key).toBe("s1:charge")
        expect(ledger.keys.get("action:charge")).toEqual(["s1:charge", "s1:charge", "s1:charge"])
        for (const e of yield* Fiber.join(events)) if (e._tag === "StepStarted") attempts.push(e.attempt)
        expect(attempts).toEqual([1, 2, 3])
      }).pipe(Effect.provide(testLayer)))
  })

  const threeSteps = (ledger: Ledger, recovery: Saga.Recovery = "backward") =>
    Saga.make({
      name: "order",
      input: Input,
      recovery,
      steps: [ledgerStep(ledger, "reserve"), ledgerStep(ledger, "charge"), ledgerStep(ledger, "ship")]
    })

  describe("scenario 14: crash during compensation, or a compensation that keeps failing", () => {
    const points: ReadonlyArray<readonly [string, number]> = [
      ["saga.beforeCompensation", 0],
      ["saga.compensation.afterLogged", 0],
      ["saga.compensation.afterLogged", 1],
      ["saga.compensation.afterLogged", 2],
      ["saga.compensation.afterUndo", 0],
      ["saga.compensation.afterUndo", 1],
      ["saga.compensation.afterUndo", 2]
    ]
    for (const [point, skip] of points) {
      it.effect(`a crash at ${point} (skip ${skip}) is resumed by recover without re-applying anything`, () =>
        Effect.gen(function*() {
          const ledger = makeLedger()
          ledger.script("ship").failAlways = true
          const faults = yield* Faults.Faults
          yield* faults.arm(point, { skip })
          const saga = yield* threeSteps(ledger)
          const exit = yield* runExit(Saga.run(saga, input, { sagaId: "s1" }))
          expect(Exit.isFailure(exit) && Faults.isCrash(exit.cause)).toBe(true)
          const compensatedBeforeCrash = ledger.successes.filter((c) => c.startsWith("compensate:"))
          expect(yield* Saga.status(saga, "s1")).toBe("Running")
          // A fresh orchestrator over the same log.
          const fresh = yield* threeSteps(ledger)
          const report = yield* Saga.recover(fresh)
          expect(report).toEqual({ completed: [], rolledBack: ["s1"], stuck: [], failed: [] })
          expect(ledger.count("action:reserve") + ledger.count("action:charge")).toBe(2)
          expect(ledger.count("action:ship")).toBe(1)
          expect(ledger.effects).toEqual(["do:reserve", "do:charge", "undo:charge", "undo:reserve"])
          // Compensations that finished (and were logged) before the crash never ran again; the one
          // cut by an `afterUndo` crash ran once more (idempotently).
          const order = ["ship", "charge", "reserve"]
          for (const [i, stepName] of order.entries()) {
            const expected = point === "saga.compensation.afterUndo" && i === skip ? 2 : 1
            expect(ledger.count(`compensate:${stepName}`)).toBe(expected)
          }
          expect(compensatedBeforeCrash.length).toBe(point === "saga.compensation.afterUndo" ? skip + 1 : point === "saga.beforeCompensation" ? 0 : skip)
          expect(yield* Saga.status(fresh, "s1")).toBe("RolledBack")
        }).pipe(Effect.provide(testLayer)))
    }

    it.effect("a compensation that keeps failing leaves the saga Stuck with SagaCompensationFailed, never rolled back", () =>
      Effect.gen(function*() {
        const ledger = makeLedger()
        ledger.script("ship").failAlways = true
        ledger.script("charge").compensationFailsAlways = true
        const saga = yield* threeSteps(ledger)
        const fiber = yield* Effect.fork(runExit(Saga.run(saga, input, { sagaId: "s1" })))
        yield* TestClock.adjust("1 minute")
        const error = failureOf(yield* Fiber.join(fiber))
        expect(error?._tag).toBe("SagaCompensationFailed")
        if (error?._tag !== "SagaCompensationFailed") return
        expect(error.step).toBe("charge")
        expect(error.compensated).toEqual(["ship"])
        expect(error.pending).toEqual(["charge", "reserve"])
        // The default compensation schedule: 5 retries.
        expect(ledger.count("compensate:charge")).toBe(6)
        expect(ledger.count("compensate:reserve")).toBe(0)
        expect(yield* Saga.status(saga, "s1")).toBe("Stuck")
        const st = yield* Saga.state(saga, "s1")
        expect(st.pending).toEqual(["charge", "reserve"])
        expect(st.decision).toBe("abort")
        const log = yield* TransactionLog.TransactionLog
        expect((yield* log.active()).map((r) => r.gid)).toEqual(["s1"])
        expect(inEffect(ledger)).toEqual(["s1:reserve", "s1:charge"])

        // Still broken: recover reports it stuck again.
        const again = yield* drive(Saga.recover(saga))
        expect(Exit.isSuccess(again) && again.value.stuck.map((e) => e.step)).toEqual(["charge"])
        // An operator fixes the fault; the next recover completes the rollback.
        ledger.script("charge").compensationFailsAlways = false
        const report = yield* drive(Saga.recover(saga))
        expect(Exit.isSuccess(report) && report.value.rolledBack).toEqual(["s1"])
        expect(inEffect(ledger)).toEqual([])
        expect(ledger.count("compensate:ship")).toBe(1)
        expect(ledger.count("action:charge")).toBe(1)
        expect(yield* Saga.status(saga, "s1")).toBe("RolledBack")
        const rolledBack = failureOf(yield* runExit(Saga.resume(saga, "s1")))
        expect(rolledBack?._tag === "SagaRolledBack" && rolledBack.compensated).toEqual(["ship", "charge", "reserve"])
      }).pipe(Effect.provide(testLayer)))
  })

  describe("crashes in the forward phase", () => {
    const points = ["saga.afterStepLogged", "saga.afterAction", "saga.afterStepCompleted"]
    for (const recovery of ["forward", "backward"] as const) {
      for (const point of points) {
        for (const skip of [0, 1, 2]) {
          it.effect(`${recovery}: a crash at ${point} on step ${skip + 1} never compensates; recover ${recovery === "forward" ? "completes" : "rolls back"}`, () =>
            Effect.gen(function*() {
              const ledger = makeLedger()
              const faults = yield* Faults.Faults
              yield* faults.arm(point, { skip })
              const saga = yield* threeSteps(ledger, recovery)
              const exit = yield* runExit(Saga.run(saga, input, { sagaId: "s1" }))
              expect(Exit.isFailure(exit) && Faults.isCrash(exit.cause)).toBe(true)
              expect(ledger.calls.filter((c) => c.startsWith("compensate:"))).toEqual([])
              const actionsBefore = ledger.calls.slice()
              const fresh = yield* threeSteps(ledger, recovery)
              const report = yield* Saga.recover(fresh)
              const names = ["reserve", "charge", "ship"]
              const crashed = names[skip]!
              if (recovery === "forward" || (skip === 2 && point === "saga.afterStepCompleted")) {
                expect(report.completed).toEqual(["s1"])
                expect(ledger.effects).toEqual(["do:reserve", "do:charge", "do:ship"])
                for (const name of names) {
                  // Only an action cut before its completion was logged runs again, with the same key.
                  const expected = name === crashed && point === "saga.afterAction" ? 2 : 1
                  expect(ledger.count(`action:${name}`)).toBe(expected)
                  expect(new Set(ledger.keys.get(`action:${name}`))).toEqual(new Set([`s1:${name}`]))
                }
                const outputs = yield* Saga.resume(fresh, "s1")
                expect(outputs.charge).toEqual({ step: "charge", key: "s1:charge" })
              } else {
                expect(report.rolledBack).toEqual(["s1"])
                // No action ran during recovery.
                expect(ledger.calls.slice(0, actionsBefore.length)).toEqual(actionsBefore)
                expect(ledger.calls.slice(actionsBefore.length).every((c) => c.startsWith("compensate:"))).toBe(true)
                // Every started step (including one whose action never ran) compensated once, in reverse.
                expect(ledger.calls.slice(actionsBefore.length)).toEqual(
                  names.slice(0, skip + 1).reverse().map((n) => `compensate:${n}`)
                )
                expect(inEffect(ledger)).toEqual([])
                expect(new Set(ledger.keys.get(`compensate:${crashed}`))).toEqual(new Set([`s1:${crashed}`]))
              }
              const log = yield* TransactionLog.TransactionLog
              expect(yield* log.active()).toEqual([])
            }).pipe(Effect.provide(testLayer)))
        }
      }
    }

    it.effect("an interrupted saga is not compensated; recover finishes it", () =>
      Effect.gen(function*() {
        const ledger = makeLedger()
        ledger.script("charge").hangAfterApply = 1
        const saga = yield* Saga.make({
          name: "order",
          input: Input,
          steps: [ledgerStep(ledger, "reserve"), ledgerStep(ledger, "charge", { timeout: "1 hour" })]
        })
        const fiber = yield* Effect.fork(Saga.run(saga, input, { sagaId: "s1" }))
        yield* TestClock.adjust("1 second")
        yield* Fiber.interrupt(fiber)
        expect(ledger.calls.filter((c) => c.startsWith("compensate:"))).toEqual([])
        const report = yield* Saga.recover(saga)
        expect(report.rolledBack).toEqual(["s1"])
        expect(ledger.effects).toEqual(["do:reserve", "do:charge", "undo:charge", "undo:reserve"])
      }).pipe(Effect.provide(testLayer)))
  })

  describe("forward recovery", () => {
    it.effect("retries a failing step until its schedule gives up, then is Stuck with SagaForwardFailed (nothing compensated)", () =>
      Effect.gen(function*() {
        const ledger = makeLedger()
        ledger.script("ship").failAlways = true
        const saga = yield* Saga.make({
          name: "order",
          input: Input,
          recovery: "forward",
          steps: [ledgerStep(ledger, "reserve"), ledgerStep(ledger, "ship", { retry: Schedule.recurs(2) })]
        })
        const error = failureOf(yield* runExit(Saga.run(saga, input, { sagaId: "s1" })))
        expect(error?._tag).toBe("SagaForwardFailed")
        if (error?._tag !== "SagaForwardFailed") return
        expect(error.step).toBe("ship")
        expect(error.completed).toEqual(["reserve"])
        expect(error.pending).toEqual(["ship"])
        expect(ledger.count("action:ship")).toBe(3)
        expect(ledger.calls.filter((c) => c.startsWith("compensate:"))).toEqual([])
        expect(yield* Saga.status(saga, "s1")).toBe("Stuck")
        ledger.script("ship").failAlways = false
        const report = yield* Saga.recover(saga)
        expect(report.completed).toEqual(["s1"])
        expect(ledger.effects).toEqual(["do:reserve", "do:ship"])
        expect(ledger.count("action:reserve")).toBe(1)
        expect(yield* Saga.status(saga, "s1")).toBe("Completed")
      }).pipe(Effect.provide(testLayer)))
  })

  describe("abort (operator)", () => {
    it.effect("rolls back a forward saga stuck on a step that can never succeed", () =>
      Effect.gen(function*() {
        const ledger = makeLedger()
        ledger.script("ship").failAlways = true
        const saga = yield* threeSteps(ledger, "forward")
        const error = failureOf(yield* runExit(Saga.run(saga, input, { sagaId: "s1" })))
        expect(error?._tag).toBe("SagaForwardFailed")
        expect(yield* Saga.abort(saga, "s1", "ship can never succeed")).toBe("RolledBack")
        expect(ledger.effects).toEqual(["do:reserve", "do:charge", "undo:charge", "undo:reserve"])
        expect(ledger.calls.filter((c) => c.startsWith("compensate:"))).toEqual([
          "compensate:ship",
          "compensate:charge",
          "compensate:reserve"
        ])
        expect(yield* Saga.status(saga, "s1")).toBe("RolledBack")
        const rolledBack = failureOf(yield* runExit(Saga.resume(saga, "s1")))
        expect(rolledBack).toMatchObject({ _tag: "SagaRolledBack", failedStep: "ship", reason: "ship can never succeed" })
        // Idempotent; a completed saga is never undone.
        expect(yield* Saga.abort(saga, "s1")).toBe("RolledBack")
        ledger.script("ship").failAlways = false
        yield* Saga.run(saga, input, { sagaId: "s2" })
        expect(yield* Saga.abort(saga, "s2")).toBe("Completed")
        expect(inEffect(ledger)).toEqual(["s2:reserve", "s2:charge", "s2:ship"])
      }).pipe(Effect.provide(testLayer)))
  })

  describe("parallel groups", () => {
    const paymentSaga = (ledger: Ledger) =>
      Saga.make({
        name: "order",
        input: Input,
        steps: [
          ledgerStep(ledger, "reserve"),
          Saga.parallel("pay", ledgerStep(ledger, "card"), ledgerStep(ledger, "points"), ledgerStep(ledger, "voucher")),
          ledgerStep(ledger, "ship")
        ]
      })

    it.effect("runs the members of a group concurrently", () =>
      Effect.gen(function*() {
        const ledger = makeLedger()
        const faults = yield* Faults.Faults
        yield* faults.setNetwork((m) => (m.operation === "action" && m.to !== "reserve" && m.to !== "ship" ? { delay: "1 second" } : "deliver"))
        const saga = yield* paymentSaga(ledger)
        const fiber = yield* Effect.fork(Saga.run(saga, input, { sagaId: "s1" }))
        // Three one-second members finish after one second, not three.
        yield* TestClock.adjust("1 second")
        const outputs = yield* Fiber.join(fiber)
        expect(Object.keys(outputs).sort()).toEqual(["card", "points", "reserve", "ship", "voucher"])
        expect(ledger.effects[0]).toBe("do:reserve")
        expect(ledger.effects.slice(1, 4).sort()).toEqual(["do:card", "do:points", "do:voucher"])
        expect(ledger.effects[4]).toBe("do:ship")
      }).pipe(Effect.provide(testLayer)))

    it.effect("when one member fails, the others run to their end and every started step is compensated in reverse", () =>
      Effect.gen(function*() {
        const ledger = makeLedger()
        ledger.script("voucher").failAlways = true
        const faults = yield* Faults.Faults
        yield* faults.setNetwork((m) => (m.operation === "action" && (m.to === "card" || m.to === "points") ? { delay: "1 second" } : "deliver"))
        const saga = yield* paymentSaga(ledger)
        const fiber = yield* Effect.fork(runExit(Saga.run(saga, input, { sagaId: "s1" })))
        yield* TestClock.adjust("1 second")
        const error = failureOf(yield* Fiber.join(fiber))
        expect(error?._tag).toBe("SagaRolledBack")
        if (error?._tag !== "SagaRolledBack") return
        expect(error.failedStep).toBe("voucher")
        expect(error.compensated).toEqual(["voucher", "points", "card", "reserve"])
        expect(ledger.count("action:ship")).toBe(0)
        expect(ledger.effects.slice(1, 3).sort()).toEqual(["do:card", "do:points"])
        expect(ledger.effects.slice(3)).toEqual(["undo:points", "undo:card", "undo:reserve"])
      }).pipe(Effect.provide(testLayer)))

    it.effect("members read earlier outputs through ctx.output", () =>
      Effect.gen(function*() {
        const ledger = makeLedger()
        const reserve = ledgerStep(ledger, "reserve")
        const seen: Array<unknown> = []
        const saga = yield* Saga.make({
          name: "order",
          input: Input,
          steps: [
            reserve,
            Saga.step({
              name: "read",
              action: (ctx: Saga.StepContext<typeof Input.Type>) =>
                Effect.sync(() => {
                  seen.push(Option.getOrUndefined(ctx.output(reserve))?.key, ctx.input.order, ctx.outputs.reserve)
                  return 42
                }),
              compensate: () => Effect.void
            })
          ]
        })
        const outputs = yield* Saga.run(saga, input, { sagaId: "s1" })
        const answer: number = outputs.read
        expect(answer).toBe(42)
        expect(seen).toEqual(["s1:reserve", "o-1", { step: "reserve", key: "s1:reserve" }])
      }).pipe(Effect.provide(testLayer)))
  })

  describe("events and log", () => {
    it.effect("a reused saga id fails with DuplicateTransaction; an unknown id with TransactionNotFound", () =>
      Effect.gen(function*() {
        const ledger = makeLedger()
        const saga = yield* threeSteps(ledger)
        yield* Saga.run(saga, input, { sagaId: "s1" })
        expect((yield* Effect.flip(Saga.run(saga, input, { sagaId: "s1" })))._tag).toBe("DuplicateTransaction")
        expect((yield* Effect.flip(Saga.run(saga, input, { sagaId: "bad id" })))._tag).toBe("InvalidGid")
        expect((yield* Effect.flip(Saga.status(saga, "nope")))._tag).toBe("TransactionNotFound")
        const generated = yield* Saga.run(saga, input)
        expect(generated.reserve.key).toMatch(/^saga-.*:reserve$/)
      }).pipe(Effect.provide(testLayer)))

    it.effect("publishes step and outcome events", () =>
      Effect.gen(function*() {
        const ledger = makeLedger()
        ledger.script("charge").failAlways = true
        const saga = yield* threeSteps(ledger)
        const events = yield* Stream.runCollect(saga.events.pipe(Stream.take(8))).pipe(Effect.fork)
        yield* Effect.repeatN(Effect.yieldNow(), 5)
        yield* Effect.exit(Saga.run(saga, input, { sagaId: "s1" }))
        const tags = Array.from(yield* Fiber.join(events)).map((e) => e._tag)
        expect(tags).toEqual([
          "SagaStarted",
          "StepStarted",
          "StepCompleted",
          "StepStarted",
          "StepFailed",
          "CompensationStarted",
          "CompensationCompleted",
          "CompensationStarted"
        ])
      }).pipe(Effect.provide(testLayer)))
  })

  describe("model-based property", () => {
    const StepSpec = FastCheck.record({
      failAttempts: FastCheck.integer({ min: 0, max: 2 }),
      failAlways: FastCheck.integer({ min: 0, max: 4 }).map((n) => n === 0),
      hangAfterApply: FastCheck.integer({ min: 0, max: 1 }),
      compensationFailures: FastCheck.integer({ min: 0, max: 3 }),
      compensationFailsAlways: FastCheck.integer({ min: 0, max: 5 }).map((n) => n === 0),
      retries: FastCheck.integer({ min: 0, max: 2 })
    })
    const SagaSpec = FastCheck.record({
      steps: FastCheck.array(StepSpec, { minLength: 1, maxLength: 5 }),
      recovery: FastCheck.constantFrom("forward" as const, "backward" as const),
      crash: FastCheck.option(
        FastCheck.record({
          point: FastCheck.constantFrom(...Saga.crashPoints),
          skip: FastCheck.integer({ min: 0, max: 4 })
        }),
        { nil: undefined }
      )
    })

    it.effect.prop(
      "random sagas with failures, timeouts and crashes end Completed (all applied once) or RolledBack (all undone, in reverse), Stuck in between with the exact pending list",
      [SagaSpec],
      ([spec]) =>
        Effect.gen(function*() {
          const ledger = makeLedger()
          const names = spec.steps.map((_, i) => `step${i}`)
          spec.steps.forEach((stepSpec, i) => Object.assign(ledger.script(names[i]!), stepSpec))
          const faults = yield* Faults.Faults
          if (spec.crash !== undefined) yield* faults.arm(spec.crash.point, { skip: spec.crash.skip })
          const make = Saga.make({
            name: "prop",
            input: Input,
            recovery: spec.recovery,
            steps: spec.steps.map((stepSpec, i) =>
              ledgerStep(ledger, names[i]!, {
                retry: Schedule.recurs(stepSpec.retries),
                compensationRetry: Schedule.recurs(2),
                timeout: 1000,
                compensationTimeout: 1000
              })
            )
          })
          const saga = yield* make
          let exit: Exit.Exit<unknown, unknown> = yield* drive(Saga.run(saga, input, { sagaId: "p1" }))
          let rounds = 0
          while (rounds++ < 8) {
            if (Exit.isSuccess(exit)) break
            const error = failureOf(exit)
            if (error === undefined) {
              expect(Faults.isCrash(exit.cause)).toBe(true)
            } else if (typeof error === "object" && error !== null && "_tag" in error) {
              if (error._tag === "SagaRolledBack") break
              const st = yield* Saga.state(saga, "p1")
              expect(st.status).toBe("Stuck")
              if (error instanceof Saga.SagaForwardFailed) {
                expect(spec.recovery).toBe("forward")
                expect(error.pending).toEqual(st.pending)
              } else {
                expect((error as { _tag: string })._tag).toBe("SagaCompensationFailed")
                const stuck = error as unknown as { step: string; pending: ReadonlyArray<string>; compensated: ReadonlyArray<string> }
                expect(stuck.pending).toEqual(st.pending)
                expect(stuck.pending[0]).toBe(stuck.step)
                expect(stuck.compensated).toEqual(st.compensated)
                // Exact: started = compensated + pending, pending in reverse order of start.
                expect(stuck.pending).toEqual(st.started.filter((n) => !st.compensated.includes(n)).reverse())
                // Nothing still in effect is missing from the pending list.
                for (const key of inEffect(ledger)) expect(stuck.pending).toContain(key.slice("p1:".length))
              }
              // An operator fixes every fault.
              for (const script of ledger.scripts.values()) {
                script.failAlways = false
                script.failAttempts = 0
                script.hangAfterApply = 0
                script.compensationFailsAlways = false
                script.compensationFailures = 0
              }
            } else {
              expect.fail(`unexpected error ${String(error)}`)
            }
            // A fresh orchestrator over the same log.
            const fresh = yield* make
            exit = yield* drive(Saga.resume(fresh, "p1"))
          }
          const final = yield* Saga.state(saga, "p1")
          const hits = yield* faults.hits
          const fired = spec.crash !== undefined &&
            hits.filter((h) => h === spec.crash!.point).length > spec.crash.skip
          const firedAt = (point: string) => fired && spec.crash!.point === point ? 1 : 0
          // Completed actions never run again (only one cut by a crash before its completion was logged).
          const reinvoked = Array.from(ledger.reinvokedAfterSuccess.values()).reduce((a, b) => a + b, 0)
          expect(reinvoked).toBeLessThanOrEqual(firedAt("saga.afterAction"))
          // No action runs after its compensation started.
          for (const name of names) {
            const lastAction = ledger.calls.lastIndexOf(`action:${name}`)
            const firstUndo = ledger.calls.indexOf(`compensate:${name}`)
            if (firstUndo >= 0) expect(lastAction).toBeLessThan(firstUndo)
          }
          if (spec.recovery === "forward") {
            expect(ledger.calls.filter((c) => c.startsWith("compensate:"))).toEqual([])
          }
          if (Exit.isSuccess(exit)) {
            expect(final.status).toBe("Completed")
            expect(ledger.effects).toEqual(names.map((n) => `do:${n}`))
          } else {
            expect(failureOf(exit)).toMatchObject({ _tag: "SagaRolledBack" })
            expect(final.status).toBe("RolledBack")
            expect(inEffect(ledger)).toEqual([])
            // Undone in reverse order of doing.
            const done = ledger.effects.filter((e) => e.startsWith("do:")).map((e) => e.slice(3))
            const undone = ledger.effects.filter((e) => e.startsWith("undo:")).map((e) => e.slice(5))
            expect(undone).toEqual(done.slice().reverse())
            // Each compensation completes at most once (twice only when a crash cut it after the undo).
            const extra = names.map((n) => Math.max(0, ledger.successes.filter((c) => c === `compensate:${n}`).length - 1))
              .reduce((a, b) => a + b, 0)
            expect(extra).toBeLessThanOrEqual(firedAt("saga.compensation.afterUndo"))
            // Every step that was started (logged) was compensated.
            expect(final.compensated.slice().sort()).toEqual(final.started.slice().sort())
            expect(final.compensated).toEqual(final.started.slice().reverse())
          }
          const log = yield* TransactionLog.TransactionLog
          expect(yield* log.active()).toEqual([])
          expect(yield* Saga.recover(saga)).toEqual({ completed: [], rolledBack: [], stuck: [], failed: [] })
        }).pipe(Effect.provide(testLayer)),
      { fastCheck: { numRuns: 100 } }
    )
  })

  describe("metrics", () => {
    it.effect("counts outcomes, step attempts and compensations per saga name", () =>
      Effect.gen(function*() {
        const ledger = makeLedger()
        const saga = yield* Saga.make({
          name: "metered",
          input: Input,
          steps: [ledgerStep(ledger, "reserve"), ledgerStep(ledger, "ship")]
        })
        const counter = (metric: string, description: string, outcome: string) =>
          Metric.counter(metric, { description, incremental: true }).pipe(
            Metric.taggedWithLabels([MetricLabel.make("name", "metered"), MetricLabel.make("outcome", outcome)])
          )
        const sagas = (outcome: string) => Metric.value(counter("rampart_saga_total", "Sagas ended, by outcome", outcome))
        yield* Saga.run(saga, input, { sagaId: "m1" })
        ledger.script("ship").failAlways = true
        yield* Effect.exit(Saga.run(saga, input, { sagaId: "m2" }))
        expect((yield* sagas("completed")).count).toBe(1)
        expect((yield* sagas("rolled_back")).count).toBe(1)
        const steps = yield* Metric.value(counter("rampart_saga_steps_total", "Step attempts, by outcome", "completed"))
        expect(steps.count).toBe(3)
        const compensations = yield* Metric.value(
          counter("rampart_saga_compensations_total", "Compensations, by outcome", "completed")
        )
        expect(compensations.count).toBe(2)
      }).pipe(Effect.provide(testLayer)))
  })

  describe("options", () => {
    it.effect("rejects bad options with InvalidOptions naming the field", () =>
      Effect.gen(function*() {
        const ledger = makeLedger()
        const empty = yield* Effect.flip(Saga.make({ name: "order", input: Input, steps: [] }))
        expect(empty._tag).toBe("InvalidOptions")
        expect(empty.message).toContain("steps")
        const duplicate = yield* Effect.flip(
          Saga.make({ name: "order", input: Input, steps: [ledgerStep(ledger, "a"), ledgerStep(ledger, "a")] })
        )
        expect(duplicate.message).toContain(`steps: duplicate step or group name "a"`)
        const badTimeout = yield* Effect.flip(
          Saga.make({ name: "order", input: Input, steps: [ledgerStep(ledger, "a", { timeout: -5 })] })
        )
        expect(badTimeout.message).toContain("steps.0.timeout")
        const noName = yield* Effect.flip(Saga.make({ name: "", input: Input, steps: [ledgerStep(ledger, "a")] }))
        expect(noName.message).toContain("name")
        const badRecovery = yield* Effect.flip(
          Saga.make({
            name: "order",
            input: Input,
            steps: [ledgerStep(ledger, "a")],
            recovery: "sideways" as "forward"
          })
        )
        expect(badRecovery.message).toContain("recovery")
        const badRetry = yield* Effect.flip(
          Saga.make({
            name: "order",
            input: Input,
            steps: [Saga.parallel("g", ledgerStep(ledger, "a", { retry: 3 as unknown as Schedule.Schedule<number> }))]
          })
        )
        expect(badRetry.message).toContain("steps.0.steps.0.retry")
        const badInput = yield* Effect.flip(
          Saga.make({ name: "order", input: "nope" as unknown as typeof Schema.String, steps: [ledgerStep(ledger, "a")] })
        )
        expect(badInput.message).toContain("input")
      }).pipe(Effect.provide(testLayer)))
  })
})
