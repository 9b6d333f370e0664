import type { Effect, Fiber } from "effect"

/**
 * `blocked`: its producer waits for room (strategy "suspend"); `done`: completed, shed, or abandoned
 * by its producer, so nobody may resume it again.
 */
export type TaskState = "blocked" | "queued" | "running" | "done"

/** A worker fiber and what it is doing. */
export interface Worker {
  fiber: Fiber.RuntimeFiber<void> | undefined
  /** The task it runs now. */
  current: Task | undefined
  /** Set while it is parked waiting for a task; `undefined` tells it to retire. */
  idle: ((task: Task | undefined) => void) | undefined
  retired: boolean
}

/** One submitted task; a node of exactly one list at a time (O(1) removal on interruption). */
export interface Task {
  readonly effect: Effect.Effect<unknown, unknown>
  /** The producer's `Effect.async` callback. */
  readonly resume: (result: Effect.Effect<unknown, unknown>) => void
  enqueuedAt: number
  state: TaskState
  /** The worker running it (state "running"). */
  worker: Worker | undefined
  older: Task | undefined
  newer: Task | undefined
}

export class TaskList {
  head: Task | undefined = undefined
  tail: Task | undefined = undefined
  size = 0

  push(task: Task): void {
    task.older = this.tail
    task.newer = undefined
    if (this.tail === undefined) this.head = task
    else this.tail.newer = task
    this.tail = task
    this.size++
  }

  shift(): Task | undefined {
    const task = this.head
    if (task !== undefined) this.remove(task)
    return task
  }

  remove(task: Task): void {
    if (task.older === undefined) this.head = task.newer
    else task.older.newer = task.newer
    if (task.newer === undefined) this.tail = task.older
    else task.newer.older = task.older
    task.older = undefined
    task.newer = undefined
    this.size--
  }
}

export interface CoDelParameters {
  readonly targetMillis: number
  readonly intervalMillis: number
  readonly variant: "controlLaw" | "adaptiveTimeout"
}

/**
 * Queue-delay shedding at dequeue time.
 *
 * `controlLaw` is CoDel as in Nichols & Jacobson, "Controlling Queue Delay" (ACM Queue, 2012) and
 * RFC 8289 §5 (the reference pseudocode, Linux variant of the count restart), with tasks for
 * packets: when the sojourn time has stayed at or above `target` for `interval`, enter the dropping
 * state and shed one task, then the next at `interval / sqrt(count)` after the previous one, until
 * a sojourn time below `target` (or an empty queue) ends the state. As RFC 8289 never drops when
 * less than a packet is queued, a task is never shed when no other task waits behind it.
 *
 * `adaptiveTimeout` is the simpler queue discipline from "Fail at Scale" (Maurer, ACM Queue 2015):
 * while the queue has not been empty for the last `interval`, a task that waited longer than
 * `target` is shed; otherwise one that waited longer than `interval`.
 */
export class CoDel {
  private firstAboveTime: number | undefined = undefined
  private dropNext = 0
  private count = 0
  private lastCount = 0
  dropping = false
  /** When the queue last went from empty to non-empty (adaptiveTimeout). */
  nonEmptySince = 0

  constructor(
    public parameters: CoDelParameters,
    private readonly shed: (task: Task, sojournMillis: number) => void,
    private readonly observe: (sojournMillis: number) => void,
    private readonly droppingChanged: (dropping: boolean) => void
  ) {}

  private setDropping(dropping: boolean): void {
    if (this.dropping !== dropping) {
      this.dropping = dropping
      this.droppingChanged(dropping)
    }
  }

  /** RFC 8289 `dodequeue`: pops the head and says whether the standing delay allows a drop. */
  private popAndJudge(queue: TaskList, now: number): { task: Task | undefined; okToDrop: boolean; sojourn: number } {
    const task = queue.shift()
    if (task === undefined) {
      this.firstAboveTime = undefined
      return { task, okToDrop: false, sojourn: 0 }
    }
    const sojourn = now - task.enqueuedAt
    this.observe(sojourn)
    let okToDrop = false
    if (sojourn < this.parameters.targetMillis || queue.size === 0) {
      this.firstAboveTime = undefined
    } else if (this.firstAboveTime === undefined) {
      this.firstAboveTime = now + this.parameters.intervalMillis
    } else if (now >= this.firstAboveTime) {
      okToDrop = true
    }
    return { task, okToDrop, sojourn }
  }

  private controlLaw(time: number): number {
    return time + this.parameters.intervalMillis / Math.sqrt(this.count)
  }

  /** RFC 8289 `dequeue`. */
  private dequeueControlLaw(queue: TaskList, now: number): Task | undefined {
    let result = this.popAndJudge(queue, now)
    if (result.task === undefined) {
      this.setDropping(false)
      return undefined
    }
    if (this.dropping) {
      if (!result.okToDrop) this.setDropping(false)
      while (this.dropping && now >= this.dropNext && result.task !== undefined) {
        this.shed(result.task, result.sojourn)
        this.count++
        result = this.popAndJudge(queue, now)
        if (!result.okToDrop) this.setDropping(false)
        else this.dropNext = this.controlLaw(this.dropNext)
      }
    } else if (result.okToDrop) {
      // (RFC order: drop, then set dropping; reversed so the state change is reported first.)
      this.setDropping(true)
      this.shed(result.task, result.sojourn)
      result = this.popAndJudge(queue, now)
      const delta = this.count - this.lastCount
      this.count = delta > 1 && now - this.dropNext < 16 * this.parameters.intervalMillis ? delta : 1
      this.dropNext = this.controlLaw(now)
      this.lastCount = this.count
    }
    return result.task
  }

  private dequeueAdaptive(queue: TaskList, now: number): Task | undefined {
    const { intervalMillis, targetMillis } = this.parameters
    while (true) {
      const standing = now - this.nonEmptySince >= intervalMillis
      const task = queue.shift()
      if (task === undefined) return undefined
      const sojourn = now - task.enqueuedAt
      this.observe(sojourn)
      this.setDropping(standing)
      if (sojourn <= (standing ? targetMillis : intervalMillis)) return task
      this.shed(task, sojourn)
    }
  }

  dequeue(queue: TaskList, now: number): Task | undefined {
    return this.parameters.variant === "controlLaw"
      ? this.dequeueControlLaw(queue, now)
      : this.dequeueAdaptive(queue, now)
  }
}
