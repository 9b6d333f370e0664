/**
 * The backend-neutral config center interface (memory now, etcd later).
 */
import type { Effect, Redacted, Stream } from "effect"
import type { ConfigNotFound, ConfigVersionConflict, DiscoveryBackendError, InvalidOptions } from "../Errors.js"
import type { ConfigChange, ConfigEntry, ConfigEvent, ConfigKey, Labels } from "./configCenterModel.js"

/** @internal */
export interface ConfigCenterService {
  readonly name: string
  readonly get: (
    key: ConfigKey,
    options?: { readonly labels?: Labels | undefined }
  ) => Effect.Effect<ConfigEntry, ConfigNotFound | DiscoveryBackendError>
  readonly put: (
    key: ConfigKey,
    value: string | Redacted.Redacted<string>,
    options?: { readonly expectedVersion?: number | undefined; readonly secret?: boolean | undefined }
  ) => Effect.Effect<ConfigEntry, ConfigVersionConflict | InvalidOptions | DiscoveryBackendError>
  readonly delete: (
    key: ConfigKey,
    options?: { readonly expectedVersion?: number | undefined }
  ) => Effect.Effect<void, ConfigNotFound | ConfigVersionConflict | DiscoveryBackendError>
  readonly history: (
    key: ConfigKey,
    options?: { readonly limit?: number | undefined }
  ) => Effect.Effect<ReadonlyArray<ConfigEntry>, ConfigNotFound | DiscoveryBackendError>
  readonly rollback: (
    key: ConfigKey,
    toVersion: number
  ) => Effect.Effect<ConfigEntry, ConfigNotFound | DiscoveryBackendError>
  readonly putGray: (
    key: ConfigKey,
    value: string | Redacted.Redacted<string>,
    selector: Labels
  ) => Effect.Effect<ConfigEntry, ConfigNotFound | InvalidOptions | DiscoveryBackendError>
  readonly promoteGray: (key: ConfigKey) => Effect.Effect<ConfigEntry, ConfigNotFound | DiscoveryBackendError>
  readonly abandonGray: (key: ConfigKey) => Effect.Effect<ConfigEntry, ConfigNotFound | DiscoveryBackendError>
  readonly list: (
    pattern: string | RegExp,
    options?: { readonly labels?: Labels | undefined }
  ) => Effect.Effect<ReadonlyArray<ConfigEntry>, DiscoveryBackendError>
  readonly watch: (
    pattern: string | RegExp,
    options?: { readonly labels?: Labels | undefined }
  ) => Stream.Stream<ConfigChange, DiscoveryBackendError>
  readonly events: Stream.Stream<ConfigEvent>
}
