import { Effect, Either, Option, Predicate } from "effect"
import { dual } from "effect/Function"
import { InvalidOptions, type RateLimited } from "../Errors.js"
import * as Policy from "../Policy.js"
import type {
  KeyedRateLimiter,
  KeyedTypeId as KeyedRateLimiterTypeId,
  RateLimiter,
  RateLimiterEvent,
  TypeId as RateLimiterTypeId
} from "../RateLimiter.js"
import { RateLimiterStore } from "../RateLimiterStore.js"
import { makeEventHub } from "@rampart/core/EventHub"
import { decodeOptions, decodeOptionsEither } from "@rampart/core/Options"
import { admit, Core, type Options, type OptionsInput, orDieCost, storeKeyOf, waitTurn } from "./rateLimiterCore.js"
import {
  KeyedRateLimiterOptions,
  type KeyedRateLimiterOptionsInput,
  RateLimiterOptions,
  type RateLimiterOptionsInput
} from "./rateLimiterOptions.js"
import * as memoryStore from "./rateLimiterStore.js"
import { makeTimers } from "@rampart/core/Timers"

export const TypeId: RateLimiterTypeId = Symbol.for("@rampart/resilience/RateLimiter") as RateLimiterTypeId
export const KeyedTypeId: KeyedRateLimiterTypeId = Symbol.for(
  "@rampart/resilience/KeyedRateLimiter"
) as KeyedRateLimiterTypeId

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
