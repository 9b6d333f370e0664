import { Effect, Exit, type Fiber } from "effect"

/**
 * In-flight accounting for `Sidecar.serve`, on the hot path.
 *
 * A call takes a `Ticket` synchronously (inside the caller's `withFiberRuntime`) and gives it back
 * from `matchCauseEffect` handlers. Those handlers are skipped when the call is interrupted
 * (Effect 3 drops `onFailure` frames while an interrupted fiber unwinds), so each ticket also
 * registers an observer on its fiber, which gives it back when the fiber ends if no handler did;
 * the handlers remove the observer. Masking interruption instead would cost ~1.3 µs per call.
 */
export interface InFlightCounter {
  /** One call finished (handler or fiber observer); called exactly once per ticket. */
  leave(): void
}

/** One tracked call. */
export class Ticket {
  private left = false
  private readonly observer: () => void

  constructor(
    private readonly counter: InFlightCounter,
    private readonly fiber: Fiber.RuntimeFiber<unknown, unknown>
  ) {
    // The fiber ended while the call was in flight: interruption skipped the call's handlers.
    this.observer = () => {
      if (!this.left) {
        this.left = true
        this.counter.leave()
      }
    }
    fiber.addObserver(this.observer)
  }

  /** The call finished; runs on the calling fiber. */
  leave(): void {
    if (this.left) return
    this.left = true
    // Keeps a long-lived fiber's observer list from growing with every call it makes.
    this.fiber.removeObserver(this.observer)
    this.counter.leave()
  }
}

/** Runs `self`, giving the ticket back whatever the outcome. */
export const tracked = <A, E, R>(self: Effect.Effect<A, E, R>, ticket: Ticket): Effect.Effect<A, E, R> =>
  Effect.matchCauseEffect(self, {
    onSuccess: (value) => {
      ticket.leave()
      return Exit.succeed(value)
    },
    onFailure: (cause) => {
      ticket.leave()
      return Exit.failCause(cause)
    }
  })
