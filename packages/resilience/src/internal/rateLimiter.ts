import { Duration, Effect, Either, Option, Predicate } from "effect"
import { dual } from "effect/Function"
import { InvalidOptions, RateLimited } from "../Errors.js"
import * as Policy from "../Policy.js"
import type {
  KeyedRateLimiter,
  KeyedTypeId as KeyedRateLimiterTypeId,
  RateLimiter,
  RateLimiterEvent,
  TypeId as RateLimiterTypeId
} from "../RateLimiter.js"
import {
  type RateLimitConfig,
  RateLimiterStore,
  type RateLimiterStoreError,
  type Service as StoreService,
  type TakeResult
} from "../RateLimiterStore.js"
import { type EventHub, makeEventHub } from "./events.js"
import { makeInstanceMetrics } from "./metrics.js"
import { decodeOptions, decodeOptionsEither } from "./options.js"
import {
  KeyedRateLimiterOptions,
  type KeyedRateLimiterOptionsInput,
  maxCost,
  meanIntervalMillis,
  RateLimiterOptions,
  type RateLimiterOptionsInput,
  toConfig
} from "./rateLimiterOptions.js"
import * as memoryStore from "./rateLimiterStore.js"
import { makeTimers, type Timers } from "./timers.js"
import { park, poke, WaiterQueue } from "./rateLimiterWaiters.js"

export const TypeId: RateLimiterTypeId = Symbol.for("@rampart/resilience/RateLimiter") as RateLimiterTypeId
export const KeyedTypeId: KeyedRateLimiterTypeId = Symbol.for(
  "@rampart/resilience/KeyedRateLimiter"
) as KeyedRateLimiterTypeId

type Options = typeof RateLimiterOptions.Type | typeof KeyedRateLimiterOptions.Type
type OptionsInput = RateLimiterOptionsInput | KeyedRateLimiterOptionsInput
type SyncTake = (key: string, cost: number, nowMillis: number, config: RateLimitConfig) => TakeResult

const storeFailedAllowed: TakeResult = { allowed: true, remaining: 0, retryAfterMillis: 0 }

/**
 * The state shared by a limiter and a keyed limiter. Everything the hot path reads is a plain
 * field: the current limit (`config`), the store's synchronous `take` when it has one, and whether
 * anybody is queued (`sole` for an unkeyed limiter, `queues` for a keyed one).
 */
class Core {
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

const storeKeyOf = (name: string, key: string): string => `${name}:${key}`

/**
 * Waits for `cost` permits in FIFO order. Only the head of the key's queue asks the store; it sleeps
 * for the store's `retryAfterMillis` between attempts. `firstRetryAfter` is the answer of an attempt
 * made just before queueing (so the first sleep needs no second attempt). Interruption unlinks the
 * waiter and hands the head position on.
 */
const waitTurn = (
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
const admit = <A, E, R>(
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
const orDieCost = <A>(effect: Effect.Effect<A, InvalidOptions>): Effect.Effect<A> => Effect.orDie(effect)

const succeedRemaining = (remaining: number) => Effect.succeed(remaining)

class RateLimiterImpl implements RateLimiter {
  readonly [TypeId]: RateLimiterTypeId = TypeId
  readonly [Policy.PolicyTypeId]: Policy.PolicyTypeId = Policy.PolicyTypeId
  readonly name: string
  readonly events: RateLimiter["events"]
  readonly waiting: Effect.Effect<number>
  readonly apply: <A, E, R>(self: Effect.Effect<A, E, R>) => Effect.Effect<A, E | RateLimited, R>

  constructor(readonly core: Core) {
    this.name = core.name
    this.events = core.hub.stream
    this.waiting = Effect.sync(() => core.waiting)
    const storeKey = core.name
    const sole = core.sole
    // The hot path: one Effect op (suspend); with the memory store and nobody waiting, the permit
    // is taken synchronously.
    this.apply = <A, E, R>(self: Effect.Effect<A, E, R>): Effect.Effect<A, E | RateLimited, R> =>
      Effect.suspend((): Effect.Effect<A, E | RateLimited, R> => {
        const sync = core.sync
        if (sync !== undefined && sole.head === undefined) {
          const result = sync(storeKey, 1, core.now(), core.config)
          if (result.allowed) {
            core.permitted(1)
            return self
          }
          if (!core.wait) return Effect.fail(core.rejected(undefined, 1, result.retryAfterMillis))
          return Effect.zipRight(orDieCost(waitTurn(core, undefined, storeKey, 1, result.retryAfterMillis)), self)
        }
        // Cost 1 never exceeds a limit (limits are positive integers): no InvalidOptions here.
        return admit(core, undefined, storeKey, 1, core.wait, () => self) as Effect.Effect<A, E | RateLimited, R>
      })
  }

  unsafeWaiting(): number {
    return this.core.waiting
  }
}

class KeyedRateLimiterImpl implements KeyedRateLimiter {
  readonly [KeyedTypeId]: KeyedRateLimiterTypeId = KeyedTypeId
  readonly name: string
  readonly events: KeyedRateLimiter["events"]
  readonly waiting: Effect.Effect<number>

  constructor(readonly core: Core) {
    this.name = core.name
    this.events = core.hub.stream
    this.waiting = Effect.sync(() => core.waiting)
  }

  unsafeWaiting(): number {
    return this.core.waiting
  }
}

export const isRateLimiter = (u: unknown): u is RateLimiter => Predicate.hasProperty(u, TypeId)
export const isKeyedRateLimiter = (u: unknown): u is KeyedRateLimiter => Predicate.hasProperty(u, KeyedTypeId)

const coreOf = (limiter: RateLimiter | KeyedRateLimiter): Core =>
  (limiter as unknown as RateLimiterImpl | KeyedRateLimiterImpl).core

const makeCore = (options: Options, input: OptionsInput) =>
  Effect.gen(function*() {
    const provided = yield* Effect.serviceOption(RateLimiterStore)
    const store = Option.getOrElse(provided, memoryStore.makeMemory)
    const timers = yield* makeTimers
    const hub = yield* makeEventHub<RateLimiterEvent>()
    return new Core(options.name, options, input, store, timers, hub)
  })

const decodeLimiter = decodeOptions("RateLimiter", RateLimiterOptions)
const decodeKeyed = decodeOptions("RateLimiter", KeyedRateLimiterOptions)
const decodeLimiterEither = decodeOptionsEither("RateLimiter", RateLimiterOptions)
const decodeKeyedEither = decodeOptionsEither("RateLimiter", KeyedRateLimiterOptions)

export const make = (input: RateLimiterOptionsInput): Effect.Effect<RateLimiter, InvalidOptions> =>
  Effect.flatMap(decodeLimiter(input), (options) =>
    Effect.map(makeCore(options, input), (core): RateLimiter => new RateLimiterImpl(core)))

export const keyed = (input: KeyedRateLimiterOptionsInput): Effect.Effect<KeyedRateLimiter, InvalidOptions> =>
  Effect.flatMap(decodeKeyed(input), (options) =>
    Effect.map(makeCore(options, input), (core): KeyedRateLimiter => new KeyedRateLimiterImpl(core)))

export const protect: {
  (limiter: RateLimiter): <A, E, R>(self: Effect.Effect<A, E, R>) => Effect.Effect<A, E | RateLimited, R>
  <A, E, R>(self: Effect.Effect<A, E, R>, limiter: RateLimiter): Effect.Effect<A, E | RateLimited, R>
} = dual(
  2,
  <A, E, R>(self: Effect.Effect<A, E, R>, limiter: RateLimiter): Effect.Effect<A, E | RateLimited, R> =>
    limiter.apply(self)
)

export const protectKeyed: {
  (limiter: KeyedRateLimiter, key: string): <A, E, R>(
    self: Effect.Effect<A, E, R>
  ) => Effect.Effect<A, E | RateLimited, R>
  <A, E, R>(self: Effect.Effect<A, E, R>, limiter: KeyedRateLimiter, key: string): Effect.Effect<A, E | RateLimited, R>
} = dual(
  3,
  <A, E, R>(self: Effect.Effect<A, E, R>, limiter: KeyedRateLimiter, key: string) => {
    const core = coreOf(limiter)
    return Effect.suspend((): Effect.Effect<A, E | RateLimited, R> => {
      const storeKey = storeKeyOf(core.name, key)
      const sync = core.sync
      if (sync !== undefined && (core.queues.size === 0 || !core.queues.has(key))) {
        const result = sync(storeKey, 1, core.now(), core.config)
        if (result.allowed) {
          core.permitted(1)
          return self
        }
        if (!core.wait) return Effect.fail(core.rejected(key, 1, result.retryAfterMillis))
        return Effect.zipRight(orDieCost(waitTurn(core, key, storeKey, 1, result.retryAfterMillis)), self)
      }
      return admit(core, key, storeKey, 1, core.wait, () => self) as Effect.Effect<A, E | RateLimited, R>
    })
  }
)

export const forKey = (limiter: KeyedRateLimiter, key: string): Policy.Policy<RateLimited> =>
  Policy.make(`${limiter.name}:${key}`, (self) => protectKeyed(self, limiter, key))

/**
 * `acquire` and `tryAcquire` share this: with the memory store, nobody queued for the key and a
 * valid cost, the permit is taken synchronously (one Effect op in all).
 */
const take = (
  limiter: RateLimiter | KeyedRateLimiter,
  keyOrCost: string | number | undefined,
  maybeCost: number | undefined,
  wait: boolean
): Effect.Effect<number, RateLimited | InvalidOptions> =>
  Effect.suspend(() => {
    const core = coreOf(limiter)
    let key: string | undefined
    let storeKey: string
    let cost: number
    let queued: boolean
    if (typeof keyOrCost === "string") {
      key = keyOrCost
      storeKey = storeKeyOf(core.name, keyOrCost)
      cost = maybeCost ?? 1
      queued = core.queues.size > 0 && core.queues.has(keyOrCost)
    } else {
      key = undefined
      storeKey = core.name
      cost = keyOrCost ?? 1
      queued = core.sole.head !== undefined
    }
    const sync = core.sync
    if (sync !== undefined && !queued && (cost === 1 || core.costError(cost) === undefined)) {
      const result = sync(storeKey, cost, core.now(), core.config)
      if (result.allowed) {
        core.permitted(1)
        return Effect.succeed(result.remaining)
      }
      return wait
        ? waitTurn(core, key, storeKey, cost, result.retryAfterMillis)
        : Effect.fail(core.rejected(key, cost, result.retryAfterMillis))
    }
    return admit(core, key, storeKey, cost, wait, succeedRemaining)
  })

export const acquire: {
  (limiter: RateLimiter, cost?: number): Effect.Effect<number, InvalidOptions>
  (limiter: KeyedRateLimiter, key: string, cost?: number): Effect.Effect<number, InvalidOptions>
} = (limiter: RateLimiter | KeyedRateLimiter, keyOrCost?: string | number, maybeCost?: number) =>
  take(limiter, keyOrCost, maybeCost, true) as Effect.Effect<number, InvalidOptions>

export const tryAcquire: {
  (limiter: RateLimiter, cost?: number): Effect.Effect<number, RateLimited | InvalidOptions>
  (limiter: KeyedRateLimiter, key: string, cost?: number): Effect.Effect<number, RateLimited | InvalidOptions>
} = (limiter: RateLimiter | KeyedRateLimiter, keyOrCost?: string | number, maybeCost?: number) =>
  take(limiter, keyOrCost, maybeCost, false)

export const update: {
  (limiter: RateLimiter, options: Partial<RateLimiterOptionsInput>): Effect.Effect<void, InvalidOptions>
  (limiter: KeyedRateLimiter, options: Partial<KeyedRateLimiterOptionsInput>): Effect.Effect<void, InvalidOptions>
} = (
  limiter: RateLimiter | KeyedRateLimiter,
  options: Partial<RateLimiterOptionsInput> | Partial<KeyedRateLimiterOptionsInput>
) =>
  Effect.suspend(() => {
    const core = coreOf(limiter)
    const merged = { ...core.input, ...options } as OptionsInput
    const decoded: Either.Either<Options, InvalidOptions> = isKeyedRateLimiter(limiter)
      ? decodeKeyedEither(merged as KeyedRateLimiterOptionsInput)
      : decodeLimiterEither(merged as RateLimiterOptionsInput)
    if (Either.isLeft(decoded)) return Effect.fail(decoded.left)
    const next = decoded.right
    const issues: Array<string> = []
    if (next.name !== core.options.name) issues.push("name: cannot be changed by update")
    if (next.algorithm !== core.options.algorithm) {
      issues.push(`algorithm: cannot be changed by update (make a new limiter instead of "${next.algorithm}")`)
    }
    if (issues.length > 0) return Effect.fail(new InvalidOptions({ module: "RateLimiter", issues }))
    core.reconfigure(next, merged)
    return Effect.void
  })
