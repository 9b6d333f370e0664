/**
 * Consistent hashing on a ring (Karger et al., STOC 1997) with virtual nodes: each node owns
 * `round(virtualNodes × weight)` points on a 32-bit ring, and a key belongs to the first point at
 * or after the key's hash (wrapping). Points live in one sorted Uint32Array searched by binary
 * search; their owners in a parallel Int32Array of ranks into the nodes sorted by id.
 */
import { combine, murmur3, murmur3Pair } from "./hash.js"
import { clampCount, emptyLookup, type Lookup, type PartitionNode, sortById } from "./nodes.js"

/** The default virtual nodes per unit of weight (see `HashRing.defaultVirtualNodes`). */
export const defaultVirtualNodes = 2000

/** The most ring points one partitioner may hold (16 M points = 128 MB of arrays). */
export const maxRingPoints = 16_000_000

/** How many points a node of this weight gets: at least one. */
export const pointCount = (weight: number, virtualNodes: number): number =>
  Math.max(1, Math.round(weight * virtualNodes))

const RANK_SPACE = 1048576 // 2^20: ranks packed below the point in one float64 sort key

/** @internal */
export interface Ring {
  readonly nodes: ReadonlyArray<PartitionNode>
  readonly points: Uint32Array
  readonly owners: Int32Array
  /**
   * `starts[b]` is the index of the first point whose top bits (`32 - shift` of them, about
   * log2(points), at most 16) are ≥ b, so a lookup binary-searches only the one or two points
   * that share the key's top bits instead of the whole ring.
   */
  readonly starts: Uint32Array
  readonly shift: number
}

/**
 * The ring's points. A node's j-th point is MurmurHash3 of j seeded with its id's hash pair, so
 * it depends only on the id, the seed and j: the same node lands on the same points in every
 * ring, which is what makes membership changes move only the affected arcs.
 */
export const buildRing = (input: ReadonlyArray<PartitionNode>, virtualNodes: number, seed: number): Ring => {
  const nodes = sortById(input)
  let total = 0
  for (const node of nodes) total += pointCount(node.weight, virtualNodes)
  // Sort keys: point × 2^20 + rank, exact in a double (< 2^52), so equal points order by id.
  const keys = new Float64Array(total)
  const pair = new Uint32Array(2)
  let next = 0
  for (let rank = 0; rank < nodes.length; rank++) {
    const node = nodes[rank]!
    murmur3Pair(node.id, seed, pair)
    const first = pair[0]!
    const second = pair[1]!
    const count = pointCount(node.weight, virtualNodes)
    for (let replica = 0; replica < count; replica++) {
      keys[next++] = combine(combine(first, replica), second) * RANK_SPACE + rank
    }
  }
  keys.sort()
  const points = new Uint32Array(total)
  const owners = new Int32Array(total)
  for (let index = 0; index < total; index++) {
    const key = keys[index]!
    const point = Math.floor(key / RANK_SPACE)
    points[index] = point
    owners[index] = key - point * RANK_SPACE
  }
  const bits = Math.min(16, Math.max(1, Math.ceil(Math.log2(total + 1))))
  const shift = 32 - bits
  const buckets = 1 << bits
  const starts = new Uint32Array(buckets + 1)
  let cursor = 0
  for (let bucket = 0; bucket <= buckets; bucket++) {
    while (cursor < total && points[cursor]! >>> shift < bucket) cursor++
    starts[bucket] = cursor
  }
  return { nodes, points, owners, starts, shift }
}

/** The index of the first point at or after `hash`, wrapping to 0 past the last point. */
export const successor = (ring: Ring, hash: number): number => {
  const { points, starts } = ring
  const bucket = hash >>> ring.shift
  let low = starts[bucket]!
  let high = starts[bucket + 1]!
  while (low < high) {
    const middle = (low + high) >>> 1
    if (points[middle]! < hash) low = middle + 1
    else high = middle
  }
  return low === points.length ? 0 : low
}

/**
 * The exact share of the hash space each node (by rank) owns: the arcs ending at its points.
 * Used by tests and the benchmark to measure balance without sampling noise.
 */
export const ringShares = (ring: Ring): Float64Array => {
  const shares = new Float64Array(ring.nodes.length)
  const size = ring.points.length
  if (size === 0) return shares
  for (let index = 0; index < size; index++) {
    const previous = index === 0 ? ring.points[size - 1]! - 4294967296 : ring.points[index - 1]!
    shares[ring.owners[index]!]! += (ring.points[index]! - previous) / 4294967296
  }
  return shares
}

/** @internal */
export const hashRingLookup = (input: ReadonlyArray<PartitionNode>, virtualNodes: number, seed: number): Lookup => {
  if (input.length === 0) return emptyLookup
  const ring = buildRing(input, virtualNodes, seed)
  const { nodes, owners, points } = ring
  const size = points.length
  return {
    nodeFor: (key) => nodes[owners[successor(ring, murmur3(key, seed))]!],
    nodesFor: (key, count) => {
      const wanted = clampCount(count, nodes.length)
      const result: Array<PartitionNode> = []
      if (wanted === 0) return result
      // Walk clockwise, keeping the first point of each distinct node.
      const seen = new Uint8Array(nodes.length)
      let index = successor(ring, murmur3(key, seed))
      for (let step = 0; step < size && result.length < wanted; step++) {
        const rank = owners[index]!
        if (seen[rank] === 0) {
          seen[rank] = 1
          result.push(nodes[rank]!)
        }
        index = index + 1 === size ? 0 : index + 1
      }
      return result
    }
  }
}
