import { Duration, Schema } from "effect"
import { Name, PositiveDuration, PositiveInt } from "@rampart/core/Options"

const FiniteDuration = PositiveDuration.pipe(
  Schema.filter((d) => Duration.isFinite(d) || "Expected a finite duration")
)

export const CoDelOptions = Schema.Struct({
  /** The acceptable standing queue delay (RFC 8289 TARGET). */
  target: Schema.optionalWith(FiniteDuration, { default: () => Duration.millis(5) }),
  /** How long the delay must stay above target before shedding (RFC 8289 INTERVAL). */
  interval: Schema.optionalWith(FiniteDuration, { default: () => Duration.millis(100) }),
  /**
   * `"controlLaw"`: RFC 8289 CoDel, shedding at `interval / sqrt(count)`. `"adaptiveTimeout"`: the
   * simpler variant from Facebook's "Fail at Scale": while the queue has not been empty for
   * `interval`, a task that waited more than `target` is shed; otherwise more than `interval`.
   */
  variant: Schema.optionalWith(Schema.Literal("controlLaw", "adaptiveTimeout"), {
    default: () => "controlLaw" as const
  })
})

export const BackpressureOptions = Schema.Struct({
  name: Name,
  /** How many tasks may wait for a worker (running tasks are not counted). */
  capacity: PositiveInt,
  /** How many tasks run at once. */
  workers: PositiveInt,
  /** What a full queue does with a new task. */
  strategy: Schema.optionalWith(Schema.Literal("reject", "dropOldest", "suspend"), {
    default: () => "reject" as const
  }),
  /** Queue-delay shedding; off when absent. */
  codel: Schema.optional(CoDelOptions)
})

export type BackpressureOptions = typeof BackpressureOptions.Type
export type BackpressureOptionsInput = typeof BackpressureOptions.Encoded
