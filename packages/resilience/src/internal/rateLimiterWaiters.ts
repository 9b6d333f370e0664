import { Effect } from "effect"
import type { Timers } from "@rampart/core/Timers"

/**
 * Callers waiting for permits of one key, first come first served. Only the head asks the store;
 * the others sleep until they become the head. A waiter is a list node, so an interrupted caller
 * unlinks itself in O(1) and leaves nothing behind.
 */
export interface Waiter {
  readonly cost: number
  older: Waiter | undefined
  newer: Waiter | undefined
  /** Set while the waiter is parked; calling it resumes the waiter. */
  wake: (() => void) | undefined
  /** A wake-up that arrived while the waiter was not parked; its next park returns at once. */
  poked: boolean
  /** When the head's timer fires (0 when not sleeping on a timer). */
  wakeAt: number
  queued: boolean
}

export class WaiterQueue {
  head: Waiter | undefined = undefined
  tail: Waiter | undefined = undefined
  size = 0

  constructor(readonly key: string | undefined, readonly storeKey: string) {}

  push(cost: number): Waiter {
    const waiter: Waiter = {
      cost,
      older: this.tail,
      newer: undefined,
      wake: undefined,
      poked: false,
      wakeAt: 0,
      queued: true
    }
    if (this.tail === undefined) this.head = waiter
    else this.tail.newer = waiter
    this.tail = waiter
    this.size++
    return waiter
  }

  /** Removes `waiter` (if still queued) and lets the next head ask the store. */
  remove(waiter: Waiter): void {
    if (!waiter.queued) return
    waiter.queued = false
    const wasHead = this.head === waiter
    if (waiter.older === undefined) this.head = waiter.newer
    else waiter.older.newer = waiter.newer
    if (waiter.newer === undefined) this.tail = waiter.older
    else waiter.newer.older = waiter.older
    waiter.older = undefined
    waiter.newer = undefined
    this.size--
    if (wasHead && this.head !== undefined) poke(this.head)
  }
}

/** Wakes a waiter now, or makes its next park return at once. */
export const poke = (waiter: Waiter): void => {
  if (waiter.wake !== undefined) waiter.wake()
  else waiter.poked = true
}

/**
 * Suspends until the waiter is poked or, when `millis` is given, until that much time has passed on
 * the limiter's clock. The wake-up check happens inside the registration, so a poke can never fall
 * between a check and the suspension.
 */
export const park = (timers: Timers, waiter: Waiter, millis: number | undefined): Effect.Effect<void> =>
  Effect.async<void>((resume) => {
    if (waiter.poked) {
      waiter.poked = false
      resume(Effect.void)
      return
    }
    let cancel: (() => void) | undefined
    waiter.wake = () => {
      waiter.wake = undefined
      waiter.wakeAt = 0
      if (cancel !== undefined) cancel()
      resume(Effect.void)
    }
    if (millis !== undefined) {
      waiter.wakeAt = timers.now() + millis
      cancel = timers.schedule(millis, () => {
        cancel = undefined
        waiter.wake?.()
      })
    }
    return Effect.sync(() => {
      waiter.wake = undefined
      waiter.wakeAt = 0
      if (cancel !== undefined) cancel()
    })
  })
