/**
 * Rendezvous (highest random weight) hashing, Thaler & Ravishankar 1998: every node scores the
 * key and the highest score wins. Perfect minimal movement (adding a node takes only the keys it
 * now wins, removing one hands only its keys to their runners-up), no table to build, and the
 * full preference order for replicas comes for free. Lookup is O(nodes): the key is hashed once,
 * then each node's score is one 32-bit mix.
 *
 * Weights use the logarithmic method (Schindelhauer & Schomaker 2005; Resch 2015):
 * score = -weight / ln(u), u = hash / 2^32, so a node's share is exactly proportional to its
 * weight and changing one weight moves only keys to or from that node.
 *
 * @since 0.1.0
 */
import type { InvalidOptions } from "@rampart/core/Options"
import type { Effect } from "effect"
import * as internal from "./internal/partitioner.js"
import type { Partitioner } from "./Partitioner.js"

/**
 * The options of a rendezvous partitioner:
 *
 * | option | type | default | meaning |
 * | --- | --- | --- | --- |
 * | `nodes` | `Array<{ id: string; weight?: number }>` | (required) | members; ids unique and non-empty, weights positive |
 * | `seed` | 32-bit unsigned integer | 0 | changes every hash (an independent placement) |
 *
 * @since 0.1.0
 * @category options
 */
export const RendezvousOptions = internal.RendezvousOptions

/**
 * @since 0.1.0
 * @category options
 */
export type RendezvousOptions = typeof RendezvousOptions.Type

/**
 * @since 0.1.0
 * @category options
 */
export type RendezvousOptionsInput = typeof RendezvousOptions.Encoded

/**
 * A rendezvous partitioner (the same as `Partitioner.make({ algorithm: "rendezvous", ... })`).
 *
 * @since 0.1.0
 * @category constructors
 * @example
 * import { Rendezvous } from "@rampart/balancing"
 *
 * const hrw = yield* Rendezvous.make({ nodes: [{ id: "a" }, { id: "b" }, { id: "c" }] })
 * hrw.unsafeNodesFor("order:1234", 2) // owner, then the first fallback
 */
export const make: (options: RendezvousOptionsInput) => Effect.Effect<Partitioner, InvalidOptions> = internal.makeWith(
  "Rendezvous",
  RendezvousOptions,
  (options) => ({ algorithm: "rendezvous", ...options })
)
