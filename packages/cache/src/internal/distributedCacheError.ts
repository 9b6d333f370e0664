import { Schema } from "effect"

/**
 * A value could not be encoded for the store, or a stored value could not be decoded (not JSON,
 * or not what the cache's schema expects).
 */
export class CacheValueError extends Schema.TaggedError<CacheValueError>("@rampart/cache/CacheValueError")(
  "CacheValueError",
  {
    cache: Schema.String,
    key: Schema.String,
    operation: Schema.Literal("encode", "decode"),
    reason: Schema.String
  }
) {
  override get message(): string {
    return `cache "${this.cache}" could not ${this.operation} the value of "${this.key}": ${this.reason}`
  }
}
