/**
 * How long a circuit breaker stays open: a fixed duration, or an Effect `Schedule` whose n-th
 * delay is used for the n-th consecutive opening. The schedule is stepped synchronously when the
 * breaker opens (never on the success path), with the opening time as `now`, on the runtime
 * captured when the breaker was made (so `TestClock`/`TestRandom` apply to jittered schedules).
 */
import { Duration, Exit, Runtime, Schedule, ScheduleDecision, ScheduleIntervals } from "effect"

/** Used when a schedule ends (or cannot run synchronously) before it has produced any delay. */
const FALLBACK_OPEN_MILLIS = 60_000

export interface OpenDurations {
  /** The delay of the `opening`-th consecutive opening (1 for the first), stepping a schedule. */
  readonly next: (opening: number, now: number) => number
  /** Back to the first delay (the breaker closed). */
  readonly reset: () => void
  /** Steps a fresh schedule past `openings` openings, e.g. after `restore` or a new schedule. */
  readonly replay: (openings: number, now: number) => void
}

export const makeOpenDurations = (
  openDuration: Duration.Duration | Schedule.Schedule<unknown, unknown>,
  runtime: Runtime.Runtime<never>
): OpenDurations => {
  if (!Schedule.isSchedule(openDuration)) {
    const millis = Duration.toMillis(openDuration)
    return { next: () => millis, reset: () => {}, replay: () => {} }
  }
  const schedule = openDuration
  const runSync = Runtime.runSyncExit(runtime)
  let state: unknown = schedule.initial
  let lastMillis = FALLBACK_OPEN_MILLIS
  const step = (opening: number, now: number) => {
    const exit = runSync(schedule.step(now, opening, state))
    if (Exit.isFailure(exit)) return
    const [nextState, , decision] = exit.value
    // A finished schedule keeps repeating its last delay.
    if (ScheduleDecision.isDone(decision)) return
    state = nextState
    const start = ScheduleIntervals.start(decision.intervals)
    if (Number.isFinite(start)) lastMillis = Math.max(0, start - now)
  }
  const reset = () => {
    state = schedule.initial
    lastMillis = FALLBACK_OPEN_MILLIS
  }
  return {
    next: (opening, now) => {
      step(opening, now)
      return lastMillis
    },
    reset,
    replay: (openings, now) => {
      reset()
      for (let opening = 1; opening <= openings; opening++) step(opening, now)
    }
  }
}
