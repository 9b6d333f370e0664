/**
 * The data types of the config center shared by every backend: keys, entries, changes, events,
 * options, and the pure helpers (key validation, glob matching, label selectors, watch buffers).
 */
import { Name, PositiveInt } from "@rampart/core/Options"
import { Redacted, Schema } from "effect"

/** @internal */
export const TypeId: unique symbol = Symbol.for("@rampart/discovery/ConfigCenter/ConfigEntry")

/** @internal */
export type TypeId = typeof TypeId

/** A config key: namespace / group / key, each non-empty and without "/". */
export interface ConfigKey {
  readonly namespace: string
  readonly group: string
  readonly key: string
}

/** Instance labels, and the selector of a gray release (every pair must match). */
export type Labels = Readonly<Record<string, string>>

/** A value as stored: plain, or `Redacted` for a secret. */
export type ConfigValue = string | Redacted.Redacted<string>

/** A gray (canary) value, visible only to instances whose labels match `selector`. */
export interface GrayRelease {
  readonly selector: Labels
  readonly value: ConfigValue
  /** The version `promoteGray` gives this value (the stable version + 1). */
  readonly version: number
}

/** One version of a key as a caller sees it. */
export interface ConfigEntry extends ConfigKey {
  readonly [TypeId]: TypeId
  /** `namespace/group/key`. */
  readonly path: string
  readonly value: ConfigValue
  readonly secret: boolean
  /** Per key, from 1, one more per write; never reused, even after a delete. */
  readonly version: number
  /** The center's global revision of the last change to this key (stable or gray). */
  readonly revision: number
  /** Milliseconds since the epoch, from the center's clock. */
  readonly updatedAt: number
  /** The pending gray release, if any. */
  readonly gray?: GrayRelease
  /** True when this view carries the gray value (the reader's labels matched the selector). */
  readonly servedGray: boolean
}

/** A change a watcher sees. */
export type ConfigChange =
  | { readonly _tag: "Put"; readonly entry: ConfigEntry }
  | {
    readonly _tag: "Deleted"
    readonly path: string
    readonly namespace: string
    readonly group: string
    readonly key: string
    /** The last version the key had. */
    readonly version: number
    readonly revision: number
  }

/** Events: no values, only what changed. */
export type ConfigEvent =
  | {
    readonly _tag: "ConfigWritten"
    readonly name: string
    readonly timestamp: number
    readonly path: string
    readonly version: number
    readonly revision: number
    readonly secret: boolean
    readonly reason: "Put" | "Rollback" | "GrayPromoted"
  }
  | {
    readonly _tag: "ConfigDeleted"
    readonly name: string
    readonly timestamp: number
    readonly path: string
    readonly version: number
    readonly revision: number
  }
  | {
    readonly _tag: "ConfigConflict"
    readonly name: string
    readonly timestamp: number
    readonly path: string
    readonly expected: number
    readonly actual: number
  }
  | {
    readonly _tag: "GrayPublished" | "GrayAbandoned"
    readonly name: string
    readonly timestamp: number
    readonly path: string
    readonly selector: Labels
    readonly revision: number
  }

/** @internal */
export const MemoryConfigCenterOptions = Schema.Struct({
  name: Name,
  historyLimit: Schema.optionalWith(PositiveInt, { default: () => 20 }),
  watchBufferSize: Schema.optionalWith(PositiveInt, { default: () => 1024 })
})

/** @internal */
export const pathOf = (key: ConfigKey): string => `${key.namespace}/${key.group}/${key.key}`

const segmentProblem = (field: string, value: unknown): string | undefined => {
  if (typeof value !== "string") return `${field}: Expected a string, actual ${String(value)}`
  if (value.length === 0) return `${field}: Expected a non-empty string`
  if (value.includes("/")) return `${field}: Expected no "/", actual "${value}"`
  return undefined
}

/** @internal The problems of a key, one per bad field (empty when valid). */
export const keyProblems = (key: ConfigKey): ReadonlyArray<string> => {
  const problems: Array<string> = []
  for (const field of ["namespace", "group", "key"] as const) {
    const problem = segmentProblem(field, key[field])
    if (problem !== undefined) problems.push(problem)
  }
  return problems
}

const escapeRegExp = (text: string): string => text.replace(/[.+^${}()|[\]\\]/g, "\\$&")

/**
 * @internal Compiles a glob over paths: `*` matches within one segment, `**` across segments,
 * `?` one character of a segment. Anchored at both ends.
 */
export const globToRegExp = (glob: string): RegExp => {
  let source = ""
  for (let index = 0; index < glob.length; index++) {
    const char = glob[index]!
    if (char === "*") {
      if (glob[index + 1] === "*") {
        source += ".*"
        index++
      } else {
        source += "[^/]*"
      }
    } else if (char === "?") {
      source += "[^/]"
    } else {
      source += escapeRegExp(char)
    }
  }
  return new RegExp(`^${source}$`)
}

/** @internal A path predicate from a glob or a regular expression (flags g and y dropped). */
export const matcher = (pattern: string | RegExp): (path: string) => boolean => {
  const regExp = typeof pattern === "string"
    ? globToRegExp(pattern)
    : new RegExp(pattern.source, pattern.flags.replace(/[gy]/g, ""))
  return (path) => regExp.test(path)
}

/** @internal Every pair of the selector is among the labels; no labels never match. */
export const selectorMatches = (selector: Labels, labels: Labels | undefined): boolean => {
  if (labels === undefined) return false
  for (const name in selector) {
    if (labels[name] !== selector[name]) return false
  }
  return true
}

/** @internal The entry as an instance with these labels sees it. */
export const viewFor = (entry: ConfigEntry, labels: Labels | undefined): ConfigEntry =>
  entry.gray !== undefined && selectorMatches(entry.gray.selector, labels)
    ? { ...entry, value: entry.gray.value, servedGray: true }
    : entry

/** @internal The plain text of a value (unwraps a secret: callers must keep it redacted). */
export const rawValue = (value: ConfigValue): string => typeof value === "string" ? value : Redacted.value(value)

/**
 * @internal A watcher's buffer: changes in revision order. When it grows past `capacity` it is
 * compacted to the latest change of each path (still in revision order), so superseded versions
 * are dropped but never the latest of any key. With more distinct keys changed than `capacity`
 * the buffer holds one change per key: it never loses a key's last state.
 */
export class WatchBuffer {
  private queue: Array<ConfigChange> = []
  private wake: (() => void) | undefined = undefined
  constructor(readonly capacity: number) {}

  offer(change: ConfigChange): void {
    this.queue.push(change)
    if (this.queue.length > this.capacity) this.compact()
    const wake = this.wake
    if (wake !== undefined) {
      this.wake = undefined
      wake()
    }
  }

  get size(): number {
    return this.queue.length
  }

  /** Takes everything buffered (possibly nothing). */
  drain(): Array<ConfigChange> {
    const taken = this.queue
    this.queue = []
    return taken
  }

  /** Registers the callback run (once) on the next offer. */
  onOffer(wake: (() => void) | undefined): void {
    this.wake = wake
  }

  private compact(): void {
    const seen = new Set<string>()
    const kept: Array<ConfigChange> = []
    for (let index = this.queue.length - 1; index >= 0; index--) {
      const change = this.queue[index]!
      const path = change._tag === "Put" ? change.entry.path : change.path
      if (!seen.has(path)) {
        seen.add(path)
        kept.push(change)
      }
    }
    kept.reverse()
    this.queue = kept
  }
}
