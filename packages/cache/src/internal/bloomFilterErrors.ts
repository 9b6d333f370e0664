import { Schema } from "effect"

/** @internal */
export class BloomFilterDecodeError extends Schema.TaggedError<BloomFilterDecodeError>(
  "@rampart/cache/BloomFilterDecodeError"
)("BloomFilterDecodeError", {
  reason: Schema.String
}) {
  override get message(): string {
    return `cannot decode Bloom filter: ${this.reason}`
  }
}

/** @internal */
export class BloomFilterMismatch extends Schema.TaggedError<BloomFilterMismatch>("@rampart/cache/BloomFilterMismatch")(
  "BloomFilterMismatch",
  {
    field: Schema.Literal("bitCount", "hashCount", "seed"),
    left: Schema.Number,
    right: Schema.Number
  }
) {
  override get message(): string {
    return `cannot merge Bloom filters with different ${this.field} (${this.left} vs ${this.right})`
  }
}
