import { Name, PositiveDuration, PositiveNumber } from "@rampart/core/Options"
import { Duration, Schema } from "effect"

/** @internal */
export const HealthStatus = Schema.Literal("passing", "warning", "critical")

/** @internal */
export const ServiceInstance = Schema.Struct({
  id: Name,
  service: Name,
  address: Schema.String.pipe(Schema.minLength(1)),
  port: Schema.Int.pipe(Schema.between(1, 65535)),
  tags: Schema.optionalWith(Schema.Array(Schema.String), { default: () => [] }),
  metadata: Schema.optionalWith(Schema.Record({ key: Schema.String, value: Schema.String }), { default: () => ({}) }),
  weight: Schema.optionalWith(PositiveNumber, { default: () => 1 }),
  zone: Schema.optional(Schema.String),
  version: Schema.optional(Schema.String)
})

/** @internal */
export const RegisterOptions = Schema.Struct({
  namespace: Schema.optional(Name),
  ttl: Schema.optional(PositiveDuration),
  initialStatus: Schema.optional(HealthStatus)
})

/** @internal */
export const ServiceRegistryOptions = Schema.Struct({
  name: Name,
  defaultTtl: Schema.optionalWith(PositiveDuration, { default: () => Duration.seconds(30) }),
  sweepInterval: Schema.optionalWith(PositiveDuration, { default: () => Duration.seconds(1) }),
  defaultNamespace: Schema.optionalWith(Name, { default: () => "default" })
})
