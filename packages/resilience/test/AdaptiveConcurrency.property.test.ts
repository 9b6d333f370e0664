import { describe, expect, it } from "@effect/vitest"
import { Duration, Effect, FastCheck, Fiber, Stream, TestClock } from "effect"
import * as AdaptiveConcurrency from "../src/AdaptiveConcurrency.js"
import { TimeoutExceeded } from "../src/Errors.js"
import { Aimd, Gradient2 } from "../src/internal/adaptiveLimit.js"

const Bounds = FastCheck.tuple(FastCheck.integer({ min: 1, max: 50 }), FastCheck.integer({ min: 0, max: 100 }))
  .map(([minLimit, extra]) => ({ minLimit, maxLimit: minLimit + extra }))

const Sample = FastCheck.record({
  rtt: FastCheck.oneof(FastCheck.constant(0), FastCheck.double({ min: 0, max: 10_000, noNaN: true })),
  inFlight: FastCheck.integer({ min: 0, max: 300 }),
  didDrop: FastCheck.boolean()
})

const AlgorithmOptions = FastCheck.oneof(
  FastCheck.record({
    _tag: FastCheck.constant("AIMD" as const),
    backoffRatio: FastCheck.double({ min: 0.5, max: 0.99, noNaN: true }),
    timeout: FastCheck.integer({ min: 1, max: 100 })
  }),
  FastCheck.record({
    _tag: FastCheck.constant("Gradient2" as const),
    smoothing: FastCheck.double({ min: 0.01, max: 1, noNaN: true }),
    rttTolerance: FastCheck.double({ min: 1, max: 3, noNaN: true }),
    longWindow: FastCheck.integer({ min: 1, max: 1000 }),
    queueSize: FastCheck.integer({ min: 0, max: 20 })
  })
)

describe("AdaptiveConcurrency limits under random input", () => {
  it.prop(
    "AIMD and Gradient2 keep the limit within [minLimit, maxLimit] for any sequence of samples",
    {
      bounds: Bounds,
      start: FastCheck.double({ min: 0, max: 1, noNaN: true }),
      options: AlgorithmOptions,
      samples: FastCheck.array(Sample, { maxLength: 300 })
    },
    ({ bounds, options, samples, start }) => {
      const initial = bounds.minLimit + Math.floor(start * (bounds.maxLimit - bounds.minLimit))
      const algorithm = options._tag === "AIMD"
        ? new Aimd({ ...bounds, backoffRatio: options.backoffRatio, timeoutMillis: options.timeout }, initial)
        : new Gradient2({ ...bounds, ...options }, initial)
      for (const sample of samples) {
        algorithm.sample(sample.rtt, sample.inFlight, sample.didDrop)
        expect(Number.isFinite(algorithm.estimate)).toBe(true)
        expect(algorithm.estimate).toBeGreaterThanOrEqual(bounds.minLimit)
        expect(algorithm.estimate).toBeLessThanOrEqual(bounds.maxLimit)
      }
    },
    { fastCheck: { numRuns: 200 } }
  )

  it.effect.prop(
    "the enforced limit stays within its bounds, calls never exceed maxLimit, and no permit leaks",
    {
      bounds: FastCheck.tuple(FastCheck.integer({ min: 1, max: 4 }), FastCheck.integer({ min: 0, max: 6 }))
        .map(([minLimit, extra]) => ({ minLimit, maxLimit: minLimit + extra })),
      algorithm: FastCheck.constantFrom("AIMD" as const, "Gradient2" as const),
      maxQueued: FastCheck.integer({ min: 0, max: 3 }),
      calls: FastCheck.array(
        FastCheck.record({
          startAt: FastCheck.integer({ min: 0, max: 40 }),
          latency: FastCheck.integer({ min: 0, max: 30 }),
          outcome: FastCheck.constantFrom("succeed", "drop", "fail"),
          interruptAt: FastCheck.option(FastCheck.integer({ min: 0, max: 60 }), { nil: undefined })
        }),
        { minLength: 1, maxLength: 20 }
      )
    },
    ({ algorithm, bounds, calls, maxQueued }) =>
      Effect.gen(function*() {
        const limiter = yield* AdaptiveConcurrency.make({
          name: "adaptive-property",
          algorithm: algorithm === "AIMD"
            ? { _tag: "AIMD", ...bounds, initialLimit: bounds.maxLimit, timeout: 25 }
            : { _tag: "Gradient2", ...bounds, initialLimit: bounds.maxLimit },
          maxQueued,
          maxWait: 20
        })
        const limits: Array<number> = []
        const collector = yield* Effect.fork(Stream.runForEach(limiter.events, (event) =>
          Effect.sync(() => {
            if (event._tag === "LimitChanged") limits.push(event.limit)
          })))
        let running = 0
        let maxRunning = 0
        const body = (latency: number, outcome: string) =>
          Effect.suspend(() => {
            running++
            maxRunning = Math.max(maxRunning, running)
            const end: Effect.Effect<void, TimeoutExceeded | string> = outcome === "succeed"
              ? Effect.void
              : outcome === "drop"
              ? Effect.fail(new TimeoutExceeded({ timeout: "t", after: Duration.millis(latency) }))
              : Effect.fail("boom")
            return Effect.zipRight(Effect.sleep(latency), end).pipe(Effect.ensuring(Effect.sync(() => running--)))
          })
        const fibers = yield* Effect.forEach(calls, (call) =>
          Effect.fork(
            Effect.zipRight(Effect.sleep(call.startAt), AdaptiveConcurrency.protect(body(call.latency, call.outcome), limiter))
          ))
        yield* Effect.forEach(calls, (call, index) =>
          call.interruptAt === undefined
            ? Effect.void
            : Effect.fork(Effect.zipRight(Effect.sleep(call.interruptAt), Fiber.interrupt(fibers[index]!))))
        yield* TestClock.adjust("10 seconds")
        expect(fibers.filter((fiber) => fiber.unsafePoll() === null)).toEqual([])
        yield* Fiber.interrupt(collector)

        expect(maxRunning).toBeLessThanOrEqual(bounds.maxLimit)
        for (const limit of [...limits, limiter.unsafeLimit()]) {
          expect(limit).toBeGreaterThanOrEqual(bounds.minLimit)
          expect(limit).toBeLessThanOrEqual(bounds.maxLimit)
        }
        expect(limiter.unsafeInFlight()).toBe(0)
        expect(limiter.unsafeQueued()).toBe(0)
      }),
    { timeout: 120_000, fastCheck: { numRuns: 100 } }
  )
})
