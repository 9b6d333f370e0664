/**
 * Maglev hashing (Eisenbud et al., NSDI 2016, section 3.4): a prime-sized lookup table where
 * every node claims slots along its own permutation (offset and skip from two hashes of its
 * id), taking turns until the table is full. A lookup is one hash and one array read, the
 * fastest of the four algorithms, and balance is near perfect (with equal weights slot counts
 * differ by at most one). Weights set how often a node takes a turn, so slot counts follow them.
 *
 * Movement: Maglev trades some consistency for balance. Adding or removing a node moves
 * somewhat more than K/n keys, and a few keys move between nodes that did not change: measured
 * with the default table, adding one node to 10 / 50 / 100 moves about 1.03 / 1.2 / 1.6 × K/(n+1)
 * keys. A bigger table (more slots per node) reduces that. Use `rendezvous` or `hashRing` when
 * minimal movement matters more than lookup speed.
 *
 * @since 0.1.0
 */
import type { InvalidOptions } from "@rampart/core/Options"
import type { Effect } from "effect"
import * as maglev from "./internal/maglev.js"
import * as internal from "./internal/partitioner.js"
import type { Partitioner } from "./Partitioner.js"

/**
 * The default table size: 65537 (prime), enough for up to 655 nodes.
 *
 * @since 0.1.0
 * @category options
 */
export const defaultTableSize: number = maglev.defaultTableSize

/**
 * The options of a Maglev partitioner:
 *
 * | option | type | default | meaning |
 * | --- | --- | --- | --- |
 * | `nodes` | `Array<{ id: string; weight?: number }>` | (required) | members; ids unique and non-empty, weights positive |
 * | `tableSize` | prime integer ≤ 16777259 | 65537 | lookup table slots; must be at least 100 × nodes |
 * | `seed` | 32-bit unsigned integer | 0 | changes every hash (an independent placement) |
 *
 * @since 0.1.0
 * @category options
 */
export const MaglevOptions = internal.MaglevOptions

/**
 * @since 0.1.0
 * @category options
 */
export type MaglevOptions = typeof MaglevOptions.Type

/**
 * @since 0.1.0
 * @category options
 */
export type MaglevOptionsInput = typeof MaglevOptions.Encoded

/**
 * A Maglev partitioner (the same as `Partitioner.make({ algorithm: "maglev", ... })`).
 *
 * @since 0.1.0
 * @category constructors
 * @example
 * import { Maglev } from "@rampart/balancing"
 *
 * const table = yield* Maglev.make({ nodes: [{ id: "10.0.0.1" }, { id: "10.0.0.2" }], tableSize: 65537 })
 * table.unsafeNodeFor("flow:10.1.2.3:5555")?.id
 */
export const make: (options: MaglevOptionsInput) => Effect.Effect<Partitioner, InvalidOptions> = internal.makeWith(
  "Maglev",
  MaglevOptions,
  (options) => ({ algorithm: "maglev", ...options })
)

/**
 * Whether a number is prime (a valid `tableSize` must be).
 *
 * @since 0.1.0
 * @category guards
 */
export const isPrime: (value: number) => boolean = maglev.isPrime
