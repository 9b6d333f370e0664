/**
 * A hashed timing wheel of entry slots (Varghese & Lauck 1987, as in Netty's HashedWheelTimer):
 * one-second buckets, each a doubly linked list kept in typed arrays, so scheduling and
 * unscheduling an entry is O(1) and needs no timer of its own. A sweep visits only the buckets
 * whose second has come; an entry whose deadline lies further out (a later turn of the wheel, or
 * pushed back by an access) is moved to the bucket of its current deadline when visited.
 */

const TICK_MILLIS = 1000
const BUCKETS = 1024
const BUCKET_MASK = BUCKETS - 1
const NONE = -1

export class TimerWheel {
  private next: Int32Array
  private prev: Int32Array
  /** The bucket holding a slot, or NONE when it is not scheduled. */
  private bucketOf: Int32Array
  private readonly heads = new Int32Array(BUCKETS).fill(NONE)
  private lastTick: number

  constructor(slots: number, now: number) {
    this.next = new Int32Array(slots)
    this.prev = new Int32Array(slots)
    this.bucketOf = new Int32Array(slots).fill(NONE)
    this.lastTick = Math.floor(now / TICK_MILLIS)
  }

  grow(slots: number): void {
    const next = new Int32Array(slots)
    next.set(this.next)
    this.next = next
    const prev = new Int32Array(slots)
    prev.set(this.prev)
    this.prev = prev
    const bucketOf = new Int32Array(slots).fill(NONE)
    bucketOf.set(this.bucketOf)
    this.bucketOf = bucketOf
  }

  /** (Re)schedules a slot for its deadline; an infinite deadline unschedules it. */
  schedule(slot: number, deadline: number): void {
    if (deadline === Number.POSITIVE_INFINITY) {
      this.unschedule(slot)
      return
    }
    const bucket = Math.floor(deadline / TICK_MILLIS) & BUCKET_MASK
    if (this.bucketOf[slot] === bucket) return
    this.unschedule(slot)
    this.link(slot, bucket)
  }

  unschedule(slot: number): void {
    const bucket = this.bucketOf[slot]!
    if (bucket === NONE) return
    const next = this.next[slot]!
    const prev = this.prev[slot]!
    if (prev === NONE) this.heads[bucket] = next
    else this.next[prev] = next
    if (next !== NONE) this.prev[next] = prev
    this.bucketOf[slot] = NONE
  }

  private link(slot: number, bucket: number): void {
    const head = this.heads[bucket]!
    this.next[slot] = head
    this.prev[slot] = NONE
    if (head !== NONE) this.prev[head] = slot
    this.heads[bucket] = slot
    this.bucketOf[slot] = bucket
  }

  /**
   * Visits every bucket whose second has come since the last sweep (all of them once if the
   * clock moved a whole turn): slots whose deadline has passed go to `expire` (which must
   * unschedule them), the others move to the bucket of their deadline.
   */
  sweep(now: number, deadlines: Float64Array, expire: (slot: number) => void): void {
    const tick = Math.floor(now / TICK_MILLIS)
    const from = tick - this.lastTick >= BUCKETS ? tick - BUCKETS + 1 : this.lastTick
    this.lastTick = tick
    for (let t = from; t <= tick; t++) {
      const bucket = t & BUCKET_MASK
      // Detach the whole list first: slots re-linked into this same bucket wait for a later sweep.
      let slot = this.heads[bucket]!
      this.heads[bucket] = NONE
      while (slot !== NONE) {
        const following = this.next[slot]!
        this.bucketOf[slot] = NONE
        const deadline = deadlines[slot]!
        if (deadline <= now) {
          expire(slot)
        } else {
          this.link(slot, Math.floor(deadline / TICK_MILLIS) & BUCKET_MASK)
        }
        slot = following
      }
    }
  }

  /**
   * When a sweep next has work: the end of the first second from `now` whose bucket holds a slot
   * (+Infinity when the wheel is empty). At most one turn of the wheel is scanned.
   */
  nextDue(now: number): number {
    const tick = Math.floor(now / TICK_MILLIS)
    for (let t = tick; t < tick + BUCKETS; t++) {
      if (this.heads[t & BUCKET_MASK] !== NONE) return (t + 1) * TICK_MILLIS
    }
    return Number.POSITIVE_INFINITY
  }

  clear(): void {
    this.heads.fill(NONE)
    this.bucketOf.fill(NONE)
  }
}
