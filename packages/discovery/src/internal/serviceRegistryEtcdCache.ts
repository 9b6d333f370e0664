/**
 * The etcd registry's local cache: every instance under `<prefix>/registry/`, kept by applying
 * the watch's events in revision order (or a full re-read after a compaction). `discover`,
 * `unsafeDiscover` and `watch` read it synchronously; events and watcher snapshots are emitted
 * from it, so every client reports every change it applies.
 */
import type { EventHub } from "@rampart/core/EventHub"
import type { Timers } from "@rampart/core/Timers"
import type { MetricLabel } from "effect"
import type { IKeyValue } from "etcd3"
import type * as api from "../ServiceRegistry.js"
import { decodeRecord, type InstanceRecord, type Keys, parseKey } from "./serviceRegistryEtcdRecord.js"
import { type IndexTable, makeIndexTable, type ServiceIndex } from "./serviceRegistryIndex.js"
import { toView } from "./serviceRegistryView.js"

/** What etcd holds for an instance: its record, lease and revisions. @internal */
export interface Current {
  readonly lease: string
  readonly createRevision: number
  readonly modRevision: number
  readonly record: InstanceRecord
}

/** One cached instance. @internal */
export interface Entry {
  readonly key: string
  view: api.InstanceView
  readonly current: Current
  readonly ttlMillis: number
  readonly index: ServiceIndex<Entry>
}

/** @internal */
export interface CacheCounters {
  readonly registrations: (amount: number) => void
  readonly deregistrations: (amount: number) => void
  readonly expirations: (amount: number) => void
}

/** @internal */
export interface Cache extends IndexTable<Entry> {
  readonly lookup: (namespace: string, instanceId: string) => Entry | undefined
  /**
   * Applies one watch response's events (in order). `deregistered` holds the instance keys whose
   * deletion came with a deregistration marker in the same response.
   */
  readonly applyEvents: (events: ReadonlyArray<WatchEvent>) => void
  /**
   * Replaces the whole content with a fresh read; `announce`: emit the differences as events and
   * count them (not for the initial load).
   */
  readonly replaceAll: (kvs: ReadonlyArray<IKeyValue>, announce: boolean) => void
  /** Records a successful heartbeat made by this client. */
  readonly noteHeartbeat: (entry: Entry, now: number) => void
  readonly size: () => number
}

/** The part of an etcd watch event the cache reads. @internal */
export interface WatchEvent {
  readonly type: "Put" | "Delete"
  readonly kv: IKeyValue
}

/** @internal */
export const makeCache = (deps: {
  readonly name: string
  readonly keys: Keys
  readonly timers: Timers
  readonly hub: EventHub<api.RegistryEvent>
  readonly labels: ReadonlyArray<MetricLabel.MetricLabel>
  readonly counters: CacheCounters
}): Cache => {
  const { counters, hub, keys, name, timers } = deps
  const table = makeIndexTable<Entry>({ labels: deps.labels, trackExpiry: false })
  const { changed, dropIfUnused, indexOf } = table
  /** namespace -> instance id -> entry */
  const instances = new Map<string, Map<string, Entry>>()
  let count = 0
  /** False while the initial load fills the cache: nothing is announced. */
  let announce = true

  const lookup = (namespace: string, instanceId: string): Entry | undefined =>
    instances.get(namespace)?.get(instanceId)

  const insert = (namespace: string, instanceId: string, entry: Entry): void => {
    let byId = instances.get(namespace)
    if (byId === undefined) {
      byId = new Map()
      instances.set(namespace, byId)
    }
    if (!byId.has(instanceId)) count++
    byId.set(instanceId, entry)
    entry.index.entries.set(instanceId, entry)
  }

  const removeEntry = (entry: Entry): void => {
    const view = entry.view
    entry.index.entries.delete(view.id)
    const byId = instances.get(view.namespace)
    if (byId !== undefined && byId.get(view.id) === entry) {
      byId.delete(view.id)
      count--
      if (byId.size === 0) instances.delete(view.namespace)
    }
  }

  /** The entry a stored key-value describes, or undefined when the value is not a valid record. */
  const entryOf = (
    namespace: string,
    instanceId: string,
    kv: IKeyValue,
    previous: Entry | undefined
  ): Entry | undefined => {
    const record: InstanceRecord | undefined = decodeRecord(kv.value)
    if (record === undefined || record.instance.id !== instanceId) return undefined
    const decoded = record.instance
    const createRevision = Number(kv.create_revision)
    // Views of the same registration share the frozen instance fields.
    const sameRegistration = previous !== undefined && previous.current.createRevision === createRevision &&
      previous.view.service === decoded.service
    const instance: api.ServiceInstance = Object.freeze({
      ...decoded,
      tags: Object.freeze([...decoded.tags]),
      metadata: Object.freeze({ ...decoded.metadata })
    })
    // What this client knows of the lease: the registration, or its own later heartbeats.
    const lastHeartbeat = sameRegistration
      ? Math.max(previous.view.lastHeartbeat, record.registeredAt)
      : record.registeredAt
    const view = toView(instance, {
      namespace,
      status: record.status,
      output: record.output,
      registeredAt: record.registeredAt,
      lastHeartbeat,
      leaseExpiresAt: lastHeartbeat + record.ttlMillis
    })
    return {
      key: keys.instance(namespace, instanceId),
      view,
      current: { lease: String(kv.lease), createRevision, modRevision: Number(kv.mod_revision), record },
      ttlMillis: record.ttlMillis,
      index: indexOf(namespace, decoded.service)
    }
  }

  const publishRemoved = (entry: Entry, deregistered: boolean, now: number, touched: Set<ServiceIndex<Entry>>): void => {
    removeEntry(entry)
    touched.add(entry.index)
    const view = entry.view
    if (!announce) return
    if (deregistered) {
      counters.deregistrations(1)
      hub.publish({
        _tag: "InstanceDeregistered",
        name,
        timestamp: now,
        namespace: view.namespace,
        service: view.service,
        instanceId: view.id
      })
    } else {
      counters.expirations(1)
      hub.publish({
        _tag: "InstanceExpired",
        name,
        timestamp: now,
        namespace: view.namespace,
        service: view.service,
        instanceId: view.id,
        leaseExpiresAt: view.leaseExpiresAt
      })
    }
  }

  const publishAdded = (entry: Entry, now: number, touched: Set<ServiceIndex<Entry>>): void => {
    const view = entry.view
    insert(view.namespace, view.id, entry)
    touched.add(entry.index)
    if (!announce) return
    counters.registrations(1)
    hub.publish({
      _tag: "InstanceRegistered",
      name,
      timestamp: now,
      namespace: view.namespace,
      service: view.service,
      instanceId: view.id,
      leaseExpiresAt: view.leaseExpiresAt
    })
  }

  /** Applies the current value of an instance key (a put, or a re-read). */
  const applyValue = (
    namespace: string,
    instanceId: string,
    kv: IKeyValue,
    now: number,
    touched: Set<ServiceIndex<Entry>>
  ): void => {
    const previous = lookup(namespace, instanceId)
    const next = entryOf(namespace, instanceId, kv, previous)
    if (
      previous !== undefined && next !== undefined &&
      previous.current.createRevision === next.current.createRevision && previous.index === next.index
    ) {
      if (previous.current.modRevision === next.current.modRevision) {
        // The same version (a re-read): release the index a fresh entry may have created.
        dropIfUnused(next.index)
        return
      }
      insert(namespace, instanceId, next)
      touched.add(next.index)
      const from = previous.view.status
      const to = next.view.status
      if (from !== to && announce) {
        const output = next.view.output
        hub.publish({
          _tag: "InstanceStatusChanged",
          name,
          timestamp: now,
          namespace,
          service: next.view.service,
          instanceId,
          from,
          to,
          ...(output === undefined ? {} : { output })
        })
      }
      return
    }
    // A different registration (or an unreadable value): the old one left, the new one came.
    if (previous !== undefined) publishRemoved(previous, false, now, touched)
    if (next !== undefined) publishAdded(next, now, touched)
  }

  const applyEvents = (events: ReadonlyArray<WatchEvent>): void => {
    if (events.length === 0) return
    const now = timers.now()
    const touched = new Set<ServiceIndex<Entry>>()
    /** Instance keys deleted by a deregistration, with the revision of the deletion. */
    let markers: Map<string, string> | undefined
    for (let i = 0; i < events.length; i++) {
      const event = events[i]!
      const key = event.kv.key.toString("utf8")
      const parsed = parseKey(keys.root, key)
      if (parsed._tag === "Other") continue
      if (parsed._tag === "Marker") {
        if (event.type === "Put") {
          markers ??= new Map()
          markers.set(keys.instance(parsed.namespace, parsed.instanceId), String(event.kv.mod_revision))
        }
        continue
      }
      if (event.type === "Put") {
        applyValue(parsed.namespace, parsed.instanceId, event.kv, now, touched)
      } else {
        const previous = lookup(parsed.namespace, parsed.instanceId)
        if (previous === undefined) continue
        const deregistered = markers?.get(key) === String(event.kv.mod_revision)
        publishRemoved(previous, deregistered, now, touched)
      }
    }
    for (const index of touched) changed(index)
  }

  const replaceAll = (kvs: ReadonlyArray<IKeyValue>, announceChanges: boolean): void => {
    announce = announceChanges
    const now = timers.now()
    const touched = new Set<ServiceIndex<Entry>>()
    const seen = new Set<string>()
    for (const kv of kvs) {
      const key = kv.key.toString("utf8")
      const parsed = parseKey(keys.root, key)
      if (parsed._tag !== "Instance") continue
      seen.add(key)
      applyValue(parsed.namespace, parsed.instanceId, kv, now, touched)
    }
    const gone: Array<Entry> = []
    for (const byId of instances.values()) {
      for (const entry of byId.values()) {
        if (!seen.has(entry.key)) gone.push(entry)
      }
    }
    // Removed while this client was not watching: the reason is unknown, reported as expiry.
    for (const entry of gone) publishRemoved(entry, false, now, touched)
    announce = true
    for (const index of touched) changed(index)
  }

  const noteHeartbeat = (entry: Entry, now: number): void => {
    if (lookup(entry.view.namespace, entry.view.id) !== entry) return
    entry.view = Object.freeze({ ...entry.view, lastHeartbeat: now, leaseExpiresAt: now + entry.ttlMillis })
    // Nothing a watcher filters on changed: refresh the cached arrays lazily, push nothing.
    entry.index.dirty = true
  }

  return {
    ...table,
    lookup,
    applyEvents,
    replaceAll,
    noteHeartbeat,
    size: () => count
  }
}
