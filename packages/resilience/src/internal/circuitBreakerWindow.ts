/**
 * The outcome windows a circuit breaker trips on. Each records one call in O(1) with no allocation
 * and answers "should the breaker trip now?". They are plain mutable objects driven synchronously
 * from the breaker's hot path.
 */
import { Duration } from "effect"
import type { TripPolicy, WindowSnapshot } from "./circuitBreakerOptions.js"

/** Outcome codes: bit 0 = failure, bit 1 = slow. Stored in a `Uint8Array` by the count window. */
export const SUCCESS = 0
export const FAILURE = 1
export const SLOW_SUCCESS = 2
export const SLOW_FAILURE = 3
export type Outcome = 0 | 1 | 2 | 3

export const outcomeNames = ["success", "failure", "slow_success", "slow_failure"] as const
export type OutcomeName = typeof outcomeNames[number]

/** Why a window says to trip: names the rule in `StateChanged` events. */
export type TripReason = "ConsecutiveFailures" | "ConsecutiveSlowCalls" | "FailureRate" | "SlowCallRate"

export interface TripWindow {
  /** Whether `record` reads its `now` argument (only the time window does; others get 0). */
  readonly usesClock: boolean
  /** Records one call ended at `now`; returns the rule that was crossed, or `undefined` to stay closed. */
  readonly record: (outcome: Outcome, now: number) => TripReason | undefined
  readonly reset: () => void
  readonly toSnapshot: (now: number) => WindowSnapshot
  /** Adds recorded outcomes from a snapshot (taken by any window of the same kind and any size). */
  readonly load: (snapshot: WindowSnapshot, now: number) => void
}

/**
 * Shared rate rule of the sliding windows: trip once at least `minimumCalls` calls are in the
 * window and the failure rate or the slow-call rate reaches its threshold (resilience4j
 * semantics: "equal or greater"). Slow calls never occur when slow-call detection is off, and
 * both thresholds are greater than zero, so a zero count never trips.
 */
const rateRule = (
  calls: number,
  failures: number,
  slowCalls: number,
  minimumCalls: number,
  failureRateThreshold: number,
  slowCallRateThreshold: number
): TripReason | undefined => {
  if (calls < minimumCalls) return undefined
  if (failures / calls >= failureRateThreshold) return "FailureRate"
  if (slowCalls / calls >= slowCallRateThreshold) return "SlowCallRate"
  return undefined
}

const consecutiveWindow = (threshold: number): TripWindow => {
  let failures = 0
  let slowCalls = 0
  return {
    usesClock: false,
    record: (outcome) => {
      failures = (outcome & FAILURE) === 0 ? 0 : failures + 1
      slowCalls = (outcome & SLOW_SUCCESS) === 0 ? 0 : slowCalls + 1
      if (failures >= threshold) return "ConsecutiveFailures"
      if (slowCalls >= threshold) return "ConsecutiveSlowCalls"
      return undefined
    },
    reset: () => {
      failures = 0
      slowCalls = 0
    },
    toSnapshot: () => ({ _tag: "Consecutive", failures, slowCalls }),
    load: (snapshot) => {
      if (snapshot._tag !== "Consecutive") return
      failures = snapshot.failures
      slowCalls = snapshot.slowCalls
    }
  }
}

/** A ring buffer of the last `size` outcomes with running totals, so recording is O(1). */
const countWindow = (
  size: number,
  minimumCalls: number,
  failureRateThreshold: number,
  slowCallRateThreshold: number
): TripWindow => {
  const ring = new Uint8Array(size)
  let next = 0
  let count = 0
  let failures = 0
  let slowCalls = 0
  const push = (outcome: Outcome) => {
    if (count === size) {
      const evicted = ring[next]!
      failures -= evicted & FAILURE
      slowCalls -= (evicted & SLOW_SUCCESS) >> 1
    } else {
      count++
    }
    ring[next] = outcome
    failures += outcome & FAILURE
    slowCalls += (outcome & SLOW_SUCCESS) >> 1
    next = next + 1 === size ? 0 : next + 1
  }
  return {
    usesClock: false,
    record: (outcome) => {
      push(outcome)
      return rateRule(count, failures, slowCalls, minimumCalls, failureRateThreshold, slowCallRateThreshold)
    },
    reset: () => {
      next = 0
      count = 0
      failures = 0
      slowCalls = 0
    },
    toSnapshot: () => {
      const outcomes: Array<OutcomeName> = []
      // Oldest first: the oldest entry sits at `next` once the ring is full, at 0 before.
      const start = count === size ? next : 0
      for (let offset = 0; offset < count; offset++) {
        outcomes.push(outcomeNames[ring[(start + offset) % size]!]!)
      }
      return { _tag: "CountWindow", outcomes }
    },
    load: (snapshot) => {
      if (snapshot._tag !== "CountWindow") return
      // A smaller ring keeps the newest outcomes.
      for (const name of snapshot.outcomes.slice(-size)) push(outcomeNames.indexOf(name) as Outcome)
    }
  }
}

/**
 * Counts over the last `duration`, in `buckets` fixed slots of `duration / buckets` ms each (the
 * window slides one bucket at a time). Slot `epoch % buckets` holds bucket number `epoch`
 * (`floor(now / width)`); moving to a newer epoch clears the slots in between, so the totals only
 * ever cover the live buckets and no timestamps are stored per call.
 */
const timeWindow = (
  durationMillis: number,
  bucketCount: number,
  minimumCalls: number,
  failureRateThreshold: number,
  slowCallRateThreshold: number
): TripWindow => {
  const width = durationMillis / bucketCount
  const calls = new Float64Array(bucketCount)
  const failures = new Float64Array(bucketCount)
  const slowCalls = new Float64Array(bucketCount)
  let latest = Number.NEGATIVE_INFINITY
  let totalCalls = 0
  let totalFailures = 0
  let totalSlowCalls = 0
  const slotOf = (epoch: number) => ((epoch % bucketCount) + bucketCount) % bucketCount
  const clearSlot = (slot: number) => {
    totalCalls -= calls[slot]!
    totalFailures -= failures[slot]!
    totalSlowCalls -= slowCalls[slot]!
    calls[slot] = 0
    failures[slot] = 0
    slowCalls[slot] = 0
  }
  const clearAll = () => {
    calls.fill(0)
    failures.fill(0)
    slowCalls.fill(0)
    totalCalls = 0
    totalFailures = 0
    totalSlowCalls = 0
  }
  /** Moves the window's head to `time`; returns the head epoch (never earlier than before). */
  const advance = (time: number): number => {
    const epoch = Math.floor(time / width)
    if (epoch <= latest) return latest
    if (epoch - latest >= bucketCount) {
      clearAll()
    } else {
      for (let stale = latest + 1; stale <= epoch; stale++) clearSlot(slotOf(stale))
    }
    latest = epoch
    return epoch
  }
  const add = (slot: number, callCount: number, failureCount: number, slowCount: number) => {
    calls[slot] = calls[slot]! + callCount
    failures[slot] = failures[slot]! + failureCount
    slowCalls[slot] = slowCalls[slot]! + slowCount
    totalCalls += callCount
    totalFailures += failureCount
    totalSlowCalls += slowCount
  }
  return {
    usesClock: true,
    record: (outcome, now) => {
      // A clock that stepped backwards records into the newest bucket.
      add(slotOf(advance(now)), 1, outcome & FAILURE, (outcome & SLOW_SUCCESS) >> 1)
      return rateRule(
        totalCalls,
        totalFailures,
        totalSlowCalls,
        minimumCalls,
        failureRateThreshold,
        slowCallRateThreshold
      )
    },
    reset: () => {
      clearAll()
      latest = Number.NEGATIVE_INFINITY
    },
    toSnapshot: (time) => {
      const head = advance(time)
      const buckets: Array<{ start: number; calls: number; failures: number; slowCalls: number }> = []
      for (let epoch = head - bucketCount + 1; epoch <= head; epoch++) {
        const slot = slotOf(epoch)
        if (calls[slot]! > 0) {
          buckets.push({ start: epoch * width, calls: calls[slot]!, failures: failures[slot]!, slowCalls: slowCalls[slot]! })
        }
      }
      return { _tag: "TimeWindow", buckets }
    },
    load: (snapshot, time) => {
      if (snapshot._tag !== "TimeWindow") return
      const head = advance(time)
      for (const bucket of snapshot.buckets) {
        // Re-bucket by start time; buckets that have aged out of this window are dropped.
        const epoch = Math.min(head, Math.floor(bucket.start / width))
        if (epoch > head - bucketCount) add(slotOf(epoch), bucket.calls, bucket.failures, bucket.slowCalls)
      }
    }
  }
}

export const makeWindow = (trip: TripPolicy, slowCallRateThreshold: number): TripWindow => {
  switch (trip._tag) {
    case "Consecutive":
      return consecutiveWindow(trip.threshold)
    case "CountWindow":
      return countWindow(trip.size, trip.minimumCalls ?? trip.size, trip.failureRateThreshold, slowCallRateThreshold)
    case "TimeWindow":
      return timeWindow(
        Duration.toMillis(trip.duration),
        trip.buckets,
        trip.minimumCalls,
        trip.failureRateThreshold,
        slowCallRateThreshold
      )
  }
}
