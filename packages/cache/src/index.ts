/**
 * Caching for Effect: a local cache with near-optimal eviction (W-TinyLFU, LRU, LFU, FIFO) and
 * TTLs, defences against penetration, breakdown and avalanche, and a partitioned near cache in
 * front of Redis.
 *
 * @since 0.1.0
 */

/**
 * A Bloom filter sized from expected items and a target false-positive rate, serialisable.
 *
 * @since 0.1.0
 */
export * as BloomFilter from "./BloomFilter.js"

/**
 * The remote side of a distributed cache: memory and Redis stores, with invalidation messages.
 *
 * @since 0.1.0
 */
export * as CacheStore from "./CacheStore.js"

/**
 * Keys partitioned across nodes, each read through a near cache kept coherent by invalidations.
 *
 * @since 0.1.0
 */
export * as DistributedCache from "./DistributedCache.js"

/**
 * An in-process cache: W-TinyLFU (default), LRU, LFU or FIFO eviction, weights, TTLs, read-through.
 *
 * @since 0.1.0
 */
export * as LocalCache from "./LocalCache.js"

/**
 * Cache-aside with a Bloom-filter gate, negative caching, single-flight, TTL jitter and early refresh.
 *
 * @since 0.1.0
 */
export * as ProtectedCache from "./ProtectedCache.js"

/**
 * Keyed request coalescing: concurrent calls with one key share one execution.
 *
 * @since 0.1.0
 */
export * as SingleFlight from "./SingleFlight.js"

export {
  /** @since 0.1.0 */
  InvalidOptions
} from "@rampart/core/Options"
