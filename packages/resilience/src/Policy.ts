/**
 * One shape for every resilience policy, so any of them compose without special cases.
 *
 * Every data type in this package (`CircuitBreaker`, `Bulkhead`, `Timeout`, `Retry`, ...) is a
 * `Policy`: it has a name and an `apply` that runs an effect under the policy. `compose` stacks
 * policies outermost first, and `protect` applies one to an effect.
 *
 * @since 0.1.0
 */
import { type Effect, Predicate } from "effect"
import { dual } from "effect/Function"

/**
 * @since 0.1.0
 * @category symbols
 */
export const PolicyTypeId: unique symbol = Symbol.for("@rampart/resilience/Policy")

/**
 * @since 0.1.0
 * @category symbols
 */
export type PolicyTypeId = typeof PolicyTypeId

/**
 * A policy that may add the errors `E` and the requirements `R` to the effects it protects.
 *
 * @since 0.1.0
 * @category models
 */
export interface Policy<out E = never, out R = never> {
  readonly [PolicyTypeId]: PolicyTypeId
  /** The instance name: it labels metrics, events and errors. */
  readonly name: string
  /** Runs `self` under this policy. */
  readonly apply: <A, E1, R1>(self: Effect.Effect<A, E1, R1>) => Effect.Effect<A, E | E1, R | R1>
  /**
   * Type-level only (never set at run time): the errors and requirements this policy adds, so
   * `compose` can collect them. TypeScript cannot read them back from the generic `apply`.
   */
  readonly "~policy"?: { readonly error: E; readonly context: R }
}

/**
 * The errors a policy may add.
 *
 * @since 0.1.0
 * @category type-level
 */
export type ErrorOf<P> = P extends { readonly "~policy"?: { readonly error: infer E } } ? E : never

/**
 * The requirements a policy may add.
 *
 * @since 0.1.0
 * @category type-level
 */
export type ContextOf<P> = P extends { readonly "~policy"?: { readonly context: infer R } } ? R : never

/**
 * @since 0.1.0
 * @category guards
 */
export const isPolicy = (u: unknown): u is Policy<unknown, unknown> => Predicate.hasProperty(u, PolicyTypeId)

/**
 * Makes a policy from a function, for policies of your own.
 *
 * @since 0.1.0
 * @category constructors
 * @example
 * import { Effect } from "effect"
 * import { Policy } from "@rampart/resilience"
 *
 * const logged = Policy.make("logged", (self) => Effect.tap(self, () => Effect.log("done")))
 */
export const make = <E = never, R = never>(
  name: string,
  apply: <A, E1, R1>(self: Effect.Effect<A, E1, R1>) => Effect.Effect<A, E | E1, R | R1>
): Policy<E, R> => ({ [PolicyTypeId]: PolicyTypeId, name, apply })

/**
 * The policy that does nothing.
 *
 * @since 0.1.0
 * @category constructors
 */
export const identity: Policy = make("identity", (self) => self)

/**
 * Composes policies, outermost first: `compose(timeout, retry, breaker, bulkhead)` runs the
 * effect inside the bulkhead, inside the breaker, retried as a whole, under one timeout.
 *
 * @since 0.1.0
 * @category combinators
 * @example
 * import { Policy } from "@rampart/resilience"
 *
 * const pipeline = Policy.compose(timeout, retry, breaker, bulkhead)
 * const result = yield* callDownstream.pipe(Policy.protect(pipeline))
 */
export const compose = <const Policies extends ReadonlyArray<Policy<unknown, unknown>>>(
  ...policies: Policies
): Policy<ErrorOf<Policies[number]>, ContextOf<Policies[number]>> => {
  const name = policies.map((policy) => policy.name).join(" > ")
  const apply = <A, E1, R1>(self: Effect.Effect<A, E1, R1>) => {
    let effect: Effect.Effect<A, unknown, unknown> = self
    for (let index = policies.length - 1; index >= 0; index--) {
      effect = policies[index]!.apply(effect)
    }
    return effect as Effect.Effect<A, E1 | ErrorOf<Policies[number]>, R1 | ContextOf<Policies[number]>>
  }
  return make(name, apply)
}

/**
 * Runs an effect under a policy.
 *
 * @since 0.1.0
 * @category combinators
 */
export const protect: {
  <E2, R2>(policy: Policy<E2, R2>): <A, E, R>(self: Effect.Effect<A, E, R>) => Effect.Effect<A, E | E2, R | R2>
  <A, E, R, E2, R2>(self: Effect.Effect<A, E, R>, policy: Policy<E2, R2>): Effect.Effect<A, E | E2, R | R2>
} = dual(
  2,
  <A, E, R, E2, R2>(self: Effect.Effect<A, E, R>, policy: Policy<E2, R2>): Effect.Effect<A, E | E2, R | R2> =>
    policy.apply(self)
)
