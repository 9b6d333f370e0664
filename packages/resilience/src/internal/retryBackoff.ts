import { Duration, Schema } from "effect"
import { NonNegativeDuration, PositiveDuration } from "@rampart/core/Options"

/** @internal */
export const Jitter = Schema.Literal("none", "full", "equal", "decorrelated")

/** @internal */
export type Jitter = typeof Jitter.Type

/** @internal */
export const ExponentialBackoff = Schema.TaggedStruct("Exponential", {
  base: Schema.optionalWith(PositiveDuration, { default: () => Duration.millis(100) }),
  factor: Schema.optionalWith(Schema.Number.pipe(Schema.greaterThanOrEqualTo(1), Schema.finite()), {
    default: () => 2
  }),
  max: Schema.optionalWith(PositiveDuration, { default: () => Duration.seconds(10) }),
  jitter: Schema.optionalWith(Jitter, { default: () => "full" as const })
}).pipe(
  Schema.filter((backoff) =>
    Duration.lessThanOrEqualTo(backoff.base, backoff.max) ||
    { path: ["max"], message: "Expected max to be at least base" }
  )
)

/** @internal */
export const ConstantBackoff = Schema.TaggedStruct("Constant", {
  delay: NonNegativeDuration
})

/** @internal */
export const Backoff = Schema.Union(ExponentialBackoff, ConstantBackoff)

/** @internal */
export type Backoff = typeof Backoff.Type

/** @internal */
export const defaultBackoff = (): Backoff => ({
  _tag: "Exponential",
  base: Duration.millis(100),
  factor: 2,
  max: Duration.seconds(10),
  jitter: "full"
})

/**
 * A backoff decoded to plain milliseconds once per configuration change, so the retry loop does
 * no `Duration` arithmetic.
 *
 * @internal
 */
export type BackoffMillis =
  | {
    readonly _tag: "Exponential"
    readonly base: number
    readonly factor: number
    readonly max: number
    readonly jitter: Jitter
  }
  | { readonly _tag: "Constant"; readonly delay: number }

/** @internal */
export const toMillis = (backoff: Backoff): BackoffMillis =>
  backoff._tag === "Constant"
    ? { _tag: "Constant", delay: Duration.toMillis(backoff.delay) }
    : {
      _tag: "Exponential",
      base: Duration.toMillis(backoff.base),
      factor: backoff.factor,
      max: Duration.toMillis(backoff.max),
      jitter: backoff.jitter
    }

/** @internal */
export const needsRandom = (backoff: BackoffMillis): boolean =>
  backoff._tag === "Exponential" && backoff.jitter !== "none"

/**
 * The delay before retry number `retry` (1 for the first retry), after "Exponential Backoff And
 * Jitter" (Marc Brooker, AWS Architecture Blog, 2015):
 *
 * - none:         `min(max, base * factor^(retry-1))`
 * - full:         `random(0, that)`
 * - equal:        `that/2 + random(0, that/2)`
 * - decorrelated: `min(max, random(base, previous * 3))`, `previous` starting at `base`
 *                 (the blog's definition: `factor` is not used)
 *
 * `unit` is a uniform sample from [0, 1); `previous` is the delay returned for the previous retry
 * of the same call (only decorrelated jitter uses it).
 *
 * @internal
 */
export const delayMillis = (backoff: BackoffMillis, retry: number, previous: number, unit: number): number => {
  if (backoff._tag === "Constant") return backoff.delay
  const { base, factor, jitter, max } = backoff
  if (jitter === "decorrelated") {
    const upper = Math.max(base, previous * 3)
    return Math.min(max, base + unit * (upper - base))
  }
  // factor^(retry-1) may overflow to Infinity for long runs; min() caps it.
  const capped = Math.min(max, base * Math.pow(factor, retry - 1))
  switch (jitter) {
    case "none":
      return capped
    case "full":
      return unit * capped
    case "equal":
      return capped / 2 + unit * (capped / 2)
  }
}
