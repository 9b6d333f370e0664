/**
 * The resilience section of the tour: a flaky downstream behind one composed pipeline
 * (timeout > retry > circuit breaker > bulkhead), on the real clock with short durations.
 * `resilienceTour` returns what happened as data; `printResilienceReport` prints it as a compact
 * timeline.
 */
import {
  Bulkhead,
  BulkheadFull,
  CircuitBreaker,
  type InvalidOptions,
  Policy,
  Retry,
  RetryBudget,
  Timeout
} from "@rampart/resilience"
import { Clock, Console, Effect, Either, Fiber, Stream } from "effect"

export interface TimelineEntry {
  /** Milliseconds since the section started. */
  readonly at: number
  readonly text: string
}

export interface ResilienceReport {
  readonly timeline: ReadonlyArray<TimelineEntry>
  /** Breaker transitions in order, as `From -> To`. */
  readonly transitions: ReadonlyArray<string>
  readonly rejectedFast: number
  /** The median time a fast rejection took, in microseconds. */
  readonly medianRejectionMicros: number
  readonly bulkhead: { readonly admitted: number; readonly rejected: number }
  readonly budget: {
    readonly calls: number
    readonly attempts: number
    readonly attemptsWithoutBudget: number
  }
}

class DownstreamError {
  readonly _tag = "DownstreamError"
}

type Mode = "healthy" | "failing" | "slow"

/** A downstream service whose health the tour switches. */
const makeDownstream = () => {
  let mode: Mode = "healthy"
  let calls = 0
  const call = Effect.suspend(() => {
    calls++
    switch (mode) {
      case "healthy":
        return Effect.succeed("stock: 12")
      case "failing":
        return Effect.fail(new DownstreamError())
      case "slow":
        return Effect.as(Effect.sleep("30 millis"), "stock: 12")
    }
  })
  return {
    call,
    set: (next: Mode) => Effect.sync(() => (mode = next)),
    calls: Effect.sync(() => calls)
  }
}

const nowMillis = Clock.currentTimeMillis
const nowMicros = Effect.map(Clock.currentTimeNanos, (nanos) => Number(nanos / 1000n))

export const resilienceTour: Effect.Effect<ResilienceReport, InvalidOptions> = Effect.gen(function*() {
  const started = yield* nowMillis
  const timeline: Array<TimelineEntry> = []
  const transitions: Array<string> = []
  const log = (text: string) => Effect.map(nowMillis, (now) => void timeline.push({ at: now - started, text }))
  const downstream = makeDownstream()

  const timeout = yield* Timeout.make({ name: "inventory", duration: "100 millis" })
  // maxElapsed below the breaker's open duration: when the breaker says "retry after 150 ms",
  // the retry gives up at once instead of waiting.
  const retry = yield* Retry.make({
    name: "inventory",
    maxAttempts: 2,
    maxElapsed: "50 millis",
    backoff: { _tag: "Constant", delay: "5 millis" }
  })
  const breaker = yield* CircuitBreaker.make({
    name: "inventory",
    trip: { _tag: "CountWindow", size: 10, minimumCalls: 4, failureRateThreshold: 0.5 },
    openDuration: "150 millis",
    halfOpenPermits: 1,
    // The bulkhead sits inside the breaker: its rejections say "we are busy", not "the downstream
    // is failing", so they must not trip the breaker.
    isFailure: (error) => !(error instanceof BulkheadFull)
  })
  const bulkhead = yield* Bulkhead.make({ name: "inventory", maxConcurrent: 4, maxQueued: 2 })
  const pipeline = Policy.compose(timeout, retry, breaker, bulkhead)
  const call = downstream.call.pipe(Policy.protect(pipeline))

  const watcher = yield* Effect.fork(
    breaker.events.pipe(
      Stream.filter((event): event is CircuitBreaker.StateChanged => event._tag === "StateChanged"),
      Stream.runForEach((event) => {
        transitions.push(`${event.from} -> ${event.to}`)
        return log(`breaker ${event.from} -> ${event.to} (${event.reason})`)
      })
    )
  )
  yield* Effect.repeatN(Effect.yieldNow(), 10)

  // 1. Healthy.
  const healthy = yield* Effect.forEach(Array.from({ length: 5 }), () => Effect.either(call))
  yield* log(`${healthy.filter(Either.isRight).length}/5 calls succeed while the downstream is healthy`)

  // 2. Outage: failures trip the breaker; later calls are rejected without reaching the downstream.
  yield* downstream.set("failing")
  const before = yield* downstream.calls
  const rejectionMicros: Array<number> = []
  for (let index = 0; index < 12; index++) {
    const callsBefore = yield* downstream.calls
    const startedMicros = yield* nowMicros
    const result = yield* Effect.either(call)
    const tookMicros = (yield* nowMicros) - startedMicros
    const reachedDownstream = (yield* downstream.calls) > callsBefore
    if (Either.isLeft(result) && result.left._tag === "CircuitBreakerOpen" && !reachedDownstream) {
      rejectionMicros.push(tookMicros)
    }
  }
  const reached = (yield* downstream.calls) - before
  const rejectedFast = rejectionMicros.length
  const medianRejectionMicros = [...rejectionMicros].sort((a, b) => a - b)[Math.floor(rejectedFast / 2)] ?? 0
  yield* log(
    `outage: 12 calls, ${reached} attempts reached the downstream, ${rejectedFast} rejected fast (median ${medianRejectionMicros} µs)`
  )

  // 3. Half-open: a probe while still failing re-opens; after recovery a probe closes the breaker.
  yield* Effect.sleep("160 millis")
  const probe = yield* Effect.either(call)
  yield* log(`probe while still failing: ${Either.isLeft(probe) ? probe.left._tag : "ok"}`)
  yield* downstream.set("healthy")
  yield* Effect.sleep("160 millis")
  const recovered = yield* Effect.either(call)
  yield* log(`probe after recovery: ${Either.isRight(recovered) ? "ok" : recovered.left._tag}`)

  // 4. A burst of 12 concurrent calls against a slow downstream: 4 run, 2 wait, the rest are shed.
  yield* downstream.set("slow")
  const burst = yield* Effect.forEach(Array.from({ length: 12 }), () => Effect.either(call), {
    concurrency: "unbounded"
  })
  const burstRejected = burst.filter((result) => Either.isLeft(result) && result.left._tag === "BulkheadFull").length
  const burstServed = burst.filter(Either.isRight).length
  yield* log(`burst of 12: ${burstServed} served, ${burstRejected} rejected by the bulkhead`)

  // 5. A retry budget keeps retries to a fraction of calls during a long outage.
  yield* downstream.set("failing")
  const budget = yield* RetryBudget.make({ name: "inventory", ratio: 0.1, minRetriesPerSecond: 2, ttl: "1 second" })
  const budgeted = yield* Retry.make({
    name: "inventory-budgeted",
    maxAttempts: 5,
    backoff: { _tag: "Constant", delay: 0 },
    budget
  })
  const budgetCalls = 40
  const beforeBudget = yield* downstream.calls
  yield* Effect.forEach(Array.from({ length: budgetCalls }), () => Effect.either(Retry.protect(downstream.call, budgeted)))
  const attempts = (yield* downstream.calls) - beforeBudget
  yield* log(
    `retry budget: ${budgetCalls} failing calls made ${attempts} attempts (without a budget: ${budgetCalls * 5})`
  )

  yield* Fiber.interrupt(watcher)
  return {
    timeline: [...timeline].sort((a, b) => a.at - b.at),
    transitions,
    rejectedFast,
    medianRejectionMicros,
    bulkhead: { admitted: burstServed, rejected: burstRejected },
    budget: { calls: budgetCalls, attempts, attemptsWithoutBudget: budgetCalls * 5 }
  }
})

export const printResilienceReport = (report: ResilienceReport): Effect.Effect<void> =>
  Effect.forEach(report.timeline, (entry) => Console.log(`  +${String(entry.at).padStart(5)} ms  ${entry.text}`), {
    discard: true
  })
