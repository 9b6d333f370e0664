/**
 * How the etcd config center lays out its data in etcd, and the pure conversions between etcd's
 * key-values and config entries.
 *
 * - `<prefix>/config/<namespace>/<group>/<key>`: the key's record (JSON): the current value, its
 *   secret flag, version and update time, the pending gray release, the id of the write that
 *   stored it; a deleted key keeps a
 *   tombstone record (`deleted: true`, the last version) so versions are never reused.
 * - `<prefix>/config-history/<namespace>/<group>/<key>/<version, 12 digits>`: one kept version
 *   (JSON), written in the same transaction as the record; the oldest are deleted in that
 *   transaction to keep at most `historyLimit`.
 *
 * The entry's `revision` is etcd's `mod_revision` of the record: the cluster's global revision.
 */
import { Either, Redacted, Schema } from "effect"
import type { IKeyValue } from "etcd3"
import { Name, PositiveInt } from "@rampart/core/Options"
import { type ConfigEntry, type ConfigKey, type ConfigValue, pathOf, rawValue, TypeId } from "./configCenterModel.js"

/** @internal */
export const EtcdConfigCenterOptions = Schema.Struct({
  name: Name,
  historyLimit: Schema.optionalWith(PositiveInt, { default: () => 20 }),
  watchBufferSize: Schema.optionalWith(PositiveInt, { default: () => 1024 })
})

const Selector = Schema.Record({ key: Schema.String, value: Schema.String })

const GrayRecord = Schema.Struct({
  selector: Selector,
  value: Schema.String,
  secret: Schema.Boolean,
  version: Schema.Number
})

/** The record of a key, as stored (JSON) at `<prefix>/config/<path>`. */
const StoredRecord = Schema.Struct({
  value: Schema.String,
  secret: Schema.Boolean,
  version: Schema.Number,
  updatedAt: Schema.Number,
  gray: Schema.optional(GrayRecord),
  deleted: Schema.optional(Schema.Literal(true)),
  /** Which write attempt stored it (a random id per center and a counter). */
  writeId: Schema.optional(Schema.String)
})

/** @internal */
export type StoredRecord = typeof StoredRecord.Type

/** @internal */
export type GrayRecord = typeof GrayRecord.Type

/** One kept version, as stored (JSON) at `<prefix>/config-history/<path>/<version>`. */
const HistoryRecord = Schema.Struct({
  value: Schema.String,
  secret: Schema.Boolean,
  version: Schema.Number,
  updatedAt: Schema.Number
})

/** @internal */
export type HistoryRecord = typeof HistoryRecord.Type

const decodeStored = Schema.decodeUnknownEither(Schema.parseJson(StoredRecord))
const decodeHistory = Schema.decodeUnknownEither(Schema.parseJson(HistoryRecord))

/** @internal The record in an etcd value, or undefined when it is not one of ours. */
export const parseRecord = (value: Buffer): StoredRecord | undefined =>
  Either.getOrUndefined(decodeStored(value.toString("utf8")))

/** @internal */
export const parseHistory = (value: Buffer): HistoryRecord | undefined =>
  Either.getOrUndefined(decodeHistory(value.toString("utf8")))

/** @internal The JSON of a record (no undefined fields). */
export const encodeRecord = (record: StoredRecord): string => JSON.stringify(record)

/** @internal */
export const encodeHistory = (record: HistoryRecord): string => JSON.stringify(record)

/** Twelve digits: keys sort by version up to 10^12 versions of one key. */
const VERSION_DIGITS = 12

/** @internal The etcd key names of one center (one connection prefix). */
export interface Layout {
  /** `<prefix>/config/` */
  readonly records: string
  /** `<prefix>/config-history/` */
  readonly history: string
  readonly recordKey: (key: ConfigKey) => string
  /** `<prefix>/config-history/<path>/`: every kept version of the key is under it. */
  readonly historyBase: (key: ConfigKey) => string
  readonly historyKey: (key: ConfigKey, version: number) => string
  /** The config key of a record's etcd key, or undefined for a foreign key. */
  readonly keyOf: (etcdKey: Buffer) => ConfigKey | undefined
}

/** @internal */
export const makeLayout = (prefix: string): Layout => {
  const records = `${prefix}/config/`
  const history = `${prefix}/config-history/`
  const historyBase = (key: ConfigKey) => `${history}${pathOf(key)}/`
  return {
    records,
    history,
    recordKey: (key) => `${records}${pathOf(key)}`,
    historyBase,
    historyKey: (key, version) => `${historyBase(key)}${String(version).padStart(VERSION_DIGITS, "0")}`,
    keyOf: (etcdKey) => {
      const text = etcdKey.toString("utf8")
      if (!text.startsWith(records)) return undefined
      const segments = text.slice(records.length).split("/")
      if (segments.length !== 3) return undefined
      const [namespace, group, key] = segments as [string, string, string]
      return namespace.length > 0 && group.length > 0 && key.length > 0 ? { namespace, group, key } : undefined
    }
  }
}

const valueOf = (text: string, secret: boolean): ConfigValue => secret ? Redacted.make(text) : text

/** @internal A kept version as an entry (no gray, its own revision). */
export const historyEntry = (key: ConfigKey, record: HistoryRecord, revision: number): ConfigEntry => ({
  [TypeId]: TypeId,
  namespace: key.namespace,
  group: key.group,
  key: key.key,
  path: pathOf(key),
  value: valueOf(record.value, record.secret),
  secret: record.secret,
  version: record.version,
  revision,
  updatedAt: record.updatedAt,
  servedGray: false
})

/** @internal The stable entry of a (non-deleted) record whose etcd `mod_revision` is `revision`. */
export const toEntry = (key: ConfigKey, record: StoredRecord, revision: number): ConfigEntry => {
  const entry = historyEntry(key, record, revision)
  const gray = record.gray
  return gray === undefined
    ? entry
    : { ...entry, gray: { selector: gray.selector, value: valueOf(gray.value, gray.secret), version: gray.version } }
}

/** @internal The stored text of a value: secrets are unwrapped to be written (etcd holds text). */
export const storedText: (value: ConfigValue) => string = rawValue

/** @internal etcd's int64 revisions arrive as strings; they stay below 2^53 in practice. */
export const revisionOf = (kv: IKeyValue): number => Number(kv.mod_revision)

const REGEXP_SPECIAL = ".*+?^${}()|[]\\"

/**
 * @internal The literal text every path matching `pattern` starts with, so a read or a watch can
 * cover `<prefix>/config/<literal>` instead of every key. A glob's literal prefix runs up to its
 * first `*` or `?`. A RegExp has one only when anchored (`^`), without alternation and without the
 * `i` or `m` flags; escaped punctuation counts as literal; a quantified character does not.
 * The matcher still filters every candidate: this only narrows the range.
 */
export const literalPrefix = (pattern: string | RegExp): string => {
  if (typeof pattern === "string") {
    let end = 0
    while (end < pattern.length && pattern[end] !== "*" && pattern[end] !== "?") end++
    return pattern.slice(0, end)
  }
  const source = pattern.source
  if (!source.startsWith("^") || source.includes("|") || /[im]/.test(pattern.flags)) return ""
  let literal = ""
  let index = 1
  while (index < source.length) {
    const char = source[index]!
    let next: string
    let width: number
    if (char === "\\") {
      const escaped = source[index + 1]
      // \d, \w, \b, \u0041, \1 ...: classes, assertions and codes, not literals.
      if (escaped === undefined || /[0-9A-Za-z]/.test(escaped)) break
      next = escaped
      width = 2
    } else if (REGEXP_SPECIAL.includes(char)) {
      break
    } else {
      next = char
      width = 1
    }
    const after = source[index + width]
    if (after === "?" || after === "*" || after === "+" || after === "{") break
    literal += next
    index += width
  }
  return literal
}
