/**
 * The etcd registry: instances are keys attached to etcd leases; a local cache (one range read,
 * then one prefix watch resumed from the last applied revision) answers `discover`, `watch` and
 * `unsafeDiscover` and publishes the events.
 */
import { makeEventHub } from "@rampart/core/EventHub"
import { makeInstanceMetrics } from "@rampart/core/InstanceMetrics"
import { decodeOptions, InvalidOptions, Name, PositiveDuration } from "@rampart/core/Options"
import { makeTimers } from "@rampart/core/Timers"
import { Duration, Effect, Queue, Schedule, Schema, type Scope } from "effect"
import type { Etcd3, IKeyValue, ITxnResponse, IWatchResponse, Watcher as EtcdWatcher } from "etcd3"
import { Etcd } from "../Etcd.js"
import { DiscoveryBackendError, DuplicateInstance, InstanceNotFound, ServiceNotFound } from "../Errors.js"
import type * as api from "../ServiceRegistry.js"
import { type Current, makeCache } from "./serviceRegistryEtcdCache.js"
import {
  decodeRecord,
  encodeRecord,
  type InstanceRecord,
  isSegment,
  makeKeys
} from "./serviceRegistryEtcdRecord.js"
import * as schemas from "./serviceRegistrySchemas.js"
import { isHealthyOnly } from "./serviceRegistryView.js"

const Segment = Name.pipe(
  Schema.filter((name) => !name.includes("/") || "Expected a name without \"/\" (the etcd registry uses it in a key)")
)

/** @internal */
export const EtcdRegistryOptions = Schema.Struct({
  name: Name,
  defaultTtl: Schema.optionalWith(PositiveDuration, { default: () => Duration.seconds(30) }),
  defaultNamespace: Schema.optionalWith(Segment, { default: () => "default" })
})

const decodeRegistryOptions = decodeOptions("ServiceRegistry", EtcdRegistryOptions)
const decodeInstance = decodeOptions("ServiceInstance", schemas.ServiceInstance)
const decodeRegisterOptions = decodeOptions("ServiceRegistry.register", schemas.RegisterOptions)

/** etcd leases have whole-second TTLs: a TTL is rounded up to whole seconds, at least one. @internal */
export const leaseMillis = (ttl: Duration.Duration): number =>
  Math.max(1, Math.ceil(Duration.toMillis(ttl) / 1000)) * 1000

/** Keys per page of a full read. */
const pageSize = 1000
/**
 * How many times `setStatus` retries after a concurrent change of the same key. Each conflict means
 * another write succeeded, so n concurrent writers need at most n - 1 retries.
 */
const setStatusRetries = 16

const slashIssue = (field: string, value: string) =>
  `${field}: Expected a name without "/" (the etcd registry uses it in a key), actual ${JSON.stringify(value)}`

/** Whether a failed request was etcd saying the lease does not exist (it lapsed or was revoked). */
const isLeaseNotFound = (error: DiscoveryBackendError): boolean =>
  error.cause instanceof Error &&
  (error.cause.name === "EtcdLeaseInvalidError" || error.cause.message.includes("requested lease not found"))

/** One keep-alive on a lease: resolves with the TTL etcd grants ("0" when the lease is gone). */
const keepAliveOnce = (
  client: Etcd3,
  lease: string,
  timeoutMillis: number,
  schedule: (millis: number, task: () => void) => () => void
): Promise<string> =>
  client.leaseClient.leaseKeepAlive().then((stream) =>
    new Promise<string>((resolve, reject) => {
      let settled = false
      const finish = (ok: boolean, settle: () => void) => {
        if (settled) return
        settled = true
        cancelTimer()
        if (ok) stream.end()
        else stream.cancel()
        settle()
      }
      const cancelTimer = schedule(
        timeoutMillis,
        () => finish(false, () => reject(new Error(`no keep-alive answer within ${timeoutMillis} ms`)))
      )
      stream.on("data", (response) => finish(true, () => resolve(String(response.TTL))))
      stream.on("error", (error) => finish(false, () => reject(error)))
      stream.write({ ID: lease })
    })
  )

interface Waiter {
  readonly revision: number
  readonly done: () => void
}

/** @internal */
export const makeEtcd = (
  input: typeof EtcdRegistryOptions.Encoded
): Effect.Effect<api.EtcdService, InvalidOptions | DiscoveryBackendError, Scope.Scope | Etcd> =>
  Effect.gen(function*() {
    const options = yield* decodeRegistryOptions(input)
    const connection = yield* Etcd
    const { client, request } = connection
    const name = options.name
    const defaultNamespace = options.defaultNamespace
    const defaultTtlMillis = leaseMillis(options.defaultTtl)
    const requestTimeout = connection.options.requestTimeout
    const requestTimeoutMillis = Duration.toMillis(requestTimeout)
    const keys = makeKeys(connection.prefix)
    const timers = yield* makeTimers
    const scope = yield* Effect.scope
    const hub = yield* makeEventHub<api.RegistryEvent>()
    const metrics = makeInstanceMetrics(name)
    const cache = makeCache({
      name,
      keys,
      timers,
      hub,
      labels: metrics.labels,
      counters: {
        registrations: metrics.counter("rampart_registry_registrations_total", "instances registered"),
        deregistrations: metrics.counter("rampart_registry_deregistrations_total", "instances deregistered"),
        expirations: metrics.counter("rampart_registry_expired_total", "instances evicted on lease expiry")
      }
    })
    const reconnects = metrics.counter(
      "rampart_registry_etcd_watch_reconnects_total",
      "times the registry's etcd watch reconnected and resumed from its last revision"
    )
    const resyncs = metrics.counter(
      "rampart_registry_etcd_resyncs_total",
      "full re-reads of the registry after the etcd watch was cancelled (e.g. its revision was compacted)"
    )
    const revisionGauge = metrics.gauge(
      "rampart_registry_etcd_revision",
      "the last etcd revision applied to the registry's local cache"
    )

    const state = {
      /** Every change up to this revision is in the cache. */
      applied: 0,
      closed: false,
      watcher: undefined as EtcdWatcher | undefined,
      disconnected: false
    }
    const waiters = new Set<Waiter>()
    const resyncSignal = yield* Queue.sliding<void>(1)

    const advance = (revision: number): void => {
      if (revision <= state.applied) return
      state.applied = revision
      revisionGauge(revision)
      if (waiters.size === 0) return
      for (const waiter of waiters) {
        if (waiter.revision <= revision) waiter.done()
      }
    }

    /**
     * Read your own writes: waits until the cache has applied `revision` (the write's). Gives up
     * after the request timeout without failing: the write is durable, only the cache is behind
     * (its watch is down); it catches up when the watch resumes.
     */
    const awaitApplied = (revision: number): Effect.Effect<void> =>
      Effect.suspend(() =>
        revision <= state.applied || state.closed ? Effect.void : Effect.async<void>((resume) => {
          let settled = false
          const done = () => {
            if (settled) return
            settled = true
            waiters.delete(waiter)
            cancelTimer()
            resume(Effect.void)
          }
          const waiter: Waiter = { revision, done }
          waiters.add(waiter)
          const cancelTimer = timers.schedule(requestTimeoutMillis, done)
          return Effect.sync(() => {
            settled = true
            waiters.delete(waiter)
            cancelTimer()
          })
        })
      )

    /** Every key under the registry root, read page by page at one revision. */
    const readAll = (operation: string) =>
      Effect.gen(function*() {
        const kvs: Array<IKeyValue> = []
        let revision: string | undefined
        let start: Buffer = Buffer.from(keys.root)
        for (;;) {
          const from = start
          const at = revision
          const page = yield* request(operation, (etcd) => {
            const range = etcd.getAll().inRange({ start: from, end: keys.rootEnd }).limit(pageSize)
            return (at === undefined ? range : range.revision(at)).exec()
          })
          revision ??= String(page.header.revision)
          for (const kv of page.kvs) kvs.push(kv)
          const last = page.kvs.at(-1)
          if (!page.more || last === undefined) break
          start = Buffer.concat([last.key, Buffer.from([0])])
        }
        return { kvs, revision: Number(revision) }
      })

    const onData = (watcher: EtcdWatcher, response: IWatchResponse): void => {
      if (watcher !== state.watcher) return
      const events = response.events
      let revision = Number(response.header.revision)
      if (events.length > 0) {
        // A catch-up response may carry a header revision beyond its events: trust the events.
        revision = Number(events[events.length - 1]!.kv.mod_revision)
        const applied = state.applied
        cache.applyEvents(
          Number(events[0]!.kv.mod_revision) > applied
            ? events
            : events.filter((event) => Number(event.kv.mod_revision) > applied)
        )
      }
      advance(revision)
      // Where etcd3 resumes after a reconnect: right after what the cache has applied.
      watcher.request.start_revision = String(state.applied + 1)
    }

    const onConnected = (watcher: EtcdWatcher): void => {
      if (watcher !== state.watcher) return
      // etcd3 sets the resume point to the server's current revision on (re)connect, before the
      // replayed events arrive; a second cut then would skip them. Resume from the cache instead.
      watcher.request.start_revision = String(state.applied + 1)
      if (state.disconnected) {
        state.disconnected = false
        reconnects(1)
      }
    }

    const onDisconnected = (watcher: EtcdWatcher): void => {
      if (watcher === state.watcher) state.disconnected = true
    }

    /** The watch was cancelled by etcd (e.g. its start revision was compacted): re-read everything. */
    const onWatchError = (watcher: EtcdWatcher): void => {
      if (watcher !== state.watcher) return
      state.watcher = undefined
      state.disconnected = false
      resyncSignal.unsafeOffer(undefined)
    }

    const startWatch = (fromRevision: number): EtcdWatcher => {
      const watcher = client.watch().prefix(keys.root).startRevision(String(fromRevision)).watcher()
      state.watcher = watcher
      watcher.on("data", (response) => onData(watcher, response))
      watcher.on("connected", () => onConnected(watcher))
      watcher.on("disconnected", () => onDisconnected(watcher))
      watcher.on("error", () => onWatchError(watcher))
      return watcher
    }

    const stopWatch = Effect.suspend(() => {
      const watcher = state.watcher
      state.watcher = undefined
      if (watcher === undefined) return Effect.void
      return Effect.tryPromise(() => watcher.cancel()).pipe(
        Effect.timeout(requestTimeout),
        Effect.ignore
      )
    })

    const resync = Effect.gen(function*() {
      const { kvs, revision } = yield* readAll("watch resync")
      if (state.closed) return
      cache.replaceAll(kvs, true)
      advance(revision)
      resyncs(1)
      startWatch(revision + 1)
    })

    // The initial load: the cache at revision R, then the watch from R + 1.
    const initial = yield* readAll("load")
    cache.replaceAll(initial.kvs, false)
    advance(initial.revision)
    yield* Effect.addFinalizer(() =>
      Effect.suspend(() => {
        state.closed = true
        for (const waiter of waiters) waiter.done()
        // Watch streams end with the registry.
        cache.close()
        return stopWatch
      })
    )
    const first = startWatch(initial.revision + 1)
    yield* Effect.async<void>((resume) => {
      // Already accepted (an id) or already cancelled (dropped by onWatchError) before we listen.
      if (first.id !== null || state.watcher !== first) {
        resume(Effect.void)
        return
      }
      const done = () => {
        first.off("connected", done)
        first.off("error", done)
        resume(Effect.void)
      }
      first.on("connected", done)
      first.on("error", done)
      return Effect.sync(() => {
        first.off("connected", done)
        first.off("error", done)
      })
    }).pipe(
      Effect.timeoutFail({
        duration: requestTimeout,
        onTimeout: () =>
          new DiscoveryBackendError({
            backend: "etcd",
            operation: "watch",
            reason: `the watch did not start within ${Duration.format(requestTimeout)}`
          })
      })
    )

    yield* Queue.take(resyncSignal).pipe(
      Effect.zipRight(
        Effect.retry(
          resync,
          Schedule.exponential(Duration.millis(100)).pipe(Schedule.union(Schedule.spaced(Duration.seconds(5))))
        )
      ),
      Effect.forever,
      Effect.interruptible,
      Effect.forkScoped
    )

    const notFound = (namespace: string, instanceId: string) =>
      Effect.fail(new InstanceNotFound({ namespace, instanceId }))

    const revoke = (lease: string) =>
      request("revoke", (etcd) => etcd.leaseClient.leaseRevoke({ ID: lease })).pipe(Effect.ignore)

    const readKey = (operation: string, key: string) =>
      Effect.map(request(operation, (etcd) => etcd.get(key).exec()), (response) => response.kvs[0])

    /** The key-value an `else(get(key))` branch of a failed transaction read. */
    const elseValue = (txn: ITxnResponse): IKeyValue | undefined => txn.responses[0]?.response_range?.kvs[0]

    const register = (
      instanceInput: api.ServiceInstanceInput,
      registerInput?: api.RegisterOptionsInput
    ): Effect.Effect<api.Registration, DuplicateInstance | InvalidOptions | DiscoveryBackendError> =>
      Effect.flatMap(
        Effect.zip(decodeInstance(instanceInput), decodeRegisterOptions(registerInput ?? {})),
        ([decoded, registerOptions]): Effect.Effect<
          api.Registration,
          DuplicateInstance | InvalidOptions | DiscoveryBackendError
        > => {
          const namespace = registerOptions.namespace ?? defaultNamespace
          if (!isSegment(decoded.id)) {
            return Effect.fail(new InvalidOptions({ module: "ServiceInstance", issues: [slashIssue("id", decoded.id)] }))
          }
          if (!isSegment(namespace)) {
            return Effect.fail(
              new InvalidOptions({ module: "ServiceRegistry.register", issues: [slashIssue("namespace", namespace)] })
            )
          }
          const instance: api.ServiceInstance = Object.freeze({
            ...decoded,
            tags: Object.freeze([...decoded.tags]),
            metadata: Object.freeze({ ...decoded.metadata })
          })
          const ttlMillis = registerOptions.ttl === undefined ? defaultTtlMillis : leaseMillis(registerOptions.ttl)
          const status = registerOptions.initialStatus ?? "passing"
          const key = keys.instance(namespace, instance.id)
          return Effect.suspend(() => {
            const now = timers.now()
            return Effect.flatMap(
              request("register", (etcd) => etcd.leaseClient.leaseGrant({ TTL: ttlMillis / 1000 })),
              (grant) => {
                const lease = String(grant.ID)
                const record: InstanceRecord = { instance: decoded, status, registeredAt: now, ttlMillis, lease }
                const value = encodeRecord(record)
                return request(
                  "register",
                  (etcd) =>
                    etcd.if(key, "Create", "==", 0).then(etcd.put(key).value(value).lease(lease)).else(etcd.get(key))
                      .commit()
                ).pipe(
                  // The write may or may not have happened: revoking the lease undoes it either way.
                  Effect.onError(() => Effect.forkIn(revoke(lease), scope)),
                  Effect.flatMap((txn) => {
                    // etcd3 re-sends a request whose connection failed: when the first attempt
                    // committed but its answer was lost, the re-sent transaction finds the key
                    // already there, attached to our own fresh lease. That is our registration.
                    if (!txn.succeeded && elseValue(txn)?.lease !== lease) {
                      return Effect.zipRight(
                        Effect.forkIn(revoke(lease), scope),
                        Effect.fail(new DuplicateInstance({ namespace, service: instance.service, instanceId: instance.id }))
                      )
                    }
                    const registration: api.Registration = {
                      namespace,
                      instance,
                      ttlMillis,
                      leaseExpiresAt: now + ttlMillis
                    }
                    return Effect.as(awaitApplied(Number(txn.header.revision)), registration)
                  })
                )
              }
            )
          })
        }
      )

    const currentOf = (kv: IKeyValue | undefined): Current | undefined => {
      if (kv === undefined || String(kv.lease) === "0") return undefined
      const record = decodeRecord(kv.value)
      if (record === undefined) return undefined
      return {
        lease: String(kv.lease),
        createRevision: Number(kv.create_revision),
        modRevision: Number(kv.mod_revision),
        record
      }
    }

    const lookupCurrent = (
      operation: string,
      namespace: string,
      instanceId: string
    ): Effect.Effect<Current | undefined, DiscoveryBackendError> => {
      const entry = cache.lookup(namespace, instanceId)
      if (entry !== undefined) return Effect.succeed(entry.current)
      return Effect.map(readKey(operation, keys.instance(namespace, instanceId)), currentOf)
    }

    const keepAlive = (lease: string) =>
      request("heartbeat", (etcd) => keepAliveOnce(etcd, lease, requestTimeoutMillis, timers.schedule))

    const heartbeat = (
      instanceId: string,
      instanceOptions?: api.InstanceOptions
    ): Effect.Effect<void, InstanceNotFound | DiscoveryBackendError> =>
      Effect.suspend(() => {
        const namespace = instanceOptions?.namespace ?? defaultNamespace
        if (!isSegment(namespace) || !isSegment(instanceId)) return notFound(namespace, instanceId)
        const beaten = (lease: string) => {
          const entry = cache.lookup(namespace, instanceId)
          if (entry !== undefined && entry.current.lease === lease) cache.noteHeartbeat(entry, timers.now())
          return Effect.void
        }
        return Effect.flatMap(lookupCurrent("heartbeat", namespace, instanceId), (current) => {
          if (current === undefined) return notFound(namespace, instanceId)
          return Effect.flatMap(keepAlive(current.lease), (ttl) => {
            if (ttl !== "0") return beaten(current.lease)
            // The lease is gone; the cache may be behind a re-registration under a new lease.
            return Effect.flatMap(readKey("heartbeat", keys.instance(namespace, instanceId)), (kv) => {
              const fresh = currentOf(kv)
              if (fresh === undefined || fresh.lease === current.lease) return notFound(namespace, instanceId)
              return Effect.flatMap(
                keepAlive(fresh.lease),
                (again) => again === "0" ? notFound(namespace, instanceId) : beaten(fresh.lease)
              )
            })
          })
        })
      })

    const deregister = (
      instanceId: string,
      instanceOptions?: api.InstanceOptions
    ): Effect.Effect<void, InstanceNotFound | DiscoveryBackendError> =>
      Effect.suspend(() => {
        const namespace = instanceOptions?.namespace ?? defaultNamespace
        if (!isSegment(namespace) || !isSegment(instanceId)) return notFound(namespace, instanceId)
        const key = keys.instance(namespace, instanceId)
        const marker = keys.marker(namespace, instanceId)
        const attempt = (
          current: Current | undefined,
          retries: number
        ): Effect.Effect<void, InstanceNotFound | DiscoveryBackendError> => {
          if (current === undefined) return notFound(namespace, instanceId)
          return request(
            "deregister",
            (etcd) =>
              etcd.if(key, "Create", "==", current.createRevision)
                // The marker, in the same revision as the deletion, tells watchers it was deregistered.
                .then(etcd.put(marker).value(current.record.instance.service).lease(current.lease), etcd.delete().key(key))
                .else(etcd.get(key))
                .commit()
          ).pipe(
            Effect.catchIf(isLeaseNotFound, () => Effect.succeed(undefined)),
            Effect.flatMap((txn) => {
              if (txn === undefined) return notFound(namespace, instanceId)
              if (txn.succeeded) {
                // Revoking deletes the marker and frees the lease (which would lapse anyway).
                return Effect.zipRight(awaitApplied(Number(txn.header.revision)), revoke(current.lease))
              }
              const fresh = currentOf(elseValue(txn))
              if (fresh === undefined || retries <= 0) return notFound(namespace, instanceId)
              return attempt(fresh, retries - 1)
            })
          )
        }
        return Effect.flatMap(lookupCurrent("deregister", namespace, instanceId), (current) => attempt(current, 1))
      })

    const setStatus = (
      instanceId: string,
      status: api.HealthStatus,
      statusOptions?: api.SetStatusOptions
    ): Effect.Effect<void, InstanceNotFound | DiscoveryBackendError> =>
      Effect.suspend(() => {
        const namespace = statusOptions?.namespace ?? defaultNamespace
        if (!isSegment(namespace) || !isSegment(instanceId)) return notFound(namespace, instanceId)
        const key = keys.instance(namespace, instanceId)
        const output = statusOptions?.output
        const attempt = (
          current: Current | undefined,
          retries: number,
          cached: boolean
        ): Effect.Effect<void, InstanceNotFound | DiscoveryBackendError> => {
          if (current === undefined) return notFound(namespace, instanceId)
          const previous = current.record
          // Nothing to write only if etcd agrees: a cached record may be behind another client's
          // write, and skipping on it would lose this (later) call. A guarded no-op checks that.
          const unchanged = previous.status === status && previous.output === output
          if (unchanged && !cached) return Effect.void
          const { output: _previousOutput, ...rest } = previous
          const value = encodeRecord(output === undefined ? { ...rest, status } : { ...rest, status, output })
          return request(
            "setStatus",
            (etcd) => {
              const guarded = etcd.if(key, "Mod", "==", current.modRevision)
              return (unchanged ? guarded : guarded.then(etcd.put(key).value(value).lease(current.lease)))
                .else(etcd.get(key))
                .commit()
            }
          ).pipe(
            Effect.catchIf(isLeaseNotFound, () => Effect.succeed(undefined)),
            Effect.flatMap((txn) => {
              if (txn === undefined) return notFound(namespace, instanceId)
              if (txn.succeeded) return unchanged ? Effect.void : awaitApplied(Number(txn.header.revision))
              const fresh = currentOf(elseValue(txn))
              if (fresh === undefined) return notFound(namespace, instanceId)
              if (retries <= 0) {
                return Effect.fail(
                  new DiscoveryBackendError({
                    backend: "etcd",
                    operation: "setStatus",
                    reason: `instance "${instanceId}" kept changing concurrently; gave up after ${setStatusRetries} retries`
                  })
                )
              }
              return attempt(fresh, retries - 1, false)
            })
          )
        }
        const entry = cache.lookup(namespace, instanceId)
        if (entry !== undefined) return attempt(entry.current, setStatusRetries, true)
        return Effect.flatMap(
          readKey("setStatus", key),
          (kv) => attempt(currentOf(kv), setStatusRetries, false)
        )
      })

    const unsafeDiscover = (
      service: string,
      filter?: api.DiscoverFilter
    ): ReadonlyArray<api.InstanceView> | undefined => {
      const index = cache.services.get(filter?.namespace ?? defaultNamespace)?.get(service)
      if (index === undefined || index.entries.size === 0) return undefined
      return cache.select(index, filter)
    }

    const discover = (service: string, filter?: api.DiscoverFilter) =>
      Effect.suspend(() => {
        const namespace = filter?.namespace ?? defaultNamespace
        const index = cache.services.get(namespace)?.get(service)
        if (index === undefined || index.entries.size === 0) {
          return Effect.fail(new ServiceNotFound({ namespace, service }))
        }
        if (filter === undefined || isHealthyOnly(filter)) {
          // The common lookup: an Effect made once per change, so this call allocates nothing.
          if (index.dirty) cache.rebuild(index)
          return index.healthyEffect
        }
        return Effect.succeed(cache.select(index, filter))
      })

    const watch = (service: string, watchOptions?: api.WatchOptions) =>
      cache.watch(watchOptions?.namespace ?? defaultNamespace, service, watchOptions?.filter)

    const registry: api.EtcdService = {
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
