/**
 * Typed config over a config center (a Schema per key) and a live `ConfigProvider` backed by it.
 */
import type { Config, ParseResult } from "effect"
import { ConfigError, ConfigProvider, ConfigProviderPathPatch, Effect, HashSet, Option, Schema, SchemaAST, Stream } from "effect"
import type { ConfigNotFound, ConfigVersionConflict, DiscoveryBackendError, InvalidOptions } from "../Errors.js"
import { ConfigDecodeError } from "../Errors.js"
import type { ConfigEntry, ConfigKey, Labels } from "./configCenterModel.js"
import { pathOf, rawValue } from "./configCenterModel.js"
import type { ConfigCenterService } from "./configCenterService.js"

/** @internal */
export interface TypedConfig<A> {
  readonly key: ConfigKey
  readonly get: Effect.Effect<A, ConfigNotFound | ConfigDecodeError | DiscoveryBackendError>
  readonly put: (
    value: A,
    options?: { readonly expectedVersion?: number | undefined; readonly secret?: boolean | undefined }
  ) => Effect.Effect<ConfigEntry, ConfigDecodeError | ConfigVersionConflict | InvalidOptions | DiscoveryBackendError>
  readonly putEncoded: (
    raw: string,
    options?: { readonly expectedVersion?: number | undefined; readonly secret?: boolean | undefined }
  ) => Effect.Effect<ConfigEntry, ConfigDecodeError | ConfigVersionConflict | InvalidOptions | DiscoveryBackendError>
  readonly watch: Stream.Stream<A, ConfigDecodeError | DiscoveryBackendError>
}

const isStringEncoded = (ast: SchemaAST.AST): boolean => {
  const encoded = SchemaAST.encodedAST(ast)
  switch (encoded._tag) {
    case "StringKeyword":
    case "TemplateLiteral":
      return true
    case "Literal":
      return typeof encoded.literal === "string"
    case "Refinement":
      return isStringEncoded(encoded.from)
    case "Union":
      return encoded.types.every(isStringEncoded)
    default:
      return false
  }
}

/**
 * @internal The stored text of a schema's values: the encoded string itself when the schema
 * encodes to a string (so `Schema.String` stores plain text), JSON of the encoded value otherwise.
 */
export const codecFor = <A, I>(schema: Schema.Schema<A, I>): Schema.Schema<A, string> =>
  isStringEncoded(schema.ast)
    // Checked above: the encoded side is a string.
    ? (schema as unknown as Schema.Schema<A, string>)
    : Schema.parseJson(schema)

const escapeRegExp = (text: string): string => text.replace(/[.*+?^${}()|[\]\\]/g, "\\$&")

/** @internal */
export const typed = <A, I>(
  center: ConfigCenterService,
  key: ConfigKey,
  schema: Schema.Schema<A, I>,
  options?: { readonly labels?: Labels | undefined }
): TypedConfig<A> => {
  const codec = codecFor(schema)
  const path = pathOf(key)
  const decodeEither = Schema.decodeEither(codec)
  const encodeEither = Schema.encodeEither(codec)
  const refuse = (error: ParseResult.ParseError) => new ConfigDecodeError({ key: path, reason: error.message })
  const decodeEntry = (entry: ConfigEntry) =>
    Effect.mapError(decodeEither(rawValue(entry.value)), refuse)
  const labels = options?.labels
  const readOptions = { labels }

  const putEncoded: TypedConfig<A>["putEncoded"] = (raw, putOptions) =>
    Effect.flatMap(Effect.mapError(decodeEither(raw), refuse), () => center.put(key, raw, putOptions))

  const put: TypedConfig<A>["put"] = (value, putOptions) =>
    Effect.flatMap(Effect.mapError(encodeEither(value), refuse), (raw) => center.put(key, raw, putOptions))

  const exact = new RegExp(`^${escapeRegExp(path)}$`)
  return {
    key,
    get: Effect.flatMap(center.get(key, readOptions), decodeEntry),
    put,
    putEncoded,
    watch: center.watch(exact, readOptions).pipe(
      Stream.filterMap((change) => change._tag === "Put" ? Option.some(change.entry) : Option.none()),
      Stream.mapEffect(decodeEntry)
    )
  }
}

/** @internal */
export interface ConfigProviderOptions {
  readonly namespace: string
  readonly group: string
  readonly labels?: Labels | undefined
  readonly pathDelim?: string | undefined
  readonly seqDelim?: string | undefined
}

/** @internal A `ConfigProvider` that reads the center on every load (live values). */
export const configProvider = (
  center: ConfigCenterService,
  options: ConfigProviderOptions
): ConfigProvider.ConfigProvider => {
  const { group, labels, namespace } = options
  const pathDelim = options.pathDelim ?? "."
  const seqDelim = options.seqDelim ?? ","
  const readOptions = { labels }
  const prefix = `${namespace}/${group}/`
  const groupPattern = new RegExp(`^${escapeRegExp(prefix)}`)
  const load = <A>(
    path: ReadonlyArray<string>,
    primitive: Config.Config.Primitive<A>,
    split: boolean
  ): Effect.Effect<Array<A>, ConfigError.ConfigError> => {
    const key = path.join(pathDelim)
    const where = Array.from(path)
    return Effect.matchEffect(center.get({ namespace, group, key }, readOptions), {
      onFailure: (error) =>
        Effect.fail(
          error._tag === "ConfigNotFound"
            ? ConfigError.MissingData(where, `Expected ${prefix}${key} to exist in config center "${center.name}"`)
            : ConfigError.InvalidData(where, error.message)
        ),
      onSuccess: (entry) => {
        const text = rawValue(entry.value)
        const parts = split ? text.split(seqDelim) : [text]
        return Effect.mapError(
          Effect.forEach(parts, (part) => primitive.parse(split ? part.trim() : part)),
          ConfigError.prefixed(where)
        )
      }
    })
  }
  const enumerateChildren = (path: ReadonlyArray<string>) =>
    Effect.matchEffect(center.list(groupPattern, readOptions), {
      onFailure: (error) => Effect.fail(ConfigError.InvalidData(Array.from(path), error.message)),
      onSuccess: (entries) => {
        const children: Array<string> = []
        for (const entry of entries) {
          const segments = entry.key.split(pathDelim)
          if (segments.length <= path.length) continue
          if (path.every((segment, index) => segments[index] === segment)) children.push(segments[path.length]!)
        }
        return Effect.succeed(HashSet.fromIterable(children))
      }
    })
  return ConfigProvider.fromFlat(
    ConfigProvider.makeFlat({ load, enumerateChildren, patch: ConfigProviderPathPatch.empty })
  )
}
