/**
 * Jump consistent hash (Lamping & Veach 2014): maps a 64-bit key to one of n buckets in about
 * ln(n) steps with no memory at all, near-perfect balance and minimal movement when n grows.
 * Buckets are the nodes in the order given; the key's 64-bit jump key is its MurmurHash3 pair.
 * The 64-bit LCG of the paper is computed in 32-bit halves with exact double arithmetic
 * (bit-compatible with the reference code, no BigInt).
 *
 * Membership rules. Jump hash numbers buckets 0..n-1, so only changes at the END are cheap:
 * appending a node moves ~K/(n+1) keys, all to the new node; removing the LAST node moves only
 * its keys. Removing a node in the middle shifts every later node down one bucket, so the keys of
 * all later buckets change owner too (up to ~100% of keys when removing the first node). Keep a
 * failed middle node in the list (route around it with `unsafeNodesFor` fallbacks) or use
 * `rendezvous` / `hashRing` when members leave in any order.
 *
 * Weights are not supported: every weight must be 1 (anything else fails with `InvalidOptions`
 * naming `nodes.<i>.weight`). Approximate a weight of 2 by listing the node twice under distinct
 * ids (e.g. "cache-a#0", "cache-a#1") and mapping them back.
 *
 * @since 0.1.0
 */
import type { InvalidOptions } from "@rampart/core/Options"
import type { Effect } from "effect"
import * as hash from "./internal/hash.js"
import * as jump from "./internal/jumpHash.js"
import * as internal from "./internal/partitioner.js"
import type { Partitioner } from "./Partitioner.js"

/**
 * The options of a jump-hash partitioner:
 *
 * | option | type | default | meaning |
 * | --- | --- | --- | --- |
 * | `nodes` | `Array<{ id: string; weight?: 1 }>` | (required) | buckets in order; ids unique and non-empty; weight must be 1 |
 * | `seed` | 32-bit unsigned integer | 0 | changes every hash (an independent placement) |
 *
 * @since 0.1.0
 * @category options
 */
export const JumpHashOptions = internal.JumpHashOptions

/**
 * @since 0.1.0
 * @category options
 */
export type JumpHashOptions = typeof JumpHashOptions.Type

/**
 * @since 0.1.0
 * @category options
 */
export type JumpHashOptionsInput = typeof JumpHashOptions.Encoded

/**
 * A jump-hash partitioner (the same as `Partitioner.make({ algorithm: "jumpHash", ... })`).
 *
 * @since 0.1.0
 * @category constructors
 * @example
 * import { JumpHash } from "@rampart/balancing"
 *
 * const shards = yield* JumpHash.make({ nodes: [{ id: "shard-0" }, { id: "shard-1" }, { id: "shard-2" }] })
 * shards.unsafeNodeFor("tenant:acme")?.id
 */
export const make: (options: JumpHashOptionsInput) => Effect.Effect<Partitioner, InvalidOptions> = internal.makeWith(
  "JumpHash",
  JumpHashOptions,
  (options) => ({ algorithm: "jumpHash", ...options })
)

/**
 * The raw algorithm: the bucket in [0, buckets) of the 64-bit key `high × 2^32 + low`, exactly
 * as the paper's `JumpConsistentHash(key, num_buckets)`; -1 when `buckets` is 0.
 *
 * @since 0.1.0
 * @category hashing
 */
export const bucket: (high: number, low: number, buckets: number) => number = jump.jumpBucket

const scratch = new Uint32Array(2)

/**
 * The bucket in [0, buckets) of a string key (its MurmurHash3 pair as the 64-bit key), as a
 * jump-hash partitioner with that many nodes and this seed would choose.
 *
 * @since 0.1.0
 * @category hashing
 */
export const bucketFor = (key: string, buckets: number, seed = 0): number => {
  hash.murmur3Pair(key, seed, scratch)
  return jump.jumpBucket(scratch[0]!, scratch[1]!, buckets)
}
