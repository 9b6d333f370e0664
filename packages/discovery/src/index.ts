/**
 * Service discovery and configuration for Effect: a service registry with leases and health
 * checks, and a config center with versions, typed watches and gray release.
 *
 * @since 0.1.0
 */

/**
 * A config center: versioned keys by namespace/group/key, compare-and-set, history and rollback,
 * watches by glob or regex, typed values, a live ConfigProvider, secrets and gray release.
 *
 * @since 0.1.0
 */
export * as ConfigCenter from "./ConfigCenter.js"

/**
 * The etcd connection shared by the etcd backends: one client, a key prefix, a request deadline.
 *
 * @since 0.1.0
 */
export * as Etcd from "./Etcd.js"

/**
 * The typed errors of discovery and configuration.
 *
 * @since 0.1.0
 */
export * as Errors from "./Errors.js"

/**
 * Health checks in Consul's model: HTTP, TCP or any Effect; thresholds, flap damping,
 * deregistration of instances critical for too long.
 *
 * @since 0.1.0
 */
export * as HealthCheck from "./HealthCheck.js"

/**
 * A sidecar: registers an instance, keeps its lease alive, runs its health checks and loads its
 * config; on shutdown deregisters first, then drains.
 *
 * @since 0.1.0
 */
export * as Sidecar from "./Sidecar.js"

/**
 * A service registry: instances under leases with heartbeats, filtered discovery, pushed watches.
 *
 * @since 0.1.0
 */
export * as ServiceRegistry from "./ServiceRegistry.js"
