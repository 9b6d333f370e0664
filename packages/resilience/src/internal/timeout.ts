import { Duration, Effect, Exit, type Fiber, FiberId, FiberRef, Option, Schema } from "effect"
import { dual } from "effect/Function"
import { globalValue } from "effect/GlobalValue"
import { type InvalidOptions, TimeoutExceeded } from "../Errors.js"
import * as Policy from "../Policy.js"
import type * as Timeout from "../Timeout.js"
import { DeadlineQueue } from "./deadlineQueue.js"
import { type EventHub, makeEventHub } from "@rampart/core/EventHub"
import { makeInstanceMetrics } from "@rampart/core/InstanceMetrics"
import { decodeOptions, decodeOptionsEither, Name, PositiveDuration } from "@rampart/core/Options"
import { makeTimers, type Timers } from "@rampart/core/Timers"

export const TypeId: Timeout.TypeId = Symbol.for("@rampart/resilience/Timeout") as Timeout.TypeId

export const TimeoutOptions = Schema.Struct({
  name: Name,
  duration: PositiveDuration
})

/**
 * The absolute deadline (epoch milliseconds, from the policy's clock) of the innermost enclosing
 * timeout. A nested timeout reads it so that it never waits longer than what remains.
 */
export const currentDeadline: FiberRef.FiberRef<number> = globalValue(
  Symbol.for("@rampart/resilience/Timeout/currentDeadline"),
  () => FiberRef.unsafeMake(Number.POSITIVE_INFINITY)
)

/** Interruptions sent by an expired deadline carry this id, so a trace shows who interrupted. */
const timeoutFiberId = FiberId.make(-1, 0)

const decode = decodeOptions("Timeout", TimeoutOptions)
const decodeEither = decodeOptionsEither("Timeout", TimeoutOptions)

class TimeoutImpl implements Timeout.Timeout {
  readonly [TypeId]: Timeout.TypeId = TypeId
  readonly [Policy.PolicyTypeId]: Policy.PolicyTypeId = Policy.PolicyTypeId
  readonly events: Timeout.Timeout["events"]
  private durationMillis: number
  private readonly queue: DeadlineQueue
  private readonly exceededTotal: (amount: number) => void

  constructor(
    private options: Schema.Schema.Type<typeof TimeoutOptions>,
    private readonly timers: Timers,
    private readonly hub: EventHub<Timeout.TimeoutEvent>
  ) {
    this.durationMillis = Duration.toMillis(options.duration)
    this.queue = new DeadlineQueue(timers)
    this.events = hub.stream
    this.exceededTotal = makeInstanceMetrics(options.name).counter(
      "rampart_timeout_exceeded_total",
      "Calls interrupted because they ran past their timeout"
    )
  }

  get name(): string {
    return this.options.name
  }

  get duration(): Duration.Duration {
    return this.options.duration
  }

  update(input: Partial<Timeout.TimeoutOptionsInput>): Effect.Effect<void, InvalidOptions> {
    return Effect.suspend(() => {
      const decoded = decodeEither({ ...Schema.encodeSync(TimeoutOptions)(this.options), ...input })
      if (decoded._tag === "Left") return Effect.fail(decoded.left)
      this.options = decoded.right
      this.durationMillis = Duration.toMillis(decoded.right.duration)
      return Effect.void
    })
  }

  readonly apply = <A, E, R>(self: Effect.Effect<A, E, R>): Effect.Effect<A, E | TimeoutExceeded, R> =>
    Effect.withFiberRuntime((parent) => {
      const now = this.timers.now()
      const remaining = parent.getFiberRef(currentDeadline) - now
      const budget = remaining < this.durationMillis ? remaining : this.durationMillis
      if (budget <= 0) return this.exceeded(0)
      const deadline = now + budget
      // The work runs on its own fiber: Effect cannot resume a fiber after interrupting it, so
      // the caller waits on this one child while the deadline timer may interrupt it. No sleeper
      // fiber and no race: a single shared timer per instance watches every call's deadline.
      return Effect.flatMap(
        Effect.fork(Effect.zipRight(FiberRef.set(currentDeadline, deadline), self)),
        (child) => this.await(child, deadline, budget)
      )
    })

  private await<A, E>(
    child: Fiber.RuntimeFiber<A, E>,
    deadline: number,
    budget: number
  ): Effect.Effect<A, E | TimeoutExceeded> {
    const done = child.unsafePoll()
    if (done !== null) return done
    return Effect.async<A, E | TimeoutExceeded>((resume) => {
      let timedOut = false
      const entry = {
        deadline,
        settled: false,
        expire: () => {
          timedOut = true
          child.unsafeInterruptAsFork(timeoutFiberId)
        }
      }
      let cancelOwnTimer: (() => void) | undefined
      if (this.queue.accepts(deadline)) {
        this.queue.push(entry)
      } else {
        // A nearer enclosing deadline: this call's deadline is out of the queue's order.
        cancelOwnTimer = this.timers.schedule(deadline - this.timers.now(), () => {
          if (!entry.settled) {
            entry.settled = true
            entry.expire()
          }
        })
      }
      child.addObserver((exit) => {
        if (cancelOwnTimer !== undefined) cancelOwnTimer()
        entry.settled = true
        this.queue.settle()
        if (timedOut && Exit.isInterrupted(exit)) {
          resume(this.exceeded(budget))
        } else {
          resume(exit)
        }
      })
      // No canceler: registering one costs more than the fork itself. The child was forked by the
      // caller, so Effect's supervision interrupts it when an interrupted caller's fiber ends.
    })
  }

  private exceeded(budget: number): Effect.Effect<never, TimeoutExceeded> {
    this.exceededTotal(1)
    const at = this.timers.now()
    this.hub.publish({ _tag: "TimedOut", name: this.options.name, after: budget, at })
    return Effect.fail(new TimeoutExceeded({ timeout: this.options.name, after: Duration.millis(budget) }, true))
  }
}

export const make = (input: Timeout.TimeoutOptionsInput): Effect.Effect<Timeout.Timeout, InvalidOptions> =>
  Effect.gen(function*() {
    const options = yield* decode(input)
    const timers = yield* makeTimers
    const hub = yield* makeEventHub<Timeout.TimeoutEvent>()
    return new TimeoutImpl(options, timers, hub)
  })

export const protect: {
  (timeout: Timeout.Timeout): <A, E, R>(self: Effect.Effect<A, E, R>) => Effect.Effect<A, E | TimeoutExceeded, R>
  <A, E, R>(self: Effect.Effect<A, E, R>, timeout: Timeout.Timeout): Effect.Effect<A, E | TimeoutExceeded, R>
} = dual(
  2,
  <A, E, R>(self: Effect.Effect<A, E, R>, timeout: Timeout.Timeout): Effect.Effect<A, E | TimeoutExceeded, R> =>
    timeout.apply(self)
)

export const remaining: Effect.Effect<Option.Option<Duration.Duration>> = Effect.withFiberRuntime((fiber) => {
  const deadline = fiber.getFiberRef(currentDeadline)
  if (deadline === Number.POSITIVE_INFINITY) return Effect.succeed(Option.none())
  return Effect.map(
    Effect.clockWith((clock) => clock.currentTimeMillis),
    (now) => Option.some(Duration.millis(Math.max(0, deadline - now)))
  )
})
