import { Either, ParseResult, Schema } from "effect"
import { Name, PositiveDuration, PositiveInt, PositiveNumber } from "@rampart/core/Options"

/**
 * How values become the strings a store holds. `encode` and `decode` return `Either` so a value
 * that cannot be written or read back becomes a typed `CacheValueError`, never a thrown exception.
 */
export interface ValueCodec<V> {
  readonly _tag: "ValueCodec"
  readonly encode: (value: V) => Either.Either<string, string>
  readonly decode: (text: string) => Either.Either<V, string>
}

const reasonOf = (cause: unknown): string => (cause instanceof Error ? cause.message : String(cause))

/** JSON, unchecked: the decoded value is trusted to be a `V`. */
export const jsonCodec = <V = unknown>(): ValueCodec<V> => ({
  _tag: "ValueCodec",
  encode: (value) => {
    try {
      const text: string | undefined = JSON.stringify(value)
      return text === undefined ? Either.left("the value has no JSON form") : Either.right(text)
    } catch (cause) {
      return Either.left(reasonOf(cause))
    }
  },
  decode: (text) => {
    try {
      return Either.right(JSON.parse(text) as V)
    } catch (cause) {
      return Either.left(reasonOf(cause))
    }
  }
})

/** JSON checked by a Schema both ways: a stored value that does not decode is a typed error. */
export const schemaCodec = <A, I>(schema: Schema.Schema<A, I>): ValueCodec<A> => {
  const json = Schema.parseJson(schema)
  const encode = Schema.encodeEither(json)
  const decode = Schema.decodeUnknownEither(json)
  const format = (error: ParseResult.ParseError) => ParseResult.TreeFormatter.formatErrorSync(error)
  return {
    _tag: "ValueCodec",
    encode: (value) => Either.mapLeft(encode(value), format),
    decode: (text) => Either.mapLeft(decode(text), format)
  }
}

export const isValueCodec = (u: unknown): u is ValueCodec<unknown> =>
  typeof u === "object" && u !== null && (u as { readonly _tag?: unknown })._tag === "ValueCodec" &&
  typeof (u as { readonly encode?: unknown }).encode === "function" &&
  typeof (u as { readonly decode?: unknown }).decode === "function"

const ValueCodecSchema = Schema.declare(isValueCodec, {
  identifier: "ValueCodec",
  description: "a codec from DistributedCache.jsonCodec() or DistributedCache.schemaCodec(schema)"
})

export const Algorithm = Schema.Literal("hashRing", "rendezvous", "jumpHash", "maglev")

/**
 * Partitioner options without `nodes` (the cache supplies them); checked by `Partitioner.make`,
 * whose `InvalidOptions` names the field.
 */
export const PartitionerSettings = Schema.declare(
  (u: unknown): u is { readonly algorithm: typeof Algorithm.Type } =>
    typeof u === "object" && u !== null && !("nodes" in u) &&
    Schema.is(Algorithm)((u as { readonly algorithm?: unknown }).algorithm),
  {
    identifier: "PartitionerSettings",
    description: "an algorithm name, or Partitioner options without nodes: { algorithm, virtualNodes?, seed?, ... }"
  }
)

export const CacheNode = Schema.Struct({
  id: Name,
  url: Schema.optional(Schema.String),
  weight: Schema.optional(PositiveNumber)
})

export const NearCacheOptions = Schema.Struct({
  maximumSize: Schema.optionalWith(PositiveInt, { default: () => 10_000 }),
  ttl: Schema.optional(PositiveDuration),
  policy: Schema.optional(Schema.Literal("wTinyLfu", "lru", "lfu", "fifo"))
})

export const DistributedCacheOptions = Schema.Struct({
  name: Name,
  nodes: Schema.optional(Schema.Array(CacheNode).pipe(Schema.minItems(1))),
  partitioner: Schema.optionalWith(Schema.Union(Algorithm, PartitionerSettings), {
    default: () => "hashRing" as const
  }),
  nearCache: Schema.optionalWith(Schema.Union(Schema.Literal(false), NearCacheOptions), {
    default: () => ({ maximumSize: 10_000 })
  }),
  ttl: Schema.optional(PositiveDuration),
  keyPrefix: Schema.optional(Schema.String),
  codec: Schema.optional(ValueCodecSchema)
})

export type DistributedCacheOptions = typeof DistributedCacheOptions.Type
export type DistributedCacheOptionsEncoded = typeof DistributedCacheOptions.Encoded

export const DistributedCacheUpdate = Schema.Struct({
  ttl: Schema.optional(PositiveDuration)
})
