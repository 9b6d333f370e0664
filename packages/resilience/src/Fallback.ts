/**
 * Answers a call from an alternative (a cache, a default, a degraded service) when it fails with
 * one of the typed errors you choose. Defects and interruptions are never handled: they are bugs
 * or decisions to stop, and a fallback must not hide them.
 *
 * Use `withFallback` on one effect for exact types (the handled errors leave the error type), or
 * `make` for a named, observable instance that also works as a `Policy` in a pipeline.
 *
 * @since 0.1.0
 */
import type { Effect, Predicate, Stream, Types } from "effect"
import type { NonEmptyReadonlyArray } from "effect/Array"
import type { InvalidOptions } from "./Errors.js"
import type * as Policy from "./Policy.js"
import * as internal from "./internal/fallback.js"

/**
 * @since 0.1.0
 * @category symbols
 */
export const TypeId: unique symbol = internal.TypeId

/**
 * @since 0.1.0
 * @category symbols
 */
export type TypeId = typeof TypeId

/**
 * A fallback whose alternative succeeds with `A2`, may fail with `E2` and needs `R2`; `H` is the
 * shape of the errors it handles (`unknown` = every typed error, `never` = not known statically).
 *
 * As a `Policy` it is a `Policy<E2, R2>`: the Policy interface keeps an effect's success type, so
 * in `Policy.compose` the alternative's `A2` is not checked against the pipeline's success type.
 * Keep `A2` assignable to what the protected effects return, or use `protect`/`withFallback`,
 * whose types are exact.
 *
 * @since 0.1.0
 * @category models
 */
export interface Fallback<out A2, out E2 = never, out R2 = never, in H = unknown> extends Policy.Policy<E2, R2> {
  readonly [TypeId]: {
    readonly _A: Types.Covariant<A2>
    readonly _H: Types.Contravariant<H>
  }
  /** The alternative. */
  readonly fallback: (error: H) => Effect.Effect<A2, E2, R2>
  /** `FallbackUsed` each time the alternative answers a call. */
  readonly events: Stream.Stream<FallbackEvent>
}

/**
 * The runtime schema of the options: `name` (required), `on` (optional: a predicate on the error
 * or a non-empty list of `_tag`s; absent = every typed error), `fallback` (required:
 * `(error) => Effect`).
 *
 * @since 0.1.0
 * @category options
 */
export const FallbackOptions = internal.FallbackOptions

/**
 * What `make` accepts, typed: `on` as tags, a refinement or a predicate decides the type `fallback`
 * receives.
 *
 * @since 0.1.0
 * @category options
 */
export interface FallbackOptionsInput<A2, E2, R2, H> {
  readonly name: string
  readonly on?: ReadonlyArray<string> | Predicate.Predicate<never> | undefined
  readonly fallback: (error: H) => Effect.Effect<A2, E2, R2>
}

/**
 * The error shape a list of tags handles; a list typed only as `string[]` handles nothing that
 * the type system can name.
 *
 * @since 0.1.0
 * @category type-level
 */
export type HandledTags<Tags extends ReadonlyArray<string>> = string extends Tags[number] ? never
  : { readonly _tag: Tags[number] }

/**
 * The `_tag`s of the tagged members of `E`.
 *
 * @since 0.1.0
 * @category type-level
 */
export type TagOf<E> = E extends { readonly _tag: infer Tag extends string } ? Tag : never

/**
 * Published each time the alternative answers a call, with the `_tag` (or name) of the error it
 * replaced.
 *
 * @since 0.1.0
 * @category events
 */
export interface FallbackEvent {
  readonly _tag: "FallbackUsed"
  readonly name: string
  readonly timestamp: number
  readonly errorTag: string
}

/**
 * @since 0.1.0
 * @category guards
 */
export const isFallback: (u: unknown) => u is Fallback<unknown, unknown, unknown, never> = internal.isFallback

/**
 * Makes a named fallback. With `on` as a list of tags the alternative receives those errors and
 * `protect` removes them from the error type; with a refinement likewise; with a plain predicate
 * nothing is removed; without `on` every typed error is handled.
 *
 * @since 0.1.0
 * @category constructors
 * @example
 * import { Effect } from "effect"
 * import { Fallback } from "@rampart/resilience"
 *
 * const program = Effect.gen(function*() {
 *   const cached = yield* Fallback.make({
 *     name: "profile-from-cache",
 *     on: ["Unavailable", "TimeoutExceeded"],
 *     fallback: () => readProfileFromCache
 *   })
 *   // Effect<Profile | CachedProfile, NotFound | CacheMiss>
 *   return yield* fetchProfile.pipe(Fallback.protect(cached))
 * })
 */
export const make: {
  <const Tags extends NonEmptyReadonlyArray<string>, A2, E2 = never, R2 = never>(options: {
    readonly name: string
    readonly on: Tags
    readonly fallback: (error: { readonly _tag: Tags[number] }) => Effect.Effect<A2, E2, R2>
  }): Effect.Effect<Fallback<A2, E2, R2, HandledTags<Tags>>, InvalidOptions>
  <H, A2, E2 = never, R2 = never>(options: {
    readonly name: string
    readonly on: Predicate.Refinement<unknown, H>
    readonly fallback: (error: H) => Effect.Effect<A2, E2, R2>
  }): Effect.Effect<Fallback<A2, E2, R2, H>, InvalidOptions>
  <A2, E2 = never, R2 = never>(options: {
    readonly name: string
    readonly on: Predicate.Predicate<unknown>
    readonly fallback: (error: unknown) => Effect.Effect<A2, E2, R2>
  }): Effect.Effect<Fallback<A2, E2, R2, never>, InvalidOptions>
  <A2, E2 = never, R2 = never>(options: {
    readonly name: string
    readonly on?: undefined
    readonly fallback: (error: unknown) => Effect.Effect<A2, E2, R2>
  }): Effect.Effect<Fallback<A2, E2, R2, unknown>, InvalidOptions>
} = internal.make as never

/**
 * Runs an effect under a fallback, with exact types: the success type gains `A2`, the handled
 * errors `H` leave the error type and `E2` joins it.
 *
 * @since 0.1.0
 * @category combinators
 */
export const protect: {
  <A2, E2, R2, H>(
    fallback: Fallback<A2, E2, R2, H>
  ): <A, E, R>(self: Effect.Effect<A, E, R>) => Effect.Effect<A | A2, Exclude<E, H> | E2, R | R2>
  <A, E, R, A2, E2, R2, H>(
    self: Effect.Effect<A, E, R>,
    fallback: Fallback<A2, E2, R2, H>
  ): Effect.Effect<A | A2, Exclude<E, H> | E2, R | R2>
} = internal.protect

/**
 * Adds a fallback to one effect. `on` may be a list of `_tag`s (those errors leave the error
 * type and the alternative receives exactly them), a refinement (likewise), a predicate (the type
 * is unchanged), or absent (every typed error is handled). `name` labels the
 * `rampart_fallback_used_total` metric (default "withFallback").
 *
 * @since 0.1.0
 * @category combinators
 * @example
 * import { Effect } from "effect"
 * import { Fallback } from "@rampart/resilience"
 *
 * // Effect<User | Guest, BadRequest>
 * const user = fetchUser.pipe(
 *   Fallback.withFallback({ on: ["NotFound", "Unavailable"], fallback: () => Effect.succeed(guest) })
 * )
 */
export const withFallback: {
  <E, const Tags extends NonEmptyReadonlyArray<TagOf<E>>, A2, E2 = never, R2 = never>(options: {
    readonly name?: string | undefined
    readonly on: Tags
    readonly fallback: (error: Extract<Types.NoInfer<E>, { readonly _tag: Tags[number] }>) => Effect.Effect<A2, E2, R2>
  }): <A, R>(self: Effect.Effect<A, E, R>) => Effect.Effect<A | A2, Exclude<E, { readonly _tag: Tags[number] }> | E2, R | R2>
  <E, EH extends E, A2, E2 = never, R2 = never>(options: {
    readonly name?: string | undefined
    readonly on: Predicate.Refinement<Types.NoInfer<E>, EH>
    readonly fallback: (error: EH) => Effect.Effect<A2, E2, R2>
  }): <A, R>(self: Effect.Effect<A, E, R>) => Effect.Effect<A | A2, Exclude<E, EH> | E2, R | R2>
  <E, A2, E2 = never, R2 = never>(options: {
    readonly name?: string | undefined
    readonly on: Predicate.Predicate<Types.NoInfer<E>>
    readonly fallback: (error: Types.NoInfer<E>) => Effect.Effect<A2, E2, R2>
  }): <A, R>(self: Effect.Effect<A, E, R>) => Effect.Effect<A | A2, E | E2, R | R2>
  <E, A2, E2 = never, R2 = never>(options: {
    readonly name?: string | undefined
    readonly on?: undefined
    readonly fallback: (error: Types.NoInfer<E>) => Effect.Effect<A2, E2, R2>
  }): <A, R>(self: Effect.Effect<A, E, R>) => Effect.Effect<A | A2, E2, R | R2>
  <A, E, R, const Tags extends NonEmptyReadonlyArray<TagOf<E>>, A2, E2 = never, R2 = never>(
    self: Effect.Effect<A, E, R>,
    options: {
      readonly name?: string | undefined
      readonly on: Tags
      readonly fallback: (error: Extract<E, { readonly _tag: Tags[number] }>) => Effect.Effect<A2, E2, R2>
    }
  ): Effect.Effect<A | A2, Exclude<E, { readonly _tag: Tags[number] }> | E2, R | R2>
  <A, E, R, EH extends E, A2, E2 = never, R2 = never>(
    self: Effect.Effect<A, E, R>,
    options: {
      readonly name?: string | undefined
      readonly on: Predicate.Refinement<E, EH>
      readonly fallback: (error: EH) => Effect.Effect<A2, E2, R2>
    }
  ): Effect.Effect<A | A2, Exclude<E, EH> | E2, R | R2>
  <A, E, R, A2, E2 = never, R2 = never>(
    self: Effect.Effect<A, E, R>,
    options: {
      readonly name?: string | undefined
      readonly on: Predicate.Predicate<E>
      readonly fallback: (error: E) => Effect.Effect<A2, E2, R2>
    }
  ): Effect.Effect<A | A2, E | E2, R | R2>
  <A, E, R, A2, E2 = never, R2 = never>(
    self: Effect.Effect<A, E, R>,
    options: {
      readonly name?: string | undefined
      readonly on?: undefined
      readonly fallback: (error: E) => Effect.Effect<A2, E2, R2>
    }
  ): Effect.Effect<A | A2, E2, R | R2>
} = internal.withFallback as never
