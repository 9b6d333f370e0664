import { Duration, Effect } from "effect"

/**
 * Lets forked fibers run until `done` holds. Bounded, so a bug fails the test's assertion instead
 * of hanging it; no clock involved, so it works under `TestClock`.
 */
export const settle = (done: () => boolean) =>
  Effect.gen(function*() {
    for (let i = 0; i < 10_000 && !done(); i++) yield* Effect.yieldNow()
  })

/**
 * Polls `condition` every 20 ms of real time until it holds; dies after `timeoutMillis`. For
 * integration tests against real servers, whose events arrive on their own schedule.
 */
export const waitFor = (what: string, condition: () => boolean, timeoutMillis = 10_000) =>
  Effect.gen(function*() {
    const deadline = Date.now() + timeoutMillis
    while (!condition()) {
      if (Date.now() > deadline) return yield* Effect.dieMessage(`timed out waiting for ${what}`)
      yield* Effect.sleep(Duration.millis(20))
    }
  })
