/**
 * Time for an instance: the `Clock` captured when it is made, read synchronously on hot paths, and
 * timers that follow that clock (native timers on the live clock, fibers on `TestClock`).
 *
 * @since 0.1.0
 */
import { Clock, Duration, Effect, FiberId, Runtime } from "effect"

/**
 * Time for a policy instance: read synchronously on the hot path, and timers that follow the
 * `Clock` in context. On the live clock a timer is a plain (unref'd) `setTimeout`, which is what
 * the live clock's `sleep` uses anyway; on any other clock (`TestClock`) a timer is a daemon fiber
 * sleeping on that clock, so `TestClock.adjust` fires it.
 *
 * @since 0.1.0
 * @category models
 */
export interface Timers {
  readonly clock: Clock.Clock
  /** Milliseconds since the epoch, from the captured clock. */
  readonly now: () => number
  /** Runs `task` after `millis`; the returned function cancels it. */
  readonly schedule: (millis: number, task: () => void) => () => void
  /** True when the clock is the live one (timers are native). */
  readonly live: boolean
}

const liveClockPrototype: object | null = Object.getPrototypeOf(Clock.make())

/**
 * @since 0.1.0
 * @category guards
 */
export const isLiveClock = (clock: Clock.Clock): boolean => Object.getPrototypeOf(clock) === liveClockPrototype

const noop = () => {}

const MAX_TIMEOUT_MILLIS = 2 ** 31 - 1

/**
 * Captures the `Clock` in context.
 *
 * @since 0.1.0
 * @category constructors
 */
export const makeTimers: Effect.Effect<Timers> = Effect.gen(function*() {
  const clock = yield* Effect.clock
  const now = () => clock.unsafeCurrentTimeMillis()
  if (isLiveClock(clock)) {
    const schedule = (millis: number, task: () => void) => {
      if (millis === Number.POSITIVE_INFINITY) return noop
      let handle: ReturnType<typeof setTimeout>
      const arm = (remaining: number) => {
        // Node fires a timeout longer than 2^31 - 1 ms almost at once: wait in steps instead.
        const step = Math.min(Math.max(0, remaining), MAX_TIMEOUT_MILLIS)
        handle = setTimeout(remaining > MAX_TIMEOUT_MILLIS ? () => arm(remaining - step) : task, step)
        // A pending timeout must not keep the process alive on its own.
        handle.unref?.()
      }
      arm(millis)
      return () => clearTimeout(handle)
    }
    return { clock, now, schedule, live: true }
  }
  const runtime = yield* Effect.runtime<never>()
  const runFork = Runtime.runFork(runtime)
  const schedule = (millis: number, task: () => void) => {
    if (millis === Number.POSITIVE_INFINITY) return noop
    if (millis <= 0) {
      task()
      return noop
    }
    const fiber = runFork(Effect.zipRight(clock.sleep(Duration.millis(millis)), Effect.sync(task)))
    return () => {
      fiber.unsafeInterruptAsFork(FiberId.none)
    }
  }
  return { clock, now, schedule, live: false }
})
