/**
 * The schemas of a health check: statuses and the runner's options. The public module re-exports
 * them with documentation.
 */
import { Duration, Schema } from "effect"
import { Name, PositiveDuration, PositiveInt, PositiveNumber } from "@rampart/core/Options"

export const HealthStatus = Schema.Literal("passing", "warning", "critical").annotations({
  message: (issue) => ({ message: `Expected "passing", "warning" or "critical", actual ${JSON.stringify(issue.actual)}`, override: true })
})
export type HealthStatus = typeof HealthStatus.Type

const FiniteDuration = PositiveDuration.pipe(
  Schema.filter((duration) => Duration.isFinite(duration) || "Expected a finite duration")
).annotations({
  message: () => ({
    message: `Expected a finite duration greater than zero (a Duration, milliseconds, or a string like "10 seconds")`,
    override: true
  })
})

export const FlapDamping = Schema.Struct({
  penalty: Schema.optionalWith(PositiveNumber, { default: () => 1000, exact: true }),
  halfLife: Schema.optionalWith(FiniteDuration, { default: () => Duration.seconds(60), exact: true }),
  suppressAbove: Schema.optionalWith(PositiveNumber, { default: () => 2000, exact: true }),
  reuseBelow: Schema.optionalWith(PositiveNumber, { default: () => 750, exact: true })
}).pipe(
  Schema.filter((damping) =>
    damping.reuseBelow < damping.suppressAbove ||
    {
      path: ["reuseBelow"],
      message: `Expected less than suppressAbove (${damping.suppressAbove}), actual ${damping.reuseBelow}`
    }
  )
)
export type FlapDamping = typeof FlapDamping.Type

export const HealthCheckOptions = Schema.Struct({
  name: Name,
  interval: Schema.optionalWith(FiniteDuration, { default: () => Duration.seconds(10), exact: true }),
  timeout: Schema.optionalWith(FiniteDuration, { default: () => Duration.seconds(5), exact: true }),
  passThreshold: Schema.optionalWith(PositiveInt, { default: () => 1, exact: true }),
  failThreshold: Schema.optionalWith(PositiveInt, { default: () => 1, exact: true }),
  initialStatus: Schema.optionalWith(HealthStatus, { default: () => "critical" as const, exact: true }),
  /** Flap damping is off when absent. */
  flapDamping: Schema.optionalWith(FlapDamping, { exact: true }),
  /** Never deregister when absent. */
  deregisterCriticalAfter: Schema.optionalWith(FiniteDuration, { exact: true })
})
export type HealthCheckOptions = typeof HealthCheckOptions.Type
export type HealthCheckOptionsInput = typeof HealthCheckOptions.Encoded
