/**
 * The typed errors of service discovery and configuration. `Schema.TaggedError`s with stable tags,
 * carrying what a caller needs to act.
 *
 * @since 0.1.0
 */
import { InvalidOptions as CoreInvalidOptions } from "@rampart/core/Options"
import { Schema } from "effect"

/**
 * Raised when options do not decode; the message names each offending field.
 *
 * @since 0.1.0
 * @category errors
 */
export const InvalidOptions: typeof CoreInvalidOptions = CoreInvalidOptions

/**
 * @since 0.1.0
 * @category errors
 */
export type InvalidOptions = CoreInvalidOptions

/**
 * Raised by `register` when an instance with the same id is already registered (and alive) in
 * the namespace.
 *
 * @since 0.1.0
 * @category errors
 */
export class DuplicateInstance extends Schema.TaggedError<DuplicateInstance>("@rampart/discovery/DuplicateInstance")(
  "DuplicateInstance",
  { namespace: Schema.String, service: Schema.String, instanceId: Schema.String }
) {
  override get message(): string {
    return `instance "${this.instanceId}" of service "${this.service}" is already registered in namespace "${this.namespace}"`
  }
}

/**
 * Raised when a service has no registered instance at all in the namespace.
 *
 * @since 0.1.0
 * @category errors
 */
export class ServiceNotFound extends Schema.TaggedError<ServiceNotFound>("@rampart/discovery/ServiceNotFound")(
  "ServiceNotFound",
  { namespace: Schema.String, service: Schema.String }
) {
  override get message(): string {
    return `service "${this.service}" has no registered instance in namespace "${this.namespace}"`
  }
}

/**
 * Raised when an instance the caller names is not registered (never was, deregistered, or its
 * lease lapsed).
 *
 * @since 0.1.0
 * @category errors
 */
export class InstanceNotFound extends Schema.TaggedError<InstanceNotFound>("@rampart/discovery/InstanceNotFound")(
  "InstanceNotFound",
  { namespace: Schema.String, instanceId: Schema.String }
) {
  override get message(): string {
    return `instance "${this.instanceId}" is not registered in namespace "${this.namespace}"`
  }
}

/**
 * Raised when a config key has no value (or no such version).
 *
 * @since 0.1.0
 * @category errors
 */
export class ConfigNotFound extends Schema.TaggedError<ConfigNotFound>("@rampart/discovery/ConfigNotFound")(
  "ConfigNotFound",
  { key: Schema.String, version: Schema.optional(Schema.Number) }
) {
  override get message(): string {
    return this.version === undefined
      ? `config key "${this.key}" has no value`
      : `config key "${this.key}" has no version ${this.version}`
  }
}

/**
 * Raised by a compare-and-set write when the key's current version is not the expected one.
 *
 * @since 0.1.0
 * @category errors
 */
export class ConfigVersionConflict extends Schema.TaggedError<ConfigVersionConflict>(
  "@rampart/discovery/ConfigVersionConflict"
)("ConfigVersionConflict", {
  key: Schema.String,
  expected: Schema.Number,
  actual: Schema.Number
}) {
  override get message(): string {
    return `config key "${this.key}" is at version ${this.actual}, not ${this.expected}`
  }
}

/**
 * Raised when a typed config value does not decode with its schema (a refused write, or a stored
 * value that no longer fits). `message` is the `ParseError`'s.
 *
 * @since 0.1.0
 * @category errors
 */
export class ConfigDecodeError extends Schema.TaggedError<ConfigDecodeError>("@rampart/discovery/ConfigDecodeError")(
  "ConfigDecodeError",
  { key: Schema.String, reason: Schema.String }
) {
  override get message(): string {
    return `config key "${this.key}": ${this.reason}`
  }
}

/**
 * Raised when a backend (etcd) cannot be reached or answers with an error.
 *
 * @since 0.1.0
 * @category errors
 */
export class DiscoveryBackendError extends Schema.TaggedError<DiscoveryBackendError>(
  "@rampart/discovery/DiscoveryBackendError"
)("DiscoveryBackendError", {
  backend: Schema.String,
  operation: Schema.String,
  reason: Schema.String,
  cause: Schema.optional(Schema.Defect)
}) {
  override get message(): string {
    return `${this.backend} ${this.operation} failed: ${this.reason}`
  }
}

/**
 * Raised by `Sidecar.serve` when the sidecar is shutting down: the instance has been (or is being)
 * deregistered and new work is refused while in-flight work drains.
 *
 * @since 0.1.0
 * @category errors
 */
export class SidecarDraining extends Schema.TaggedError<SidecarDraining>("@rampart/discovery/SidecarDraining")(
  "SidecarDraining",
  { namespace: Schema.String, service: Schema.String, instanceId: Schema.String }
) {
  override get message(): string {
    return `instance "${this.instanceId}" of service "${this.service}" is shutting down (namespace "${this.namespace}"): new work is refused while in-flight work drains`
  }
}
