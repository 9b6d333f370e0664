import { makeEventHub } from "@rampart/core/EventHub"
import { makeInstanceMetrics } from "@rampart/core/InstanceMetrics"
import { decodeOptions } from "@rampart/core/Options"
import { makeTimers } from "@rampart/core/Timers"
import { Duration, Effect, type Scope } from "effect"
import { DuplicateInstance, InstanceNotFound, type InvalidOptions, ServiceNotFound } from "../Errors.js"
import type * as api from "../ServiceRegistry.js"
import * as schemas from "./serviceRegistrySchemas.js"
import { makeIndexTable, type ServiceIndex } from "./serviceRegistryIndex.js"
import { isHealthyOnly, toView } from "./serviceRegistryView.js"

/** One live instance: its latest immutable view plus its lease length. */
interface Entry {
  view: api.InstanceView
  readonly ttlMillis: number
  readonly index: ServiceIndex<Entry>
}

const decodeRegistryOptions = decodeOptions("ServiceRegistry", schemas.ServiceRegistryOptions)
const decodeInstance = decodeOptions("ServiceInstance", schemas.ServiceInstance)
const decodeRegisterOptions = decodeOptions("ServiceRegistry.register", schemas.RegisterOptions)

/** @internal */
export const makeMemory = (
  input: api.MemoryRegistryOptionsInput
): Effect.Effect<api.MemoryService, InvalidOptions, Scope.Scope> =>
  Effect.gen(function*() {
    const options = yield* decodeRegistryOptions(input)
    const name = options.name
    const defaultTtlMillis = Duration.toMillis(options.defaultTtl)
    const defaultNamespace = options.defaultNamespace
    const timers = yield* makeTimers
    const hub = yield* makeEventHub<api.RegistryEvent>()
    const metrics = makeInstanceMetrics(name)
    const registrations = metrics.counter("rampart_registry_registrations_total", "instances registered")
    const deregistrations = metrics.counter("rampart_registry_deregistrations_total", "instances deregistered")
    const expirations = metrics.counter("rampart_registry_expired_total", "instances evicted on lease expiry")

    const table = makeIndexTable<Entry>({ labels: metrics.labels, trackExpiry: true })
    const { changed, indexOf, rebuild, select, services } = table
    /** namespace -> instance id -> entry (ids are unique per namespace) */
    const instances = new Map<string, Map<string, Entry>>()

    const instancesOf = (namespace: string): Map<string, Entry> => {
      let byId = instances.get(namespace)
      if (byId === undefined) {
        byId = new Map()
        instances.set(namespace, byId)
      }
      return byId
    }

    const remove = (entry: Entry): void => {
      const view = entry.view
      entry.index.entries.delete(view.id)
      const byId = instances.get(view.namespace)
      if (byId !== undefined && byId.get(view.id) === entry) {
        byId.delete(view.id)
        if (byId.size === 0) instances.delete(view.namespace)
      }
    }

    /** Evicts the lapsed instances of one service; true when any was. */
    const expireDue = (index: ServiceIndex<Entry>, now: number): boolean => {
      if (now < index.nextExpiry) return false
      let expired = 0
      for (const entry of index.entries.values()) {
        if (now >= entry.view.leaseExpiresAt) {
          remove(entry)
          expired++
          hub.publish({
            _tag: "InstanceExpired",
            name,
            timestamp: now,
            namespace: index.namespace,
            service: index.service,
            instanceId: entry.view.id,
            leaseExpiresAt: entry.view.leaseExpiresAt
          })
        }
      }
      if (expired > 0) {
        expirations(expired)
        changed(index)
        return true
      }
      rebuild(index)
      return false
    }

    const sweep = (): void => {
      const now = timers.now()
      for (const byService of services.values()) {
        for (const index of byService.values()) expireDue(index, now)
      }
    }

    /** The live entry with this id, evicting it first if its lease lapsed. */
    const liveEntry = (namespace: string, instanceId: string, now: number): Entry | undefined => {
      const entry = instances.get(namespace)?.get(instanceId)
      if (entry === undefined) return undefined
      if (now >= entry.view.leaseExpiresAt) {
        expireDue(entry.index, now)
        return undefined
      }
      return entry
    }

    const register = (
      instanceInput: api.ServiceInstanceInput,
      registerInput?: api.RegisterOptionsInput
    ): Effect.Effect<api.Registration, DuplicateInstance | InvalidOptions> =>
      Effect.flatMap(
        Effect.zip(decodeInstance(instanceInput), decodeRegisterOptions(registerInput ?? {})),
        ([decoded, registerOptions]) =>
          Effect.suspend(() => {
            // Copied and frozen: views share these with the caller's `Registration`.
            const instance: api.ServiceInstance = Object.freeze({
              ...decoded,
              tags: Object.freeze([...decoded.tags]),
              metadata: Object.freeze({ ...decoded.metadata })
            })
            const namespace = registerOptions.namespace ?? defaultNamespace
            const ttlMillis = registerOptions.ttl === undefined
              ? defaultTtlMillis
              : Duration.toMillis(registerOptions.ttl)
            const now = timers.now()
            if (liveEntry(namespace, instance.id, now) !== undefined) {
              return Effect.fail(
                new DuplicateInstance({ namespace, service: instance.service, instanceId: instance.id })
              )
            }
            const index = indexOf(namespace, instance.service)
            const leaseExpiresAt = now + ttlMillis
            const view = toView(instance, {
              namespace,
              status: registerOptions.initialStatus ?? "passing",
              output: undefined,
              registeredAt: now,
              lastHeartbeat: now,
              leaseExpiresAt
            })
            const entry: Entry = { view, ttlMillis, index }
            index.entries.set(instance.id, entry)
            // Kept a lower bound of the earliest expiry without a rebuild (removals only raise it).
            if (leaseExpiresAt < index.nextExpiry) index.nextExpiry = leaseExpiresAt
            instancesOf(namespace).set(instance.id, entry)
            registrations(1)
            hub.publish({
              _tag: "InstanceRegistered",
              name,
              timestamp: now,
              namespace,
              service: instance.service,
              instanceId: instance.id,
              leaseExpiresAt
            })
            changed(index)
            return Effect.succeed({ namespace, instance, ttlMillis, leaseExpiresAt })
          })
      )

    const notFound = (namespace: string, instanceId: string) =>
      Effect.fail(new InstanceNotFound({ namespace, instanceId }))

    const heartbeat = (instanceId: string, instanceOptions?: api.InstanceOptions) =>
      Effect.suspend(() => {
        const namespace = instanceOptions?.namespace ?? defaultNamespace
        const now = timers.now()
        const entry = liveEntry(namespace, instanceId, now)
        if (entry === undefined) return notFound(namespace, instanceId)
        entry.view = Object.freeze({ ...entry.view, lastHeartbeat: now, leaseExpiresAt: now + entry.ttlMillis })
        // Nothing a watcher filters on changed: refresh the cached arrays lazily, push nothing.
        entry.index.dirty = true
        return Effect.void
      })

    const deregister = (instanceId: string, instanceOptions?: api.InstanceOptions) =>
      Effect.suspend(() => {
        const namespace = instanceOptions?.namespace ?? defaultNamespace
        const now = timers.now()
        const entry = liveEntry(namespace, instanceId, now)
        if (entry === undefined) return notFound(namespace, instanceId)
        remove(entry)
        deregistrations(1)
        hub.publish({
          _tag: "InstanceDeregistered",
          name,
          timestamp: now,
          namespace,
          service: entry.view.service,
          instanceId
        })
        changed(entry.index)
        return Effect.void
      })

    const setStatus = (instanceId: string, status: api.HealthStatus, statusOptions?: api.SetStatusOptions) =>
      Effect.suspend(() => {
        const namespace = statusOptions?.namespace ?? defaultNamespace
        const now = timers.now()
        const entry = liveEntry(namespace, instanceId, now)
        if (entry === undefined) return notFound(namespace, instanceId)
        const previous = entry.view
        const output = statusOptions?.output
        if (previous.status === status && previous.output === output) return Effect.void
        const { output: _previousOutput, ...rest } = previous
        entry.view = Object.freeze(output === undefined ? { ...rest, status } : { ...rest, status, output })
        if (previous.status !== status) {
          hub.publish({
            _tag: "InstanceStatusChanged",
            name,
            timestamp: now,
            namespace,
            service: previous.service,
            instanceId,
            from: previous.status,
            to: status,
            ...(output === undefined ? {} : { output })
          })
        }
        changed(entry.index)
        return Effect.void
      })

    /** The matching views, or undefined when the service has no live instance. */
    const unsafeDiscover = (
      service: string,
      filter?: api.DiscoverFilter
    ): ReadonlyArray<api.InstanceView> | undefined => {
      const index = services.get(filter?.namespace ?? defaultNamespace)?.get(service)
      if (index === undefined) return undefined
      // A lapsed lease hides the instance at once; the sweep only exists to tell watchers sooner.
      if (index.nextExpiry !== Number.POSITIVE_INFINITY) {
        const now = timers.now()
        if (now >= index.nextExpiry) expireDue(index, now)
      }
      if (index.entries.size === 0) return undefined
      return select(index, filter)
    }

    const discover = (service: string, filter?: api.DiscoverFilter) =>
      Effect.suspend(() => {
        const namespace = filter?.namespace ?? defaultNamespace
        const index = services.get(namespace)?.get(service)
        if (index === undefined) return Effect.fail(new ServiceNotFound({ namespace, service }))
        if (index.nextExpiry !== Number.POSITIVE_INFINITY) {
          const now = timers.now()
          if (now >= index.nextExpiry) expireDue(index, now)
        }
        if (index.entries.size === 0) return Effect.fail(new ServiceNotFound({ namespace, service }))
        if (filter === undefined || isHealthyOnly(filter)) {
          // The common lookup: an Effect made once per change, so this call allocates nothing.
          if (index.dirty) rebuild(index)
          return index.healthyEffect
        }
        return Effect.succeed(select(index, filter))
      })

    /** Evicts lapsed leases before the first snapshot, so a new watcher never sees them. */
    const expireBeforeFirst = (index: ServiceIndex<Entry>): void => {
      expireDue(index, timers.now())
    }

    const watch = (service: string, watchOptions?: api.WatchOptions) =>
      table.watch(watchOptions?.namespace ?? defaultNamespace, service, watchOptions?.filter, expireBeforeFirst)

    // Watch streams end with the registry.
    yield* Effect.addFinalizer(() => Effect.sync(table.close))

    yield* Effect.sleep(options.sweepInterval).pipe(
      Effect.zipRight(Effect.sync(sweep)),
      Effect.forever,
      Effect.interruptible,
      Effect.forkScoped
    )

    const registry: api.MemoryService = {
      name,
      unsafeDiscover,
      register,
      heartbeat,
      deregister,
      setStatus,
      discover,
      watch,
      events: hub.stream
    }
    return registry
  })
