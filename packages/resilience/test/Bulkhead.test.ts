import { describe, expect, it } from "@effect/vitest"
import { Chunk, Deferred, Effect, Exit, Fiber, Option, Stream, TestClock } from "effect"
import * as Bulkhead from "../src/Bulkhead.js"
import { BulkheadFull } from "../src/Errors.js"
import * as Policy from "../src/Policy.js"
import { metricValues } from "./support/metrics.js"

/** Lets forked fibers run until they block. */
const settle = Effect.repeatN(Effect.yieldNow(), 20)

describe("Bulkhead", () => {
  it.effect("runs a call at once when a permit is free and returns the permit afterwards", () =>
    Effect.gen(function*() {
      const bulkhead = yield* Bulkhead.make({ name: "free", maxConcurrent: 2 })
      const seen = yield* Effect.sync(() => bulkhead.unsafeInFlight()).pipe(Bulkhead.protect(bulkhead))
      expect(seen).toBe(1)
      expect(yield* bulkhead.inFlight).toBe(0)
      expect(yield* bulkhead.queued).toBe(0)
      expect(Bulkhead.isBulkhead(bulkhead)).toBe(true)
      expect(Policy.isPolicy(bulkhead)).toBe(true)
      expect(Bulkhead.isBulkhead({})).toBe(false)
    }))

  it.effect("protect is dual and apply is the same policy", () =>
    Effect.gen(function*() {
      const bulkhead = yield* Bulkhead.make({ name: "dual", maxConcurrent: 1 })
      expect(yield* Bulkhead.protect(Effect.succeed(1), bulkhead)).toBe(1)
      expect(yield* Effect.succeed(2).pipe(Bulkhead.protect(bulkhead))).toBe(2)
      // The annotation works around Policy.ErrorOf/ContextOf inferring `unknown` through `apply`.
      const policy: Policy.Policy<BulkheadFull> = bulkhead
      expect(yield* Policy.protect(Effect.succeed(3), policy)).toBe(3)
      expect(yield* bulkhead.apply(Effect.succeed(4))).toBe(4)
      expect(bulkhead.unsafeInFlight()).toBe(0)
    }))

  it.effect("returns the permit when the protected effect fails or dies", () =>
    Effect.gen(function*() {
      const bulkhead = yield* Bulkhead.make({ name: "failures", maxConcurrent: 1 })
      const failed = yield* Effect.exit(Bulkhead.protect(Effect.fail("boom"), bulkhead))
      expect(failed).toStrictEqual(Exit.fail("boom"))
      const died = yield* Effect.exit(Bulkhead.protect(Effect.die("bug"), bulkhead))
      expect(Exit.isFailure(died)).toBe(true)
      expect(bulkhead.unsafeInFlight()).toBe(0)
      expect(yield* Bulkhead.protect(Effect.succeed("still usable"), bulkhead)).toBe("still usable")
    }))

  it.effect("rejects with BulkheadFull (QueueFull) carrying the counts when no permit is free and the queue is full", () =>
    Effect.gen(function*() {
      const bulkhead = yield* Bulkhead.make({ name: "full", maxConcurrent: 2, maxQueued: 1 })
      const gate = yield* Deferred.make<void>()
      const running = yield* Effect.fork(Effect.all([
        Bulkhead.protect(Deferred.await(gate), bulkhead),
        Bulkhead.protect(Deferred.await(gate), bulkhead),
        Bulkhead.protect(Deferred.await(gate), bulkhead)
      ], { concurrency: "unbounded" }))
      yield* settle
      expect(bulkhead.unsafeInFlight()).toBe(2)
      expect(bulkhead.unsafeQueued()).toBe(1)
      let ran = false
      const rejected = yield* Effect.flip(Bulkhead.protect(Effect.sync(() => (ran = true)), bulkhead))
      expect(ran).toBe(false)
      expect(rejected).toBeInstanceOf(BulkheadFull)
      expect(rejected).toMatchObject({
        _tag: "BulkheadFull",
        bulkhead: "full",
        reason: "QueueFull",
        inFlight: 2,
        queued: 1,
        maxConcurrent: 2,
        maxQueued: 1
      })
      expect(rejected.message).toBe(`bulkhead "full" is full: 2/2 in flight, 1/1 queued`)
      yield* Deferred.succeed(gate, undefined)
      yield* Fiber.join(running)
      expect(bulkhead.unsafeInFlight()).toBe(0)
      expect(bulkhead.unsafeQueued()).toBe(0)
    }))

  it.effect("with the default maxQueued of 0 rejects at once when every permit is taken", () =>
    Effect.gen(function*() {
      const bulkhead = yield* Bulkhead.make({ name: "no-queue", maxConcurrent: 1 })
      const holder = yield* Effect.fork(Bulkhead.protect(Effect.never, bulkhead))
      yield* settle
      const rejected = yield* Effect.flip(Bulkhead.protect(Effect.void, bulkhead))
      expect(rejected.reason).toBe("QueueFull")
      expect(rejected.queued).toBe(0)
      yield* Fiber.interrupt(holder)
      expect(bulkhead.unsafeInFlight()).toBe(0)
    }))

  it.effect("admits queued calls in FIFO order", () =>
    Effect.gen(function*() {
      const bulkhead = yield* Bulkhead.make({ name: "fifo", maxConcurrent: 1, maxQueued: 10 })
      const order: Array<number> = []
      const fibers: Array<Fiber.RuntimeFiber<void, BulkheadFull>> = []
      for (let index = 0; index < 6; index++) {
        fibers.push(
          yield* Effect.fork(Bulkhead.protect(
            Effect.zipRight(Effect.sync(() => order.push(index)), Effect.sleep("10 millis")),
            bulkhead
          ))
        )
        yield* settle
      }
      expect(bulkhead.unsafeQueued()).toBe(5)
      for (let step = 0; step < 6; step++) {
        yield* TestClock.adjust("10 millis")
        yield* settle
      }
      yield* Fiber.joinAll(fibers)
      expect(order).toEqual([0, 1, 2, 3, 4, 5])
    }))

  it.effect("a queued call that waits longer than maxWait fails with BulkheadFull (MaxWaitExceeded)", () =>
    Effect.gen(function*() {
      const bulkhead = yield* Bulkhead.make({ name: "patience", maxConcurrent: 1, maxQueued: 5, maxWait: "100 millis" })
      const events = yield* Effect.fork(Stream.runCollect(Stream.take(bulkhead.events, 2)))
      yield* settle
      const holder = yield* Effect.fork(Bulkhead.protect(Effect.sleep("1 second"), bulkhead))
      yield* settle
      const waiter = yield* Effect.fork(Bulkhead.protect(Effect.succeed("late"), bulkhead))
      yield* settle
      expect(bulkhead.unsafeQueued()).toBe(1)
      yield* TestClock.adjust("99 millis")
      expect(waiter.unsafePoll()).toBeNull()
      yield* TestClock.adjust("1 millis")
      const error = yield* Effect.flip(Fiber.join(waiter))
      expect(error).toMatchObject({ _tag: "BulkheadFull", reason: "MaxWaitExceeded", inFlight: 1, queued: 0 })
      expect(bulkhead.unsafeQueued()).toBe(0)
      const collected = Chunk.toReadonlyArray(yield* Fiber.join(events))
      expect(collected.map((event) => event._tag)).toEqual(["Queued", "Rejected"])
      expect(collected[1]).toMatchObject({ reason: "MaxWaitExceeded", timestamp: 100 })
      yield* Fiber.interrupt(holder)
      expect(bulkhead.unsafeInFlight()).toBe(0)
    }))

  it.effect("a queued call admitted before maxWait runs normally and its timer is cancelled", () =>
    Effect.gen(function*() {
      const bulkhead = yield* Bulkhead.make({ name: "in-time", maxConcurrent: 1, maxQueued: 1, maxWait: 100 })
      const holder = yield* Effect.fork(Bulkhead.protect(Effect.sleep("50 millis"), bulkhead))
      yield* settle
      const waiter = yield* Effect.fork(Bulkhead.protect(Effect.as(Effect.sleep("80 millis"), "done"), bulkhead))
      yield* settle
      yield* TestClock.adjust("50 millis")
      yield* Fiber.join(holder)
      yield* TestClock.adjust("100 millis")
      expect(yield* Fiber.join(waiter)).toBe("done")
      expect(bulkhead.unsafeInFlight()).toBe(0)
    }))

  it.effect("returns the permit of a call whose fiber is interrupted while the call runs", () =>
    Effect.gen(function*() {
      const bulkhead = yield* Bulkhead.make({ name: "interrupt-running", maxConcurrent: 1 })
      const started = yield* Deferred.make<void>()
      const fiber = yield* Effect.fork(
        Bulkhead.protect(Effect.zipRight(Deferred.succeed(started, undefined), Effect.never), bulkhead)
      )
      yield* Deferred.await(started)
      expect(bulkhead.unsafeInFlight()).toBe(1)
      yield* Fiber.interrupt(fiber)
      expect(bulkhead.unsafeInFlight()).toBe(0)
      expect(yield* Bulkhead.protect(Effect.succeed(1), bulkhead)).toBe(1)
    }))

  it.effect("returns the permit of a call that loses a race or times out", () =>
    Effect.gen(function*() {
      const bulkhead = yield* Bulkhead.make({ name: "race", maxConcurrent: 1 })
      const raced = yield* Effect.race(Bulkhead.protect(Effect.never, bulkhead), Effect.succeed("winner"))
      expect(raced).toBe("winner")
      const timedOut = yield* Effect.fork(Effect.timeout(Bulkhead.protect(Effect.never, bulkhead), "10 millis"))
      yield* TestClock.adjust("10 millis")
      expect(Exit.isFailure(yield* Fiber.await(timedOut))).toBe(true)
      expect(bulkhead.unsafeInFlight()).toBe(0)
    }))

  it.effect("returns the permit of an interrupted call once the fiber's finalizers have run", () =>
    Effect.gen(function*() {
      const bulkhead = yield* Bulkhead.make({ name: "finalizers", maxConcurrent: 1 })
      const started = yield* Deferred.make<void>()
      const inFinalizer: Array<number> = []
      const fiber = yield* Effect.fork(
        Bulkhead.protect(Effect.zipRight(Deferred.succeed(started, undefined), Effect.never), bulkhead).pipe(
          Effect.onInterrupt(() => Effect.sync(() => inFinalizer.push(bulkhead.unsafeInFlight())))
        )
      )
      yield* Deferred.await(started)
      yield* Fiber.interrupt(fiber)
      // The permit of an interrupted call comes back when its fiber ends, after its finalizers.
      expect(inFinalizer).toEqual([1])
      expect(bulkhead.unsafeInFlight()).toBe(0)
    }))

  it.effect("an interrupted queued call leaves the queue and never runs", () =>
    Effect.gen(function*() {
      const bulkhead = yield* Bulkhead.make({ name: "interrupt-queued", maxConcurrent: 1, maxQueued: 3 })
      const gate = yield* Deferred.make<void>()
      const ran: Array<string> = []
      const holder = yield* Effect.fork(Bulkhead.protect(Deferred.await(gate), bulkhead))
      yield* settle
      const first = yield* Effect.fork(Bulkhead.protect(Effect.sync(() => ran.push("first")), bulkhead))
      yield* settle
      const second = yield* Effect.fork(Bulkhead.protect(Effect.sync(() => ran.push("second")), bulkhead))
      yield* settle
      expect(bulkhead.unsafeQueued()).toBe(2)
      yield* Fiber.interrupt(first)
      expect(bulkhead.unsafeQueued()).toBe(1)
      yield* Deferred.succeed(gate, undefined)
      yield* Fiber.join(holder)
      yield* Fiber.join(second)
      expect(ran).toEqual(["second"])
      expect(bulkhead.unsafeInFlight()).toBe(0)
      expect(bulkhead.unsafeQueued()).toBe(0)
    }))

  it.effect("a permit handed to a queued call that is interrupted at that moment passes to the next one", () =>
    Effect.gen(function*() {
      const bulkhead = yield* Bulkhead.make({ name: "handover", maxConcurrent: 1, maxQueued: 3 })
      const gate = yield* Deferred.make<void>()
      const ran: Array<string> = []
      const holder = yield* Effect.fork(Bulkhead.protect(Deferred.await(gate), bulkhead))
      yield* settle
      const doomed = yield* Effect.fork(Bulkhead.protect(Effect.sync(() => ran.push("doomed")), bulkhead))
      yield* settle
      const next = yield* Effect.fork(Bulkhead.protect(Effect.sync(() => ran.push("next")), bulkhead))
      yield* settle
      // The holder finishes (handing its permit to `doomed`) and `doomed` is interrupted in the
      // same turn, before it can resume: the interrupt reaches it first.
      yield* Deferred.succeed(gate, undefined)
      yield* Fiber.interruptFork(doomed)
      yield* Fiber.join(holder)
      expect(Exit.isInterrupted(yield* Fiber.await(doomed))).toBe(true)
      yield* Fiber.join(next)
      expect(ran).toEqual(["next"])
      expect(bulkhead.unsafeInFlight()).toBe(0)
      expect(bulkhead.unsafeQueued()).toBe(0)
    }))

  it.effect("growing maxConcurrent with update admits queued calls at once", () =>
    Effect.gen(function*() {
      const bulkhead = yield* Bulkhead.make({ name: "grow", maxConcurrent: 1, maxQueued: 5 })
      const fibers = yield* Effect.forEach(
        [1, 2, 3, 4],
        () => Effect.tap(Effect.fork(Bulkhead.protect(Effect.never, bulkhead)), () => settle)
      )
      expect(bulkhead.unsafeInFlight()).toBe(1)
      expect(bulkhead.unsafeQueued()).toBe(3)
      yield* Bulkhead.update(bulkhead, { maxConcurrent: 3 })
      expect(bulkhead.unsafeInFlight()).toBe(3)
      expect(bulkhead.unsafeQueued()).toBe(1)
      expect((yield* bulkhead.config).maxConcurrent).toBe(3)
      yield* Fiber.interruptAll(fibers)
      expect(bulkhead.unsafeInFlight()).toBe(0)
      expect(bulkhead.unsafeQueued()).toBe(0)
    }))

  it.effect("shrinking maxConcurrent lets calls in flight finish and admits none until under the new limit", () =>
    Effect.gen(function*() {
      const bulkhead = yield* Bulkhead.make({ name: "shrink", maxConcurrent: 3, maxQueued: 5 })
      const gates = yield* Effect.forEach([0, 1, 2], () => Deferred.make<void>())
      const running = yield* Effect.forEach(gates, (gate) => Effect.fork(Bulkhead.protect(Deferred.await(gate), bulkhead)))
      yield* settle
      yield* Bulkhead.update(bulkhead, { maxConcurrent: 1 })
      const waiter = yield* Effect.fork(Bulkhead.protect(Effect.succeed("admitted"), bulkhead))
      yield* settle
      expect(bulkhead.unsafeInFlight()).toBe(3)
      expect(bulkhead.unsafeQueued()).toBe(1)
      yield* Deferred.succeed(gates[0]!, undefined)
      yield* Fiber.join(running[0]!)
      expect(bulkhead.unsafeInFlight()).toBe(2)
      expect(bulkhead.unsafeQueued()).toBe(1)
      yield* Deferred.succeed(gates[1]!, undefined)
      yield* Fiber.join(running[1]!)
      expect(bulkhead.unsafeQueued()).toBe(1)
      yield* Deferred.succeed(gates[2]!, undefined)
      yield* Fiber.join(running[2]!)
      expect(yield* Fiber.join(waiter)).toBe("admitted")
      expect(bulkhead.unsafeInFlight()).toBe(0)
    }))

  it.effect("update rejects bad values and keeps the old options", () =>
    Effect.gen(function*() {
      const bulkhead = yield* Bulkhead.make({ name: "update-bad", maxConcurrent: 2 })
      const error = yield* Effect.flip(Bulkhead.update(bulkhead, { maxConcurrent: 0 }))
      expect(error._tag).toBe("InvalidOptions")
      expect(error.message).toContain("maxConcurrent")
      expect((yield* bulkhead.config).maxConcurrent).toBe(2)
    }))

  it.effect("publishes Rejected and Updated events", () =>
    Effect.gen(function*() {
      const bulkhead = yield* Bulkhead.make({ name: "events", maxConcurrent: 1 })
      const events = yield* Effect.fork(Stream.runCollect(Stream.take(bulkhead.events, 2)))
      yield* settle
      const holder = yield* Effect.fork(Bulkhead.protect(Effect.never, bulkhead))
      yield* settle
      yield* Effect.flip(Bulkhead.protect(Effect.void, bulkhead))
      yield* Bulkhead.update(bulkhead, { maxConcurrent: 2, maxWait: "1 second" })
      const collected = Chunk.toReadonlyArray(yield* Fiber.join(events))
      expect(collected[0]).toMatchObject({ _tag: "Rejected", name: "events", reason: "QueueFull", inFlight: 1 })
      expect(collected[1]).toMatchObject({ _tag: "Updated", name: "events", maxConcurrent: 2, maxQueued: 0 })
      yield* Fiber.interrupt(holder)
    }))

  it.effect("fails with InvalidOptions naming each bad field", () =>
    Effect.gen(function*() {
      const zero = yield* Effect.flip(Bulkhead.make({ name: "bad", maxConcurrent: 0 }))
      expect(zero._tag).toBe("InvalidOptions")
      expect(zero.message).toContain("maxConcurrent")
      const fractional = yield* Effect.flip(Bulkhead.make({ name: "bad", maxConcurrent: 1.5, maxQueued: -1 }))
      expect(fractional.message).toContain("maxConcurrent")
      expect(fractional.message).toContain("maxQueued")
      const wait = yield* Effect.flip(Bulkhead.make({ name: "bad", maxConcurrent: 1, maxWait: "soon" }))
      expect(wait.message).toContain("maxWait")
      const name = yield* Effect.flip(Bulkhead.make({ name: "", maxConcurrent: 1 }))
      expect(name.message).toContain("name")
    }))

  it.effect("records metrics labelled with the bulkhead name", () =>
    Effect.gen(function*() {
      const bulkhead = yield* Bulkhead.make({ name: "metered", maxConcurrent: 1, maxQueued: 1 })
      const holder = yield* Effect.fork(Bulkhead.protect(Effect.sleep("20 millis"), bulkhead))
      yield* settle
      const waiter = yield* Effect.fork(Bulkhead.protect(Effect.void, bulkhead))
      yield* settle
      yield* Effect.flip(Bulkhead.protect(Effect.void, bulkhead))
      const snapshot = yield* metricValues("metered")
      expect(snapshot.get("rampart_bulkhead_in_flight")).toBe(1)
      expect(snapshot.get("rampart_bulkhead_queued")).toBe(1)
      expect(snapshot.get("rampart_bulkhead_rejected_total{reason=QueueFull}")).toBe(1)
      yield* TestClock.adjust("20 millis")
      yield* Fiber.join(holder)
      yield* Fiber.join(waiter)
      const after = yield* metricValues("metered")
      expect(after.get("rampart_bulkhead_in_flight")).toBe(0)
      expect(after.get("rampart_bulkhead_wait_time_ms")).toBe(1)
    }))

  it.effect("a permit is taken without waiting for anything when one is free", () =>
    Effect.gen(function*() {
      const bulkhead = yield* Bulkhead.make({ name: "sync", maxConcurrent: 1 })
      // Runs to completion synchronously: no async boundary on the fast path.
      const exit = Effect.runSyncExit(Bulkhead.protect(Effect.succeed(Option.some(1)), bulkhead))
      expect(exit).toStrictEqual(Exit.succeed(Option.some(1)))
      expect(bulkhead.unsafeInFlight()).toBe(0)
    }))
})

