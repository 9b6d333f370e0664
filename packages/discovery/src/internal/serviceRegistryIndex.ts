/**
 * The per-service index both registries (memory and the etcd cache) answer `discover`,
 * `unsafeDiscover` and `watch` from: namespace -> service -> instances, with the arrays `discover`
 * returns cached and rebuilt only after a change, and the watchers told of each change.
 */
import { Deferred, Effect, Exit, FiberId, Metric, MetricLabel, Stream } from "effect"
import type * as api from "../ServiceRegistry.js"
import { matches } from "./serviceRegistryView.js"
import { makeWatcher, push, take, type Watcher } from "./serviceRegistryWatch.js"

/** What the index needs of a backend's entry. @internal */
export interface IndexedEntry {
  readonly view: api.InstanceView
}

/**
 * The instances of one service in one namespace, with the arrays `discover` returns cached and
 * rebuilt only when something changed (`dirty`), so the unfiltered lookup is a map hit.
 *
 * @internal
 */
export interface ServiceIndex<E extends IndexedEntry> {
  readonly namespace: string
  readonly service: string
  readonly entries: Map<string, E>
  readonly watchers: Set<Watcher>
  readonly gaugeLabels: ReadonlyArray<MetricLabel.MetricLabel>
  dirty: boolean
  all: ReadonlyArray<api.InstanceView>
  healthy: ReadonlyArray<api.InstanceView>
  healthyEffect: Effect.Effect<ReadonlyArray<api.InstanceView>>
  /**
   * A lower bound of the earliest lease expiry (heartbeats only move expiries later), kept only
   * when the table tracks expiry (the memory registry); +Infinity otherwise.
   */
  nextExpiry: number
}

/** @internal */
export interface IndexTable<E extends IndexedEntry> {
  /** namespace -> service -> index */
  readonly services: Map<string, Map<string, ServiceIndex<E>>>
  /** The index of a service, made (empty) when missing. */
  readonly indexOf: (namespace: string, service: string) => ServiceIndex<E>
  /** Refreshes the cached arrays (and `nextExpiry` when tracked) from the entries. */
  readonly rebuild: (index: ServiceIndex<E>) => void
  readonly select: (
    index: ServiceIndex<E>,
    filter: api.DiscoverFilter | undefined
  ) => ReadonlyArray<api.InstanceView>
  /** Something visible changed: update the gauge, push to watchers whose view changed. */
  readonly changed: (index: ServiceIndex<E>) => void
  /** Forgets a service nobody registers or watches, so churning service names do not pile up. */
  readonly dropIfUnused: (index: ServiceIndex<E>) => void
  /**
   * The snapshots of one service for one subscriber; `prepare` runs once the watcher is
   * attached, before the first snapshot is offered. The stream ends when the table is closed.
   */
  readonly watch: (
    namespace: string,
    service: string,
    filter: api.DiscoverFilter | undefined,
    prepare?: (index: ServiceIndex<E>) => void
  ) => Stream.Stream<ReadonlyArray<api.InstanceView>>
  /** Ends every watch stream, current and future (the registry's scope closed). */
  readonly close: () => void
}

const emptyViews: ReadonlyArray<api.InstanceView> = []
const emptyEffect = Effect.succeed(emptyViews)

const instancesGauge = Metric.gauge("rampart_registry_instances", {
  description: "live instances per namespace and service"
})

/** @internal */
export const makeIndexTable = <E extends IndexedEntry>(options: {
  /** The registry's metric labels; each index adds `namespace` and `service`. */
  readonly labels: ReadonlyArray<MetricLabel.MetricLabel>
  /** Whether `rebuild` keeps `nextExpiry` (the memory registry evicts lapsed leases itself). */
  readonly trackExpiry: boolean
}): IndexTable<E> => {
  const { labels, trackExpiry } = options
  const services = new Map<string, Map<string, ServiceIndex<E>>>()
  // Completed once, by `close`; every watch stream ends with it.
  const closed = Deferred.unsafeMake<void>(FiberId.none)

  const indexOf = (namespace: string, service: string): ServiceIndex<E> => {
    let byService = services.get(namespace)
    if (byService === undefined) {
      byService = new Map()
      services.set(namespace, byService)
    }
    let index = byService.get(service)
    if (index === undefined) {
      index = {
        namespace,
        service,
        entries: new Map(),
        watchers: new Set(),
        gaugeLabels: [...labels, MetricLabel.make("namespace", namespace), MetricLabel.make("service", service)],
        dirty: false,
        all: emptyViews,
        healthy: emptyViews,
        healthyEffect: emptyEffect,
        nextExpiry: Number.POSITIVE_INFINITY
      }
      byService.set(service, index)
    }
    return index
  }

  const rebuild = (index: ServiceIndex<E>): void => {
    const all: Array<api.InstanceView> = []
    const healthy: Array<api.InstanceView> = []
    let nextExpiry = Number.POSITIVE_INFINITY
    for (const entry of index.entries.values()) {
      const view = entry.view
      all.push(view)
      if (view.status !== "critical") healthy.push(view)
      if (trackExpiry && view.leaseExpiresAt < nextExpiry) nextExpiry = view.leaseExpiresAt
    }
    // Handed to every caller until the next change (typed readonly; not frozen: V8 reads and
    // filters frozen arrays several times slower).
    index.all = all
    index.healthy = healthy
    index.healthyEffect = Effect.succeed(healthy)
    index.nextExpiry = nextExpiry
    index.dirty = false
  }

  const select = (
    index: ServiceIndex<E>,
    filter: api.DiscoverFilter | undefined
  ): ReadonlyArray<api.InstanceView> => {
    if (index.dirty) rebuild(index)
    if (filter === undefined) return index.healthy
    const base = filter.includeUnhealthy === true ? index.all : index.healthy
    if (filter.tags === undefined && filter.metadata === undefined && filter.zone === undefined) return base
    const matching: Array<api.InstanceView> = []
    for (let i = 0; i < base.length; i++) {
      const view = base[i]!
      if (matches(view, filter)) matching.push(view)
    }
    return matching
  }

  const offer = (index: ServiceIndex<E>, watcher: Watcher): void => push(watcher, select(index, watcher.filter))

  const dropIfUnused = (index: ServiceIndex<E>): void => {
    if (index.entries.size > 0 || index.watchers.size > 0) return
    const byService = services.get(index.namespace)
    if (byService?.get(index.service) !== index) return
    byService.delete(index.service)
    if (byService.size === 0) services.delete(index.namespace)
  }

  const changed = (index: ServiceIndex<E>): void => {
    instancesGauge.unsafeUpdate(index.entries.size, index.gaugeLabels)
    if (index.watchers.size > 0) {
      rebuild(index)
      for (const watcher of index.watchers) offer(index, watcher)
    } else {
      // Nobody to push to: rebuild on the next lookup, so registering n instances is O(n), not O(n²).
      index.dirty = true
    }
    dropIfUnused(index)
  }

  const watch = (
    namespace: string,
    service: string,
    filter: api.DiscoverFilter | undefined,
    prepare?: (index: ServiceIndex<E>) => void
  ): Stream.Stream<ReadonlyArray<api.InstanceView>> =>
    Stream.unwrapScoped(
      Effect.map(
        Effect.acquireRelease(
          Effect.sync(() => {
            const index = indexOf(namespace, service)
            const watcher = makeWatcher(filter)
            // Added before `prepare`, so the index is not dropped as unused meanwhile.
            index.watchers.add(watcher)
            prepare?.(index)
            // The first snapshot (a no-op when `prepare` just offered it).
            offer(index, watcher)
            return { index, watcher }
          }),
          ({ index, watcher }) =>
            Effect.sync(() => {
              index.watchers.delete(watcher)
              dropIfUnused(index)
            })
        ),
        ({ watcher }) => Stream.repeatEffect(take(watcher)).pipe(Stream.interruptWhenDeferred(closed))
      )
    )

  const close = (): void => {
    Deferred.unsafeDone(closed, Exit.void)
  }

  return { services, indexOf, rebuild, select, changed, dropIfUnused, watch, close }
}
