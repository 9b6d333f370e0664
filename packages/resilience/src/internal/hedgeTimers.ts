import type { Timers } from "@rampart/core/Timers"

interface Entry {
  readonly deadline: number
  readonly fire: () => void
  settled: boolean
  prev: Entry | undefined
  next: Entry | undefined
}

const noop = () => {}

/**
 * The hedge timers of one `Hedge` instance, sharing a single platform timer.
 *
 * Every call arms its next hedge at `now + delay` with the same `delay`, so deadlines arrive in
 * non-decreasing order and a FIFO list is already sorted: push and cancel (unlink) are O(1), the
 * list holds only calls still waiting, and one timer armed for the head serves every call. That replaces a `setTimeout` + `clearTimeout` per call on the fast path. A
 * deadline that would break the order (after `update` shortened the delay) gets a timer of its
 * own.
 */
export class HedgeTimers {
  private head: Entry | undefined = undefined
  private tail: Entry | undefined = undefined
  /** The deadline the platform timer is armed for (Infinity: none), and its identity. */
  private armedFor = Infinity
  private armedToken: object | undefined = undefined
  private cancelArmed: () => void = noop

  constructor(readonly timers: Timers) {}

  /** Runs `fire` after `delay` ms (at once, synchronously, when `delay <= 0`); the returned function cancels it. */
  schedule(delay: number, fire: () => void): () => void {
    if (delay <= 0) {
      fire()
      return noop
    }
    const deadline = this.timers.now() + delay
    if (this.tail !== undefined && deadline < this.tail.deadline) return this.timers.schedule(delay, fire)
    const entry: Entry = { deadline, fire, settled: false, prev: this.tail, next: undefined }
    if (this.tail === undefined) this.head = entry
    else this.tail.next = entry
    this.tail = entry
    if (deadline < this.armedFor) this.arm(deadline)
    return () => {
      if (entry.settled) return
      entry.settled = true
      this.unlink(entry)
    }
  }

  private unlink(entry: Entry): void {
    if (entry.prev === undefined) this.head = entry.next
    else entry.prev.next = entry.next
    if (entry.next === undefined) this.tail = entry.prev
    else entry.next.prev = entry.prev
    entry.prev = undefined
    entry.next = undefined
  }

  private arm(deadline: number): void {
    this.cancelArmed()
    this.cancelArmed = noop
    this.armedFor = deadline
    // A token, because a timer may fire synchronously (zero delay on a test clock) and re-arm
    // before this call returns, and a superseded timer must do nothing.
    const token = {}
    this.armedToken = token
    const cancel = this.timers.schedule(deadline - this.timers.now(), () => {
      if (this.armedToken === token) this.onTimer()
    })
    if (this.armedToken === token) this.cancelArmed = cancel
  }

  private onTimer(): void {
    this.armedFor = Infinity
    this.armedToken = undefined
    this.cancelArmed = noop
    const now = this.timers.now()
    // Fire what is due. A cancelled entry is no longer in the list; the timer may have been armed
    // for one, in which case nothing is due yet and it is re-armed for the new head.
    let entry = this.head
    while (entry !== undefined && entry.deadline <= now) {
      entry.settled = true
      this.unlink(entry)
      entry.fire()
      entry = this.head
    }
    // `fire` may have pushed (and armed for) a later deadline: the head comes first.
    if (this.head !== undefined && this.head.deadline < this.armedFor) this.arm(this.head.deadline)
  }
}
