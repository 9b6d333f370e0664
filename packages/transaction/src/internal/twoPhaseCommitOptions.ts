import { Name } from "@rampart/core/Options"
import { Duration, type Schedule, Schema } from "effect"
import { defaultPhaseTwoRetry as sharedRetry, FinitePositiveDuration, GidPrefix, ScheduleSchema } from "./coordinator.js"

/** @internal */
export const TwoPhaseCommitOptions = Schema.Struct({
  name: Name,
  prepareTimeout: Schema.optionalWith(FinitePositiveDuration, { default: () => Duration.seconds(5) }),
  phaseTwoTimeout: Schema.optionalWith(FinitePositiveDuration, { default: () => Duration.seconds(5) }),
  phaseTwoRetry: Schema.optional(ScheduleSchema),
  gidPrefix: Schema.optionalWith(GidPrefix, { default: () => "rampart-" })
})

/** @internal */
export const defaultPhaseTwoRetry: Schedule.Schedule<Duration.Duration, unknown> = sharedRetry
