/**
 * A config center: values addressed by namespace / group / key, every write a new version,
 * compare-and-set by version, a bounded history with rollback, gray (canary) releases visible
 * only to instances whose labels match a selector, and watches by glob or regex as a `Stream`.
 * On top: `typed` (a Schema per key) and `configProvider` (so `Config.string("db.url")` reads
 * live values). Secrets are `Redacted` end to end.
 *
 * Like etcd, a center keeps one global, monotonically increasing revision: every change gets the
 * next one, so watchers see changes in revision order. A watcher's buffer is bounded: when it
 * fills, superseded versions of a key are dropped, never the latest of any key, so a slow watcher
 * may skip intermediate versions but always ends at the latest state, in order.
 *
 * @since 0.1.0
 */
import type { Config, ConfigError, ConfigProvider, Schema } from "effect"
import { Context, Effect, Layer, type Scope } from "effect"
import type * as Etcd from "./Etcd.js"
import type { DiscoveryBackendError, InvalidOptions } from "./Errors.js"
import * as etcdBackend from "./internal/configCenterEtcd.js"
import * as etcdStore from "./internal/configCenterEtcdStore.js"
import * as memory from "./internal/configCenterMemory.js"
import * as model from "./internal/configCenterModel.js"
import type * as service from "./internal/configCenterService.js"
import * as typedConfig from "./internal/configCenterTyped.js"

/**
 * @since 0.1.0
 * @category symbols
 */
export const TypeId: model.TypeId = model.TypeId

/**
 * @since 0.1.0
 * @category symbols
 */
export type TypeId = model.TypeId

/**
 * The address of a value: `namespace`, `group` and `key`, each non-empty and without "/";
 * rendered as the path `namespace/group/key` (what `watch` patterns match).
 *
 * @since 0.1.0
 * @category models
 */
export type ConfigKey = model.ConfigKey

/**
 * Instance labels (`{ zone: "eu-1", canary: "true" }`), and the selector of a gray release: an
 * instance sees the gray value when every pair of the selector is among its labels.
 *
 * @since 0.1.0
 * @category models
 */
export type Labels = model.Labels

/**
 * A stored value: plain text, or `Redacted` for a secret entry.
 *
 * @since 0.1.0
 * @category models
 */
export type ConfigValue = model.ConfigValue

/**
 * A pending gray release of a key: its value is visible only to instances whose labels match
 * `selector`, until `promoteGray` (it becomes version `version`) or `abandonGray`.
 *
 * @since 0.1.0
 * @category models
 */
export type GrayRelease = model.GrayRelease

/**
 * One version of a key as a reader sees it. `version` counts writes of the key (from 1, never
 * reused, even after a delete); `revision` is the center's global revision of the key's last
 * change. A secret entry holds `Redacted` values (`value` and `gray.value`): `String(entry)` and
 * `JSON.stringify(entry)` never show them. `servedGray` is true when the reader's labels matched
 * the gray selector and `value` is the gray value.
 *
 * @since 0.1.0
 * @category models
 */
export type ConfigEntry = model.ConfigEntry

/**
 * A change seen by a watcher: a key written (its entry as the watcher's labels see it) or deleted.
 *
 * @since 0.1.0
 * @category models
 */
export type ConfigChange = model.ConfigChange

/**
 * The events of a center. They carry paths, versions and revisions, never values.
 *
 * @since 0.1.0
 * @category events
 */
export type ConfigEvent = model.ConfigEvent

/**
 * The config center service. Backend-neutral: the memory and etcd backends implement it.
 *
 * - `get(key, { labels })`: the current entry (the gray value when `labels` match the selector).
 * - `put(key, value, { expectedVersion, secret })`: writes a new version. `expectedVersion` makes
 *   it a compare-and-set (0: the key must not exist). `secret` (default: true for a `Redacted`
 *   value or a key that is already secret) stores the value `Redacted`.
 * - `delete(key, { expectedVersion })`: removes the key; history and the version count are kept.
 * - `history(key, { limit })`: kept versions, newest first.
 * - `rollback(key, toVersion)`: writes a NEW version holding a kept version's value.
 * - `putGray`, `promoteGray`, `abandonGray`: gray release of an existing key.
 * - `list(pattern, { labels })`: the current entries whose path matches, in revision order.
 * - `watch(pattern, { labels })`: the current matching entries, then every change, in revision order.
 *   `pattern` is a glob (`*` within a segment, `**` across segments, `?` one character) or a RegExp
 *   tested against the path.
 *
 * @since 0.1.0
 * @category models
 */
export type Service = service.ConfigCenterService

/**
 * @since 0.1.0
 * @category models
 * @example
 * import { Effect } from "effect"
 * import { ConfigCenter } from "@rampart/discovery"
 *
 * const program = Effect.gen(function*() {
 *   const center = yield* ConfigCenter.ConfigCenter
 *   const key = { namespace: "prod", group: "orders", key: "db.url" }
 *   yield* center.put(key, "postgres://db-1/orders")
 *   const entry = yield* center.put(key, "postgres://db-2/orders", { expectedVersion: 1 })
 *   // entry.version === 2
 * }).pipe(Effect.provide(ConfigCenter.layerMemory({ name: "config" })))
 */
export class ConfigCenter extends Context.Tag("@rampart/discovery/ConfigCenter")<ConfigCenter, Service>() {}

/**
 * The options of the memory backend.
 *
 * - `name`: the instance name (events, metric label).
 * - `historyLimit`: versions kept per key for `history` and `rollback` (default 20).
 * - `watchBufferSize`: changes a watcher may have pending before superseded versions are dropped
 *   (default 1024).
 *
 * @since 0.1.0
 * @category options
 */
export const MemoryConfigCenterOptions = model.MemoryConfigCenterOptions

/**
 * @since 0.1.0
 * @category options
 */
export type MemoryConfigCenterOptions = typeof MemoryConfigCenterOptions.Type

/**
 * What `makeMemory` accepts.
 *
 * @since 0.1.0
 * @category options
 */
export type MemoryConfigCenterOptionsInput = typeof MemoryConfigCenterOptions.Encoded

/**
 * Makes a memory config center: every operation is synchronous bookkeeping. Deleted keys keep a
 * tombstone (history and version count) for the life of the center.
 *
 * @since 0.1.0
 * @category constructors
 * @example
 * const center = yield* ConfigCenter.makeMemory({ name: "config", historyLimit: 50 })
 */
export const makeMemory: (options: MemoryConfigCenterOptionsInput) => Effect.Effect<Service, InvalidOptions> =
  memory.makeMemory

/**
 * A layer with one memory config center.
 *
 * @since 0.1.0
 * @category constructors
 */
export const layerMemory = (options: MemoryConfigCenterOptionsInput): Layer.Layer<ConfigCenter, InvalidOptions> =>
  Layer.effect(ConfigCenter, makeMemory(options))

/**
 * A layer with one memory config center whose options are read from `Config` (e.g.
 * `Config.all({ name: Config.string("name"), historyLimit: Config.integer("historyLimit") })`).
 *
 * @since 0.1.0
 * @category constructors
 */
export const layerMemoryConfig = (
  config: Config.Config<MemoryConfigCenterOptionsInput>
): Layer.Layer<ConfigCenter, InvalidOptions | ConfigError.ConfigError> =>
  Layer.effect(ConfigCenter, Effect.flatMap(config, makeMemory))

/**
 * @since 0.1.0
 * @category guards
 */
export const isConfigEntry = (u: unknown): u is ConfigEntry => typeof u === "object" && u !== null && TypeId in u

/**
 * The path of a key: `namespace/group/key`.
 *
 * @since 0.1.0
 * @category getters
 */
export const pathOf: (key: ConfigKey) => string = model.pathOf

/**
 * The plain text of a value. Unwraps a secret: keep the result out of logs.
 *
 * @since 0.1.0
 * @category getters
 */
export const unsafeRawValue: (value: ConfigValue) => string = model.rawValue

/**
 * A key read and written through a Schema.
 *
 * - `get`: the decoded current value (`ConfigDecodeError` when the stored text does not decode).
 * - `put(a)`: encodes and writes.
 * - `putEncoded(text)`: writes stored text only if it decodes; otherwise refused with
 *   `ConfigDecodeError` whose `reason` is the `ParseError` message.
 * - `watch`: the decoded value now and after every write. Deletions are not emitted. A stored
 *   value that does not decode (written untyped) fails the stream with `ConfigDecodeError` rather
 *   than being skipped silently; re-subscribe (e.g. `Stream.retry`) to resume from the current value.
 *
 * @since 0.1.0
 * @category models
 */
export type TypedConfig<A> = typedConfig.TypedConfig<A>

/**
 * A typed view of one key. A schema whose encoded side is a string (`Schema.String`,
 * `Schema.NumberFromString`, literals) stores its encoded text as is; any other schema stores
 * JSON of its encoded value.
 *
 * @since 0.1.0
 * @category combinators
 * @example
 * const Pool = Schema.Struct({ min: Schema.Int, max: Schema.Int })
 * const pool = ConfigCenter.typed(center, { namespace: "prod", group: "orders", key: "pool" }, Pool)
 * yield* pool.put({ min: 1, max: 10 })
 * yield* pool.putEncoded("{\"min\":\"one\"}") // fails with ConfigDecodeError
 */
export const typed: <A, I>(
  center: Service,
  key: ConfigKey,
  schema: Schema.Schema<A, I>,
  options?: { readonly labels?: Labels | undefined }
) => TypedConfig<A> = typedConfig.typed

/**
 * Options of `configProvider`: the namespace and group read, the reader's labels (for gray
 * values), the delimiter joining a config path into a key (default "."), and the delimiter of
 * sequences (default ",").
 *
 * @since 0.1.0
 * @category options
 */
export type ConfigProviderOptions = typedConfig.ConfigProviderOptions

/**
 * A `ConfigProvider` over one namespace / group whose every read goes to the center, so
 * `Config.string("db.url")` reads the live value of key `db.url` and `Config.redacted("db.password")`
 * reads a secret. A missing key is `ConfigError.MissingData`; a backend failure `InvalidData`.
 *
 * @since 0.1.0
 * @category combinators
 * @example
 * const provider = ConfigCenter.configProvider(center, { namespace: "prod", group: "orders" })
 * const url = yield* Effect.withConfigProvider(Config.string("db.url"), provider)
 */
export const configProvider: (center: Service, options: ConfigProviderOptions) => ConfigProvider.ConfigProvider =
  typedConfig.configProvider

/**
 * A layer that makes the config center the default `ConfigProvider` of the program.
 *
 * @since 0.1.0
 * @category constructors
 */
export const layerConfigProvider = (options: ConfigProviderOptions): Layer.Layer<never, never, ConfigCenter> =>
  Layer.unwrapEffect(Effect.map(ConfigCenter, (center) => Layer.setConfigProvider(configProvider(center, options))))

// ---------------------------------------------------------------------------------------------
// etcd backend
// ---------------------------------------------------------------------------------------------

/**
 * The options of the etcd backend (the connection itself comes from the `Etcd.Etcd` service).
 *
 * - `name`: the instance name (events, metric label).
 * - `historyLimit`: versions kept per key for `history` and `rollback` (default 20); older
 *   versions are deleted from etcd in the transaction of the write that passes the limit.
 * - `watchBufferSize`: changes a watcher may have pending before superseded versions are dropped
 *   (default 1024).
 *
 * @since 0.1.0
 * @category options
 */
export const EtcdConfigCenterOptions = etcdStore.EtcdConfigCenterOptions

/**
 * @since 0.1.0
 * @category options
 */
export type EtcdConfigCenterOptions = typeof EtcdConfigCenterOptions.Type

/**
 * What `makeEtcd` accepts.
 *
 * @since 0.1.0
 * @category options
 */
export type EtcdConfigCenterOptionsInput = typeof EtcdConfigCenterOptions.Encoded

/**
 * Makes a config center stored in etcd, under `<prefix>/config/` (records) and
 * `<prefix>/config-history/` (kept versions) of the `Etcd.Etcd` connection. Same semantics as the
 * memory backend, shared by every process using the same cluster and prefix:
 *
 * - every write is one etcd transaction guarded by the record's `mod_revision`, retried from a
 *   fresh read when another writer got in first; `expectedVersion` is checked against that fresh
 *   read, so of two processes doing a compare-and-set from the same version exactly one wins;
 * - `revision` is etcd's global revision; reads are linearizable;
 * - `watch` reads the matching records at a revision, then watches from the next one; after a
 *   reconnect it resumes from the revision after the last one applied (no change is missed); only
 *   when that revision was compacted does it re-read what changed, so a watcher always ends at the
 *   latest state.
 *
 * Fails with `DiscoveryBackendError` when etcd does not answer a first request within the
 * connection's `requestTimeout`. Open watches stop when the scope closes.
 *
 * @since 0.1.0
 * @category constructors
 * @example
 * import { Effect } from "effect"
 * import { ConfigCenter, Etcd } from "@rampart/discovery"
 *
 * const program = Effect.gen(function*() {
 *   const center = yield* ConfigCenter.makeEtcd({ name: "config", historyLimit: 50 })
 *   const key = { namespace: "prod", group: "orders", key: "db.url" }
 *   const first = yield* center.put(key, "postgres://db-1/orders")
 *   yield* center.put(key, "postgres://db-2/orders", { expectedVersion: first.version })
 * }).pipe(
 *   Effect.scoped,
 *   Effect.provide(Etcd.layer({ hosts: "http://127.0.0.1:2379", prefix: "apps" }))
 * )
 */
export const makeEtcd: (
  options: EtcdConfigCenterOptionsInput
) => Effect.Effect<Service, InvalidOptions | DiscoveryBackendError, Scope.Scope | Etcd.Etcd> = etcdBackend.makeEtcd

/**
 * A layer with one etcd config center over the `Etcd.Etcd` connection.
 *
 * @since 0.1.0
 * @category constructors
 */
export const layerEtcd = (
  options: EtcdConfigCenterOptionsInput
): Layer.Layer<ConfigCenter, InvalidOptions | DiscoveryBackendError, Etcd.Etcd> =>
  Layer.scoped(ConfigCenter, makeEtcd(options))
