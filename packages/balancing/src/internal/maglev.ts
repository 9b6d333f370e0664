/**
 * Maglev hashing, Eisenbud et al., NSDI 2016 ("Maglev: A Fast and Reliable Software Network Load
 * Balancer", section 3.4). Each node walks its own permutation of a prime-sized table
 * (offset + j × skip mod M, from two hashes of its id) and the nodes take turns claiming their
 * next free slot until the table is full; a key's owner is table[hash(key) mod M]. Lookups are
 * one hash and one array read; balance is near perfect (slot counts differ by at most one with
 * equal weights). The price: a membership change moves somewhat more than K/n keys.
 */
import { murmur3, murmur3Pair } from "./hash.js"
import { emptyLookup, type Lookup, type PartitionNode, Scorer, sortById } from "./nodes.js"

/** The default table size: a prime, enough for 655 nodes at 100 slots per node. */
export const defaultTableSize = 65537

/** The most table slots a Maglev partitioner may hold. */
export const maxTableSize = 16_777_259 // a prime just above 2^24

/** Slots per node below which balance degrades: tableSize must be at least this × nodes. */
export const minSlotsPerNode = 100

/** Trial division; fine for table sizes up to 2^24. */
export const isPrime = (value: number): boolean => {
  if (!Number.isInteger(value) || value < 2) return false
  if (value % 2 === 0) return value === 2
  for (let divisor = 3; divisor * divisor <= value; divisor += 2) {
    if (value % divisor === 0) return false
  }
  return true
}

/**
 * Populates the lookup table with node ranks (nodes sorted by id). With weights, a node takes a
 * turn in round t only while it holds fewer than t × weight / maxWeight slots, so slot counts
 * follow the weights.
 */
export const buildTable = (nodes: ReadonlyArray<PartitionNode>, tableSize: number, seed: number): Int32Array => {
  const size = nodes.length
  const table = new Int32Array(tableSize).fill(-1)
  const position = new Float64Array(size)
  const skip = new Float64Array(size)
  const filled = new Float64Array(size)
  const pair = new Uint32Array(2)
  let maxWeight = 0
  for (let rank = 0; rank < size; rank++) {
    const node = nodes[rank]!
    murmur3Pair(node.id, seed, pair)
    position[rank] = pair[0]! % tableSize
    skip[rank] = (pair[1]! % (tableSize - 1)) + 1
    if (node.weight > maxWeight) maxWeight = node.weight
  }
  let taken = 0
  for (let round = 1; taken < tableSize; round++) {
    for (let rank = 0; rank < size && taken < tableSize; rank++) {
      if (filled[rank]! * maxWeight >= round * nodes[rank]!.weight) continue
      let slot = position[rank]!
      const step = skip[rank]!
      while (table[slot]! >= 0) {
        slot += step
        if (slot >= tableSize) slot -= tableSize
      }
      table[slot] = rank
      slot += step
      position[rank] = slot >= tableSize ? slot - tableSize : slot
      filled[rank]!++
      taken++
    }
  }
  return table
}

/** @internal */
export const maglevLookup = (input: ReadonlyArray<PartitionNode>, tableSize: number, seed: number): Lookup => {
  if (input.length === 0) return emptyLookup
  const nodes = sortById(input)
  const table = buildTable(nodes, tableSize, seed)
  let scorer: Scorer | undefined
  return {
    nodeFor: (key) => nodes[table[murmur3(key, seed) % tableSize]!],
    nodesFor: (key, count) => {
      const hash = murmur3(key, seed)
      const first = nodes[table[hash % tableSize]!]!
      if (count < 2) return count >= 1 ? [first] : []
      scorer ??= new Scorer(nodes, seed)
      return scorer.order(hash, count, first)
    }
  }
}
