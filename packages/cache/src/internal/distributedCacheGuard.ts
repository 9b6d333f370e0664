/**
 * The near-fill guard: decides whether a value read from the store may go into the near cache.
 *
 * The race it closes: instance A reads key k from the store and gets v1; meanwhile instance B
 * writes v2 and its invalidation reaches A before A's read returns (the reply and the pub/sub
 * message travel on different connections, in any order). If A then kept v1, its near cache would
 * serve a stale value until the entry's ttl, although the invalidation was received.
 *
 * So a read takes a snapshot (its key's epoch and the generation) before it goes out, and fills
 * only if the snapshot is unchanged when it returns. Epochs are bumped by every invalidation of a
 * key (and around this instance's own writes); the generation by every connection or membership
 * change. Epochs are kept per stripe of the key space, not per key: a fixed array, no map that
 * grows with the keys ever invalidated; two keys sharing a stripe only cost a skipped fill.
 */
const STRIPES = 4096

export class FillGuard {
  private readonly epochs = new Uint32Array(STRIPES)
  private generationCount = 0

  /** FNV-1a of the key, folded onto the stripes. */
  stripe(key: string): number {
    let hash = 0x811c9dc5
    for (let i = 0; i < key.length; i++) hash = Math.imul(hash ^ key.charCodeAt(i), 0x01000193)
    return (hash >>> 0) & (STRIPES - 1)
  }

  epoch(stripe: number): number {
    return this.epochs[stripe]!
  }

  generation(): number {
    return this.generationCount
  }

  /** A key of this stripe changed: reads of it in flight must not fill. Returns the new epoch. */
  bump(stripe: number): number {
    return ++this.epochs[stripe]!
  }

  /** A connection or membership change: no read in flight may fill. */
  bumpAll(): void {
    this.generationCount++
  }

  /** Nothing that could make a read stale happened since the snapshot `(epoch, generation)`. */
  unchanged(stripe: number, epoch: number, generation: number): boolean {
    return this.epochs[stripe] === epoch && this.generationCount === generation
  }
}
