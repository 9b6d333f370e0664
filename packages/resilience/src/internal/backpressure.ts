import { type Context, Duration, Effect, Either, Fiber, type FiberId, Predicate, Runtime, type Scope } from "effect"
import { dual } from "effect/Function"
import type { Backpressure, BackpressureEvent, TypeId as BackpressureTypeId } from "../Backpressure.js"
import { InvalidOptions, LoadShed } from "../Errors.js"
import * as Policy from "../Policy.js"
import { BackpressureOptions, type BackpressureOptionsInput } from "./backpressureOptions.js"
import { CoDel, type CoDelParameters, type Task, TaskList, type Worker } from "./backpressureQueue.js"
import { type EventHub, makeEventHub } from "@rampart/core/EventHub"
import { makeInstanceMetrics } from "@rampart/core/InstanceMetrics"
import { decodeOptions, decodeOptionsEither } from "@rampart/core/Options"
import { makeTimers, type Timers } from "@rampart/core/Timers"

export const TypeId: BackpressureTypeId = Symbol.for("@rampart/resilience/Backpressure") as BackpressureTypeId

type ShedReason = LoadShed["reason"]

const codelParameters = (options: BackpressureOptions): CoDelParameters | undefined =>
  options.codel === undefined ? undefined : {
    targetMillis: Duration.toMillis(options.codel.target),
    intervalMillis: Duration.toMillis(options.codel.interval),
    variant: options.codel.variant
  }

/**
 * The queue and its workers. Producers park in `Effect.async` holding a `Task`; worker fibers take
 * tasks FIFO (through CoDel when configured), run them with the producer's context, and resume the
 * producer with the exit. All bookkeeping is synchronous on plain fields.
 */
class Engine {
  readonly queue = new TaskList()
  /** Producers waiting for room (strategy "suspend"), oldest first. */
  readonly blocked = new TaskList()
  readonly idleWorkers: Array<Worker> = []
  readonly workers = new Set<Worker>()
  running = 0
  closed = false
  codel: CoDel | undefined
  readonly now: () => number
  readonly queuedGauge: (value: number) => void
  readonly runningGauge: (value: number) => void
  readonly shedCounters: Record<ShedReason, (amount: number) => void>
  readonly sojournHistogram: (millis: number) => void
  readonly runFork: (effect: Effect.Effect<void>) => Fiber.RuntimeFiber<void>

  constructor(
    public options: BackpressureOptions,
    public input: BackpressureOptionsInput,
    readonly timers: Timers,
    readonly hub: EventHub<BackpressureEvent>,
    runtime: Runtime.Runtime<never>
  ) {
    this.now = timers.now
    this.runFork = Runtime.runFork(runtime)
    const metrics = makeInstanceMetrics(options.name)
    this.queuedGauge = metrics.gauge("rampart_backpressure_queued", "Tasks waiting for a worker")
    this.runningGauge = metrics.gauge("rampart_backpressure_running", "Tasks running on a worker")
    const shed = (reason: ShedReason) =>
      metrics.counter("rampart_backpressure_shed_total", "Tasks shed instead of run", { reason })
    this.shedCounters = { QueueFull: shed("QueueFull"), Dropped: shed("Dropped"), SojournTime: shed("SojournTime") }
    this.sojournHistogram = metrics.histogram(
      "rampart_backpressure_sojourn_time_ms",
      "How long tasks waited in the queue before a worker took them (or they were shed), in milliseconds"
    )
    this.codel = this.makeCoDel()
  }

  private makeCoDel(): CoDel | undefined {
    const parameters = codelParameters(this.options)
    if (parameters === undefined) return undefined
    const codel = new CoDel(
      parameters,
      (task, sojournMillis) => this.shed(task, "SojournTime", sojournMillis),
      this.sojournHistogram,
      (dropping) =>
        this.hub.publish({ _tag: "DroppingChanged", name: this.options.name, dropping, timestamp: this.now() })
    )
    codel.nonEmptySince = this.now()
    return codel
  }

  loadShed(reason: ShedReason, sojournMillis: number | undefined): LoadShed {
    const queued = this.queue.size
    this.shedCounters[reason](1)
    this.hub.publish({ _tag: "Shed", name: this.options.name, reason, queued, sojournMillis, timestamp: this.now() })
    return new LoadShed({ queue: this.options.name, reason, queued }, true)
  }

  shed(task: Task, reason: ShedReason, sojournMillis: number | undefined): void {
    task.state = "done"
    task.resume(Effect.fail(this.loadShed(reason, sojournMillis)))
  }

  private enqueue(task: Task): void {
    const now = this.now()
    if (this.queue.size === 0 && this.codel !== undefined) this.codel.nonEmptySince = now
    task.state = "queued"
    task.enqueuedAt = now
    this.queue.push(task)
  }

  /** Lets blocked producers into the queue while there is room. */
  private refill(): void {
    while (this.blocked.size > 0 && this.queue.size < this.options.capacity) {
      this.enqueue(this.blocked.shift()!)
    }
  }

  /** The next task a worker should run, shedding on the way when CoDel says so. */
  private next(): Task | undefined {
    let task: Task | undefined
    if (this.codel !== undefined) {
      task = this.codel.dequeue(this.queue, this.now())
    } else {
      task = this.queue.shift()
      if (task !== undefined) this.sojournHistogram(this.now() - task.enqueuedAt)
    }
    this.refill()
    this.queuedGauge(this.queue.size)
    return task
  }

  private start(worker: Worker, task: Task): void {
    task.state = "running"
    task.worker = worker
    worker.current = task
    this.running++
    this.runningGauge(this.running)
  }

  /** Hands queued tasks to parked workers. */
  dispatch(): void {
    while (this.idleWorkers.length > 0 && this.queue.size > 0) {
      const task = this.next()
      if (task === undefined) break
      const worker = this.idleWorkers.pop()!
      const wake = worker.idle!
      worker.idle = undefined
      this.start(worker, task)
      wake(task)
    }
  }

  /** A new task from a producer: queue it, or apply the strategy when the queue is full. */
  admit(task: Task): void {
    if (this.queue.size < this.options.capacity) {
      this.enqueue(task)
    } else if (this.options.strategy === "dropOldest") {
      const oldest = this.queue.shift()!
      this.enqueue(task)
      this.shed(oldest, "Dropped", this.now() - oldest.enqueuedAt)
    } else if (this.options.strategy === "suspend") {
      task.state = "blocked"
      this.blocked.push(task)
    } else {
      this.shed(task, "QueueFull", undefined)
      return
    }
    this.dispatch()
    this.queuedGauge(this.queue.size)
  }

  /** The producer of `task` was interrupted: take the task back, or stop it if it runs. */
  cancel(task: Task, producer: FiberId.FiberId): Effect.Effect<void> {
    switch (task.state) {
      case "blocked":
        task.state = "done"
        this.blocked.remove(task)
        return Effect.void
      case "queued":
        task.state = "done"
        this.queue.remove(task)
        this.refill()
        this.queuedGauge(this.queue.size)
        return Effect.void
      case "running": {
        task.state = "done"
        const fiber = task.worker?.fiber
        if (fiber === undefined) return Effect.void
        // The worker runs the task on its own fiber: interrupting it stops the task (a replacement
        // worker starts when it ends), and the producer waits until the task's finalizers ran.
        fiber.unsafeInterruptAsFork(producer)
        return Effect.asVoid(Fiber.await(fiber))
      }
      case "done":
        return Effect.void
    }
  }

  /** A worker asks for work: a task, or `undefined` when it should retire. */
  take(worker: Worker): Effect.Effect<Task | undefined> {
    return Effect.suspend(() => {
      if (this.workers.size > this.options.workers || this.closed) {
        worker.retired = true
        this.workers.delete(worker)
        return Effect.succeed(undefined)
      }
      const task = this.next()
      if (task !== undefined) {
        this.start(worker, task)
        return Effect.succeed(task)
      }
      return Effect.async<Task | undefined>((resume) => {
        worker.idle = (next) => resume(Effect.succeed(next))
        this.idleWorkers.push(worker)
        return Effect.sync(() => this.unpark(worker))
      })
    })
  }

  private unpark(worker: Worker): void {
    worker.idle = undefined
    const index = this.idleWorkers.indexOf(worker)
    if (index >= 0) this.idleWorkers.splice(index, 1)
  }

  finish(worker: Worker, task: Task, result: Effect.Effect<unknown, unknown>): void {
    worker.current = undefined
    task.worker = undefined
    this.running--
    this.runningGauge(this.running)
    if (task.state === "running") {
      task.state = "done"
      task.resume(result)
    }
  }

  /** Runs when a worker fiber ends for any reason (retired, interrupted, closed). */
  workerEnded(worker: Worker): void {
    this.workers.delete(worker)
    this.unpark(worker)
    const task = worker.current
    if (task !== undefined) {
      worker.current = undefined
      task.worker = undefined
      this.running--
      this.runningGauge(this.running)
      if (task.state === "running") {
        task.state = "done"
        task.resume(Effect.interrupt)
      }
    }
    if (!this.closed && !worker.retired) this.spawnMissing()
  }

  spawnMissing(): void {
    while (!this.closed && this.workers.size < this.options.workers) {
      const worker: Worker = { fiber: undefined, current: undefined, idle: undefined, retired: false }
      this.workers.add(worker)
      worker.fiber = this.runFork(workerLoop(this, worker))
    }
  }

  /** Retires parked workers beyond the target count. */
  retireSurplus(): void {
    while (this.workers.size > this.options.workers && this.idleWorkers.length > 0) {
      const worker = this.idleWorkers.pop()!
      const wake = worker.idle!
      worker.idle = undefined
      worker.retired = true
      this.workers.delete(worker)
      wake(undefined)
    }
  }

  reconfigure(options: BackpressureOptions, input: BackpressureOptionsInput): void {
    this.options = options
    this.input = input
    const parameters = codelParameters(options)
    if (parameters === undefined) this.codel = undefined
    else if (this.codel === undefined) this.codel = this.makeCoDel()
    else this.codel.parameters = parameters
    this.refill()
    this.spawnMissing()
    this.retireSurplus()
    this.dispatch()
    this.queuedGauge(this.queue.size)
  }

  close(): Effect.Effect<void> {
    return Effect.suspend(() => {
      this.closed = true
      for (let task = this.blocked.shift(); task !== undefined; task = this.blocked.shift()) {
        task.state = "done"
        task.resume(Effect.interrupt)
      }
      for (let task = this.queue.shift(); task !== undefined; task = this.queue.shift()) {
        task.state = "done"
        task.resume(Effect.interrupt)
      }
      this.queuedGauge(0)
      const fibers: Array<Fiber.RuntimeFiber<void>> = []
      for (const worker of this.workers) if (worker.fiber !== undefined) fibers.push(worker.fiber)
      return Fiber.interruptAll(fibers)
    })
  }
}

const workerLoop = (engine: Engine, worker: Worker): Effect.Effect<void> =>
  Effect.ensuring(
    Effect.gen(function*() {
      while (true) {
        const task = yield* engine.take(worker)
        if (task === undefined) return
        const exit = yield* Effect.exit(task.effect)
        engine.finish(worker, task, exit)
      }
    }),
    Effect.sync(() => engine.workerEnded(worker))
  )

class BackpressureImpl implements Backpressure {
  readonly [TypeId]: BackpressureTypeId = TypeId
  readonly [Policy.PolicyTypeId]: Policy.PolicyTypeId = Policy.PolicyTypeId
  readonly name: string
  readonly events: Backpressure["events"]
  readonly queued: Effect.Effect<number>
  readonly running: Effect.Effect<number>
  readonly suspended: Effect.Effect<number>
  readonly apply: <A, E, R>(self: Effect.Effect<A, E, R>) => Effect.Effect<A, E | LoadShed, R>

  constructor(readonly engine: Engine) {
    this.name = engine.options.name
    this.events = engine.hub.stream
    this.queued = Effect.sync(() => engine.queue.size)
    this.running = Effect.sync(() => engine.running)
    this.suspended = Effect.sync(() => engine.blocked.size)
    this.apply = <A, E, R>(self: Effect.Effect<A, E, R>): Effect.Effect<A, E | LoadShed, R> =>
      Effect.withFiberRuntime<A, E | LoadShed, R>((producer) => {
        if (engine.closed) return Effect.interrupt
        if (engine.options.strategy === "reject" && engine.queue.size >= engine.options.capacity) {
          return Effect.fail(engine.loadShed("QueueFull", undefined))
        }
        const effect = Effect.provide(self, producer.currentContext as Context.Context<R>)
        return Effect.async<A, E | LoadShed, R>((resume) => {
          const task: Task = {
            effect,
            resume: resume as Task["resume"],
            enqueuedAt: 0,
            state: "queued",
            worker: undefined,
            older: undefined,
            newer: undefined
          }
          engine.admit(task)
          return Effect.suspend(() => engine.cancel(task, producer.id()))
        })
      })
  }

  unsafeQueued(): number {
    return this.engine.queue.size
  }

  unsafeRunning(): number {
    return this.engine.running
  }
}

export const isBackpressure = (u: unknown): u is Backpressure => Predicate.hasProperty(u, TypeId)

const decode = decodeOptions("Backpressure", BackpressureOptions)
const decodeEither = decodeOptionsEither("Backpressure", BackpressureOptions)

export const make = (input: BackpressureOptionsInput): Effect.Effect<Backpressure, InvalidOptions, Scope.Scope> =>
  Effect.gen(function*() {
    const options = yield* decode(input)
    const timers = yield* makeTimers
    const hub = yield* makeEventHub<BackpressureEvent>()
    const runtime = yield* Effect.runtime<never>()
    const engine = new Engine(options, input, timers, hub, runtime)
    yield* Effect.addFinalizer(() => engine.close())
    engine.spawnMissing()
    return new BackpressureImpl(engine)
  })

const engineOf = (queue: Backpressure): Engine => (queue as BackpressureImpl).engine

export const submit = <A, E, R>(queue: Backpressure, effect: Effect.Effect<A, E, R>): Effect.Effect<A, E | LoadShed, R> =>
  queue.apply(effect)

export const protect: {
  (queue: Backpressure): <A, E, R>(self: Effect.Effect<A, E, R>) => Effect.Effect<A, E | LoadShed, R>
  <A, E, R>(self: Effect.Effect<A, E, R>, queue: Backpressure): Effect.Effect<A, E | LoadShed, R>
} = dual(
  2,
  <A, E, R>(self: Effect.Effect<A, E, R>, queue: Backpressure): Effect.Effect<A, E | LoadShed, R> =>
    queue.apply(self)
)

export const update = (
  queue: Backpressure,
  options: Partial<BackpressureOptionsInput>
): Effect.Effect<void, InvalidOptions> =>
  Effect.suspend(() => {
    const engine = engineOf(queue)
    // `codel` merges too, so `{ codel: { target } }` keeps the interval and variant.
    const codel = options.codel !== undefined && engine.input.codel !== undefined
      ? { codel: { ...engine.input.codel, ...options.codel } }
      : {}
    const merged: BackpressureOptionsInput = { ...engine.input, ...options, ...codel }
    return Either.match(decodeEither(merged), {
      onLeft: Effect.fail,
      onRight: (next) => {
        if (next.name !== engine.options.name) {
          return Effect.fail(
            new InvalidOptions({ module: "Backpressure", issues: ["name: cannot be changed by update"] })
          )
        }
        engine.reconfigure(next, merged)
        return Effect.void
      }
    })
  })
