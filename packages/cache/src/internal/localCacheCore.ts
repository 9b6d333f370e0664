/**
 * The synchronous core of a local cache: storage, the eviction policies, expiry and statistics,
 * with no Effect in sight. The Effect API (localCache.ts) wraps it.
 *
 * Layout (after lru-cache): a `Map<K, slot>` finds an entry; everything else about the entry
 * lives at its slot in parallel arrays (keys, values, typed arrays for links, weights, hashes,
 * deadlines), so there is no per-entry object and a hit allocates nothing. Every policy's queues
 * are circular doubly linked lists threaded through one `next`/`prev` pair of `Int32Array`s;
 * the list heads are sentinel slots below `FIRST_SLOT`, which makes link and unlink branch-free.
 */
import { Hash } from "effect"
import { FrequencySketch, mix32 } from "./localCacheSketch.js"
import { TimerWheel } from "./localCacheWheel.js"

export type Policy = "wTinyLfu" | "lru" | "lfu" | "fifo"
export type RemovalCause = "Expired" | "Size" | "Explicit" | "Replaced"

export const EXPIRED = 0
export const SIZE = 1
export const EXPLICIT = 2
export const REPLACED = 3
export const causeNames: ReadonlyArray<RemovalCause> = ["Expired", "Size", "Explicit", "Replaced"]

const W_TINY_LFU = 0
const LRU = 1
const LFU = 2
const FIFO = 3
const policyCodes: Record<Policy, number> = { wTinyLfu: W_TINY_LFU, lru: LRU, lfu: LFU, fifo: FIFO }

// Sentinels. W-TinyLFU uses WINDOW, PROBATION and PROTECTED; LRU and FIFO use PROBATION as their
// one queue; LFU keeps one queue per frequency 1..MAX_LFU at sentinel LFU_BASE + frequency.
const WINDOW = 0
const PROBATION = 1
const PROTECTED = 2
const MAX_LFU = 31
const LFU_BASE = 2
const FIRST_SLOT = LFU_BASE + MAX_LFU + 1

// W-TinyLFU tuning, after Caffeine's BoundedLocalCache.
const PERCENT_MAIN_PROTECTED = 0.8
const INITIAL_WINDOW = 0.01
const HILL_CLIMBER_RESTART_THRESHOLD = 0.05
const HILL_CLIMBER_STEP_PERCENT = 0.0625
const HILL_CLIMBER_STEP_DECAY_RATE = 0.98
/** Candidates at least this warm are admitted now and then at random, so a crafted flood of
 * colliding keys cannot pin a victim in place forever (Caffeine's hash-flooding defence). */
const ADMIT_HASHDOS_THRESHOLD = 6
/** The sketch of a smaller cache is sized (and aged) as if for this many entries. Tuned on Zipf
 * traces with and without scans (bench/src/cache): 1,000 entries reach 85% of OPT only with it. */
const MIN_SKETCH_CAPACITY = 8192

export interface CoreOptions<K, V> {
  readonly policy: Policy
  /** Maximum total weight; with no weigher every entry weighs 1, so it is the entry count. */
  readonly maximum: number
  readonly weigher: ((key: K, value: V) => number) | undefined
  /** Milliseconds, or +Infinity for none. */
  readonly expireAfterWrite: number
  readonly expireAfterAccess: number
  readonly ttlJitter: number
  /** How long past its expiry an entry is kept (not served as fresh) for stale-if-error. */
  readonly staleGrace: number
  readonly trackWriteTime: boolean
  readonly onRemoval: ((key: K, value: V, cause: RemovalCause) => void) | undefined
  readonly now: () => number
  /** A 32-bit seed for the internal generator (jitter, random admission). */
  readonly seed: number
}

/** A number's or string's hash without allocation; other keys use Effect's `Hash`. */
export const hashKey = (key: unknown): number => {
  if (typeof key === "number") {
    if ((key | 0) === key) return mix32(key)
    return mix32(Hash.number(key))
  }
  if (typeof key === "string") {
    let h = 0x811c9dc5
    for (let i = 0; i < key.length; i++) h = Math.imul(h ^ key.charCodeAt(i), 0x01000193)
    return mix32(h)
  }
  return mix32(Hash.hash(key))
}

export class CacheCore<K, V> {
  private readonly index = new Map<K, number>()
  private keys: Array<K | undefined>
  private values: Array<V | undefined>
  /**
   * Per-slot memo for a wrapper (the Effect API keeps a hit's `Exit` here, built on the first
   * Effect read of the entry, so later hits allocate no Effect). Cleared whenever the slot's
   * value changes or the slot is freed.
   */
  readonly boxes: Array<unknown>
  private next: Int32Array
  private prev: Int32Array
  /** W-TinyLFU: the queue of the slot; LFU: its frequency. */
  private queue: Uint8Array
  /**
   * W-TinyLFU: set by a hit on a protected entry, which is not moved (CLOCK, "second chance"):
   * when protected overflows, a marked entry at its head is unmarked and moved to the tail instead
   * of being demoted. An entry entering protected starts unmarked.
   */
  private marks: Uint8Array
  private hashes: Int32Array
  private sketchBlocks: Int32Array
  private sketchSpreads: Int32Array
  private weights: Float64Array
  /** When the entry stops being fresh (+Infinity: never). */
  private expiresAt: Float64Array
  /** The write-based part of `expiresAt` (jittered TTL from the last write). */
  private writeDeadline: Float64Array
  /** When the entry was last written (for refresh-after-write). */
  writeTime: Float64Array
  /** When the entry leaves the cache for good: `expiresAt + staleGrace`. */
  private removeAt: Float64Array
  private freeSlots: Int32Array
  private freeCount = 0
  private nextFresh = FIRST_SLOT
  private slotCount: number

  private readonly policyCode: number
  private maximum: number
  private readonly weigher: ((key: K, value: V) => number) | undefined
  /** True once any entry may expire: only then is the clock read on reads. */
  expiring: boolean
  private expireAfterWrite: number
  private expireAfterAccess: number
  private ttlJitter: number
  private readonly staleGrace: number
  private readonly onRemoval: ((key: K, value: V, cause: RemovalCause) => void) | undefined
  readonly now: () => number
  private readonly sketch: FrequencySketch | undefined
  private readonly wheel: TimerWheel | undefined
  private readonly expireSlot = (slot: number) => this.remove(slot, EXPIRED)
  private rngState: number

  // Weights per queue.
  private totalWeight = 0
  private windowWeight = 0
  private protectedWeight = 0
  private windowMaximum = 0
  private protectedMaximum = 0

  // Hill climber state.
  private sampleMisses = 0
  private previousSampleHitRate = 0
  private stepSize = 0
  private climbSample = 0
  /** Requests left in the current sample: one decrement and test per request. */
  private climbCountdown = 0

  /**
   * When the owner's sweep timer fires next (+Infinity: idle). The owner keeps it current; the
   * core calls `wake` when it needs a sweep sooner (a new deadline, or activity while idle).
   */
  nextSweepAt = Number.POSITIVE_INFINITY
  /** `wake(at)`: have the timer fire by `at` (ms since the epoch; 0: soon, to flush metrics). */
  wake: (at: number) => void = () => {}

  /** The slot of the last hit of `get`, so a wrapper can read its write time without a lookup. */
  lastHit = -1

  // Statistics: plain fields, flushed to Metrics by the owner.
  hits = 0
  misses = 0
  loadSuccesses = 0
  loadFailures = 0
  totalLoadTimeMillis = 0
  readonly evictions = new Float64Array(4)

  constructor(options: CoreOptions<K, V>) {
    this.policyCode = policyCodes[options.policy]
    this.maximum = options.maximum
    this.weigher = options.weigher
    this.expireAfterWrite = options.expireAfterWrite
    this.expireAfterAccess = options.expireAfterAccess
    this.ttlJitter = options.ttlJitter
    this.staleGrace = options.staleGrace
    this.onRemoval = options.onRemoval
    this.now = options.now
    this.rngState = options.seed | 0 || 0x2545f491
    // Per-entry TTLs may come with any `set`, so the wheel always exists; the clock is read only
    // when an expiry option is set or a TTL is given.
    this.expiring = options.expireAfterWrite !== Number.POSITIVE_INFINITY ||
      options.expireAfterAccess !== Number.POSITIVE_INFINITY || options.trackWriteTime
    const initial = FIRST_SLOT + Math.min(options.weigher === undefined ? options.maximum + 1 : 1024, 1024)
    this.slotCount = initial
    this.keys = new Array<K | undefined>(initial)
    this.values = new Array<V | undefined>(initial)
    this.boxes = new Array<unknown>(initial)
    this.next = new Int32Array(initial)
    this.prev = new Int32Array(initial)
    for (let sentinel = 0; sentinel < FIRST_SLOT; sentinel++) {
      this.next[sentinel] = sentinel
      this.prev[sentinel] = sentinel
    }
    this.queue = new Uint8Array(initial)
    this.marks = new Uint8Array(initial)
    this.hashes = new Int32Array(initial)
    this.sketchBlocks = new Int32Array(initial)
    this.sketchSpreads = new Int32Array(initial)
    this.weights = new Float64Array(initial)
    this.expiresAt = new Float64Array(initial).fill(Number.POSITIVE_INFINITY)
    this.writeDeadline = new Float64Array(initial).fill(Number.POSITIVE_INFINITY)
    this.writeTime = new Float64Array(initial)
    this.removeAt = new Float64Array(initial).fill(Number.POSITIVE_INFINITY)
    this.freeSlots = new Int32Array(initial)
    this.wheel = new TimerWheel(initial, this.expiring ? options.now() : 0)
    if (this.policyCode === W_TINY_LFU) {
      const capacity = Math.max(1, options.weigher === undefined ? options.maximum : 1024)
      // Small caches get a generously sized sketch with a longer aging period: over a period of only
      // 10 x capacity requests a long-tailed workload shows too few repeats to rank keys by.
      const sketchCapacity = Math.max(capacity, MIN_SKETCH_CAPACITY)
      this.sketch = new FrequencySketch(sketchCapacity, 10 * sketchCapacity)
      // The climber's sample spans two aging periods, so one burst (a scan) cannot swing the window.
      this.climbSample = 2 * this.sketch.sampleSize
      this.climbCountdown = this.climbSample
      this.windowMaximum = Math.floor(this.maximum * INITIAL_WINDOW)
      this.protectedMaximum = Math.floor((this.maximum - this.windowMaximum) * PERCENT_MAIN_PROTECTED)
      this.stepSize = -HILL_CLIMBER_STEP_PERCENT * this.maximum
    }
  }

  // -----------------------------------------------------------------------------------------------
  // Reads
  // -----------------------------------------------------------------------------------------------

  /** A read that counts: a hit updates recency/frequency (and an access deadline). */
  get(key: K): V | undefined {
    const slot = this.index.get(key)
    if (slot === undefined) {
      this.misses++
      if (this.policyCode === W_TINY_LFU) this.recordSample(false)
      if (this.nextSweepAt === Number.POSITIVE_INFINITY) this.wake(0)
      return undefined
    }
    if (this.expiring && !this.touchFresh(slot)) {
      this.misses++
      return undefined
    }
    this.hits++
    this.lastHit = slot
    if (this.policyCode === W_TINY_LFU) {
      // The default policy's hit, inlined. A protected entry (the hot set) is not moved: it is
      // marked, and the clock hand of `demoteProtected` gives a marked entry a second chance
      // (CLOCK approximates LRU within protected and spares the hit eight random writes). The
      // sketch counts a protected entry's first hit after each pass of the hand: its frequency
      // only matters once it is demoted to probation, and a hot entry keeps its counters up
      // without paying a sketch update on every hit (an update touches a random cache line).
      // Every other hit bumps the sketch. Against moving every protected hit to the tail and
      // bumping the sketch on a random one in 16, measured on the benchmark traces and on Zipf
      // 0.7 / 1.1 with other seeds: the same hit ratio or up to 1% of OPT better, and a hit of
      // the hot set ~15 ns cheaper.
      const queue = this.queue[slot]!
      if (queue === PROTECTED) {
        const marks = this.marks
        if (marks[slot] === 0) {
          marks[slot] = 1
          this.sketch!.incrementResident(this.sketchBlocks[slot]!, this.sketchSpreads[slot]!)
        }
      } else {
        this.sketch!.incrementResident(this.sketchBlocks[slot]!, this.sketchSpreads[slot]!)
        if (queue === PROBATION) this.promote(slot)
        else if (this.prev[WINDOW] !== slot) {
          const before = this.prev[slot]!
          const after = this.next[slot]!
          this.next[before] = after
          this.prev[after] = before
          const last = this.prev[WINDOW]!
          this.next[last] = slot
          this.prev[slot] = last
          this.next[slot] = WINDOW
          this.prev[WINDOW] = slot
        }
      }
      if (--this.climbCountdown === 0) this.climb()
      return this.values[slot]
    }
    this.onAccess(slot)
    return this.values[slot]
  }

  /** The slot of a fresh entry, without statistics or policy updates; -1 when absent or expired. */
  slotOf(key: K): number {
    const slot = this.index.get(key)
    if (slot === undefined) return -1
    if (this.expiring && this.expiresAt[slot]! <= this.now()) return -1
    return slot
  }

  valueAt(slot: number): V {
    return this.values[slot] as V
  }

  peek(key: K): V | undefined {
    const slot = this.slotOf(key)
    return slot < 0 ? undefined : this.values[slot]
  }

  /** The value of an entry past its expiry but still within the stale grace, for stale-if-error. */
  peekStale(key: K): V | undefined {
    const slot = this.index.get(key)
    if (slot === undefined) return undefined
    return this.expiring && this.removeAt[slot]! <= this.now() ? undefined : this.values[slot]
  }

  has(key: K): boolean {
    return this.slotOf(key) >= 0
  }

  get size(): number {
    return this.index.size
  }

  /** Checks expiry on a read: pushes an access deadline forward, or retires an expired entry. */
  private touchFresh(slot: number): boolean {
    const now = this.now()
    if (this.expiresAt[slot]! <= now) {
      // Within the stale grace the entry stays (not served as fresh) for stale-if-error.
      if (this.removeAt[slot]! <= now) this.remove(slot, EXPIRED)
      return false
    }
    if (this.expireAfterAccess !== Number.POSITIVE_INFINITY) {
      const accessDeadline = now + this.expireAfterAccess
      const writeDeadline = this.writeDeadline[slot]!
      const expiresAt = accessDeadline < writeDeadline ? accessDeadline : writeDeadline
      this.expiresAt[slot] = expiresAt
      // The wheel is not touched: the sweep moves the slot when it meets the later deadline.
      this.removeAt[slot] = expiresAt + this.staleGrace
    }
    return true
  }

  private onAccess(slot: number): void {
    switch (this.policyCode) {
      case W_TINY_LFU: {
        this.sketch!.incrementResident(this.sketchBlocks[slot]!, this.sketchSpreads[slot]!)
        this.recordSample(true)
        const queue = this.queue[slot]!
        if (queue === PROBATION) this.promote(slot)
        else this.moveToTail(slot, queue)
        return
      }
      case LRU:
        this.moveToTail(slot, PROBATION)
        return
      case LFU: {
        const frequency = this.queue[slot]!
        if (frequency < MAX_LFU) {
          this.unlink(slot)
          this.queue[slot] = frequency + 1
          this.linkTail(slot, LFU_BASE + frequency + 1)
        } else {
          this.moveToTail(slot, LFU_BASE + MAX_LFU)
        }
        return
      }
    }
    // FIFO: a read changes nothing.
  }

  // -----------------------------------------------------------------------------------------------
  // Writes
  // -----------------------------------------------------------------------------------------------

  /** Inserts or replaces; `ttl` (ms) overrides expireAfterWrite for this entry. */
  set(key: K, value: V, ttl?: number): void {
    if (this.nextSweepAt === Number.POSITIVE_INFINITY) this.wake(0)
    const weight = this.weigher === undefined ? 1 : this.weigher(key, value)
    const existing = this.index.get(key)
    if (existing !== undefined) {
      const old = this.values[existing] as V
      this.values[existing] = value
      this.boxes[existing] = undefined
      const delta = weight - this.weights[existing]!
      this.weights[existing] = weight
      this.totalWeight += delta
      const queue = this.queue[existing]!
      if (this.policyCode === W_TINY_LFU) {
        if (queue === WINDOW) this.windowWeight += delta
        else if (queue === PROTECTED) this.protectedWeight += delta
      }
      this.writeExpiry(existing, ttl)
      this.onAccess(existing)
      this.evictions[REPLACED] = this.evictions[REPLACED]! + 1
      if (this.onRemoval !== undefined) this.onRemoval(key, old, "Replaced")
      if (this.totalWeight > this.maximum) this.evict(-1)
      return
    }
    const slot = this.allocate()
    this.index.set(key, slot)
    this.keys[slot] = key
    this.values[slot] = value
    this.weights[slot] = weight
    this.totalWeight += weight
    this.writeExpiry(slot, ttl)
    switch (this.policyCode) {
      case W_TINY_LFU: {
        const hash = hashKey(key)
        this.hashes[slot] = hash
        this.sketchBlocks[slot] = this.sketch!.blockOf(hash)
        this.sketchSpreads[slot] = this.sketch!.spreadOf(hash)
        this.sketch!.increment(hash)
        this.queue[slot] = WINDOW
        this.linkTail(slot, WINDOW)
        this.windowWeight += weight
        if (this.windowWeight > this.windowMaximum || this.totalWeight > this.maximum) this.evict(slot)
        return
      }
      case LFU:
        this.queue[slot] = 1
        this.linkTail(slot, LFU_BASE + 1)
        break
      default:
        this.linkTail(slot, PROBATION)
    }
    if (this.totalWeight > this.maximum) this.evict(slot)
  }

  private writeExpiry(slot: number, ttl: number | undefined): void {
    // A NaN TTL would make a deadline no comparison can pass: treat it as no per-entry TTL.
    const base = ttl === undefined || ttl !== ttl ? this.expireAfterWrite : ttl
    if (!this.expiring) {
      if (base === Number.POSITIVE_INFINITY) return
      // The first per-entry TTL switches expiry checks on for good.
      this.expiring = true
    }
    const now = this.now()
    this.writeTime[slot] = now
    const writeDeadline = base === Number.POSITIVE_INFINITY ? base : now + this.jitter(base)
    this.writeDeadline[slot] = writeDeadline
    const accessDeadline = now + this.expireAfterAccess
    const expiresAt = accessDeadline < writeDeadline ? accessDeadline : writeDeadline
    this.expiresAt[slot] = expiresAt
    this.removeAt[slot] = expiresAt + this.staleGrace
    const removeAt = expiresAt + this.staleGrace
    this.wheel!.schedule(slot, removeAt)
    // The sweep after the deadline's second removes it: make sure the timer fires by then.
    const due = (Math.floor(removeAt / 1000) + 1) * 1000
    if (due < this.nextSweepAt) this.wake(due)
  }

  /** A TTL spread uniformly over ±ttlJitter, so entries written together do not expire together. */
  private jitter(ttl: number): number {
    if (this.ttlJitter === 0) return ttl
    return ttl * (1 + this.ttlJitter * (2 * this.random() - 1))
  }

  /** xorshift32: a fast generator seeded from Effect's `Random` at make time. */
  private random(): number {
    let x = this.rngState
    x ^= x << 13
    x ^= x >>> 17
    x ^= x << 5
    this.rngState = x
    return (x >>> 0) / 4294967296
  }

  delete(key: K): boolean {
    const slot = this.index.get(key)
    if (slot === undefined) return false
    const fresh = !this.expiring || this.expiresAt[slot]! > this.now()
    this.remove(slot, fresh ? EXPLICIT : EXPIRED)
    return fresh
  }

  clear(): void {
    for (const slot of Array.from(this.index.values())) this.remove(slot, EXPLICIT)
  }

  /** Removes expired entries whose second has come; the owner calls it from its one timer. */
  sweep(now: number): void {
    if (this.index.size === 0) return
    this.wheel!.sweep(now, this.removeAt, this.expireSlot)
  }

  /** When the next sweep has work (+Infinity: none). */
  nextDue(now: number): number {
    return this.index.size === 0 ? Number.POSITIVE_INFINITY : this.wheel!.nextDue(now)
  }

  // -----------------------------------------------------------------------------------------------
  // Slots and lists
  // -----------------------------------------------------------------------------------------------

  private allocate(): number {
    if (this.freeCount > 0) return this.freeSlots[--this.freeCount]!
    if (this.nextFresh === this.slotCount) this.grow()
    return this.nextFresh++
  }

  private grow(): void {
    const size = this.slotCount * 2
    const widen = <A extends Int32Array | Float64Array | Uint8Array>(from: A, make: (n: number) => A, fill?: number) => {
      const to = make(size)
      if (fill !== undefined) to.fill(fill)
      to.set(from)
      return to
    }
    this.next = widen(this.next, (n) => new Int32Array(n))
    this.prev = widen(this.prev, (n) => new Int32Array(n))
    this.queue = widen(this.queue, (n) => new Uint8Array(n))
    this.marks = widen(this.marks, (n) => new Uint8Array(n))
    this.hashes = widen(this.hashes, (n) => new Int32Array(n))
    this.sketchBlocks = widen(this.sketchBlocks, (n) => new Int32Array(n))
    this.sketchSpreads = widen(this.sketchSpreads, (n) => new Int32Array(n))
    this.weights = widen(this.weights, (n) => new Float64Array(n))
    this.expiresAt = widen(this.expiresAt, (n) => new Float64Array(n), Number.POSITIVE_INFINITY)
    this.writeDeadline = widen(this.writeDeadline, (n) => new Float64Array(n), Number.POSITIVE_INFINITY)
    this.writeTime = widen(this.writeTime, (n) => new Float64Array(n))
    this.removeAt = widen(this.removeAt, (n) => new Float64Array(n), Number.POSITIVE_INFINITY)
    this.freeSlots = widen(this.freeSlots, (n) => new Int32Array(n))
    this.wheel!.grow(size)
    this.keys.length = size
    this.values.length = size
    this.boxes.length = size
    this.slotCount = size
  }

  private linkTail(slot: number, sentinel: number): void {
    const last = this.prev[sentinel]!
    this.next[last] = slot
    this.prev[slot] = last
    this.next[slot] = sentinel
    this.prev[sentinel] = slot
  }

  private unlink(slot: number): void {
    const before = this.prev[slot]!
    const after = this.next[slot]!
    this.next[before] = after
    this.prev[after] = before
  }

  private moveToTail(slot: number, sentinel: number): void {
    if (this.prev[sentinel] === slot) return
    this.unlink(slot)
    this.linkTail(slot, sentinel)
  }

  /** Removes an entry for good: unlinks it everywhere, frees its slot, tells the listener. */
  remove(slot: number, cause: number): void {
    const key = this.keys[slot] as K
    const value = this.values[slot] as V
    const weight = this.weights[slot]!
    this.unlink(slot)
    this.totalWeight -= weight
    if (this.policyCode === W_TINY_LFU) {
      const queue = this.queue[slot]!
      if (queue === WINDOW) this.windowWeight -= weight
      else if (queue === PROTECTED) this.protectedWeight -= weight
    }
    this.wheel!.unschedule(slot)
    this.expiresAt[slot] = Number.POSITIVE_INFINITY
    this.writeDeadline[slot] = Number.POSITIVE_INFINITY
    this.removeAt[slot] = Number.POSITIVE_INFINITY
    this.index.delete(key)
    this.keys[slot] = undefined
    this.values[slot] = undefined
    this.boxes[slot] = undefined
    this.freeSlots[this.freeCount++] = slot
    this.evictions[cause] = this.evictions[cause]! + 1
    if (this.onRemoval !== undefined) this.onRemoval(key, value, causeNames[cause]!)
  }

  // -----------------------------------------------------------------------------------------------
  // Eviction
  // -----------------------------------------------------------------------------------------------

  /** Brings the total weight back under the maximum; `inserted` is the slot just added (or -1). */
  private evict(inserted: number): void {
    switch (this.policyCode) {
      case W_TINY_LFU:
        this.evictWTinyLfu()
        return
      case LFU:
        while (this.totalWeight > this.maximum) this.remove(this.lfuVictim(inserted), SIZE)
        return
      default:
        // LRU and FIFO: the head of the one queue. The entry just added is at the tail, so it goes
        // last, and only when it alone outweighs the maximum.
        while (this.totalWeight > this.maximum) this.remove(this.next[PROBATION]!, SIZE)
    }
  }

  /** The least frequent entry, least recent among equals; the new entry only when alone. */
  private lfuVictim(inserted: number): number {
    for (let frequency = 1; frequency <= MAX_LFU; frequency++) {
      const sentinel = LFU_BASE + frequency
      let slot = this.next[sentinel]!
      if (slot === inserted) slot = this.next[slot]!
      if (slot !== sentinel) return slot
    }
    return inserted
  }

  private evictWTinyLfu(): void {
    // Entries falling out of the window become candidates for the main space.
    while (this.windowWeight > this.windowMaximum) {
      const candidate = this.next[WINDOW]!
      if (candidate === WINDOW) break
      this.unlink(candidate)
      this.windowWeight -= this.weights[candidate]!
      this.queue[candidate] = PROBATION
      this.linkTail(candidate, PROBATION)
      if (this.totalWeight > this.maximum) this.admitOrReject(candidate)
    }
    // Still too heavy (a grown weight, a shrunk window): drop main's least valuable.
    while (this.totalWeight > this.maximum) {
      let victim = this.next[PROBATION]!
      if (victim === PROBATION) victim = this.next[PROTECTED]!
      if (victim === PROTECTED) victim = this.next[WINDOW]!
      if (victim === WINDOW) return
      this.remove(victim, SIZE)
    }
  }

  /** TinyLFU admission: the candidate (probation's tail) against main's LRU victims. */
  private admitOrReject(candidate: number): void {
    const sketch = this.sketch!
    while (this.totalWeight > this.maximum) {
      let victim = this.next[PROBATION]!
      if (victim === candidate) victim = this.next[PROTECTED]!
      if (victim === PROTECTED) {
        this.remove(candidate, SIZE)
        return
      }
      const candidateFrequency = sketch.frequency(this.hashes[candidate]!)
      const victimFrequency = sketch.frequency(this.hashes[victim]!)
      const admit = candidateFrequency > victimFrequency ||
        (candidateFrequency >= ADMIT_HASHDOS_THRESHOLD && (this.random() * 128 | 0) === 0)
      if (!admit) {
        this.remove(candidate, SIZE)
        return
      }
      this.remove(victim, SIZE)
    }
  }

  /** A probation hit moves to protected; protected's overflow is demoted back to probation. */
  private promote(slot: number): void {
    this.unlink(slot)
    this.queue[slot] = PROTECTED
    this.marks[slot] = 0
    this.linkTail(slot, PROTECTED)
    this.protectedWeight += this.weights[slot]!
    this.demoteProtected()
  }

  /**
   * Brings protected back within its maximum, demoting from its head to probation; a marked
   * entry (hit since it last passed the head) is unmarked and moved to the tail instead.
   */
  private demoteProtected(): void {
    const marks = this.marks
    while (this.protectedWeight > this.protectedMaximum) {
      const demoted = this.next[PROTECTED]!
      if (demoted === PROTECTED) return
      this.unlink(demoted)
      if (marks[demoted] === 1) {
        marks[demoted] = 0
        this.linkTail(demoted, PROTECTED)
        continue
      }
      this.protectedWeight -= this.weights[demoted]!
      this.queue[demoted] = PROBATION
      this.linkTail(demoted, PROBATION)
    }
  }

  // -----------------------------------------------------------------------------------------------
  // Live reconfiguration
  // -----------------------------------------------------------------------------------------------

  /**
   * Applies new limits without losing entries. Expiry settings apply to later writes (and, for
   * expireAfterAccess, later reads); entries keep their deadlines until then. A new maximum
   * rescales W-TinyLFU's window (keeping the fraction the hill climber chose) and recomputes
   * protected's maximum from it, as the climber does; a smaller one evicts at once, cause `Size`,
   * with the policy's own victim order (W-TinyLFU: probation's head, then protected's, then the
   * window's). The frequency sketch keeps the size it was made with: rebuilding it would lose the
   * frequencies it has gathered (it is sized for at least 8,192 entries, so only caches grown
   * past that lose some accuracy to collisions).
   */
  reconfigure(options: {
    readonly maximum: number
    readonly expireAfterWrite: number
    readonly expireAfterAccess: number
    readonly ttlJitter: number
  }): void {
    this.expireAfterWrite = options.expireAfterWrite
    this.expireAfterAccess = options.expireAfterAccess
    this.ttlJitter = options.ttlJitter
    if (options.expireAfterWrite !== Number.POSITIVE_INFINITY || options.expireAfterAccess !== Number.POSITIVE_INFINITY) {
      this.expiring = true
    }
    const previous = this.maximum
    this.maximum = options.maximum
    if (this.policyCode === W_TINY_LFU && previous !== options.maximum) {
      const scale = options.maximum / previous
      this.stepSize *= scale
      this.resizeWindow(Math.min(Math.max(Math.round(this.windowMaximum * scale), 0), options.maximum))
    }
    if (this.totalWeight > this.maximum) this.evict(-1)
  }

  // -----------------------------------------------------------------------------------------------
  // Hill climbing (Caffeine's adaptive window)
  // -----------------------------------------------------------------------------------------------

  private recordSample(hit: boolean): void {
    if (!hit) this.sampleMisses++
    if (--this.climbCountdown === 0) this.climb()
  }

  /** Moves the window size in the direction that improved the hit rate, with decaying steps. */
  private climb(): void {
    // Every request of the sample (hit or miss) counted the countdown down from climbSample.
    const requests = this.climbSample
    const hitRate = (requests - this.sampleMisses) / requests
    const change = hitRate - this.previousSampleHitRate
    const amount = change >= 0 ? this.stepSize : -this.stepSize
    this.stepSize = Math.abs(change) >= HILL_CLIMBER_RESTART_THRESHOLD
      ? HILL_CLIMBER_STEP_PERCENT * this.maximum * (amount >= 0 ? 1 : -1)
      : HILL_CLIMBER_STEP_DECAY_RATE * amount
    this.previousSampleHitRate = hitRate
    this.sampleMisses = 0
    this.climbCountdown = this.climbSample
    const target = Math.min(Math.max(Math.round(this.windowMaximum + amount), 0), this.maximum)
    this.resizeWindow(target)
  }

  private resizeWindow(target: number): void {
    this.windowMaximum = target
    this.protectedMaximum = Math.floor((this.maximum - target) * PERCENT_MAIN_PROTECTED)
    // A smaller window hands its oldest entries to probation.
    while (this.windowWeight > this.windowMaximum) {
      const slot = this.next[WINDOW]!
      if (slot === WINDOW) break
      this.unlink(slot)
      this.windowWeight -= this.weights[slot]!
      this.queue[slot] = PROBATION
      this.linkTail(slot, PROBATION)
    }
    // A larger window takes main's least recent entries.
    while (true) {
      let slot = this.next[PROBATION]!
      if (slot === PROBATION) slot = this.next[PROTECTED]!
      if (slot === PROTECTED || this.windowWeight + this.weights[slot]! > this.windowMaximum) break
      if (this.queue[slot] === PROTECTED) this.protectedWeight -= this.weights[slot]!
      this.unlink(slot)
      this.queue[slot] = WINDOW
      this.linkTail(slot, WINDOW)
      this.windowWeight += this.weights[slot]!
    }
    this.demoteProtected()
  }

  /** The entries of the cache, for `clear` and tests: keys in no particular order. */
  keysSnapshot(): Array<K> {
    return Array.from(this.index.keys())
  }

  get weight(): number {
    return this.totalWeight
  }
}
