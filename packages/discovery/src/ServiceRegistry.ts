/**
 * A service registry: instances register under a lease with a TTL, keep it alive with heartbeats,
 * report their health, and are found by service name (filtered by tags, metadata and zone) or
 * watched as a `Stream` of snapshots pushed on every change. An instance whose lease lapses is
 * invisible to `discover` at once and is evicted (watchers told) within one sweep interval.
 *
 * The interface is backend-neutral: `makeMemory` / `layerMemory` keep everything in process; an
 * etcd backend implements the same `Service`.
 *
 * @since 0.1.0
 */
import { type Config, type ConfigError, Context, Effect, Layer, type Schema, type Scope, type Stream } from "effect"
import type {
  DiscoveryBackendError,
  DuplicateInstance,
  InstanceNotFound,
  InvalidOptions,
  ServiceNotFound
} from "./Errors.js"
import type * as Etcd from "./Etcd.js"
import * as internal from "./internal/serviceRegistry.js"
import * as internalEtcd from "./internal/serviceRegistryEtcd.js"
import * as schemas from "./internal/serviceRegistrySchemas.js"

/**
 * The health of an instance, as in Consul: `passing` and `warning` instances are served by
 * `discover`; `critical` ones only with `includeUnhealthy`.
 *
 * @since 0.1.0
 * @category models
 */
export const HealthStatus: Schema.Literal<["passing", "warning", "critical"]> = schemas.HealthStatus

/**
 * @since 0.1.0
 * @category models
 */
export type HealthStatus = typeof HealthStatus.Type

/**
 * An instance of a service, as registered. `tags` default to `[]`, `metadata` to `{}`, `weight`
 * to 1.
 *
 * @since 0.1.0
 * @category models
 */
export const ServiceInstance = schemas.ServiceInstance

/**
 * @since 0.1.0
 * @category models
 */
export type ServiceInstance = typeof ServiceInstance.Type

/**
 * What `register` accepts: the optional fields may be left out.
 *
 * @since 0.1.0
 * @category models
 */
export type ServiceInstanceInput = typeof ServiceInstance.Encoded

/**
 * A registered instance as the registry sees it: the instance plus its namespace, health and
 * lease. Times are milliseconds since the epoch, from the registry's clock. An immutable value:
 * a change produces a new view. On etcd, `registeredAt` comes from the registering client's clock,
 * and `lastHeartbeat` / `leaseExpiresAt` reflect only the heartbeats made through this registry
 * (keep-alives do not rewrite the stored record; etcd alone decides expiry).
 *
 * @since 0.1.0
 * @category models
 */
export interface InstanceView extends ServiceInstance {
  readonly namespace: string
  readonly status: HealthStatus
  /** The last output a health check reported with `setStatus`, if any. */
  readonly output?: string
  readonly registeredAt: number
  readonly lastHeartbeat: number
  readonly leaseExpiresAt: number
}

/**
 * The answer to `register`: where the instance lives and its lease.
 *
 * @since 0.1.0
 * @category models
 */
export interface Registration {
  readonly namespace: string
  readonly instance: ServiceInstance
  /** The lease length; each heartbeat extends the lease to now + `ttlMillis`. */
  readonly ttlMillis: number
  readonly leaseExpiresAt: number
}

/**
 * Options of `register`: the namespace (default: the registry's), the lease TTL (default: the
 * registry's `defaultTtl`), and the health the instance starts with (default `passing`).
 *
 * @since 0.1.0
 * @category options
 */
export const RegisterOptions = schemas.RegisterOptions

/**
 * @since 0.1.0
 * @category options
 */
export type RegisterOptionsInput = typeof RegisterOptions.Encoded

/**
 * Which instances `discover` and `watch` return. Every given criterion must hold: the instance
 * carries all `tags`, every `metadata` entry equals the instance's, `zone` equals. By default only
 * healthy (`passing` or `warning`) instances are returned; `includeUnhealthy` adds `critical` ones.
 *
 * @since 0.1.0
 * @category models
 */
export interface DiscoverFilter {
  readonly namespace?: string
  readonly tags?: ReadonlyArray<string>
  readonly metadata?: Readonly<Record<string, string>>
  readonly zone?: string
  readonly includeUnhealthy?: boolean
}

/**
 * Options of `watch`.
 *
 * @since 0.1.0
 * @category models
 */
export interface WatchOptions {
  readonly namespace?: string
  readonly filter?: Omit<DiscoverFilter, "namespace">
}

/**
 * Options of `heartbeat` and `deregister`.
 *
 * @since 0.1.0
 * @category models
 */
export interface InstanceOptions {
  readonly namespace?: string
}

/**
 * Options of `setStatus`: the namespace and the health check's output.
 *
 * @since 0.1.0
 * @category models
 */
export interface SetStatusOptions {
  readonly namespace?: string
  readonly output?: string
}

interface EventBase {
  readonly name: string
  /** Milliseconds since the epoch, from the registry's clock. */
  readonly timestamp: number
  readonly namespace: string
  readonly service: string
  readonly instanceId: string
}

/**
 * An instance was registered.
 *
 * @since 0.1.0
 * @category events
 */
export interface InstanceRegistered extends EventBase {
  readonly _tag: "InstanceRegistered"
  readonly leaseExpiresAt: number
}

/**
 * An instance was deregistered by hand.
 *
 * @since 0.1.0
 * @category events
 */
export interface InstanceDeregistered extends EventBase {
  readonly _tag: "InstanceDeregistered"
}

/**
 * An instance's lease lapsed and it was evicted.
 *
 * @since 0.1.0
 * @category events
 */
export interface InstanceExpired extends EventBase {
  readonly _tag: "InstanceExpired"
  readonly leaseExpiresAt: number
}

/**
 * An instance's health changed.
 *
 * @since 0.1.0
 * @category events
 */
export interface InstanceStatusChanged extends EventBase {
  readonly _tag: "InstanceStatusChanged"
  readonly from: HealthStatus
  readonly to: HealthStatus
  readonly output?: string
}

/**
 * @since 0.1.0
 * @category events
 */
export type RegistryEvent = InstanceRegistered | InstanceDeregistered | InstanceExpired | InstanceStatusChanged

/**
 * The registry interface, implemented by every backend.
 *
 * @since 0.1.0
 * @category models
 */
export interface Service {
  /** The registry's name (metrics label, events). */
  readonly name: string
  /**
   * Registers an instance under a lease of `ttl`. Fails with `DuplicateInstance` when an instance
   * with the same id is alive in the namespace, `InvalidOptions` when the instance or options do
   * not decode.
   */
  readonly register: (
    instance: ServiceInstanceInput,
    options?: RegisterOptionsInput
  ) => Effect.Effect<Registration, DuplicateInstance | InvalidOptions | DiscoveryBackendError>
  /** Extends the instance's lease to now + its TTL. */
  readonly heartbeat: (
    instanceId: string,
    options?: InstanceOptions
  ) => Effect.Effect<void, InstanceNotFound | DiscoveryBackendError>
  /** Removes the instance now. */
  readonly deregister: (
    instanceId: string,
    options?: InstanceOptions
  ) => Effect.Effect<void, InstanceNotFound | DiscoveryBackendError>
  /** Sets the instance's health (what health checks call). */
  readonly setStatus: (
    instanceId: string,
    status: HealthStatus,
    options?: SetStatusOptions
  ) => Effect.Effect<void, InstanceNotFound | DiscoveryBackendError>
  /**
   * The instances of `service` that match `filter` (healthy only by default). Fails with
   * `ServiceNotFound` when the service has no live instance at all; `[]` when all are filtered out.
   */
  readonly discover: (
    service: string,
    filter?: DiscoverFilter
  ) => Effect.Effect<ReadonlyArray<InstanceView>, ServiceNotFound | DiscoveryBackendError>
  /**
   * The matching instances of `service` (healthy only unless the filter says `includeUnhealthy`,
   * as `discover`), now and after every change that affects them (register,
   * deregister, expiry, status), pushed, never polled. A slow consumer may skip intermediate
   * snapshots but always ends on the latest. A service with no instance yet emits `[]`. The
   * stream completes when the registry's scope closes.
   */
  readonly watch: (
    service: string,
    options?: WatchOptions
  ) => Stream.Stream<ReadonlyArray<InstanceView>, DiscoveryBackendError>
  /** Every registration, deregistration, expiry and status change. */
  readonly events: Stream.Stream<RegistryEvent>
}

/**
 * The memory registry: the `Service`, plus a synchronous lookup for callers that resolve inside
 * plain code (a load balancer's pick, say) and want no Effect operation at all.
 *
 * @since 0.1.0
 * @category models
 */
export interface MemoryService extends Service {
  /**
   * What `discover` returns, synchronously; `undefined` where `discover` fails with
   * `ServiceNotFound`.
   */
  readonly unsafeDiscover: (service: string, filter?: DiscoverFilter) => ReadonlyArray<InstanceView> | undefined
}

/**
 * The service registry service.
 *
 * @since 0.1.0
 * @category models
 */
export class ServiceRegistry extends Context.Tag("@rampart/discovery/ServiceRegistry")<ServiceRegistry, Service>() {}

/**
 * Options of the memory registry.
 *
 * | option | type | default | meaning |
 * | --- | --- | --- | --- |
 * | `name` | string | required | metrics label and event field |
 * | `defaultTtl` | duration | 30 seconds | lease length when `register` gives none |
 * | `sweepInterval` | duration | 1 second | how often lapsed leases are evicted and watchers told |
 * | `defaultNamespace` | string | `"default"` | namespace when a call gives none |
 *
 * @since 0.1.0
 * @category options
 */
export const MemoryRegistryOptions = schemas.ServiceRegistryOptions

/**
 * @since 0.1.0
 * @category options
 */
export type MemoryRegistryOptions = typeof MemoryRegistryOptions.Type

/**
 * What `makeMemory` and `layerMemory` accept: durations as `Duration`, millis or strings.
 *
 * @since 0.1.0
 * @category options
 */
export type MemoryRegistryOptionsInput = typeof MemoryRegistryOptions.Encoded

/**
 * Makes an in-process registry. A scoped fiber sweeps lapsed leases every `sweepInterval` on the
 * `Clock` in context (so `TestClock` drives it); `discover` hides a lapsed instance at once. The
 * unfiltered `discover` returns an array cached per service and rebuilt only on change.
 *
 * @since 0.1.0
 * @category constructors
 * @example
 * import { Effect } from "effect"
 * import { ServiceRegistry } from "@rampart/discovery"
 *
 * const program = Effect.gen(function*() {
 *   const registry = yield* ServiceRegistry.makeMemory({ name: "local", defaultTtl: "10 seconds" })
 *   yield* registry.register({ id: "orders-1", service: "orders", address: "10.0.0.5", port: 8080, zone: "eu-1" })
 *   const instances = yield* registry.discover("orders", { zone: "eu-1" })
 * }).pipe(Effect.scoped)
 */
export const makeMemory: (
  options: MemoryRegistryOptionsInput
) => Effect.Effect<MemoryService, InvalidOptions, Scope.Scope> = internal.makeMemory

/**
 * A layer with one memory registry.
 *
 * @since 0.1.0
 * @category constructors
 */
export const layerMemory = (options: MemoryRegistryOptionsInput): Layer.Layer<ServiceRegistry, InvalidOptions> =>
  Layer.scoped(ServiceRegistry, makeMemory(options))

/**
 * `layerMemory` with its options read from `Config` (e.g. environment variables through the
 * default `ConfigProvider`).
 *
 * @since 0.1.0
 * @category constructors
 * @example
 * import { Config } from "effect"
 * import { ServiceRegistry } from "@rampart/discovery"
 *
 * const RegistryLive = ServiceRegistry.layerMemoryConfig(Config.all({
 *   name: Config.succeed("local"),
 *   defaultTtl: Config.withDefault(Config.string("REGISTRY_TTL"), "30 seconds")
 * }))
 */
export const layerMemoryConfig = (
  config: Config.Config<MemoryRegistryOptionsInput>
): Layer.Layer<ServiceRegistry, InvalidOptions | ConfigError.ConfigError> =>
  Layer.unwrapEffect(Effect.map(config, layerMemory))


// -----------------------------------------------------------------------------
// etcd backend
// -----------------------------------------------------------------------------

/**
 * The etcd registry: the `Service`, plus a synchronous lookup in its local cache.
 *
 * @since 0.1.0
 * @category models
 */
export interface EtcdService extends Service {
  /**
   * What `discover` returns, synchronously, from the local cache; `undefined` where `discover`
   * fails with `ServiceNotFound`.
   */
  readonly unsafeDiscover: (service: string, filter?: DiscoverFilter) => ReadonlyArray<InstanceView> | undefined
}

/**
 * Options of the etcd registry (the connection itself is the `Etcd.Etcd` service).
 *
 * | option | type | default | meaning |
 * | --- | --- | --- | --- |
 * | `name` | string | required | metrics label and event field |
 * | `defaultTtl` | duration | 30 seconds | lease length when `register` gives none; rounded UP to whole seconds, at least 1 s (etcd leases have whole-second TTLs) |
 * | `defaultNamespace` | string without `"/"` | `"default"` | namespace when a call gives none |
 *
 * @since 0.1.0
 * @category options
 */
export const EtcdRegistryOptions = internalEtcd.EtcdRegistryOptions

/**
 * @since 0.1.0
 * @category options
 */
export type EtcdRegistryOptions = typeof EtcdRegistryOptions.Type

/**
 * What `makeEtcd` and `layerEtcd` accept: durations as `Duration`, millis or strings.
 *
 * @since 0.1.0
 * @category options
 */
export type EtcdRegistryOptionsInput = typeof EtcdRegistryOptions.Encoded

/**
 * Makes a registry backed by etcd, on the `Etcd.Etcd` connection in context. Each instance is
 * the key `<prefix>/registry/<namespace>/<instanceId>` (a JSON record) attached to its own etcd
 * lease of `ttl` rounded up to whole seconds; `heartbeat` is one keep-alive on that lease, and
 * etcd deletes the key when the lease lapses. Ids and namespaces must not contain `"/"`.
 *
 * Reads come from a local cache of every instance: loaded with one range read at make time, then
 * kept by one prefix watch that resumes from the last applied revision after a reconnect (no
 * event is missed) and re-reads everything if that revision was compacted. `register`,
 * `deregister` and `setStatus` return once the cache has applied their write (read your own
 * writes), waiting at most the connection's `requestTimeout`. Events are published by the cache,
 * so every client sees every change. Closing the scope stops the watch but does NOT deregister
 * the instances registered through this registry: their leases lapse after their TTL unless
 * someone keeps them alive.
 *
 * Fails with `InvalidOptions` on bad options and `DiscoveryBackendError` when etcd cannot be read
 * or watched within the request timeout.
 *
 * @since 0.1.0
 * @category constructors
 * @example
 * import { Effect } from "effect"
 * import { Etcd, ServiceRegistry } from "@rampart/discovery"
 *
 * const program = Effect.gen(function*() {
 *   const registry = yield* ServiceRegistry.makeEtcd({ name: "orders-registry", defaultTtl: "10 seconds" })
 *   yield* registry.register({ id: "orders-1", service: "orders", address: "10.0.0.5", port: 8080 })
 *   yield* registry.heartbeat("orders-1")
 *   const instances = yield* registry.discover("orders")
 * }).pipe(Effect.scoped, Effect.provide(Etcd.layer({ hosts: "http://127.0.0.1:2379" })))
 */
export const makeEtcd: (
  options: EtcdRegistryOptionsInput
) => Effect.Effect<EtcdService, InvalidOptions | DiscoveryBackendError, Scope.Scope | Etcd.Etcd> =
  internalEtcd.makeEtcd

/**
 * A layer with one etcd registry, on the `Etcd.Etcd` connection in context.
 *
 * @since 0.1.0
 * @category constructors
 */
export const layerEtcd = (
  options: EtcdRegistryOptionsInput
): Layer.Layer<ServiceRegistry, InvalidOptions | DiscoveryBackendError, Etcd.Etcd> =>
  Layer.scoped(ServiceRegistry, makeEtcd(options))
