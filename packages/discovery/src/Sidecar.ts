/**
 * A sidecar: the scoped companion of one service instance. On acquire it loads the instance's
 * config (optional), registers the instance under a lease, keeps the lease alive with heartbeats
 * (re-registering when the lease lapsed behind its back, Eureka's lesson) and runs its health
 * checks, writing the worst check's status to the registry (Consul's rule). On release it refuses
 * new work, stops heart-beating, deregisters FIRST (so nobody routes new work to it), then waits
 * for in-flight work up to `drainTimeout`, then stops the checks.
 *
 * It works over the `ServiceRegistry` and `ConfigCenter` services, whatever backend provides them.
 *
 * @since 0.1.0
 */
import { type ConfigProvider, Context, Effect, type Layer, type Scope, type Stream } from "effect"
import type { ConfigEntry } from "./ConfigCenter.js"
import { ConfigCenter } from "./ConfigCenter.js"
import type { DiscoveryBackendError, DuplicateInstance, InvalidOptions, SidecarDraining } from "./Errors.js"
import type * as HealthCheck from "./HealthCheck.js"
import * as internal from "./internal/sidecar.js"
import * as schemas from "./internal/sidecarOptions.js"
import type { HealthStatus, Registration, ServiceInstance, ServiceRegistry } from "./ServiceRegistry.js"

/**
 * @since 0.1.0
 * @category symbols
 */
export const TypeId: unique symbol = internal.TypeId

/**
 * @since 0.1.0
 * @category symbols
 */
export type TypeId = typeof TypeId

/**
 * The options of a sidecar. The package README has the table.
 *
 * - `name`: names events, metrics and logs (default: the instance id).
 * - `instance`: the instance to register (`ServiceRegistry.ServiceInstanceInput`).
 * - `namespace`: the registry namespace (default: the registry's).
 * - `ttl`: the lease length (default 10 seconds; finite).
 * - `heartbeatInterval`: time between heartbeats (default `ttl / 3`; must be less than `ttl`).
 * - `drainTimeout`: how long release waits for in-flight work (default 10 seconds; 0: not at all).
 * - `checks`: health checks, each `{ probe, options }` (`HealthCheck.HealthCheckOptionsInput`).
 * - `config`: `{ namespace, group, labels? }` of the config center group to load (needs `ConfigCenter`).
 *
 * @since 0.1.0
 * @category options
 */
export const SidecarOptions = schemas.SidecarOptions

/**
 * The decoded options (defaults filled in, durations as `Duration`).
 *
 * @since 0.1.0
 * @category options
 */
export type SidecarOptions = schemas.SidecarOptions

/**
 * One health check of a sidecar: a probe and the options `HealthCheck.run` takes.
 *
 * @since 0.1.0
 * @category options
 */
export interface SidecarCheck<R = never> {
  readonly probe: HealthCheck.Probe<R>
  readonly options: HealthCheck.HealthCheckOptionsInput
}

/**
 * The config group a sidecar loads on acquire and serves through its `ConfigProvider`.
 *
 * @since 0.1.0
 * @category options
 */
export type SidecarConfigOptions = typeof schemas.SidecarConfig.Encoded

/**
 * What `make` and `layer` accept: durations as `Duration`, milliseconds or strings like
 * `"10 seconds"`; `R` is what the probes need (e.g. `HttpClient` for `HealthCheck.http`).
 *
 * @since 0.1.0
 * @category options
 */
export type SidecarOptionsInput<R = never> = Omit<typeof SidecarOptions.Encoded, "checks"> & {
  readonly checks?: ReadonlyArray<SidecarCheck<R>>
}

interface EventBase {
  readonly name: string
  /** Milliseconds since the epoch, from the sidecar's clock. */
  readonly timestamp: number
  readonly namespace: string
  readonly service: string
  readonly instanceId: string
}

/**
 * The instance was registered on acquire.
 *
 * @since 0.1.0
 * @category events
 */
export interface Registered extends EventBase {
  readonly _tag: "Registered"
  readonly status: HealthStatus
  readonly leaseExpiresAt: number
}

/**
 * A heartbeat found the lease gone (it lapsed, or someone deregistered the instance) and the
 * sidecar registered the instance again, with its current status.
 *
 * @since 0.1.0
 * @category events
 */
export interface Reregistered extends EventBase {
  readonly _tag: "Reregistered"
  readonly status: HealthStatus
  readonly leaseExpiresAt: number
}

/**
 * A heartbeat failed: `InstanceNotFound` (the lease is gone; a re-registration follows) or
 * `DiscoveryBackendError` (the registration is kept; the next tick tries again).
 *
 * @since 0.1.0
 * @category events
 */
export interface HeartbeatFailed extends EventBase {
  readonly _tag: "HeartbeatFailed"
  readonly reason: "InstanceNotFound" | "DiscoveryBackendError"
  readonly message: string
}

/**
 * Registering again after a lapsed lease failed; the next tick tries again.
 *
 * @since 0.1.0
 * @category events
 */
export interface ReregisterFailed extends EventBase {
  readonly _tag: "ReregisterFailed"
  readonly message: string
}

/**
 * The aggregate health (the worst of the checks) changed.
 *
 * @since 0.1.0
 * @category events
 */
export interface StatusChanged extends EventBase {
  readonly _tag: "StatusChanged"
  readonly from: HealthStatus
  readonly to: HealthStatus
  readonly output: string
}

/**
 * A health check stayed critical past its `deregisterCriticalAfter`: the instance was
 * deregistered and heart-beating stopped for good.
 *
 * @since 0.1.0
 * @category events
 */
export interface DeregisteredByHealthCheck extends EventBase {
  readonly _tag: "DeregisteredByHealthCheck"
  readonly check: string
}

/**
 * Release started: new work is refused from now on.
 *
 * @since 0.1.0
 * @category events
 */
export interface Draining extends EventBase {
  readonly _tag: "Draining"
  readonly inFlight: number
}

/**
 * Release deregistered the instance (before waiting for in-flight work).
 *
 * @since 0.1.0
 * @category events
 */
export interface Deregistered extends EventBase {
  readonly _tag: "Deregistered"
}

/**
 * Release could not deregister the instance (a backend error); it went on draining, and the
 * lease will lapse on its own within the TTL.
 *
 * @since 0.1.0
 * @category events
 */
export interface DeregisterFailed extends EventBase {
  readonly _tag: "DeregisterFailed"
  readonly message: string
}

/**
 * Release stopped waiting for in-flight work: all of it finished (`abandoned` 0) or
 * `drainTimeout` passed (`abandoned` calls were still running; they are not interrupted).
 *
 * @since 0.1.0
 * @category events
 */
export interface Drained extends EventBase {
  readonly _tag: "Drained"
  readonly waitedMillis: number
  readonly abandoned: number
}

/**
 * Release finished: the health checks are stopped.
 *
 * @since 0.1.0
 * @category events
 */
export interface Stopped extends EventBase {
  readonly _tag: "Stopped"
}

/**
 * @since 0.1.0
 * @category events
 */
export type SidecarEvent =
  | Registered
  | Reregistered
  | HeartbeatFailed
  | ReregisterFailed
  | StatusChanged
  | DeregisteredByHealthCheck
  | Draining
  | Deregistered
  | DeregisterFailed
  | Drained
  | Stopped

/**
 * A running sidecar.
 *
 * @since 0.1.0
 * @category models
 */
export interface Service {
  readonly [TypeId]: TypeId
  readonly name: string
  /** The registry namespace of the instance. */
  readonly namespace: string
  /** The instance as registered (decoded: defaults filled in). */
  readonly instance: ServiceInstance
  /** The latest registration (a re-registration after a lapsed lease replaces it). */
  readonly registration: Effect.Effect<Registration>
  /** The aggregate health: the worst status of the checks (`passing` without checks). */
  readonly status: Effect.Effect<HealthStatus>
  /** The synchronous form of `status`. */
  readonly unsafeStatus: () => HealthStatus
  /** Whether the sidecar believes the instance is registered (false after release or a check's deregistration). */
  readonly registered: Effect.Effect<boolean>
  /** Whether release has started (new work is refused). */
  readonly draining: Effect.Effect<boolean>
  /** Calls of `serve` running now. */
  readonly inFlight: Effect.Effect<number>
  /**
   * Runs `effect` as tracked in-flight work: release waits for it (up to `drainTimeout`) after
   * deregistering. Fails with `SidecarDraining` without running it once release has started.
   */
  readonly serve: <A, E, R>(effect: Effect.Effect<A, E, R>) => Effect.Effect<A, E | SidecarDraining, R>
  /** The running health checks, in the order of `checks`. */
  readonly checks: ReadonlyArray<HealthCheck.HealthChecker>
  /** The config entries of the group, as loaded on acquire (`[]` without `config`). */
  readonly config: ReadonlyArray<ConfigEntry>
  /**
   * A live `ConfigProvider` over the config group (`ConfigCenter.configProvider`), `undefined`
   * without `config`.
   */
  readonly configProvider: ConfigProvider.ConfigProvider | undefined
  readonly events: Stream.Stream<SidecarEvent>
}

/**
 * The sidecar service.
 *
 * @since 0.1.0
 * @category models
 */
export class Sidecar extends Context.Tag("@rampart/discovery/Sidecar")<Sidecar, Service>() {}

/**
 * Starts a sidecar in the current scope; closing the scope runs the release (see the module
 * documentation for the order). Acquire, in order: decode options (`InvalidOptions` naming the
 * field), load the config group if `config` is given (`DiscoveryBackendError` fails it), register
 * the instance (`DuplicateInstance`, `DiscoveryBackendError`) with status `passing` without checks
 * or the worst of the checks' `initialStatus` (default `critical`, as Consul) with checks, start
 * the heartbeat loop (every `heartbeatInterval` on the `Clock`), start the checks.
 *
 * Without `config` it needs no `ConfigCenter`.
 *
 * Metrics (label `name`): `rampart_sidecar_heartbeats_total`,
 * `rampart_sidecar_heartbeat_failures_total{reason}`, `rampart_sidecar_reregistrations_total`,
 * `rampart_sidecar_refused_total`, `rampart_sidecar_deregister_failures_total`,
 * `rampart_sidecar_abandoned_total`, gauges `rampart_sidecar_registered` (0/1) and
 * `rampart_sidecar_status` (0 passing, 1 warning, 2 critical).
 *
 * @since 0.1.0
 * @category constructors
 * @example
 * import { Effect } from "effect"
 * import { HealthCheck, ServiceRegistry, Sidecar } from "@rampart/discovery"
 *
 * const program = Effect.gen(function*() {
 *   const sidecar = yield* Sidecar.make({
 *     instance: { id: "orders-1", service: "orders", address: "10.0.0.5", port: 8080 },
 *     ttl: "10 seconds",
 *     checks: [{ probe: HealthCheck.tcp({ host: "10.0.0.5", port: 8080 }), options: { name: "tcp", interval: "5 seconds" } }]
 *   })
 *   yield* sidecar.serve(handleRequest)
 * }).pipe(Effect.scoped, Effect.provide(ServiceRegistry.layerMemory({ name: "local" })))
 */
export function make<R = never>(
  options: SidecarOptionsInput<R> & { readonly config?: undefined }
): Effect.Effect<
  Service,
  InvalidOptions | DuplicateInstance | DiscoveryBackendError,
  Scope.Scope | ServiceRegistry | R
>
export function make<R = never>(
  options: SidecarOptionsInput<R>
): Effect.Effect<
  Service,
  InvalidOptions | DuplicateInstance | DiscoveryBackendError,
  Scope.Scope | ServiceRegistry | ConfigCenter | R
>
export function make<R>(
  options: SidecarOptionsInput<R>
): Effect.Effect<
  Service,
  InvalidOptions | DuplicateInstance | DiscoveryBackendError,
  Scope.Scope | ServiceRegistry | ConfigCenter | R
> {
  return options.config === undefined
    ? internal.make(options, undefined)
    : Effect.flatMap(ConfigCenter, (center) => internal.make(options, center))
}

/**
 * A layer with one sidecar. With `config`, the layer also makes the sidecar's `ConfigProvider`
 * the program's default, falling back to the previous one (environment variables, say) for keys
 * the group lacks, so `Config.string("db.url")` reads the live value from the config center.
 *
 * @since 0.1.0
 * @category constructors
 * @example
 * import { Config, Effect, Layer } from "effect"
 * import { ConfigCenter, ServiceRegistry, Sidecar } from "@rampart/discovery"
 *
 * const SidecarLive = Sidecar.layer({
 *   instance: { id: "orders-1", service: "orders", address: "10.0.0.5", port: 8080 },
 *   config: { namespace: "prod", group: "orders" }
 * }).pipe(Layer.provide(Layer.merge(ServiceRegistry.layerMemory({ name: "local" }), ConfigCenter.layerMemory({ name: "config" }))))
 *
 * const program = Effect.gen(function*() {
 *   const url = yield* Config.string("db.url") // read live from prod/orders/db.url
 * }).pipe(Effect.provide(SidecarLive))
 */
export function layer<R = never>(
  options: SidecarOptionsInput<R> & { readonly config?: undefined }
): Layer.Layer<Sidecar, InvalidOptions | DuplicateInstance | DiscoveryBackendError, ServiceRegistry | R>
export function layer<R = never>(
  options: SidecarOptionsInput<R>
): Layer.Layer<Sidecar, InvalidOptions | DuplicateInstance | DiscoveryBackendError, ServiceRegistry | ConfigCenter | R>
export function layer<R>(
  options: SidecarOptionsInput<R>
): Layer.Layer<Sidecar, InvalidOptions | DuplicateInstance | DiscoveryBackendError, ServiceRegistry | ConfigCenter | R> {
  return internal.layer(Sidecar, make(options))
}

/**
 * Runs `effect` as in-flight work of the sidecar (see `Service.serve`). Cost on the success path:
 * one `Effect.withFiberRuntime` and one `Effect.matchCauseEffect`; work interrupted mid-flight is
 * accounted for by an observer on its fiber.
 *
 * @since 0.1.0
 * @category combinators
 * @example
 * const reply = yield* handleRequest.pipe(Sidecar.serve(sidecar))
 */
export const serve: {
  (sidecar: Service): <A, E, R>(self: Effect.Effect<A, E, R>) => Effect.Effect<A, E | SidecarDraining, R>
  <A, E, R>(self: Effect.Effect<A, E, R>, sidecar: Service): Effect.Effect<A, E | SidecarDraining, R>
} = internal.serve

/**
 * @since 0.1.0
 * @category guards
 */
export const isSidecar: (u: unknown) => u is Service = internal.isSidecar
