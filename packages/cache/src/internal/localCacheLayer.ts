import { Config, type ConfigError, Context, Effect, Layer, Option } from "effect"
import type * as LC from "../LocalCache.js"
import { make, makeLoading } from "./localCache.js"
import type { InvalidOptions } from "@rampart/core/Options"

export const Tag = <const Id extends string>(id: Id) => <Self, K, V>(): Context.TagClass<Self, Id, LC.LocalCache<K, V>> =>
  Context.Tag(id)<Self, LC.LocalCache<K, V>>()

export const LoadingTag = <const Id extends string>(id: Id) =>
<Self, K, V, E = never>(): Context.TagClass<Self, Id, LC.LoadingCache<K, V, E>> =>
  Context.Tag(id)<Self, LC.LoadingCache<K, V, E>>()

export const layer = <Self, K, V>(
  tag: Context.Tag<Self, LC.LocalCache<K, V>>,
  options: LC.LocalCacheOptionsInput<K, V>
): Layer.Layer<Self, InvalidOptions> => Layer.scoped(tag, make(options))

export const layerLoading = <Self, K, V, E, R>(
  tag: Context.Tag<Self, LC.LoadingCache<K, V, E>>,
  options: LC.LoadingCacheOptionsInput<K, V, E, R>
): Layer.Layer<Self, InvalidOptions, R> => Layer.scoped(tag, makeLoading(options))

const optional = <A>(config: Config.Config<A>) => Config.map(Config.option(config), Option.getOrUndefined)

export const config: Config.Config<LC.LocalCacheConfig> = Config.map(
  Config.all({
    name: Config.string("name"),
    policy: optional(Config.literal("wTinyLfu", "lru", "lfu", "fifo")("policy")),
    maximumSize: optional(Config.integer("maximumSize")),
    maximumWeight: optional(Config.number("maximumWeight")),
    expireAfterWrite: optional(Config.string("expireAfterWrite")),
    expireAfterAccess: optional(Config.string("expireAfterAccess")),
    ttlJitter: optional(Config.number("ttlJitter")),
    refreshAfterWrite: optional(Config.string("refreshAfterWrite")),
    staleIfError: optional(Config.string("staleIfError"))
  }),
  (read) => {
    // Absent keys stay absent, so the options schema applies its defaults.
    const result: Record<string, unknown> = {}
    for (const [key, value] of Object.entries(read)) if (value !== undefined) result[key] = value
    return result as unknown as LC.LocalCacheConfig
  }
)

export const layerConfig = <Self, K, V>(
  tag: Context.Tag<Self, LC.LocalCache<K, V>>,
  options: {
    readonly config?: Config.Config<LC.LocalCacheConfig>
    readonly weigher?: (key: K, value: V) => number
    readonly onRemoval?: (key: K, value: V, cause: LC.RemovalCause) => void
  } = {}
): Layer.Layer<Self, InvalidOptions | ConfigError.ConfigError> =>
  Layer.scoped(
    tag,
    Effect.flatMap(options.config ?? config, (read) => {
      const { refreshAfterWrite: _refresh, staleIfError: _stale, ...local } = read
      return make<K, V>({
        ...local,
        ...(options.weigher === undefined ? {} : { weigher: options.weigher }),
        ...(options.onRemoval === undefined ? {} : { onRemoval: options.onRemoval })
      })
    })
  )

export const layerLoadingConfig = <Self, K, V, E, R>(
  tag: Context.Tag<Self, LC.LoadingCache<K, V, E>>,
  options: {
    readonly config?: Config.Config<LC.LocalCacheConfig>
    readonly lookup: (key: K) => Effect.Effect<V, E, R>
    readonly lookupAll?: (keys: ReadonlyArray<K>) => Effect.Effect<ReadonlyMap<K, V>, E, R>
    readonly weigher?: (key: K, value: V) => number
    readonly onRemoval?: (key: K, value: V, cause: LC.RemovalCause) => void
  }
): Layer.Layer<Self, InvalidOptions | ConfigError.ConfigError, R> =>
  Layer.scoped(
    tag,
    Effect.flatMap(options.config ?? config, (read) => {
      const { config: _config, ...code } = options
      return makeLoading<K, V, E, R>({ ...read, ...code })
    })
  )
