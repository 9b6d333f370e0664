import { Effect } from "effect"
import type { MemoryRateLimiterStore, RateLimitConfig, TakeResult } from "../RateLimiterStore.js"

/**
 * The memory store: one entry per key, all three algorithms in integer arithmetic so that
 * `retryAfterMillis` is exact (waiting exactly that long and trying again succeeds, one millisecond
 * less fails). Time is whole milliseconds; all products stay below 2^53 because the options schema
 * bounds `capacity × refillPeriod` and `limit × window`.
 *
 * Idle keys are dropped without timers and without scanning: entries sit in a least-recently-used
 * list (an intrusive doubly linked list, so a touch is a few pointer writes) and every `take`
 * looks at the oldest entries and drops at most two that have expired. An entry expires once it
 * has been unused for `idleTimeoutMillis` AND it has recovered (bucket full again, window over),
 * so dropping it is indistinguishable from keeping it: eviction never loosens a limit.
 */

/** One shape for every algorithm (V8 keeps the take functions monomorphic). */
interface Entry {
  readonly key: string
  /** Token bucket: tokens × refillPeriodMillis. Windows: the current window's admitted cost. */
  current: number
  /** Sliding window: the previous window's admitted cost. Unused otherwise. */
  previous: number
  /** Token bucket: the last refill time. Windows: the current window's start. */
  time: number
  /** The refill period (token bucket) or window (windows) the state was computed with. */
  scale: number
  lastUsed: number
  config: RateLimitConfig
  older: Entry | undefined
  newer: Entry | undefined
}

/** `ceil(a / b)` for non-negative integers, corrected for the rounding of the float division. */
const ceilDiv = (a: number, b: number): number => {
  const q = Math.ceil(a / b)
  if (q * b < a) return q + 1
  if (q > 0 && (q - 1) * b >= a) return q - 1
  return q
}

/** `floor(a / b)` for non-negative integers, corrected for the rounding of the float division. */
const floorDiv = (a: number, b: number): number => {
  const q = Math.floor(a / b)
  if ((q + 1) * b <= a) return q + 1
  if (q * b > a) return q - 1
  return q
}

/** How long after its last use an entry is certainly back to its initial state. */
export const recoveryMillis = (config: RateLimitConfig): number => {
  switch (config._tag) {
    case "TokenBucket":
      return ceilDiv(config.capacity * config.refillPeriodMillis, config.refillRate)
    case "FixedWindow":
      return config.windowMillis
    case "SlidingWindow":
      return 2 * config.windowMillis
  }
}

const allowed = (remaining: number): TakeResult => ({ allowed: true, remaining, retryAfterMillis: 0 })
const refused = (remaining: number, retryAfterMillis: number): TakeResult => ({
  allowed: false,
  remaining,
  retryAfterMillis
})

const takeTokenBucket = (
  entry: Entry,
  cost: number,
  now: number,
  config: Extract<RateLimitConfig, { _tag: "TokenBucket" }>
): TakeResult => {
  const period = config.refillPeriodMillis
  const full = config.capacity * period
  if (entry.scale !== period) {
    // The refill period changed (update): rescale, rounding down so no token is invented.
    entry.current = Math.floor((entry.current * period) / entry.scale)
    entry.scale = period
  }
  if (now > entry.time) {
    entry.current += (now - entry.time) * config.refillRate
    entry.time = now
  }
  if (entry.current > full) entry.current = full
  const needed = cost * period
  if (entry.current >= needed) {
    entry.current -= needed
    return allowed(Math.floor(entry.current / period))
  }
  return refused(Math.floor(entry.current / period), ceilDiv(needed - entry.current, config.refillRate))
}

/** Rolls a window entry forward to the window containing `now`. */
const rollWindow = (entry: Entry, now: number, window: number, keepPrevious: boolean): void => {
  // Still in the current window: the common case, and no float modulo needed.
  if (entry.scale === window && now >= entry.time && now - entry.time < window) return
  const start = now - (now % window)
  if (entry.scale !== window) {
    // The window length changed (update): keep the counts, realign to the new windows.
    entry.scale = window
    entry.time = start
  } else if (start > entry.time) {
    entry.previous = keepPrevious && start - entry.time === window ? entry.current : 0
    entry.current = 0
    entry.time = start
  }
}

const takeFixedWindow = (
  entry: Entry,
  cost: number,
  now: number,
  config: Extract<RateLimitConfig, { _tag: "FixedWindow" }>
): TakeResult => {
  const window = config.windowMillis
  rollWindow(entry, now, window, false)
  if (entry.current + cost <= config.limit) {
    entry.current += cost
    return allowed(config.limit - entry.current)
  }
  return refused(Math.max(0, config.limit - entry.current), Math.max(1, entry.time + window - now))
}

/**
 * Sliding-window counter (the weighted previous window): a call is admitted when
 * `previous × (window − elapsed) / window + current + cost ≤ limit`, computed multiplied through by
 * `window` so it stays in integers.
 */
const takeSlidingWindow = (
  entry: Entry,
  cost: number,
  now: number,
  config: Extract<RateLimitConfig, { _tag: "SlidingWindow" }>
): TakeResult => {
  const window = config.windowMillis
  const limit = config.limit
  rollWindow(entry, now, window, true)
  const elapsed = Math.min(window - 1, Math.max(0, now - entry.time))
  const previousWeight = entry.previous * (window - elapsed)
  if (previousWeight + (entry.current + cost) * window <= limit * window) {
    entry.current += cost
    return allowed(floorDiv(limit * window - previousWeight - entry.current * window, window))
  }
  const remaining = Math.max(0, floorDiv(Math.max(0, limit * window - previousWeight - entry.current * window), window))
  const spare = limit - entry.current - cost
  if (spare >= 0) {
    // Admissible later in this window, once the previous window's weight has decayed enough:
    // previous × (window − e) ≤ spare × window.
    const at = window - floorDiv(spare * window, entry.previous)
    return refused(remaining, Math.max(1, at - elapsed))
  }
  // Not in this window: in the next one the current count becomes the previous one.
  const at = window - floorDiv((limit - cost) * window, entry.current)
  return refused(remaining, window - elapsed + at)
}

const takeEntry = (entry: Entry, cost: number, now: number, config: RateLimitConfig): TakeResult => {
  switch (config._tag) {
    case "TokenBucket":
      return takeTokenBucket(entry, cost, now, config)
    case "FixedWindow":
      return takeFixedWindow(entry, cost, now, config)
    case "SlidingWindow":
      return takeSlidingWindow(entry, cost, now, config)
  }
}

const freshEntry = (key: string, now: number, config: RateLimitConfig): Entry => {
  const isBucket = config._tag === "TokenBucket"
  return {
    key,
    current: isBucket ? config.capacity * config.refillPeriodMillis : 0,
    previous: 0,
    time: isBucket ? now : now - (now % config.windowMillis),
    scale: isBucket ? config.refillPeriodMillis : config.windowMillis,
    lastUsed: now,
    config,
    older: undefined,
    newer: undefined
  }
}

const expiresAt = (entry: Entry): number =>
  entry.lastUsed + Math.max(entry.config.idleTimeoutMillis, recoveryMillis(entry.config))

export const makeMemory = (): MemoryRateLimiterStore => {
  const entries = new Map<string, Entry>()
  // Least recently used at `oldest`, most recently used at `newest`.
  let oldest: Entry | undefined
  let newest: Entry | undefined

  const unlink = (entry: Entry) => {
    if (entry.older === undefined) oldest = entry.newer
    else entry.older.newer = entry.newer
    if (entry.newer === undefined) newest = entry.older
    else entry.newer.older = entry.older
    entry.older = undefined
    entry.newer = undefined
  }
  const append = (entry: Entry) => {
    entry.older = newest
    if (newest === undefined) oldest = entry
    else newest.newer = entry
    newest = entry
  }

  /** Amortised idle eviction: at most two expired entries per call, oldest first. */
  const sweep = (now: number) => {
    for (let budget = 2; budget > 0; budget--) {
      const candidate = oldest
      if (candidate === undefined || candidate === newest || expiresAt(candidate) > now) return
      unlink(candidate)
      entries.delete(candidate.key)
    }
  }

  const unsafeTake = (key: string, cost: number, nowMillis: number, config: RateLimitConfig): TakeResult => {
    const now = Math.floor(nowMillis)
    let entry = entries.get(key)
    if (entry === undefined) {
      entry = freshEntry(key, now, config)
      entries.set(key, entry)
      append(entry)
    } else {
      if (entry.config._tag !== config._tag) {
        // Another algorithm now owns this key: its state means nothing here.
        const fresh = freshEntry(key, now, config)
        entry.current = fresh.current
        entry.previous = 0
        entry.time = fresh.time
        entry.scale = fresh.scale
      }
      if (entry !== newest) {
        unlink(entry)
        append(entry)
      }
    }
    entry.lastUsed = now
    entry.config = config
    if (oldest !== entry) sweep(now)
    return takeEntry(entry, cost, now, config)
  }

  return {
    name: "memory",
    unsafeTake,
    take: (key, cost, nowMillis, config) => Effect.sync(() => unsafeTake(key, cost, nowMillis, config)),
    unsafeSize: () => entries.size
  }
}
