/**
 * What the memory and etcd config centers share: their errors for a missing or malformed key,
 * the compare-and-set version check (with its counter and `ConfigConflict` event), and the wait
 * on a watcher's buffer.
 */
import type { EventHub } from "@rampart/core/EventHub"
import type { Timers } from "@rampart/core/Timers"
import { Chunk, Effect } from "effect"
import { ConfigNotFound, ConfigVersionConflict, InvalidOptions } from "../Errors.js"
import {
  type ConfigChange,
  type ConfigEvent,
  type ConfigKey,
  keyProblems,
  pathOf,
  type WatchBuffer
} from "./configCenterModel.js"

/** @internal */
export const notFound = (key: ConfigKey, version?: number): ConfigNotFound =>
  version === undefined ? new ConfigNotFound({ key: pathOf(key) }) : new ConfigNotFound({ key: pathOf(key), version })

/** The error for a key that cannot exist, or undefined for a valid one. @internal */
export const invalidKey = (key: ConfigKey): InvalidOptions | undefined => {
  const problems = keyProblems(key)
  return problems.length === 0 ? undefined : new InvalidOptions({ module: "ConfigKey", issues: problems })
}

/** @internal */
export interface VersionCheck {
  /**
   * The conflict when `expected` is given and differs from `actual` (0 for an absent key),
   * counted and published as `ConfigConflict`; undefined when the write may go on.
   */
  readonly check: (path: string, actual: number, expected: number | undefined) => ConfigVersionConflict | undefined
  /**
   * Why deleting an absent key fails: a CAS delete of an absent key is a conflict (actual 0)
   * unless it expected absence; otherwise the key is not found.
   */
  readonly deleteAbsent: (
    key: ConfigKey,
    path: string,
    expected: number | undefined
  ) => ConfigNotFound | ConfigVersionConflict
}

/** @internal */
export const makeVersionCheck = (deps: {
  readonly name: string
  readonly timers: Timers
  readonly hub: EventHub<ConfigEvent>
  readonly countConflict: (amount: number) => void
}): VersionCheck => {
  const { countConflict, hub, name, timers } = deps
  const check = (path: string, actual: number, expected: number | undefined) => {
    if (expected === undefined || actual === expected) return undefined
    countConflict(1)
    hub.publish({ _tag: "ConfigConflict", name, timestamp: timers.now(), path, expected, actual })
    return new ConfigVersionConflict({ key: path, expected, actual })
  }
  const deleteAbsent = (key: ConfigKey, path: string, expected: number | undefined) =>
    (expected === 0 ? undefined : check(path, 0, expected)) ?? notFound(key)
  return { check, deleteAbsent }
}

/** Everything the buffer holds, as one chunk (possibly empty). @internal */
export const drainChunk = (buffer: WatchBuffer): Chunk.Chunk<ConfigChange> => Chunk.unsafeFromArray(buffer.drain())

/**
 * Waits for the next offer to `buffer`. `setWake`, when given, also receives the wake-up (and
 * undefined once it is spent or abandoned), so a close can end the wait early.
 *
 * @internal
 */
export const nextOffer = (
  buffer: WatchBuffer,
  setWake?: (wake: (() => void) | undefined) => void
): Effect.Effect<void> =>
  Effect.async<void>((resume) => {
    let woken = false
    const wake = () => {
      if (woken) return
      woken = true
      buffer.onOffer(undefined)
      setWake?.(undefined)
      resume(Effect.void)
    }
    buffer.onOffer(wake)
    setWake?.(wake)
    return Effect.sync(() => {
      buffer.onOffer(undefined)
      setWake?.(undefined)
    })
  })
