import { Cause, Effect, Option, Predicate, Schema } from "effect"
import { dual } from "effect/Function"
import type { InvalidOptions } from "../Errors.js"
import type * as Fallback from "../Fallback.js"
import * as Policy from "../Policy.js"
import { type EventHub, makeEventHub } from "@rampart/core/EventHub"
import { makeInstanceMetrics } from "@rampart/core/InstanceMetrics"
import { decodeOptions, Name } from "@rampart/core/Options"
import { makeTimers, type Timers } from "@rampart/core/Timers"

/** @internal */
export const TypeId: Fallback.TypeId = Symbol.for("@rampart/resilience/Fallback") as Fallback.TypeId

/** @internal */
export const isFallback = (u: unknown): u is Fallback.Fallback<unknown, unknown, unknown, never> =>
  Predicate.hasProperty(u, TypeId)

type AnyFunction = (...args: ReadonlyArray<never>) => unknown

const isFunction = (u: unknown): u is AnyFunction => typeof u === "function"

/** @internal */
export const FallbackOptions = Schema.Struct({
  name: Name,
  on: Schema.optional(Schema.Union(
    Schema.declare((u): u is (error: unknown) => boolean => isFunction(u), {
      identifier: "Predicate",
      description: "a function (error) => boolean"
    }),
    Schema.Array(Schema.String).pipe(Schema.minItems(1))
  )),
  fallback: Schema.declare(
    (u): u is (error: unknown) => Effect.Effect<unknown, unknown, unknown> => isFunction(u),
    { identifier: "FallbackFunction", description: "a function (error) => Effect" }
  )
})

const notHandled: unique symbol = Symbol.for("@rampart/resilience/Fallback/notHandled")

/**
 * The typed error a cause carries, or `notHandled` when it holds a defect or an interruption:
 * those are bugs or decisions to stop, and a fallback must not hide them.
 */
const typedFailure = <E>(cause: Cause.Cause<E>): E | typeof notHandled => {
  if (cause._tag === "Fail") return cause.error
  if (Cause.isDie(cause) || Cause.isInterrupted(cause)) return notHandled
  const failure = Cause.failureOption(cause)
  return Option.isSome(failure) ? failure.value : notHandled
}

const tagOf = (error: unknown): string | undefined =>
  Predicate.hasProperty(error, "_tag") && typeof error._tag === "string" ? error._tag : undefined

/** @internal */
export const errorTag = (error: unknown): string =>
  tagOf(error) ?? (error instanceof Error ? error.name : typeof error)

const handleAll = () => true

/** `on` as one predicate: absent = every typed error, a list = those `_tag`s. */
const compileOn = (on: ReadonlyArray<string> | ((error: never) => boolean) | undefined): (error: unknown) => boolean => {
  if (on === undefined) return handleAll
  if (isFunction(on)) return on as (error: unknown) => boolean
  const tags = new Set(on)
  return (error) => {
    const tag = tagOf(error)
    return tag !== undefined && tags.has(tag)
  }
}

const variance = {
  _A: (_: never) => _,
  _H: (_: unknown) => _
}

class FallbackImpl<A2, E2, R2, H> implements Fallback.Fallback<A2, E2, R2, H> {
  readonly [TypeId] = variance as unknown as Fallback.Fallback<A2, E2, R2, H>[Fallback.TypeId]
  readonly [Policy.PolicyTypeId]: Policy.PolicyTypeId = Policy.PolicyTypeId

  private readonly handles: (error: unknown) => boolean
  private readonly countUsed: (amount: number) => void

  constructor(
    readonly name: string,
    on: ReadonlyArray<string> | ((error: never) => boolean) | undefined,
    readonly fallback: (error: H) => Effect.Effect<A2, E2, R2>,
    readonly timers: Timers,
    readonly hub: EventHub<Fallback.FallbackEvent>
  ) {
    this.handles = compileOn(on)
    this.countUsed = makeInstanceMetrics(name).counter(
      "rampart_fallback_used_total",
      "Calls answered by the fallback"
    )
  }

  get events() {
    return this.hub.stream
  }

  // Hoisted once per instance: the success path is a single catchAllCause, which costs nothing
  // when the effect succeeds.
  private readonly recover = (cause: Cause.Cause<unknown>): Effect.Effect<A2, unknown, R2> => {
    const error = typedFailure(cause)
    if (error === notHandled || !this.handles(error)) return Effect.failCause(cause)
    this.countUsed(1)
    this.hub.publish({ _tag: "FallbackUsed", name: this.name, timestamp: this.timers.now(), errorTag: errorTag(error) })
    return this.fallback(error as H)
  }

  readonly apply = <A, E1, R1>(self: Effect.Effect<A, E1, R1>): Effect.Effect<A, E2 | E1, R2 | R1> =>
    // The Policy view cannot see A2 (a Policy keeps its effect's success type): see `make`.
    Effect.catchAllCause(self, this.recover) as Effect.Effect<A, E2 | E1, R2 | R1>
}

const decode = decodeOptions("Fallback", FallbackOptions)

/** @internal */
export const make = <A2, E2, R2, H>(
  input: Fallback.FallbackOptionsInput<A2, E2, R2, H>
): Effect.Effect<Fallback.Fallback<A2, E2, R2, H>, InvalidOptions> =>
  Effect.gen(function*() {
    const options = yield* decode(input as typeof FallbackOptions.Encoded)
    const timers = yield* makeTimers
    const hub = yield* makeEventHub<Fallback.FallbackEvent>()
    return new FallbackImpl<A2, E2, R2, H>(options.name, input.on, input.fallback, timers, hub)
  })

/** @internal */
export const protect = dual(
  2,
  <A, E, R, A2, E2, R2, H>(
    self: Effect.Effect<A, E, R>,
    fallback: Fallback.Fallback<A2, E2, R2, H>
  ): Effect.Effect<A | A2, Exclude<E, H> | E2, R | R2> =>
    fallback.apply(self) as Effect.Effect<A | A2, Exclude<E, H> | E2, R | R2>
)

/** One counter per name, made on the first fallback (never when `withFallback` is only built). */
const usedCounters = new Map<string, (amount: number) => void>()

const countUsed = (name: string) => {
  let count = usedCounters.get(name)
  if (count === undefined) {
    count = makeInstanceMetrics(name).counter("rampart_fallback_used_total", "Calls answered by the fallback")
    usedCounters.set(name, count)
  }
  count(1)
}

/** @internal */
export const withFallback = dual(
  2,
  <A, E, R, A2, E2, R2>(
    self: Effect.Effect<A, E, R>,
    options: {
      readonly name?: string | undefined
      readonly on?: ReadonlyArray<string> | ((error: never) => boolean) | undefined
      readonly fallback: (error: never) => Effect.Effect<A2, E2, R2>
    }
  ): Effect.Effect<A | A2, unknown, R | R2> => {
    const handles = compileOn(options.on)
    const name = options.name ?? "withFallback"
    return Effect.catchAllCause(self, (cause): Effect.Effect<A2, unknown, R2> => {
      const error = typedFailure(cause)
      if (error === notHandled || !handles(error)) return Effect.failCause(cause)
      countUsed(name)
      return options.fallback(error as never)
    })
  }
)
