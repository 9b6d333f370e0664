/**
 * Partitioning (consistent hash ring, rendezvous, jump hash, Maglev) and the hashing under it.
 *
 * @since 0.1.0
 */

/**
 * Stable MurmurHash3 string hashing shared by every placement structure.
 *
 * @since 0.1.0
 */
export * as Hash from "./Hash.js"

/**
 * Consistent hashing on a ring with virtual nodes and weights.
 *
 * @since 0.1.0
 */
export * as HashRing from "./HashRing.js"

/**
 * Jump consistent hash (Lamping & Veach 2014).
 *
 * @since 0.1.0
 */
export * as JumpHash from "./JumpHash.js"

/**
 * Maglev hashing (Eisenbud et al. 2016).
 *
 * @since 0.1.0
 */
export * as Maglev from "./Maglev.js"

/**
 * One interface over every partitioning algorithm: keys to nodes, immutable membership changes.
 *
 * @since 0.1.0
 */
export * as Partitioner from "./Partitioner.js"

/**
 * Rendezvous (highest random weight) hashing with weights.
 *
 * @since 0.1.0
 */
export * as Rendezvous from "./Rendezvous.js"
