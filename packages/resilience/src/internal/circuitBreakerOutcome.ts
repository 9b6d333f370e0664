import { Cause } from "effect"
import { FAILURE, type Outcome, SUCCESS } from "./circuitBreakerWindow.js"

/** What a call counts as when it ended by interruption alone: neither success nor failure. */
export const NEITHER = -1

/**
 * Classifies a failed call. Typed errors count as failures when `isFailure` says so, and as
 * successes otherwise (the dependency answered); defects always count as failures; a cause with
 * only interruptions counts as neither. The common single-reason causes are matched directly.
 */
export const classifyCause = (
  cause: Cause.Cause<unknown>,
  isFailure: ((error: unknown) => boolean) | undefined
): Outcome | typeof NEITHER => {
  switch (cause._tag) {
    case "Fail":
      return isFailure === undefined || isFailure(cause.error) ? FAILURE : SUCCESS
    case "Die":
      return FAILURE
    case "Interrupt":
    case "Empty":
      return NEITHER
    default: {
      if (Cause.isDie(cause)) return FAILURE
      let verdict: Outcome | typeof NEITHER = NEITHER
      for (const error of Cause.failures(cause)) {
        if (isFailure === undefined || isFailure(error)) return FAILURE
        verdict = SUCCESS
      }
      return verdict
    }
  }
}
