/**
 * The memory config center: one map of key states, a global revision counter, and a watch buffer
 * per watcher. Every operation is synchronous bookkeeping inside `Effect.suspend`.
 */
import { decodeOptions } from "@rampart/core/Options"
import { makeEventHub } from "@rampart/core/EventHub"
import { makeInstanceMetrics } from "@rampart/core/InstanceMetrics"
import { makeTimers } from "@rampart/core/Timers"
import type { Option } from "effect"
import { type Chunk, Effect, Redacted, Stream } from "effect"
import type { ConfigNotFound, ConfigVersionConflict, InvalidOptions } from "../Errors.js"
import type { ConfigCenterService } from "./configCenterService.js"
import { drainChunk, invalidKey, makeVersionCheck, nextOffer, notFound as notFoundError } from "./configCenterShared.js"
import {
  type ConfigChange,
  type ConfigEntry,
  type ConfigEvent,
  type ConfigKey,
  type ConfigValue,
  type GrayRelease,
  type Labels,
  matcher,
  MemoryConfigCenterOptions,
  pathOf,
  TypeId,
  viewFor,
  WatchBuffer
} from "./configCenterModel.js"

interface KeyState {
  readonly path: string
  readonly key: ConfigKey
  /** The stable entry (with its `gray`), undefined once deleted. */
  current: ConfigEntry | undefined
  lastVersion: number
  /** Kept stable versions, oldest first, at most `historyLimit`, without their `gray`. */
  history: Array<ConfigEntry>
}

interface Watcher {
  readonly matches: (path: string) => boolean
  readonly labels: Labels | undefined
  readonly buffer: WatchBuffer
}

const decode = decodeOptions("ConfigCenter", MemoryConfigCenterOptions)

const toStored = (value: ConfigValue, secret: boolean): ConfigValue =>
  secret ? (Redacted.isRedacted(value) ? value : Redacted.make(value)) : value

/** A secret written as plain `secret: false` is unwrapped on purpose by the caller. */
const toPlainOrSecret = (value: ConfigValue, secret: boolean): ConfigValue =>
  secret ? toStored(value, true) : (typeof value === "string" ? value : Redacted.value(value))

/** @internal */
export const makeMemory = (
  input: typeof MemoryConfigCenterOptions.Encoded
): Effect.Effect<ConfigCenterService, InvalidOptions> =>
  Effect.gen(function*() {
    const options = yield* decode(input)
    const { historyLimit, name, watchBufferSize } = options
    const timers = yield* makeTimers
    const hub = yield* makeEventHub<ConfigEvent>()
    const metrics = makeInstanceMetrics(name)
    const countWrite = metrics.counter("rampart_config_writes_total", "Config center writes (put, rollback, promote, delete, gray)")
    const countConflict = metrics.counter("rampart_config_conflicts_total", "Config center compare-and-set conflicts")
    const setWatchers = metrics.gauge("rampart_config_watchers", "Open config center watchers")

    const states = new Map<string, KeyState>()
    const watchers = new Set<Watcher>()
    let revision = 0

    const notify = (change: ConfigChange, path: string) => {
      for (const watcher of watchers) {
        if (!watcher.matches(path)) continue
        watcher.buffer.offer(
          change._tag === "Put" ? { _tag: "Put", entry: viewFor(change.entry, watcher.labels) } : change
        )
      }
    }

    /** Installs a new stable or gray state and tells the watchers; returns the stable entry. */
    const commit = (state: KeyState, entry: ConfigEntry): ConfigEntry => {
      state.current = entry
      notify({ _tag: "Put", entry }, state.path)
      return entry
    }

    const makeEntry = (
      state: KeyState,
      value: ConfigValue,
      secret: boolean,
      version: number,
      gray: GrayRelease | undefined
    ): ConfigEntry => {
      const entry: ConfigEntry = {
        [TypeId]: TypeId,
        namespace: state.key.namespace,
        group: state.key.group,
        key: state.key.key,
        path: state.path,
        value: toPlainOrSecret(value, secret),
        secret,
        version,
        revision,
        updatedAt: timers.now(),
        servedGray: false
      }
      return gray === undefined ? entry : { ...entry, gray }
    }

    /** A new stable version; a pending gray stays, renumbered to the next version. */
    const writeVersion = (
      state: KeyState,
      value: ConfigValue,
      secret: boolean,
      gray: GrayRelease | undefined,
      reason: "Put" | "Rollback" | "GrayPromoted"
    ): ConfigEntry => {
      revision++
      const version = state.lastVersion + 1
      state.lastVersion = version
      const plain = makeEntry(state, value, secret, version, undefined)
      state.history.push(plain)
      if (state.history.length > historyLimit) state.history.splice(0, state.history.length - historyLimit)
      const entry = gray === undefined ? plain : { ...plain, gray: { ...gray, version: version + 1 } }
      countWrite(1)
      hub.publish({
        _tag: "ConfigWritten",
        name,
        timestamp: entry.updatedAt,
        path: state.path,
        version,
        revision,
        secret,
        reason
      })
      return commit(state, entry)
    }

    const stateOf = (key: ConfigKey): KeyState | undefined => states.get(pathOf(key))

    const notFound = (key: ConfigKey, version?: number) => Effect.fail(notFoundError(key, version))

    const versions = makeVersionCheck({ name, timers, hub, countConflict })
    const checkVersion = (state: KeyState | undefined, path: string, expected: number | undefined) =>
      versions.check(path, state?.current?.version ?? 0, expected)

    const get: ConfigCenterService["get"] = (key, getOptions) =>
      Effect.suspend(() => {
        const current = stateOf(key)?.current
        return current === undefined ? notFound(key) : Effect.succeed(viewFor(current, getOptions?.labels))
      })

    const put: ConfigCenterService["put"] = (key, value, putOptions) =>
      Effect.suspend((): Effect.Effect<ConfigEntry, ConfigVersionConflict | InvalidOptions> => {
        const invalid = invalidKey(key)
        if (invalid !== undefined) return Effect.fail(invalid)
        const path = pathOf(key)
        let state = states.get(path)
        const conflict = checkVersion(state, path, putOptions?.expectedVersion)
        if (conflict !== undefined) return Effect.fail(conflict)
        if (state === undefined) {
          state = {
            path,
            key: { namespace: key.namespace, group: key.group, key: key.key },
            current: undefined,
            lastVersion: 0,
            history: []
          }
          states.set(path, state)
        }
        const secret = putOptions?.secret ?? (Redacted.isRedacted(value) || (state.current?.secret ?? false))
        return Effect.succeed(writeVersion(state, value, secret, state.current?.gray, "Put"))
      })

    const del: ConfigCenterService["delete"] = (key, deleteOptions) =>
      Effect.suspend((): Effect.Effect<void, ConfigNotFound | ConfigVersionConflict> => {
        const state = stateOf(key)
        const current = state?.current
        if (state === undefined || current === undefined) {
          return Effect.fail(versions.deleteAbsent(key, pathOf(key), deleteOptions?.expectedVersion))
        }
        const conflict = checkVersion(state, state.path, deleteOptions?.expectedVersion)
        if (conflict !== undefined) return Effect.fail(conflict)
        revision++
        state.current = undefined
        countWrite(1)
        hub.publish({
          _tag: "ConfigDeleted",
          name,
          timestamp: timers.now(),
          path: state.path,
          version: current.version,
          revision
        })
        notify({
          _tag: "Deleted",
          path: state.path,
          namespace: state.key.namespace,
          group: state.key.group,
          key: state.key.key,
          version: current.version,
          revision
        }, state.path)
        return Effect.void
      })

    const history: ConfigCenterService["history"] = (key, historyOptions) =>
      Effect.suspend(() => {
        const state = stateOf(key)
        if (state === undefined || state.history.length === 0) return notFound(key)
        const newestFirst = state.history.slice().reverse()
        const limit = historyOptions?.limit
        return Effect.succeed(limit === undefined ? newestFirst : newestFirst.slice(0, Math.max(0, limit)))
      })

    const rollback: ConfigCenterService["rollback"] = (key, toVersion) =>
      Effect.suspend(() => {
        const state = stateOf(key)
        const kept = state?.history.find((entry) => entry.version === toVersion)
        if (state === undefined || kept === undefined) return notFound(key, toVersion)
        return Effect.succeed(writeVersion(state, kept.value, kept.secret, state.current?.gray, "Rollback"))
      })

    const putGray: ConfigCenterService["putGray"] = (key, value, selector) =>
      Effect.suspend((): Effect.Effect<ConfigEntry, ConfigNotFound | InvalidOptions> => {
        const invalid = invalidKey(key)
        if (invalid !== undefined) return Effect.fail(invalid)
        const state = stateOf(key)
        const current = state?.current
        if (state === undefined || current === undefined) return notFound(key)
        revision++
        const gray: GrayRelease = {
          selector: { ...selector },
          value: toPlainOrSecret(value, current.secret || Redacted.isRedacted(value)),
          version: current.version + 1
        }
        countWrite(1)
        hub.publish({
          _tag: "GrayPublished",
          name,
          timestamp: timers.now(),
          path: state.path,
          selector: gray.selector,
          revision
        })
        return Effect.succeed(commit(state, { ...current, revision, updatedAt: timers.now(), gray }))
      })

    const promoteGray: ConfigCenterService["promoteGray"] = (key) =>
      Effect.suspend(() => {
        const state = stateOf(key)
        const gray = state?.current?.gray
        if (state === undefined || gray === undefined) return notFound(key)
        return Effect.succeed(
          writeVersion(state, gray.value, Redacted.isRedacted(gray.value), undefined, "GrayPromoted")
        )
      })

    const abandonGray: ConfigCenterService["abandonGray"] = (key) =>
      Effect.suspend(() => {
        const state = stateOf(key)
        const current = state?.current
        if (state === undefined || current === undefined || current.gray === undefined) return notFound(key)
        revision++
        countWrite(1)
        hub.publish({
          _tag: "GrayAbandoned",
          name,
          timestamp: timers.now(),
          path: state.path,
          selector: current.gray.selector,
          revision
        })
        const { gray: _dropped, ...stable } = current
        return Effect.succeed(commit(state, { ...stable, revision, updatedAt: timers.now() }))
      })

    const snapshot = (matches: (path: string) => boolean, labels: Labels | undefined): Array<ConfigEntry> => {
      const entries: Array<ConfigEntry> = []
      for (const state of states.values()) {
        if (state.current !== undefined && matches(state.path)) entries.push(viewFor(state.current, labels))
      }
      return entries.sort((a, b) => a.revision - b.revision)
    }

    const list: ConfigCenterService["list"] = (pattern, listOptions) =>
      Effect.sync(() => snapshot(matcher(pattern), listOptions?.labels))

    const watch: ConfigCenterService["watch"] = (pattern, watchOptions) =>
      Stream.unwrapScoped(
        Effect.map(
          Effect.acquireRelease(
            Effect.sync(() => {
              const matches = matcher(pattern)
              const labels = watchOptions?.labels
              const watcher: Watcher = { matches, labels, buffer: new WatchBuffer(watchBufferSize) }
              // The initial state goes in the buffer in the same synchronous step that registers the
              // watcher, so no change can fall between the snapshot and the first notification.
              for (const entry of snapshot(matches, labels)) watcher.buffer.offer({ _tag: "Put", entry })
              watchers.add(watcher)
              setWatchers(watchers.size)
              return watcher
            }),
            (watcher) =>
              Effect.sync(() => {
                watcher.buffer.onOffer(undefined)
                watchers.delete(watcher)
                setWatchers(watchers.size)
              })
          ),
          (watcher) => Stream.repeatEffectChunkOption(take(watcher.buffer))
        )
      )

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

/** Takes what the buffer holds, waiting for the next offer when it is empty. */
const take = (buffer: WatchBuffer): Effect.Effect<Chunk.Chunk<ConfigChange>, Option.Option<never>> =>
  Effect.suspend(() =>
    buffer.size > 0 ? Effect.succeed(drainChunk(buffer)) : Effect.zipRight(nextOffer(buffer), Effect.sync(() => drainChunk(buffer)))
  )
