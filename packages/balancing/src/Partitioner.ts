/**
 * A `Partitioner` maps keys to nodes so that every process with the same membership agrees on
 * the owner, and a membership change moves as few keys as possible. One interface, four
 * algorithms, chosen by `algorithm`:
 *
 * | algorithm | lookup | balance | movement on change | weights |
 * | --- | --- | --- | --- | --- |
 * | `hashRing` | binary search, O(log(n × virtualNodes)) | ~1/√virtualNodes spread | minimal (only the changed node's keys) | yes (virtual nodes per unit of weight) |
 * | `rendezvous` | O(n) scores | near perfect | minimal | yes (logarithmic method) |
 * | `jumpHash` | O(ln n), no memory | near perfect | minimal only when appending or removing the LAST node | no |
 * | `maglev` | one table read | near perfect | somewhat more than K/n | yes (fill turns) |
 *
 * Partitioners are immutable values: `addNode`, `removeNode` and `withNodes` return a new one
 * with the same algorithm and options. Lookups (`unsafeNodeFor`) are synchronous and allocate
 * nothing. Placement depends only on the node ids, weights, options and key (MurmurHash3 over
 * UTF-8, see `Hash`), so it is the same in every process and every version.
 *
 * `PartitionNode` is the node type the load balancers of this package share.
 *
 * @since 0.1.0
 */
import type { InvalidOptions } from "@rampart/core/Options"
import type { Effect, Option, Pipeable, Schema } from "effect"
import type * as nodes from "./internal/nodes.js"
import * as internal from "./internal/partitioner.js"

/**
 * @since 0.1.0
 * @category symbols
 */
export const TypeId: unique symbol = internal.TypeId

/**
 * @since 0.1.0
 * @category symbols
 */
export type TypeId = typeof TypeId

/**
 * A member: a unique, non-empty `id` (an address, a shard name) and a positive `weight`
 * (default 1) that scales its share of keys.
 *
 * @since 0.1.0
 * @category models
 */
export interface PartitionNode extends nodes.PartitionNode {}

/**
 * A node as the constructors accept it: the weight may be omitted (1).
 *
 * @since 0.1.0
 * @category models
 */
export interface PartitionNodeInput {
  readonly id: string
  readonly weight?: number | undefined
}

/**
 * The algorithm behind a partitioner.
 *
 * @since 0.1.0
 * @category models
 */
export type Algorithm = internal.Algorithm

/**
 * Maps keys to nodes. An immutable value; see the module docs for the algorithms.
 *
 * @since 0.1.0
 * @category models
 */
export interface Partitioner extends Pipeable.Pipeable {
  readonly [TypeId]: TypeId
  readonly algorithm: Algorithm
  /** The members, in the order given. */
  readonly nodes: ReadonlyArray<PartitionNode>
  /** The decoded options (defaults filled in) this partitioner was built with. */
  readonly options: PartitionerOptions
  /** Owner of the key; `undefined` only when there are no nodes. Synchronous, allocation-free. */
  readonly unsafeNodeFor: (key: string) => PartitionNode | undefined
  /**
   * Up to `count` distinct nodes for the key in preference order (replicas, fallbacks); the
   * first is always `unsafeNodeFor(key)`. The hash ring walks clockwise; rendezvous ranks by
   * score; jump hash and Maglev follow their owner with the rest in rendezvous order.
   */
  readonly unsafeNodesFor: (key: string, count: number) => ReadonlyArray<PartitionNode>
}

/**
 * One node: `id` a non-empty string, `weight` a positive finite number (default 1).
 *
 * @since 0.1.0
 * @category options
 */
export const NodeInput = internal.NodeInput

/**
 * A list of nodes with unique ids.
 *
 * @since 0.1.0
 * @category options
 */
export const Nodes = internal.Nodes

/**
 * The options of every algorithm, discriminated by `algorithm`:
 *
 * - `{ algorithm: "hashRing", nodes, virtualNodes?: 2000, seed?: 0 }`
 * - `{ algorithm: "rendezvous", nodes, seed?: 0 }`
 * - `{ algorithm: "jumpHash", nodes, seed?: 0 }` (every weight must be 1)
 * - `{ algorithm: "maglev", nodes, tableSize?: 65537, seed?: 0 }` (a prime ≥ 100 × nodes)
 *
 * `seed` (a 32-bit unsigned integer) changes every hash, giving an independent placement.
 *
 * @since 0.1.0
 * @category options
 */
export const PartitionerOptions: Schema.Schema<PartitionerOptions, PartitionerOptionsInput> =
  internal.PartitionerOptions

/**
 * The decoded options (defaults filled in).
 *
 * @since 0.1.0
 * @category options
 */
export type PartitionerOptions = internal.PartitionerOptions

/**
 * What `make` accepts.
 *
 * @since 0.1.0
 * @category options
 */
export type PartitionerOptionsInput = internal.PartitionerOptionsInput

/**
 * Builds a partitioner. Fails with `InvalidOptions` naming the field on an empty or repeated node
 * id, a weight that is not positive (or not 1 for jump hash), a table size that is not a large
 * enough prime, or an unknown option.
 *
 * @since 0.1.0
 * @category constructors
 * @example
 * import { Partitioner } from "@rampart/balancing"
 * import { Effect } from "effect"
 *
 * const program = Effect.gen(function*() {
 *   const ring = yield* Partitioner.make({
 *     algorithm: "hashRing",
 *     nodes: [{ id: "cache-a" }, { id: "cache-b" }, { id: "cache-c", weight: 2 }]
 *   })
 *   const owner = ring.unsafeNodeFor("user:42")       // { id: "cache-…", weight: … }
 *   const bigger = yield* Partitioner.addNode(ring, { id: "cache-d" })
 *   return [owner, bigger.unsafeNodesFor("user:42", 2)]
 * })
 */
export const make: (options: PartitionerOptionsInput) => Effect.Effect<Partitioner, InvalidOptions> = internal.make

/**
 * @since 0.1.0
 * @category guards
 */
export const isPartitioner: (u: unknown) => u is Partitioner = internal.isPartitioner

/**
 * A partitioner with the same algorithm and options over a new membership.
 *
 * @since 0.1.0
 * @category combinators
 */
export const withNodes: {
  (nodes: ReadonlyArray<PartitionNodeInput>): (self: Partitioner) => Effect.Effect<Partitioner, InvalidOptions>
  (self: Partitioner, nodes: ReadonlyArray<PartitionNodeInput>): Effect.Effect<Partitioner, InvalidOptions>
} = internal.withNodes

/**
 * A partitioner with one more node (appended, which for jump hash is the only minimal-movement
 * change). Fails with `InvalidOptions` if the id is already a member.
 *
 * @since 0.1.0
 * @category combinators
 * @example
 * import { Partitioner } from "@rampart/balancing"
 *
 * const grown = Partitioner.addNode(ring, { id: "cache-d", weight: 1 })
 */
export const addNode: {
  (node: PartitionNodeInput): (self: Partitioner) => Effect.Effect<Partitioner, InvalidOptions>
  (self: Partitioner, node: PartitionNodeInput): Effect.Effect<Partitioner, InvalidOptions>
} = internal.addNode

/**
 * A partitioner without the node of this id. Fails with `InvalidOptions` (naming `nodeId`) if
 * there is no such node.
 *
 * @since 0.1.0
 * @category combinators
 */
export const removeNode: {
  (nodeId: string): (self: Partitioner) => Effect.Effect<Partitioner, InvalidOptions>
  (self: Partitioner, nodeId: string): Effect.Effect<Partitioner, InvalidOptions>
} = internal.removeNode

/**
 * The owner of a key, `Option.none()` when there are no nodes.
 *
 * @since 0.1.0
 * @category getters
 */
export const nodeFor: {
  (key: string): (self: Partitioner) => Option.Option<PartitionNode>
  (self: Partitioner, key: string): Option.Option<PartitionNode>
} = internal.nodeFor

/**
 * Up to `count` distinct nodes for a key in preference order (the owner first).
 *
 * @since 0.1.0
 * @category getters
 */
export const nodesFor: {
  (key: string, count: number): (self: Partitioner) => ReadonlyArray<PartitionNode>
  (self: Partitioner, key: string, count: number): ReadonlyArray<PartitionNode>
} = internal.nodesFor
