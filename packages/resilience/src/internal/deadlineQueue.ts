import type { Timers } from "@rampart/core/Timers"

/** A call waiting on its deadline. `expire` runs at most once, and only while `settled` is false. */
export interface DeadlineEntry {
  readonly deadline: number
  settled: boolean
  readonly expire: () => void
}

/**
 * Deadlines of one timeout instance, kept in arrival order. Calls that share one timeout duration
 * arrive with non-decreasing deadlines, so a FIFO is already sorted: no heap, and one timer armed
 * for the head instead of one timer per call. A settled call is dropped from the head eagerly
 * (calls mostly finish in order), so the queue holds about the calls in flight, not every call
 * of the last `duration`.
 */
export class DeadlineQueue {
  private entries: Array<DeadlineEntry | undefined> = []
  private head = 0
  private lastDeadline = Number.NEGATIVE_INFINITY
  private armedFor = Number.POSITIVE_INFINITY
  private cancelTimer: (() => void) | undefined = undefined

  constructor(private readonly timers: Timers) {}

  /** True when `deadline` keeps the queue sorted; otherwise the caller arms its own timer. */
  accepts(deadline: number): boolean {
    return this.head === this.entries.length || deadline >= this.lastDeadline
  }

  push(entry: DeadlineEntry): void {
    this.entries.push(entry)
    this.lastDeadline = entry.deadline
    if (entry.deadline < this.armedFor) this.arm(entry.deadline)
  }

  /** Drops settled calls from the head; called after a call settles. */
  settle(): void {
    const entries = this.entries
    while (this.head < entries.length && entries[this.head]!.settled) {
      entries[this.head++] = undefined
    }
    this.compact()
  }

  get size(): number {
    return this.entries.length - this.head
  }

  private compact(): void {
    if (this.head === this.entries.length) {
      this.entries = []
      this.head = 0
      this.lastDeadline = Number.NEGATIVE_INFINITY
    } else if (this.head > 1024 && this.head * 2 > this.entries.length) {
      this.entries = this.entries.slice(this.head)
      this.head = 0
    }
  }

  private arm(deadline: number): void {
    this.cancelTimer?.()
    this.armedFor = deadline
    this.cancelTimer = this.timers.schedule(deadline - this.timers.now(), this.fire)
  }

  private readonly fire = (): void => {
    this.cancelTimer = undefined
    this.armedFor = Number.POSITIVE_INFINITY
    const now = this.timers.now()
    const entries = this.entries
    while (this.head < entries.length) {
      const entry = entries[this.head]!
      if (!entry.settled) {
        if (entry.deadline > now) break
        entry.settled = true
        entry.expire()
      }
      entries[this.head++] = undefined
    }
    this.compact()
    if (this.head < this.entries.length) this.arm(this.entries[this.head]!.deadline)
  }
}
