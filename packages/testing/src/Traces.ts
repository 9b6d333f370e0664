/**
 * Seeded request traces for cache hit-ratio benchmarks, and Bélády's offline optimum (OPT) to
 * measure them against.
 */

/** splitmix32: a small, fast, well-mixed seeded generator; returns floats in [0, 1). */
export const splitmix32 = (seed: number): (() => number) => {
  let state = seed | 0
  return () => {
    state = (state + 0x9e3779b9) | 0
    let z = state
    z = Math.imul(z ^ (z >>> 16), 0x21f0aaad)
    z = Math.imul(z ^ (z >>> 15), 0x735a2d97)
    z ^= z >>> 15
    return (z >>> 0) / 4294967296
  }
}

/** A sampler of keys 0..keys-1 with P(k) ∝ 1 / (k + 1)^exponent: a precomputed CDF and binary search. */
export const zipfSampler = (keys: number, exponent: number, random: () => number): (() => number) => {
  const cdf = new Float64Array(keys)
  let total = 0
  for (let k = 0; k < keys; k++) {
    total += 1 / Math.pow(k + 1, exponent)
    cdf[k] = total
  }
  for (let k = 0; k < keys; k++) cdf[k]! /= total
  return () => {
    const u = random()
    let low = 0
    let high = keys - 1
    while (low < high) {
      const middle = (low + high) >>> 1
      if (cdf[middle]! < u) low = middle + 1
      else high = middle
    }
    return low
  }
}

export interface TraceOptions {
  readonly requests: number
  readonly keys: number
  readonly exponent: number
  readonly seed: number
}

/** `requests` keys drawn from Zipf(exponent) over `keys` keys. */
export const zipfTrace = (options: TraceOptions): Int32Array => {
  const sample = zipfSampler(options.keys, options.exponent, splitmix32(options.seed))
  const trace = new Int32Array(options.requests)
  for (let i = 0; i < trace.length; i++) trace[i] = sample()
  return trace
}

/**
 * A Zipf trace interrupted every `every` requests by a sequential scan of `scanLength` keys never
 * seen before (ids from `keys` upwards), like a batch job or a table scan running beside the
 * interactive load: the pattern that flushes a plain LRU.
 */
export const scanTrace = (options: TraceOptions & { readonly every: number; readonly scanLength: number }): Int32Array => {
  const sample = zipfSampler(options.keys, options.exponent, splitmix32(options.seed))
  const trace = new Int32Array(options.requests)
  let scanCursor = options.keys
  let i = 0
  while (i < trace.length) {
    for (let j = 0; j < options.every && i < trace.length; j++) trace[i++] = sample()
    for (let j = 0; j < options.scanLength && i < trace.length; j++) trace[i++] = scanCursor++
  }
  return trace
}

/** A binary max-heap of non-negative integers in a typed array. */
class MaxHeap {
  private items: Float64Array
  size = 0
  constructor(capacity: number) {
    this.items = new Float64Array(Math.max(capacity, 16))
  }
  push(value: number): void {
    if (this.size === this.items.length) {
      const grown = new Float64Array(this.items.length * 2)
      grown.set(this.items)
      this.items = grown
    }
    const items = this.items
    let i = this.size++
    while (i > 0) {
      const parent = (i - 1) >>> 1
      if (items[parent]! >= value) break
      items[i] = items[parent]!
      i = parent
    }
    items[i] = value
  }
  pop(): number {
    const items = this.items
    const top = items[0]!
    const last = items[--this.size]!
    let i = 0
    const half = this.size >>> 1
    while (i < half) {
      let child = 2 * i + 1
      if (child + 1 < this.size && items[child + 1]! > items[child]!) child++
      if (items[child]! <= last) break
      items[i] = items[child]!
      i = child
    }
    items[i] = last
    return top
  }
}

/**
 * Bélády's optimum: on a miss with a full cache, drop the key (the requested one included) whose
 * next use lies furthest in the future. Next uses come from one backward pass; the heap holds each
 * cached key's next-use position (lazily invalidated), so the run is O(n log n). Returns the hits.
 */
export const opt = (trace: Int32Array, capacity: number): number => {
  const n = trace.length
  let maxKey = 0
  for (let i = 0; i < n; i++) if (trace[i]! > maxKey) maxKey = trace[i]!
  // nextUse[i]: the position of the next request for trace[i] after i; n + key when none
  // (distinct "never" positions, ordered after every real one).
  const nextUse = new Float64Array(n)
  const seen = new Float64Array(maxKey + 1).fill(-1)
  for (let i = n - 1; i >= 0; i--) {
    const key = trace[i]!
    nextUse[i] = seen[key]! < 0 ? n + key : seen[key]!
    seen[key] = i
  }
  const cached = new Uint8Array(maxKey + 1)
  // The position each cached key is next needed at: a heap entry is live only if it matches.
  const due = new Float64Array(maxKey + 1).fill(-1)
  const heap = new MaxHeap(capacity * 4)
  let size = 0
  let hits = 0
  const keyAt = (position: number) => (position < n ? trace[position]! : position - n)
  for (let i = 0; i < n; i++) {
    const key = trace[i]!
    if (cached[key] === 1) hits++
    else {
      cached[key] = 1
      size++
    }
    due[key] = nextUse[i]!
    heap.push(nextUse[i]!)
    while (size > capacity) {
      const position = heap.pop()
      const victim = keyAt(position)
      if (cached[victim] === 1 && due[victim] === position) {
        cached[victim] = 0
        size--
      }
    }
    // Keep the heap from filling with dead entries.
    if (heap.size > capacity * 8) {
      const live: Array<number> = []
      while (heap.size > 0) {
        const position = heap.pop()
        const victim = keyAt(position)
        if (cached[victim] === 1 && due[victim] === position) live.push(position)
      }
      for (const position of live) heap.push(position)
    }
  }
  return hits
}
