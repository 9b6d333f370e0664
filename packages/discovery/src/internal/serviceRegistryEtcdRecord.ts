/**
 * The etcd registry's key layout and stored record.
 *
 * Keys (under the connection prefix `<prefix>`):
 * - `<prefix>/registry/<namespace>/<instanceId>`: one instance, a JSON `InstanceRecord`, attached to
 *   the instance's lease (so etcd deletes it when the lease lapses or is revoked).
 * - `<prefix>/registry/<namespace>/<instanceId>/deregistered`: a marker written in the same
 *   transaction that deletes the instance key on `deregister` (and attached to the same lease,
 *   revoked right after), so every watcher can tell a deregistration from an expiry.
 *
 * The key holds namespace and id but not the service: instance ids are unique per namespace (as in
 * the memory backend), and `heartbeat` / `deregister` / `setStatus` name an instance by namespace
 * and id only.
 */
import { Either, Schema } from "effect"
import * as schemas from "./serviceRegistrySchemas.js"

/** The record stored under an instance key. @internal */
export const InstanceRecord = Schema.Struct({
  instance: schemas.ServiceInstance,
  status: schemas.HealthStatus,
  output: Schema.optional(Schema.String),
  /** Milliseconds since the epoch, from the registering client's clock. */
  registeredAt: Schema.Number,
  /** The lease TTL (whole seconds, in milliseconds). */
  ttlMillis: Schema.Number,
  /** The lease id, decimal (also the key's own `lease` field). */
  lease: Schema.String
})

/** @internal */
export type InstanceRecord = typeof InstanceRecord.Type

const decodeJson = Schema.decodeUnknownEither(Schema.parseJson(InstanceRecord))
const encodeJson = Schema.encodeSync(Schema.parseJson(InstanceRecord))

/** The record of a stored value, or undefined when it is not one of ours. @internal */
export const decodeRecord = (value: Buffer | string): InstanceRecord | undefined => {
  const decoded = decodeJson(typeof value === "string" ? value : value.toString("utf8"))
  return Either.isRight(decoded) ? decoded.right : undefined
}

/** @internal */
export const encodeRecord = (record: InstanceRecord): string => encodeJson(record)

/** The suffix of a deregistration marker key. @internal */
export const markerSuffix = "/deregistered"

/** @internal */
export interface Keys {
  /** `<prefix>/registry/` */
  readonly root: string
  /** The first key after every key starting with `root` (`<prefix>/registry0`). */
  readonly rootEnd: string
  readonly instance: (namespace: string, instanceId: string) => string
  readonly marker: (namespace: string, instanceId: string) => string
}

/** @internal */
export const makeKeys = (prefix: string): Keys => {
  const root = `${prefix}/registry/`
  return {
    root,
    rootEnd: `${prefix}/registry0`,
    instance: (namespace, instanceId) => `${root}${namespace}/${instanceId}`,
    marker: (namespace, instanceId) => `${root}${namespace}/${instanceId}${markerSuffix}`
  }
}

/** What a key under `root` names. @internal */
export type ParsedKey =
  | { readonly _tag: "Instance"; readonly namespace: string; readonly instanceId: string }
  | { readonly _tag: "Marker"; readonly namespace: string; readonly instanceId: string }
  | { readonly _tag: "Other" }

const other: ParsedKey = { _tag: "Other" }

/** @internal */
export const parseKey = (root: string, key: string): ParsedKey => {
  if (!key.startsWith(root)) return other
  const parts = key.slice(root.length).split("/")
  const namespace = parts[0]
  const instanceId = parts[1]
  if (namespace === undefined || instanceId === undefined || namespace === "" || instanceId === "") return other
  if (parts.length === 2) return { _tag: "Instance", namespace, instanceId }
  if (parts.length === 3 && parts[2] === "deregistered") return { _tag: "Marker", namespace, instanceId }
  return other
}

/** Whether a name can be a key segment (no "/"). @internal */
export const isSegment = (name: string): boolean => name.length > 0 && !name.includes("/")
