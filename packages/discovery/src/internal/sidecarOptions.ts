/**
 * The schemas of a sidecar's options. The public module re-exports them with documentation.
 */
import { Name, NonNegativeDuration, PositiveDuration } from "@rampart/core/Options"
import { Duration, Effect, Schema } from "effect"
import { HealthCheckOptions } from "./healthCheckOptions.js"
import { ServiceInstance } from "./serviceRegistrySchemas.js"

const FiniteDuration = PositiveDuration.pipe(
  Schema.filter((duration) => Duration.isFinite(duration) || "Expected a finite duration")
)

/**
 * A probe is an Effect: checked at run time with `Effect.isEffect`. Its requirements are tracked
 * by the public input type, not by the schema.
 */
const ProbeSchema = Schema.declare(
  (u: unknown): u is Effect.Effect<unknown, unknown, unknown> => Effect.isEffect(u),
  { identifier: "Probe", message: () => "Expected a probe (an Effect, e.g. HealthCheck.http(...))" }
)

/** @internal */
export const SidecarCheck = Schema.Struct({
  probe: ProbeSchema,
  options: HealthCheckOptions
})

const ConfigSegment = Name.pipe(Schema.filter((segment) => !segment.includes("/") || `Expected no "/"`))

/** @internal */
export const SidecarConfig = Schema.Struct({
  namespace: ConfigSegment,
  group: ConfigSegment,
  labels: Schema.optionalWith(Schema.Record({ key: Schema.String, value: Schema.String }), { exact: true })
})

/** @internal */
export const SidecarOptions = Schema.Struct({
  name: Schema.optionalWith(Name, { exact: true }),
  instance: ServiceInstance,
  namespace: Schema.optionalWith(Name, { exact: true }),
  ttl: Schema.optionalWith(FiniteDuration, { default: () => Duration.seconds(10), exact: true }),
  heartbeatInterval: Schema.optionalWith(FiniteDuration, { exact: true }),
  drainTimeout: Schema.optionalWith(NonNegativeDuration, { default: () => Duration.seconds(10), exact: true }),
  checks: Schema.optionalWith(Schema.Array(SidecarCheck), { default: () => [], exact: true }),
  config: Schema.optionalWith(SidecarConfig, { exact: true })
}).pipe(
  Schema.filter((options) =>
    options.heartbeatInterval === undefined ||
    Duration.lessThan(options.heartbeatInterval, options.ttl) ||
    {
      path: ["heartbeatInterval"],
      message: `Expected less than ttl (${Duration.format(options.ttl)}), actual ${
        Duration.format(options.heartbeatInterval)
      }`
    }
  )
)

/** @internal */
export type SidecarOptions = typeof SidecarOptions.Type
