import { InvalidOptions, PositiveInt, PositiveNumber } from "@rampart/core/Options"
import { Effect, Either, Option, ParseResult, Schema } from "effect"
import { dual } from "effect/Function"
import { pipeArguments } from "effect/Pipeable"
import { defaultVirtualNodes, hashRingLookup, maxRingPoints, pointCount } from "./hashRing.js"
import { jumpHashLookup } from "./jumpHash.js"
import { defaultTableSize, isPrime, maglevLookup, maxTableSize, minSlotsPerNode } from "./maglev.js"
import type * as P from "../Partitioner.js"
import type { Lookup } from "./nodes.js"
import { rendezvousLookup } from "./rendezvous.js"

/** @internal */
export const TypeId: P.TypeId = Symbol.for("@rampart/balancing/Partitioner") as P.TypeId

type PartitionNode = P.PartitionNode
type Partitioner = P.Partitioner

/** @internal */
export type Algorithm = "HashRing" | "Rendezvous" | "JumpHash" | "Maglev"

// ---------------------------------------------------------------------------------------------
// Options
// ---------------------------------------------------------------------------------------------

/** @internal */
export const NodeId = Schema.String.pipe(
  Schema.minLength(1, { message: () => "Expected a non-empty node id" })
)

/** @internal */
export const NodeInput = Schema.Struct({
  id: NodeId,
  weight: Schema.optionalWith(PositiveNumber, { default: () => 1 })
})

/** @internal */
export const Nodes = Schema.Array(NodeInput).pipe(
  Schema.maxItems(1_000_000),
  Schema.filter((nodes) => {
    const seen = new Set<string>()
    const issues: Array<Schema.FilterIssue> = []
    nodes.forEach((node, index) => {
      if (seen.has(node.id)) issues.push({ path: [index, "id"], message: `Expected unique node ids, "${node.id}" is repeated` })
      seen.add(node.id)
    })
    return issues.length === 0 ? undefined : issues
  })
)

/** @internal */
export const Seed = Schema.Int.pipe(
  Schema.between(0, 4294967295, { message: () => "Expected a 32-bit unsigned integer (0 to 4294967295)" })
)

const seedField = Schema.optionalWith(Seed, { default: () => 0 })

/** @internal */
export const hashRingFields = {
  nodes: Nodes,
  virtualNodes: Schema.optionalWith(PositiveInt, { default: () => defaultVirtualNodes }),
  seed: seedField
}

/** @internal */
export const rendezvousFields = { nodes: Nodes, seed: seedField }

/** @internal */
export const jumpHashFields = { nodes: Nodes, seed: seedField }

/** @internal */
export const maglevFields = {
  nodes: Nodes,
  tableSize: Schema.optionalWith(
    PositiveInt.pipe(
      Schema.lessThanOrEqualTo(maxTableSize),
      Schema.filter((size) => isPrime(size) || `Expected a prime table size (e.g. 65537, 655373), actual ${size}`)
    ),
    { default: () => defaultTableSize }
  ),
  seed: seedField
}

const ringLimit = (options: {
  readonly nodes: ReadonlyArray<PartitionNode>
  readonly virtualNodes: number
}): Schema.FilterOutput | ReadonlyArray<Schema.FilterOutput> => {
  let total = 0
  for (const node of options.nodes) total += pointCount(node.weight, options.virtualNodes)
  return total <= maxRingPoints ? undefined : {
    path: ["virtualNodes"],
    message: `Expected at most ${maxRingPoints} ring points in all (virtualNodes × weight summed over nodes), actual ${total}`
  }
}

const unitWeights = (options: { readonly nodes: ReadonlyArray<PartitionNode> }): Schema.FilterOutput | ReadonlyArray<Schema.FilterOutput> => {
  const issues: Array<Schema.FilterIssue> = []
  options.nodes.forEach((node, index) => {
    if (node.weight !== 1) {
      issues.push({
        path: ["nodes", index, "weight"],
        message: `JumpHash does not support weights (expected 1, actual ${node.weight}); ` +
          "approximate a weight by adding the node several times under distinct ids, or use another algorithm"
      })
    }
  })
  return issues.length === 0 ? undefined : issues
}

const tableLargeEnough = (options: {
  readonly nodes: ReadonlyArray<PartitionNode>
  readonly tableSize: number
}): Schema.FilterOutput | ReadonlyArray<Schema.FilterOutput> =>
  options.tableSize >= minSlotsPerNode * options.nodes.length ? undefined : {
    path: ["tableSize"],
    message: `Expected a table size of at least ${minSlotsPerNode} × nodes (${
      minSlotsPerNode * options.nodes.length
    }) for balance, actual ${options.tableSize}; choose a larger prime`
  }

/** @internal */
export const HashRingOptions = Schema.Struct(hashRingFields).pipe(Schema.filter(ringLimit))
/** @internal */
export const RendezvousOptions = Schema.Struct(rendezvousFields)
/** @internal */
export const JumpHashOptions = Schema.Struct(jumpHashFields).pipe(Schema.filter(unitWeights))
/** @internal */
export const MaglevOptions = Schema.Struct(maglevFields).pipe(Schema.filter(tableLargeEnough))

/** @internal */
export const PartitionerOptions = Schema.Union(
  Schema.Struct({ algorithm: Schema.Literal("hashRing"), ...hashRingFields }).pipe(Schema.filter(ringLimit)),
  Schema.Struct({ algorithm: Schema.Literal("rendezvous"), ...rendezvousFields }),
  Schema.Struct({ algorithm: Schema.Literal("jumpHash"), ...jumpHashFields }).pipe(Schema.filter(unitWeights)),
  Schema.Struct({ algorithm: Schema.Literal("maglev"), ...maglevFields }).pipe(Schema.filter(tableLargeEnough))
)

/** @internal */
export type PartitionerOptions = typeof PartitionerOptions.Type

/** @internal */
export type PartitionerOptionsInput = typeof PartitionerOptions.Encoded

// ---------------------------------------------------------------------------------------------
// The partitioner value
// ---------------------------------------------------------------------------------------------

const algorithmNames = {
  hashRing: "HashRing",
  rendezvous: "Rendezvous",
  jumpHash: "JumpHash",
  maglev: "Maglev"
} as const satisfies Record<PartitionerOptions["algorithm"], Algorithm>

const lookupFor = (options: PartitionerOptions, nodes: ReadonlyArray<PartitionNode>): Lookup => {
  switch (options.algorithm) {
    case "hashRing":
      return hashRingLookup(nodes, options.virtualNodes, options.seed)
    case "rendezvous":
      return rendezvousLookup(nodes, options.seed)
    case "jumpHash":
      return jumpHashLookup(nodes, options.seed)
    case "maglev":
      return maglevLookup(nodes, options.tableSize, options.seed)
  }
}

/** Builds the value from decoded options. Nodes are copied and frozen: the value is immutable. */
const build = (options: PartitionerOptions): Partitioner => {
  const nodes: ReadonlyArray<PartitionNode> = Object.freeze(
    options.nodes.map((node) => Object.freeze({ id: node.id, weight: node.weight }))
  )
  const lookup = lookupFor(options, nodes)
  const algorithm = algorithmNames[options.algorithm]
  const partitioner: Partitioner = {
    [TypeId]: TypeId,
    algorithm,
    nodes,
    options: Object.freeze({ ...options, nodes }),
    unsafeNodeFor: lookup.nodeFor,
    unsafeNodesFor: lookup.nodesFor,
    pipe() {
      // eslint-disable-next-line prefer-rest-params
      return pipeArguments(this, arguments)
    },
    toString: () => `Partitioner(${algorithm}, ${nodes.length} nodes)`
  } as Partitioner
  return Object.freeze(partitioner)
}

const formatIssues = (error: ParseResult.ParseError): ReadonlyArray<string> =>
  ParseResult.ArrayFormatter.formatErrorSync(error).map((issue) =>
    issue.path.length === 0 ? issue.message : `${issue.path.join(".")}: ${issue.message}`
  )

/**
 * Decodes options with `schema` (errors naming every field, excess properties rejected) and
 * builds the partitioner; `toOptions` adds the `algorithm` tag for the algorithm modules' own
 * options.
 */
export const makeWith = <A, I>(
  module: string,
  schema: Schema.Schema<A, I>,
  toOptions: (decoded: A) => PartitionerOptions
): (input: I) => Effect.Effect<Partitioner, InvalidOptions> => {
  const decode = Schema.decodeUnknownEither(schema, { errors: "all", onExcessProperty: "error" })
  return (input) =>
    Effect.suspend(() =>
      Either.match(decode(input), {
        onLeft: (error) => Effect.fail(new InvalidOptions({ module, issues: formatIssues(error) })),
        onRight: (decoded) => Effect.succeed(build(toOptions(decoded)))
      })
    )
}

/** @internal */
export const make: (options: PartitionerOptionsInput) => Effect.Effect<Partitioner, InvalidOptions> = makeWith(
  "Partitioner",
  PartitionerOptions,
  (options) => options
)

/** @internal */
export const isPartitioner = (u: unknown): u is Partitioner =>
  typeof u === "object" && u !== null && TypeId in u

type NodeSpec = P.PartitionNodeInput

const specToInput = (node: NodeSpec): { readonly id: string; readonly weight?: number } =>
  node.weight === undefined ? { id: node.id } : { id: node.id, weight: node.weight }

/** @internal */
export const withNodes: {
  (nodes: ReadonlyArray<NodeSpec>): (self: Partitioner) => Effect.Effect<Partitioner, InvalidOptions>
  (self: Partitioner, nodes: ReadonlyArray<NodeSpec>): Effect.Effect<Partitioner, InvalidOptions>
} = dual(
  2,
  (self: Partitioner, nodes: ReadonlyArray<NodeSpec>): Effect.Effect<Partitioner, InvalidOptions> =>
    make({ ...self.options, nodes: nodes.map(specToInput) } as PartitionerOptionsInput)
)

/** @internal */
export const addNode: {
  (node: NodeSpec): (self: Partitioner) => Effect.Effect<Partitioner, InvalidOptions>
  (self: Partitioner, node: NodeSpec): Effect.Effect<Partitioner, InvalidOptions>
} = dual(
  2,
  (self: Partitioner, node: NodeSpec): Effect.Effect<Partitioner, InvalidOptions> =>
    withNodes(self, [...self.nodes, node])
)

/** @internal */
export const removeNode: {
  (nodeId: string): (self: Partitioner) => Effect.Effect<Partitioner, InvalidOptions>
  (self: Partitioner, nodeId: string): Effect.Effect<Partitioner, InvalidOptions>
} = dual(
  2,
  (self: Partitioner, nodeId: string): Effect.Effect<Partitioner, InvalidOptions> =>
    Effect.suspend(() => {
      const remaining = self.nodes.filter((node) => node.id !== nodeId)
      return remaining.length === self.nodes.length
        ? Effect.fail(
          new InvalidOptions({ module: "Partitioner", issues: [`nodeId: Expected the id of a member node, actual "${nodeId}"`] })
        )
        : withNodes(self, remaining)
    })
)

/** @internal */
export const nodeFor: {
  (key: string): (self: Partitioner) => Option.Option<PartitionNode>
  (self: Partitioner, key: string): Option.Option<PartitionNode>
} = dual(2, (self: Partitioner, key: string): Option.Option<PartitionNode> => Option.fromNullable(self.unsafeNodeFor(key)))

/** @internal */
export const nodesFor: {
  (key: string, count: number): (self: Partitioner) => ReadonlyArray<PartitionNode>
  (self: Partitioner, key: string, count: number): ReadonlyArray<PartitionNode>
} = dual(3, (self: Partitioner, key: string, count: number): ReadonlyArray<PartitionNode> => self.unsafeNodesFor(key, count))
