import { Duration, Effect } from "effect"
import { InvalidOptions, RateLimited } from "../Errors.js"
import type { RateLimiterEvent } from "../RateLimiter.js"
import type {
  RateLimitConfig,
  RateLimiterStoreError,
  Service as StoreService,
  TakeResult
} from "../RateLimiterStore.js"
import type { EventHub } from "@rampart/core/EventHub"
import { makeInstanceMetrics } from "@rampart/core/InstanceMetrics"
import {
  type KeyedRateLimiterOptions,
  type KeyedRateLimiterOptionsInput,
  maxCost,
  meanIntervalMillis,
  type RateLimiterOptions,
  type RateLimiterOptionsInput,
  toConfig
} from "./rateLimiterOptions.js"
import { park, poke, WaiterQueue } from "./rateLimiterWaiters.js"
import type { Timers } from "@rampart/core/Timers"

/**
 * The admission machinery shared by plain and keyed limiters: the instance state (`Core`), the
 * general admission path, and FIFO waiting.
 */

export type Options = RateLimiterOptions | KeyedRateLimiterOptions
export type OptionsInput = RateLimiterOptionsInput | KeyedRateLimiterOptionsInput
type SyncTake = (key: string, cost: number, nowMillis: number, config: RateLimitConfig) => TakeResult

const storeFailedAllowed: TakeResult = { allowed: true, remaining: 0, retryAfterMillis: 0 }

/**
 * The state shared by a limiter and a keyed limiter. Everything the hot path reads is a plain
 * field: the current limit (`config`), the store's synchronous `take` when it has one, and whether
 * anybody is queued (`sole` for an unkeyed limiter, `queues` for a keyed one).
 */
export class Core {
  config: RateLimitConfig
  wait: boolean
  rejectOnStoreError: boolean
  waiting = 0
  readonly sync: SyncTake | undefined
  readonly now: () => number
  /** Unkeyed limiter: its one queue. */
  readonly sole: WaiterQueue
  /** Keyed limiter: queues of keys that have waiters (and only those). */
  readonly queues = new Map<string, WaiterQueue>()
  readonly permitted: (amount: number) => void
  readonly rejectedCount: (amount: number) => void
  readonly storeErrors: (amount: number) => void
  readonly waitTime: (millis: number) => void

  constructor(
    readonly name: string,
    public options: Options,
    public input: OptionsInput,
    readonly store: StoreService,
    readonly timers: Timers,
    readonly hub: EventHub<RateLimiterEvent>
  ) {
    this.config = toConfig(options, "idleTimeout" in options ? options.idleTimeout : Duration.zero)
    this.wait = options.onLimit === "wait"
    this.rejectOnStoreError = options.onStoreError === "reject"
    this.sync = store.unsafeTake
    this.now = timers.now
    this.sole = new WaiterQueue(undefined, name)
    const metrics = makeInstanceMetrics(name)
    this.permitted = metrics.counter("rampart_rate_limiter_permitted_total", "Calls the rate limiter admitted")
    this.rejectedCount = metrics.counter("rampart_rate_limiter_rejected_total", "Calls the rate limiter refused")
    this.storeErrors = metrics.counter(
      "rampart_rate_limiter_store_errors_total",
      "Times the rate limiter store failed to answer"
    )
    this.waitTime = metrics.histogram(
      "rampart_rate_limiter_wait_time_ms",
      "How long calls that had to wait for permits waited, in milliseconds"
    )
  }

  reconfigure(options: Options, input: OptionsInput): void {
    this.options = options
    this.input = input
    this.config = toConfig(options, "idleTimeout" in options ? options.idleTimeout : Duration.zero)
    this.wait = options.onLimit === "wait"
    this.rejectOnStoreError = options.onStoreError === "reject"
    // Heads re-check their cost against the new limit and ask the store again at once.
    if (this.sole.head !== undefined) poke(this.sole.head)
    for (const queue of this.queues.values()) {
      if (queue.head !== undefined) poke(queue.head)
    }
  }

  costError(cost: number): InvalidOptions | undefined {
    const max = maxCost(this.config)
    if (Number.isInteger(cost) && cost >= 1 && cost <= max) return undefined
    const issue = Number.isInteger(cost) && cost >= 1
      ? `cost: ${cost} exceeds the limiter's ${
        this.config._tag === "TokenBucket" ? "capacity" : "limit"
      } of ${max}, so the call could never be admitted`
      : `cost: Expected a positive integer, actual ${cost}`
    return new InvalidOptions({ module: "RateLimiter", issues: [issue] }, true)
  }

  rejected(key: string | undefined, cost: number, retryAfterMillis: number): RateLimited {
    this.rejectedCount(1)
    this.hub.publish({ _tag: "Rejected", name: this.name, key, cost, retryAfterMillis, timestamp: this.now() })
    const retryAfter = Duration.millis(retryAfterMillis)
    return key === undefined
      ? new RateLimited({ limiter: this.name, cost, retryAfter }, true)
      : new RateLimited({ limiter: this.name, key, cost, retryAfter }, true)
  }

  storeFailed(error: RateLimiterStoreError, key: string | undefined, cost: number): TakeResult {
    this.storeErrors(1)
    this.hub.publish({ _tag: "StoreFailed", name: this.name, key, error, timestamp: this.now() })
    return this.rejectOnStoreError
      ? { allowed: false, remaining: 0, retryAfterMillis: meanIntervalMillis(this.config, cost) }
      : storeFailedAllowed
  }

  /** Asks a store that has no synchronous path; a store failure becomes a decision (onStoreError). */
  takeEffect(storeKey: string, cost: number, key: string | undefined): Effect.Effect<TakeResult> {
    return Effect.catchAll(
      this.store.take(storeKey, cost, this.now(), this.config),
      (error) => Effect.succeed(this.storeFailed(error, key, cost))
    )
  }

  queueOf(key: string | undefined): WaiterQueue | undefined {
    return key === undefined ? this.sole : this.queues.get(key)
  }

  /** The retryAfter given to a fail-fast caller refused because others are already waiting. */
  queueRetryAfter(queue: WaiterQueue): number {
    const head = queue.head
    return head !== undefined && head.wakeAt > 0 ? Math.max(1, head.wakeAt - this.now()) : 1
  }
}

export const storeKeyOf = (name: string, key: string): string => `${name}:${key}`

/**
 * Waits for `cost` permits in FIFO order. Only the head of the key's queue asks the store; it sleeps
 * for the store's `retryAfterMillis` between attempts. `firstRetryAfter` is the answer of an attempt
 * made just before queueing (so the first sleep needs no second attempt). Interruption unlinks the
 * waiter and hands the head position on.
 */
export const waitTurn = (
  core: Core,
  key: string | undefined,
  storeKey: string,
  cost: number,
  firstRetryAfter: number | undefined
): Effect.Effect<number, InvalidOptions> =>
  // Masked so that queueing the waiter and installing its cleanup cannot be split by interruption.
  Effect.uninterruptibleMask((restore) => {
    let queue = core.queueOf(key)
    if (queue === undefined) {
      queue = new WaiterQueue(key, storeKey)
      core.queues.set(key!, queue)
    }
    const waiterQueue = queue
    const waiter = waiterQueue.push(cost)
    core.waiting++
    const start = core.now()
    let retryAfter = waiterQueue.head === waiter ? firstRetryAfter : undefined
    const loop = Effect.gen(function*() {
      while (true) {
        if (retryAfter !== undefined) {
          yield* park(core.timers, waiter, retryAfter)
          retryAfter = undefined
        }
        while (waiterQueue.head !== waiter) yield* park(core.timers, waiter, undefined)
        const invalid = core.costError(cost)
        if (invalid !== undefined) return yield* Effect.fail(invalid)
        const result = core.sync !== undefined
          ? core.sync(storeKey, cost, core.now(), core.config)
          : yield* core.takeEffect(storeKey, cost, key)
        if (result.allowed) {
          core.permitted(1)
          core.waitTime(core.now() - start)
          return result.remaining
        }
        retryAfter = result.retryAfterMillis
      }
    })
    return Effect.ensuring(
      restore(loop),
      Effect.sync(() => {
        if (waiter.queued) core.waiting--
        waiterQueue.remove(waiter)
        if (key !== undefined && waiterQueue.size === 0 && core.queues.get(key) === waiterQueue) {
          core.queues.delete(key)
        }
      })
    )
  })

/**
 * The general admission path: any cost, a store without a synchronous path, or callers already
 * queued (a new caller never overtakes them: it queues behind them, or is refused when not waiting).
 */
export const admit = <A, E, R>(
  core: Core,
  key: string | undefined,
  storeKey: string,
  cost: number,
  wait: boolean,
  next: (remaining: number) => Effect.Effect<A, E, R>
): Effect.Effect<A, E | RateLimited | InvalidOptions, R> => {
  const invalid = core.costError(cost)
  if (invalid !== undefined) return Effect.fail(invalid)
  const queue = core.queueOf(key)
  if (queue !== undefined && queue.head !== undefined) {
    return wait
      ? Effect.flatMap(waitTurn(core, key, storeKey, cost, undefined), next)
      : Effect.fail(core.rejected(key, cost, core.queueRetryAfter(queue)))
  }
  const decide = (result: TakeResult): Effect.Effect<A, E | RateLimited | InvalidOptions, R> => {
    if (result.allowed) {
      core.permitted(1)
      return next(result.remaining)
    }
    return wait
      ? Effect.flatMap(waitTurn(core, key, storeKey, cost, result.retryAfterMillis), next)
      : Effect.fail(core.rejected(key, cost, result.retryAfterMillis))
  }
  return core.sync !== undefined
    ? decide(core.sync(storeKey, cost, core.now(), core.config))
    : Effect.flatMap(core.takeEffect(storeKey, cost, key), decide)
}

/**
 * Cost 1 never exceeds a limit (limits are positive integers), so a cost-1 waiter cannot fail with
 * InvalidOptions; this only narrows the type.
 */
export const orDieCost = <A>(effect: Effect.Effect<A, InvalidOptions>): Effect.Effect<A> => Effect.orDie(effect)
