/**
 * The node type every partitioner (and later every load balancer) shares, and the rendezvous
 * ordering the other algorithms use for their fallback replicas.
 */
import { combine, combinePremixed, murmur3Pair, premix } from "./hash.js"

/** @internal */
export interface PartitionNode {
  readonly id: string
  readonly weight: number
}

/** @internal */
export interface Lookup {
  readonly nodeFor: (key: string) => PartitionNode | undefined
  readonly nodesFor: (key: string, count: number) => ReadonlyArray<PartitionNode>
}

/** @internal */
export const emptyLookup: Lookup = {
  nodeFor: () => undefined,
  nodesFor: () => []
}

/**
 * Sorts by id (UTF-16 code units), so a structure built from the same nodes in any order is the
 * same structure. Ids are unique, so the order is total.
 */
export const sortById = (nodes: ReadonlyArray<PartitionNode>): ReadonlyArray<PartitionNode> =>
  [...nodes].sort((a, b) => (a.id < b.id ? -1 : a.id > b.id ? 1 : 0))

/** The number of replicas to return: at least 0, at most the node count, an integer. */
export const clampCount = (count: number, size: number): number =>
  count >= size ? size : count > 0 ? Math.floor(count) : 0

const TWO_32 = 4294967296

/**
 * Highest-random-weight scoring (Thaler & Ravishankar 1998) over nodes sorted by id. Each node
 * gets a 32-bit seed from its id; a key's score on a node mixes the key's hash with that seed,
 * so a key is hashed once however many nodes there are. With unequal weights the score is the
 * logarithmic method, -weight / ln(u) for u uniform in (0, 1), under which a node wins a share
 * of keys proportional to its weight and adding or removing a node moves only that node's keys.
 */
export class Scorer {
  readonly seeds: Uint32Array
  readonly weights: Float64Array
  readonly uniform: boolean
  constructor(readonly nodes: ReadonlyArray<PartitionNode>, seed: number) {
    const pair = new Uint32Array(2)
    this.seeds = new Uint32Array(nodes.length)
    this.weights = new Float64Array(nodes.length)
    let uniform = true
    for (let rank = 0; rank < nodes.length; rank++) {
      const node = nodes[rank]!
      murmur3Pair(node.id, seed, pair)
      // Fold both halves in, so two ids whose first hashes collide still score differently.
      this.seeds[rank] = combine(pair[0]!, pair[1]!)
      this.weights[rank] = node.weight
      if (node.weight !== nodes[0]!.weight) uniform = false
    }
    this.uniform = uniform
  }

  /** The key's score on the node of `rank`; higher wins. */
  score(keyHash: number, rank: number): number {
    const x = combine(this.seeds[rank]!, keyHash)
    // With equal weights -w / ln(u) is increasing in u, so the raw hash ranks the same way.
    return this.uniform ? x : -this.weights[rank]! / Math.log((x + 0.5) / TWO_32)
  }

  /** The rank of the best node; -1 when there are none. Ties go to the lower rank. */
  best(keyHash: number): number {
    // The hot loop: the key's half of the mix is done once, each node costs a few integer ops.
    const premixed = premix(keyHash)
    const seeds = this.seeds
    const size = seeds.length
    let bestRank = -1
    let bestScore = -1
    if (this.uniform) {
      for (let rank = 0; rank < size; rank++) {
        const score = combinePremixed(seeds[rank]!, premixed)
        if (score > bestScore) {
          bestScore = score
          bestRank = rank
        }
      }
      return bestRank
    }
    const weights = this.weights
    for (let rank = 0; rank < size; rank++) {
      const score = -weights[rank]! / Math.log((combinePremixed(seeds[rank]!, premixed) + 0.5) / TWO_32)
      if (score > bestScore) {
        bestScore = score
        bestRank = rank
      }
    }
    return bestRank
  }

  /**
   * Up to `count` nodes in descending score order, after `first` (which is returned first and
   * not repeated) when given.
   */
  order(keyHash: number, count: number, first: PartitionNode | undefined): ReadonlyArray<PartitionNode> {
    const size = this.nodes.length
    const wanted = clampCount(count, size)
    if (wanted === 0) return []
    const scores = new Float64Array(size)
    const ranks: Array<number> = []
    for (let rank = 0; rank < size; rank++) {
      if (this.nodes[rank] === first) continue
      scores[rank] = this.score(keyHash, rank)
      ranks.push(rank)
    }
    ranks.sort((a, b) => scores[b]! - scores[a]! || a - b)
    const result: Array<PartitionNode> = first === undefined ? [] : [first]
    for (let index = 0; result.length < wanted && index < ranks.length; index++) {
      result.push(this.nodes[ranks[index]!]!)
    }
    return result
  }
}
