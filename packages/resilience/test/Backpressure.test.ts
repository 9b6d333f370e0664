import { describe, expect, it } from "@effect/vitest"
import {
  Cause,
  Chunk,
  Context,
  Duration,
  Effect,
  Exit,
  FastCheck as fc,
  Fiber,
  Metric,
  Option,
  Scope,
  Stream,
  TestClock
} from "effect"
import * as Backpressure from "../src/Backpressure.js"
import type { InvalidOptions } from "../src/Errors.js"
import * as Policy from "../src/Policy.js"

const advance = (millis: number) => millis === 0 ? Effect.void : TestClock.adjust(Duration.millis(millis))

/** Lets forked fibers run (TestClock only moves on `adjust`). */
const settle = Effect.repeatN(Effect.yieldNow(), 20)

/** A task that takes `millis` of (test) time and returns `value`. */
const work = <A>(millis: number, value: A) => Effect.as(Effect.sleep(Duration.millis(millis)), value)

const failureOf = <A, E>(exit: Exit.Exit<A, E>): E | undefined =>
  Exit.isFailure(exit) ? Option.getOrUndefined(Cause.failureOption(exit.cause)) : undefined

const expectInvalid = (effect: Effect.Effect<unknown, InvalidOptions, Scope.Scope>, field: string) =>
  Effect.gen(function*() {
    const error = yield* Effect.flip(Effect.scoped(effect))
    expect(error._tag).toBe("InvalidOptions")
    expect(error.message).toContain(`${field}:`)
  })

const counterValue = (name: string, queue: string, reason?: string) =>
  Effect.map(Metric.snapshot, (pairs) => {
    const pair = pairs.find((p) =>
      p.metricKey.name === name &&
      p.metricKey.tags.some((tag) => tag.key === "name" && tag.value === queue) &&
      (reason === undefined || p.metricKey.tags.some((tag) => tag.key === "reason" && tag.value === reason))
    )
    const state = pair?.metricState as { readonly count?: number; readonly value?: number } | undefined
    return state?.count ?? state?.value ?? 0
  })

class RequestId extends Context.Tag("test/RequestId")<RequestId, string>() {}

describe("Backpressure", () => {
  it.effect("make fails with InvalidOptions naming each bad field", () =>
    Effect.gen(function*() {
      yield* expectInvalid(Backpressure.make({ name: "q", capacity: 0, workers: 1 }), "capacity")
      yield* expectInvalid(Backpressure.make({ name: "q", capacity: 1, workers: 1.5 }), "workers")
      yield* expectInvalid(Backpressure.make({ name: "", capacity: 1, workers: 1 }), "name")
      yield* expectInvalid(
        Backpressure.make({ name: "q", capacity: 1, workers: 1, strategy: "lifo" as "reject" }),
        "strategy"
      )
      yield* expectInvalid(
        Backpressure.make({ name: "q", capacity: 1, workers: 1, codel: { target: "soon" } }),
        "codel.target"
      )
      yield* expectInvalid(
        Backpressure.make({ name: "q", capacity: 1, workers: 1, codel: { interval: 0 } }),
        "codel.interval"
      )
    }))

  it.scoped("reject: a full queue refuses a new task with LoadShed QueueFull; the others run in order", () =>
    Effect.gen(function*() {
      const queue = yield* Backpressure.make({ name: "reject", capacity: 2, workers: 1 })
      const order: Array<string> = []
      const task = (id: string) => Effect.zipRight(Effect.sync(() => order.push(id)), work(10, id))
      const fibers = yield* Effect.forEach(["a", "b", "c"], (id) => Effect.fork(Backpressure.submit(queue, task(id))))
      yield* settle
      expect(yield* queue.running).toBe(1)
      expect(yield* queue.queued).toBe(2)
      const refused = yield* Effect.flip(Backpressure.submit(queue, task("d")))
      expect(refused).toMatchObject({ _tag: "LoadShed", queue: "reject", reason: "QueueFull", queued: 2 })
      yield* advance(30)
      expect(yield* Effect.forEach(fibers, Fiber.join)).toEqual(["a", "b", "c"])
      expect(order).toEqual(["a", "b", "c"])
    }))

  it.scoped("dropOldest: a full queue evicts its oldest task with reason Dropped and queues the new one", () =>
    Effect.gen(function*() {
      const queue = yield* Backpressure.make({ name: "drop", capacity: 2, workers: 1, strategy: "dropOldest" })
      const fibers = yield* Effect.forEach(
        ["a", "b", "c", "d"],
        (id) => Effect.fork(Effect.exit(Backpressure.submit(queue, work(10, id)))).pipe(Effect.zipLeft(settle))
      )
      expect(yield* queue.queued).toBe(2)
      yield* advance(30)
      const [a, b, c, d] = yield* Effect.forEach(fibers, Fiber.join)
      expect(a).toEqual(Exit.succeed("a"))
      expect(failureOf(b!)).toMatchObject({ _tag: "LoadShed", reason: "Dropped" })
      expect(c).toEqual(Exit.succeed("c"))
      expect(d).toEqual(Exit.succeed("d"))
    }))

  it.scoped("suspend: a producer waits for room, and an interrupted producer leaves nothing behind", () =>
    Effect.gen(function*() {
      const queue = yield* Backpressure.make({ name: "suspend", capacity: 1, workers: 1, strategy: "suspend" })
      let ran = 0
      const task = (id: string) => Effect.zipRight(Effect.sync(() => ran++), work(10, id))
      const fibers = yield* Effect.forEach(
        ["a", "b", "c"],
        (id) => Effect.fork(Backpressure.submit(queue, task(id))).pipe(Effect.zipLeft(settle))
      )
      expect([yield* queue.running, yield* queue.queued, yield* queue.suspended]).toEqual([1, 1, 1])
      const impatient = yield* Effect.fork(Backpressure.submit(queue, task("d")))
      yield* settle
      expect(yield* queue.suspended).toBe(2)
      yield* Fiber.interrupt(impatient)
      expect(yield* queue.suspended).toBe(1)
      yield* advance(10)
      // "a" is done, "b" runs and "c" moved into the queue.
      expect([yield* queue.running, yield* queue.queued, yield* queue.suspended]).toEqual([1, 1, 0])
      yield* advance(20)
      expect(yield* Effect.forEach(fibers, Fiber.join)).toEqual(["a", "b", "c"])
      expect(ran).toBe(3)
    }))

  it.scoped("an interrupted producer withdraws its queued task; the task never runs", () =>
    Effect.gen(function*() {
      const queue = yield* Backpressure.make({ name: "withdraw", capacity: 5, workers: 1 })
      let ranB = false
      const a = yield* Effect.fork(Backpressure.submit(queue, work(10, "a")))
      yield* settle
      const b = yield* Effect.fork(Backpressure.submit(queue, Effect.sync(() => (ranB = true))))
      yield* settle
      expect(yield* queue.queued).toBe(1)
      yield* Fiber.interrupt(b)
      expect(yield* queue.queued).toBe(0)
      yield* advance(10)
      expect(yield* Fiber.join(a)).toBe("a")
      yield* settle
      expect(ranB).toBe(false)
    }))

  it.scoped("an interrupted producer interrupts its running task, and a new worker takes its place", () =>
    Effect.gen(function*() {
      const queue = yield* Backpressure.make({ name: "stop", capacity: 5, workers: 1 })
      let cleanedUp = false
      const long = work(1000, "long").pipe(Effect.onInterrupt(() => Effect.sync(() => (cleanedUp = true))))
      const producer = yield* Effect.fork(Backpressure.submit(queue, long))
      yield* settle
      expect(yield* queue.running).toBe(1)
      yield* Fiber.interrupt(producer)
      // The producer's interruption completes only after the task's finalizers ran.
      expect(cleanedUp).toBe(true)
      expect(yield* queue.running).toBe(0)
      const next = yield* Effect.fork(Backpressure.submit(queue, work(10, "next")))
      const after = yield* Effect.fork(Backpressure.submit(queue, work(10, "after")))
      yield* settle
      // Still exactly one worker.
      expect([yield* queue.running, yield* queue.queued]).toEqual([1, 1])
      yield* advance(20)
      expect([yield* Fiber.join(next), yield* Fiber.join(after)]).toEqual(["next", "after"])
    }))

  it.scoped("runs the task with the submitter's context; failures and defects reach the submitter", () =>
    Effect.gen(function*() {
      const queue = yield* Backpressure.make({ name: "context", capacity: 5, workers: 2 })
      const id = yield* Backpressure.submit(queue, RequestId).pipe(Effect.provideService(RequestId, "req-7"))
      expect(id).toBe("req-7")
      expect(yield* Effect.exit(Backpressure.submit(queue, Effect.fail("boom" as const)))).toEqual(Exit.fail("boom"))
      const died = yield* Effect.exit(Backpressure.submit(queue, Effect.die("defect")))
      expect(Exit.isFailure(died) && Cause.isDie(died.cause)).toBe(true)
      expect(yield* Effect.succeed(1).pipe(Backpressure.protect(queue))).toBe(1)
      expect(yield* Backpressure.protect(Effect.succeed(2), queue)).toBe(2)
      expect(yield* queue.apply(Effect.succeed(3))).toBe(3)
      expect(Backpressure.isBackpressure(queue)).toBe(true)
      expect(Policy.isPolicy(queue)).toBe(true)
      expect(Backpressure.isBackpressure({})).toBe(false)
    }))

  it.effect("closing the scope interrupts queued, suspended and running tasks and refuses new ones", () =>
    Effect.gen(function*() {
      const scope = yield* Scope.make()
      const queue = yield* Backpressure.make({ name: "close", capacity: 1, workers: 1, strategy: "suspend" }).pipe(
        Scope.extend(scope)
      )
      let interrupted = false
      const running = yield* Effect.fork(
        Backpressure.submit(queue, work(1000, "a").pipe(Effect.onInterrupt(() => Effect.sync(() => (interrupted = true)))))
      )
      yield* settle
      const queued = yield* Effect.fork(Backpressure.submit(queue, work(10, "b")))
      yield* settle
      const suspended = yield* Effect.fork(Backpressure.submit(queue, work(10, "c")))
      yield* settle
      yield* Scope.close(scope, Exit.void)
      for (const fiber of [running, queued, suspended]) {
        expect(Exit.isInterrupted(yield* Fiber.await(fiber))).toBe(true)
      }
      expect(interrupted).toBe(true)
      expect([yield* queue.running, yield* queue.queued, yield* queue.suspended]).toEqual([0, 0, 0])
      expect(Exit.isInterrupted(yield* Effect.exit(Backpressure.submit(queue, Effect.succeed(1))))).toBe(true)
    }))

  describe("CoDel", () => {
    it.scoped("sheds from a standing queue at interval / sqrt(count), then stops once the queue drains", () =>
      Effect.gen(function*() {
        const queue = yield* Backpressure.make({
          name: "codel",
          capacity: 100,
          workers: 1,
          codel: { target: "5 millis", interval: "100 millis" }
        })
        const events = yield* Effect.fork(Stream.runCollect(Stream.take(queue.events, 6)))
        yield* settle
        // 40 tasks of 10 ms arrive at once: a standing queue of ~400 ms.
        const fibers = yield* Effect.forEach(
          Array.from({ length: 40 }, (_, i) => i),
          (i) => Effect.fork(Effect.exit(Backpressure.submit(queue, work(10, i)))).pipe(Effect.zipLeft(settle))
        )
        yield* advance(400)
        const exits = yield* Effect.forEach(fibers, Fiber.join)
        const shed = exits.flatMap((exit, i) => failureOf(exit) === undefined ? [] : [i])
        // Above target since t = 10, so dropping starts at t = 110 (task 11), then the next drops
        // at 110 + 100 = 210 (task 22), + 100/√2 ≈ 281 (task 31), + 100/√3 ≈ 338 (task 37); the
        // last task is not shed because nothing waits behind it.
        expect(shed).toEqual([11, 22, 31, 37])
        for (const i of shed) expect(failureOf(exits[i]!)).toMatchObject({ reason: "SojournTime" })
        const collected = Chunk.toReadonlyArray(yield* Fiber.join(events))
        expect(collected.map((event) => event._tag === "Shed" ? event.reason : event.dropping)).toEqual([
          true,
          "SojournTime",
          "SojournTime",
          "SojournTime",
          "SojournTime",
          false
        ])
        // Without a standing queue nothing is shed.
        for (let i = 0; i < 5; i++) {
          const fiber = yield* Effect.fork(Backpressure.submit(queue, work(10, i)))
          yield* advance(20)
          expect(yield* Fiber.join(fiber)).toBe(i)
        }
        expect(yield* counterValue("rampart_backpressure_shed_total", "codel", "SojournTime")).toBe(4)
      }))

    it.scoped("adaptiveTimeout: once the queue has not been empty for `interval`, tasks older than `target` are shed", () =>
      Effect.gen(function*() {
        const queue = yield* Backpressure.make({
          name: "adaptive",
          capacity: 100,
          workers: 1,
          codel: { target: 5, interval: 50, variant: "adaptiveTimeout" }
        })
        const fibers = yield* Effect.forEach(
          Array.from({ length: 20 }, (_, i) => i),
          (i) => Effect.fork(Effect.exit(Backpressure.submit(queue, work(10, i)))).pipe(Effect.zipLeft(settle))
        )
        yield* advance(100)
        const exits = yield* Effect.forEach(fibers, Fiber.join)
        // Before t = 50 the timeout is `interval` (50 ms): tasks 0-4 run. At t = 50 the queue has
        // been non-empty for 50 ms, so the timeout drops to 5 ms and the 15 stale tasks are shed.
        expect(exits.map((exit) => Exit.isSuccess(exit))).toEqual(Array.from({ length: 20 }, (_, i) => i < 5))
        expect(failureOf(exits[5]!)).toMatchObject({ reason: "SojournTime" })
      }))
  })

  it.effect.prop(
    "never runs more than `workers` tasks at once; every task completes, is shed before running, or was interrupted",
    {
      workers: fc.integer({ min: 1, max: 4 }),
      capacity: fc.integer({ min: 1, max: 5 }),
      strategy: fc.constantFrom<Array<"reject" | "dropOldest" | "suspend">>("reject", "dropOldest", "suspend"),
      codel: fc.boolean(),
      tasks: fc.array(
        fc.record({
          gap: fc.integer({ min: 0, max: 8 }),
          duration: fc.integer({ min: 1, max: 20 }),
          interruptAfter: fc.option(fc.integer({ min: 0, max: 30 }), { nil: undefined })
        }),
        { minLength: 1, maxLength: 16 }
      )
    },
    ({ capacity, codel, strategy, tasks, workers }) =>
      Effect.scoped(Effect.gen(function*() {
        const queue = yield* Backpressure.make({
          name: "prop",
          capacity,
          workers,
          strategy,
          ...(codel ? { codel: { target: 5, interval: 20 } } : {})
        })
        let active = 0
        let maxActive = 0
        const started = new Set<number>()
        const finished = new Set<number>()
        const task = (id: number, duration: number) =>
          Effect.suspend(() => {
            started.add(id)
            active++
            maxActive = Math.max(maxActive, active)
            return work(duration, id).pipe(
              Effect.tap(() => finished.add(id)),
              Effect.ensuring(Effect.sync(() => active--))
            )
          })
        const producers: Array<Fiber.RuntimeFiber<number, unknown>> = []
        for (const [id, { duration, gap, interruptAfter }] of tasks.entries()) {
          yield* advance(gap)
          const producer = yield* Effect.fork(Backpressure.submit(queue, task(id, duration)))
          producers.push(producer)
          if (interruptAfter !== undefined) {
            yield* Effect.fork(Effect.delay(Fiber.interrupt(producer), Duration.millis(interruptAfter)))
          }
          yield* settle
          expect(queue.unsafeQueued()).toBeLessThanOrEqual(capacity)
          expect(queue.unsafeRunning()).toBeLessThanOrEqual(workers)
        }
        yield* advance(16 * 20 + 100)
        for (const [id, producer] of producers.entries()) {
          const exit = yield* Fiber.await(producer)
          if (Exit.isSuccess(exit)) {
            expect(exit.value).toBe(id)
            expect(finished.has(id)).toBe(true)
          } else if (!Exit.isInterrupted(exit)) {
            expect(failureOf(exit)).toMatchObject({ _tag: "LoadShed" })
            expect(started.has(id)).toBe(false)
          } else {
            expect(tasks[id]!.interruptAfter).toBeDefined()
          }
        }
        expect(maxActive).toBeLessThanOrEqual(workers)
        expect([active, queue.unsafeQueued(), queue.unsafeRunning(), yield* queue.suspended]).toEqual([0, 0, 0, 0])
      })),
    { fastCheck: { numRuns: 100 } }
  )

  it.scoped("update changes capacity, workers and CoDel live", () =>
    Effect.gen(function*() {
      const queue = yield* Backpressure.make({ name: "update", capacity: 1, workers: 1, strategy: "suspend" })
      const fibers = yield* Effect.forEach(
        [1, 2, 3, 4],
        (id) => Effect.fork(Backpressure.submit(queue, work(10, id))).pipe(Effect.zipLeft(settle))
      )
      expect([yield* queue.running, yield* queue.queued, yield* queue.suspended]).toEqual([1, 1, 2])
      yield* Backpressure.update(queue, { capacity: 3 })
      expect([yield* queue.running, yield* queue.queued, yield* queue.suspended]).toEqual([1, 3, 0])
      yield* Backpressure.update(queue, { workers: 4 })
      yield* settle
      expect([yield* queue.running, yield* queue.queued]).toEqual([4, 0])
      yield* advance(10)
      expect(yield* Effect.forEach(fibers, Fiber.join)).toEqual([1, 2, 3, 4])
      yield* Backpressure.update(queue, { workers: 1, codel: { target: 1 } })
      yield* settle
      const more = yield* Effect.forEach(
        [5, 6],
        (id) => Effect.fork(Backpressure.submit(queue, work(10, id))).pipe(Effect.zipLeft(settle))
      )
      expect([yield* queue.running, yield* queue.queued]).toEqual([1, 1])
      yield* advance(20)
      expect(yield* Effect.forEach(more, Fiber.join)).toEqual([5, 6])
      const bad = yield* Effect.flip(Backpressure.update(queue, { workers: 0 }))
      expect(bad.message).toContain("workers:")
      const renamed = yield* Effect.flip(Backpressure.update(queue, { name: "other" }))
      expect(renamed.message).toContain("name:")
    }))

  it.scoped("publishes Shed events and counts sheds by reason; the queued gauge follows the queue", () =>
    Effect.gen(function*() {
      const queue = yield* Backpressure.make({ name: "observed", capacity: 1, workers: 1 })
      const events = yield* Effect.fork(Stream.runCollect(Stream.take(queue.events, 1)))
      yield* settle
      yield* Effect.fork(Backpressure.submit(queue, work(10, "a")))
      yield* settle
      yield* Effect.fork(Backpressure.submit(queue, work(10, "b")))
      yield* settle
      expect(yield* counterValue("rampart_backpressure_queued", "observed")).toBe(1)
      yield* Effect.either(Backpressure.submit(queue, work(10, "c")))
      const [event] = Chunk.toReadonlyArray(yield* Fiber.join(events))
      expect(event).toMatchObject({ _tag: "Shed", name: "observed", reason: "QueueFull", queued: 1 })
      expect(yield* counterValue("rampart_backpressure_shed_total", "observed", "QueueFull")).toBe(1)
      yield* advance(20)
      expect(yield* counterValue("rampart_backpressure_queued", "observed")).toBe(0)
    }))
})
