import { Name, PositiveDuration } from "@rampart/core/Options"
import { Duration, Schedule, Schema } from "effect"

const FinitePositiveDuration = PositiveDuration.pipe(
  Schema.filter((duration) => Duration.isFinite(duration) || "Expected a finite duration")
)

const ScheduleSchema = Schema.declare(
  (u: unknown): u is Schedule.Schedule<unknown, unknown> => Schedule.isSchedule(u),
  { identifier: "Schedule", description: "an Effect Schedule" }
)

// Generated gids are `<prefix><time>-<random>` (about 20 characters) and must stay within 128.
const GidPrefix = Schema.String.pipe(
  Schema.filter((s) => /^[A-Za-z0-9_.:-]{0,100}$/.test(s) || "Expected up to 100 characters from [A-Za-z0-9_.:-]")
)

/** @internal */
export const TwoPhaseCommitOptions = Schema.Struct({
  name: Name,
  prepareTimeout: Schema.optionalWith(FinitePositiveDuration, { default: () => Duration.seconds(5) }),
  phaseTwoTimeout: Schema.optionalWith(FinitePositiveDuration, { default: () => Duration.seconds(5) }),
  phaseTwoRetry: Schema.optional(ScheduleSchema),
  gidPrefix: Schema.optionalWith(GidPrefix, { default: () => "rampart-" })
})

const MAX_RETRY_DELAY = Duration.seconds(2)

/** @internal */
export const defaultPhaseTwoRetry: Schedule.Schedule<Duration.Duration, unknown> = Schedule.exponential(
  "50 millis",
  2
).pipe(
  Schedule.modifyDelay((_, delay) => Duration.min(delay, MAX_RETRY_DELAY)),
  Schedule.upTo("30 seconds")
)
