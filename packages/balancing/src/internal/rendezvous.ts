/**
 * Rendezvous (highest random weight) hashing, Thaler & Ravishankar 1998: every node scores the
 * key and the highest score wins. No table to build, perfect minimal movement, O(nodes) per key.
 */
import { murmur3 } from "./hash.js"
import { emptyLookup, type Lookup, type PartitionNode, Scorer, sortById } from "./nodes.js"

/** @internal */
export const rendezvousLookup = (input: ReadonlyArray<PartitionNode>, seed: number): Lookup => {
  if (input.length === 0) return emptyLookup
  const scorer = new Scorer(sortById(input), seed)
  const nodes = scorer.nodes
  return {
    nodeFor: (key) => nodes[scorer.best(murmur3(key, seed))],
    nodesFor: (key, count) => scorer.order(murmur3(key, seed), count, undefined)
  }
}
