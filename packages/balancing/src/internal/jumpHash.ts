/**
 * Jump consistent hash, Lamping & Veach 2014 ("A Fast, Minimal Memory, Consistent Hash
 * Algorithm"), bit-compatible with the paper's reference code for a 64-bit key. The 64-bit
 * linear congruential step is done in two 32-bit halves with exact double arithmetic, so there is
 * no BigInt on the hot path.
 */
import { murmur3Pair } from "./hash.js"
import { emptyLookup, type Lookup, type PartitionNode, Scorer, sortById } from "./nodes.js"

// The reference LCG multiplier 2862933555777941757 = 0x27BB2EE6_87B0B0FD, split in halves and
// the low half again in 16-bit limbs for the exact 32 × 32 → 64-bit product.
const MULTIPLIER_HIGH = 0x27bb2ee6
const MULTIPLIER_LOW = 0x87b0b0fd
const MULTIPLIER_LOW_0 = MULTIPLIER_LOW & 0xffff
const MULTIPLIER_LOW_1 = MULTIPLIER_LOW >>> 16
const TWO_16 = 65536
const TWO_31 = 2147483648
const TWO_32 = 4294967296

/**
 * The bucket in [0, buckets) of the 64-bit key `high × 2^32 + low`; -1 when `buckets` is 0.
 * Runs about ln(buckets) iterations.
 */
export const jumpBucket = (high: number, low: number, buckets: number): number => {
  let hi = high >>> 0
  let lo = low >>> 0
  let bucket = -1
  let next = 0
  while (next < buckets) {
    bucket = next
    // key = key × MULTIPLIER + 1 (mod 2^64). Low word first: lo × MULTIPLIER_LOW as 64 bits.
    const lo0 = lo & 0xffff
    const lo1 = lo >>> 16
    const middle = lo1 * MULTIPLIER_LOW_0 + lo0 * MULTIPLIER_LOW_1 // < 2^33, exact
    const bottom = lo0 * MULTIPLIER_LOW_0 + (middle % TWO_16) * TWO_16 // < 2^34, exact
    const carry = Math.floor(bottom / TWO_32)
    const productHigh = lo1 * MULTIPLIER_LOW_1 + Math.floor(middle / TWO_16) + carry
    let newLow = (bottom % TWO_32) + 1
    let plusCarry = 0
    if (newLow === TWO_32) {
      newLow = 0
      plusCarry = 1
    }
    hi = (Math.imul(hi, MULTIPLIER_LOW) + Math.imul(lo, MULTIPLIER_HIGH) + productHigh + plusCarry) >>> 0
    lo = newLow
    // j = (b + 1) × (2^31 / ((key >>> 33) + 1))
    next = Math.floor((bucket + 1) * (TWO_31 / ((hi >>> 1) + 1)))
  }
  return bucket
}

/**
 * Nodes are buckets in the order given. The key's 64-bit jump key is its MurmurHash3 pair
 * (first hash high, second low). Fallback replicas after the owner come in rendezvous order.
 */
export const jumpHashLookup = (nodes: ReadonlyArray<PartitionNode>, seed: number): Lookup => {
  if (nodes.length === 0) return emptyLookup
  const pair = new Uint32Array(2)
  const size = nodes.length
  let scorer: Scorer | undefined
  return {
    nodeFor: (key) => {
      murmur3Pair(key, seed, pair)
      return nodes[jumpBucket(pair[0]!, pair[1]!, size)]
    },
    nodesFor: (key, count) => {
      murmur3Pair(key, seed, pair)
      const first = nodes[jumpBucket(pair[0]!, pair[1]!, size)]!
      if (count < 2) return count >= 1 ? [first] : []
      scorer ??= new Scorer(sortById(nodes), seed)
      return scorer.order(pair[0]!, count, first)
    }
  }
}
