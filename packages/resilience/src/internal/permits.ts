import { Effect, Exit, type Fiber } from "effect"
import type { Timers } from "@rampart/core/Timers"

/**
 * The permit machinery shared by `Bulkhead` and `AdaptiveConcurrency`: a counter of permits in
 * flight against a (resizable) limit, and a bounded FIFO of waiters.
 *
 * Hot path: a free permit is taken synchronously (a counter check inside the caller's
 * `withFiberRuntime`) and returned by `matchCauseEffect` handlers. Those handlers are skipped
 * when the call is interrupted (Effect 3 drops `onFailure` frames while an interrupted fiber
 * unwinds), so each fast-path permit also registers an observer on its fiber, which returns the
 * permit when the fiber ends if no handler did. The handlers remove the observer. Masking
 * interruption instead costs ~1.3 µs per call; the observer costs an array push and filter.
 *
 * Slow path (no free permit, room in the queue): the wait runs under `uninterruptibleMask`, where
 * a frame outside `restore` always sees the exit, so a waiter is always removed or its permit
 * passed on, and the admitted call releases through a frame that interruption cannot skip.
 */

/** Why a call was refused a permit. */
export type RejectReason = "QueueFull" | "MaxWaitExceeded"

export interface PermitPoolConfig {
  /** Permits that may be in flight at once. */
  readonly limit: number
  /** Calls that may wait for a permit; 0 rejects at once when no permit is free. */
  readonly maxQueued: number
  /** How long a queued call may wait, in milliseconds; `Infinity` for no bound. */
  readonly maxWaitMillis: number
}

export interface PermitPoolHooks<E> {
  /** Builds the rejection (and publishes its event / counts it); the pool's counts are current. */
  readonly reject: (reason: RejectReason) => E
  /** A call entered the wait queue. */
  readonly onQueued: () => void
  /** The number of permits in flight changed. */
  readonly onInFlight: (inFlight: number) => void
  /** The number of queued calls changed. */
  readonly onQueuedCount: (queued: number) => void
  /** A queued call was admitted after waiting this long. */
  readonly onAdmitted: (waitedMillis: number) => void
}

const WAITING = 0
const GRANTED = 1
const EXPIRED = 2
const ABANDONED = 3

/** A queued call: a node of the intrusive doubly linked FIFO, so removal is O(1). */
class Waiter<E> {
  prev: Waiter<E> | undefined = undefined
  next: Waiter<E> | undefined = undefined
  state = WAITING
  /** Set when the waiting fiber suspends; a grant or expiry before that is picked up on registration. */
  resume: ((effect: Effect.Effect<void, E>) => void) | undefined = undefined
  cancelTimer: (() => void) | undefined = undefined
  error: E | undefined = undefined
  constructor(readonly enqueuedAt: number) {}
}

type Restore = <A, E, R>(effect: Effect.Effect<A, E, R>) => Effect.Effect<A, E, R>

/**
 * One permit held by one call. `release` returns it once; a fast-path permit also returns itself
 * from an observer on its fiber, for when interruption skipped the call's release handler.
 */
export class Permit {
  private released = false
  private readonly fiber: Fiber.RuntimeFiber<unknown, unknown> | undefined
  private readonly observer: (() => void) | undefined

  constructor(private readonly pool: { release(): void }, fiber: Fiber.RuntimeFiber<unknown, unknown> | undefined) {
    this.fiber = fiber
    if (fiber === undefined) {
      this.observer = undefined
    } else {
      // The fiber ended while holding the permit: its release handler was skipped.
      const observer = () => {
        if (!this.released) {
          this.released = true
          this.pool.release()
        }
      }
      this.observer = observer
      fiber.addObserver(observer)
    }
  }

  /** Returns the permit; called on the holding fiber, by the call's release handler. */
  release(): void {
    if (this.released) {
      return
    }
    this.released = true
    if (this.observer !== undefined) {
      // Keeps a long-lived fiber's observer list from growing with every call it makes.
      this.fiber!.removeObserver(this.observer)
    }
    this.pool.release()
  }
}

const exitVoid: Exit.Exit<void> = Exit.void

const MAX_TIMER_MILLIS = 2 ** 31 - 1

export class PermitPool<E> {
  inFlight = 0
  queued = 0
  limit: number
  maxQueued: number
  maxWaitMillis: number
  private head: Waiter<E> | undefined = undefined
  private tail: Waiter<E> | undefined = undefined

  constructor(
    private readonly timers: Timers,
    config: PermitPoolConfig,
    private readonly hooks: PermitPoolHooks<E>
  ) {
    this.limit = config.limit
    this.maxQueued = config.maxQueued
    this.maxWaitMillis = config.maxWaitMillis
  }

  /**
   * Takes a free permit for the call running on `fiber`, synchronously. While calls are queued
   * the pool is at its limit (a release hands its permit to the head waiter), so this never
   * overtakes a waiter.
   */
  tryAcquire(fiber: Fiber.RuntimeFiber<unknown, unknown>): Permit | undefined {
    if (this.inFlight >= this.limit) {
      return undefined
    }
    this.inFlight++
    this.hooks.onInFlight(this.inFlight)
    return new Permit(this, fiber)
  }

  /** Returns one permit: hands it to the oldest waiter when the limit allows, else frees it. */
  release(): void {
    if (this.queued > 0 && this.inFlight <= this.limit) {
      this.grantHead()
    } else {
      this.inFlight--
      this.hooks.onInFlight(this.inFlight)
    }
  }

  /** Changes the limit; growing it admits queued calls at once, shrinking lets in-flight calls finish. */
  setLimit(limit: number): void {
    this.limit = limit
    this.admitWhileFree()
  }

  private admitWhileFree(): void {
    let admitted = false
    while (this.queued > 0 && this.inFlight < this.limit) {
      this.inFlight++
      this.grantHead()
      admitted = true
    }
    if (admitted) {
      this.hooks.onInFlight(this.inFlight)
    }
  }

  /**
   * The slow path, for a call that found no free permit: rejects at once when the queue is full,
   * otherwise waits in line (interruptibly, up to `maxWaitMillis`) and then runs `admitted`, which
   * must release the permit through a handler outside `restore`.
   */
  waitThen<A, E1, R>(
    admitted: (restore: Restore, permit: Permit) => Effect.Effect<A, E1, R>
  ): Effect.Effect<A, E | E1, R> {
    if (this.queued >= this.maxQueued) {
      return Effect.fail(this.hooks.reject("QueueFull"))
    }
    return Effect.uninterruptibleMask((restore) =>
      Effect.suspend((): Effect.Effect<A, E | E1, R> => {
        // Counts may have moved since the caller looked (the fiber may have yielded).
        if (this.inFlight < this.limit) {
          this.inFlight++
          this.hooks.onInFlight(this.inFlight)
          return admitted(restore, new Permit(this, undefined))
        }
        if (this.queued >= this.maxQueued) {
          return Effect.fail(this.hooks.reject("QueueFull"))
        }
        const waiter = this.enqueue()
        return Effect.matchCauseEffect(restore(this.await(waiter)), {
          onFailure: (cause) => {
            this.abandon(waiter)
            return Effect.failCause(cause)
          },
          onSuccess: () => admitted(restore, new Permit(this, undefined))
        })
      })
    )
  }

  private enqueue(): Waiter<E> {
    const waiter = new Waiter<E>(this.timers.now())
    if (this.tail === undefined) {
      this.head = waiter
    } else {
      this.tail.next = waiter
      waiter.prev = this.tail
    }
    this.tail = waiter
    this.queued++
    // A wait longer than a JS timer can hold (~24.8 days) is treated as unbounded.
    if (this.maxWaitMillis <= MAX_TIMER_MILLIS) {
      waiter.cancelTimer = this.timers.schedule(this.maxWaitMillis, () => this.expire(waiter))
    }
    this.hooks.onQueuedCount(this.queued)
    this.hooks.onQueued()
    return waiter
  }

  private unlink(waiter: Waiter<E>): void {
    if (waiter.prev === undefined) {
      this.head = waiter.next
    } else {
      waiter.prev.next = waiter.next
    }
    if (waiter.next === undefined) {
      this.tail = waiter.prev
    } else {
      waiter.next.prev = waiter.prev
    }
    waiter.prev = undefined
    waiter.next = undefined
    this.queued--
    this.hooks.onQueuedCount(this.queued)
  }

  /** Hands a permit (already counted in `inFlight`) to the oldest waiter. */
  private grantHead(): void {
    const waiter = this.head
    if (waiter === undefined) {
      return
    }
    this.unlink(waiter)
    waiter.state = GRANTED
    waiter.cancelTimer?.()
    this.hooks.onAdmitted(this.timers.now() - waiter.enqueuedAt)
    waiter.resume?.(exitVoid)
  }

  private expire(waiter: Waiter<E>): void {
    if (waiter.state !== WAITING) {
      return
    }
    this.unlink(waiter)
    waiter.state = EXPIRED
    const error = this.hooks.reject("MaxWaitExceeded")
    waiter.error = error
    waiter.resume?.(Exit.fail(error))
  }

  /** The waiting fiber failed or was interrupted: leave the queue, or pass on a permit it was just handed. */
  private abandon(waiter: Waiter<E>): void {
    const state = waiter.state
    waiter.state = ABANDONED
    if (state === WAITING) {
      this.unlink(waiter)
      waiter.cancelTimer?.()
    } else if (state === GRANTED) {
      this.release()
    }
  }

  private await(waiter: Waiter<E>): Effect.Effect<void, E> {
    // A one-argument register: no canceler, so no `onInterrupt` wrapper; `abandon` (outside `restore`) cleans up.
    return Effect.async<void, E>((resume) => {
      if (waiter.state === GRANTED) {
        resume(exitVoid)
      } else if (waiter.state === EXPIRED && waiter.error !== undefined) {
        resume(Exit.fail(waiter.error))
      } else {
        waiter.resume = resume
      }
    })
  }
}
