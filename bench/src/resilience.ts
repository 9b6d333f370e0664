/**
 * Success-path cost per call of every resilience policy, side by side with the same policies
 * built naively from Effect primitives, cockatiel and opossum, all measured in this one run.
 *
 * Effect cases run N calls of `Effect.promise(() => Promise.resolve(i))` inside one Effect
 * program; their baseline is that bare call. Promise cases run N `await`s of the same function;
 * their baseline is the raw `await`. Overhead = a case's ns/call minus its own baseline.
 */
import {
  Bulkhead,
  CircuitBreaker,
  Policy,
  RateLimiter,
  Retry,
  Timeout
} from "@rampart/resilience"
import * as cockatiel from "cockatiel"
import { Effect, Ref, Schedule } from "effect"
import OpossumBreaker from "opossum"
import { type Case, formatNs, heapUsedAfterGc, measure, printTable, type Result } from "./harness.js"

const work = Effect.promise(() => Promise.resolve(1))
const promiseWork = () => Promise.resolve(1)

const effectCase = (name: string, call: Effect.Effect<number, unknown>, baseline = false): Case => ({
  name,
  family: "effect",
  baseline,
  run: (iterations) =>
    Effect.runPromise(
      Effect.gen(function*() {
        let sum = 0
        for (let index = 0; index < iterations; index++) sum += yield* call
        return sum
      }) as Effect.Effect<number>
    ).then(() => undefined)
})

const promiseCase = (name: string, call: () => Promise<number>, baseline = false): Case => ({
  name,
  family: "promise",
  baseline,
  run: async (iterations) => {
    let sum = 0
    for (let index = 0; index < iterations; index++) sum += await call()
    if (sum < 0) console.log(sum)
  }
})

/** The naive breaker an Effect user writes first: state in a `Ref`, read and updated per call. */
const naiveBreaker = (state: Ref.Ref<{ readonly failures: number; readonly openUntil: number }>) =>
<A, E>(self: Effect.Effect<A, E>): Effect.Effect<A, E | "Open"> =>
  Effect.flatMap(Ref.get(state), (current): Effect.Effect<A, E | "Open"> =>
    current.openUntil > Date.now()
      ? Effect.fail("Open" as const)
      : self.pipe(
        Effect.tap(() => Ref.set(state, { failures: 0, openUntil: 0 })),
        Effect.tapError(() =>
          Ref.update(state, ({ failures }) =>
            failures + 1 >= 5 ? { failures: 0, openUntil: Date.now() + 30_000 } : { failures: failures + 1, openUntil: 0 })
        )
      ))

export const resilienceBench = async (options: { readonly iterations: number; readonly rounds: number }) => {
  const policies = await Effect.runPromise(Effect.gen(function*() {
    const timeout = yield* Timeout.make({ name: "bench", duration: "10 seconds" })
    const retry = yield* Retry.make({ name: "bench", maxAttempts: 3 })
    const breaker = yield* CircuitBreaker.make({ name: "bench", trip: { _tag: "Consecutive", threshold: 5 } })
    const bulkhead = yield* Bulkhead.make({ name: "bench", maxConcurrent: 100 })
    const limiter = yield* RateLimiter.make({
      name: "bench",
      algorithm: "tokenBucket",
      capacity: 1_000_000_000,
      refillRate: 1_000_000_000
    })
    return { timeout, retry, breaker, bulkhead, limiter }
  }))
  const pipeline = Policy.compose(policies.timeout, policies.retry, policies.breaker, policies.bulkhead)
  const pipelineNoTimeout = Policy.compose(policies.retry, policies.breaker, policies.bulkhead)

  const semaphore = Effect.runSync(Effect.makeSemaphore(100))
  const naiveState = Effect.runSync(Ref.make({ failures: 0, openUntil: 0 }))
  const naiveRetrySchedule = Schedule.intersect(Schedule.exponential("100 millis"), Schedule.recurs(2))
  const naive = {
    timeout: <A, E>(self: Effect.Effect<A, E>) => Effect.timeout(self, "10 seconds"),
    retry: <A, E>(self: Effect.Effect<A, E>) => Effect.retry(self, naiveRetrySchedule),
    bulkhead: semaphore.withPermits(1),
    breaker: naiveBreaker(naiveState)
  }

  const cockatielTimeout = cockatiel.timeout(10_000, cockatiel.TimeoutStrategy.Aggressive)
  const cockatielRetry = cockatiel.retry(cockatiel.handleAll, {
    maxAttempts: 2,
    backoff: new cockatiel.ExponentialBackoff()
  })
  const cockatielBreaker = cockatiel.circuitBreaker(cockatiel.handleAll, {
    halfOpenAfter: 30_000,
    breaker: new cockatiel.ConsecutiveBreaker(5)
  })
  const cockatielBulkhead = cockatiel.bulkhead(100, 0)
  const cockatielWrap = cockatiel.wrap(cockatielTimeout, cockatielRetry, cockatielBreaker, cockatielBulkhead)
  const opossum = new OpossumBreaker(promiseWork, { timeout: false })
  const opossumWithTimeout = new OpossumBreaker(promiseWork, { timeout: 10_000 })

  const cases: ReadonlyArray<Case> = [
    effectCase("Effect.promise (baseline)", work, true),
    effectCase("rampart Timeout", Timeout.protect(work, policies.timeout)),
    effectCase("rampart Retry", Retry.protect(work, policies.retry)),
    effectCase("rampart CircuitBreaker", CircuitBreaker.protect(work, policies.breaker)),
    effectCase("rampart Bulkhead", Bulkhead.protect(work, policies.bulkhead)),
    effectCase("rampart RateLimiter", RateLimiter.protect(work, policies.limiter)),
    effectCase("rampart retry+breaker+bulkhead", Policy.protect(work, pipelineNoTimeout)),
    effectCase("rampart pipeline (4)", Policy.protect(work, pipeline)),
    effectCase("naive Effect.timeout", naive.timeout(work)),
    effectCase("naive Effect.retry", naive.retry(work)),
    effectCase("naive Ref breaker", naive.breaker(work)),
    effectCase("naive Semaphore.withPermits", naive.bulkhead(work)),
    effectCase("naive pipeline (4)", naive.timeout(naive.retry(naive.breaker(naive.bulkhead(work))))),
    promiseCase("await fn() (baseline)", promiseWork, true),
    promiseCase("cockatiel timeout", () => cockatielTimeout.execute(promiseWork)),
    promiseCase("cockatiel retry", () => cockatielRetry.execute(promiseWork)),
    promiseCase("cockatiel circuitBreaker", () => cockatielBreaker.execute(promiseWork)),
    promiseCase("cockatiel bulkhead", () => cockatielBulkhead.execute(promiseWork)),
    promiseCase("cockatiel wrap (4)", () => cockatielWrap.execute(promiseWork)),
    promiseCase("opossum fire (no timeout)", () => opossum.fire() as Promise<number>),
    promiseCase("opossum fire (timeout)", () => opossumWithTimeout.fire() as Promise<number>)
  ]

  const results = await measure(cases, { ...options, warmup: Math.min(options.iterations, 20_000) })
  const peers: Record<string, { readonly naive: string; readonly cockatiel?: string }> = {
    "rampart Timeout": { naive: "naive Effect.timeout", cockatiel: "cockatiel timeout" },
    "rampart Retry": { naive: "naive Effect.retry", cockatiel: "cockatiel retry" },
    "rampart CircuitBreaker": { naive: "naive Ref breaker", cockatiel: "cockatiel circuitBreaker" },
    "rampart Bulkhead": { naive: "naive Semaphore.withPermits", cockatiel: "cockatiel bulkhead" },
    "rampart pipeline (4)": { naive: "naive pipeline (4)", cockatiel: "cockatiel wrap (4)" }
  }
  printTable("Resilience: success-path cost per call (median of rounds)", results, [
    { label: "naive ÷ rampart", against: (result: Result) => peers[result.name]?.naive },
    { label: "cockatiel ÷ rampart", against: (result: Result) => peers[result.name]?.cockatiel }
  ])

  // Memory: what one million calls through the full pipeline leave behind.
  const before = heapUsedAfterGc()
  await Effect.runPromise(
    Effect.gen(function*() {
      const call = Policy.protect(work, pipeline)
      for (let index = 0; index < 1_000_000; index++) yield* call
    })
  )
  const retained = heapUsedAfterGc() - before
  console.log(`\nHeap retained after 1,000,000 calls through the 4-policy pipeline: ${(retained / 1024).toFixed(0)} KiB`)
  return { results, retainedBytes: retained, formatNs }
}
