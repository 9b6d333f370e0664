/**
 * The etcd config center. Every write is one etcd transaction guarded by the `mod_revision` of
 * the key's record read just before it: `if mod_revision(record) == r then put record, put history,
 * trim history`. When another writer got in between, the transaction does nothing and the write
 * starts again from a fresh read (a compare-and-set is checked against that fresh read, so of two
 * writers expecting the same version exactly one wins). Reads are etcd's linearizable reads.
 * See `configCenterEtcdStore.ts` for the layout and `configCenterEtcdWatch.ts` for `watch`.
 */
import { decodeOptions } from "@rampart/core/Options"
import { makeEventHub } from "@rampart/core/EventHub"
import { makeInstanceMetrics } from "@rampart/core/InstanceMetrics"
import { makeTimers } from "@rampart/core/Timers"
import { Effect, Redacted, type Scope } from "effect"
import type { Etcd3, IOperation, IRangeResponse } from "etcd3"
import { Etcd } from "../Etcd.js"
import { type ConfigNotFound, type ConfigVersionConflict, DiscoveryBackendError, type InvalidOptions } from "../Errors.js"
import type { ConfigCenterService } from "./configCenterService.js"
import { invalidKey, makeVersionCheck, notFound } from "./configCenterShared.js"
import {
  type ConfigEntry,
  type ConfigEvent,
  type ConfigKey,
  keyProblems,
  matcher,
  pathOf,
  rawValue,
  viewFor
} from "./configCenterModel.js"
import {
  encodeHistory,
  encodeRecord,
  EtcdConfigCenterOptions,
  type GrayRecord,
  type HistoryRecord,
  historyEntry,
  literalPrefix,
  makeLayout,
  parseHistory,
  parseRecord,
  revisionOf,
  type StoredRecord,
  toEntry
} from "./configCenterEtcdStore.js"
import { closeWatch, watch as openWatch, type WatchContext, type WatchState } from "./configCenterEtcdWatch.js"

/** A write losing this many races in a row to other writers of the same key gives up. */
const MAX_WRITE_ATTEMPTS = 16

const decode = decodeOptions("ConfigCenter", EtcdConfigCenterOptions)

/** A key's record as just read, with its `mod_revision` (0 when the key has no record). */
interface Current {
  readonly record: StoredRecord | undefined
  readonly modRevision: number
}

/** What a write does once its guard holds: the new record, other operations, then its result. */
interface Write<A> {
  readonly record: StoredRecord
  /** Operations of the same transaction besides the record's put (history). */
  readonly extra: (client: Etcd3) => Array<IOperation>
  readonly done: (revision: number) => A
}

/** The attempt a write made before a failed guard: its id and what it would have returned. */
interface Attempt<A> {
  readonly writeId: string
  readonly write: Write<A>
}

const ABSENT: Current = { record: undefined, modRevision: 0 }

/** The record of a key that exists (not a tombstone). */
const liveOf = (current: Current): StoredRecord | undefined =>
  current.record === undefined || current.record.deleted === true ? undefined : current.record

/** @internal */
export const makeEtcd = (
  input: typeof EtcdConfigCenterOptions.Encoded
): Effect.Effect<ConfigCenterService, InvalidOptions | DiscoveryBackendError, Scope.Scope | Etcd> =>
  Effect.gen(function*() {
    const options = yield* decode(input)
    const { historyLimit, name, watchBufferSize } = options
    const connection = yield* Etcd
    // Write ids: this center's random id and a counter (see `transact`).
    const random = yield* Effect.random
    const high = yield* random.nextIntBetween(0, 2 ** 30)
    const low = yield* random.nextIntBetween(0, 2 ** 30)
    const centerId = `${high.toString(36)}${low.toString(36).padStart(6, "0")}`
    let writes = 0
    const layout = makeLayout(connection.prefix)
    const timers = yield* makeTimers
    const hub = yield* makeEventHub<ConfigEvent>()
    const metrics = makeInstanceMetrics(name)
    const countWrite = metrics.counter("rampart_config_writes_total", "Config center writes (put, rollback, promote, delete, gray)")
    const countConflict = metrics.counter("rampart_config_conflicts_total", "Config center compare-and-set conflicts")
    const setWatchers = metrics.gauge("rampart_config_watchers", "Open config center watchers")

    // Fail fast on an unreachable cluster or missing permissions: one cheap count.
    yield* connection.request("connect", (client) => client.getAll().prefix(layout.records).count())

    const context: WatchContext = {
      connection,
      layout,
      watchBufferSize,
      open: new Set<WatchState>(),
      onCountChange: setWatchers
    }
    yield* Effect.addFinalizer(() =>
      Effect.forEach(Array.from(context.open), (state) => closeWatch(context, state), { discard: true })
    )

    const malformed = (operation: string, etcdKey: string) =>
      new DiscoveryBackendError({
        backend: "etcd",
        operation,
        reason: `the value at "${etcdKey}" is not a config center record`
      })

    const isValid = (key: ConfigKey) => keyProblems(key).length === 0

    /** The record of a key (a key that cannot exist is absent without asking etcd). */
    const readCurrent = (operation: string, key: ConfigKey): Effect.Effect<Current, DiscoveryBackendError> => {
      if (!isValid(key)) return Effect.succeed(ABSENT)
      const recordKey = layout.recordKey(key)
      return Effect.flatMap(
        connection.request(operation, (client) => client.get(recordKey).exec()),
        (response: IRangeResponse) => {
          const kv = response.kvs[0]
          if (kv === undefined) return Effect.succeed(ABSENT)
          const record = parseRecord(kv.value)
          return record === undefined
            ? Effect.fail(malformed(operation, recordKey))
            : Effect.succeed({ record, modRevision: revisionOf(kv) })
        }
      )
    }

    const readKept = (
      operation: string,
      key: ConfigKey,
      version: number
    ): Effect.Effect<HistoryRecord | undefined, DiscoveryBackendError> => {
      if (!isValid(key) || !Number.isSafeInteger(version) || version < 1) return Effect.succeed(undefined)
      const historyKey = layout.historyKey(key, version)
      return Effect.map(
        connection.request(operation, (client) => client.get(historyKey).exec()),
        (response: IRangeResponse) => {
          const kv = response.kvs[0]
          return kv === undefined ? undefined : parseHistory(kv.value)
        }
      )
    }

    /**
     * Read, plan, commit under `mod_revision == read`, and on a lost race start over. `plan` fails
     * for the caller's reasons (not found, conflict) from the fresh read only.
     *
     * Each attempt stamps the record with a fresh `writeId`. etcd3 re-sends a request that failed
     * on a connection error, so a transaction that committed but whose answer was lost is sent
     * again and then fails its guard (the record changed: by this very write). When the fresh read
     * finds our own `writeId`, the write is done; planning again would apply it twice, or report
     * a compare-and-set that succeeded as a conflict.
     */
    const transact = <A, E>(
      operation: string,
      key: ConfigKey,
      plan: (current: Current) => Effect.Effect<Write<A>, E | DiscoveryBackendError>
    ): Effect.Effect<A, E | DiscoveryBackendError> => {
      const recordKey = layout.recordKey(key)
      const commit = (current: Current, write: Write<A>, tries: number) => {
        const writeId = `${centerId}.${++writes}`
        const stamped = encodeRecord({ ...write.record, writeId })
        return Effect.flatMap(
          connection.request(operation, (client) =>
            client
              .if(recordKey, "Mod", "==", current.modRevision)
              .then(client.put(recordKey).value(stamped), ...write.extra(client))
              .commit()),
          (response) => {
            if (response.succeeded) return Effect.sync(() => write.done(Number(response.header.revision)))
            if (tries + 1 < MAX_WRITE_ATTEMPTS) return attempt(tries + 1, { writeId, write })
            return Effect.fail(
              new DiscoveryBackendError({
                backend: "etcd",
                operation,
                reason: `"${pathOf(key)}" changed under ${MAX_WRITE_ATTEMPTS} attempts in a row; try again`
              })
            )
          }
        )
      }
      const attempt = (tries: number, previous: Attempt<A> | undefined): Effect.Effect<A, E | DiscoveryBackendError> =>
        Effect.flatMap(readCurrent(operation, key), (current) => {
          if (previous !== undefined && current.record?.writeId === previous.writeId) {
            return Effect.sync(() => previous.write.done(current.modRevision))
          }
          return Effect.flatMap(plan(current), (write) => commit(current, write, tries))
        })
      return attempt(0, undefined)
    }

    const versions = makeVersionCheck({ name, timers, hub, countConflict })
    const checkVersion = (path: string, live: StoredRecord | undefined, expected: number | undefined) =>
      versions.check(path, live?.version ?? 0, expected)

    /** A new stable version (history kept and trimmed); a pending gray stays, renumbered. */
    const writeVersion = (
      key: ConfigKey,
      current: Current,
      text: string,
      secret: boolean,
      gray: GrayRecord | undefined,
      reason: "Put" | "Rollback" | "GrayPromoted"
    ): Write<ConfigEntry> => {
      const version = (current.record?.version ?? 0) + 1
      const updatedAt = timers.now()
      const stable = { value: text, secret, version, updatedAt }
      const record: StoredRecord = gray === undefined ? stable : { ...stable, gray: { ...gray, version: version + 1 } }
      const oldestKept = version - historyLimit + 1
      return {
        record,
        extra: (client) => {
          const operations: Array<IOperation> = [
            client.put(layout.historyKey(key, version)).value(encodeHistory(stable))
          ]
          if (oldestKept > 1) {
            operations.push(
              client.delete().inRange({ start: layout.historyBase(key), end: layout.historyKey(key, oldestKept) })
            )
          }
          return operations
        },
        done: (revision) => {
          countWrite(1)
          hub.publish({
            _tag: "ConfigWritten",
            name,
            timestamp: updatedAt,
            path: pathOf(key),
            version,
            revision,
            secret,
            reason
          })
          return toEntry(key, record, revision)
        }
      }
    }

    /** Replaces the record without a new version (a tombstone, a gray published or abandoned). */
    const rewrite = <A>(record: StoredRecord, done: (revision: number) => A): Write<A> => ({
      record,
      extra: () => [],
      done: (revision) => {
        countWrite(1)
        return done(revision)
      }
    })

    const get: ConfigCenterService["get"] = (key, getOptions) =>
      Effect.flatMap(readCurrent("get", key), (current) => {
        const live = liveOf(current)
        return live === undefined
          ? Effect.fail(notFound(key))
          : Effect.succeed(viewFor(toEntry(key, live, current.modRevision), getOptions?.labels))
      })

    const put: ConfigCenterService["put"] = (key, value, putOptions) =>
      Effect.suspend((): Effect.Effect<ConfigEntry, ConfigVersionConflict | InvalidOptions | DiscoveryBackendError> => {
        const invalid = invalidKey(key)
        if (invalid !== undefined) return Effect.fail(invalid)
        return transact("put", key, (current) => {
          const live = liveOf(current)
          const conflict = checkVersion(pathOf(key), live, putOptions?.expectedVersion)
          if (conflict !== undefined) return Effect.fail(conflict)
          const secret = putOptions?.secret ?? (Redacted.isRedacted(value) || (live?.secret ?? false))
          return Effect.succeed(writeVersion(key, current, rawValue(value), secret, live?.gray, "Put"))
        })
      })

    const del: ConfigCenterService["delete"] = (key, deleteOptions) =>
      transact("delete", key, (current): Effect.Effect<Write<void>, ConfigNotFound | ConfigVersionConflict> => {
        const path = pathOf(key)
        const expected = deleteOptions?.expectedVersion
        const live = liveOf(current)
        if (live === undefined) {
          return Effect.fail(versions.deleteAbsent(key, path, expected))
        }
        const conflict = checkVersion(path, live, expected)
        if (conflict !== undefined) return Effect.fail(conflict)
        const updatedAt = timers.now()
        const tombstone: StoredRecord = { value: "", secret: false, version: live.version, updatedAt, deleted: true }
        return Effect.succeed(rewrite(tombstone, (revision) => {
          hub.publish({ _tag: "ConfigDeleted", name, timestamp: updatedAt, path, version: live.version, revision })
        }))
      })

    const history: ConfigCenterService["history"] = (key, historyOptions) =>
      Effect.suspend(() => {
        if (!isValid(key)) return Effect.fail(notFound(key))
        const base = layout.historyBase(key)
        return Effect.flatMap(
          connection.request("history", (client) => client.getAll().prefix(base).exec()),
          (response: IRangeResponse) => {
            const kept: Array<ConfigEntry> = []
            for (const kv of response.kvs) {
              const record = parseHistory(kv.value)
              if (record !== undefined) kept.push(historyEntry(key, record, revisionOf(kv)))
            }
            if (kept.length === 0) return Effect.fail(notFound(key))
            kept.sort((a, b) => b.version - a.version)
            const limit = historyOptions?.limit
            return Effect.succeed(limit === undefined ? kept : kept.slice(0, Math.max(0, limit)))
          }
        )
      })

    const rollback: ConfigCenterService["rollback"] = (key, toVersion) =>
      // The record is read before the kept version: a trim in between changes the record, so the
      // guarded transaction fails and the rollback starts over (and finds the version gone).
      transact("rollback", key, (current) =>
        Effect.flatMap(readKept("rollback", key, toVersion), (kept) =>
          kept === undefined
            ? Effect.fail(notFound(key, toVersion))
            : Effect.succeed(
              writeVersion(key, current, kept.value, kept.secret, liveOf(current)?.gray, "Rollback")
            )))

    const putGray: ConfigCenterService["putGray"] = (key, value, selector) =>
      Effect.suspend((): Effect.Effect<ConfigEntry, ConfigNotFound | InvalidOptions | DiscoveryBackendError> => {
        const invalid = invalidKey(key)
        if (invalid !== undefined) return Effect.fail(invalid)
        return transact("putGray", key, (current) => {
          const live = liveOf(current)
          if (live === undefined) return Effect.fail(notFound(key))
          const gray: GrayRecord = {
            selector: { ...selector },
            value: rawValue(value),
            secret: live.secret || Redacted.isRedacted(value),
            version: live.version + 1
          }
          const { writeId: _previous, ...stable } = live
          const record: StoredRecord = { ...stable, updatedAt: timers.now(), gray }
          return Effect.succeed(rewrite(record, (revision) => {
            hub.publish({
              _tag: "GrayPublished",
              name,
              timestamp: record.updatedAt,
              path: pathOf(key),
              selector: gray.selector,
              revision
            })
            return toEntry(key, record, revision)
          }))
        })
      })

    const promoteGray: ConfigCenterService["promoteGray"] = (key) =>
      transact("promoteGray", key, (current) => {
        const gray = liveOf(current)?.gray
        return gray === undefined
          ? Effect.fail(notFound(key))
          : Effect.succeed(writeVersion(key, current, gray.value, gray.secret, undefined, "GrayPromoted"))
      })

    const abandonGray: ConfigCenterService["abandonGray"] = (key) =>
      transact("abandonGray", key, (current) => {
        const live = liveOf(current)
        if (live === undefined || live.gray === undefined) return Effect.fail(notFound(key))
        const { gray, writeId: _previous, ...stable } = live
        const record: StoredRecord = { ...stable, updatedAt: timers.now() }
        return Effect.succeed(rewrite(record, (revision) => {
          hub.publish({
            _tag: "GrayAbandoned",
            name,
            timestamp: record.updatedAt,
            path: pathOf(key),
            selector: gray.selector,
            revision
          })
          return toEntry(key, record, revision)
        }))
      })

    const list: ConfigCenterService["list"] = (pattern, listOptions) =>
      Effect.suspend(() => {
        const matches = matcher(pattern)
        const labels = listOptions?.labels
        const range = `${layout.records}${literalPrefix(pattern)}`
        return Effect.map(
          connection.request("list", (client) => client.getAll().prefix(range).exec()),
          (response: IRangeResponse) => {
            const entries: Array<ConfigEntry> = []
            for (const kv of response.kvs) {
              const key = layout.keyOf(kv.key)
              if (key === undefined || !matches(pathOf(key))) continue
              const record = parseRecord(kv.value)
              if (record === undefined || record.deleted === true) continue
              entries.push(viewFor(toEntry(key, record, revisionOf(kv)), labels))
            }
            return entries.sort((a, b) => a.revision - b.revision)
          }
        )
      })

    const watch: ConfigCenterService["watch"] = (pattern, watchOptions) =>
      openWatch(context, pattern, watchOptions?.labels)

    return {
      name,
      get,
      put,
      delete: del,
      history,
      rollback,
      putGray,
      promoteGray,
      abandonGray,
      list,
      watch,
      events: hub.stream
    }
  })
